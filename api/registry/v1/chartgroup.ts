// registry.tkestack.io/v1 ChartGroup (cluster-scoped): a chart container in the chartmuseum
// registry. After tkestack/tke api/registry/v1/types.go; defaults after its defaults.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';
import { RegistrySpecFinalizers, RepoType, Visibility, VisibilityField, countField, registryDefinition } from './types.ts';

/** ChartGroupPhase indicates the phase of chart groups. */
export const ChartGroupPhase = {
  /** The chart group has been declared, when the chart group has not actually been created. */
  Pending: 'Pending',
  /** The chart group of the project is available. */
  Available: 'Available',
  /** The chart group failed to be created or deleted after it has been created. */
  Failed: 'Failed',
  /** The chart group is undergoing graceful termination. */
  Terminating: 'Terminating',
} as const;
export type ChartGroupPhase = (typeof ChartGroupPhase)[keyof typeof ChartGroupPhase];

export const ChartGroupImport = Type.Object(
  {
    addr: Type.Optional(Type.String()),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
  },
  {
    $id: registryDefinition('ChartGroupImport'),
    description: 'ChartGroupImport is a description of an import chart group.',
  },
);
export type ChartGroupImport = Static<typeof ChartGroupImport>;

export const ChartGroupSpec = Type.Object(
  {
    name: Type.Optional(Type.String()),
    tenantID: Type.Optional(Type.String()),
    displayName: Type.Optional(Type.String()),
    // SetDefaults_ChartGroupSpec: empty visibility -> Public, empty type -> SelfBuilt.
    visibility: Type.Optional(VisibilityField({ default: Visibility.Public })),
    type: Type.Optional(
      StringEnum(Object.values(RepoType), { description: 'RepoType defines the type properties of the repo or namespace.', default: RepoType.SelfBuilt }),
    ),
    description: Type.Optional(Type.String()),
    // SetDefaults_ChartGroupSpec makes nil projects/users empty lists, which `omitempty` drops
    // again on the wire; so no default is declared for them.
    projects: Type.Optional(Type.Array(Type.String())),
    finalizers: Type.Optional(RegistrySpecFinalizers()),
    users: Type.Optional(Type.Array(Type.String())),
    importedInfo: Type.Optional(ChartGroupImport),
    creator: Type.Optional(Type.String()),
  },
  {
    $id: registryDefinition('ChartGroupSpec'),
    description: 'ChartGroupSpec is a description of a chart group.',
  },
);
export type ChartGroupSpec = Static<typeof ChartGroupSpec>;

export const ChartGroupStatus = Type.Object(
  {
    locked: Type.Optional(Type.Boolean()),
    chartCount: countField(),
    // SetDefaults_ChartGroupStatus: an empty phase becomes Pending.
    phase: Type.Optional(
      StringEnum(Object.values(ChartGroupPhase), { description: 'ChartGroupPhase indicates the phase of chart groups.', default: ChartGroupPhase.Pending }),
    ),
    lastTransitionTime: Type.Optional(Field(Time, { description: 'The last time the condition transitioned from one status to another.' })),
    reason: Type.Optional(Type.String({ description: "The reason for the condition's last transition." })),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about the transition.' })),
  },
  {
    $id: registryDefinition('ChartGroupStatus'),
    description: 'ChartGroupStatus represents information about the status of a chart group.',
  },
);
export type ChartGroupStatus = Static<typeof ChartGroupStatus>;

export const ChartGroup = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(Field(ChartGroupSpec, { description: 'Spec defines the desired identities of chart group in this set.', default: {} })),
    status: Type.Optional(Field(ChartGroupStatus, { default: {} })),
  },
  {
    $id: registryDefinition('ChartGroup'),
    description: 'ChartGroup is a chart container in chartmuseum registry.',
  },
);
export type ChartGroup = Static<typeof ChartGroup>;

export const ChartGroupList = ListOf(ChartGroup, {
  $id: registryDefinition('ChartGroupList'),
  description: 'ChartGroupList is the whole list of all chart groups which owned by a tenant.',
  itemsDescription: 'List of chart groups',
});
export type ChartGroupList = Static<typeof ChartGroupList>;
