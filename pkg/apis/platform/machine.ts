// machines.platform.tkestack.io: a host TKE reaches over SSH to make it a node of a cluster.
// Password, private key and passphrase (its own and its jump host's) are secret fields. TKE's
// rules: a cluster of the machine's tenant, an IP address no other machine has, a way to log in;
// the address and the cluster are fixed once the machine exists.
import { isIP } from 'node:net';
import { Machine, MachineList, MachinePhase } from '../../../api/platform/v1/machine.ts';
import { PlatformFinalizer } from '../../../api/platform/v1/cluster.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';
import { requireUnchanged, validatePort, verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { defaultTenant, tenantOf } from '../tke/tenant.ts';
import { platformGroupName } from './names.ts';
import { asMachine, readCluster, platformKeys, type StoredMachine } from './stored.ts';

function validateMachine(obj: StoredMachine): FieldError[] {
  const spec = obj.spec ?? {};
  const errs: FieldError[] = [];
  if (!spec.clusterName) errs.push(field.required('spec.clusterName'));
  const ip = spec.ip ?? '';
  if (!ip) errs.push(field.required('spec.ip'));
  else if (!isIP(ip)) errs.push(field.invalid('spec.ip', ip, 'must be a valid IP address'));
  errs.push(...validatePort('spec.port', spec.port, true));
  if (!spec.password && !spec.privateKey) errs.push(field.required('spec.password', 'password or privateKey is required'));
  const { proxy } = spec;
  if (proxy) {
    if (proxy.type !== undefined && proxy.type !== 'SSHJumpServer') errs.push(field.notSupported('spec.proxy.type', proxy.type, ['SSHJumpServer']));
    if (!isIP(proxy.ip ?? '')) errs.push(field.invalid('spec.proxy.ip', proxy.ip, 'must be a valid IP address'));
    errs.push(...validatePort('spec.proxy.port', proxy.port, true));
    if (!proxy.password && !proxy.privateKey) errs.push(field.required('spec.proxy.password', 'password or privateKey is required'));
  }
  return errs;
}

export const machines: OpenAPIResource<typeof Machine> = {
  group: platformGroupName,
  version: 'v1',
  kind: 'Machine',
  listKind: 'MachineList',
  resource: 'machines',
  singular: 'machine',
  namespaced: false,
  shortNames: ['mc'],
  categories: ['tke', 'all'],
  schema: Machine,
  listSchema: MachineList,
  subresources: { status: true, finalize: specFinalizers },
  verbs: verbsWithoutDeleteCollection,
  secretFields: ['password', 'privateKey', 'passPhrase', 'proxy.password', 'proxy.privateKey', 'proxy.passPhrase'].map(f => `spec.${f}`),
  // Credentials written back masked are kept only while they still go to the same host.
  secretTargets: { spec: ['ip', 'port'], 'spec.proxy': ['ip', 'port'] },
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'mc-';
      obj.status = { phase: MachinePhase.Initializing };
      obj.spec = { ...(obj.spec ?? {}), finalizers: [PlatformFinalizer.Machine] };
    },
    defaults(obj) {
      defaultTenant(obj);
      const spec = obj.spec!;
      spec.port ??= 22;
      if (!spec.username) spec.username = 'root';
      if (!spec.type) spec.type = 'Baremetal';
    },
    validate: validateMachine,
    validateUpdate: (obj, old) => [...requireUnchanged(obj, old, ['tenantID', 'clusterName', 'ip']), ...validateMachine(obj)],
    async beforeWrite(obj, old, ctx) {
      if (old) return;
      const name = obj.metadata.name!;
      const clusterName = obj.spec?.clusterName ?? '';
      const cluster = await readCluster(ctx.tx, clusterName);
      if (!cluster || tenantOf(cluster) !== tenantOf(obj)) {
        throw errors.invalid(platformGroupName, 'Machine', name, [field.notFound('spec.clusterName', clusterName)]);
      }
      const ip = obj.spec?.ip ?? '';
      const [taken] = (await ctx.tx.list(platformKeys.machines(), { filter: m => asMachine(m).spec?.ip === ip })).map(asMachine);
      if (taken) {
        throw errors.invalid(platformGroupName, 'Machine', name, [
          {
            ...field.duplicate('spec.ip', ip),
            message: `Duplicate value: ${JSON.stringify(ip)}: already a machine of cluster ${taken.spec?.clusterName ?? ''}`,
          },
        ]);
      }
    },
    columns: [
      { name: 'IP', type: 'string', format: '', description: 'The address TKE reaches the machine at.', priority: 0 },
      { name: 'Cluster', type: 'string', format: '', description: 'The cluster the machine joins.', priority: 0 },
      { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase of the machine.', priority: 0 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the machine belongs to.', priority: 1 },
      { name: 'OS', type: 'string', format: '', description: 'The operating system it reported.', priority: 1 },
      { name: 'Message', type: 'string', format: '', description: 'Why the machine is in its phase.', priority: 1 },
    ],
    row: obj => [
      obj.spec?.ip ?? '',
      obj.spec?.clusterName ?? '',
      obj.status?.phase ?? '',
      obj.spec?.tenantID ?? '',
      obj.status?.machineInfo?.osImage ?? '',
      obj.status?.message ?? '',
    ],
    fieldSelectors: fieldsAt('spec.tenantID', 'spec.clusterName', 'spec.ip', 'status.phase'),
  },
};
