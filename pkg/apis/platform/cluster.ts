// clusters.platform.tkestack.io: a Kubernetes cluster TKE manages (Baremetal) or imports.
// TKE's rules: a known provider type; an Imported cluster names the addresses of its
// kube-apiserver in status.addresses (kept from the create request, the only status a client
// writes) and the ClusterCredential that reaches it; the `cluster` spec finalizer on every one.
// Reachability is the controller's to find out, not admission's: a create never makes the server
// dial an address a tenant chose and report back what answered.
import { Cluster, type ClusterAddress, ClusterPhase, PlatformFinalizer } from '../../../api/platform/v1/cluster.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';
import { requireUnchanged, validatePort } from '../tke/kinds.ts';
import { defaultTenant, tenantOf } from '../tke/tenant.ts';
import { platformGroupName } from './names.ts';
import { readClusterCredential, type StoredCluster } from './stored.ts';

export const ClusterType = { Baremetal: 'Baremetal', Imported: 'Imported' } as const;
const clusterTypes: string[] = Object.values(ClusterType);
const addressTypes: string[] = ['Advertise', 'Real'];

/** The kube-apiserver URL of a cluster: its Advertise address first, as TKE's cluster.Host(). */
export function clusterURL(cluster: StoredCluster): string | undefined {
  const addresses = cluster.status?.addresses ?? [];
  const a = addresses.find(x => x.type === 'Advertise') ?? addresses.find(x => x.type === 'Real') ?? addresses[0];
  if (!a) return undefined;
  const host = a.host.includes(':') && !a.host.startsWith('[') ? `[${a.host}]` : a.host;
  return `https://${host}:${a.port}${a.path ?? ''}`;
}

export function credentialRefOf(cluster: StoredCluster): string {
  return cluster.spec?.clusterCredentialRef?.name ?? '';
}

function validateAddresses(addresses: ClusterAddress[]): FieldError[] {
  if (addresses.length === 0) return [field.required('status.addresses', 'must specify at least one obj access address')];
  const errs: FieldError[] = [];
  addresses.forEach((a, i) => {
    const at = `status.addresses[${i}]`;
    if (!addressTypes.includes(a.type)) errs.push(field.notSupported(`${at}.type`, a.type, addressTypes));
    if (!a.host) errs.push(field.required(`${at}.host`, 'must specify host'));
    else if (!/^[A-Za-z0-9.:\-[\]]+$/.test(a.host)) errs.push(field.invalid(`${at}.host`, a.host, 'must be a host name or an IP address'));
    errs.push(...validatePort(`${at}.port`, a.port));
    if (a.path && !a.path.startsWith('/')) errs.push(field.invalid(`${at}.path`, a.path, 'must start by `/`'));
  });
  return errs;
}

function validateCluster(obj: StoredCluster): FieldError[] {
  const type = obj.spec?.type ?? '';
  if (!clusterTypes.includes(type)) {
    return [type ? field.notSupported('spec.type', type, clusterTypes) : field.required('spec.type')];
  }
  if (type !== ClusterType.Imported) return [];
  const errs = validateAddresses(obj.status?.addresses ?? []);
  if (!credentialRefOf(obj)) errs.push(field.required('spec.clusterCredentialRef.name', 'an imported cluster is reached with a ClusterCredential'));
  return errs;
}

export const clusters: ResourceDefinition<typeof Cluster> = {
  group: platformGroupName,
  version: 'v1',
  kind: 'Cluster',
  listKind: 'ClusterList',
  resource: 'clusters',
  singular: 'cluster',
  namespaced: false,
  shortNames: ['cls'],
  categories: ['tke', 'all'],
  schema: Cluster,
  subresources: { status: true, finalize: specFinalizers },
  // SSH credentials of the machines, and of the proxy in front of them.
  secretFields: ['machines', 'scalingMachines'].flatMap(list =>
    ['password', 'privateKey', 'passPhrase', 'proxy.password', 'proxy.privateKey', 'proxy.passPhrase'].map(field => `spec.${list}[].${field}`),
  ),
  // A machine's credentials written back masked are kept only for the same address.
  secretTargets: Object.fromEntries(
    ['machines', 'scalingMachines'].flatMap(list => [
      [`spec.${list}[]`, ['ip', 'port']],
      [`spec.${list}[].proxy`, ['ip', 'port']],
    ]),
  ),
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'cls-';
      // The addresses are how an imported cluster is reached; the rest of status is the controller's.
      const addresses = obj.status?.addresses;
      obj.status = { phase: ClusterPhase.Initializing, ...(addresses !== undefined ? { addresses } : {}) };
      obj.spec = { ...(obj.spec ?? {}), finalizers: [PlatformFinalizer.Cluster] };
    },
    defaults(obj) {
      defaultTenant(obj);
      if (!obj.spec!.dnsDomain) obj.spec!.dnsDomain = 'cluster.local';
    },
    validate: validateCluster,
    validateUpdate(obj, old) {
      return [...requireUnchanged(obj, old, ['tenantID', 'type']), ...validateCluster(obj)];
    },
    async beforeWrite(obj, old, ctx) {
      // The credential must be the tenant's own and not another cluster's: naming someone
      // else's would let a cluster (and whoever may proxy into it) act with their identity.
      const ref = credentialRefOf(obj);
      if (!ref || (old && credentialRefOf(old) === ref)) return;
      const credential = await readClusterCredential(ctx.tx, ref);
      const refused = (why: string) =>
        errors.invalid(platformGroupName, 'Cluster', obj.metadata.name!, [field.invalid('spec.clusterCredentialRef.name', ref, why)]);
      if (!credential || tenantOf(credential) !== tenantOf(obj)) throw refused('no such cluster credential in the tenant');
      const owner = credential.clusterName ?? '';
      if (owner && owner !== obj.metadata.name) throw refused(`the credential belongs to cluster "${owner}"`);
    },
    columns: [
      { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
      { name: 'Type', type: 'string', format: '', description: 'Baremetal, Imported, ...', priority: 0 },
      { name: 'Version', type: 'string', format: '', description: "The Kubernetes version the cluster reports (the spec's until probed).", priority: 0 },
      { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase of the cluster.', priority: 0 },
      {
        name: 'Nodes',
        type: 'integer',
        format: '',
        description: 'The machines TKE installs the cluster on (spec.machines); blank for an imported cluster, whose nodes are its own.',
        priority: 0,
      },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the cluster belongs to.', priority: 1 },
      { name: 'Message', type: 'string', format: '', description: 'Why the cluster is in its phase.', priority: 1 },
    ],
    row: obj => [
      obj.spec?.displayName ?? '',
      obj.spec?.type ?? '',
      obj.status?.version || obj.spec?.version || '',
      obj.status?.phase ?? '',
      obj.spec?.type === ClusterType.Imported && !obj.spec?.machines?.length ? '' : (obj.spec?.machines ?? []).length,
      obj.spec?.tenantID ?? '',
      obj.status?.message ?? '',
    ],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'spec.type', 'spec.version', 'status.version', 'status.phase'),
      'status.locked': o => (o.status?.locked === undefined ? '' : String(o.status.locked)),
    },
  },
};
