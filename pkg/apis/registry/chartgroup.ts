// chartgroups.registry.tkestack.io: a Helm chart group of the chart registry, per tenant.
// Its charts are served by the chart repository (chartrepo/), which also imports them. It carries
// TKE's `chartgroup` spec finalizer, which the lifecycle controller (index.ts) removes on delete.
import { RegistryFinalizer, RepoType, Visibility } from '../../../api/registry/v1/types.ts';
import { ChartGroup, ChartGroupList } from '../../../api/registry/v1/chartgroup.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import { defaultTenant } from '../tke/tenant.ts';
import { registryGroup, requireSpec, requireUniqueName, requireVisibility } from './rules.ts';
import { requireUnchanged, verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';
import type { StoredChartGroup } from './stored.ts';

const chartGroupTypes: string[] = [RepoType.SelfBuilt, RepoType.Imported, RepoType.System];

function validateChartGroup(obj: StoredChartGroup): FieldError[] {
  const problems = [...requireSpec(obj, 'name'), ...requireVisibility(obj, [Visibility.User, Visibility.Project, Visibility.Public])];
  const type = obj.spec?.type ?? '';
  if (!chartGroupTypes.includes(type)) problems.push(field.notSupported('spec.type', type, [...chartGroupTypes].sort()));
  if (type === RepoType.System && obj.spec?.visibility !== Visibility.Public) {
    problems.push(field.invalid('spec.visibility', obj.spec?.visibility ?? '', 'visibility must be public when type is system'));
  }
  return problems;
}

export const chartGroups: OpenAPIResource<typeof ChartGroup> = {
  group: registryGroup,
  version: 'v1',
  kind: 'ChartGroup',
  listKind: 'ChartGroupList',
  resource: 'chartgroups',
  singular: 'chartgroup',
  namespaced: false,
  shortNames: ['rcg'],
  categories: ['tke', 'all'],
  schema: ChartGroup,
  listSchema: ChartGroupList,
  subresources: { status: true, finalize: specFinalizers },
  secretFields: ['spec.importedInfo.password'],
  verbs: verbsWithoutDeleteCollection,
  strategy: {
    prepareForCreate(obj, ctx) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'rcg-';
      delete obj.status;
      obj.spec ??= {};
      const spec = obj.spec;
      spec.finalizers = [RegistryFinalizer.ChartGroup];
      // TKE records who made a non-system group, and a user-visible self-built group is visible
      // to its creator. (spec.type is not defaulted yet here; empty means SelfBuilt.)
      const type = spec.type || RepoType.SelfBuilt;
      const username = ctx.user.username;
      if (!spec.creator && type !== RepoType.System) spec.creator = username;
      if (type === RepoType.SelfBuilt && spec.visibility === Visibility.User) {
        const users = spec.users ?? [];
        if (!users.includes(username)) spec.users = [...users, username];
      }
    },
    prepareForUpdate(obj, old) {
      // The import password is never served (decorate), so a client writing back what it read
      // sends none: keep the stored one rather than erase it, but only for the repository and
      // account it was given for, or a writer could send it to a repository of its own.
      const next = obj.spec?.importedInfo;
      const prev = old.spec?.importedInfo;
      if (next && next.password === undefined && prev?.password !== undefined && next.addr === prev.addr && next.username === prev.username) {
        next.password = prev.password;
      }
    },
    defaults: defaultTenant,
    validate: validateChartGroup,
    validateUpdate: (obj, old) => requireUnchanged(obj, old, ['tenantID', 'name']),
    allowUnconditionalUpdate: false,
    async beforeWrite(obj, old, ctx) {
      if (!old && ctx.subresource === '') await requireUniqueName(obj, ctx);
    },
    decorate(obj) {
      // A credential of the remote chart repo: stored for the importer, never echoed back.
      delete obj.spec?.importedInfo?.password;
    },
    columns: [
      { name: 'Name In Registry', type: 'string', format: '', description: 'The chart group name in the registry (spec.name).', priority: 0 },
      { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
      { name: 'Type', type: 'string', format: '', description: 'SelfBuilt, Imported or System.', priority: 0 },
      { name: 'Visibility', type: 'string', format: '', description: 'Public, User or Project.', priority: 0 },
      { name: 'Charts', type: 'integer', format: '', description: 'Number of charts in the group.', priority: 0 },
      { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase of the chart group.', priority: 0 },
      { name: 'Projects', type: 'string', format: '', description: 'Projects the group is shared with.', priority: 1 },
      { name: 'Creator', type: 'string', format: '', description: 'Who created the group.', priority: 1 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the chart group belongs to.', priority: 1 },
    ],
    row: obj => [
      obj.spec?.name ?? '',
      obj.spec?.displayName ?? '',
      obj.spec?.type ?? '',
      obj.spec?.visibility ?? '',
      obj.status?.chartCount ?? 0,
      obj.status?.phase ?? '',
      (obj.spec?.projects ?? []).join(','),
      obj.spec?.creator ?? '',
      obj.spec?.tenantID ?? '',
    ],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'spec.name', 'spec.type', 'spec.visibility'),
    },
  },
};
