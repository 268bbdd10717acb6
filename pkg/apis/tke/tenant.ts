// Every TKE object names its tenant in spec.tenantID. Until a request carries a tenant of
// its own (from its identity provider), objects belong to the default tenant.
import type { KubeObject } from '../../../api/meta/v1/types.ts';

export const defaultTenantID = 'default';

export function tenantOf(obj: KubeObject): string {
  const id = obj.spec?.tenantID;
  return typeof id === 'string' && id ? id : defaultTenantID;
}

export function defaultTenant(obj: KubeObject): void {
  obj.spec ??= {};
  if (!obj.spec.tenantID) obj.spec.tenantID = defaultTenantID;
}
