// projects.auth.tkestack.io: the access-control view of a business project (its members and the
// policies they hold there), and the subresources that bind them.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { authProjectColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';
import { listOf, typed } from './bindings.ts';
import { bindingsOf, businessProject, projectBinding, projectMembers, projectView } from './projectbindings.ts';
import type { StoredPolicy } from './stored.ts';

export function projects(deps: AuthDeps): ResourceDefinition<typeof v1.AuthProject> {
  return authKind(deps, {
    kind: 'Project',
    resource: 'projects',
    schema: v1.AuthProject,
    verbs: ['get', 'list'],
    strategy: authProjectColumns,
    handlers: {
      get: (ctx, name) => projectView(deps, ctx, name),
      async list(ctx) {
        const all = await deps.storage.list({ group: 'business.tkestack.io', resource: 'projects' }, { filter: ctx.objectFilter });
        return { items: await Promise.all(all.items.map(p => projectView(deps, ctx, p.metadata.name!))) };
      },
    },
    custom: {
      binding: projectBinding(deps, true),
      unbinding: projectBinding(deps, false),
      users: projectMembers(deps, 'users'),
      groups: projectMembers(deps, 'groups'),
      policies: {
        verbs: ['get'],
        kind: 'PolicyList',
        parentless: true,
        handle: async r => {
          const project = await businessProject(deps, r.ctx, r.parentName);
          const snap = await deps.state.snapshot();
          const names = new Set((await bindingsOf(deps, project)).map(b => b.spec?.policyID ?? ''));
          return listOf(
            'Policy',
            [...names]
              .map(n => snap.objects.policies.get(n))
              .filter((p): p is StoredPolicy => !!p)
              .map(p => typed('Policy', p)),
          );
        },
      },
    },
  });
}
