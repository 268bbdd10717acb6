// clients.auth.tkestack.io: OAuth clients of the OIDC issuer (their id is an ID token's audience).
import * as v1 from '../../../api/auth/v1/types.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { clientColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';

export function clients(deps: AuthDeps): ResourceDefinition<typeof v1.Client> {
  return authKind(deps, {
    kind: 'Client',
    resource: 'clients',
    schema: v1.Client,
    secretFields: ['spec.secret'],
    inSnapshot: true,
    strategy: {
      ...clientColumns,
      decorate(obj) {
        if (obj.spec?.secret) obj.spec.secret = '******';
      },
    },
  });
}
