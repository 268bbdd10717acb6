// Subject lists (users and groups) of policies, roles, local groups and bindings, and the binding
// subresources that change them through the kind's own store.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors, field, StatusError } from '../../rest/errors.ts';
import type { CustomSubresource, RequestContext, SubresourceRequest } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import type { Transaction } from '../../storage/interface.ts';
import { authGroupName } from './state.ts';
import { type SubjectRef } from './subjects.ts';
import { type AuthDeps, forbidden, version } from './kind.ts';
import { asStored, readStored, type StoredObjects, type StoredResource } from './stored.ts';
import { subjectObjects } from './views.ts';

// ---- helpers shared by the binding subresources --------------------------------------------------

/** The subjects of a request's body, which no schema has checked: whatever is not an object is left out. */
export function subjectsOf(v: unknown): SubjectRef[] {
  return Array.isArray(v) ? v.filter((s): s is SubjectRef => s && typeof s === 'object') : [];
}

export function sameSubject(a: SubjectRef, b: SubjectRef): boolean {
  return (!!a.id && a.id === b.id) || (!!a.name && a.name === b.name);
}

export function merge(list: SubjectRef[] | undefined, add: SubjectRef[]): SubjectRef[] {
  const out = (list ?? []).map(s => ({ id: s.id ?? '', name: s.name ?? '' }));
  for (const s of add) if (!out.some(x => sameSubject(x, s))) out.push({ id: s.id ?? s.name ?? '', name: s.name ?? s.id ?? '' });
  return out;
}

export function remove(list: SubjectRef[] | undefined, drop: SubjectRef[]): SubjectRef[] {
  return (list ?? []).filter(s => !drop.some(d => sameSubject(s, d)));
}

export function bindingBody(body: KubeObject | undefined): { users: SubjectRef[]; groups: SubjectRef[] } {
  const b = (body ?? {}) as Record<string, unknown>;
  const users = subjectsOf(b.users);
  const groups = subjectsOf(b.groups);
  if (!users.length && !groups.length) throw errors.badRequest('a binding must name at least one user or group');
  return { users, groups };
}

export function typed(kind: string, obj: KubeObject): KubeObject {
  return { apiVersion: `${authGroupName}/${version}`, kind, ...obj };
}

export function listOf(kind: string, items: KubeObject[]): KubeObject {
  return { apiVersion: `${authGroupName}/${version}`, kind: `${kind}List`, metadata: {}, items } as unknown as KubeObject;
}

/**
 * Read-modify-write of one object through its kind's RegistryStore, as the request's caller:
 * admission, strategy, managedFields (the request's fieldManager) and dryRun apply as to any write
 * (TKE's binding subresources call UpdateStatus/Update the same way). `subresource` is 'status'
 * when the change is to status (policies, roles and local groups keep their subjects there).
 * Retried when another writer got in between (optimistic concurrency on resourceVersion).
 */
export async function writeThrough<R extends StoredResource>(
  deps: AuthDeps,
  resource: R,
  name: string,
  r: SubresourceRequest,
  subresource: '' | 'status' | 'password',
  fn: (obj: StoredObjects[R]) => void,
): Promise<StoredObjects[R]> {
  const store = deps.store(resource);
  const ctx: RequestContext = { ...r.ctx, subresource };
  for (let attempt = 0; ; attempt++) {
    const current = await store.get(ctx, name);
    const next = asStored(resource, structuredClone(current));
    fn(next);
    try {
      return asStored(resource, (await store.update(ctx, name, next, r.writeOptions)).object);
    } catch (err) {
      if (err instanceof StatusError && err.reason === 'Conflict' && attempt < 8) continue;
      throw err;
    }
  }
}

/** TKE's X-TKE-ProjectName: the project a policies/* or groups/* request is about. */
export function projectHeader(r: SubresourceRequest): string {
  const v = r.headers['x-tke-projectname'];
  return String((Array.isArray(v) ? v[0] : v) ?? '').trim();
}

export function isNotFound(err: unknown): boolean {
  return err instanceof StatusError && err.reason === 'NotFound';
}

/** What the binding subresources change: status.users, and status.groups but for local groups (which have none). */
interface SubjectHolder {
  status?: { users?: SubjectRef[]; groups?: SubjectRef[] };
}

/** binding / unbinding of users and groups into status.users / status.groups (policies, roles, local groups). */
export function bindingSubresources(deps: AuthDeps, resource: 'policies' | 'roles' | 'localgroups', kind: string): Record<string, CustomSubresource> {
  const projectScoped = (r: SubresourceRequest) => resource === 'policies' && asStored('policies', r.parent!).spec?.scope === 'project';
  const change = (add: boolean): CustomSubresource => ({
    verbs: ['create'],
    kind,
    handle: async r => {
      const { users, groups } = bindingBody(r.body);
      if (projectScoped(r)) {
        throw errors.badRequest(`unable ${add ? 'bind' : 'unbind'} subject to project-scoped policy, please use projectbinding api`);
      }
      return writeThrough(deps, resource, r.parentName, r, 'status', (o: SubjectHolder) => {
        o.status ??= {};
        o.status.users = add ? merge(o.status.users, users) : remove(o.status.users, users);
        if (resource !== 'localgroups') o.status.groups = add ? merge(o.status.groups, groups) : remove(o.status.groups, groups);
      });
    },
  });
  const members = (which: 'users' | 'groups'): CustomSubresource => ({
    verbs: ['get'],
    kind: which === 'users' ? 'UserList' : 'GroupList',
    handle: async r => {
      if (projectScoped(r)) throw errors.badRequest(`unable list ${which} of a project-scoped policy, please use project${which} api`);
      const parent: SubjectHolder = asStored(resource, r.parent!);
      return subjectObjects(await deps.state.snapshot(), tenantOf(r.parent!), which, parent.status?.[which] ?? []);
    },
  });
  return { binding: change(true), unbinding: change(false), users: members('users'), ...(resource === 'localgroups' ? {} : { groups: members('groups') }) };
}

/** Policies named in a role or binding must exist in the tenant, and (for project bindings) be project policies. */
export async function checkPolicies(tx: Transaction, tenant: string, names: string[], scope?: 'project'): Promise<void> {
  for (const n of names) {
    const p = await readStored(tx, 'policies', n);
    if (!p || tenantOf(p) !== tenant) throw errors.invalid(authGroupName, 'Policy', n, [field.invalid('policies', n, 'no such policy in the tenant')]);
    if (scope === 'project' && p.spec?.scope !== 'project') {
      throw forbidden('policies', n, `policy ${n} is a platform policy; only project policies can be granted inside a project`);
    }
  }
}
