// The authorizer of every request of every group: system:masters may do anything; everyone
// else acts inside one tenant (objects of other tenants do not exist for them: 404, left out of
// lists and watches), where the tenant's administrators may do anything and other users what
// their TKE policies allow. Writes and refusals go to the audit trail.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { UserInfo } from '../../rest/resource.ts';
import type { AuthorizationAttributes, AuthorizationDecision, Authorizer } from '../../server/authz.ts';
import type { AuditLog } from './audit.ts';
import { evaluate, tkeAttributes, type Grant, type RequestAttributes, type TKEAttributes } from './policyengine.ts';
import { authGroupName, type AuthState, type Snapshot } from './state.ts';
import { grantsFor, isMaster, isTenantAdmin, sharedResources, tenantOfObject, tenantOfUser } from './subjects.ts';
import { LRUCache } from 'lru-cache';

const readVerbs = new Set(['get', 'list', 'watch']);
/** Non-resource paths every authenticated caller may read (kube-apiserver's system:discovery). */
const discoveryPrefixes = ['/api', '/apis', '/openapi', '/version', '/healthz', '/livez', '/readyz'];
const selfReviews = new Set([
  'authentication.k8s.io/selfsubjectreviews',
  'authorization.k8s.io/selfsubjectaccessreviews',
  'authorization.k8s.io/selfsubjectrulesreviews',
]);

export interface Decision {
  allowed: boolean;
  reason: string;
  /** Refused by a deny statement (not merely for want of an allow). */
  explicitDeny?: boolean;
  tke?: TKEAttributes;
  /** undefined = sees every object (platform masters). */
  tenant?: string;
  objectFilter?: (obj: KubeObject) => boolean;
}

export interface DecideRequest extends RequestAttributes {
  isResourceRequest: boolean;
  path: string;
}

export class TKEAuthorizer implements Authorizer {
  private readonly grantCache = new LRUCache<string, { version: number; grants: Grant[] }>({ max: 10_000 });

  constructor(
    private readonly state: AuthState,
    private readonly audit: AuditLog,
  ) {}

  async authorize(attrs: AuthorizationAttributes): Promise<AuthorizationDecision> {
    // No header a client sets takes part: a request's TKE resource comes from its URL alone, so
    // which deny statements match cannot be steered. The cluster of a proxied request is the one
    // the proxy resolved and passes as an attribute (pkg/apis/platform/proxy.ts).
    const d = await this.decide(attrs.user, attrs);
    const write = attrs.isResourceRequest && !readVerbs.has(attrs.verb);
    const audited = !d.allowed || write;
    return {
      allowed: d.allowed,
      reason: d.allowed ? undefined : d.reason,
      objectFilter: d.objectFilter,
      onComplete: audited
        ? code =>
            this.audit.record({
              tenantID: d.tenant ?? tenantOfUser(attrs.user),
              username: attrs.user.username,
              groups: attrs.user.groups,
              verb: attrs.verb,
              apiGroup: attrs.apiGroup,
              resource: attrs.resource,
              subresource: attrs.subresource,
              namespace: attrs.namespace,
              name: attrs.name,
              action: d.tke?.action ?? '',
              tkeResource: d.tke?.resource ?? '',
              decision: d.allowed ? 'allow' : 'deny',
              reason: d.reason,
              code,
            })
        : undefined,
    };
  }

  /** The decision for one request; also answers SubjectAccessReviews. */
  async decide(user: UserInfo, r: DecideRequest): Promise<Decision> {
    if (isMaster(user)) return { allowed: true, reason: 'system:masters' };
    const tenant = tenantOfUser(user);
    if (!r.isResourceRequest) {
      const ok = (r.verb === 'get' || r.verb === 'head') && discoveryPrefixes.some(p => r.path === p || r.path.startsWith(p + '/'));
      return { allowed: ok, reason: ok ? 'discovery' : `no policy allows ${r.verb} on path "${r.path}"`, tenant };
    }
    if (user.groups.includes('system:unauthenticated')) {
      // Only the exchange of a password for a key is open to callers without credentials.
      const ok = r.apiGroup === authGroupName && r.resource === 'apikeys' && r.subresource === 'password' && r.verb === 'create';
      return { allowed: ok, reason: ok ? 'password login' : 'anonymous access is not allowed', tenant };
    }
    if (r.verb === 'create' && selfReviews.has(`${r.apiGroup}/${r.resource}`)) {
      // Asking about oneself is open to every authenticated user (kube-apiserver's system:basic-user).
      return { allowed: true, reason: 'self review', tenant };
    }
    if (r.apiGroup === authGroupName && sharedResources.has(r.resource) && !readVerbs.has(r.verb)) {
      return { allowed: false, tenant, reason: 'objects shared by all tenants are changed by platform administrators only' };
    }
    const decided = this.decideWith(await this.state.snapshot(), tenant, user, r);
    // A refusal may be a binding or policy written a moment ago through another worker or replica.
    return decided.allowed || decided.explicitDeny ? decided : this.decideWith(await this.state.upToDate(), tenant, user, r);
  }

  private decideWith(snap: Snapshot, tenant: string, user: UserInfo, r: DecideRequest): Decision {
    const tke = tkeAttributes(r);
    const admin = isTenantAdmin(snap, tenant, user.username);
    const objectFilter = tenantFilter(r.apiGroup, r.resource, tenant);
    if (admin) return { allowed: true, reason: 'tenant administrator', tke, tenant, objectFilter };
    const self = selfService(snap, tenant, user, r);
    if (self) return { allowed: true, reason: 'own credentials', tke, tenant, objectFilter: self };
    const ev = evaluate(this.grants(snap, tenant, user), tke);
    if (ev.allowed) return { allowed: true, reason: `allowed by policy ${ev.allowedBy}`, tke, tenant, objectFilter };
    return {
      allowed: false,
      tke,
      tenant,
      explicitDeny: !!ev.deniedBy,
      reason: ev.deniedBy
        ? `action ${tke.action} on ${tke.resource} is denied by policy ${ev.deniedBy}`
        : `permission for ${tke.action} on ${tke.resource} not verify`,
    };
  }

  private grants(snap: Snapshot, tenant: string, user: UserInfo): Grant[] {
    const key = `${tenant}\u0000${user.username}\u0000${user.uid ?? ''}\u0000${user.groups.join('\u0001')}`;
    const hit = this.grantCache.get(key);
    if (hit && hit.version === snap.version) return hit.grants;
    const grants = grantsFor(snap, tenant, user);
    this.grantCache.set(key, { version: snap.version, grants });
    return grants;
  }
}

/** What a tenant's caller can see: its tenant's objects; apisigningkeys belong to no tenant and are never visible. */
export function tenantFilter(apiGroup: string, resource: string, tenant: string): (obj: KubeObject) => boolean {
  if (apiGroup === authGroupName && resource === 'apisigningkeys') return () => false;
  if (apiGroup !== authGroupName) return obj => tenantOfObject(resource, obj) === tenant;
  return obj => {
    const t = tenantOfObject(resource, obj);
    return t === undefined || t === tenant;
  };
}

/**
 * What any user may do to its own credentials without a policy (TKE leaves /apikeys out of
 * authorization): manage its API keys and change its own password. Returns the object filter
 * (own objects only), or undefined when the request is not self-service.
 */
function selfService(snap: Snapshot, tenant: string, user: UserInfo, r: RequestAttributes): ((obj: KubeObject) => boolean) | undefined {
  if (r.apiGroup !== authGroupName) return undefined;
  const own = (obj: KubeObject) => obj.spec?.tenantID === tenant && obj.spec?.username === user.username;
  // Its owner reads, describes and deletes a key; the status (disabled) is for those a policy lets
  // manage keys, so that a key an administrator disabled stays disabled.
  if (r.resource === 'apikeys' && r.subresource !== 'status') return own;
  if (r.resource === 'localidentities' && r.subresource === 'password' && r.verb === 'create') {
    const li = snap.objects.localidentities.get(r.name);
    return li && own(li) ? own : undefined;
  }
  return undefined;
}
