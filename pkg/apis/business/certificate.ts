// GET namespaces/<name>/certificate?validDays=N: a client certificate for the caller, scoped by
// its organizations to one business namespace, signed by the CA this server keeps (DIR/pki),
// returned in status.certificate as TKE does, plus a ready kubeconfig in an annotation.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { CustomSubresource } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { issueClientCertificate, type CertificateAuthority } from '../../server/certs.ts';
import type { Store } from '../../storage/interface.ts';
import { kubeconfigYAML } from '../../server/kubeconfig.ts';
import { keys, kubernetesNamespace, namespaceCluster } from './objects.ts';

export const kubeconfigAnnotation = 'business.tkestack.io/kubeconfig';
const defaultValidDays = 365;
const maxValidDays = 3650;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function parseValidDays(raw: string | null): number {
  if (raw === null || raw === '') return defaultValidDays;
  const days = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(days >= 1 && days <= maxValidDays)) throw errors.badRequest(`validDays: Invalid value: ${JSON.stringify(raw)}: must be a whole number of days from 1 to ${maxValidDays}`);
  return days;
}

/** The address clients reach the cluster on: Advertise first, as TKE picks it, else the first one. */
function clusterAPIServer(cluster: KubeObject | undefined): string {
  const addresses = (cluster?.status?.addresses ?? []) as Array<{ type?: string; host?: string; port?: number; path?: string }>;
  const chosen = addresses.find(a => a.type === 'Advertise') ?? addresses[0];
  if (!chosen?.host) return '';
  const host = chosen.host.includes(':') ? `[${chosen.host}]` : chosen.host;
  return `https://${host}${chosen.port ? `:${chosen.port}` : ''}${chosen.path ?? ''}`;
}

/** What a namespace certificate is made with: the CA that signs it, and the cluster it is for. */
export interface CertificateDeps { ca: CertificateAuthority; storage: Store }

export const namespaceCertificate = ({ ca, storage }: CertificateDeps): CustomSubresource => ({
  verbs: ['get'],
  kind: 'Namespace',
  async handle({ parent, parentName, ctx, query }) {
    if (!parent) throw errors.notFound({ group: 'business.tkestack.io', resource: 'namespaces' }, parentName);
    const validDays = parseValidDays(query.get('validDays'));
    const clusterName = namespaceCluster(parent);
    const cluster = await storage.get(keys.cluster(clusterName));
    const project = parent.metadata.namespace ?? '';
    const issued = await issueClientCertificate(ca, {
      commonName: ctx.user.username,
      organizations: [`cluster:${clusterName}`, `project:${project}`, `namespace:${kubernetesNamespace(parent)}`, `tenant:${tenantOf(parent)}`],
      validDays,
    });
    const apiServer = clusterAPIServer(cluster);
    const out = structuredClone(parent);
    out.status = {
      ...(out.status ?? {}),
      certificate: { certPem: b64(issued.certPEM), keyPem: b64(issued.keyPEM), caCertPem: b64(ca.certPEM), ...(apiServer ? { apiServer } : {}) },
    };
    if (apiServer) {
      const context = `${clusterName}-${kubernetesNamespace(parent)}`;
      const kubeconfig = kubeconfigYAML({ server: apiServer, caPEM: ca.certPEM, clientCertPEM: issued.certPEM, clientKeyPEM: issued.keyPEM, user: ctx.user.username, cluster: clusterName, context });
      out.metadata.annotations = { ...(out.metadata.annotations ?? {}), [kubeconfigAnnotation]: kubeconfig };
    }
    return out;
  },
});
