// users.auth.tkestack.io: a tenant's users as its provider knows them (local identities or the
// directory), with their policies, roles and projects; computed, never stored.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { CustomSubresource, ResourceDefinition } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { listUsers, type DirectoryUser } from './idp.ts';
import { authGroupName, type Snapshot } from './state.ts';
import { tenantOfUser } from './subjects.ts';
import { userColumns } from './columns.ts';
import { type AuthDeps, authKind, version } from './kind.ts';
import { listOf } from './bindings.ts';
import { findUser, policiesReaching, requestTenant, rolesReaching, userObject } from './views.ts';

export function users(deps: AuthDeps): ResourceDefinition<typeof v1.User> {
  return authKind(deps, {
    kind: 'User',
    resource: 'users',
    schema: v1.User,
    verbs: ['get', 'list'],
    categories: ['tke'],
    strategy: userColumns,
    handlers: {
      async list(ctx, q) {
        const tenant = requestTenant(ctx, q.fieldSelector);
        const all = (await listUsers(await deps.state.snapshot(), tenant)).map(u => userObject(tenant, u));
        return { items: ctx.objectFilter ? all.filter(ctx.objectFilter) : all };
      },
      async get(ctx, name) {
        const tenant = tenantOfUser(ctx.user);
        const u = await findUser(await deps.state.snapshot(), tenant, name);
        if (!u) throw errors.notFound({ group: authGroupName, resource: 'users' }, name);
        return userObject(tenant, u);
      },
    },
    custom: {
      policies: userView(deps, 'PolicyList', (snap, tenant, u) => listOf('Policy', policiesReaching(snap, tenant, u))),
      roles: userView(deps, 'RoleList', (snap, tenant, u) => listOf('Role', rolesReaching(snap, tenant, u))),
      // TKE's ProjectBelongs: the projects the user is bound in, by policy; managed = project owner.
      projects: userView(deps, 'ProjectBelongs', (snap, tenant, u) => {
        const owner = `pol-${tenant}-project-owner`;
        const managed: Record<string, string[]> = {};
        const memberd: Record<string, string[]> = {};
        for (const b of snap.objects.projectpolicybindings.values()) {
          if (tenantOf(b) !== tenant || !(b.spec?.users ?? []).some(s => s.id === u.id || s.name === u.name)) continue;
          const prj = b.spec?.projectID ?? '';
          const pol = b.spec?.policyID ?? '';
          memberd[prj] ??= [];
          memberd[prj].push(pol);
          if (pol === owner) {
            managed[prj] ??= [];
            managed[prj].push(pol);
          }
        }
        return {
          apiVersion: `${authGroupName}/${version}`,
          kind: 'ProjectBelongs',
          tenantID: tenant,
          managedProjects: managed,
          memberdProjects: memberd,
        } as unknown as KubeObject;
      }),
    },
  });
}

export function userView(deps: AuthDeps, kind: string, build: (snap: Snapshot, tenant: string, u: DirectoryUser) => KubeObject): CustomSubresource {
  return {
    verbs: ['get'],
    kind,
    parentless: true,
    handle: async r => {
      const snap = await deps.state.snapshot();
      const tenant = tenantOfUser(r.ctx.user);
      const u = await findUser(snap, tenant, r.parentName);
      if (!u) throw errors.notFound({ group: authGroupName, resource: 'users' }, r.parentName);
      return build(snap, tenant, u);
    },
  };
}
