// namespaces.registry.tkestack.io: an image namespace of the registry, per tenant: the first part
// of its images' names at /v2/ (distribution/), where its visibility decides who may pull.
import { Visibility } from '../../../api/registry/v1/types.ts';
import { Namespace, NamespaceList } from '../../../api/registry/v1/namespace.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { defaultTenant } from '../tke/tenant.ts';
import { registryGroup, requireSpec, requireUniqueName, requireVisibility } from './rules.ts';
import { requireUnchanged, verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { fieldsAt } from '../../rest/selectors.ts';

export const namespaces: OpenAPIResource<typeof Namespace> = {
  group: registryGroup,
  version: 'v1',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  resource: 'namespaces',
  singular: 'namespace',
  namespaced: false,
  shortNames: ['rns'],
  categories: ['tke', 'all'],
  schema: Namespace,
  listSchema: NamespaceList,
  subresources: { status: true },
  verbs: verbsWithoutDeleteCollection,
  strategy: {
    prepareForCreate(obj) {
      // TKE always names them rns-<random>; a name the client chose is kept (kubectl apply finds
      // its object again by name), and only a nameless object gets TKE's prefix.
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'rns-';
      delete obj.status;
    },
    defaults: defaultTenant,
    validate: obj => [...requireSpec(obj, 'name'), ...requireVisibility(obj, [Visibility.Private, Visibility.Public])],
    validateUpdate: (obj, old) => requireUnchanged(obj, old, ['tenantID', 'name']),
    allowUnconditionalUpdate: false,
    async beforeWrite(obj, old, ctx) {
      if (!old && ctx.subresource === '') await requireUniqueName(obj, ctx);
    },
    columns: [
      { name: 'Name In Registry', type: 'string', format: '', description: 'The namespace name in the registry (spec.name).', priority: 0 },
      { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
      { name: 'Visibility', type: 'string', format: '', description: 'Public or Private.', priority: 0 },
      { name: 'Repos', type: 'integer', format: '', description: 'Number of repositories in the namespace.', priority: 0 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the namespace belongs to.', priority: 1 },
    ],
    row: obj => [obj.spec?.name ?? '', obj.spec?.displayName ?? '', obj.spec?.visibility ?? '', obj.status?.repoCount ?? 0, obj.spec?.tenantID ?? ''],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'spec.name'),
    },
  },
};
