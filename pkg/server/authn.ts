// The authentication chain, in kube-apiserver's order: front-proxy request headers (only behind
// a verified proxy certificate), client certificates, bearer tokens. Nothing else authenticates.
//
// The TLS server accepts any client certificate (requestCert, rejectUnauthorized: false) because
// the two client CAs mean different things; which CA signed a certificate is decided here.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { errors, StatusError } from '../rest/errors.ts';
import type { UserInfo } from '../rest/resource.ts';
import { splitPEMCertificates, x509 } from './certs.ts';

export interface Authenticator {
  /**
   * The user the request authenticates as; undefined when it presents no credential (the server
   * answers 401). A credential that is presented but invalid throws errors.unauthorized().
   */
  authenticate(req: IncomingMessage): Promise<UserInfo | undefined>;
}

/** How a request's user proved who it is. */
export type AuthenticationMethod = 'front-proxy' | 'client-certificate' | 'token';

// Kept beside the user rather than in it, so nothing a request carries can claim a method and the
// UserInfo shape stays what every other layer knows.
const methods = new WeakMap<UserInfo, AuthenticationMethod>();

/** The method that authenticated `user`, for users returned by createAuthenticator. */
export function authenticationMethod(user: UserInfo): AuthenticationMethod | undefined {
  return methods.get(user);
}

export interface TokenAuthenticator {
  /**
   * undefined when the token is not one this authenticator knows or it is invalid, so the next
   * authenticator gets its turn. Throw only for failures of the authenticator itself (database
   * down, JWKS unreachable): those surface as server errors, not as 401.
   */
  authenticateToken(token: string): Promise<UserInfo | undefined>;
}

export interface RequestHeaderConfig {
  /** PEM bundle from --requestheader-client-ca-file; unset = front-proxy authentication off (headers still stripped). */
  clientCA?: string;
  /** Allowed proxy certificate CNs; empty = any certificate the CA signed. */
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraHeadersPrefix: string[];
}

export interface AuthenticatorConfig {
  /** PEM bundle from --client-ca-file; unset = client certificates do not authenticate. */
  clientCA?: string;
  requestHeader?: RequestHeaderConfig;
  /** Tried in order; the first that returns a user wins. */
  tokenAuthenticators?: TokenAuthenticator[];
}

/** A tenant user's password login, as the group that keeps passwords checks it (throttled against guessing). */
export interface PasswordAuthenticator {
  authenticatePassword(login: { tenant: string; username: string; password: string; source: string }): Promise<{ user?: UserInfo; retryAfterSeconds?: number }>;
}

export interface ChainAuthenticator extends Authenticator, PasswordAuthenticator {
  /** Appends a token authenticator (API keys, OIDC) after those already in the chain. */
  addTokenAuthenticator(t: TokenAuthenticator): void;
  /** A bearer token given some other way (a registry client's password may be an API key); undefined if no authenticator knows it. */
  authenticateToken(token: string): Promise<UserInfo | undefined>;
  /** Set by the group that keeps passwords; until then every password login fails. */
  setPasswordAuthenticator(p: PasswordAuthenticator): void;
  /** The PEM certificates of every client CA: give them to the TLS server as `ca`. */
  readonly clientCAs: string[];
}

/** The subset of ServerOptions authentication reads (structural, so pkg/ does not import cmd/). */
export interface AuthenticationOptions {
  clientCAFile?: string;
  requestHeader: {
    clientCAFile?: string;
    allowedNames: string[];
    usernameHeaders: string[];
    groupHeaders: string[];
    extraHeadersPrefix: string[];
  };
}

/** Reads the CA files named by the options. Throws (a start-up error) when a file is unreadable or holds no certificate. */
export function authenticatorConfigFromOptions(opts: AuthenticationOptions, tokenAuthenticators: TokenAuthenticator[] = []): AuthenticatorConfig {
  const read = (file: string, flag: string): string => {
    const pem = readFileSync(file, 'utf8');
    if (splitPEMCertificates(pem).length === 0) throw new Error(`${flag} ${file}: no PEM certificate found`);
    return pem;
  };
  return {
    clientCA: opts.clientCAFile ? read(opts.clientCAFile, '--client-ca-file') : undefined,
    requestHeader: {
      ...opts.requestHeader,
      clientCA: opts.requestHeader.clientCAFile ? read(opts.requestHeader.clientCAFile, '--requestheader-client-ca-file') : undefined,
    },
    tokenAuthenticators,
  };
}

const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_ANY = '2.5.29.37.0';
const MAX_CHAIN_DEPTH = 8;
const AUTHENTICATED_GROUP = 'system:authenticated';

interface TrustAnchors {
  roots: X509Certificate[];
}

function anchorsFrom(pem: string | undefined): TrustAnchors | undefined {
  if (!pem) return undefined;
  const roots = splitPEMCertificates(pem).map(p => new X509Certificate(p));
  return roots.length ? { roots } : undefined;
}

function timeValid(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/**
 * Verifies leaf -> (client-supplied intermediates) -> one of `anchors.roots`, checking every
 * signature, validity period, CA flags on intermediates, and the leaf's clientAuth usage.
 */
function verifiesAgainst(leaf: X509Certificate, intermediates: X509Certificate[], anchors: TrustAnchors, now: number): boolean {
  const eku = leaf.keyUsage;
  if (Array.isArray(eku) && eku.length > 0 && !eku.includes(EKU_CLIENT_AUTH) && !eku.includes(EKU_ANY)) return false;
  let cur = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    if (!timeValid(cur, now)) return false;
    for (const root of anchors.roots) {
      if (cur.checkIssued(root) && timeValid(root, now) && cur.verify(root.publicKey)) return true;
    }
    const next = intermediates.find(c => c !== cur && c.ca && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) return false;
    cur = next;
  }
  return false;
}

interface PeerChain {
  leaf: X509Certificate;
  intermediates: X509Certificate[];
}

function peerChain(req: IncomingMessage): PeerChain | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  let peer: DetailedPeerCertificate | undefined;
  try {
    peer = socket.getPeerCertificate(true);
  } catch {
    return undefined;
  }
  if (!peer || !peer.raw) return undefined;
  const leaf = new X509Certificate(peer.raw);
  const intermediates: X509Certificate[] = [];
  const seen = new Set<string>([peer.raw.toString('base64')]);
  // node links the chain the client sent via issuerCertificate; a self-signed link points at itself.
  for (let c = peer.issuerCertificate; c && c.raw && intermediates.length < MAX_CHAIN_DEPTH; c = c.issuerCertificate) {
    const key = c.raw.toString('base64');
    if (seen.has(key)) break;
    seen.add(key);
    intermediates.push(new X509Certificate(c.raw));
  }
  return { leaf, intermediates };
}

function subjectFields(cert: X509Certificate): { cn: string | undefined; orgs: string[] } {
  // @peculiar/x509 parses RDNs properly (multi-valued, escaped); node's subject string is ambiguous.
  const name = new x509.X509Certificate(cert.raw).subjectName;
  return { cn: name.getField('CN')[0], orgs: name.getField('O') };
}

/** What a connection's client certificate proves; computed once per TLS connection. */
interface PeerIdentity {
  presented: boolean;
  /** Signed by the front-proxy CA with an allowed CN. */
  frontProxy: boolean;
  /** From a certificate signed by the client CA. */
  clientUser?: UserInfo;
  /** Re-check after this instant: long keep-alive connections outlive certificates. */
  validUntil: number;
}

export function createAuthenticator(config: AuthenticatorConfig): ChainAuthenticator {
  const clientAnchors = anchorsFrom(config.clientCA);
  const rh = config.requestHeader;
  const proxyAnchors = anchorsFrom(rh?.clientCA);
  const allowedNames = new Set(rh?.allowedNames ?? []);
  const usernameHeaders = (rh?.usernameHeaders ?? []).map(h => h.toLowerCase());
  const groupHeaders = (rh?.groupHeaders ?? []).map(h => h.toLowerCase());
  const extraPrefixes = (rh?.extraHeadersPrefix ?? []).map(h => h.toLowerCase());
  const tokenAuthenticators = [...(config.tokenAuthenticators ?? [])];
  const peers = new WeakMap<object, PeerIdentity>();

  const identifyPeer = (req: IncomingMessage): PeerIdentity => {
    const now = Date.now();
    const cached = peers.get(req.socket);
    if (cached && now <= cached.validUntil) return cached;
    const id: PeerIdentity = { presented: false, frontProxy: false, validUntil: Number.POSITIVE_INFINITY };
    const chain = peerChain(req);
    if (chain) {
      id.presented = true;
      id.validUntil = Date.parse(chain.leaf.validTo);
      const { cn, orgs } = subjectFields(chain.leaf);
      if (proxyAnchors && verifiesAgainst(chain.leaf, chain.intermediates, proxyAnchors, now)) {
        id.frontProxy = allowedNames.size === 0 || (cn !== undefined && allowedNames.has(cn));
      }
      if (clientAnchors && cn && verifiesAgainst(chain.leaf, chain.intermediates, clientAnchors, now)) {
        id.clientUser = { username: cn, groups: [...orgs] };
      }
    }
    peers.set(req.socket, id);
    return id;
  };

  const fromHeaders = (req: IncomingMessage): UserInfo | undefined => {
    const headers = req.headersDistinct;
    let username: string | undefined;
    for (const h of usernameHeaders) {
      const v = headers[h]?.find(s => s.trim() !== '');
      if (v) {
        username = v.trim();
        break;
      }
    }
    if (!username) return undefined;
    // One group a header value, as kube-apiserver sends them and reads them: splitting at commas
    // would turn a group "x,system:masters" that some identity source let through into two.
    const groups: string[] = [];
    for (const h of groupHeaders) {
      for (const v of headers[h] ?? []) if (v !== '') groups.push(v);
    }
    const extra: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(headers)) {
      const prefix = extraPrefixes.find(p => name.startsWith(p) && name.length > p.length);
      if (!prefix || !values) continue;
      const key = unescapeExtraKey(name.slice(prefix.length).toLowerCase());
      extra[key] ??= [];
      extra[key].push(...values);
    }
    return { username, groups, ...(Object.keys(extra).length ? { extra } : {}) };
  };

  const stripProxyHeaders = (req: IncomingMessage) => {
    const drop = (name: string) => {
      const n = name.toLowerCase();
      return usernameHeaders.includes(n) || groupHeaders.includes(n) || extraPrefixes.some(p => n.startsWith(p));
    };
    // node builds headers and headersDistinct lazily from rawHeaders and a header count taken at
    // parse time: materialize both before shortening rawHeaders, or the getters read past its end.
    const { headers, headersDistinct } = req;
    for (const name of Object.keys(headers)) if (drop(name)) delete headers[name];
    for (const name of Object.keys(headersDistinct)) if (drop(name)) delete headersDistinct[name];
    for (let i = req.rawHeaders.length - 2; i >= 0; i -= 2) {
      if (drop(req.rawHeaders[i])) req.rawHeaders.splice(i, 2);
    }
  };

  const authenticated = (u: UserInfo, method: AuthenticationMethod): UserInfo => {
    const user = u.groups.includes(AUTHENTICATED_GROUP) ? { ...u } : { ...u, groups: [...u.groups, AUTHENTICATED_GROUP] };
    methods.set(user, method);
    return user;
  };

  const authenticate = async (req: IncomingMessage): Promise<UserInfo | undefined> => {
    const peer = identifyPeer(req);

    // (a) front proxy. The headers are read before stripping and never trusted without the certificate.
    const proxied = peer.frontProxy ? fromHeaders(req) : undefined;
    // Whatever happened, later code (audit, impersonation, proxying) must not see client-set identity headers.
    stripProxyHeaders(req);
    if (proxied) return authenticated(proxied, 'front-proxy');

    // (b) client certificate.
    if (peer.clientUser) return authenticated({ ...peer.clientUser, groups: [...peer.clientUser.groups] }, 'client-certificate');
    // A certificate nobody vouches for is a failed credential, unless a token below succeeds.
    let failed = peer.presented && !peer.frontProxy;

    // (c) bearer token.
    const token = bearerToken(req);
    if (token !== undefined) {
      let internal: unknown;
      for (const t of tokenAuthenticators) {
        try {
          const user = await t.authenticateToken(token);
          if (user) return authenticated(user, 'token');
        } catch (err) {
          if (err instanceof StatusError) continue;
          internal ??= err;
        }
      }
      if (internal !== undefined) throw internal;
      failed = true;
    }

    if (failed) throw errors.unauthorized();
    return undefined;
  };

  let passwords: PasswordAuthenticator | undefined;
  return {
    authenticate,
    addTokenAuthenticator(t: TokenAuthenticator) {
      tokenAuthenticators.push(t);
    },
    async authenticateToken(token: string) {
      for (const t of tokenAuthenticators) {
        const user = await t.authenticateToken(token).catch(err => {
          if (err instanceof StatusError) return undefined;
          throw err;
        });
        if (user) return authenticated(user, 'token');
      }
      return undefined;
    },
    setPasswordAuthenticator(p: PasswordAuthenticator) {
      passwords = p;
    },
    async authenticatePassword(login) {
      const result = (await passwords?.authenticatePassword(login)) ?? {};
      return result.user ? { user: authenticated(result.user, 'token') } : result;
    },
    clientCAs: [...splitPEMCertificates(config.clientCA ?? ''), ...splitPEMCertificates(rh?.clientCA ?? '')],
  };
}

/** `Authorization: Bearer <token>`; undefined when absent, another scheme, or empty (as kube-apiserver). */
export function bearerToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (!auth) return undefined;
  const parts = auth.trim().split(' ');
  if (parts.length < 2 || parts[0].toLowerCase() !== 'bearer') return undefined;
  const token = parts[1];
  return token ? token : undefined;
}

/** Extra keys travel percent-encoded (header names cannot carry every character); kube-apiserver unescapes them. */
function unescapeExtraKey(key: string): string {
  try {
    return decodeURIComponent(key);
  } catch {
    return key;
  }
}
