// Shapes shared by the registry.tkestack.io/v1 kinds (tkestack/tke api/registry/v1/types.go).
// The generic helpers (Field, ListOf, TypeMeta, Time) are the business group's; registry
// reuses them so every `$id` has exactly one schema behind it.
import { Type, type SchemaOptions } from '@sinclair/typebox';
import { StringEnum } from '../../meta/v1/schema.ts';

/** Definition name TKE's apiserver publishes for a Go type of this package. */
export const registryDefinition = (name: string): string => `io.tkestack.tke.api.registry.v1.${name}`;

/** FinalizerName is the name identifying a finalizer during resource lifecycle. */
export const RegistryFinalizer = {
  /** ChartGroupFinalize is an internal finalizer values to ChartGroup. */
  ChartGroup: 'chartgroup',
  /** ChartFinalize is an internal finalizer values to Chart. */
  Chart: 'chart',
} as const;

/** Visibility defines the visible properties of the repo or namespace. */
export const Visibility = {
  /** VisibilityPublic indicates the namespace or repo is public. */
  Public: 'Public',
  /** VisibilityUser indicates the namespace or repo is user. */
  User: 'User',
  /** VisibilityProject indicates the namespace or repo is project. */
  Project: 'Project',
  /** VisibilityPrivate indicates the namespace or repo is private. Deprecated. */
  Private: 'Private',
} as const;
export type Visibility = (typeof Visibility)[keyof typeof Visibility];

/** RepoType defines the type properties of the repo or namespace. */
export const RepoType = {
  /** RepoTypeSelfBuilt indicates the type of namespace or repo is selfbuilt. */
  SelfBuilt: 'SelfBuilt',
  /** RepoTypeImported indicates the type of namespace or repo is imported. */
  Imported: 'Imported',
  /** RepoTypeSystem indicates the type of namespace or repo is system. */
  System: 'System',
  /** RepoTypeProject indicates the type of namespace or repo is project. Deprecated. */
  Project: 'project',
  /** RepoTypePersonal indicates the type of namespace or repo is personal. Deprecated. */
  Personal: 'personal',
} as const;
export type RepoType = (typeof RepoType)[keyof typeof RepoType];

/**
 * A `visibility` field. The schema admits every value of Go's Visibility type; which of them a
 * kind accepts (namespaces and repositories: Public/Private, charts: Public/User/Project) is
 * checked by that kind's strategy, as TKE's validation does.
 */
export function VisibilityField(options: SchemaOptions = {}) {
  return StringEnum(Object.values(Visibility), { description: 'Visibility defines the visible properties of the repo or namespace.', ...options });
}

/** The `finalizers` of ChartGroupSpec/ChartSpec: TKE's own lifecycle list, distinct from metadata.finalizers. */
export function RegistrySpecFinalizers() {
  return Type.Array(Type.String(), {
    description: 'Finalizers is an opaque list of values that must be empty to permanently remove object from storage.',
  });
}

// The "+optional" status fields without omitempty (RepoCount, PullCount, ChartCount) are always
// on the wire in Go, as 0 when unset; `default: 0` gives the same objects.
export const countField = (description?: string) => Type.Optional(Type.Integer({ format: 'int32', default: 0, ...(description ? { description } : {}) }));
