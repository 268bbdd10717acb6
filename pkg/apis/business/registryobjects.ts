// imagenamespaces and chartgroups.business.tkestack.io: a project's image namespace and Helm
// chart group. Both live in the project's namespace, are named after spec.name, and carry a TKE
// finalizer the lifecycle controller removes; one definition builder serves both.
import { BusinessFinalizer } from '../../../api/business/v1/types.ts';
import { ChartGroup, ChartGroupList, ImageNamespace, ImageNamespaceList } from '../../../api/business/v1/registryobject.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { errors, field } from '../../rest/errors.ts';
import { defaultTenant, tenantOf } from '../tke/tenant.ts';
import type { TSchema } from '@sinclair/typebox';
import { requireUnchanged } from '../tke/kinds.ts';
import { isDeleting, readProject } from './stored.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';

/** ImageNamespace or ChartGroup: the same fields under two kinds' names. */
type RegistryObjectSchema = typeof ImageNamespace | typeof ChartGroup;

interface RegistryObjectKind<S extends RegistryObjectSchema> {
  kind: string;
  resource: string;
  singular: string;
  schema: S;
  listSchema: TSchema;
  generateName: string;
  finalizer: string;
}

function registryObjectDefinition<S extends RegistryObjectSchema>(k: RegistryObjectKind<S>): OpenAPIResource<S> {
  const gr = { group: 'business.tkestack.io', resource: k.resource };
  return {
    group: gr.group,
    version: 'v1',
    kind: k.kind,
    listKind: `${k.kind}List`,
    resource: k.resource,
    singular: k.singular,
    namespaced: true,
    shortNames: [],
    categories: [],
    schema: k.schema,
    listSchema: k.listSchema,
    subresources: { status: true, finalize: specFinalizers },
    strategy: {
      prepareForCreate(obj) {
        const specName = obj.spec?.name;
        // The schema is checked after this: only a string may become the name.
        if (typeof specName === 'string' && specName) {
          obj.metadata.name = specName;
          delete obj.metadata.generateName;
        } else if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = k.generateName;
        delete obj.status;
        obj.spec = { ...(obj.spec ?? {}), finalizers: [k.finalizer] };
      },
      defaults: defaultTenant,
      validate: obj => (obj.spec?.name ? [] : [field.required('spec.name', 'Required value: must specify name')]),
      validateUpdate: (obj, old) => requireUnchanged(obj, old, ['name', 'tenantID']),
      async beforeWrite(obj, old, ctx) {
        if (old) return;
        const project = await readProject(ctx.tx, obj.metadata.namespace!);
        if (!project || tenantOf(project) !== tenantOf(obj)) {
          throw errors.invalid(gr.group, k.kind, obj.metadata.name!, [
            { field: 'metadata.namespace', reason: 'FieldValueNotFound', message: `Not found: "${obj.metadata.namespace}"` },
          ]);
        }
        if (isDeleting(project))
          throw errors.forbidden(gr, obj.metadata.name!, `unable to create new content in project "${obj.metadata.namespace}" because it is being terminated`);
      },
      columns: [
        { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
        { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase.', priority: 0 },
        { name: 'Tenant', type: 'string', format: '', description: 'The tenant it belongs to.', priority: 1 },
      ],
      row: obj => [obj.spec?.displayName ?? '', obj.status?.phase ?? '', obj.spec?.tenantID ?? ''],
      fieldSelectors: {
        ...fieldsAt('spec.tenantID', 'spec.name', 'status.phase'),
      },
    },
  };
}

export const imageNamespaces = registryObjectDefinition({
  kind: 'ImageNamespace',
  resource: 'imagenamespaces',
  singular: 'imagenamespace',
  schema: ImageNamespace,
  listSchema: ImageNamespaceList,
  generateName: 'imn-',
  finalizer: BusinessFinalizer.ImageNamespace,
});

export const chartGroups = registryObjectDefinition({
  kind: 'ChartGroup',
  resource: 'chartgroups',
  singular: 'chartgroup',
  schema: ChartGroup,
  listSchema: ChartGroupList,
  generateName: 'cg-',
  finalizer: BusinessFinalizer.ChartGroup,
});
