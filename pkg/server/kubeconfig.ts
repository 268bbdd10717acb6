// kubeconfig files for the bootstrap admin (and any other identity the server hands out).
import { isIP } from 'node:net';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import YAML from 'yaml';
import { writeFileAtomic } from './certs.ts';

export interface KubeconfigSpec {
  /** https://host:port */
  server: string;
  caPEM: string;
  token?: string;
  clientCertPEM?: string;
  clientKeyPEM?: string;
  /** Names of the user, cluster and context entries. */
  user: string;
  cluster: string;
  context: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** The kubeconfig document, as YAML text. Credentials are embedded so the file works from anywhere. */
export function kubeconfigYAML(spec: KubeconfigSpec): string {
  if (!spec.token && !(spec.clientCertPEM && spec.clientKeyPEM)) {
    throw new Error('a kubeconfig needs a token or a client certificate and key');
  }
  const user: Record<string, string> = {};
  if (spec.clientCertPEM && spec.clientKeyPEM) {
    user['client-certificate-data'] = b64(spec.clientCertPEM);
    user['client-key-data'] = b64(spec.clientKeyPEM);
  }
  if (spec.token) user.token = spec.token;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: spec.cluster, cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caPEM) } }],
    users: [{ name: spec.user, user }],
    contexts: [{ name: spec.context, context: { cluster: spec.cluster, user: spec.user } }],
    'current-context': spec.context,
    preferences: {},
  };
  // Long base64 values on one line: kubectl copes either way, but people grep these files.
  return YAML.stringify(doc, { lineWidth: 0 });
}

/** Writes the kubeconfig with mode 0600 (it holds a credential), replacing any older file atomically. */
export async function writeKubeconfig(file: string, spec: KubeconfigSpec): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, kubeconfigYAML(spec), 0o600);
}

/**
 * The URL a local client should use for a server bound to `bindAddress`: wildcard addresses are
 * not dialable, so they become loopback (which the self-signed certificate covers).
 */
export function serverURL(bindAddress: string, port: number): string {
  let host = bindAddress;
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}
