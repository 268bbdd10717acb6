// GET namespaces/<name>/certificate?validDays=N: a client certificate for the caller, scoped by
// its organizations to one business namespace, signed as TKE signs it: with the CA of the
// namespace's cluster from its ClusterCredential (caCert + caKey), so that the cluster's
// kube-apiserver accepts it. It is returned in status.certificate, plus a ready kubeconfig for
// that kube-apiserver and namespace in an annotation. In the member, the namespace controller
// binds the certificate's business-namespace group to the `edit` role in that namespace alone.
// A cluster whose CA key this server does not have (an Imported cluster's credential without
// caKey, a cluster without a credential) gets a 400 that says so, never a certificate its
// kube-apiserver would reject.
import YAML from 'yaml';
import { errors, StatusError } from '../../rest/errors.ts';
import type { CustomSubresource } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { caFromPEM, issueClientCertificate, type CertificateAuthority } from '../../server/certs.ts';
import type { Store } from '../../storage/interface.ts';
import { kubeconfigYAML } from '../../server/kubeconfig.ts';
import { certificateGroup } from './controllers/namespacemember.ts';
import { readCluster, readClusterCredential, type StoredCluster } from '../platform/stored.ts';
import { asNamespace } from './stored.ts';

export const kubeconfigAnnotation = 'business.tkestack.io/kubeconfig';
const defaultValidDays = 365;
const maxValidDays = 3650;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function parseValidDays(raw: string | null): number {
  if (raw === null || raw === '') return defaultValidDays;
  const days = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(days >= 1 && days <= maxValidDays))
    throw errors.badRequest(`validDays: Invalid value: ${JSON.stringify(raw)}: must be a whole number of days from 1 to ${maxValidDays}`);
  return days;
}

/** The address clients reach the cluster on: Advertise first, as TKE picks it, else the first one. */
function clusterAPIServer(cluster: StoredCluster | undefined): string {
  const addresses = cluster?.status?.addresses ?? [];
  const chosen = addresses.find(a => a.type === 'Advertise') ?? addresses[0];
  if (!chosen?.host) return '';
  const host = chosen.host.includes(':') ? `[${chosen.host}]` : chosen.host;
  return `https://${host}${chosen.port ? `:${chosen.port}` : ''}${chosen.path ?? ''}`;
}

const fromBase64 = (v: string | undefined) => (v ? Buffer.from(v, 'base64').toString('utf8') : '');

/**
 * The CA of the namespace's cluster, from its credential. Every way it can be missing or unusable
 * is a 400 naming the cluster and what to fix; key material never appears in the message.
 */
async function clusterCA(storage: Store, clusterName: string, cluster: StoredCluster | undefined): Promise<CertificateAuthority> {
  const refuse = (why: string) => errors.badRequest(`cannot issue a certificate for cluster "${clusterName}": ${why}`);
  if (!cluster) throw refuse('the cluster does not exist');
  const credentialName = cluster.spec?.clusterCredentialRef?.name;
  if (!credentialName) throw refuse('it has no cluster credential, so its CA is unknown to this server');
  const credential = await readClusterCredential(storage, credentialName);
  const certPEM = fromBase64(credential?.caCert);
  const keyPEM = fromBase64(credential?.caKey);
  if (!certPEM || !keyPEM) {
    throw refuse(
      `its cluster credential "${credentialName}" has no ${!certPEM ? 'caCert' : 'caKey'}: this server can only issue certificates the cluster's kube-apiserver accepts with the CA key of the cluster (set caCert and caKey in the credential)`,
    );
  }
  try {
    const publicOfKey = createPublicKey(createPrivateKey(keyPEM)).export({ type: 'spki', format: 'der' });
    const publicOfCert = new X509Certificate(certPEM).publicKey.export({ type: 'spki', format: 'der' });
    if (!publicOfKey.equals(publicOfCert)) throw refuse(`the caKey of cluster credential "${credentialName}" is not the key of its caCert`);
    return await caFromPEM(certPEM, keyPEM);
  } catch (err) {
    if (err instanceof StatusError) throw err;
    throw refuse(`the caCert or caKey of cluster credential "${credentialName}" is not a PEM certificate and key`);
  }
}

/** The kubeconfig's context set to the namespace, which is all the certificate may use there. */
function inNamespace(kubeconfig: string, namespace: string): string {
  const doc = YAML.parse(kubeconfig) as { contexts: Array<{ context: Record<string, string> }> };
  for (const c of doc.contexts) c.context.namespace = namespace;
  return YAML.stringify(doc, { lineWidth: 0 });
}

/** What a namespace certificate is made with: the store its cluster and credential are read from. */
export interface CertificateDeps {
  storage: Store;
}

export const namespaceCertificate = ({ storage }: CertificateDeps): CustomSubresource => ({
  verbs: ['get'],
  kind: 'Namespace',
  async handle({ parent, parentName, ctx, query }) {
    if (!parent) throw errors.notFound({ group: 'business.tkestack.io', resource: 'namespaces' }, parentName);
    const ns = asNamespace(parent);
    const validDays = parseValidDays(query.get('validDays'));
    const clusterName = ns.spec?.clusterName ?? '';
    const kubernetesNamespace = ns.spec?.namespace ?? '';
    const cluster = await readCluster(storage, clusterName);
    const ca = await clusterCA(storage, clusterName, cluster);
    const project = ns.metadata.namespace ?? '';
    const issued = await issueClientCertificate(ca, {
      commonName: ctx.user.username,
      organizations: [
        `cluster:${clusterName}`,
        `project:${project}`,
        `namespace:${kubernetesNamespace}`,
        `tenant:${tenantOf(ns)}`,
        certificateGroup(project, ns.metadata.name!),
      ],
      validDays,
    });
    const apiServer = clusterAPIServer(cluster);
    const out = structuredClone(ns);
    out.status = {
      ...(out.status ?? {}),
      certificate: { certPem: b64(issued.certPEM), keyPem: b64(issued.keyPEM), caCertPem: b64(ca.certPEM), ...(apiServer ? { apiServer } : {}) },
    };
    if (apiServer) {
      const context = `${clusterName}-${kubernetesNamespace}`;
      const kubeconfig = inNamespace(
        kubeconfigYAML({
          server: apiServer,
          caPEM: ca.certPEM,
          clientCertPEM: issued.certPEM,
          clientKeyPEM: issued.keyPEM,
          user: ctx.user.username,
          cluster: clusterName,
          context,
        }),
        kubernetesNamespace,
      );
      out.metadata.annotations = { ...(out.metadata.annotations ?? {}), [kubeconfigAnnotation]: kubeconfig };
    }
    return out;
  },
});
