// roles.auth.tkestack.io: named sets of policies, bound to users and groups.
import * as v1 from '../../../api/auth/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { CustomSubresource, ResourceDefinition } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { type AuthDeps, authKind } from './kind.ts';
import { bindingSubresources, checkPolicies, listOf, typed, writeThrough } from './bindings.ts';
import { subjectView } from './views.ts';
import type { StoredPolicy } from './stored.ts';

export function roles(deps: AuthDeps): ResourceDefinition<typeof v1.Role> {
  return authKind(deps, {
    kind: 'Role',
    resource: 'roles',
    schema: v1.Role,
    shortNames: ['rol'],
    status: true,
    inSnapshot: true,
    tenanted: true,
    namePrefix: 'rol-',
    finalize: true,
    strategy: {
      prepareForCreate(obj, ctx) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'rol-';
        obj.status = { phase: 'Active', users: [], groups: [] };
        obj.spec ??= {};
        if (!obj.spec.username) obj.spec.username = ctx.user.username;
      },
      async beforeWrite(obj, _old, ctx) {
        await checkPolicies(ctx.tx, tenantOf(obj), obj.spec?.policies ?? [], obj.spec?.projectID ? 'project' : undefined);
      },
      columns: [{ name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 }],
      row: o => [o.spec?.displayName ?? ''],
    },
    custom: {
      ...bindingSubresources(deps, 'roles', 'Role'),
      policybinding: rolePolicies(deps, true),
      policyunbinding: rolePolicies(deps, false),
      policies: subjectView(deps, 'roles', 'PolicyList', (snap, _tenant, role) =>
        listOf(
          'Policy',
          (role.spec?.policies ?? [])
            .map(n => snap.objects.policies.get(n))
            .filter((p): p is StoredPolicy => !!p)
            .map(p => typed('Policy', p)),
        ),
      ),
    },
  });
}

export function rolePolicies(deps: AuthDeps, add: boolean): CustomSubresource {
  return {
    verbs: ['create'],
    kind: 'Role',
    handle: async r => {
      const want = ((r.body as { policies?: unknown } | undefined)?.policies as string[] | undefined) ?? [];
      if (!Array.isArray(want) || !want.length) throw errors.badRequest('policies is required');
      // The roles strategy checks, in the write's transaction, that every policy exists in the tenant.
      return writeThrough(deps, 'roles', r.parentName, r, '', o => {
        const cur = o.spec?.policies ?? [];
        o.spec = { ...o.spec, policies: add ? [...new Set([...cur, ...want])] : cur.filter(p => !want.includes(p)) };
      });
    },
  };
}
