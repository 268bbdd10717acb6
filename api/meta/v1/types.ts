// meta.k8s.io/v1: the shapes every kind shares. Declared once as TypeBox schemas so the
// TypeScript types, the validators and the OpenAPI documents all come from the same place.
import { Type, type Static } from '@sinclair/typebox';

export const ManagedFieldsEntry = Type.Object(
  {
    manager: Type.Optional(Type.String()),
    operation: Type.Optional(Type.String({ description: 'Apply or Update' })),
    apiVersion: Type.Optional(Type.String()),
    time: Type.Optional(Type.String({ format: 'date-time' })),
    fieldsType: Type.Optional(Type.String()),
    fieldsV1: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    subresource: Type.Optional(Type.String()),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry' },
);
export type ManagedFieldsEntry = Static<typeof ManagedFieldsEntry>;

export const OwnerReference = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.String(),
    name: Type.String(),
    uid: Type.String(),
    controller: Type.Optional(Type.Boolean()),
    blockOwnerDeletion: Type.Optional(Type.Boolean()),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference', 'x-kubernetes-map-type': 'atomic' },
);
export type OwnerReference = Static<typeof OwnerReference>;

export const ObjectMeta = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'Name must be unique within a namespace.' })),
    generateName: Type.Optional(Type.String({ description: 'Prefix the server uses to generate a unique name when name is empty.' })),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String({ description: 'Opaque value that changes on every write; used for optimistic concurrency and watches.' })),
    generation: Type.Optional(Type.Integer({ description: 'Incremented on every change of the desired state (spec).' })),
    creationTimestamp: Type.Optional(Type.String({ format: 'date-time' })),
    deletionTimestamp: Type.Optional(Type.String({ format: 'date-time' })),
    deletionGracePeriodSeconds: Type.Optional(Type.Integer()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
    ownerReferences: Type.Optional(
      Type.Array(OwnerReference, {
        'x-kubernetes-patch-merge-key': 'uid',
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['uid'],
      }),
    ),
    finalizers: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-list-type': 'set' })),
    managedFields: Type.Optional(Type.Array(ManagedFieldsEntry)),
    selfLink: Type.Optional(Type.String()),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', description: 'Standard object metadata.' },
);
export type ObjectMeta = Static<typeof ObjectMeta>;

export const ListMeta = Type.Object(
  {
    resourceVersion: Type.Optional(Type.String()),
    continue: Type.Optional(Type.String()),
    remainingItemCount: Type.Optional(Type.Integer()),
    selfLink: Type.Optional(Type.String()),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta' },
);
export type ListMeta = Static<typeof ListMeta>;

/** Any stored object. Kinds narrow spec and status through their own schemas. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: ListMeta;
  items: T[];
}

export const StatusCause = Type.Object({
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  field: Type.Optional(Type.String()),
});
export type StatusCause = Static<typeof StatusCause>;

export const Status = Type.Object(
  {
    kind: Type.Literal('Status'),
    apiVersion: Type.Literal('v1'),
    metadata: Type.Object({}),
    status: Type.Union([Type.Literal('Success'), Type.Literal('Failure')]),
    message: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    details: Type.Optional(
      Type.Object({
        name: Type.Optional(Type.String()),
        group: Type.Optional(Type.String()),
        kind: Type.Optional(Type.String()),
        uid: Type.Optional(Type.String()),
        causes: Type.Optional(Type.Array(StatusCause)),
        retryAfterSeconds: Type.Optional(Type.Integer()),
      }),
    ),
    code: Type.Integer(),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.Status' },
);
export type Status = Static<typeof Status>;

export interface TableColumnDefinition {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  /** 0 is shown by default, higher only with -o wide. */
  priority: number;
}
