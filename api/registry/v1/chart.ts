// registry.tkestack.io/v1 Chart: a Helm chart, namespaced by the name of the ChartGroup object
// it belongs to. After tkestack/tke api/registry/v1/types.go; defaults after its defaults.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';
import { RegistrySpecFinalizers, Visibility, VisibilityField, countField, registryDefinition } from './types.ts';

/** ChartPhase indicates the phase of chart. */
export const ChartPhase = {
  /** The chart has been declared, when the chart has not actually been created. */
  Pending: 'Pending',
  /** The chart of the project is available. */
  Available: 'Available',
  /** The chart failed to be created or deleted after it has been created. */
  Failed: 'Failed',
  /** The chart is undergoing graceful termination. */
  Terminating: 'Terminating',
} as const;
export type ChartPhase = (typeof ChartPhase)[keyof typeof ChartPhase];

export const ChartSpec = Type.Object(
  {
    name: Type.Optional(Type.String()),
    tenantID: Type.Optional(Type.String()),
    chartGroupName: Type.Optional(Type.String()),
    displayName: Type.Optional(Type.String()),
    // SetDefaults_ChartSpec: an empty visibility becomes Public.
    visibility: Type.Optional(VisibilityField({ default: Visibility.Public })),
    finalizers: Type.Optional(RegistrySpecFinalizers()),
  },
  {
    $id: registryDefinition('ChartSpec'),
  },
);
export type ChartSpec = Static<typeof ChartSpec>;

export const ChartVersion = Type.Object(
  {
    version: Type.Optional(Type.String()),
    chartSize: Type.Optional(Type.Integer({ format: 'int64' })),
    timeCreated: Type.Optional(Time),
    description: Type.Optional(Type.String()),
    appVersion: Type.Optional(Type.String()),
    icon: Type.Optional(Type.String()),
  },
  {
    $id: registryDefinition('ChartVersion'),
  },
);
export type ChartVersion = Static<typeof ChartVersion>;

export const ChartStatus = Type.Object(
  {
    locked: Type.Optional(Type.Boolean()),
    pullCount: countField(),
    // SetDefaults_ChartStatus: nil versions become [] and an empty phase becomes Pending.
    versions: Type.Optional(Type.Array(ChartVersion, { default: [] })),
    phase: Type.Optional(StringEnum(Object.values(ChartPhase), { description: 'ChartPhase indicates the phase of chart.', default: ChartPhase.Pending })),
    lastTransitionTime: Type.Optional(Field(Time, { description: 'The last time the condition transitioned from one status to another.' })),
    reason: Type.Optional(Type.String({ description: "The reason for the condition's last transition." })),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about the transition.' })),
  },
  {
    $id: registryDefinition('ChartStatus'),
  },
);
export type ChartStatus = Static<typeof ChartStatus>;

export const Chart = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(Field(ChartSpec, { description: 'Spec defines the desired identities of chart in this set.', default: {} })),
    status: Type.Optional(Field(ChartStatus, { default: {} })),
  },
  {
    $id: registryDefinition('Chart'),
    description: 'Chart is a chart in chart group of chartmuseum registry.',
  },
);
export type Chart = Static<typeof Chart>;

export const ChartList = ListOf(Chart, {
  $id: registryDefinition('ChartList'),
  description: 'ChartList is the whole list of all charts which owned by a chart group.',
  itemsDescription: 'List of charts',
});
export type ChartList = Static<typeof ChartList>;
