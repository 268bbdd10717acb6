// platform.tkestack.io/v1 Machine (cluster-scoped): a host TKE reaches over SSH to make it a node
// of a cluster, after tkestack/tke api/platform/v1/types.go. Password, private key and passphrase
// are secret fields (sealed at rest, masked for readers); `proxy` (a jump host, as ClusterMachine
// has it) is how a host behind one is reached.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, SpecFinalizers, StringEnum, TypeMeta } from '../../meta/v1/schema.ts';
import { ClusterMachineProxy, conditionSchema, Taint } from './cluster.ts';

export const MachinePhase = {
  Initializing: 'Initializing',
  Running: 'Running',
  Failed: 'Failed',
  Upgrading: 'Upgrading',
  Terminating: 'Terminating',
} as const;
export type MachinePhase = (typeof MachinePhase)[keyof typeof MachinePhase];

export const MachineAddressType = ['Hostname', 'ExternalIP', 'InternalIP', 'ExternalDNS', 'InternalDNS'] as const;

export const MachineSpec = Type.Object(
  {
    finalizers: Type.Optional(SpecFinalizers()),
    tenantID: Type.Optional(Type.String()),
    clusterName: Type.Optional(Type.String({ description: 'The cluster the machine joins.' })),
    type: Type.Optional(Type.String({ description: 'Baremetal, or the cluster type the machine is provisioned for.' })),
    ip: Type.Optional(Type.String({ description: 'The address TKE reaches the machine at over SSH.' })),
    port: Type.Optional(Type.Integer({ format: 'int32', description: 'The SSH port (22 when unset).' })),
    username: Type.Optional(Type.String({ description: 'The SSH user.' })),
    password: Type.Optional(Type.String({ format: 'byte' })),
    privateKey: Type.Optional(Type.String({ format: 'byte' })),
    passPhrase: Type.Optional(Type.String({ format: 'byte' })),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    taints: Type.Optional(Type.Array(Taint, { description: "If specified, the node's taints." })),
    proxy: Type.Optional(ClusterMachineProxy),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.MachineSpec',
    description: 'MachineSpec is a description of machine.',
  },
);
export type MachineSpec = Static<typeof MachineSpec>;

export const MachineCondition = conditionSchema('MachineCondition', 'MachineCondition contains details for the current condition of this Machine.');
export type MachineCondition = Static<typeof MachineCondition>;

export const MachineAddress = Type.Object(
  {
    type: StringEnum(MachineAddressType, { description: 'Machine address type, one of Public, ExternalIP or InternalIP.' }),
    address: Type.String({ description: 'The machine address.' }),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.MachineAddress',
    description: "MachineAddress contains information for the machine's address.",
  },
);

export const MachineSystemInfo = Type.Object(
  {
    machineID: Type.Optional(Type.String()),
    systemUUID: Type.Optional(Type.String()),
    bootID: Type.Optional(Type.String()),
    kernelVersion: Type.Optional(Type.String()),
    osImage: Type.Optional(Type.String()),
    containerRuntimeVersion: Type.Optional(Type.String()),
    kubeletVersion: Type.Optional(Type.String()),
    kubeProxyVersion: Type.Optional(Type.String()),
    operatingSystem: Type.Optional(Type.String()),
    architecture: Type.Optional(Type.String()),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.MachineSystemInfo',
    description: 'MachineSystemInfo is a set of ids/uuids to uniquely identify the node.',
  },
);
export type MachineSystemInfo = Static<typeof MachineSystemInfo>;

const mapByType = {
  'x-kubernetes-patch-merge-key': 'type',
  'x-kubernetes-patch-strategy': 'merge',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
};

export const MachineStatus = Type.Object(
  {
    locked: Type.Optional(Type.Boolean()),
    // An empty phase is Initializing, as for clusters.
    phase: Type.Optional(StringEnum(Object.values(MachinePhase), { default: MachinePhase.Initializing })),
    conditions: Type.Optional(Type.Array(MachineCondition, mapByType)),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about why the machine is in this condition.' })),
    reason: Type.Optional(Type.String({ description: 'A brief CamelCase message indicating details about why the machine is in this state.' })),
    addresses: Type.Optional(
      Type.Array(MachineAddress, {
        'x-kubernetes-patch-merge-key': 'type',
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-list-type': 'atomic',
        description: 'List of addresses reachable to the machine.',
      }),
    ),
    machineInfo: Type.Optional(MachineSystemInfo),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.MachineStatus',
    description: 'MachineStatus represents information about the status of an machine.',
  },
);
export type MachineStatus = Static<typeof MachineStatus>;

export const Machine = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(Field(MachineSpec, { description: 'Spec defines the desired identities of the Machine.', default: {} })),
    status: Type.Optional(Field(MachineStatus, { default: {} })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.Machine',
    description: 'Machine instance in Kubernetes cluster',
  },
);
export type Machine = Static<typeof Machine>;

export const MachineList = ListOf(Machine, {
  $id: 'io.tkestack.tke.api.platform.v1.MachineList',
  description: 'MachineList is the whole list of all machine in an cluster.',
  itemsDescription: 'List of clusters',
});
