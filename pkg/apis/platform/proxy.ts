// Access into member clusters, as TKE's platform API gives it: a Kubernetes API request carrying
// `X-TKE-ClusterName: <cluster>` (TKE manual 7.1 §1.3, §2.1) and the connect subresources
// clusters/<name>/proxy (?path=<member path>, or /proxy/<member path>), clusters/<name>/apply and
// clusters/<name>/drain go to that cluster's kube-apiserver with the cluster's credential.
//
// Nothing leaves before the caller is authorized, by the server's authorizer, for what the
// request does inside the member (the Kubernetes verb on `cluster:<c>/namespace:<ns>/<kind>:<name>`,
// the cluster passed explicitly, never taken from a header), and before the cluster is found
// among those its tenant may see. The member sees the credential's identity (its `as`, if set);
// the caller's own identity is impersonated only when the credential opts in with the
// `platform.tkestack.io/impersonate-caller: "true"` annotation. No client header that carries an
// identity (Authorization, Cookie, Impersonate-*, front-proxy X-Remote-*) is passed on.
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { errors, StatusError } from '../../rest/errors.ts';
import type { CustomSubresource, UserInfo } from '../../rest/resource.ts';
import type { Route } from '../../server/apiserver.ts';
import type { AuthorizationAttributes } from '../../server/authz.ts';
import type { GroupContext } from '../../server/group.ts';
import type { Store } from '../../storage/interface.ts';
import { parseRequestInfo, type RequestInfo } from '../../server/requestinfo.ts';
import { isMaster, tenantOfUser } from '../auth/subjects.ts';
import { tenantOf } from '../tke/tenant.ts';
import { applyManifests } from './apply.ts';
import { credentialRefOf } from './cluster.ts';
import { drainNode } from './drain.ts';
import { memberConnection, memberRequestOptions, type MemberConnection } from './member.ts';
import { platformGroupName } from './names.ts';
import { readCluster, readClusterCredential, type StoredCluster } from './stored.ts';

export const clusterNameHeader = 'x-tke-clustername';
/** On a ClusterCredential: the member is asked to impersonate the TKE caller (the credential must be allowed to impersonate there). */
export const impersonateCallerAnnotation = 'platform.tkestack.io/impersonate-caller';

const clustersGR = { group: platformGroupName, resource: 'clusters' };
const connectPath = new RegExp(`^/apis/${platformGroupName.replace(/\./g, '\\.')}/v1/clusters/([^/]+)/(proxy|apply|drain)(?:/(.*))?$`);
/** Idle time allowed to a member's answer that is not a stream. */
const memberTimeoutMs = 60_000;
const longRunningSubresources = new Set(['log', 'exec', 'attach', 'portforward', 'proxy']);

// What of a client's request the member gets: how to read and write the body, nothing that says
// who is asking (an allowlist, so a header invented tomorrow does not carry an identity through).
const forwardedRequestHeaders = [
  'accept',
  'accept-encoding',
  'content-type',
  'content-length',
  'content-encoding',
  'user-agent',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
];
// Hop-by-hop headers are about our connection with the member, not the client's with us.
const droppedResponseHeaders = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'set-cookie',
]);

/** A request into a member, as the authorizer is asked about it. */
export type MemberAttributes = Omit<AuthorizationAttributes, 'user' | 'headers'>;

/** What apply and drain get to act in the member: requests as JSON, each authorized first. */
export interface MemberClient {
  cluster: string;
  /** Refuses (403) unless the caller may make this request (an HTTP method on a member path) inside the member. */
  authorize(method: string, path: string): Promise<void>;
  /** A JSON request to the member; its answer whatever the status (a member's Status included). */
  json(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any }>;
}

/** The attributes of a request at `path` of the member, as its own kube-apiserver parses them. */
export function memberAttributes(method: string, path: string): MemberAttributes {
  const info = parseRequestInfo(method, new URL(path, 'https://member'));
  return attributesOf(info);
}

function attributesOf(info: RequestInfo): MemberAttributes {
  return {
    verb: info.verb,
    isResourceRequest: info.isResourceRequest,
    path: info.path,
    apiGroup: info.apiGroup,
    apiVersion: info.apiVersion,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
  };
}

const headerValue = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.trim() ?? '';

/**
 * Kubernetes API paths that belong to the member when the header names one: the core API and
 * every group but TKE's own, which this server answers (with or without the header).
 */
function isMemberPath(path: string): boolean {
  if (path === '/api' || path.startsWith('/api/')) return true;
  const group = path.match(/^\/apis\/([^/]+)\/./)?.[1];
  return group !== undefined && !group.endsWith('tkestack.io');
}

/**
 * One answer per request: who is asking, what it may do in which cluster, and how the member is
 * reached. Built per request; it holds the decisions' audit callbacks until the response ends.
 */
class MemberAccess {
  private readonly user: UserInfo;
  private cluster?: StoredCluster;

  constructor(
    private readonly ctx: GroupContext,
    private readonly res: ServerResponse,
    user: UserInfo,
    readonly clusterName: string,
  ) {
    this.user = user;
  }

  /**
   * Asks the authorizer about a request inside the member (or about the cluster's own
   * subresource when `inMember` is false). A refusal is 403; a cluster the caller's tenant cannot
   * see is 404, the same as one that does not exist.
   */
  async authorize(attrs: MemberAttributes, inMember = true): Promise<void> {
    const asked: AuthorizationAttributes = { ...attrs, user: this.user, ...(inMember ? { cluster: this.clusterName } : {}) };
    const decision = await this.ctx.authorizer().authorize(asked);
    if (decision.onComplete) {
      const done = decision.onComplete;
      this.res.once('close', () => done(this.res.statusCode));
    }
    if (!decision.allowed) {
      const what = attrs.isResourceRequest
        ? `User "${this.user.username}" cannot ${attrs.verb} resource "${attrs.resource}${attrs.subresource ? '/' + attrs.subresource : ''}" in API group "${attrs.apiGroup}"${attrs.namespace ? ` in the namespace "${attrs.namespace}"` : ''}${inMember ? ` in cluster "${this.clusterName}"` : ''}`
        : `User "${this.user.username}" cannot ${attrs.verb} path "${attrs.path}"${inMember ? ` in cluster "${this.clusterName}"` : ''}`;
      const gr = attrs.isResourceRequest ? { group: attrs.apiGroup, resource: attrs.resource } : { group: '', resource: '' };
      throw new StatusError(
        403,
        'Forbidden',
        `${attrs.isResourceRequest ? `${gr.resource}${gr.group ? '.' + gr.group : ''} ${attrs.name ? `"${attrs.name}" ` : ''}is forbidden: ` : 'forbidden: '}${what}${decision.reason ? `: ${decision.reason}` : ''}`,
        { name: attrs.name, group: gr.group, kind: gr.resource },
      );
    }
    const cluster = await this.loadCluster();
    // TKE's FilterCluster: a tenant's caller reaches its tenant's clusters only, whatever it may
    // do, even what needs no policy (discovery); the decision's own view of which objects exist
    // for the caller applies to the cluster the request goes into as well.
    const ownTenant = isMaster(this.user) || tenantOfUser(this.user) === tenantOf(cluster);
    if (!ownTenant || (decision.objectFilter && !decision.objectFilter(cluster))) throw errors.notFound(clustersGR, this.clusterName);
  }

  private async loadCluster(): Promise<StoredCluster> {
    this.cluster ??= await readCluster(this.ctx.storage, this.clusterName);
    if (!this.cluster || this.cluster.metadata.deletionTimestamp) throw errors.notFound(clustersGR, this.clusterName);
    return this.cluster;
  }

  /** Only after authorize(): the member's connection, and whether the caller is impersonated there. */
  async connection(): Promise<MemberTarget> {
    return memberTarget(this.ctx.storage, await this.loadCluster(), this.user);
  }

  client(): MemberClient {
    return {
      cluster: this.clusterName,
      authorize: (method, path) => this.authorize(memberAttributes(method, path)),
      json: async (method, path, body, contentType) => memberJSON(await this.connection(), method, path, body, contentType),
    };
  }
}

/** A member as one caller reaches it. */
export interface MemberTarget {
  conn: MemberConnection;
  /** Set when the credential opts in to acting as the caller. */
  caller?: UserInfo;
}

/** How `user` reaches the member `cluster`; 503 when the cluster has no address or credential. */
export async function memberTarget(storage: Store, cluster: StoredCluster, user: UserInfo): Promise<MemberTarget> {
  const ref = credentialRefOf(cluster);
  const credential = ref ? await readClusterCredential(storage, ref) : undefined;
  const conn = memberConnection(cluster, credential);
  if (!conn) throw errors.unavailable(`cluster "${cluster.metadata.name}" has no address or no credential to reach it`, 10);
  return { conn, caller: credential?.metadata.annotations?.[impersonateCallerAnnotation] === 'true' ? user : undefined };
}

/** A raw request to the member with the credential's identity; the response streams. */
function openMember(target: MemberTarget, method: string, path: string, headers: Record<string, string | string[]>, longRunning: boolean) {
  const { url, options } = memberRequestOptions(target.conn, longRunning ? 0 : memberTimeoutMs);
  const identity = { ...(options.headers as Record<string, string | string[]>) };
  if (target.caller) {
    for (const k of Object.keys(identity)) if (k.startsWith('impersonate-')) delete identity[k];
    Object.assign(identity, callerImpersonation(target.caller));
  }
  const base = url.pathname.replace(/\/+$/, '');
  const upstream = https.request({
    ...options,
    method,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || 443,
    path: `${base}${path}`,
    headers: { ...headers, ...identity },
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    upstream.once('response', resolve);
    upstream.once('error', err => reject(errors.unavailable(`the member cluster "${target.conn.cluster}" cannot be reached: ${err.message}`)));
    upstream.once('timeout', () => upstream.destroy(new Error('no answer in time')));
  });
  return { upstream, response };
}

/** A JSON request to the member; its answer whatever the status. */
export async function memberJSON(
  target: MemberTarget,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: any }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload) {
    headers['content-type'] = contentType;
    headers['content-length'] = String(payload.length);
  }
  const { upstream, response } = openMember(target, method, path, headers, false);
  upstream.end(payload);
  const answer = await response;
  const chunks: Buffer[] = [];
  for await (const c of answer) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* a member's answer that is not JSON is kept as text */
  }
  return { status: answer.statusCode ?? 502, body: parsed };
}

/** The TKE caller as the member should see it: its name, its own groups (never system: ones), its extra. */
function callerImpersonation(user: UserInfo): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = { 'impersonate-user': user.username };
  const groups = user.groups.filter(g => !g.startsWith('system:'));
  if (groups.length) headers['impersonate-group'] = groups;
  for (const [k, v] of Object.entries(user.extra ?? {})) headers[`impersonate-extra-${encodeURIComponent(k)}`] = v;
  return headers;
}

function forwardedHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of forwardedRequestHeaders) {
    const v = req.headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function answerHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !droppedResponseHeaders.has(k)) out[k] = v;
  return out;
}

/** Streams the client's request to the member and the member's answer back, as they come. */
async function relay(access: MemberAccess, req: IncomingMessage, res: ServerResponse, memberPath: string, info: RequestInfo): Promise<void> {
  const longRunning = info.verb === 'watch' || longRunningSubresources.has(info.subresource);
  const { upstream, response } = openMember(await access.connection(), req.method ?? 'GET', memberPath, forwardedHeaders(req), longRunning);
  res.once('close', () => upstream.destroy());
  req.pipe(upstream);
  const answer = await response;
  res.writeHead(answer.statusCode ?? 502, answerHeaders(answer.headers));
  // A watch's headers go out now, not with its first event.
  res.flushHeaders();
  await new Promise<void>(resolve => {
    answer.pipe(res);
    answer.once('end', resolve);
    answer.once('error', () => {
      res.destroy();
      resolve();
    });
    res.once('close', resolve);
  });
}

/** The member path a clusters/<name>/proxy request names: ?path=, or what follows /proxy/. */
function proxiedPath(url: URL, suffix: string | undefined): string {
  const named = url.searchParams.get('path') ?? (suffix !== undefined ? `/${suffix}` : '');
  if (!named || named === '/') throw errors.badRequest('invalid path');
  const target = new URL(named.startsWith('/') ? named : `/${named}`, 'https://member');
  // TKE's rule: the platform API of a member that is itself TKE would send it round in circles.
  if (target.pathname.startsWith(`/apis/${platformGroupName}/`)) throw errors.badRequest('cycle dispatch');
  for (const [k, v] of url.searchParams) if (k !== 'path') target.searchParams.append(k, v);
  return `${target.pathname}${target.search}`;
}

async function authenticated(authenticate: () => Promise<UserInfo | undefined>): Promise<UserInfo> {
  const user = await authenticate();
  if (!user) throw errors.unauthorized();
  return user;
}

/** The routes of member access: the header form and the connect subresources of clusters. */
export function memberRoutes(ctx: GroupContext): Route[] {
  return [
    {
      matches: (req, url) => connectPath.test(url.pathname) || (headerValue(req.headers[clusterNameHeader]) !== '' && isMemberPath(url.pathname)),
      async handle({ req, res, url, authenticate }) {
        const user = await authenticated(authenticate);
        const method = req.method ?? 'GET';
        const connect = url.pathname.match(connectPath);
        if (!connect) {
          const access = new MemberAccess(ctx, res, user, headerValue(req.headers[clusterNameHeader]));
          const info = parseRequestInfo(method, url);
          await access.authorize(attributesOf(info));
          return relay(access, req, res, `${url.pathname}${url.search}`, info);
        }
        const [, rawName, subresource, suffix] = connect;
        const access = new MemberAccess(ctx, res, user, decodeURIComponent(rawName));
        const outer = parseRequestInfo(method, new URL(`/apis/${platformGroupName}/v1/clusters/${rawName}/${subresource}`, url));
        // The connect subresource itself, as the pipeline would ask (TKE's createClusterApply, ...).
        await access.authorize(attributesOf(outer), false);
        if (subresource === 'proxy') {
          const memberPath = proxiedPath(url, suffix);
          const info = parseRequestInfo(method, new URL(memberPath, 'https://member'));
          await access.authorize(attributesOf(info));
          return relay(access, req, res, memberPath, info);
        }
        if (method !== 'POST') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
        if (subresource === 'apply') {
          const { status, body } = await applyManifests(access.client(), req, { notUpdate: url.searchParams.get('notUpdate') === 'true' });
          return sendJSON(res, status, body);
        }
        const node = suffix ?? url.searchParams.get('path') ?? '';
        const { status, body } = await drainNode(access.client(), ctx, node.replace(/^\/+|\/+$/g, ''));
        return sendJSON(res, status, body);
      },
    },
  ];
}

function sendJSON(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

/**
 * clusters/proxy, clusters/apply and clusters/drain as discovery lists them. Their requests never
 * reach these handlers: the member route takes them first (streams and raw bodies do not fit a
 * subresource that returns one object), so arriving here means that route is not installed.
 */
function connectSubresource(kind: string, verbs: CustomSubresource['verbs']): CustomSubresource {
  return {
    verbs,
    kind,
    handle: () => Promise.reject(errors.internal('member access is not installed on this server')),
  };
}

// Kinds as TKE's discovery names them (the objects its connecters' New() makes).
export const memberConnectSubresources: Record<string, CustomSubresource> = {
  proxy: connectSubresource('ProxyOptions', ['get', 'create', 'update']),
  apply: connectSubresource('Cluster', ['create']),
  drain: connectSubresource('ProxyOptions', ['create']),
};
