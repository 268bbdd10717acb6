// /v2/ at this server's address: the Docker Registry HTTP API v2, streamed to the engine with the
// tenant put into the image name (names.ts) and taken out again of what the engine answers
// (upload locations, the token challenge). Nothing is buffered: blobs flow through as they come.
// Authorization stays the engine's: it accepts only tokens this server's token service signed.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { tokenPath } from './token.ts';
import { engineName, parseClientName, parseEngineName, requestHost, sendRegistryError, tenantOfHost } from './names.ts';

/** distribution's routes below a repository name. */
const repositoryRoute = /^\/v2\/(.+)\/(tags\/list|manifests\/[^/]+|blobs\/uploads\/[^/]*|blobs\/[^/]+)$/;
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

export class EngineUnavailable extends Error {}

export interface ProxyDeps {
  /** The engine's base URL; throws EngineUnavailable with a message for the client when there is none. */
  upstream(): Promise<string>;
  domainSuffix?: string;
  logger: Logger;
}

function copyHeaders(from: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(from)) if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  return out;
}

/** The engine's name of an image in a scope or path, back to the client's name (only the request's tenant). */
function clientNameOf(name: string, tenant: string): string {
  const image = parseEngineName(name);
  return image && image.tenant === tenant ? `${image.namespace}/${image.repo}` : name;
}

/** The challenge, pointing at the token service on the host the client reached, with client names in its scope. */
function rewriteChallenge(header: string, host: string, tenant: string): string {
  if (!/^bearer /i.test(header)) return header;
  const params = [...header.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => {
    if (k === 'realm' && host) return [k, `https://${host}${tokenPath}`];
    if (k === 'scope') {
      return [
        k,
        v
          .split(' ')
          .map(scope => {
            const first = scope.indexOf(':');
            const last = scope.lastIndexOf(':');
            return first > 0 && last > first ? `${scope.slice(0, first + 1)}${clientNameOf(scope.slice(first + 1, last), tenant)}${scope.slice(last)}` : scope;
          })
          .join(' '),
      ];
    }
    return [k, v];
  });
  return `Bearer ${params.map(([k, v]) => `${k}="${v}"`).join(',')}`;
}

/** An upload location of the engine (a path, or a URL on the engine) as a path under this server. */
function rewriteLocation(location: string, upstream: URL, tenant: string): string {
  let path = location;
  if (/^https?:\/\//i.test(location)) {
    const u = new URL(location);
    if (u.origin !== upstream.origin) return location;
    path = u.pathname + u.search;
  }
  const prefix = `/v2/${tenant}/`;
  return path.startsWith(prefix) ? `/v2/${path.slice(prefix.length)}` : path;
}

export function proxyHandler(deps: ProxyDeps) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const tenant = tenantOfHost(req.headers.host, deps.domainSuffix);
    if (!tenant) {
      sendRegistryError(res, 404, 'NAME_INVALID', 'the host names no valid tenant');
      return;
    }
    let path: string;
    if (url.pathname === '/v2' || url.pathname === '/v2/') {
      path = '/v2/';
    } else {
      const m = repositoryRoute.exec(url.pathname);
      // The catalog would list every tenant's repositories: not served.
      const image = m && parseClientName(tenant, m[1]);
      if (!m || !image) {
        sendRegistryError(
          res,
          404,
          m ? 'NAME_INVALID' : 'UNSUPPORTED',
          m ? 'invalid repository name: expected <namespace>/<repository>' : 'not a registry API path served here',
        );
        return;
      }
      path = `/v2/${engineName(image)}/${m[2]}`;
    }
    let base: URL;
    try {
      base = new URL(await deps.upstream());
    } catch (err) {
      const message = err instanceof EngineUnavailable ? err.message : 'the registry engine is not available';
      if (!(err instanceof EngineUnavailable)) deps.logger.error({ err }, 'the registry engine could not be started');
      sendRegistryError(res, 503, 'UNAVAILABLE', message, { 'Retry-After': '5' });
      return;
    }
    const headers = copyHeaders(req.headers);
    const target = new URL(path + url.search, base);
    const send = target.protocol === 'https:' ? https.request : http.request;
    const upstreamReq = send(target, { method: req.method, headers }, upstreamRes => {
      upstreamRes.on('error', () => res.destroy());
      try {
        const out = copyHeaders(upstreamRes.headers);
        if (typeof out.location === 'string') out.location = rewriteLocation(out.location, base, tenant);
        if (typeof out['www-authenticate'] === 'string') out['www-authenticate'] = rewriteChallenge(out['www-authenticate'], requestHost(req), tenant);
        res.writeHead(upstreamRes.statusCode ?? 502, out);
      } catch (err) {
        // An answer this server cannot pass on (a header node refuses) is the engine's fault, not a crash.
        deps.logger.warn({ err }, 'registry engine answer not passed on');
        upstreamRes.resume();
        sendRegistryError(res, 502, 'UNKNOWN', 'the registry engine gave an answer that cannot be passed on');
        return;
      }
      upstreamRes.pipe(res);
    });
    upstreamReq.on('error', err => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      deps.logger.warn({ err }, 'registry engine request failed');
      sendRegistryError(res, 503, 'UNAVAILABLE', 'the registry engine did not answer', { 'Retry-After': '5' });
    });
    // A client that goes away takes its upload to the engine with it.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  };
}
