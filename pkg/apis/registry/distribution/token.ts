// The token service the engine sends clients to (TKE's /registry/auth, distribution's token
// authentication): `docker login` / `skopeo --creds` present a tenant user's password or, as the
// password, an API key (or any bearer token this server accepts); anonymous callers get what
// Public namespaces allow. The answer is a JWT signed with the key the engine trusts, naming the
// engine's names of the images (tenant first) and the actions granted.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT } from 'jose';
import type { Logger } from 'pino';
import type { UserInfo } from '../../../rest/resource.ts';
import type { ChainAuthenticator } from '../../../server/authn.ts';
import type { Authorizer } from '../../../server/authz.ts';
import { tenantIDKey, tenantOfUser } from '../../auth/subjects.ts';
import { grantedActions, type RegistryObjects } from './access.ts';
import { tokenAlgorithm, type TokenSigningKey } from './keys.ts';
import { tokenIssuer, tokenService } from './engine.ts';
import { engineName, parseClientName, sendRegistryError, tenantOfHost } from './names.ts';

export const tokenPath = '/registry/auth';
const tokenLifetimeSeconds = 900;
const maxScopes = 16;
const knownActions = new Set(['pull', 'push', 'delete', '*']);

export interface TokenServiceDeps {
  authenticator: ChainAuthenticator;
  authorizer(): Authorizer;
  stores: RegistryObjects;
  signingKey(): Promise<TokenSigningKey>;
  domainSuffix?: string;
  logger: Logger;
}

interface Scope {
  type: string;
  name: string;
  actions: string[];
}

/** `repository:<name>:<actions>`; the name may hold ':' (TKE joins the middle parts). */
function parseScope(raw: string): Scope | undefined {
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: raw.slice(0, first),
    name: raw.slice(first + 1, last),
    actions: raw
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

class Unauthorized extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

function basicCredentials(header: string): { username: string; password: string } | undefined {
  if (!/^basic /i.test(header)) return undefined;
  const text = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The caller: undefined for anonymous; throws Unauthorized for credentials that are presented and wrong. */
async function caller(deps: TokenServiceDeps, req: IncomingMessage, tenant: string): Promise<UserInfo | undefined> {
  const header = String(req.headers.authorization ?? '');
  if (!header) return undefined;
  if (/^bearer /i.test(header)) {
    const user = await deps.authenticator.authenticateToken(header.slice(7).trim());
    if (!user) throw new Unauthorized('invalid bearer token');
    return user;
  }
  const basic = basicCredentials(header);
  if (!basic || !basic.username || !basic.password) throw new Unauthorized('credentials must be a username and a password or API key');
  // An API key as the password: the key says who it is, whatever the username.
  const byToken = await deps.authenticator.authenticateToken(basic.password);
  if (byToken) return byToken;
  const login = await deps.authenticator.authenticatePassword({
    tenant,
    username: basic.username,
    password: basic.password,
    source: req.socket.remoteAddress ?? '',
  });
  if (login.retryAfterSeconds) throw new Unauthorized('too many wrong passwords; try again later', login.retryAfterSeconds);
  if (!login.user) throw new Unauthorized('invalid username or password');
  return login.user;
}

export function tokenHandler(deps: TokenServiceDeps) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    try {
      if (req.method !== 'GET') {
        sendRegistryError(res, 405, 'UNSUPPORTED', 'the token service takes GET', { Allow: 'GET' });
        return;
      }
      const tenant = tenantOfHost(req.headers.host, deps.domainSuffix);
      if (!tenant) {
        sendRegistryError(res, 404, 'NAME_INVALID', 'the host names no valid tenant');
        return;
      }
      const scopes = url.searchParams
        .getAll('scope')
        .flatMap(s => s.split(' '))
        .filter(Boolean);
      if (scopes.length > maxScopes) {
        sendRegistryError(res, 400, 'DENIED', `at most ${maxScopes} scopes a token`);
        return;
      }
      const user = await caller(deps, req, tenant);
      // A login (no scope) with another tenant's credentials is refused, as TKE does: the client
      // would store credentials that open nothing here.
      if (scopes.length === 0 && user && user.extra?.[tenantIDKey]?.length && tenantOfUser(user) !== tenant) {
        throw new Unauthorized(`the credentials are of another tenant than ${tenant}`);
      }
      const access: Scope[] = [];
      for (const raw of scopes) {
        const scope = parseScope(raw);
        // Only repositories are granted: the catalog lists every tenant's names.
        if (!scope || scope.type !== 'repository') continue;
        const image = parseClientName(tenant, scope.name);
        const requested = scope.actions.filter(a => knownActions.has(a));
        if (!image || requested.length === 0) continue;
        const actions = await grantedActions(deps.stores, deps.authorizer(), user, image, requested);
        access.push({ type: 'repository', name: engineName(image), actions });
      }
      const key = await deps.signingKey();
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: tokenAlgorithm, kid: key.keyID, typ: 'JWT' })
        .setIssuer(tokenIssuer)
        .setSubject(user?.username ?? '')
        .setAudience(tokenService)
        .setIssuedAt(now)
        .setNotBefore(now - 10)
        .setExpirationTime(now + tokenLifetimeSeconds)
        .setJti(randomUUID())
        .sign(key.privateKey);
      const body = JSON.stringify({ token, access_token: token, expires_in: tokenLifetimeSeconds, issued_at: new Date(now * 1000).toISOString() });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(body);
    } catch (err) {
      if (err instanceof Unauthorized) {
        const headers: Record<string, string> = { 'WWW-Authenticate': `Basic realm="${tokenService}"` };
        if (err.retryAfterSeconds) {
          sendRegistryError(res, 429, 'TOOMANYREQUESTS', err.message, { ...headers, 'Retry-After': String(err.retryAfterSeconds) });
        } else {
          sendRegistryError(res, 401, 'UNAUTHORIZED', err.message, headers);
        }
        return;
      }
      deps.logger.error({ err }, 'registry token request failed');
      sendRegistryError(res, 500, 'UNKNOWN', 'the token could not be issued');
    }
  };
}
