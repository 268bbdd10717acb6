// apisigningkeys.auth.tkestack.io: the server's signing key, read-only and never served.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { type AuthDeps, authKind } from './kind.ts';

export function apiSigningKeys(deps: AuthDeps): ResourceDefinition<typeof v1.APISigningKey> {
  return authKind(deps, {
    kind: 'APISigningKey',
    resource: 'apisigningkeys',
    schema: v1.APISigningKey,
    inSnapshot: true,
    secretFields: ['signingKey'],
    verbs: ['get', 'list', 'watch', 'delete'],
    strategy: {
      decorate(obj) {
        delete obj.signingKey;
      },
    },
  });
}
