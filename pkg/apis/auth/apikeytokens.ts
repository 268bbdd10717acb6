// API keys: JWTs signed with the server's signing key (RS256 and the `usr`/`ted`
// claims TKE's key signer uses, plus iss and kid). Each key also exists as an APIKey object
// named by the token's jti; a request's key is refused as soon as that object is disabled,
// deleted or past expire_at, or its identity is gone.
//
// A key is bound to two uids, not to names: `sub` is the uid of the identity it was issued to
// (a local identity's metadata.uid, a directory entry's id, an OIDC subject, with `idp` the kind
// of provider that knows it) and `oid` the uid of its APIKey object. A user created later under a
// deleted user's name, or an APIKey object re-created under a deleted key's name, has another
// uid, so neither brings an old key back.
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { UserInfo } from '../../rest/resource.ts';
import type { TokenAuthenticator } from '../../server/authn.ts';
import type { Store } from '../../storage/interface.ts';
import { errors } from '../../rest/errors.ts';
import { DirectoryUserCache } from './idp.ts';
import { isReservedName, tenantAssertedGroups, tenantIDKey } from './subjects.ts';
import { signingAlgorithm, type SigningKeys } from './signingkey.ts';
import { authGroupName, serverObject, userKey, type AuthState, type Snapshot } from './state.ts';
import { LRUCache } from 'lru-cache';

export const apiKeyIssuer = 'tke-apiserver/apikey';
/** TKE's defaultAPIKeyTimeout. */
export const defaultExpireMs = 7 * 24 * 3600 * 1000;
const maxExpireMs = 10 * 365 * 24 * 3600 * 1000;

/** Parses a Go duration ("1h", "30m", "720h0m0s", "1.5h") into milliseconds; undefined if malformed. */
export function parseDuration(d: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(d); m; m = re.exec(d)) {
    total += Number(m[1]) * units[m[2]];
    matched = re.lastIndex;
  }
  return matched === d.length && d.length > 0 ? total : undefined;
}

export function checkExpire(ms: number): string | undefined {
  if (ms <= 0) return 'must be positive';
  if (ms > maxExpireMs) return 'must be at most 10 years';
  return undefined;
}

/** Who a key acts as, the uid that identity has now, and the kind of provider that knows it. */
interface Identity {
  uid: string;
  user: UserInfo;
  provider: string;
}

interface VerifiedClaims {
  jti: string;
  oid: string;
  sub: string;
  usr: string;
  ted: string;
  idp: string;
  exp: number;
}

export class APIKeys {
  private readonly directory = new DirectoryUserCache();
  /**
   * Tokens whose signature already checked out, with their claims, until they expire: the
   * signature is the costly part and cannot change. Revocation is still checked every time.
   */
  private readonly verified = new LRUCache<string, VerifiedClaims>({ max: 10_000 });

  constructor(
    private readonly storage: Store,
    private readonly state: AuthState,
    private readonly keys: SigningKeys,
  ) {}

  /**
   * The identity (tenant, username) names now, as its tenant's provider knows it: a local identity
   * that exists and is not locked, a directory entry, or (OIDC, which keeps no directory) the
   * subject the caller authenticated as. Reserved `system:` names and groups never come from here.
   */
  private async identity(snap: Snapshot, tenant: string, username: string, oidcSubject?: string): Promise<Identity | undefined> {
    if (isReservedName(username)) return undefined;
    const idp = snap.objects.identityproviders.get(tenant);
    const extra = { [tenantIDKey]: [tenant] };
    if (idp?.spec?.type === 'ldap') {
      // A directory user's groups are the directory's; a user removed there loses its keys.
      const entry = await this.directory.lookup(idp, username);
      return entry ? { uid: entry.id, provider: 'ldap', user: { username, uid: entry.id, groups: tenantAssertedGroups(entry.groups), extra } } : undefined;
    }
    if (idp?.spec?.type === 'oidc')
      return oidcSubject ? { uid: oidcSubject, provider: 'oidc', user: { username, uid: oidcSubject, groups: [], extra } } : undefined;
    const li = snap.identitiesByUser.get(userKey(tenant, username));
    if (!li || li.status?.locked === true || li.metadata.deletionTimestamp) return undefined;
    return { uid: li.metadata.uid!, provider: 'local', user: { username, uid: li.metadata.name!, groups: tenantAssertedGroups(li.spec?.groups), extra } };
  }

  /**
   * Issues a key for (tenant, username) and records it as an APIKey object. `callerUID` is the
   * uid the caller authenticated with (the subject of an OIDC tenant). A dry run checks
   * everything and stores nothing: its answer carries no key.
   */
  async issue(
    tenant: string,
    username: string,
    expireMs: number,
    description: string,
    opts: { callerUID?: string; dryRun?: boolean } = {},
  ): Promise<KubeObject> {
    const identity = await this.identity(await this.state.snapshot(), tenant, username, opts.callerUID);
    if (!identity) {
      throw errors.badRequest(
        `user "${username}" has no identity in tenant "${tenant}" to bind a key to: keys are issued to local, directory (LDAP) and OIDC users`,
      );
    }
    const { kid, privateKey } = await this.keys.current();
    const jti = randomBytes(16).toString('hex');
    const now = Date.now();
    const obj = serverObject('APIKey', jti, {
      spec: {
        tenantID: tenant,
        username,
        description,
        issue_at: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        expire_at: new Date(now + expireMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
      status: { disabled: false, expired: false },
    });
    if (opts.dryRun) return obj;
    const token = await new SignJWT({ usr: username, ted: tenant, idp: identity.provider, oid: obj.metadata.uid })
      .setProtectedHeader({ alg: signingAlgorithm, kid, typ: 'JWT' })
      .setIssuer(apiKeyIssuer)
      .setSubject(identity.uid)
      .setJti(jti)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor((now + expireMs) / 1000))
      .sign(privateKey);
    const key = { group: authGroupName, resource: 'apikeys', namespace: '', name: jti };
    const stored = await this.storage.transact(tx => tx.create(key, obj));
    this.state.invalidate();
    // The token itself is stored nowhere: it is shown once, here.
    return { ...stored, spec: { ...stored.spec, apiKey: token } };
  }

  /**
   * The user a key authenticates, or undefined (not a key of ours, bad signature, expired, revoked).
   * A key of ours refused by this process's snapshot is checked again against an up-to-date one:
   * it may have been made a moment ago through another worker or replica.
   */
  async verify(token: string): Promise<UserInfo | undefined> {
    const found = await this.verifyWith(token, () => this.state.snapshot());
    if (found !== false) return found;
    return (await this.verifyWith(token, () => this.state.upToDate())) || undefined;
  }

  /** false: a key of ours (signed by our algorithm with a key id) that this snapshot does not accept. */
  private async verifyWith(token: string, snapshot: () => Promise<Snapshot>): Promise<UserInfo | undefined | false> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== signingAlgorithm) return undefined;
      kid = header.kid;
    } catch {
      return undefined;
    }
    if (!kid) return undefined;
    const snap = await snapshot();
    const key = this.keys.publicKey(snap, kid);
    if (!key) return false;
    let payload = this.verified.get(token);
    if (!payload || payload.exp * 1000 <= Date.now()) {
      try {
        const out = await jwtVerify(token, await key, {
          algorithms: [signingAlgorithm],
          issuer: apiKeyIssuer,
          requiredClaims: ['jti', 'exp', 'sub', 'usr', 'ted', 'idp', 'oid'],
        });
        const p = out.payload;
        payload = {
          jti: String(p.jti),
          oid: String(p.oid),
          sub: String(p.sub),
          usr: String(p.usr),
          ted: String(p.ted),
          idp: String(p.idp),
          exp: Number(p.exp),
        };
      } catch (err) {
        this.verified.delete(token);
        if (err instanceof joseErrors.JOSEError) return undefined;
        throw err;
      }
      this.verified.set(token, payload);
    }
    const { usr: username, ted: tenant } = payload;
    const record = snap.objects.apikeys.get(payload.jti);
    if (!record || record.metadata.uid !== payload.oid || record.spec?.username !== username || record.spec?.tenantID !== tenant) return false;
    if (record.status?.disabled === true || record.status?.expired === true || record.metadata.deletionTimestamp) return false;
    const expireAt = Date.parse(record.spec?.expire_at ?? '');
    if (Number.isFinite(expireAt) && expireAt <= Date.now()) return undefined;
    const identity = await this.identity(snap, tenant, username, payload.sub);
    // A tenant that moved to another kind of provider has other identities, even under the same names.
    return identity && identity.provider === payload.idp && identity.uid === payload.sub ? identity.user : false;
  }

  authenticator(): TokenAuthenticator {
    return { authenticateToken: token => this.verify(token) };
  }
}
