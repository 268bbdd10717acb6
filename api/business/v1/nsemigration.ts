// business.tkestack.io/v1 NsEmigration: a request, made in the source project's namespace, to
// move one of its business namespaces to another project. After tkestack/tke api/business/v1/types.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';

/** NsEmigrationPhase indicates the phase of namespace emigrations. */
export const NsEmigrationPhase = {
  /** Waiting to be executed. */
  Pending: 'Pending',
  /** The old namespace has been locked. */
  OldOneLocked: 'OldOneLocked',
  /** The old namespace has been detached from the Kubernetes namespace. */
  OldOneDetached: 'OldOneDetached',
  /** The new namespace has been created. */
  NewOneCreated: 'NewOneCreated',
  /** The old namespace is terminating. */
  OldOneTerminating: 'OldOneTerminating',
  /** The emigration finished. */
  Finished: 'Finished',
  /** The emigration failed. */
  Failed: 'Failed',
} as const;
export type NsEmigrationPhase = (typeof NsEmigrationPhase)[keyof typeof NsEmigrationPhase];

export const NsEmigrationSpec = Type.Object(
  {
    tenantID: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String({ description: 'The name of the business namespace (in this project) to move.' })),
    nsShowName: Type.Optional(Type.String({ description: 'The Kubernetes namespace the business namespace stands for.' })),
    destination: Type.Optional(Type.String({ description: 'The project the namespace moves to.' })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.NsEmigrationSpec',
    description: 'NsEmigrationSpec represents a namespace emigration.',
  },
);
export type NsEmigrationSpec = Static<typeof NsEmigrationSpec>;

export const NsEmigrationStatus = Type.Object(
  {
    phase: Type.Optional(StringEnum(Object.values(NsEmigrationPhase))),
    lastTransitionTime: Type.Optional(Field(Time, { description: 'The last time the condition transitioned from one status to another.' })),
    reason: Type.Optional(Type.String({ description: "The reason for the condition's last transition." })),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about the transition.' })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.NsEmigrationStatus',
    description: 'NsEmigrationStatus represents information about the status of a namespace emigration.',
  },
);
export type NsEmigrationStatus = Static<typeof NsEmigrationStatus>;

export const NsEmigration = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(Field(NsEmigrationSpec, { description: 'Spec defines the desired identities of emigrations in this set.', default: {} })),
    status: Type.Optional(NsEmigrationStatus),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.NsEmigration',
    description: 'NsEmigration is an namespace emigration.',
  },
);
export type NsEmigration = Static<typeof NsEmigration>;

export const NsEmigrationList = ListOf(NsEmigration, {
  $id: 'io.tkestack.tke.api.business.v1.NsEmigrationList',
  description: 'NsEmigrationList is the whole list of all namespace emigrations which owned by a tenant.',
  itemsDescription: 'List of namespace emigrations',
});
export type NsEmigrationList = Static<typeof NsEmigrationList>;
