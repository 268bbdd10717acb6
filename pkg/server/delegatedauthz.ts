// Delegated authorization, as every aggregated API server does it: the decision for a kube user
// is a SubjectAccessReview sent to kube-apiserver (--authorization-kubeconfig), so the cluster's
// RBAC (or whatever authorizers it runs) decides, exactly as for the cluster's own resources.
// Answers are cached briefly, like kube's --authorization-webhook-cache-{authorized,unauthorized}-ttl,
// because every proxied request would otherwise cost a round trip.
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { LRUCache } from 'lru-cache';
import path from 'node:path';
import YAML from 'yaml';
import type { UserInfo } from '../rest/resource.ts';
import type { AuthorizationAttributes, AuthorizationDecision, Authorizer } from './authz.ts';

export interface DelegatedAuthorizerOptions {
  /** How long an allow is remembered (kube's delegated default: 10 s). */
  allowTTLms?: number;
  /** How long a deny is remembered (kube's delegated default: 10 s). */
  denyTTLms?: number;
  /** Bound on remembered answers, so many distinct requests cannot grow memory without limit. */
  maxEntries?: number;
  /** Groups allowed without asking (kube's default: system:masters, which kube-apiserver allows anyway). */
  alwaysAllowGroups?: string[];
  /** Non-resource paths allowed without asking: probes must not depend on kube-apiserver being up. */
  alwaysAllowPaths?: string[];
  timeoutMs?: number;
}

/** Where and how to reach kube-apiserver, as read from a kubeconfig. */
export interface KubeClientConfig {
  server: string;
  caPEM?: string;
  certPEM?: string;
  keyPEM?: string;
  token?: string;
  /** Re-read on use: a rotated service-account token is picked up without a restart (as client-go does). */
  tokenFile?: string;
}

interface SARSpec {
  user: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
  resourceAttributes?: { namespace: string; verb: string; group: string; version: string; resource: string; subresource: string; name: string };
  nonResourceAttributes?: { path: string; verb: string };
}

interface SARStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export class DelegatedAuthorizer implements Authorizer {
  /** Decisions by review spec; concurrent identical reviews share one request to kube-apiserver. */
  private readonly cache: LRUCache<string, AuthorizationDecision>;
  private readonly allowTTL: number;
  private readonly denyTTL: number;
  private readonly agent: https.Agent;
  private readonly alwaysAllowGroups: Set<string>;
  private readonly alwaysAllowPaths: Set<string>;
  private readonly timeoutMs: number;

  constructor(
    private readonly kube: KubeClientConfig,
    opts: DelegatedAuthorizerOptions = {},
  ) {
    this.allowTTL = opts.allowTTLms ?? 10_000;
    this.denyTTL = opts.denyTTLms ?? 10_000;
    // lru-cache reads a ttl of 0 as "forever"; here 0 means "ask every time" (authorize drops it).
    const allowTTL = Math.max(1, this.allowTTL);
    const denyTTL = Math.max(1, this.denyTTL);
    this.cache = new LRUCache<string, AuthorizationDecision>({
      max: opts.maxEntries ?? 10_000,
      ttl: allowTTL,
      fetchMethod: async (key, _stale, { options }) => {
        const status = await this.review(JSON.parse(key) as SARSpec);
        const allowed = status.allowed === true && status.denied !== true;
        if (!allowed) options.ttl = denyTTL;
        return { allowed, ...(allowed || !status.reason ? {} : { reason: status.reason }) };
      },
    });
    this.alwaysAllowGroups = new Set(opts.alwaysAllowGroups ?? ['system:masters']);
    this.alwaysAllowPaths = new Set(opts.alwaysAllowPaths ?? ['/healthz', '/readyz', '/livez']);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.agent = new https.Agent({ keepAlive: true, ca: kube.caPEM, cert: kube.certPEM, key: kube.keyPEM, maxSockets: 32 });
  }

  async authorize(attrs: AuthorizationAttributes): Promise<AuthorizationDecision> {
    if (attrs.user.groups.some(g => this.alwaysAllowGroups.has(g))) return { allowed: true };
    if (!attrs.isResourceRequest && this.alwaysAllowPaths.has(attrs.path)) return { allowed: true };
    const key = JSON.stringify(reviewSpec(attrs));
    try {
      const decision = (await this.cache.fetch(key))!;
      if ((decision.allowed ? this.allowTTL : this.denyTTL) === 0) this.cache.delete(key);
      return decision;
    } catch (err) {
      // kube's webhook authorizer treats a failed review as "no opinion", which ends in a refusal;
      // the failure is not remembered, so the next request asks again.
      return { allowed: false, reason: `delegated authorization failed: ${(err as Error).message}` };
    }
  }

  /** Ends idle keep-alive connections (server shutdown). */
  close(): void {
    this.agent.destroy();
  }

  private async review(spec: SARSpec): Promise<SARStatus> {
    const url = new URL(this.kube.server.replace(/\/+$/, '') + SAR_PATH);
    const token = this.kube.tokenFile ? (await readFile(this.kube.tokenFile, 'utf8')).trim() : this.kube.token;
    const body = JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec });
    return new Promise<SARStatus>((resolve, reject) => {
      const req = https.request(
        url,
        {
          method: 'POST',
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'Content-Length': Buffer.byteLength(body),
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
          },
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 201 && res.statusCode !== 200) {
              reject(new Error(`POST ${SAR_PATH}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
              return;
            }
            try {
              const parsed = JSON.parse(text) as { status?: SARStatus };
              resolve(parsed.status ?? {});
            } catch {
              reject(new Error(`POST ${SAR_PATH}: response is not JSON`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function reviewSpec(attrs: AuthorizationAttributes): SARSpec {
  const u: UserInfo = attrs.user;
  const spec: SARSpec = { user: u.username, groups: [...u.groups] };
  if (u.uid) spec.uid = u.uid;
  if (u.extra && Object.keys(u.extra).length) spec.extra = u.extra;
  if (attrs.isResourceRequest) {
    spec.resourceAttributes = {
      namespace: attrs.namespace,
      verb: attrs.verb,
      group: attrs.apiGroup,
      version: attrs.apiVersion,
      resource: attrs.resource,
      subresource: attrs.subresource,
      name: attrs.name,
    };
  } else {
    spec.nonResourceAttributes = { path: attrs.path, verb: attrs.verb };
  }
  return spec;
}

/**
 * Reads a kubeconfig (its current context) the way client-go does for the fields an authorizer
 * needs. Relative file paths are relative to the kubeconfig's directory. Throws a start-up error
 * when the file names no server or holds no usable credential.
 */
export async function loadKubeconfig(file: string): Promise<KubeClientConfig> {
  const dir = path.dirname(path.resolve(file));
  const doc = YAML.parse(await readFile(file, 'utf8')) as KubeconfigDoc | null;
  if (!doc || typeof doc !== 'object') throw new Error(`${file}: not a kubeconfig`);
  const named = <T>(list: Array<{ name?: string } & T> | undefined, name: string | undefined): T | undefined =>
    (list ?? []).find(e => e.name === name) ?? (list?.length === 1 ? list[0] : undefined);
  const ctx = named(doc.contexts, doc['current-context'])?.context;
  const cluster = named(doc.clusters, ctx?.cluster)?.cluster;
  const user = named(doc.users, ctx?.user)?.user ?? {};
  if (!cluster?.server) throw new Error(`${file}: the current context names no cluster with a server`);
  if (!cluster.server.startsWith('https://')) throw new Error(`${file}: ${cluster.server}: only https servers are supported`);

  const data = async (inline: string | undefined, ref: string | undefined): Promise<string | undefined> => {
    if (inline) return Buffer.from(inline, 'base64').toString('utf8');
    if (ref) return readFile(path.resolve(dir, ref), 'utf8');
    return undefined;
  };
  const out: KubeClientConfig = {
    server: cluster.server,
    caPEM: await data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    certPEM: await data(user['client-certificate-data'], user['client-certificate']),
    keyPEM: await data(user['client-key-data'], user['client-key']),
    token: user.token || undefined,
    tokenFile: user.tokenFile ? path.resolve(dir, user.tokenFile) : undefined,
  };
  if (!!out.certPEM !== !!out.keyPEM) throw new Error(`${file}: a client certificate needs its key and a key its certificate`);
  if (!out.certPEM && !out.token && !out.tokenFile) throw new Error(`${file}: the current user has no client certificate, token or tokenFile`);
  return out;
}

interface KubeconfigDoc {
  'current-context'?: string;
  clusters?: Array<{ name?: string; cluster?: { server?: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string } }>;
  users?: Array<{
    name?: string;
    user?: {
      token?: string;
      tokenFile?: string;
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
    };
  }>;
  contexts?: Array<{ name?: string; context?: { cluster?: string; user?: string } }>;
}

/**
 * Kube users to `delegated`, everyone else to `local`: a caller the verified front proxy vouched
 * for, who is not one of the local authorizer's own users (`isLocalUser`, e.g. TKE users carrying
 * their tenant through the member-cluster TokenReview), is decided by the cluster that
 * authenticated it.
 */
export function delegateFrontProxyUsers(
  delegated: Authorizer,
  local: Authorizer,
  viaFrontProxy: (user: UserInfo) => boolean,
  isLocalUser: (user: UserInfo) => boolean,
): Authorizer {
  return {
    authorize(attrs) {
      return viaFrontProxy(attrs.user) && !isLocalUser(attrs.user) ? delegated.authorize(attrs) : local.authorize(attrs);
    },
  };
}
