// Authorization extension point. The server asks one Authorizer per request; a
// decision may also narrow what the caller can see (tenant isolation) without refusing.
import type { KubeObject } from '../../api/meta/v1/types.ts';
import type { UserInfo } from '../rest/resource.ts';

export interface AuthorizationAttributes {
  user: UserInfo;
  verb: string;
  isResourceRequest: boolean;
  path: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** Request headers (e.g. TKE's X-TKE-ClusterName); absent when the attributes come from elsewhere. */
  headers?: Record<string, string | string[] | undefined>;
  /**
   * The member cluster a proxied request is about, set by the code that proxies it once it has
   * resolved the cluster; never taken from a header by the server.
   */
  cluster?: string;
}

/** A request about one object, as rules that ask the authorizer on a caller's behalf describe it. */
export interface ObjectRequest {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name: string;
}

/** Asks `authorizer` whether `user` may make `r`. */
export async function allowed(authorizer: Authorizer, user: UserInfo, r: ObjectRequest): Promise<boolean> {
  const d = await authorizer.authorize({
    user,
    verb: r.verb,
    isResourceRequest: true,
    path: '',
    apiGroup: r.apiGroup,
    apiVersion: 'v1',
    resource: r.resource,
    subresource: r.subresource ?? '',
    namespace: r.namespace ?? '',
    name: r.name,
  });
  return d.allowed;
}

export interface AuthorizationDecision {
  allowed: boolean;
  /** Why not, in words a user can act on. */
  reason?: string;
  /** Objects outside this filter do not exist for the caller (404, left out of lists and watches). */
  objectFilter?: (obj: KubeObject) => boolean;
  /** Called with the HTTP status once the response is sent, allowed or not (an audit trail). */
  onComplete?: (statusCode: number) => void;
}

export interface Authorizer {
  authorize(attrs: AuthorizationAttributes): Promise<AuthorizationDecision>;
}

/** Until policies are configured: any authenticated user may do anything. */
export const allowAuthenticated: Authorizer = {
  async authorize() {
    return { allowed: true };
  },
};
