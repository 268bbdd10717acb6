// charts.registry.tkestack.io: a Helm chart, stored in the namespace named after its ChartGroup
// object (metadata.name, e.g. rcg-xxxx). The chart repository (chartrepo/) keeps status.versions
// and pullCount. It carries TKE's `chart` spec finalizer, removed by the lifecycle controller.
import { RegistryFinalizer, Visibility } from '../../../api/registry/v1/types.ts';
import { Chart, ChartList } from '../../../api/registry/v1/chart.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { errors } from '../../rest/errors.ts';
import { defaultTenant } from '../tke/tenant.ts';
import { registryGroup, requireParent, requireSpec, requireUniqueName, requireVisibility } from './rules.ts';
import { requireUnchanged } from '../tke/kinds.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';

export const charts: OpenAPIResource<typeof Chart> = {
  group: registryGroup,
  version: 'v1',
  kind: 'Chart',
  listKind: 'ChartList',
  resource: 'charts',
  singular: 'chart',
  namespaced: true,
  shortNames: ['chart'],
  categories: ['all'],
  schema: Chart,
  listSchema: ChartList,
  subresources: { status: true, finalize: specFinalizers },
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'chart-';
      delete obj.status;
      obj.spec = { ...(obj.spec ?? {}), finalizers: [RegistryFinalizer.Chart] };
    },
    defaults: defaultTenant,
    validate: obj => [...requireSpec(obj, 'name', 'chartGroupName'), ...requireVisibility(obj, [Visibility.User, Visibility.Project, Visibility.Public])],
    validateUpdate: (obj, old) => requireUnchanged(obj, old, ['tenantID', 'name', 'chartGroupName']),
    allowUnconditionalUpdate: false,
    async beforeWrite(obj, old, ctx) {
      if (old || ctx.subresource !== '') return;
      const chartGroupName = obj.spec?.chartGroupName ?? '';
      const group = await requireParent(obj, ctx, { resource: 'chartgroups', specField: 'chartGroupName', name: chartGroupName });
      if (group.metadata.deletionTimestamp) {
        throw errors.forbidden(
          { group: registryGroup, resource: 'charts' },
          obj.metadata.name!,
          `unable to create new content in chart group "${group.metadata.name}" because it is being terminated`,
        );
      }
      await requireUniqueName(obj, ctx, { chartGroupName });
    },
    columns: [
      { name: 'Name In Registry', type: 'string', format: '', description: 'The chart name in the registry (spec.name).', priority: 0 },
      { name: 'Chart Group', type: 'string', format: '', description: 'The chart group name (spec.chartGroupName).', priority: 0 },
      { name: 'Visibility', type: 'string', format: '', description: 'Public, User or Project.', priority: 0 },
      { name: 'Versions', type: 'integer', format: '', description: 'Number of versions pushed.', priority: 0 },
      { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase of the chart.', priority: 0 },
      { name: 'Pulls', type: 'integer', format: '', description: 'Number of pulls.', priority: 0 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the chart belongs to.', priority: 1 },
    ],
    row: obj => [
      obj.spec?.name ?? '',
      obj.spec?.chartGroupName ?? '',
      obj.spec?.visibility ?? '',
      (obj.status?.versions ?? []).length,
      obj.status?.phase ?? '',
      obj.status?.pullCount ?? 0,
      obj.spec?.tenantID ?? '',
    ],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'spec.name', 'spec.chartGroupName'),
    },
  },
};
