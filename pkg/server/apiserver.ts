// The HTTP pipeline: request info -> authentication -> authorization -> handler, with
// metrics, logging, health checks, discovery and OpenAPI. It knows no kind by name.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AdmissionChain } from '../rest/admission.ts';
import { errors, StatusError } from '../rest/errors.ts';
import type { RequestContext, ResourceDefinition, UserInfo } from '../rest/resource.ts';
import { RegistryStore } from '../rest/store.ts';
import { StorageError, StorageValueError, type Store } from '../storage/interface.ts';
import { isConnectionError } from '../storage/postgres.ts';
import type { Authenticator } from './authn.ts';
import type { Authorizer } from './authz.ts';
import { aggregatedConversions, Discovery } from './discovery.ts';
import { ResourceHandlers, send } from './handlers.ts';
import { Metrics } from './metrics.ts';
import { negotiate } from './negotiate.ts';
import { isTrue, parseRequestInfo, type RequestInfo } from './requestinfo.ts';

export const maxRequestBodyBytes = 3 * 1024 * 1024;

/** kube-apiserver's defaults for --max-requests-inflight and --max-mutating-requests-inflight. */
export const defaultMaxRequestsInflight = 400;
export const defaultMaxMutatingRequestsInflight = 200;

const nonMutatingVerbs = new Set(['get', 'list', 'watch', 'head']);
// As kube-apiserver's BasicLongRunningRequestCheck: streams that last as long as the client wants.
const longRunningSubresources = new Set(['proxy', 'exec', 'attach', 'log', 'portforward']);
/** /version's compiler: tsx when the sources run as they are (npm start, the tests), tsc for the build in dist/. */
const compiler = import.meta.url.endsWith('.ts') ? 'tsx' : 'tsc';

export interface OpenAPIProvider {
  v2(): unknown;
  v3Index(): unknown;
  v3(group: string, version: string): unknown | undefined;
}

export interface HealthCheck {
  name: string;
  check(): Promise<void>;
}

/**
 * A path the server answers with a group's own handler rather than as a Kubernetes API: protocols
 * that sit beside it (an OIDC issuer, a registry's token service). No authentication or
 * authorization of the server's runs first: such protocols have their own (a password in a form,
 * a token in a challenge), or serve documents anyone may read (discovery, JWKS). A route that
 * wants the server's own credentials asks for them with `authenticate`.
 */
export interface Route {
  /** The path it answers, and everything below it: `/oidc` answers `/oidc/keys`. */
  prefix?: string;
  /**
   * Whether it answers this request, asked before the Kubernetes API is dispatched (and, with a
   * prefix, only for paths under it): routes chosen by a header or a path pattern rather than a
   * prefix of their own. A route has a prefix, this, or both.
   */
  matches?(req: IncomingMessage, url: URL): boolean;
  handle(r: RouteRequest): Promise<void>;
}

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The caller, as the server's authenticators see it (bearer token, client certificate, front proxy). */
  authenticate(): Promise<UserInfo | undefined>;
}

export interface APIServerConfig {
  definitions: ResourceDefinition[];
  /** Paths served by groups' own handlers (see Route). */
  routes?: Route[];
  storage: Store;
  admission?: AdmissionChain;
  authenticator: Authenticator;
  authorizer: Authorizer;
  openapi: OpenAPIProvider;
  logger: Logger;
  /** Verbosity as -v: at 4 and above every request is logged. */
  verbosity: number;
  healthChecks?: HealthCheck[];
  version: { gitVersion: string };
  /**
   * Most non-mutating requests served at once (--max-requests-inflight); more are refused with
   * 429 and Retry-After. Watches and other long-running requests, health checks and /metrics do
   * not count. 0 = no limit; default 400.
   */
  maxRequestsInflight?: number;
  /** The same for mutating requests (--max-mutating-requests-inflight); 0 = no limit; default 200. */
  maxMutatingRequestsInflight?: number;
}

const anonymous: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

export class APIServer {
  readonly metrics = new Metrics();
  readonly stores = new Map<string, RegistryStore>();
  private readonly discovery: Discovery;
  private readonly handlers: ResourceHandlers;
  private readonly watches = new Set<() => void>();
  /** Long-running responses that are not this server's own watches (proxied streams, logs). */
  private readonly streams = new Set<ServerResponse>();
  private inflight = 0;
  private readonly limited = { readOnly: 0, mutating: 0 };
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly config: APIServerConfig) {
    const admission = config.admission ?? new AdmissionChain();
    for (const def of config.definitions) {
      this.stores.set(`${def.group}/${def.version}/${def.resource}`, new RegistryStore(def, config.storage, admission));
    }
    this.discovery = new Discovery(config.definitions);
    this.handlers = new ResourceHandlers(this.stores, config.storage);
  }

  /** The store of a kind, for controllers and strategies that act on other kinds. */
  store(group: string, resource: string): RegistryStore {
    for (const s of this.stores.values()) if (s.def.group === group && s.def.resource === resource) return s;
    throw new Error(`no resource ${resource}.${group}`);
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    let url: URL;
    let info: RequestInfo;
    try {
      url = new URL(req.url ?? '/', 'https://localhost');
      info = parseRequestInfo(req.method ?? 'GET', url);
    } catch (err) {
      // A URL that cannot even be parsed is the client's mistake, never a crash.
      const root = new URL('https://localhost/');
      this.fail(res, err instanceof StatusError ? err : errors.badRequest('malformed request URL'), parseRequestInfo('GET', root));
      return;
    }
    // Watches and streams run until the client or the server ends them: a graceful stop ends
    // them rather than waiting for them to finish.
    const longRunning = isLongRunning(info);
    if (longRunning) this.streams.add(res);
    else this.inflight++;
    res.on('close', () => {
      if (longRunning) this.streams.delete(res);
      else {
        this.inflight--;
        if (this.inflight === 0) for (const f of this.idleWaiters.splice(0)) f();
      }
      this.record(req, res, info, started);
    });
    this.serve(req, res, url, info).catch(err => this.fail(res, err, info));
  };

  private async serve(req: IncomingMessage, res: ServerResponse, url: URL, info: RequestInfo): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (
      path === '/livez' ||
      path === '/healthz' ||
      path === '/readyz' ||
      path.startsWith('/livez/') ||
      path.startsWith('/readyz/') ||
      path.startsWith('/healthz/')
    ) {
      return this.health(res, path, url);
    }
    if (path === '/version') return send(res, 200, this.versionInfo(), { encoding: 'json', contentType: 'application/json' });
    const route = this.config.routes?.find(
      r => (r.prefix === undefined || path === r.prefix || path.startsWith(`${r.prefix}/`)) && (r.matches ? r.matches(req, url) : r.prefix !== undefined),
    );
    if (route) {
      this.admit(res, info, path, anonymous);
      return route.handle({ req, res, url, authenticate: () => this.config.authenticator.authenticate(req) });
    }

    let user = await this.config.authenticator.authenticate(req);
    if (!user) {
      if (!this.handlers.allowsAnonymous(info)) throw errors.unauthorized();
      user = anonymous;
    }
    (req as IncomingMessage & { user?: UserInfo }).user = user;
    this.admit(res, info, path, user);

    const decision = await this.config.authorizer.authorize({
      user,
      verb: info.verb,
      isResourceRequest: info.isResourceRequest,
      path,
      apiGroup: info.apiGroup,
      apiVersion: info.apiVersion,
      resource: info.resource,
      subresource: info.subresource,
      namespace: info.namespace,
      name: info.name,
      headers: req.headers,
    });
    if (decision.onComplete) {
      const done = decision.onComplete;
      res.once('close', () => done(res.statusCode));
    }
    if (!decision.allowed) {
      const what = info.isResourceRequest
        ? `User "${user.username}" cannot ${info.verb} resource "${info.resource}${info.subresource ? '/' + info.subresource : ''}" in API group "${info.apiGroup}"${info.namespace ? ` in the namespace "${info.namespace}"` : ' at the cluster scope'}`
        : `User "${user.username}" cannot ${info.verb} path "${path}"`;
      throw new StatusError(
        403,
        'Forbidden',
        `${info.isResourceRequest ? `${info.resource}${info.apiGroup ? '.' + info.apiGroup : ''} ${info.name ? `"${info.name}" ` : ''}is forbidden: ` : 'forbidden: '}${what}${decision.reason ? `: ${decision.reason}` : ''}`,
        { name: info.name, group: info.apiGroup, kind: info.resource },
      );
    }

    if (info.isResourceRequest) {
      if (this.draining && info.verb === 'watch') throw errors.unavailable('the server is shutting down');
      const store = this.handlers.find(info);
      if (!store) throw errors.notFound({ group: info.apiGroup, resource: info.resource }, info.name || info.resource);
      const ask = async (verb: string, subresource = '') =>
        (
          await this.config.authorizer.authorize({
            user,
            verb,
            isResourceRequest: true,
            path,
            apiGroup: info.apiGroup,
            apiVersion: info.apiVersion,
            resource: info.resource,
            subresource,
            namespace: info.namespace,
            name: info.name,
          })
        ).allowed;
      const ctx: RequestContext = {
        user,
        namespace: info.namespace,
        subresource: info.subresource,
        dryRun: this.dryRun(url),
        objectFilter: decision.objectFilter,
        // Secret fields are for those who may write them (as Kubernetes keeps Secrets out of `view`).
        revealSecrets: store.def.secretFields?.length ? await ask('update') : undefined,
        authorize: verb => ask(verb),
        source: req.socket.remoteAddress,
      };
      return this.handlers.handle(
        {
          req,
          res,
          url,
          info,
          ctx,
          body: () => readBody(req),
          trackWatch: stop => {
            this.watches.add(stop);
            return () => this.watches.delete(stop);
          },
        },
        store,
      );
    }
    return this.nonResource(req, res, path);
  }

  /**
   * kube-apiserver's max-in-flight filter: a request takes a seat of its kind until its response
   * is finished, or is refused with 429 when there is none. It runs after authentication, as
   * there: system:masters is still served without a seat (a super-admin always gets an answer).
   */
  private admit(res: ServerResponse, info: RequestInfo, path: string, user: UserInfo): void {
    if (isLongRunning(info)) return;
    if (path === '/metrics') return;
    const kind = nonMutatingVerbs.has(info.verb) ? 'readOnly' : 'mutating';
    const limit =
      kind === 'readOnly'
        ? (this.config.maxRequestsInflight ?? defaultMaxRequestsInflight)
        : (this.config.maxMutatingRequestsInflight ?? defaultMaxMutatingRequestsInflight);
    if (limit > 0 && this.limited[kind] >= limit) {
      if (user.groups.includes('system:masters')) return;
      throw errors.tooManyRequests('Too many requests, please try again later.', 1);
    }
    this.limited[kind]++;
    this.metrics.inflight.set({ request_kind: kind }, this.limited[kind]);
    res.once('close', () => {
      this.limited[kind]--;
      this.metrics.inflight.set({ request_kind: kind }, this.limited[kind]);
    });
  }

  private dryRun(url: URL): boolean {
    const values = url.searchParams.getAll('dryRun');
    if (values.length === 0) return false;
    if (values.some(v => v !== 'All')) throw errors.badRequest(`dryRun: Unsupported value: ${JSON.stringify(values)}: supported values: "All"`);
    return true;
  }

  private async nonResource(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    const accept = req.headers.accept;
    if (path === '/api' || path === '/apis') {
      const n = negotiate(accept, aggregatedConversions);
      if (n.as === 'APIGroupDiscoveryList') {
        const version = n.contentType.includes('v=v2beta1') ? 'apidiscovery.k8s.io/v2beta1' : 'apidiscovery.k8s.io/v2';
        return send(res, 200, this.discovery.aggregated(version, path === '/api'), n);
      }
      return send(res, 200, path === '/api' ? this.discovery.apiVersions() : this.discovery.groupList(), n);
    }
    const n = negotiate(accept);
    // /api/v1 is the core group's resource list, as /apis/<group>/<version> is a named group's.
    const m = path.match(/^\/apis\/([^/]+)(?:\/([^/]+))?$/) ?? path.match(/^\/api\/()(v1)$/);
    if (m) {
      const doc = m[2] ? this.discovery.resourceList(m[1], m[2]) : this.discovery.group(m[1]);
      if (!doc) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
      return send(res, 200, doc, n);
    }
    // Documents are JSON only; a client asking for protobuf alone got 406 from negotiate() above.
    if (path === '/openapi/v2') return send(res, 200, this.config.openapi.v2(), { encoding: 'json', contentType: 'application/json' });
    if (path === '/openapi/v3') return send(res, 200, this.config.openapi.v3Index(), { encoding: 'json', contentType: 'application/json' });
    const v3 = path.match(/^\/openapi\/v3\/apis\/([^/]+)\/([^/]+)$/) ?? path.match(/^\/openapi\/v3\/api\/()(v1)$/);
    if (v3) {
      const doc = this.config.openapi.v3(v3[1], v3[2]);
      if (!doc) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
      res.setHeader('Cache-Control', 'public, immutable');
      return send(res, 200, doc, { encoding: 'json', contentType: 'application/json' });
    }
    if (path === '/metrics') {
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
      res.end(text);
      return;
    }
    throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  }

  private async health(res: ServerResponse, path: string, url: URL): Promise<void> {
    const [base, only] = path.slice(1).split('/');
    const checks: HealthCheck[] = [{ name: 'ping', check: async () => {} }];
    if (base !== 'livez') {
      checks.push(...(this.config.healthChecks ?? []));
      if (base === 'readyz')
        checks.push({
          name: 'shutdown',
          check: async () => {
            if (this.draining) throw new Error('server is shutting down');
          },
        });
    }
    const selected = only ? checks.filter(c => c.name === only) : checks;
    if (only && selected.length === 0) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const results = await Promise.all(
      selected.map(async c => {
        try {
          await c.check();
          return { name: c.name, ok: true };
        } catch (err) {
          return { name: c.name, ok: false, why: (err as Error).message };
        }
      }),
    );
    const ok = results.every(r => r.ok);
    const verbose = isTrue(url.searchParams.get('verbose')) || url.searchParams.has('verbose');
    const text =
      verbose || !ok
        ? results.map(r => `[${r.ok ? '+' : '-'}]${r.name} ${r.ok ? 'ok' : 'failed: ' + r.why}`).join('\n') + `\n${base} check ${ok ? 'passed' : 'failed'}\n`
        : 'ok';
    res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end(text);
  }

  private versionInfo() {
    return {
      major: '1',
      minor: '32',
      gitVersion: this.config.version.gitVersion,
      gitCommit: '',
      gitTreeState: 'clean',
      buildDate: '',
      goVersion: `node${process.versions.node}`,
      compiler,
      platform: `${process.platform}/${process.arch}`,
    };
  }

  private fail(res: ServerResponse, err: unknown, info: RequestInfo): void {
    const status = this.statusOf(err, info);
    // A stream already under way cannot turn into a Status: cutting it tells the client it is incomplete.
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    if (status.code === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="tke-apiserver"');
    const retryAfter = status.status.details?.retryAfterSeconds;
    if (status.code === 429 || (retryAfter !== undefined && retryAfter > 0)) res.setHeader('Retry-After', String(retryAfter ?? 1));
    send(res, status.code, status.status, { encoding: 'json', contentType: 'application/json' });
  }

  /**
   * The Status for an error that reached the top. Storage errors that no layer translated are
   * still the client's to act on (retry, fix its data), so they are answered as such and logged
   * without a stack; only what nobody understood is a 500 at error level.
   */
  private statusOf(err: unknown, info: RequestInfo): StatusError {
    if (err instanceof StatusError) return err;
    const where = { path: info.path, verb: info.verb };
    if (err instanceof StorageValueError) {
      this.config.logger.warn({ ...where, reason: err.message }, 'request refused: the database cannot store its data');
      return err.code === 'TooLarge' ? errors.tooLarge(err.message) : errors.badRequest(err.message);
    }
    if (err instanceof StorageError) {
      const gr = { group: err.key?.group ?? info.apiGroup, resource: err.key?.resource ?? info.resource };
      const name = err.key?.name ?? info.name;
      switch (err.code) {
        case 'Unavailable':
          this.config.logger.warn({ ...where, reason: err.message }, 'request failed: storage unavailable');
          return errors.unavailable(err.message);
        case 'NotFound':
          return errors.notFound(gr, name);
        case 'AlreadyExists':
          return errors.alreadyExists(gr, name);
        case 'Conflict':
          return errors.conflict(gr, name, 'the object has been modified; please apply your changes to the latest version and try again');
        case 'Expired':
          return errors.gone(err.message);
        case 'InvalidContinue':
          return errors.badRequest(`continue key is not valid: ${err.message}`);
        case 'TooLargeResourceVersion':
          return errors.tooLargeResourceVersion(err.message);
      }
    }
    if (isConnectionError(err)) {
      const reason = (err as Error).message;
      this.config.logger.warn({ ...where, reason }, 'request failed: database unavailable');
      return errors.unavailable(`database unavailable: ${reason}`);
    }
    this.config.logger.error({ err, ...where }, 'request failed');
    return errors.internal('an unexpected error occurred; see the server log');
  }

  private record(req: IncomingMessage, res: ServerResponse, info: RequestInfo, started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const labels = {
      verb: (info.isResourceRequest ? info.verb : (req.method ?? '')).toUpperCase(),
      group: info.apiGroup,
      version: info.apiVersion,
      resource: info.resource,
      subresource: info.subresource,
      scope: !info.isResourceRequest ? '' : info.namespace ? 'namespace' : info.name ? 'resource' : 'cluster',
      component: 'apiserver',
    };
    this.metrics.requests.inc({ ...labels, code: String(res.statusCode) });
    if (info.verb !== 'watch') this.metrics.duration.observe(labels, seconds);
    if (this.config.verbosity >= 4) {
      const user = (req as IncomingMessage & { user?: UserInfo }).user;
      this.config.logger.info({ verb: info.verb, uri: req.url, user: user?.username, code: res.statusCode, latencyMs: Math.round(seconds * 1000) }, 'request');
    }
  }

  /**
   * Graceful stop: readiness turns false, watches end cleanly (clients re-watch elsewhere),
   * in-flight requests finish, up to `timeoutMs`.
   */
  async drain(timeoutMs = 10_000): Promise<void> {
    this.draining = true;
    for (const stop of [...this.watches]) stop();
    // What is still streaming is not a watch of ours that could end with a clean last chunk
    // (a member cluster's watch or log through the proxy): its connection is closed.
    setImmediate(() => {
      for (const res of [...this.streams]) if (!res.writableEnded) res.destroy();
    });
    if (this.inflight === 0) return;
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function isLongRunning(info: RequestInfo): boolean {
  return info.verb === 'watch' || (info.isResourceRequest && longRunningSubresources.has(info.subresource));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > maxRequestBodyBytes) {
    req.resume();
    throw errors.tooLarge(`Request entity too large: limit is ${maxRequestBodyBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxRequestBodyBytes) {
      req.resume();
      throw errors.tooLarge(`Request entity too large: limit is ${maxRequestBodyBytes}`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
