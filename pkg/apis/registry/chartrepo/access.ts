// Who calls the chart repository and what it may do there. Credentials are those the server
// accepts (bearer API keys and OIDC tokens, client certificates) and HTTP Basic as helm sends
// it (`--username/--password`): the password is first tried as a bearer credential (an API key,
// as TKE's chartmuseum takes it), then as the user's password in the chart group's tenant,
// through the server's password check, so the login throttle counts it and nothing is issued.
import { Visibility } from '../../../../api/registry/v1/types.ts';
import { StatusError } from '../../../rest/errors.ts';
import type { UserInfo } from '../../../rest/resource.ts';
import type { RouteRequest } from '../../../server/apiserver.ts';
import type { PasswordAuthenticator } from '../../../server/authn.ts';
import type { Authorizer } from '../../../server/authz.ts';
import { tenantOf } from '../../tke/tenant.ts';
import { registryGroup } from '../rules.ts';
import type { StoredChartGroup } from '../stored.ts';

export class ChartRepoError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const unauthenticated = () => new ChartRepoError(401, 'unauthorized', { 'WWW-Authenticate': 'Basic realm="tke-apiserver chart repository"' });

interface BasicCredentials {
  username: string;
  password: string;
}

function basicCredentials(header: string | undefined): BasicCredentials | undefined {
  const m = /^basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export class ChartRepoAuthenticator {
  constructor(private readonly passwords: PasswordAuthenticator) {}

  /** The caller, or undefined for a request without credentials. Wrong credentials are 401. */
  async authenticate(r: RouteRequest, tenant: string): Promise<UserInfo | undefined> {
    const basic = basicCredentials(r.req.headers.authorization);
    if (!basic) {
      try {
        return await r.authenticate();
      } catch (err) {
        if (err instanceof StatusError && err.code === 401) throw unauthenticated();
        throw err;
      }
    }
    const asToken = await this.asBearer(r, basic.password);
    if (asToken) return asToken;
    return this.passwordLogin(r, tenant, basic);
  }

  /** Runs the server's own authenticators with `token` as the request's bearer credential. */
  private async asBearer(r: RouteRequest, token: string): Promise<UserInfo | undefined> {
    if (!token || /\s/.test(token)) return undefined;
    r.req.headers.authorization = `Bearer ${token}`;
    try {
      return await r.authenticate();
    } catch (err) {
      if (err instanceof StatusError && err.code === 401) return undefined;
      throw err;
    } finally {
      delete r.req.headers.authorization;
    }
  }

  private async passwordLogin(r: RouteRequest, tenant: string, basic: BasicCredentials): Promise<UserInfo> {
    if (!basic.username || !basic.password) throw unauthenticated();
    const login = await this.passwords.authenticatePassword({
      tenant,
      username: basic.username,
      password: basic.password,
      source: r.req.socket.remoteAddress ?? '',
    });
    if (login.retryAfterSeconds) throw new ChartRepoError(429, 'too many wrong passwords; try again later', { 'Retry-After': String(login.retryAfterSeconds) });
    if (!login.user) throw unauthenticated();
    return login.user;
  }
}

const tenantOfCaller = (user: UserInfo) => user.extra?.tenantid?.[0] ?? 'default';
const isMaster = (user: UserInfo) => user.groups.includes('system:masters');

/** The users a chart group lists (TKE's spec.users) are its members, in its own tenant. */
function isMember(user: UserInfo, group: StoredChartGroup): boolean {
  const users = group.spec?.users ?? [];
  return tenantOfCaller(user) === tenantOf(group) && users.includes(user.username);
}

export type ChartAction = 'read' | 'create' | 'delete';

/**
 * Whether the caller may act on the chart group (or one chart of it): TKE's AuthorizeForChart
 * and AuthorizeForChartGroup. Reading a Public group needs nobody; anything else needs a member
 * of the group or rights the server's authorizer grants on the chart group (reads) or on its
 * charts (writes), inside the group's tenant.
 */
export async function mayAct(
  authorizer: Authorizer,
  user: UserInfo | undefined,
  group: StoredChartGroup,
  action: ChartAction,
  chartObjectName = '',
): Promise<boolean> {
  if (action === 'read' && group.spec?.visibility === Visibility.Public) return true;
  if (!user) return false;
  if (isMaster(user) || isMember(user, group)) return true;
  const onGroup = action === 'read';
  const decision = await authorizer.authorize({
    user,
    verb: action === 'read' ? 'get' : action,
    isResourceRequest: true,
    path: '',
    apiGroup: registryGroup,
    apiVersion: 'v1',
    resource: onGroup ? 'chartgroups' : 'charts',
    subresource: '',
    namespace: onGroup ? '' : group.metadata.name!,
    name: onGroup ? group.metadata.name! : chartObjectName,
  });
  // The decision's object filter is its tenant isolation: another tenant's group is not ours to touch.
  return decision.allowed && (!decision.objectFilter || decision.objectFilter(group));
}

/** Whether the caller could see the group at all: a group of another tenant that is not Public does not exist for it. */
export function mayKnow(user: UserInfo | undefined, group: StoredChartGroup): boolean {
  if (group.spec?.visibility === Visibility.Public) return true;
  if (!user) return true;
  return isMaster(user) || tenantOfCaller(user) === tenantOf(group);
}
