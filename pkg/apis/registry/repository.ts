// repositories.registry.tkestack.io: an image repository, stored in the namespace named after
// its registry Namespace object (metadata.name, e.g. rns-xxxx). Pushes make it and its tags, and
// pulls count, from the image registry's notifications (distribution/notifications.ts).
import { Visibility } from '../../../api/registry/v1/types.ts';
import { Repository, RepositoryList } from '../../../api/registry/v1/repository.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { defaultTenant } from '../tke/tenant.ts';
import { registryGroup, requireParent, requireSpec, requireUniqueName, requireVisibility } from './rules.ts';
import { requireUnchanged } from '../tke/kinds.ts';
import { fieldsAt } from '../../rest/selectors.ts';

export const repositories: OpenAPIResource<typeof Repository> = {
  group: registryGroup,
  version: 'v1',
  kind: 'Repository',
  listKind: 'RepositoryList',
  resource: 'repositories',
  singular: 'repository',
  namespaced: true,
  shortNames: ['repo'],
  categories: ['tke', 'all'],
  schema: Repository,
  listSchema: RepositoryList,
  subresources: { status: true },
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'repo-';
      delete obj.status;
    },
    defaults: defaultTenant,
    validate: obj => [...requireSpec(obj, 'name', 'namespaceName'), ...requireVisibility(obj, [Visibility.Private, Visibility.Public])],
    validateUpdate: (obj, old) => requireUnchanged(obj, old, ['tenantID', 'name', 'namespaceName']),
    allowUnconditionalUpdate: false,
    async beforeWrite(obj, old, ctx) {
      if (old || ctx.subresource !== '') return;
      const namespaceName = obj.spec?.namespaceName ?? '';
      await requireParent(obj, ctx, { resource: 'namespaces', specField: 'namespaceName', name: namespaceName });
      await requireUniqueName(obj, ctx, { namespaceName });
    },
    columns: [
      { name: 'Name In Registry', type: 'string', format: '', description: 'The repository name in the registry (spec.name).', priority: 0 },
      { name: 'Registry Namespace', type: 'string', format: '', description: 'The registry namespace name (spec.namespaceName).', priority: 0 },
      { name: 'Visibility', type: 'string', format: '', description: 'Public or Private.', priority: 0 },
      { name: 'Tags', type: 'string', format: '', description: 'The tags pushed (status.tags).', priority: 0 },
      { name: 'Pulls', type: 'integer', format: '', description: 'Number of pulls.', priority: 0 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the repository belongs to.', priority: 1 },
    ],
    row: obj => [
      obj.spec?.name ?? '',
      obj.spec?.namespaceName ?? '',
      obj.spec?.visibility ?? '',
      (obj.status?.tags ?? []).map(t => t.name).join(','),
      obj.status?.pullCount ?? 0,
      obj.spec?.tenantID ?? '',
    ],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'spec.name', 'spec.namespaceName'),
    },
  },
};
