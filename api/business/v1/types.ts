// Shapes shared by the business.tkestack.io/v1 kinds (tkestack/tke api/business/v1/types.go).
//
// Named Go structs carry an `$id` equal to the definition name TKE's own apiserver publishes
// (its definition namer reverses the Go package domain: tkestack.io/tke/api/business/v1.X ->
// io.tkestack.tke.api.business.v1.X), so the OpenAPI builder emits one definition per Go type
// and kubectl sees the same names as against a real TKE. Go map aliases (ResourceList,
// ClusterHard) have no `$id`: openapi-gen inlines them, and so do we.
import { Type, type Static, type SchemaOptions } from '@sinclair/typebox';
import { ResourceList } from '../../meta/v1/schema.ts';

// --- business.tkestack.io/v1 ------------------------------------------------------------------

/** FinalizerName is the name identifying a finalizer during project lifecycle. */
export const BusinessFinalizer = {
  /** Internal finalizer value of Project. */
  Project: 'project',
  /** Internal finalizer value of Namespace. */
  Namespace: 'namespace',
  /** Internal finalizer value of ImageNamespace. */
  ImageNamespace: 'imagenamespace',
  /** Internal finalizer value of ChartGroup. */
  ChartGroup: 'chartgroup',
} as const;

export const HardQuantity = Type.Object(
  {
    hard: Type.Optional(ResourceList()),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.HardQuantity',
    description: 'HardQuantity is a straightforward wrapper of ResourceList.',
  },
);
export type HardQuantity = Static<typeof HardQuantity>;

export const UsedQuantity = Type.Object(
  {
    used: Type.Optional(ResourceList()),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.UsedQuantity',
    description: 'UsedQuantity is a straightforward wrapper of ResourceList.',
  },
);
export type UsedQuantity = Static<typeof UsedQuantity>;

/** ClusterHard is a set of (cluster name, HardQuantity) pairs. */
export function ClusterHard(options: SchemaOptions = {}) {
  return Type.Record(Type.String(), HardQuantity, options);
}
export type ClusterHard = Record<string, HardQuantity>;

/** ClusterUsed is a set of (cluster name, UsedQuantity) pairs. */
export function ClusterUsed(options: SchemaOptions = {}) {
  return Type.Record(Type.String(), UsedQuantity, options);
}
export type ClusterUsed = Record<string, UsedQuantity>;
