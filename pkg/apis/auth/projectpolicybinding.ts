// projectpolicybindings.auth.tkestack.io: a project policy granted to users and groups inside one
// project, always named <project>-<policy>.
import * as v1 from '../../../api/auth/v1/types.ts';
import { field } from '../../rest/errors.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { projectPolicyBindingColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';
import { checkPolicies } from './bindings.ts';

export function projectPolicyBindings(deps: AuthDeps): ResourceDefinition<typeof v1.ProjectPolicyBinding> {
  return authKind(deps, {
    kind: 'ProjectPolicyBinding',
    resource: 'projectpolicybindings',
    schema: v1.ProjectPolicyBinding,
    inSnapshot: true,
    tenanted: true,
    finalize: true,
    status: true,
    statusField: 'Status',
    strategy: {
      prepareForCreate(obj) {
        // Always <project>-<policy>, whatever the client asked (as TKE's strategy does): the policy
        // is checked to be the tenant's, so the name is within the tenant's names (see tenantPartition).
        if (obj.spec?.projectID && obj.spec.policyID) obj.metadata.name = `${obj.spec.projectID}-${obj.spec.policyID}`;
        obj.Status = { phase: 'Active' };
      },
      async beforeWrite(obj, _old, ctx) {
        await checkPolicies(ctx.tx, tenantOf(obj), [obj.spec?.policyID ?? ''], 'project');
      },
      validateUpdate(obj, old) {
        return obj.spec?.projectID !== old.spec?.projectID || obj.spec?.policyID !== old.spec?.policyID
          ? [field.forbidden('spec', 'projectID and policyID may not be changed')]
          : [];
      },
      fieldSelectors: fieldsAt('spec.projectID', 'spec.policyID'),
      ...projectPolicyBindingColumns,
    },
  });
}
