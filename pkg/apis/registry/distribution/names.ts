// How image names the clients use map to names in the engine. As in TKE, a client names
// `<namespace>/<repo>` and the tenant comes from the host it reached (`<tenant>.<domain suffix>`,
// else the default tenant). TKE joins them as `<tenant>-<namespace>`, which is ambiguous when
// either contains '-'; here the tenant is a path component of its own: `<tenant>/<namespace>/<repo>`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defaultTenantID } from '../../tke/tenant.ts';

/** distribution's reference grammar for one path component of a repository name. */
const componentPattern = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tenantPattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** distribution refuses longer names; the tenant counts towards the engine's limit. */
const maxNameLength = 255;

export interface ImageName {
  tenant: string;
  /** The registry Namespace's spec.name. */
  namespace: string;
  /** The Repository's spec.name: everything after the namespace (may contain '/'). */
  repo: string;
}

/** The tenant a request addresses: the host's first label under the domain suffix, else the default tenant. */
export function tenantOfHost(host: string | undefined, domainSuffix: string | undefined): string | undefined {
  if (!domainSuffix) return defaultTenantID;
  const name = String(host ?? '')
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
  const suffix = `.${domainSuffix.replace(/^\./, '').toLowerCase()}`;
  if (!name.endsWith(suffix)) return defaultTenantID;
  const tenant = name.slice(0, -suffix.length);
  return tenantPattern.test(tenant) ? tenant : undefined;
}

/** `<namespace>/<repo>` as a client names it, checked against distribution's grammar; undefined if malformed. */
export function parseClientName(tenant: string, name: string): ImageName | undefined {
  const parts = name.split('/');
  if (parts.length < 2 || !parts.every(p => componentPattern.test(p))) return undefined;
  if (tenant.length + 1 + name.length > maxNameLength) return undefined;
  return { tenant, namespace: parts[0], repo: parts.slice(1).join('/') };
}

/** The engine's name of an image: the tenant first. */
export function engineName(n: ImageName): string {
  return `${n.tenant}/${n.namespace}/${n.repo}`;
}

/** The inverse of engineName; undefined for names this server never makes. */
export function parseEngineName(name: string): ImageName | undefined {
  const slash = name.indexOf('/');
  if (slash <= 0) return undefined;
  const tenant = name.slice(0, slash);
  if (!tenantPattern.test(tenant)) return undefined;
  return parseClientName(tenant, name.slice(slash + 1));
}

/** The registry API's error document (distribution's errcode JSON). */
export function sendRegistryError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Docker-Distribution-API-Version': 'registry/2.0',
    ...headers,
  });
  res.end(body);
}

/** The host a client reached, as it will reach it again (for the token realm it is sent to). */
export function requestHost(req: IncomingMessage): string {
  const host = String(req.headers.host ?? '');
  // Anything but a host[:port] would let a client inject into the challenge header.
  return /^[A-Za-z0-9.\-[\]:]+$/.test(host) ? host : '';
}
