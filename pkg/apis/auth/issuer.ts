// The OIDC issuer member clusters trust, as TKE runs dex: at <server>/oidc it publishes discovery
// and its JWK Set, and its token endpoint turns a tenant user's password (grant_type=password)
// or API key (RFC 8693 token exchange) into an ID token signed with the server's signing key. A
// kube-apiserver started with --oidc-issuer-url=<server>/oidc (--oidc-username-claim=name,
// --oidc-groups-claim=groups) then accepts TKE users' ID tokens without calling back.
//
// A client must be registered (clients.auth.tkestack.io, by spec.id or name): its id is the
// token's audience, the --oidc-client-id of the cluster; a client with a secret must present it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { SignJWT } from 'jose';
import type { UserInfo } from '../../rest/resource.ts';
import type { Route, RouteRequest } from '../../server/apiserver.ts';
import type { APIKeys } from './apikeytokens.ts';
import { checkPassword } from './idp.ts';
import { decodePassword, maxLoginNameLength, type PasswordThrottle } from './password.ts';
import { signingAlgorithm, type SigningKeys } from './signingkey.ts';
import type { AuthState } from './state.ts';
import type { StoredClient } from './stored.ts';
import { tenantIDKey } from './subjects.ts';

export const issuerPath = '/oidc';
const idTokenLifetimeSeconds = 3600;
const maxFormBytes = 64 * 1024;
const tokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';

export interface IssuerDeps {
  state: AuthState;
  keys: SigningKeys;
  apiKeys: APIKeys;
  throttle: PasswordThrottle;
  /** The server's URL; the issuer is this plus /oidc. */
  externalURL(): string;
}

/** An OAuth 2.0 error answer (RFC 6749 5.2). */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly retryAfter?: number,
  ) {
    super(description);
  }
}

function sendJSON(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new OAuthError(400, 'invalid_request', 'the token request must be application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxFormBytes) throw new OAuthError(400, 'invalid_request', 'the token request is too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** client_id and client_secret from HTTP Basic (preferred by RFC 6749) or the form. */
function clientCredentials(req: IncomingMessage, form: URLSearchParams): { id: string; secret?: string } {
  const auth = req.headers.authorization ?? '';
  if (/^basic /i.test(auth)) {
    const text = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) return { id: decodeURIComponent(text.slice(0, colon)), secret: decodeURIComponent(text.slice(colon + 1)) };
  }
  return { id: form.get('client_id') ?? '', secret: form.get('client_secret') ?? undefined };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function issuerRoutes(deps: IssuerDeps): Route[] {
  const issuer = () => `${deps.externalURL()}${issuerPath}`;

  const discovery = () => ({
    issuer: issuer(),
    jwks_uri: `${issuer()}/keys`,
    token_endpoint: `${issuer()}/token`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [signingAlgorithm],
    grant_types_supported: ['password', tokenExchange],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    scopes_supported: ['openid', 'profile', 'email', 'groups'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'name', 'email', 'groups', 'tenant_id'],
  });

  async function registeredClient(req: IncomingMessage, form: URLSearchParams): Promise<StoredClient> {
    const { id, secret } = clientCredentials(req, form);
    if (!id) throw new OAuthError(401, 'invalid_client', 'client_id is required');
    const snap = await deps.state.snapshot();
    const client = snap.objects.clients.get(id) ?? [...snap.objects.clients.values()].find(c => c.spec?.id === id);
    const want = client?.spec?.secret ?? '';
    if (!client || (want !== '' && !sameSecret(want, secret ?? ''))) throw new OAuthError(401, 'invalid_client', 'unknown client or wrong client secret');
    return client;
  }

  async function userOf(req: IncomingMessage, form: URLSearchParams): Promise<UserInfo> {
    const grant = form.get('grant_type');
    if (grant === 'password') {
      const username = form.get('username') ?? '';
      const tenant = form.get('tenant_id') || 'default';
      if (!username || username.length > maxLoginNameLength || tenant.length > maxLoginNameLength)
        throw new OAuthError(400, 'invalid_grant', 'invalid username or password');
      const check = await checkPassword(deps.state, deps.throttle, {
        tenant,
        username,
        password: decodePassword(form.get('password') ?? ''),
        source: req.socket.remoteAddress ?? '',
      });
      if (check.retryAfter) throw new OAuthError(429, 'slow_down', 'too many wrong passwords; try again later', check.retryAfter);
      if (!check.user) throw new OAuthError(400, 'invalid_grant', 'invalid username or password');
      return { username: check.user.username, uid: check.user.uid, groups: check.user.groups, extra: { [tenantIDKey]: [tenant] } };
    }
    if (grant === tokenExchange) {
      if ((form.get('subject_token_type') ?? accessTokenType) !== accessTokenType)
        throw new OAuthError(400, 'invalid_request', `subject_token_type must be ${accessTokenType}`);
      const user = await deps.apiKeys.verify(form.get('subject_token') ?? '');
      if (!user) throw new OAuthError(400, 'invalid_grant', 'the subject token is not a valid API key');
      return user;
    }
    throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be password or token exchange');
  }

  async function token(r: RouteRequest): Promise<void> {
    if (r.req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'the token endpoint takes POST');
    const form = await readForm(r.req);
    const client = await registeredClient(r.req, form);
    const user = await userOf(r.req, form);
    const tenant = user.extra?.[tenantIDKey]?.[0];
    if (!tenant) throw new OAuthError(400, 'invalid_grant', 'ID tokens are issued to the users of a tenant');
    const { kid, privateKey } = await deps.keys.current();
    const now = Math.floor(Date.now() / 1000);
    const idToken = await new SignJWT({ name: user.username, groups: user.groups, tenant_id: tenant })
      .setProtectedHeader({ alg: signingAlgorithm, kid, typ: 'JWT' })
      .setIssuer(issuer())
      .setAudience(client.spec?.id || client.metadata.name!)
      .setSubject(`${tenant}:${user.uid ?? user.username}`)
      .setIssuedAt(now)
      .setExpirationTime(now + idTokenLifetimeSeconds)
      .sign(privateKey);
    sendJSON(r.res, 200, {
      access_token: idToken,
      id_token: idToken,
      token_type: 'Bearer',
      expires_in: idTokenLifetimeSeconds,
      ...(form.get('grant_type') === tokenExchange ? { issued_token_type: 'urn:ietf:params:oauth:token-type:id_token' } : {}),
    });
  }

  return [
    {
      prefix: issuerPath,
      async handle(r) {
        const sub = r.url.pathname.slice(issuerPath.length).replace(/\/+$/, '');
        try {
          if (sub === '/.well-known/openid-configuration' && r.req.method === 'GET')
            return sendJSON(r.res, 200, discovery(), { 'Cache-Control': 'public, max-age=300' });
          if (sub === '/keys' && r.req.method === 'GET') {
            await deps.keys.current();
            return sendJSON(r.res, 200, await deps.keys.jwks(await deps.state.snapshot()), { 'Cache-Control': 'public, max-age=60' });
          }
          if (sub === '/token') return await token(r);
          sendJSON(r.res, 404, { error: 'not_found' });
        } catch (err) {
          if (err instanceof OAuthError) {
            return sendJSON(
              r.res,
              err.status,
              { error: err.error, error_description: err.description },
              err.retryAfter ? { 'Retry-After': String(err.retryAfter) } : err.status === 401 ? { 'WWW-Authenticate': 'Basic realm="tke-apiserver"' } : {},
            );
          }
          // Anything else (an unreachable directory: a Status 503) is answered as the server answers it.
          throw err;
        }
      },
    },
  ];
}
