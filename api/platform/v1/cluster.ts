// platform.tkestack.io/v1 Cluster (cluster-scoped), after tkestack/tke api/platform/v1/types.go,
// with the nested types it reaches (core/v1 Taint and LocalObjectReference; application/v1's are in app.ts).
//
// Named Go structs carry the `$id` TKE's apiserver publishes for them, so OpenAPI definitions
// and `kubectl explain` match a real TKE. Field-level `required` is kept to list merge keys and
// what Kubernetes itself enforces: Go decoding accepts absent fields everywhere else, and the
// kind-specific rules (e.g. type and version) belong to the Strategy's validate.
// Defaults follow api/platform/v1/defaults.go where they are visible on the wire.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, IntOrString, ListOf, ResourceList, SpecFinalizers, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';
import { BootstrapApp } from './app.ts';

// --- enumerations ------------------------------------------------------------------------------

/** FinalizerName is the name identifying a finalizer during cluster lifecycle. */
export const PlatformFinalizer = {
  /** Internal finalizer value of Cluster. */
  Cluster: 'cluster',
  /** Internal finalizer value of Machine. */
  Machine: 'machine',
} as const;

/** ClusterPhase defines the phase of cluster constructor. */
export const ClusterPhase = {
  Initializing: 'Initializing',
  /** Waiting for registration. */
  Waiting: 'Waiting',
  Running: 'Running',
  Failed: 'Failed',
  Confined: 'Confined',
  Idling: 'Idling',
  Upgrading: 'Upgrading',
  Terminating: 'Terminating',
  Upscaling: 'Upscaling',
  Downscaling: 'Downscaling',
  /** Recovering from confined. */
  Recovering: 'Recovering',
} as const;
export type ClusterPhase = (typeof ClusterPhase)[keyof typeof ClusterPhase];

/** ConditionStatus defines the status of Condition. */
export const ConditionStatus = { True: 'True', False: 'False', Unknown: 'Unknown' } as const;
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus];

/** AddressType indicates the type of cluster apiserver access address. */
export const AddressType = {
  /** Reached from the external network (such as a public LB). */
  Public: 'Public',
  /** Reached from the worker nodes (such as an internal LB). */
  Advertise: 'Advertise',
  /** The real address of one apiserver. */
  Real: 'Real',
  /** Reached from the TKE control plane. */
  Internal: 'Internal',
  /** VPC LB bound to the JNS gateway, used as Internal. */
  Support: 'Support',
} as const;
export type AddressType = (typeof AddressType)[keyof typeof AddressType];

/** ProxyType describes different types of proxy. */
export const ProxyType = { SSHJumpServer: 'SSHJumpServer', SOCKS5: 'SOCKS5' } as const;

/** KubeVendorType describes the Kubernetes provider of the cluster. */
export const KubeVendor = {
  TKE: 'TKE',
  OpenShift: 'OpenShift',
  AKS: 'AKS',
  EKS: 'EKS',
  GKE: 'GKE',
  ICP: 'ICP',
  IKS: 'IKS',
  OpenShiftDedicated: 'OpenShiftDedicated',
  Other: 'Other',
} as const;

/** ComponentPhase defines the phase of an anywhere cluster component. */
export const ComponentPhase = { Deployed: 'deployed', PendingUpgrade: 'pending-upgrade', Failed: 'failed' } as const;

/** GPUType defines the gpu type of cluster. */
export const GPUType = { Physical: 'Physical', Virtual: 'Virtual' } as const;

export const ContainerRuntime = { Containerd: 'containerd', Docker: 'docker' } as const;

export const UpgradeMode = {
  /** Upgrade nodes automatically. */
  Auto: 'Auto',
  /** Upgrade only the nodes labelled `platform.tkestack.io/need-upgrade`. */
  Manual: 'Manual',
} as const;

/** Node and cluster lifecycle hooks: the keys of spec.features.hooks. */
export const HookType = {
  PreInstall: 'PreInstall',
  PostInstall: 'PostInstall',
  PreUpgrade: 'PreUpgrade',
  PostUpgrade: 'PostUpgrade',
  PreClusterInstall: 'PreClusterInstall',
  PostClusterInstall: 'PostClusterInstall',
  PreClusterUpgrade: 'PreClusterUpgrade',
  PostClusterUpgrade: 'PostClusterUpgrade',
  PreClusterDelete: 'PreClusterDelete',
  PostClusterDelete: 'PostClusterDelete',
} as const;

// --- core/v1 types reached from ClusterSpec --------------------------------------------------------

export const Taint = Type.Object(
  {
    key: Type.String({ description: 'Required. The taint key to be applied to a node.' }),
    value: Type.Optional(Type.String({ description: 'The taint value corresponding to the taint key.' })),
    effect: StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'], {
      description: 'Required. The effect of the taint on pods that do not tolerate the taint. Valid effects are NoSchedule, PreferNoSchedule and NoExecute.',
    }),
    timeAdded: Type.Optional(
      Field(Time, { description: 'TimeAdded represents the time at which the taint was added. It is only written for NoExecute taints.' }),
    ),
  },
  {
    $id: 'io.k8s.api.core.v1.Taint',
    description: 'The node this Taint is attached to has the "effect" on any pod that does not tolerate the Taint.',
  },
);
export type Taint = Static<typeof Taint>;

export const LocalObjectReference = Type.Object(
  {
    name: Type.Optional(
      Type.String({ description: 'Name of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names' }),
    ),
  },
  {
    $id: 'io.k8s.api.core.v1.LocalObjectReference',
    description: 'LocalObjectReference contains enough information to let you locate the referenced object inside the same namespace.',
    'x-kubernetes-map-type': 'atomic',
  },
);
export type LocalObjectReference = Static<typeof LocalObjectReference>;

// --- ClusterSpec -----------------------------------------------------------------------------------

export const ClusterMachineProxy = Type.Object(
  {
    type: Type.Optional(Type.String()),
    ip: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ format: 'int32' })),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String({ format: 'byte' })),
    privateKey: Type.Optional(Type.String({ format: 'byte' })),
    passPhrase: Type.Optional(Type.String({ format: 'byte' })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterMachineProxy',
    description: 'ClusterMachine is the proxy definition of ClusterMachine.',
  },
);
export type ClusterMachineProxy = Static<typeof ClusterMachineProxy>;

export const ClusterMachine = Type.Object(
  {
    ip: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ format: 'int32' })),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String({ format: 'byte' })),
    privateKey: Type.Optional(Type.String({ format: 'byte' })),
    passPhrase: Type.Optional(Type.String({ format: 'byte' })),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    taints: Type.Optional(Type.Array(Taint, { description: "If specified, the node's taints." })),
    proxy: Type.Optional(ClusterMachineProxy),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterMachine',
    description: 'ClusterMachine is the master machine definition of cluster.',
  },
);
export type ClusterMachine = Static<typeof ClusterMachine>;

export const TKEHA = Type.Object(
  {
    vip: Type.Optional(Type.String()),
    vrid: Type.Optional(Type.Integer({ format: 'int32' })),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.TKEHA' },
);

export const ThirdPartyHA = Type.Object(
  {
    vip: Type.Optional(Type.String()),
    vport: Type.Optional(Type.Integer({ format: 'int32' })),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.ThirdPartyHA' },
);

export const HA = Type.Object(
  {
    tke: Type.Optional(TKEHA),
    thirdParty: Type.Optional(ThirdPartyHA),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.HA' },
);

export const File = Type.Object(
  {
    src: Type.Optional(Type.String()),
    dst: Type.Optional(Type.String({ description: 'Only support regular file' })),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.File' },
);

export const CSIOperatorFeature = Type.Object(
  {
    version: Type.Optional(Type.String()),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.CSIOperatorFeature' },
);

export const BuiltinAuthzWebhookAddr = Type.Object({}, { $id: 'io.tkestack.tke.api.platform.v1.BuiltinAuthzWebhookAddr' });

export const ExternalAuthzWebhookAddr = Type.Object(
  {
    ip: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ format: 'int32' })),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.ExternalAuthzWebhookAddr' },
);

export const AuthzWebhookAddr = Type.Object(
  {
    builtin: Type.Optional(BuiltinAuthzWebhookAddr),
    external: Type.Optional(ExternalAuthzWebhookAddr),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.AuthzWebhookAddr' },
);

export const UpgradeStrategy = Type.Object(
  {
    // SetDefaults_ClusterSpec: a nil maxUnready becomes intstr.FromInt(0).
    maxUnready: Type.Optional(
      Field(IntOrString, {
        description:
          'The maximum number of pods that can be unready during the upgrade. 0% means all pods need to be ready after evition. 100% means ignore any pods unready which may be used in one worker node, use this carefully! default value is 0%.',
        default: 0,
      }),
    ),
    drainNodeBeforeUpgrade: Type.Optional(
      Type.Boolean({
        description:
          'Whether drain node before upgrade. Draining node before upgrade is recommended. But not all pod running as cows, a few running as pets. If your pod can not accept be expelled from current node, this value should be false.',
      }),
    ),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.UpgradeStrategy',
    description: 'UpgradeStrategy used to control the upgrade process.',
  },
);

export const Upgrade = Type.Object(
  {
    // SetDefaults_ClusterSpec: an empty mode becomes Auto.
    mode: Type.Optional(StringEnum(Object.values(UpgradeMode), { description: 'Upgrade mode, default value is Auto.', default: UpgradeMode.Auto })),
    strategy: Type.Optional(Field(UpgradeStrategy, { description: 'Upgrade strategy config.', default: {} })),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.Upgrade' },
);

export const ClusterFeature = Type.Object(
  {
    ipvs: Type.Optional(Type.Boolean()),
    publicLB: Type.Optional(Type.Boolean()),
    internalLB: Type.Optional(Type.Boolean()),
    gpuType: Type.Optional(StringEnum(Object.values(GPUType))),
    enableMasterSchedule: Type.Optional(Type.Boolean()),
    ha: Type.Optional(HA),
    skipConditions: Type.Optional(Type.Array(Type.String())),
    files: Type.Optional(Type.Array(File)),
    hooks: Type.Optional(Type.Record(Type.String(), Type.String())),
    csiOperator: Type.Optional(CSIOperatorFeature),
    authzWebhookAddr: Type.Optional(Field(AuthzWebhookAddr, { description: 'For kube-apiserver authorization webhook' })),
    enableMetricsServer: Type.Optional(Type.Boolean()),
    ipv6DualStack: Type.Optional(Type.Boolean()),
    enableCilium: Type.Optional(Type.Boolean()),
    // SetDefaults_ClusterFeature: an empty runtime becomes docker.
    containerRuntime: Type.Optional(Type.String({ default: ContainerRuntime.Docker })),
    upgrade: Type.Optional(Field(Upgrade, { description: 'Upgrade control upgrade process.', default: {} })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterFeature',
    description: 'ClusterFeature records the features that are enabled by the cluster.',
  },
);
export type ClusterFeature = Static<typeof ClusterFeature>;

export const ClusterProperty = Type.Object(
  {
    maxClusterServiceNum: Type.Optional(Type.Integer({ format: 'int32' })),
    maxNodePodNum: Type.Optional(Type.Integer({ format: 'int32' })),
    oversoldRatio: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterProperty',
    description: 'ClusterProperty records the attribute information of the cluster.',
  },
);
export type ClusterProperty = Static<typeof ClusterProperty>;

export const LocalEtcd = Type.Object(
  {
    dataDir: Type.Optional(Type.String({ description: 'DataDir is the directory etcd will place its data. Defaults to "/var/lib/etcd".' })),
    extraArgs: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'ExtraArgs are extra arguments provided to the etcd binary when run inside a static pod.' }),
    ),
    serverCertSANs: Type.Optional(
      Type.Array(Type.String(), { description: 'ServerCertSANs sets extra Subject Alternative Names for the etcd server signing cert.' }),
    ),
    peerCertSANs: Type.Optional(
      Type.Array(Type.String(), { description: 'PeerCertSANs sets extra Subject Alternative Names for the etcd peer signing cert.' }),
    ),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.LocalEtcd',
    description: 'LocalEtcd describes that kubeadm should run an etcd cluster locally',
  },
);

export const ExternalEtcd = Type.Object(
  {
    endpoints: Type.Optional(Type.Array(Type.String(), { description: 'Endpoints of etcd members. Required for ExternalEtcd.' })),
    caFile: Type.Optional(
      Type.String({ description: 'CAFile is an SSL Certificate Authority file used to secure etcd communication. Required if using a TLS connection.' }),
    ),
    certFile: Type.Optional(
      Type.String({ description: 'CertFile is an SSL certification file used to secure etcd communication. Required if using a TLS connection.' }),
    ),
    keyFile: Type.Optional(Type.String({ description: 'KeyFile is an SSL key file used to secure etcd communication. Required if using a TLS connection.' })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ExternalEtcd',
    description: 'ExternalEtcd describes an external etcd cluster. Kubeadm has no knowledge of where certificate files live and they must be supplied.',
  },
);

export const Etcd = Type.Object(
  {
    local: Type.Optional(
      Field(LocalEtcd, { description: 'Local provides configuration knobs for configuring the local etcd instance Local and External are mutually exclusive' }),
    ),
    external: Type.Optional(
      Field(ExternalEtcd, { description: 'External describes how to connect to an external etcd cluster Local and External are mutually exclusive' }),
    ),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.Etcd',
    description: 'Etcd contains elements describing Etcd configuration.',
  },
);

const extraArgs = () => Type.Optional(Type.Record(Type.String(), Type.String()));

export const ClusterSpec = Type.Object(
  {
    finalizers: Type.Optional(SpecFinalizers()),
    tenantID: Type.Optional(Type.String()),
    displayName: Type.Optional(Type.String()),
    type: Type.Optional(Type.String()),
    version: Type.Optional(Type.String()),
    networkType: Type.Optional(Type.String()),
    networkDevice: Type.Optional(Type.String()),
    clusterCIDR: Type.Optional(Type.String()),
    serviceCIDR: Type.Optional(
      Type.String({ description: "ServiceCIDR is used to set a separated CIDR for k8s service, it's exclusive with MaxClusterServiceNum." }),
    ),
    dnsDomain: Type.Optional(Type.String({ description: 'DNSDomain is the dns domain used by k8s services. Defaults to "cluster.local".' })),
    publicAlternativeNames: Type.Optional(Type.Array(Type.String())),
    // Go: a non-pointer struct, so its defaulter always runs; `default: {}` lets ours reach inside.
    features: Type.Optional(Field(ClusterFeature, { default: {} })),
    properties: Type.Optional(ClusterProperty),
    machines: Type.Optional(Type.Array(ClusterMachine)),
    dockerExtraArgs: extraArgs(),
    kubeletExtraArgs: extraArgs(),
    apiServerExtraArgs: extraArgs(),
    controllerManagerExtraArgs: extraArgs(),
    schedulerExtraArgs: extraArgs(),
    clusterCredentialRef: Type.Optional(
      Field(LocalObjectReference, {
        description:
          'ClusterCredentialRef for isolate sensitive information. If not specified, cluster controller will create one; If specified, provider must make sure is valid.',
      }),
    ),
    etcd: Type.Optional(Field(Etcd, { description: 'Etcd holds configuration for etcd.' })),
    hostnameAsNodename: Type.Optional(Type.Boolean({ description: 'If true will use hostname as nodename, if false will use machine IP as nodename.' })),
    networkArgs: extraArgs(),
    scalingMachines: Type.Optional(Type.Array(ClusterMachine)),
    bootstrapApps: Type.Optional(Type.Array(BootstrapApp, { description: 'BootstrapApps will install apps during creating cluster' })),
    appVersion: Type.Optional(Type.String({ description: 'AppVersion is the overall version of system components' })),
    clusterLevel: Type.Optional(Type.String({ description: 'ClusterLevel is the expect level of cluster' })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterSpec',
    description: 'ClusterSpec is a description of a cluster.',
  },
);
export type ClusterSpec = Static<typeof ClusterSpec>;

// --- ClusterStatus ---------------------------------------------------------------------------------

/** The condition TKE's platform kinds share, under each kind's own type name (ClusterCondition, MachineCondition). */
export function conditionSchema(typeName: string, description: string) {
  return Type.Object(
    {
      type: Type.String({ description: 'Type is the type of the condition.' }),
      status: StringEnum(Object.values(ConditionStatus), { description: 'Status is the status of the condition. Can be True, False, Unknown.' }),
      lastProbeTime: Type.Optional(Field(Time, { description: 'Last time we probed the condition.' })),
      lastTransitionTime: Type.Optional(Field(Time, { description: 'Last time the condition transitioned from one status to another.' })),
      reason: Type.Optional(Type.String({ description: "Unique, one-word, CamelCase reason for the condition's last transition." })),
      message: Type.Optional(Type.String({ description: 'Human-readable message indicating details about last transition.' })),
    },
    { $id: `io.tkestack.tke.api.platform.v1.${typeName}`, description },
  );
}

export const ClusterCondition = conditionSchema('ClusterCondition', 'ClusterCondition contains details for the current condition of this cluster.');
export type ClusterCondition = Static<typeof ClusterCondition>;

export const ClusterAddress = Type.Object(
  {
    type: StringEnum(Object.values(AddressType), { description: 'Cluster address type, one of Public, ExternalIP or InternalIP.' }),
    host: Type.String({ description: 'The cluster address.' }),
    port: Type.Integer({ format: 'int32' }),
    path: Type.Optional(Type.String()),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterAddress',
    description: "ClusterAddress contains information for the cluster's address.",
  },
);
export type ClusterAddress = Static<typeof ClusterAddress>;

export const ClusterResource = Type.Object(
  {
    capacity: Type.Optional(ResourceList({ description: 'Capacity represents the total resources of a cluster.' })),
    allocatable: Type.Optional(
      ResourceList({ description: 'Allocatable represents the resources of a cluster that are available for scheduling. Defaults to Capacity.' }),
    ),
    allocated: Type.Optional(ResourceList()),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterResource',
    description: 'ClusterResource records the current available and maximum resource quota information for the cluster.',
  },
);
export type ClusterResource = Static<typeof ClusterResource>;

export const ClusterComponentReplicas = Type.Object(
  {
    desired: Type.Optional(Type.Integer({ format: 'int32' })),
    current: Type.Optional(Type.Integer({ format: 'int32' })),
    available: Type.Optional(Type.Integer({ format: 'int32' })),
    updated: Type.Optional(Type.Integer({ format: 'int32' })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterComponentReplicas',
    description: 'ClusterComponentReplicas records the number of copies of each state of each component of the cluster master.',
  },
);

export const ClusterComponent = Type.Object(
  {
    type: Type.String(),
    replicas: Type.Optional(ClusterComponentReplicas),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterComponent',
    description: 'ClusterComponent records the number of copies of each component of the cluster master.',
  },
);
export type ClusterComponent = Static<typeof ClusterComponent>;

/** patchStrategy:"merge" patchMergeKey:"type", as the Go tags declare for these status lists. */
const mergeByType = { 'x-kubernetes-patch-merge-key': 'type', 'x-kubernetes-patch-strategy': 'merge' } as const;
// For server-side apply: conditions and components hold one entry per type, so they are maps
// keyed by type. Addresses are not: an HA cluster has several `Real` addresses, so the list is
// atomic (as Kubernetes marks Node.status.addresses for the same reason).
const mapByType = { ...mergeByType, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] };
const atomicMergeByType = { ...mergeByType, 'x-kubernetes-list-type': 'atomic' };

export const ClusterStatus = Type.Object(
  {
    locked: Type.Optional(Type.Boolean()),
    version: Type.Optional(Type.String()),
    // SetDefaults_ClusterStatus: an empty phase becomes Initializing.
    phase: Type.Optional(StringEnum(Object.values(ClusterPhase), { default: ClusterPhase.Initializing })),
    conditions: Type.Optional(Type.Array(ClusterCondition, { ...mapByType })),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about why the cluster is in this condition.' })),
    reason: Type.Optional(Type.String({ description: 'A brief CamelCase message indicating details about why the cluster is in this state.' })),
    addresses: Type.Optional(Type.Array(ClusterAddress, { ...atomicMergeByType, description: 'List of addresses reachable to the cluster.' })),
    resource: Type.Optional(ClusterResource),
    components: Type.Optional(Type.Array(ClusterComponent, { ...mapByType })),
    serviceCIDR: Type.Optional(Type.String()),
    nodeCIDRMaskSize: Type.Optional(Type.Integer({ format: 'int32' })),
    dnsIP: Type.Optional(Type.String()),
    registryIPs: Type.Optional(Type.Array(Type.String())),
    secondaryServiceCIDR: Type.Optional(Type.String()),
    clusterCIDR: Type.Optional(Type.String()),
    secondaryClusterCIDR: Type.Optional(Type.String()),
    nodeCIDRMaskSizeIPv4: Type.Optional(Type.Integer({ format: 'int32' })),
    nodeCIDRMaskSizeIPv6: Type.Optional(Type.Integer({ format: 'int32' })),
    kubeVendor: Type.Optional(Type.String()),
    appVersion: Type.Optional(Type.String({ description: 'AppVersion is the overall version of system components' })),
    componentPhase: Type.Optional(
      StringEnum(Object.values(ComponentPhase), {
        description: 'ComponentPhase is the status of components, contains "deployed", "pending-upgrade", "failed" status',
      }),
    ),
    clusterLevel: Type.Optional(Type.String({ description: 'ClusterLevel is the real level of cluster' })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterStatus',
    description: 'ClusterStatus represents information about the status of a cluster.',
  },
);
export type ClusterStatus = Static<typeof ClusterStatus>;

// --- Cluster ---------------------------------------------------------------------------------------

export const Cluster = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    // `default: {}` so the nested defaults apply even when a client sends no spec/status, as the
    // Go defaulters run on the (never nil) embedded structs.
    spec: Type.Optional(Field(ClusterSpec, { description: 'Spec defines the desired identities of clusters in this set.', default: {} })),
    status: Type.Optional(Field(ClusterStatus, { default: {} })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.Cluster',
    description: 'Cluster is a Kubernetes cluster in TKE.',
  },
);
export type Cluster = Static<typeof Cluster>;

export const ClusterList = ListOf(Cluster, {
  $id: 'io.tkestack.tke.api.platform.v1.ClusterList',
  description: 'ClusterList is the whole list of all clusters which owned by a tenant.',
  itemsDescription: 'List of clusters',
});
export type ClusterList = Static<typeof ClusterList>;
