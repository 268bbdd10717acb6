// registry.tkestack.io/v1 Repository: an image repository, namespaced by the name of the
// registry Namespace object it belongs to. After tkestack/tke api/registry/v1/types.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, Time, TypeMeta } from '../../meta/v1/schema.ts';
import { Visibility, VisibilityField, countField, registryDefinition } from './types.ts';

export const RepositorySpec = Type.Object(
  {
    name: Type.Optional(Type.String()),
    tenantID: Type.Optional(Type.String()),
    namespaceName: Type.Optional(Type.String()),
    displayName: Type.Optional(Type.String()),
    // SetDefaults_RepositorySpec: an empty visibility becomes Public.
    visibility: Type.Optional(VisibilityField({ default: Visibility.Public })),
  },
  {
    $id: registryDefinition('RepositorySpec'),
  },
);
export type RepositorySpec = Static<typeof RepositorySpec>;

export const RepositoryTag = Type.Object(
  {
    // Required in TKE's OpenAPI, but Go's decoder takes an object without them; so do we.
    name: Type.Optional(Type.String()),
    digest: Type.Optional(Type.String()),
    timeCreated: Type.Optional(Time),
  },
  {
    $id: registryDefinition('RepositoryTag'),
  },
);
export type RepositoryTag = Static<typeof RepositoryTag>;

export const RepositoryStatus = Type.Object(
  {
    locked: Type.Optional(Type.Boolean()),
    pullCount: countField(),
    // SetDefaults_RepositoryStatus: nil tags become [], and `tags` has no omitempty.
    tags: Type.Optional(Type.Array(RepositoryTag, { default: [] })),
  },
  {
    $id: registryDefinition('RepositoryStatus'),
  },
);
export type RepositoryStatus = Static<typeof RepositoryStatus>;

export const Repository = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(Field(RepositorySpec, { description: 'Spec defines the desired identities of repository in this set.', default: {} })),
    status: Type.Optional(Field(RepositoryStatus, { default: {} })),
  },
  {
    $id: registryDefinition('Repository'),
    description: 'Repository is a repo in namespace of registry.',
  },
);
export type Repository = Static<typeof Repository>;

export const RepositoryList = ListOf(Repository, {
  $id: registryDefinition('RepositoryList'),
  description: 'RepositoryList is the whole list of all repositories which owned by a namespace.',
  itemsDescription: 'List of repositories',
});
export type RepositoryList = Static<typeof RepositoryList>;
