// tokenreviews.authentication.k8s.io: the webhook a member cluster's kube-apiserver calls
// (--authentication-token-webhook-config-file) so that it trusts this server's API keys and OIDC
// tokens. The answer echoes the request's apiVersion (v1 or v1beta1, whichever the cluster's
// --authentication-token-webhook-version sends), as kube-apiserver expects.
import { TokenReview } from '../../../api/authentication/v1/tokenreview.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { ResourceDefinition, UserInfo } from '../../rest/resource.ts';
import type { TokenAuthenticator } from '../../server/authn.ts';
import { withinCallerTenant } from './subjects.ts';

/** The apiVersion of a review's answer: the request's own. */
export function echoVersion(body: KubeObject, group: string): string {
  const v = typeof body.apiVersion === 'string' ? body.apiVersion : '';
  return v === `${group}/v1beta1` ? v : `${group}/v1`;
}

interface TokenReviewBody {
  spec?: { token?: string; audiences?: string[] };
}

export const tokenReviews = (authenticators: TokenAuthenticator[]): ResourceDefinition<typeof TokenReview> => ({
  group: 'authentication.k8s.io',
  version: 'v1',
  kind: 'TokenReview',
  listKind: 'TokenReviewList',
  resource: 'tokenreviews',
  singular: 'tokenreview',
  namespaced: false,
  shortNames: [],
  categories: [],
  schema: TokenReview,
  subresources: {},
  verbs: ['create'],
  strategy: {},
  handlers: {
    async create(ctx, body) {
      const spec = (body as TokenReviewBody).spec ?? {};
      if (typeof spec.token !== 'string') throw errors.badRequest('spec.token is required');
      let user: UserInfo | undefined;
      for (const t of authenticators) {
        user = await t.authenticateToken(spec.token);
        if (user) break;
      }
      // A tenant's caller learns about its own tenant's credentials only.
      if (user && !withinCallerTenant(ctx.user, user)) user = undefined;
      const status = user
        ? {
            authenticated: true,
            user: { username: user.username, uid: user.uid ?? '', groups: user.groups, extra: user.extra ?? {} },
            ...(spec.audiences ? { audiences: spec.audiences } : {}),
          }
        : { authenticated: false, error: 'invalid or revoked token' };
      // The token is a credential: it is not echoed back.
      return {
        apiVersion: echoVersion(body, 'authentication.k8s.io'),
        kind: 'TokenReview',
        metadata: { creationTimestamp: null } as unknown as KubeObject['metadata'],
        spec: { audiences: spec.audiences },
        status,
      };
    },
  },
});
