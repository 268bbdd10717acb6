// The two webhooks a member (business) cluster's kube-apiserver calls so that it trusts this
// server's API keys and OIDC tokens (--authentication-token-webhook-config-file) and its TKE
// policies (--authorization-webhook-config-file). The answers echo the request's apiVersion
// (v1 or v1beta1, whichever the cluster's --*-webhook-version sends), as kube-apiserver expects.
import { TokenReview } from '../../api/authentication/v1/tokenreview.ts';
import { SubjectAccessReview } from '../../api/authorization/v1/subjectaccessreview.ts';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { errors } from '../rest/errors.ts';
import type { ResourceDefinition, UserInfo } from '../rest/resource.ts';
import type { TokenAuthenticator } from '../server/authn.ts';
import type { TKEAuthorizer } from './authorizer.ts';
import { isMaster, tenantOfUser } from './subjects.ts';

function echoVersion(body: KubeObject, group: string): string {
  const v = typeof body.apiVersion === 'string' ? body.apiVersion : '';
  return v === `${group}/v1beta1` ? v : `${group}/v1`;
}

interface TokenReviewBody { spec?: { token?: string; audiences?: string[] } }
interface SARBody {
  spec?: {
    resourceAttributes?: { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string };
    nonResourceAttributes?: { path?: string; verb?: string };
    user?: string; groups?: string[]; extra?: Record<string, string[]>; uid?: string;
  };
}

/** What the webhooks need, resolved when a request comes (the group is installed after its kinds are declared). */
export interface WebhookRuntime {
  tokenAuthenticators(): TokenAuthenticator[];
  authorizer(): TKEAuthorizer;
}

/** Platform masters (member clusters' webhook credentials) ask about anyone; a tenant's user about its tenant. */
function withinCallerTenant(caller: UserInfo, subject: UserInfo): boolean {
  return isMaster(caller) || tenantOfUser(caller) === tenantOfUser(subject);
}

export function webhookResources(rt: WebhookRuntime): ResourceDefinition[] {
  const tokenreviews: ResourceDefinition = {
    group: 'authentication.k8s.io', version: 'v1', kind: 'TokenReview', listKind: 'TokenReviewList', resource: 'tokenreviews',
    singular: 'tokenreview', namespaced: false, shortNames: [], categories: [], schema: TokenReview, subresources: {},
    verbs: ['create'], strategy: {},
    handlers: {
      async create(ctx, body) {
        const spec = (body as TokenReviewBody).spec ?? {};
        if (typeof spec.token !== 'string') throw errors.badRequest('spec.token is required');
        let user: UserInfo | undefined;
        for (const t of rt.tokenAuthenticators()) {
          user = await t.authenticateToken(spec.token);
          if (user) break;
        }
        // A tenant's caller learns about its own tenant's credentials only.
        if (user && !withinCallerTenant(ctx.user, user)) user = undefined;
        const status = user
          ? { authenticated: true, user: { username: user.username, uid: user.uid ?? '', groups: user.groups, extra: user.extra ?? {} }, ...(spec.audiences ? { audiences: spec.audiences } : {}) }
          : { authenticated: false, error: 'invalid or revoked token' };
        // The token is a credential: it is not echoed back.
        return { apiVersion: echoVersion(body, 'authentication.k8s.io'), kind: 'TokenReview', metadata: { creationTimestamp: null } as unknown as KubeObject['metadata'], spec: { audiences: spec.audiences }, status };
      },
    },
  };

  const subjectaccessreviews: ResourceDefinition = {
    group: 'authorization.k8s.io', version: 'v1', kind: 'SubjectAccessReview', listKind: 'SubjectAccessReviewList', resource: 'subjectaccessreviews',
    singular: 'subjectaccessreview', namespaced: false, shortNames: [], categories: [], schema: SubjectAccessReview, subresources: {},
    verbs: ['create'], strategy: {},
    handlers: {
      async create(ctx, body) {
        const spec = (body as SARBody).spec ?? {};
        if (!spec.user && !(spec.groups?.length)) throw errors.badRequest('spec.user or spec.groups is required');
        // kube-apiserver adds system:authenticated itself; masters are never taken from a review.
        const user: UserInfo = { username: spec.user ?? '', uid: spec.uid, groups: (spec.groups ?? []).filter(g => g !== 'system:masters'), extra: spec.extra };
        const ra = spec.resourceAttributes;
        const nra = spec.nonResourceAttributes;
        const answer = (status: Record<string, unknown>): KubeObject => ({
          apiVersion: echoVersion(body, 'authorization.k8s.io'), kind: 'SubjectAccessReview',
          metadata: { creationTimestamp: null } as unknown as KubeObject['metadata'],
          spec: spec as Record<string, unknown>, status,
        });
        // A tenant's caller asks about its own tenant's users only, or it would learn another
        // tenant's policies one question at a time.
        if (!withinCallerTenant(ctx.user, user)) return answer({ allowed: false, reason: 'the user under review is not of the caller\'s tenant' });
        const d = ra
          ? await rt.authorizer().decide(user, {
            isResourceRequest: true, path: '', verb: ra.verb ?? '', apiGroup: ra.group ?? '', resource: ra.resource ?? '',
            subresource: ra.subresource ?? '', namespace: ra.namespace ?? '', name: ra.name ?? '',
          })
          : await rt.authorizer().decide(user, { isResourceRequest: false, path: nra?.path ?? '', verb: nra?.verb ?? '', apiGroup: '', resource: '', subresource: '', namespace: '', name: '' });
        return answer({ allowed: d.allowed, ...(d.explicitDeny ? { denied: true } : {}), reason: d.reason });
      },
    },
  };
  return [tokenreviews, subjectaccessreviews];
}
