// business.tkestack.io/v1 Namespace: a namespace of a cluster granted to a project. The object
// lives in the Kubernetes namespace named after its project (metadata.namespace = project name).
// After tkestack/tke api/business/v1/types.go; defaults from defaults.go where visible on the wire.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, ResourceList, SpecFinalizers, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';

/** NamespacePhase indicates the status of namespace in project. */
export const NamespacePhase = {
  /** Declared, but not yet created in the cluster. */
  Pending: 'Pending',
  /** The namespace of the project is available. */
  Available: 'Available',
  /** The namespace is locked. */
  Locked: 'Locked',
  /** Creating the namespace in the cluster failed, or it was deleted there after creation. */
  Failed: 'Failed',
  /** The namespace is undergoing graceful termination. */
  Terminating: 'Terminating',
} as const;
export type NamespacePhase = (typeof NamespacePhase)[keyof typeof NamespacePhase];

export const NamespaceSpec = Type.Object(
  {
    finalizers: Type.Optional(SpecFinalizers()),
    tenantID: Type.Optional(Type.String()),
    clusterName: Type.Optional(Type.String()),
    clusterType: Type.Optional(Type.String()),
    clusterVersion: Type.Optional(Type.String()),
    clusterDisplayName: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    hard: Type.Optional(ResourceList({ description: 'Hard represents the total resources of a namespace.' })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.NamespaceSpec',
    description: 'NamespaceSpec represents a namespace in cluster of a project.',
  },
);
export type NamespaceSpec = Static<typeof NamespaceSpec>;

export const NamespaceCert = Type.Object(
  {
    certPem: Type.Optional(Type.String({ format: 'byte' })),
    keyPem: Type.Optional(Type.String({ format: 'byte' })),
    caCertPem: Type.Optional(Type.String({ format: 'byte' })),
    apiServer: Type.Optional(Type.String()),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.NamespaceCert',
    description: 'NamespaceCert represents a x509 certificate of a namespace in project.',
  },
);
export type NamespaceCert = Static<typeof NamespaceCert>;

export const NamespaceStatus = Type.Object(
  {
    // SetDefaults_NamespaceStatus: an empty phase becomes Pending (and `phase` has no omitempty).
    phase: Type.Optional(StringEnum(Object.values(NamespacePhase), { default: NamespacePhase.Pending })),
    lastTransitionTime: Type.Optional(Field(Time, { description: 'The last time the condition transitioned from one status to another.' })),
    reason: Type.Optional(Type.String({ description: "The reason for the condition's last transition." })),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about the transition.' })),
    resourceQuotaName: Type.Optional(Type.String()),
    used: Type.Optional(ResourceList({ description: 'Used represents the resources of a namespace that are used.' })),
    cachedSpecHard: Type.Optional(ResourceList()),
    certificate: Type.Optional(NamespaceCert),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.NamespaceStatus',
    description: 'NamespaceStatus represents information about the status of a namespace in project.',
  },
);
export type NamespaceStatus = Static<typeof NamespaceStatus>;

export const Namespace = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    // `default: {}` so the nested defaults apply even when a client sends no spec/status, as the
    // Go defaulters run on the (never nil) embedded structs.
    spec: Type.Optional(Field(NamespaceSpec, { description: 'Spec defines the desired identities of namespaces in this set.', default: {} })),
    status: Type.Optional(Field(NamespaceStatus, { default: {} })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.Namespace',
    description: 'Namespace is a namespace in cluster.',
  },
);
export type Namespace = Static<typeof Namespace>;

export const NamespaceList = ListOf(Namespace, {
  $id: 'io.tkestack.tke.api.business.v1.NamespaceList',
  description: 'NamespaceList is the whole list of all namespaces which owned by a tenant.',
  itemsDescription: 'List of namespaces',
});
export type NamespaceList = Static<typeof NamespaceList>;

/** Query options of GET namespaces/<name>/certificate. */
export const NamespaceCertOptions = Type.Object(
  {
    ...TypeMeta,
    validDays: Type.Optional(Type.String()),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.NamespaceCertOptions',
    description: 'NamespaceCertOptions is query options of getting namespace with a x509 certificate.',
  },
);
export type NamespaceCertOptions = Static<typeof NamespaceCertOptions>;
