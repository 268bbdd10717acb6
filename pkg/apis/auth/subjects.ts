// Who a caller is in TKE terms: its tenant, whether it administers the tenant, and which
// policy statements reach it (directly, through groups and roles, or inside projects).
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { UserInfo } from '../../rest/resource.ts';
import { defaultTenantID, tenantOf } from '../tke/tenant.ts';
import type { Grant } from './policyengine.ts';
import type { Snapshot } from './state.ts';

/** Key of the tenant in UserInfo.extra, as TKE's OIDC authenticator names it. */
export const tenantIDKey = 'tenantid';
export const mastersGroup = 'system:masters';
const tenantGroupPrefix = 'tenant:';

export interface SubjectRef {
  id?: string;
  name?: string;
}

/**
 * kube-apiserver's reserved prefix. `system:` users and groups (above all system:masters) come only
 * from the bootstrap admin token, client certificates of the client CA and the verified front proxy;
 * identities a tenant controls (local identities, its LDAP directory, its OIDC issuer) never carry
 * them, here or in the TokenReview answers member clusters act on.
 */
const reservedPrefix = 'system:';

/** Compared trimmed and case-folded: a front proxy or a member cluster may trim what we hand on. */
export function isReservedName(name: string): boolean {
  return name.trim().toLowerCase().startsWith(reservedPrefix);
}

/** The groups an identity a tenant controls asserts, without the reserved ones. */
export function tenantAssertedGroups(groups: unknown): string[] {
  return Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string' && g.trim() !== '' && !isReservedName(g)) : [];
}

export function isMaster(user: UserInfo): boolean {
  return user.groups.includes(mastersGroup);
}

/** The tenant a caller belongs to: extra.tenantid, else a `tenant:<id>` group, else the default tenant. */
export function tenantOfUser(user: UserInfo): string {
  const fromExtra = user.extra?.[tenantIDKey]?.[0];
  if (fromExtra) return fromExtra;
  const g = user.groups.find(x => x.startsWith(tenantGroupPrefix));
  return g ? g.slice(tenantGroupPrefix.length) || defaultTenantID : defaultTenantID;
}

/** Kinds whose objects belong to no tenant: every tenant reads them, platform masters change them. */
export const sharedResources = new Set(['categories']);

/** The tenant an auth object belongs to: identity providers are named after their tenant. */
export function tenantOfObject(resource: string, obj: KubeObject): string | undefined {
  if (resource === 'identityproviders') return obj.metadata.name;
  if (sharedResources.has(resource)) return undefined;
  return tenantOf(obj);
}

export function isTenantAdmin(snap: Snapshot, tenant: string, username: string): boolean {
  const idp = snap.objects.identityproviders.get(tenant);
  return (idp?.spec?.administrators ?? []).includes(username);
}

/** A subject entry names the user by id or by name (TKE's console sends both). */
function hasUser(list: SubjectRef[] | undefined, user: UserInfo): boolean {
  return (list ?? []).some(s => s.name === user.username || (s.id !== undefined && s.id !== '' && (s.id === user.uid || s.id === user.username)));
}

function hasGroup(list: SubjectRef[] | undefined, groups: Set<string>): boolean {
  return (list ?? []).some(s => (s.id && groups.has(s.id)) || (s.name && groups.has(s.name)));
}

/** The caller's groups: those its identity provider reported plus the local groups listing it. */
export function effectiveGroups(snap: Snapshot, tenant: string, user: UserInfo): Set<string> {
  const out = new Set(user.groups);
  for (const g of snap.objects.localgroups.values()) {
    if (tenantOf(g) !== tenant) continue;
    if (hasUser(g.status?.users, user)) out.add(g.metadata.name!);
  }
  return out;
}

/** Every statement that reaches the caller inside its tenant. */
export function grantsFor(snap: Snapshot, tenant: string, user: UserInfo): Grant[] {
  const groups = effectiveGroups(snap, tenant, user);
  const reaches = (holder: { users?: SubjectRef[]; groups?: SubjectRef[] } | undefined) => hasUser(holder?.users, user) || hasGroup(holder?.groups, groups);
  const policies = snap.objects.policies;
  const out: Grant[] = [];
  const add = (name: string, project?: string, resources?: string[]) => {
    const p = policies.get(name);
    if (!p || tenantOf(p) !== tenant) return;
    const statement = p.spec?.statement;
    if (!statement) return;
    out.push({ policy: name, project: project || undefined, statement: resources?.length ? { ...statement, resources } : statement });
  };
  for (const p of policies.values()) {
    if (tenantOf(p) === tenant && reaches(p.status)) add(p.metadata.name!);
  }
  for (const r of snap.objects.roles.values()) {
    if (tenantOf(r) !== tenant || !reaches(r.status)) continue;
    for (const name of r.spec?.policies ?? []) add(name, r.spec?.projectID);
  }
  for (const b of snap.objects.projectpolicybindings.values()) {
    if (tenantOf(b) !== tenant || !reaches(b.spec)) continue;
    // A project binding grants only inside its project, whatever the policy's resources say.
    add(b.spec?.policyID ?? '', b.spec?.projectID || '\u0000none');
  }
  for (const b of snap.objects.custompolicybindings.values()) {
    if (tenantOf(b) !== tenant || !reaches(b.spec)) continue;
    add(b.spec?.policyID ?? '', undefined, b.spec?.resources);
  }
  return out;
}

/** Platform masters (member clusters' webhook credentials) ask about anyone; a tenant's user about its tenant. */
export function withinCallerTenant(caller: UserInfo, subject: UserInfo): boolean {
  return isMaster(caller) || tenantOfUser(caller) === tenantOfUser(subject);
}
