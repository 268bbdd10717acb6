// Tenants are identity providers. This module answers, for a tenant's provider: does this
// password belong to this user (local: scrypt hash; ldap: bind as the user), who are its
// users and groups (local objects, or read live from the directory), and — for oidc — which
// user an ID token names (discovery + JWKS, issuer, audience, expiry).
import { Client, Filter, InvalidCredentialsError, ResultCodeError } from 'ldapts';
import { createRemoteJWKSet, decodeJwt, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import { errors, StatusError } from '../../rest/errors.ts';
import type { UserInfo } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import type { TokenAuthenticator } from '../../server/authn.ts';
import { verifyPassword, type PasswordThrottle } from './password.ts';
import { isReservedName, tenantAssertedGroups, tenantIDKey } from './subjects.ts';
import { userKey, type AuthState, type Snapshot } from './state.ts';
import type { StoredIdentityProvider } from './stored.ts';
import { LRUCache } from 'lru-cache';

/** The JSON config of an ldap provider (dex's LDAP connector fields, manual 8.3.1). */
export interface LDAPConfig {
  host: string;
  insecureNoSSL?: boolean;
  insecureSkipVerify?: boolean;
  bindDN?: string;
  bindPW?: string;
  userSearch: { baseDN: string; filter?: string; username: string; idAttr?: string; emailAttr?: string; nameAttr?: string };
  groupSearch?: { baseDN: string; filter?: string; userAttr?: string; groupAttr?: string; nameAttr?: string };
}

/** The JSON config of an oidc provider. */
export interface OIDCConfig {
  issuer: string;
  clientID: string;
  /** Claim holding the user name (default "sub"). */
  usernameClaim?: string;
  /** Claim holding the group list (default "groups"). */
  groupsClaim?: string;
}

/** `createdAt`: of the local identity or group, or (a directory's entries) of the identity provider that reaches them. */
export interface DirectoryUser {
  id: string;
  name: string;
  displayName?: string;
  email?: string;
  groups: string[];
  createdAt?: string;
}
export interface DirectoryGroup {
  id: string;
  name: string;
  members: Array<{ id: string; name: string }>;
  createdAt?: string;
}

export function parseConfig<T>(idp: StoredIdentityProvider): T {
  const raw = (idp.spec?.config ?? '').trim();
  try {
    return JSON.parse(raw) as T;
  } catch (err) {
    throw errors.badRequest(`identity provider ${idp.metadata.name}: config is not valid JSON: ${(err as Error).message}`);
  }
}

export function validateLDAPConfig(c: Partial<LDAPConfig>): string | undefined {
  if (!c.host) return 'host is required';
  if (!c.userSearch?.baseDN || !c.userSearch.username) return 'userSearch.baseDN and userSearch.username are required';
  return undefined;
}

export function validateOIDCConfig(c: Partial<OIDCConfig>): string | undefined {
  if (!c.issuer || !/^https?:\/\//.test(c.issuer)) return 'issuer must be an http(s) URL';
  if (!c.clientID) return 'clientID is required';
  return undefined;
}

// ---- LDAP ------------------------------------------------------------------------------------

function ldapURL(c: LDAPConfig): string {
  const tls = !c.insecureNoSSL;
  const host = c.host.includes(':') ? c.host : `${c.host}:${tls ? 636 : 389}`;
  return `${tls ? 'ldaps' : 'ldap'}://${host}`;
}

function first(v: Buffer | Buffer[] | string[] | string | undefined): string {
  if (v === undefined) return '';
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? '' : x.toString();
}

function all(v: Buffer | Buffer[] | string[] | string | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(x => x.toString());
}

/** An attribute of an entry; "DN" means the entry's own DN (dex's convention). */
function attr(entry: { dn: string; [k: string]: Buffer | Buffer[] | string[] | string }, name: string | undefined): string {
  if (!name || name.toUpperCase() === 'DN') return entry.dn;
  return first(entry[name]);
}

export class LDAPDirectory {
  constructor(private readonly c: LDAPConfig) {}

  private newClient(): Client {
    const url = ldapURL(this.c);
    // ldapts turns TLS on whenever tlsOptions are given: pass them for ldaps:// only.
    const tlsOptions = url.startsWith('ldaps:') ? { rejectUnauthorized: !this.c.insecureSkipVerify } : undefined;
    return new Client({ url, timeout: 10_000, connectTimeout: 5_000, tlsOptions });
  }

  private async withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const client = this.newClient();
    try {
      if (this.c.bindDN) await client.bind(this.c.bindDN, this.c.bindPW ?? '');
      return await fn(client);
    } catch (err) {
      // The directory answered with an LDAP result (bad bind DN, no such object): a configuration
      // problem worth its message. Anything else (refused, timed out, TLS) means it is out of
      // reach: the caller may retry, and learns nothing of where the directory lives.
      if (err instanceof ResultCodeError || err instanceof StatusError) throw err;
      throw errors.unavailable("the identity provider's LDAP directory cannot be reached; try again later");
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  private userFilter(username?: string): string {
    const base = this.c.userSearch.filter || '(objectClass=*)';
    return username === undefined ? base : `(&${base}(${this.c.userSearch.username}=${Filter.escape(username)}))`;
  }

  private toUser(e: { dn: string; [k: string]: Buffer | Buffer[] | string[] | string }, groups: string[]): DirectoryUser {
    const s = this.c.userSearch;
    return {
      id: attr(e, s.idAttr),
      name: attr(e, s.username),
      displayName: s.nameAttr ? attr(e, s.nameAttr) : undefined,
      email: s.emailAttr ? attr(e, s.emailAttr) : undefined,
      groups: tenantAssertedGroups(groups),
    };
  }

  private async groupsOf(client: Client, entry: { dn: string; [k: string]: Buffer | Buffer[] | string[] | string }): Promise<string[]> {
    const g = this.c.groupSearch;
    if (!g?.baseDN) return [];
    const value = attr(entry, g.userAttr);
    const filter = `(&${g.filter || '(objectClass=*)'}(${g.groupAttr || 'member'}=${Filter.escape(value)}))`;
    const { searchEntries } = await client.search(g.baseDN, { scope: 'sub', filter });
    return searchEntries.map(e => attr(e, g.nameAttr || 'cn'));
  }

  /** The user if `password` is right; undefined when the user is unknown or the password wrong. */
  async login(username: string, password: string): Promise<DirectoryUser | undefined> {
    if (!password) return undefined; // an empty password would be an anonymous bind: never a login
    return this.withClient(async client => {
      const { searchEntries } = await client.search(this.c.userSearch.baseDN, { scope: 'sub', filter: this.userFilter(username) });
      if (searchEntries.length !== 1) return undefined;
      const entry = searchEntries[0];
      const userClient = this.newClient();
      try {
        await userClient.bind(entry.dn, password);
      } catch (err) {
        if (err instanceof InvalidCredentialsError) return undefined;
        throw err;
      } finally {
        await userClient.unbind().catch(() => undefined);
      }
      return this.toUser(entry, await this.groupsOf(client, entry));
    });
  }

  /** One user and its groups, read from the directory; undefined when the user is gone. */
  async user(username: string): Promise<DirectoryUser | undefined> {
    return this.withClient(async client => {
      const { searchEntries } = await client.search(this.c.userSearch.baseDN, { scope: 'sub', filter: this.userFilter(username) });
      return searchEntries.length === 1 ? this.toUser(searchEntries[0], await this.groupsOf(client, searchEntries[0])) : undefined;
    });
  }

  async users(): Promise<DirectoryUser[]> {
    return this.withClient(async client => {
      const { searchEntries } = await client.search(this.c.userSearch.baseDN, { scope: 'sub', filter: this.userFilter() });
      return Promise.all(searchEntries.map(async e => this.toUser(e, await this.groupsOf(client, e))));
    });
  }

  async groups(): Promise<DirectoryGroup[]> {
    const g = this.c.groupSearch;
    if (!g?.baseDN) return [];
    return this.withClient(async client => {
      const { searchEntries } = await client.search(g.baseDN, { scope: 'sub', filter: g.filter || '(objectClass=*)' });
      return searchEntries.map(e => {
        const name = attr(e, g.nameAttr || 'cn');
        const members = all(e[g.groupAttr || 'member']).map(m => ({ id: m, name: /^[^=]+=([^,]+)/.exec(m)?.[1] ?? m }));
        return { id: name, name, members };
      });
    });
  }
}

/**
 * Directory users as API-key requests need them (exists? which groups?), cached briefly so a
 * request does not cost an LDAP round trip, yet removals and group changes apply within `ttlMs`.
 */
export class DirectoryUserCache {
  // Keyed by the provider's resourceVersion too: a changed directory configuration asks again.
  // A failed lookup is not remembered (lru-cache's fetch), so the next request tries the directory.
  private readonly entries: LRUCache<string, { user?: DirectoryUser }, StoredIdentityProvider>;

  constructor(ttlMs = 30_000, maxEntries = 10_000) {
    this.entries = new LRUCache({
      max: maxEntries,
      ttl: ttlMs,
      fetchMethod: async (key, _stale, { context: idp }) => ({ user: await new LDAPDirectory(parseConfig<LDAPConfig>(idp)).user(key.split('\u0000')[2]!) }),
    });
  }

  async lookup(idp: StoredIdentityProvider, username: string): Promise<DirectoryUser | undefined> {
    const key = `${idp.metadata.name}\u0000${idp.metadata.resourceVersion}\u0000${username}`;
    return (await this.entries.fetch(key, { context: idp }))?.user;
  }
}

// ---- password check for any provider ------------------------------------------------------------

export interface PasswordCheck {
  user?: { username: string; uid: string; groups: string[] };
  /** Set when the account is throttled: seconds to wait. */
  retryAfter?: number;
}

export interface Login {
  tenant: string;
  username: string;
  password: string;
  /** The network address the attempt comes from: wrong guesses lock out that source only. */
  source: string;
  /** A dry run counts wrong guesses like any attempt (else it would be a free password oracle) and forgives nothing. */
  dryRun?: boolean;
}

/** Checks a password against the tenant's provider, throttling repeated failures per (tenant, user, source). */
export async function checkPassword(state: AuthState, throttle: PasswordThrottle, l: Login): Promise<PasswordCheck> {
  // A tenant or user unknown here may have been made a moment ago through another worker or replica.
  let snap = await state.snapshot();
  const known = snap.objects.identityproviders.get(l.tenant);
  if (!known || (known.spec?.type === 'local' && !snap.identitiesByUser.has(userKey(l.tenant, l.username)))) snap = await state.upToDate();
  const idp = snap.objects.identityproviders.get(l.tenant);
  // An unknown tenant has no users: refused before anything is written, so made-up tenants cost nothing.
  if (!idp || isReservedName(l.username)) return {};
  const wait = await throttle.attempt(l.tenant, l.username, l.source);
  if (wait > 0) return { retryAfter: wait };
  let user: PasswordCheck['user'];
  if (idp.spec?.type === 'ldap') {
    let found: DirectoryUser | undefined;
    try {
      found = await new LDAPDirectory(parseConfig<LDAPConfig>(idp)).login(l.username, l.password);
    } catch (err) {
      // The directory is down, not the password wrong: this attempt does not count against the user.
      await throttle.release(l.tenant, l.username, l.source);
      throw err;
    }
    if (found && !isReservedName(found.name)) user = { username: found.name, uid: found.id, groups: found.groups };
  } else if (idp.spec?.type === 'local') {
    const li = snap.identitiesByUser.get(userKey(l.tenant, l.username));
    const ok = await verifyPassword(l.password, li?.spec?.hashedPassword);
    if (ok && li && li.status?.locked !== true) user = { username: l.username, uid: li.metadata.name!, groups: tenantAssertedGroups(li.spec?.groups) };
  }
  if (!user) return {};
  if (!l.dryRun) await throttle.success(l.tenant, l.username, l.source);
  return { user };
}

/** Users of a tenant: local identities, or the directory's entries. */
export async function listUsers(snap: Snapshot, tenant: string): Promise<DirectoryUser[]> {
  const idp = snap.objects.identityproviders.get(tenant);
  if (idp?.spec?.type === 'ldap')
    return (await new LDAPDirectory(parseConfig<LDAPConfig>(idp)).users()).map(u => ({ ...u, createdAt: idp.metadata.creationTimestamp }));
  const out: DirectoryUser[] = [];
  for (const li of snap.objects.localidentities.values()) {
    if (tenantOf(li) !== tenant) continue;
    const s = li.spec;
    out.push({
      id: li.metadata.name!,
      name: s?.username ?? '',
      displayName: s?.displayName,
      email: s?.email,
      groups: s?.groups ?? [],
      createdAt: li.metadata.creationTimestamp,
    });
  }
  return out;
}

/** Groups of a tenant: local groups, or the directory's groups. */
export async function listGroups(snap: Snapshot, tenant: string): Promise<DirectoryGroup[]> {
  const idp = snap.objects.identityproviders.get(tenant);
  if (idp?.spec?.type === 'ldap')
    return (await new LDAPDirectory(parseConfig<LDAPConfig>(idp)).groups()).map(g => ({ ...g, createdAt: idp.metadata.creationTimestamp }));
  const out: DirectoryGroup[] = [];
  for (const g of snap.objects.localgroups.values()) {
    if (tenantOf(g) !== tenant) continue;
    const members = (g.status?.users ?? []).map(u => ({ id: u.id ?? '', name: u.name ?? '' }));
    out.push({ id: g.metadata.name!, name: g.spec?.displayName || g.metadata.name!, members, createdAt: g.metadata.creationTimestamp });
  }
  return out;
}

// ---- OIDC ------------------------------------------------------------------------------------------

interface Issuer {
  jwks: ReturnType<typeof createRemoteJWKSet>;
  issuer: string;
  fetchedAt: number;
}

/** Accepts ID tokens of every tenant whose provider is oidc, verified against that issuer's JWKS. */
export class OIDCAuthenticator implements TokenAuthenticator {
  private readonly issuers = new Map<string, Promise<Issuer>>();

  constructor(
    private readonly state: AuthState,
    private readonly discoveryTTLms = 10 * 60_000,
  ) {}

  private discover(issuer: string): Promise<Issuer> {
    const cached = this.issuers.get(issuer);
    if (cached) return cached;
    const p = (async () => {
      const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`OIDC discovery for ${issuer}: HTTP ${res.status}`);
      const doc = (await res.json()) as { issuer?: string; jwks_uri?: string };
      // The discovery document must name the very issuer configured (OIDC Discovery 4.3).
      if (doc.issuer !== issuer || !doc.jwks_uri) throw new Error(`OIDC discovery for ${issuer}: issuer mismatch or no jwks_uri`);
      return { jwks: createRemoteJWKSet(new URL(doc.jwks_uri)), issuer, fetchedAt: Date.now() };
    })();
    this.issuers.set(issuer, p);
    p.then(
      i =>
        setTimeout(
          () => {
            if (this.issuers.get(issuer) === p) this.issuers.delete(issuer);
          },
          this.discoveryTTLms - (Date.now() - i.fetchedAt),
        ).unref(),
      () => this.issuers.delete(issuer),
    );
    return p;
  }

  async authenticateToken(token: string): Promise<UserInfo | undefined> {
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      return undefined;
    }
    if (typeof claims.iss !== 'string') return undefined;
    const snap = await this.state.snapshot();
    for (const idp of snap.objects.identityproviders.values()) {
      if (idp.spec?.type !== 'oidc') continue;
      const c = parseConfig<OIDCConfig>(idp);
      if (c.issuer !== claims.iss) continue;
      const issuer = await this.discover(c.issuer);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, issuer.jwks, { issuer: c.issuer, audience: c.clientID, requiredClaims: ['exp'] }));
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) continue;
        throw err;
      }
      const username = payload[c.usernameClaim || 'sub'];
      // The issuer is the tenant's to choose: its tokens name no reserved user and carry no reserved group.
      if (typeof username !== 'string' || !username || isReservedName(username)) continue;
      const groups = tenantAssertedGroups(payload[c.groupsClaim || 'groups']);
      return { username, uid: String(payload.sub ?? username), groups, extra: { [tenantIDKey]: [idp.metadata.name!] } };
    }
    return undefined;
  }
}
