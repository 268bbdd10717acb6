// Parses a request path into what authorization and the handlers need, like
// k8s.io/apiserver's RequestInfoFactory.
import { errors } from '../rest/errors.ts';

export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  /** get, list, watch, create, update, patch, delete, deletecollection (resource requests); the HTTP method lower-cased otherwise. */
  verb: string;
  apiPrefix: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  parts: string[];
}

const methodVerbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', GET: 'get', HEAD: 'get', DELETE: 'delete' };

export function parseRequestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    parts: [],
  };
  let segments: string[];
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw errors.badRequest(`malformed URL path: ${JSON.stringify(path.slice(0, 200))}`);
  }
  // No name, namespace or parameter holds a NUL, and PostgreSQL text cannot: refused here, it
  // never reaches a query. (Percent-decoding cannot make a lone surrogate: invalid UTF-8 throws above.)
  if (segments.some(s => s.includes('\0'))) throw errors.badRequest('malformed URL path: it contains a NUL character (%00)');
  for (const [key, value] of url.searchParams) {
    if (key.includes('\0') || value.includes('\0')) {
      throw errors.badRequest(`malformed query parameter ${JSON.stringify(key.slice(0, 100))}: it contains a NUL character (%00)`);
    }
  }
  if (segments[0] !== 'apis' && segments[0] !== 'api') return info;
  info.apiPrefix = segments[0];
  let rest = segments.slice(1);
  if (info.apiPrefix === 'apis') {
    if (rest.length < 2) return info; // /apis, /apis/<group>: discovery
    info.apiGroup = rest[0];
    rest = rest.slice(1);
  }
  if (rest.length < 2) {
    info.apiVersion = rest[0] ?? '';
    return info;
  } // /apis/<g>/<v>: discovery
  info.apiVersion = rest[0];
  rest = rest.slice(1);
  info.isResourceRequest = true;
  info.verb = methodVerbs[method] ?? method.toLowerCase();

  // /namespaces/<ns>/<resource>... is namespaced, /namespaces/<ns> alone is the namespace object itself.
  // ...except /namespaces/<ns>/status and /finalize, subresources of a cluster-scoped
  // `namespaces` resource, exactly as kube-apiserver parses them.
  const namespaceSubresource = rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize');
  if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSubresource) {
    info.namespace = rest[1];
    rest = rest.slice(2);
  }
  info.parts = rest;
  info.resource = rest[0] ?? '';
  info.name = rest[1] ?? '';
  info.subresource = rest[2] ?? '';

  const q = url.searchParams;
  if (info.name === '') {
    if (info.verb === 'get') info.verb = isTrue(q.get('watch')) ? 'watch' : 'list';
    else if (info.verb === 'delete') info.verb = 'deletecollection';
  } else if (info.verb === 'get' && isTrue(q.get('watch'))) {
    info.verb = 'watch';
  }
  return info;
}

export function isTrue(value: string | null): boolean {
  return value === 'true' || value === '1';
}
