// localgroups.auth.tkestack.io: groups of a local tenant's users.
import * as v1 from '../../../api/auth/v1/types.ts';
import { field } from '../../rest/errors.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { type AuthDeps, authKind } from './kind.ts';
import { bindingSubresources, listOf, projectHeader } from './bindings.ts';
import { groupRoles, policiesReaching, subjectView } from './views.ts';

export function localGroups(deps: AuthDeps): ResourceDefinition<typeof v1.LocalGroup> {
  return authKind(deps, {
    kind: 'LocalGroup',
    resource: 'localgroups',
    schema: v1.LocalGroup,
    shortNames: ['lg'],
    status: true,
    inSnapshot: true,
    tenanted: true,
    namePrefix: 'grp-',
    finalize: true,
    strategy: {
      prepareForCreate(obj, ctx) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'grp-';
        obj.status = { phase: 'Active', users: [] };
        obj.spec ??= {};
        if (!obj.spec.username) obj.spec.username = ctx.user.username;
      },
      validate(obj) {
        const n = obj.spec?.displayName ?? '';
        return n.length > 60 ? [field.tooLong('spec.displayName', 60)] : [];
      },
      columns: [{ name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 }],
      row: o => [o.spec?.displayName ?? ''],
    },
    custom: {
      ...bindingSubresources(deps, 'localgroups', 'LocalGroup'),
      policies: subjectView(deps, 'localgroups', 'PolicyList', (snap, tenant, g) =>
        listOf('Policy', policiesReaching(snap, tenant, { name: '\u0000', id: '\u0000', groups: [g.metadata.name!] })),
      ),
      roles: subjectView(deps, 'localgroups', 'RoleList', (snap, tenant, g, r) => listOf('Role', groupRoles(snap, tenant, g.metadata.name!, projectHeader(r)))),
    },
  });
}
