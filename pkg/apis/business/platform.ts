// platforms.business.tkestack.io: the administrators of a tenant's platform (read by the portal).
import { Platform, PlatformList } from '../../../api/business/v1/platform.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { defaultTenant } from '../tke/tenant.ts';
import { fieldsAt } from '../../rest/selectors.ts';

export const platforms: OpenAPIResource<typeof Platform> = {
  group: 'business.tkestack.io',
  version: 'v1',
  kind: 'Platform',
  listKind: 'PlatformList',
  resource: 'platforms',
  singular: 'platform',
  namespaced: false,
  shortNames: [],
  categories: [],
  schema: Platform,
  listSchema: PlatformList,
  subresources: {},
  verbs: verbsWithoutDeleteCollection,
  strategy: {
    defaults: defaultTenant,
    columns: [
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the platform belongs to.', priority: 0 },
      { name: 'Administrators', type: 'string', format: '', description: 'Usernames of the platform administrators.', priority: 0 },
    ],
    row: obj => [obj.spec?.tenantID ?? '', (obj.spec?.administrators ?? []).join(',')],
    fieldSelectors: fieldsAt('spec.tenantID'),
  },
};
