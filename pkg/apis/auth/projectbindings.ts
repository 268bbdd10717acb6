// Who holds which policies inside a business project: the project policy bindings behind
// projects.auth.tkestack.io and the project subresources of policies.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors, StatusError } from '../../rest/errors.ts';
import type { CustomSubresource, RequestContext, SubresourceRequest } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { authGroupName, type Snapshot } from './state.ts';
import { type SubjectRef } from './subjects.ts';
import { type AuthDeps, ensureSpec } from './kind.ts';
import { bindingBody, checkPolicies, isNotFound, listOf, merge, remove, subjectsOf, typed, writeThrough } from './bindings.ts';
import { asStored, type StoredProjectPolicyBinding } from './stored.ts';

/** The business project a projects.auth.tkestack.io request names; 404 when the caller cannot see it. */
export async function businessProject(deps: AuthDeps, ctx: RequestContext, name: string): Promise<KubeObject> {
  const project = await deps.storage.get({ group: 'business.tkestack.io', resource: 'projects', namespace: '', name });
  if (!project || (ctx.objectFilter && !ctx.objectFilter(project))) throw errors.notFound({ group: authGroupName, resource: 'projects' }, name);
  return project;
}

/** The project policy bindings of a project (its tenant's), with `written` (e.g. a dry run's results) in place of the stored ones. */
export async function bindingsOf(deps: AuthDeps, project: KubeObject, written: StoredProjectPolicyBinding[] = []): Promise<StoredProjectPolicyBinding[]> {
  const snap = await deps.state.snapshot();
  const byName = new Map(
    [...snap.objects.projectpolicybindings.values()]
      .filter(b => b.spec?.projectID === project.metadata.name && tenantOf(b) === tenantOf(project))
      .map(b => [b.metadata.name!, b]),
  );
  for (const w of written) byName.set(w.metadata.name!, w);
  return [...byName.values()];
}

/** projects.auth.tkestack.io: members of a business project, from its project policy bindings. */
export async function projectView(deps: AuthDeps, ctx: RequestContext, name: string): Promise<KubeObject> {
  const project = await businessProject(deps, ctx, name);
  const members: Record<string, string> = {};
  const groupsOf: Record<string, string> = {};
  for (const b of await bindingsOf(deps, project)) {
    for (const s of b.spec?.users ?? []) members[s.id || s.name || ''] = s.name || s.id || '';
    for (const s of b.spec?.groups ?? []) groupsOf[s.id || s.name || ''] = s.name || s.id || '';
  }
  return typed('Project', {
    metadata: { name, creationTimestamp: project.metadata.creationTimestamp },
    tenantID: tenantOf(project),
    members,
    groups: groupsOf,
  });
}

/** Policies granted inside a project must exist in the tenant and be project policies; checked before anything is written. */
export async function checkProjectPolicies(deps: AuthDeps, tenant: string, names: string[]): Promise<void> {
  await deps.storage.transact(tx => checkPolicies(tx, tenant, names, 'project'));
}

/**
 * Adds subjects to, or removes them from, the bindings `<project>-<policy>` (TKE's
 * ProjectPolicyName), through the projectpolicybindings store as the caller. A missing binding
 * is created when adding; when removing it is skipped, or NotFound with `missingIsError`.
 */
export async function bindInProject(
  deps: AuthDeps,
  r: SubresourceRequest,
  project: string,
  tenant: string,
  policies: string[],
  users: SubjectRef[],
  groups: SubjectRef[],
  add: boolean,
  missingIsError = false,
): Promise<StoredProjectPolicyBinding[]> {
  const store = deps.store('projectpolicybindings');
  const ctx: RequestContext = { ...r.ctx, subresource: '' };
  const out: StoredProjectPolicyBinding[] = [];
  for (const policy of policies) {
    const name = `${project}-${policy}`;
    const exists = await store.get(ctx, name).then(
      () => true,
      (err: unknown) => {
        if (isNotFound(err)) return false;
        throw err;
      },
    );
    if (!exists) {
      if (!add) {
        if (missingIsError) throw errors.notFound({ group: authGroupName, resource: 'projectpolicybindings' }, name);
        continue;
      }
      try {
        const body = {
          metadata: { name },
          spec: { tenantID: tenant, projectID: project, policyID: policy, users: merge([], users), groups: merge([], groups) },
        };
        out.push(asStored('projectpolicybindings', (await store.create(ctx, body, r.writeOptions)).object));
        continue;
      } catch (err) {
        // Created meanwhile by another request: add to it.
        if (!(err instanceof StatusError && err.reason === 'AlreadyExists')) throw err;
      }
    }
    out.push(
      await writeThrough(deps, 'projectpolicybindings', name, r, '', o => {
        const spec = ensureSpec(o);
        spec.users = add ? merge(spec.users, users) : remove(spec.users, users);
        spec.groups = add ? merge(spec.groups, groups) : remove(spec.groups, groups);
      }),
    );
  }
  return out;
}

/** The body of projects/binding, unbinding, users and groups: TKE's ProjectPolicyBindingRequest. */
export function projectRequest(r: SubresourceRequest): { policies: string[]; users: SubjectRef[]; groups: SubjectRef[] } {
  const body = (r.body ?? {}) as v1.ProjectPolicyBindingRequest;
  const policies = Array.isArray(body.policies) ? body.policies.filter(p => typeof p === 'string' && p) : [];
  return { policies, users: subjectsOf(body.users), groups: subjectsOf(body.groups) };
}

// projects/* act on the project named in the URL, which is what authorization decided on; TKE's
// X-TKE-ProjectName header is not allowed to redirect them to another project. Like TKE, they
// answer the ProjectPolicyBindingList of the bindings written.
export function projectBinding(deps: AuthDeps, add: boolean): CustomSubresource {
  return {
    verbs: ['create'],
    kind: 'ProjectPolicyBindingList',
    parentless: true,
    handle: async (r: SubresourceRequest) => {
      const project = await businessProject(deps, r.ctx, r.parentName);
      const req = projectRequest(r);
      if (!req.policies.length) throw errors.badRequest('policies is required');
      bindingBody(r.body);
      const tenant = tenantOf(project);
      if (add) await checkProjectPolicies(deps, tenant, req.policies);
      return listOf('ProjectPolicyBinding', await bindInProject(deps, r, r.parentName, tenant, req.policies, req.users, req.groups, add));
    },
  };
}

/** Policy id -> display name of the policies a subject holds in a project (TKE's spec.extra.policies of projects/users and groups). */
export function policiesOfSubject(bindings: StoredProjectPolicyBinding[], which: 'users' | 'groups', id: string, snap: Snapshot): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of bindings) {
    if (!(b.spec?.[which] ?? []).some(s => s.id === id || (!s.id && s.name === id))) continue;
    const pid = b.spec?.policyID ?? '';
    out[pid] = snap.objects.policies.get(pid)?.spec?.displayName ?? pid;
  }
  return out;
}

/**
 * projects/users and projects/groups: GET lists the project's members (or groups) with the
 * policies each holds; POST sets the policies of the named subjects to exactly those of the
 * request (binding the new ones, unbinding the others), like TKE, and returns the bindings written.
 */
export function projectMembers(deps: AuthDeps, which: 'users' | 'groups'): CustomSubresource {
  const kind = which === 'users' ? 'User' : 'Group';
  return {
    verbs: ['get', 'create'],
    kind: `${kind}List`,
    parentless: true,
    handle: async r => {
      const project = await businessProject(deps, r.ctx, r.parentName);
      const tenant = tenantOf(project);
      if (r.verb === 'get') {
        const snap = await deps.state.snapshot();
        const bindings = await bindingsOf(deps, project);
        const seen = new Map<string, string>();
        for (const b of bindings) for (const s of b.spec?.[which] ?? []) seen.set(s.id || s.name || '', s.name || s.id || '');
        return listOf(
          kind,
          [...seen].map(([id, name]) => {
            const extra = { policies: JSON.stringify(policiesOfSubject(bindings, which, id, snap)) };
            const spec = which === 'users' ? { id, name, tenantID: tenant, extra } : { id, displayName: name, tenantID: tenant, extra };
            return typed(kind, { metadata: { name: id }, spec });
          }),
        );
      }
      const req = projectRequest(r);
      const subjects = req[which];
      if (!subjects.length) throw errors.badRequest(`must specify ${which}`);
      if (req.policies.length) await checkProjectPolicies(deps, tenant, req.policies);
      const users = which === 'users' ? subjects : [];
      const groups = which === 'groups' ? subjects : [];
      const written = req.policies.length ? await bindInProject(deps, r, r.parentName, tenant, req.policies, users, groups, true) : [];
      const bindings = await bindingsOf(deps, project, written);
      for (const s of subjects) {
        const id = s.id || s.name || '';
        const stale = Object.keys(policiesOfSubject(bindings, which, id, await deps.state.snapshot())).filter(p => !req.policies.includes(p));
        if (stale.length)
          written.push(...(await bindInProject(deps, r, r.parentName, tenant, stale, which === 'users' ? [s] : [], which === 'groups' ? [s] : [], false)));
      }
      return listOf('ProjectPolicyBinding', written);
    },
  };
}
