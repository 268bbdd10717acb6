// policies.auth.tkestack.io: TKE policy statements, bound to users and groups platform-wide or
// inside a project (X-TKE-ProjectName).
import * as v1 from '../../../api/auth/v1/types.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { CustomSubresource, ResourceDefinition, SubresourceRequest } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { type AuthDeps, authKind, ensureSpec } from './kind.ts';
import { bindingBody, bindingSubresources, listOf, projectHeader, typed } from './bindings.ts';
import { asStored } from './stored.ts';
import { subjectObjects, subjectView } from './views.ts';
import { bindInProject, businessProject } from './projectbindings.ts';

export function policies(deps: AuthDeps): ResourceDefinition<typeof v1.Policy> {
  return authKind(deps, {
    kind: 'Policy',
    resource: 'policies',
    singular: 'policy',
    schema: v1.Policy,
    shortNames: ['pol'],
    status: true,
    inSnapshot: true,
    tenanted: true,
    namePrefix: 'pol-',
    finalize: true,
    strategy: {
      prepareForCreate(obj, ctx) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'pol-';
        obj.status = { phase: 'Active', users: [], groups: [] };
        const spec = ensureSpec(obj);
        if (!spec.username) spec.username = ctx.user.username;
      },
      defaults(obj) {
        const spec = ensureSpec(obj);
        if (!spec.scope) spec.scope = 'platform';
      },
      validate(obj) {
        // Before the schema is checked (as here) a statement may still be missing or null.
        const s = obj.spec?.statement;
        const out: FieldError[] = [];
        if (!s?.actions?.length) out.push(field.required('spec.statement.actions'));
        if (!s?.resources?.length) out.push(field.required('spec.statement.resources'));
        if ((obj.spec?.displayName ?? '').length > 255) out.push(field.tooLong('spec.displayName', 255));
        return out;
      },
      columns: [
        { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
        { name: 'Scope', type: 'string', format: '', description: 'platform or project.', priority: 0 },
        { name: 'Effect', type: 'string', format: '', description: 'allow or deny.', priority: 0 },
      ],
      row: o => [o.spec?.displayName ?? '', o.spec?.scope ?? '', o.spec?.statement.effect ?? ''],
      fieldSelectors: fieldsAt('spec.scope', 'spec.type'),
    },
    custom: {
      ...bindingSubresources(deps, 'policies', 'Policy'),
      projectbinding: policyProjectBinding(deps, true),
      projectunbinding: policyProjectBinding(deps, false),
      projectusers: policyProjectMembers(deps, 'users'),
      projectgroups: policyProjectMembers(deps, 'groups'),
      roles: subjectView(deps, 'policies', 'RoleList', (snap, tenant, pol, r) =>
        listOf(
          'Role',
          [...snap.objects.roles.values()]
            .filter(ro => tenantOf(ro) === tenant && (ro.spec?.policies ?? []).includes(pol.metadata.name!) && (ro.spec?.projectID ?? '') === projectHeader(r))
            .map(ro => typed('Role', ro)),
        ),
      ),
    },
  });
}

/** The project of policies/project*: TKE's X-TKE-ProjectName header, required; the policy must be a project policy. */
export async function policyProject(deps: AuthDeps, r: SubresourceRequest): Promise<{ project: string; tenant: string }> {
  const policy = asStored('policies', r.parent!);
  if (policy.spec?.scope !== 'project') throw errors.badRequest('unable to use a platform-scoped policy in a project, please use binding api');
  const project = projectHeader(r);
  if (!project) throw errors.badRequest('must specify projectID header (X-TKE-ProjectName)');
  await businessProject(deps, r.ctx, project);
  return { project, tenant: tenantOf(policy) };
}

/** policies/projectbinding and projectunbinding: TKE's Binding body; returns the ProjectPolicyBinding. */
export function policyProjectBinding(deps: AuthDeps, add: boolean): CustomSubresource {
  return {
    verbs: ['create'],
    kind: 'ProjectPolicyBinding',
    handle: async r => {
      const { users, groups } = bindingBody(r.body);
      const { project, tenant } = await policyProject(deps, r);
      const [out] = await bindInProject(deps, r, project, tenant, [r.parentName], users, groups, add, true);
      return out;
    },
  };
}

/** policies/projectusers and projectgroups: the subjects of the policy's binding in the header's project. */
export function policyProjectMembers(deps: AuthDeps, which: 'users' | 'groups'): CustomSubresource {
  const kind = which === 'users' ? 'User' : 'Group';
  return {
    verbs: ['get'],
    kind: `${kind}List`,
    handle: async r => {
      const { project, tenant } = await policyProject(deps, r);
      const b = asStored('projectpolicybindings', await deps.store('projectpolicybindings').get({ ...r.ctx, subresource: '' }, `${project}-${r.parentName}`));
      return subjectObjects(await deps.state.snapshot(), tenant, which, b.spec?.[which] ?? []);
    },
  };
}
