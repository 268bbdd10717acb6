// business.tkestack.io/v1 Project (cluster-scoped), after tkestack/tke api/business/v1/types.go.
// Defaults follow api/business/v1/defaults.go where they are visible on the wire: Go fills the
// other empty maps/slices too, but `omitempty` drops them again when the object is written out.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, SpecFinalizers, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';
import { ClusterHard, ClusterUsed } from './types.ts';

/** ProjectPhase defines the phase of project constructor. */
export const ProjectPhase = {
  /** The project is active. */
  Active: 'Active',
  /** The project has been declared. */
  Pending: 'Pending',
  /** The project is undergoing graceful termination. */
  Terminating: 'Terminating',
  /** The project has failed. */
  Failed: 'Failed',
} as const;
export type ProjectPhase = (typeof ProjectPhase)[keyof typeof ProjectPhase];

export const ProjectSpec = Type.Object(
  {
    finalizers: Type.Optional(SpecFinalizers()),
    tenantID: Type.Optional(Type.String()),
    displayName: Type.Optional(Type.String()),
    // SetDefaults_ProjectSpec: a nil member list becomes [], and `members` has no omitempty.
    members: Type.Optional(Type.Array(Type.String(), { description: 'Users represents the user list of project.', default: [] })),
    parentProjectName: Type.Optional(Type.String({ description: 'ParentProjectName indicates the superior project name of this service.' })),
    clusters: Type.Optional(ClusterHard({ description: 'Clusters represents clusters that can be used and the resource limits of each cluster.' })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.ProjectSpec',
    description: 'ProjectSpec is a description of a project.',
  },
);
export type ProjectSpec = Static<typeof ProjectSpec>;

export const ProjectStatus = Type.Object(
  {
    locked: Type.Optional(Type.Boolean()),
    // SetDefaults_ProjectStatus: an empty phase becomes Pending.
    phase: Type.Optional(StringEnum(Object.values(ProjectPhase), { default: ProjectPhase.Pending })),
    clusters: Type.Optional(ClusterUsed({ description: 'Clusters represents clusters that have been used and the resource usage of each cluster.' })),
    calculatedChildProjects: Type.Optional(Type.Array(Type.String())),
    calculatedNamespaces: Type.Optional(Type.Array(Type.String())),
    cachedSpecClusters: Type.Optional(ClusterHard()),
    cachedParent: Type.Optional(Type.String()),
    lastTransitionTime: Type.Optional(Field(Time, { description: 'The last time the condition transitioned from one status to another.' })),
    reason: Type.Optional(Type.String({ description: "The reason for the condition's last transition." })),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about the transition.' })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.ProjectStatus',
    description: 'ProjectStatus represents information about the status of a project.',
  },
);
export type ProjectStatus = Static<typeof ProjectStatus>;

export const Project = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    // `default: {}` so the nested defaults apply even when a client sends no spec/status, as the
    // Go defaulters run on the (never nil) embedded structs.
    spec: Type.Optional(Field(ProjectSpec, { description: 'Spec defines the desired identities of project in this set.', default: {} })),
    status: Type.Optional(Field(ProjectStatus, { default: {} })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.Project',
    description: 'Project is a project in TKE.',
  },
);
export type Project = Static<typeof Project>;

export const ProjectList = ListOf(Project, {
  $id: 'io.tkestack.tke.api.business.v1.ProjectList',
  description: 'ProjectList is the whole list of all projects which owned by a tenant.',
  itemsDescription: 'List of projects',
});
export type ProjectList = Static<typeof ProjectList>;
