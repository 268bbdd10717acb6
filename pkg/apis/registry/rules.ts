// TKE's rules for registry.tkestack.io objects: where they live in storage, unique names per
// tenant, and the parent (namespace, chart group) a namespaced object must name.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { WriteContext } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import type { KeyPrefix } from '../../storage/interface.ts';

export const registryGroup = 'registry.tkestack.io';

export const prefix = (resource: string, namespace?: string): KeyPrefix => ({ group: registryGroup, resource, namespace });

/** What every registry kind's spec holds: its name in the registry, and who may see it. */
type RegistryObject = KubeObject & { spec?: { name?: string; visibility?: string } };

/** `spec.<name>` must be set, as TKE's Validate* functions require. */
export function requireSpec<S extends object>(obj: { spec?: S }, ...names: Array<keyof S & string>): FieldError[] {
  return names.filter(n => !obj.spec?.[n]).map(n => field.required(`spec.${n}`, `Required value: must specify ${n}`));
}

/** `spec.visibility` must be one of `allowed` (each kind accepts its own subset of Visibility). */
export function requireVisibility(obj: RegistryObject, allowed: readonly string[]): FieldError[] {
  const visibility = obj.spec?.visibility ?? '';
  return allowed.includes(visibility) ? [] : [field.notSupported('spec.visibility', visibility, [...allowed].sort())];
}

/** The objects of `resource` (in `namespace`, or cluster-wide) with this tenant and spec fields. */
export async function findBySpec(
  ctx: WriteContext,
  resource: string,
  namespace: string | undefined,
  tenant: string,
  spec: Record<string, string>,
): Promise<KubeObject[]> {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec)) fields[`spec.${k}`] = v;
  return ctx.tx.list(prefix(resource, namespace), {
    fields,
    // Objects stored before spec.tenantID was defaulted count as the default tenant's.
    filter: o => tenantOf(o) === tenant && Object.entries(spec).every(([k, v]) => o.spec?.[k] === v),
  });
}

/**
 * TKE refuses a second object with the same spec.name (per tenant, and per parent for the
 * namespaced kinds). The lock makes the check hold against concurrent creates.
 */
export async function requireUniqueName(obj: RegistryObject, ctx: WriteContext, scope: Record<string, string> = {}): Promise<void> {
  const { resource, kind } = ctx.resource;
  const tenant = tenantOf(obj);
  const name = obj.spec?.name ?? '';
  await ctx.tx.lock(`${registryGroup}/${resource}/${tenant}/${Object.values(scope).join('/')}/${name}`);
  const same = (await findBySpec(ctx, resource, obj.metadata.namespace || undefined, tenant, { ...scope, name })).filter(
    o => o.metadata.name !== obj.metadata.name,
  );
  if (same.length) throw errors.invalid(registryGroup, kind, obj.metadata.name!, [field.duplicate('spec.name', name)]);
}

/**
 * The parent a namespaced registry object names in spec (a repository's namespaceName, a chart's
 * chartGroupName) must exist in the tenant, and the object must live in the parent's metadata.name,
 * as TKE's ValidateRepository/ValidateChart check.
 */
export async function requireParent(obj: KubeObject, ctx: WriteContext, ref: { resource: string; specField: string; name: string }): Promise<KubeObject> {
  const { kind } = ctx.resource;
  const { resource: parentResource, specField, name: parentName } = ref;
  const [parent] = await findBySpec(ctx, parentResource, undefined, tenantOf(obj), { name: parentName });
  if (!parent) {
    throw errors.invalid(registryGroup, kind, obj.metadata.name!, [
      { field: `spec.${specField}`, reason: 'FieldValueNotFound', message: `Not found: ${JSON.stringify(parentName)}` },
    ]);
  }
  if (parent.metadata.name !== obj.metadata.namespace) {
    throw errors.invalid(registryGroup, kind, obj.metadata.name!, [
      {
        field: 'metadata.namespace',
        reason: 'FieldValueNotFound',
        message: `Not found: ${JSON.stringify(obj.metadata.namespace)}: ${parentResource} "${parentName}" is named "${parent.metadata.name}"`,
      },
    ]);
  }
  return parent;
}
