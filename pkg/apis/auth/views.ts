// Read-only views of a subject: the users, groups, policies and roles that reach it.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { CustomSubresource, RequestContext, SubresourceRequest } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { listGroups, listUsers, type DirectoryGroup, type DirectoryUser } from './idp.ts';
import { type Snapshot } from './state.ts';
import { grantsFor, isMaster, tenantOfUser, type SubjectRef } from './subjects.ts';
import { type AuthDeps } from './kind.ts';
import { listOf, typed } from './bindings.ts';
import { asStored, type StoredObjects, type StoredPolicy, type StoredResource } from './stored.ts';

// ---- users, groups, policies of a subject ----------------------------------------------------------

/** The tenant a request lists in: the caller's, or (platform masters) the one its field selector names. */
export function requestTenant(ctx: RequestContext, fieldSelector?: string): string {
  if (isMaster(ctx.user)) {
    const m = /(?:^|,)spec\.tenantID=([^,]+)/.exec(fieldSelector ?? '');
    if (m) return m[1];
  }
  return tenantOfUser(ctx.user);
}

export function userObject(tenant: string, u: DirectoryUser): KubeObject {
  return typed('User', {
    metadata: { name: u.id || u.name, ...(u.createdAt ? { creationTimestamp: u.createdAt } : {}) },
    spec: {
      id: u.id || u.name,
      name: u.name,
      displayName: u.displayName ?? u.name,
      email: u.email ?? '',
      tenantID: tenant,
      extra: u.groups.length ? { groups: u.groups.join(',') } : {},
    },
  });
}

/**
 * The users or groups a binding names, as the full objects of the tenant's provider (local or
 * LDAP), as TKE looks each up; a subject the provider does not know (any more) is shown as the
 * binding names it.
 */
export async function subjectObjects(snap: Snapshot, tenant: string, which: 'users' | 'groups', subjects: SubjectRef[]): Promise<KubeObject> {
  if (which === 'users') {
    const known = subjects.length ? await listUsers(snap, tenant) : [];
    return listOf(
      'User',
      subjects.map(s => {
        const u = known.find(k => (s.id && k.id === s.id) || (!s.id && k.name === s.name));
        return u
          ? userObject(tenant, u)
          : typed('User', { metadata: { name: s.id || s.name || '' }, spec: { id: s.id ?? '', name: s.name ?? '', tenantID: tenant } });
      }),
    );
  }
  const known = subjects.length ? await listGroups(snap, tenant) : [];
  return listOf(
    'Group',
    subjects.map(s => {
      const g = known.find(k => (s.id && k.id === s.id) || (!s.id && k.name === s.name));
      return g
        ? groupObject(tenant, g)
        : typed('Group', { metadata: { name: s.id || s.name || '' }, spec: { id: s.id ?? '', displayName: s.name ?? '', tenantID: tenant } });
    }),
  );
}

export async function findUser(snap: Snapshot, tenant: string, name: string): Promise<DirectoryUser | undefined> {
  return (await listUsers(snap, tenant)).find(u => u.id === name || u.name === name);
}

export function policiesReaching(snap: Snapshot, tenant: string, u: DirectoryUser | { name: string; id: string; groups: string[] }): KubeObject[] {
  const names = new Set(grantsFor(snap, tenant, { username: u.name, uid: u.id, groups: u.groups }).map(g => g.policy));
  return [...names]
    .map(n => snap.objects.policies.get(n))
    .filter((p): p is StoredPolicy => !!p)
    .map(p => typed('Policy', p));
}

export function groupObject(tenant: string, g: DirectoryGroup): KubeObject {
  return typed('Group', {
    metadata: { name: g.id, ...(g.createdAt ? { creationTimestamp: g.createdAt } : {}) },
    spec: { id: g.id, displayName: g.name, tenantID: tenant, description: '', extra: {} },
    status: { users: g.members },
  });
}

/** Roles bound to a group in one project ('' = platform roles), as TKE's casbin domains put it. */
export function groupRoles(snap: Snapshot, tenant: string, group: string, project: string): KubeObject[] {
  return [...snap.objects.roles.values()]
    .filter(r => tenantOf(r) === tenant && (r.spec?.projectID ?? '') === project && (r.status?.groups ?? []).some(s => s.id === group || s.name === group))
    .map(r => typed('Role', r));
}

/** Policies reaching a group in one project ('' = platform-wide grants). */
export function groupPolicies(snap: Snapshot, tenant: string, group: string, project: string): KubeObject[] {
  const names = new Set(
    grantsFor(snap, tenant, { username: '\u0000', uid: '\u0000', groups: [group] })
      .filter(g => (g.project ?? '') === project)
      .map(g => g.policy),
  );
  return [...names]
    .map(n => snap.objects.policies.get(n))
    .filter((p): p is StoredPolicy => !!p)
    .map(p => typed('Policy', p));
}

export function rolesReaching(snap: Snapshot, tenant: string, u: { name: string; id: string }): KubeObject[] {
  return [...snap.objects.roles.values()]
    .filter(r => tenantOf(r) === tenant && (r.status?.users ?? []).some(s => s.name === u.name || s.id === u.id))
    .map(r => typed('Role', r));
}

/** A read-only view of the object named in the URL, an object of `resource`. */
export function subjectView<R extends StoredResource>(
  deps: AuthDeps,
  resource: R,
  kind: string,
  build: (snap: Snapshot, tenant: string, parent: StoredObjects[R], r: SubresourceRequest) => KubeObject,
): CustomSubresource {
  return { verbs: ['get'], kind, handle: async r => build(await deps.state.snapshot(), tenantOf(r.parent!), asStored(resource, r.parent!), r) };
}
