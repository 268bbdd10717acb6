// How the server reaches a member cluster's kube-apiserver: the cluster's address and the
// credential it names, as TKE's util.BuildClientSet does it. One place for the controller's
// client-node calls and for the raw requests the proxy forwards.
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { clusterURL } from './cluster.ts';
import type { StoredCluster, StoredClusterCredential } from './stored.ts';

export interface MemberConnection {
  cluster: string;
  /** https://host:port[/path] of the member's kube-apiserver. */
  server: string;
  caCert?: Buffer;
  clientCert?: Buffer;
  clientKey?: Buffer;
  token?: string;
  /** Whom the credential acts as (its `as`, `as-groups`, `as-user-extra`), when it says. */
  impersonate?: { user: string; groups: string[]; extra: Record<string, string> };
}

const bytesOf = (v: string | undefined): Buffer | undefined => (v ? Buffer.from(v, 'base64') : undefined);

/** undefined when the cluster has no address or no credential (a reason for Failed, not an exception). */
export function memberConnection(cluster: StoredCluster, credential: StoredClusterCredential | undefined): MemberConnection | undefined {
  const server = clusterURL(cluster);
  if (!server || !credential) return undefined;
  return {
    cluster: cluster.metadata.name!,
    server,
    caCert: bytesOf(credential.caCert),
    clientCert: bytesOf(credential.clientCert),
    clientKey: bytesOf(credential.clientKey),
    token: credential.token || undefined,
    impersonate: credential.as
      ? {
          user: credential.as,
          groups: credential['as-groups'] ?? [],
          extra: credential['as-user-extra'] ?? {},
        }
      : undefined,
  };
}

/** A client-node KubeConfig for the member, to use its typed APIs. */
export function kubeConfigFor(conn: MemberConnection): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: conn.cluster,
        server: conn.server,
        caData: conn.caCert?.toString('base64'),
        // Without a CA, TKE connects without checking the server's certificate (rest.Config.Insecure).
        skipTLSVerify: !conn.caCert,
      },
    ],
    users: [
      {
        name: 'tke',
        token: conn.token,
        certData: conn.clientCert?.toString('base64'),
        keyData: conn.clientKey?.toString('base64'),
        ...(conn.impersonate ? { impersonateUser: conn.impersonate.user } : {}),
      },
    ],
    contexts: [{ name: 'tke', cluster: conn.cluster, user: 'tke' }],
    currentContext: 'tke',
  });
  return kc;
}

/** TLS options and headers for a raw request to the member (the proxy streams through these). */
export function memberRequestOptions(conn: MemberConnection, timeoutMs = 30_000): { url: URL; options: https.RequestOptions } {
  const url = new URL(conn.server);
  const headers: Record<string, string | string[]> = {};
  if (conn.token) headers.authorization = `Bearer ${conn.token}`;
  if (conn.impersonate) {
    headers['impersonate-user'] = conn.impersonate.user;
    if (conn.impersonate.groups.length) headers['impersonate-group'] = conn.impersonate.groups;
    for (const [k, v] of Object.entries(conn.impersonate.extra)) headers[`impersonate-extra-${encodeURIComponent(k)}`] = v;
  }
  return {
    url,
    options: {
      ca: conn.caCert,
      cert: conn.clientCert,
      key: conn.clientKey,
      rejectUnauthorized: Boolean(conn.caCert),
      headers,
      timeout: timeoutMs,
      // The member's address decides the TLS name, as client-go does; no SNI for an IP address.
      servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname,
    },
  };
}

const memberCallTimeoutMs = 10_000;

/** How a call to a member cluster failed; each controller says it in its own reason words. */
export type MemberFailureKind = 'Timeout' | 'Unreachable' | 'Unauthorized' | 'Forbidden' | 'Error';

export class MemberCallError extends Error {
  constructor(
    readonly kind: MemberFailureKind,
    message: string,
  ) {
    super(message);
  }
}

/** A member call that gives up after 10 s: client-node's requests have no deadline of their own. */
export function withMemberTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new MemberCallError('Timeout', `${what}: no answer within ${memberCallTimeoutMs / 1000}s`)), memberCallTimeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The member's answer in words: its HTTP code and message, or why no connection was made. */
export function describeMemberCall(err: unknown): MemberCallError {
  if (err instanceof MemberCallError) return err;
  const e = err as { code?: unknown; body?: unknown; message?: string; cause?: { code?: string; message?: string } };
  if (typeof e.code === 'number') {
    const kind = e.code === 401 ? 'Unauthorized' : e.code === 403 ? 'Forbidden' : 'Error';
    let detail = '';
    try {
      detail = JSON.parse(String(e.body)).message ?? '';
    } catch {
      detail = '';
    }
    return new MemberCallError(kind, `the cluster answered ${e.code}${detail ? `: ${detail}` : ''}`);
  }
  const cause = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
  return new MemberCallError('Unreachable', `cannot reach the cluster's kube-apiserver: ${cause}`);
}

export const isMemberNotFound = (err: unknown) => (err as { code?: unknown }).code === 404;
