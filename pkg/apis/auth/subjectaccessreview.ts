// subjectaccessreviews.authorization.k8s.io: the webhook a member cluster's kube-apiserver calls
// (--authorization-webhook-config-file) so that TKE policies decide for TKE users there.
import { SubjectAccessReview } from '../../../api/authorization/v1/subjectaccessreview.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { ResourceDefinition, UserInfo } from '../../rest/resource.ts';
import type { TKEAuthorizer } from './authorizer.ts';
import { withinCallerTenant } from './subjects.ts';
import { echoVersion } from './tokenreview.ts';

interface SARBody {
  spec?: {
    resourceAttributes?: { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string };
    nonResourceAttributes?: { path?: string; verb?: string };
    user?: string;
    groups?: string[];
    extra?: Record<string, string[]>;
    uid?: string;
  };
}

export const subjectAccessReviews = (authorizer: TKEAuthorizer): ResourceDefinition<typeof SubjectAccessReview> => ({
  group: 'authorization.k8s.io',
  version: 'v1',
  kind: 'SubjectAccessReview',
  listKind: 'SubjectAccessReviewList',
  resource: 'subjectaccessreviews',
  singular: 'subjectaccessreview',
  namespaced: false,
  shortNames: [],
  categories: [],
  schema: SubjectAccessReview,
  subresources: {},
  verbs: ['create'],
  strategy: {},
  handlers: {
    async create(ctx, body) {
      const spec = (body as SARBody).spec ?? {};
      if (!spec.user && !spec.groups?.length) throw errors.badRequest('spec.user or spec.groups is required');
      // kube-apiserver adds system:authenticated itself; masters are never taken from a review.
      const user: UserInfo = { username: spec.user ?? '', uid: spec.uid, groups: (spec.groups ?? []).filter(g => g !== 'system:masters'), extra: spec.extra };
      const ra = spec.resourceAttributes;
      const nra = spec.nonResourceAttributes;
      const answer = (status: Record<string, unknown>): KubeObject => ({
        apiVersion: echoVersion(body, 'authorization.k8s.io'),
        kind: 'SubjectAccessReview',
        metadata: { creationTimestamp: null } as unknown as KubeObject['metadata'],
        spec: spec as Record<string, unknown>,
        status,
      });
      // A tenant's caller asks about its own tenant's users only, or it would learn another
      // tenant's policies one question at a time.
      if (!withinCallerTenant(ctx.user, user)) return answer({ allowed: false, reason: "the user under review is not of the caller's tenant" });
      const d = ra
        ? await authorizer.decide(user, {
            isResourceRequest: true,
            path: '',
            verb: ra.verb ?? '',
            apiGroup: ra.group ?? '',
            resource: ra.resource ?? '',
            subresource: ra.subresource ?? '',
            namespace: ra.namespace ?? '',
            name: ra.name ?? '',
          })
        : await authorizer.decide(user, {
            isResourceRequest: false,
            path: nra?.path ?? '',
            verb: nra?.verb ?? '',
            apiGroup: '',
            resource: '',
            subresource: '',
            namespace: '',
            name: '',
          });
      return answer({ allowed: d.allowed, ...(d.explicitDeny ? { denied: true } : {}), reason: d.reason });
    },
  },
});
