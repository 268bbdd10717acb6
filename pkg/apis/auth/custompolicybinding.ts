// custompolicybindings.auth.tkestack.io: a policy granted on resources of the binding's choosing.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { customPolicyBindingColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';
import { checkPolicies } from './bindings.ts';

export function customPolicyBindings(deps: AuthDeps): ResourceDefinition<typeof v1.CustomPolicyBinding> {
  return authKind(deps, {
    kind: 'CustomPolicyBinding',
    resource: 'custompolicybindings',
    schema: v1.CustomPolicyBinding,
    inSnapshot: true,
    tenanted: true,
    namePrefix: 'cpb-',
    finalize: true,
    status: true,
    statusField: 'Status',
    strategy: {
      ...customPolicyBindingColumns,
      async beforeWrite(obj, _old, ctx) {
        await checkPolicies(ctx.tx, tenantOf(obj), [obj.spec?.policyID ?? '']);
      },
    },
  });
}
