// API keys: JWTs signed with the RSA key kept in apisigningkeys (RS256 and the `usr`/`ted`
// claims TKE's key signer uses, plus iss and kid). Each key also exists as an APIKey object
// named by the token's jti; a request's key is refused as soon as that object is disabled,
// deleted or past expire_at, or its local user is gone.
import { randomBytes, randomUUID } from 'node:crypto';
import { decodeProtectedHeader, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import type { UserInfo } from '../rest/resource.ts';
import { timestamp } from '../rest/store.ts';
import type { TokenAuthenticator } from '../server/authn.ts';
import { staleStoredForm, StorageError, type Store } from '../storage/interface.ts';
import { DirectoryUserCache } from './idp.ts';
import { tenantIDKey } from './subjects.ts';
import { authGroupName, userKey, type AuthState, type Snapshot } from './state.ts';

export const apiKeyIssuer = 'tke-apiserver/apikey';
export const signingKeyName = 'default';
const algorithm = 'RS256';
/** TKE's defaultAPIKeyTimeout. */
export const defaultExpireMs = 7 * 24 * 3600 * 1000;
const maxExpireMs = 10 * 365 * 24 * 3600 * 1000;

type PrivateKey = Awaited<ReturnType<typeof importPKCS8>>;
type PublicKey = Awaited<ReturnType<typeof importSPKI>>;

/** A stored object written by the server itself (not through a REST store). */
export function serverObject(kind: string, name: string, fields: Record<string, unknown>): KubeObject {
  return {
    apiVersion: `${authGroupName}/v1`, kind,
    metadata: { name, uid: randomUUID(), creationTimestamp: timestamp(), generation: 1 },
    ...fields,
  };
}

/** Parses a Go duration ("1h", "30m", "720h0m0s", "1.5h") into milliseconds; undefined if malformed. */
export function parseDuration(d: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(d); m; m = re.exec(d)) { total += Number(m[1]) * units[m[2]]; matched = re.lastIndex; }
  return matched === d.length && d.length > 0 ? total : undefined;
}

export function checkExpire(ms: number): string | undefined {
  if (ms <= 0) return 'must be positive';
  if (ms > maxExpireMs) return 'must be at most 10 years';
  return undefined;
}

interface KeyPair { kid: string; privateKey: PrivateKey; publicKey: PublicKey }

export class APIKeys {
  private keys: Promise<KeyPair> | undefined;
  private publicKeys = new Map<string, { pem: string; key: Promise<PublicKey> }>();

  private readonly directory = new DirectoryUserCache();
  /**
   * Tokens whose signature already checked out, with their claims, until they expire: the
   * signature is the costly part and cannot change. Revocation is still checked every time.
   */
  private readonly verified = new Map<string, { jti: string; usr: string; ted: string; exp: number }>();

  constructor(private readonly storage: Store, private readonly state: AuthState) {}

  /** The signing key, made at first use; replicas racing to make it end up with the same one. */
  private signingKey(): Promise<KeyPair> {
    this.keys ??= this.loadOrCreate().catch(err => { this.keys = undefined; throw err; });
    return this.keys;
  }

  private async loadOrCreate(): Promise<KeyPair> {
    const key = { group: authGroupName, resource: 'apisigningkeys', namespace: '', name: signingKeyName };
    let obj = await this.storage.get(key);
    if (!obj) {
      const { privateKey, publicKey } = await generateKeyPair(algorithm, { modulusLength: 2048, extractable: true });
      const fresh = serverObject('APISigningKey', signingKeyName, {
        signingKey: Buffer.from(await exportPKCS8(privateKey)).toString('base64'),
        signingKeyPub: Buffer.from(await exportSPKI(publicKey)).toString('base64'),
      });
      try {
        obj = await this.storage.transact(tx => tx.create(key, fresh));
      } catch (err) {
        if (!(err instanceof StorageError && err.code === 'AlreadyExists')) throw err;
        obj = await this.storage.get(key);
      }
      this.state.invalidate();
    }
    if (!obj) throw new Error('API signing key vanished');
    // Nobody may update this object, so the server re-seals it itself after a key rotation.
    if ((obj as { [staleStoredForm]?: boolean })[staleStoredForm]) {
      const current = obj;
      obj = await this.storage.transact(tx => tx.update(key, current, current.metadata.resourceVersion))
        .catch(() => current);
    }
    const pem = (v: unknown) => Buffer.from(String(v ?? ''), 'base64').toString('utf8');
    const kid = `${obj.metadata.name}.${obj.metadata.uid}`;
    return { kid, privateKey: await importPKCS8(pem(obj.signingKey), algorithm), publicKey: await importSPKI(pem(obj.signingKeyPub), algorithm) };
  }

  /** Issues a key for (tenant, username) and records it as an APIKey object. */
  async issue(tenant: string, username: string, expireMs: number, description: string): Promise<KubeObject> {
    const { kid, privateKey } = await this.signingKey();
    const jti = randomBytes(16).toString('hex');
    const now = Date.now();
    const token = await new SignJWT({ usr: username, ted: tenant })
      .setProtectedHeader({ alg: algorithm, kid, typ: 'JWT' })
      .setIssuer(apiKeyIssuer).setJti(jti).setIssuedAt(Math.floor(now / 1000)).setExpirationTime(Math.floor((now + expireMs) / 1000))
      .sign(privateKey);
    const obj = serverObject('APIKey', jti, {
      spec: {
        tenantID: tenant, username, description,
        issue_at: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        expire_at: new Date(now + expireMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
      status: { disabled: false, expired: false },
    });
    const key = { group: authGroupName, resource: 'apikeys', namespace: '', name: jti };
    const stored = await this.storage.transact(tx => tx.create(key, obj));
    this.state.invalidate();
    // The token itself is stored nowhere: it is shown once, here.
    return { ...stored, spec: { ...stored.spec, apiKey: token } };
  }

  private publicKey(snap: Snapshot, kid: string): Promise<PublicKey> | undefined {
    const dot = kid.indexOf('.');
    const obj = snap.objects.apisigningkeys.get(dot < 0 ? kid : kid.slice(0, dot));
    if (!obj || `${obj.metadata.name}.${obj.metadata.uid}` !== kid) return undefined;
    const pem = Buffer.from(String(obj.signingKeyPub ?? ''), 'base64').toString('utf8');
    const cached = this.publicKeys.get(kid);
    if (cached && cached.pem === pem) return cached.key;
    const key = importSPKI(pem, algorithm);
    this.publicKeys.set(kid, { pem, key });
    return key;
  }

  /** The user a key authenticates, or undefined (not a key of ours, bad signature, expired, revoked). */
  async verify(token: string): Promise<UserInfo | undefined> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== algorithm) return undefined;
      kid = header.kid;
    } catch {
      return undefined;
    }
    if (!kid) return undefined;
    const snap = await this.state.snapshot();
    const key = this.publicKey(snap, kid);
    if (!key) return undefined;
    let payload = this.verified.get(token);
    if (!payload || payload.exp * 1000 <= Date.now()) {
      try {
        const out = await jwtVerify(token, await key, { algorithms: [algorithm], issuer: apiKeyIssuer, requiredClaims: ['jti', 'exp', 'usr', 'ted'] });
        payload = { jti: String(out.payload.jti), usr: String(out.payload.usr), ted: String(out.payload.ted), exp: Number(out.payload.exp) };
      } catch (err) {
        this.verified.delete(token);
        if (err instanceof joseErrors.JOSEError) return undefined;
        throw err;
      }
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, payload);
    }
    const username = payload.usr;
    const tenant = payload.ted;
    const record = snap.objects.apikeys.get(payload.jti);
    if (!record || record.spec?.username !== username || record.spec?.tenantID !== tenant) return undefined;
    if (record.status?.disabled === true || record.status?.expired === true || record.metadata.deletionTimestamp) return undefined;
    const expireAt = Date.parse(String(record.spec?.expire_at ?? ''));
    if (Number.isFinite(expireAt) && expireAt <= Date.now()) return undefined;
    const idp = snap.objects.identityproviders.get(tenant);
    const identity = snap.identitiesByUser.get(userKey(tenant, username));
    const extra = { [tenantIDKey]: [tenant] };
    if (idp?.spec?.type === 'ldap') {
      // A directory user's groups are the directory's; a user removed there loses its keys.
      const entry = await this.directory.lookup(idp, username);
      return entry ? { username, uid: entry.id, groups: [...entry.groups], extra } : undefined;
    }
    // A local user that has been deleted (or locked) loses its keys at once.
    if ((!idp || idp.spec?.type === 'local') && (!identity || identity.status?.locked === true)) return undefined;
    return { username, uid: identity?.metadata.name ?? username, groups: [...((identity?.spec?.groups as string[] | undefined) ?? [])], extra };
  }

  authenticator(): TokenAuthenticator {
    return { authenticateToken: token => this.verify(token) };
  }
}
