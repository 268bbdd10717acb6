// Every TKE object names its tenant in spec.tenantID. Until a request carries a tenant of
// its own (from its identity provider), objects belong to the default tenant.
import type { KubeObject } from '../../../api/meta/v1/types.ts';

export const defaultTenantID = 'default';

/** Kinds without a spec (ClusterCredential) carry tenantID at the top level. */
function tenantHolder(obj: KubeObject): Record<string, unknown> {
  if (obj.spec === undefined && 'tenantID' in obj) return obj;
  obj.spec ??= {};
  return obj.spec;
}

export function tenantOf(obj: KubeObject): string {
  const id = obj.spec?.tenantID ?? obj.tenantID;
  return typeof id === 'string' && id ? id : defaultTenantID;
}

export function setTenant(obj: KubeObject, tenant: string): void {
  tenantHolder(obj).tenantID = tenant;
}

export function defaultTenant(obj: KubeObject): void {
  const holder = tenantHolder(obj);
  if (!holder.tenantID) holder.tenantID = defaultTenantID;
}

/** defaultTenant for kinds that keep tenantID beside metadata, not in a spec. */
export function defaultTopLevelTenant(obj: KubeObject): void {
  if (!obj.tenantID) obj.tenantID = defaultTenantID;
}
