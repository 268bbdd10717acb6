// groups.auth.tkestack.io: a tenant's groups as its provider knows them; computed, never stored.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { CustomSubresource, ResourceDefinition } from '../../rest/resource.ts';
import { listGroups, type DirectoryGroup } from './idp.ts';
import { authGroupName, type Snapshot } from './state.ts';
import { tenantOfUser } from './subjects.ts';
import { groupColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';
import { listOf, projectHeader } from './bindings.ts';
import { groupObject, groupPolicies, groupRoles, requestTenant } from './views.ts';

export function groups(deps: AuthDeps): ResourceDefinition<typeof v1.Group> {
  return authKind(deps, {
    kind: 'Group',
    resource: 'groups',
    schema: v1.Group,
    verbs: ['get', 'list'],
    categories: ['tke'],
    strategy: groupColumns,
    handlers: {
      async list(ctx, q) {
        const tenant = requestTenant(ctx, q.fieldSelector);
        const all = (await listGroups(await deps.state.snapshot(), tenant)).map(g => groupObject(tenant, g));
        return { items: ctx.objectFilter ? all.filter(ctx.objectFilter) : all };
      },
      async get(ctx, name) {
        const items = (await this.list!(ctx, {})).items;
        const g = items.find(i => i.metadata.name === name);
        if (!g) throw errors.notFound({ group: authGroupName, resource: 'groups' }, name);
        return g;
      },
    },
    custom: {
      policies: groupView(deps, 'PolicyList', (snap, tenant, g, project) => listOf('Policy', groupPolicies(snap, tenant, g.id, project))),
      roles: groupView(deps, 'RoleList', (snap, tenant, g, project) => listOf('Role', groupRoles(snap, tenant, g.id, project))),
    },
  });
}

/** groups/<id>/policies and roles: in the project of X-TKE-ProjectName, else platform-wide. */
export function groupView(
  deps: AuthDeps,
  kind: string,
  build: (snap: Snapshot, tenant: string, g: DirectoryGroup, project: string) => KubeObject,
): CustomSubresource {
  return {
    verbs: ['get'],
    kind,
    parentless: true,
    handle: async r => {
      const snap = await deps.state.snapshot();
      const tenant = tenantOfUser(r.ctx.user);
      const g = (await listGroups(snap, tenant)).find(x => x.id === r.parentName);
      if (!g) throw errors.notFound({ group: authGroupName, resource: 'groups' }, r.parentName);
      return build(snap, tenant, g, projectHeader(r));
    },
  };
}
