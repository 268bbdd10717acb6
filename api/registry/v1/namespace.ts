// registry.tkestack.io/v1 Namespace (cluster-scoped): an image container in the registry.
// After tkestack/tke api/registry/v1/types.go; defaults after its defaults.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, TypeMeta } from '../../meta/v1/schema.ts';
import { Visibility, VisibilityField, countField, registryDefinition } from './types.ts';

export const NamespaceSpec = Type.Object(
  {
    name: Type.Optional(Type.String()),
    tenantID: Type.Optional(Type.String()),
    displayName: Type.Optional(Type.String()),
    // SetDefaults_NamespaceSpec: an empty visibility becomes Public.
    visibility: Type.Optional(VisibilityField({ default: Visibility.Public })),
  },
  {
    $id: registryDefinition('NamespaceSpec'),
    description: 'NamespaceSpec is a description of a namespace.',
  },
);
export type NamespaceSpec = Static<typeof NamespaceSpec>;

export const NamespaceStatus = Type.Object(
  {
    locked: Type.Optional(Type.Boolean()),
    repoCount: countField(),
  },
  {
    $id: registryDefinition('NamespaceStatus'),
    description: 'NamespaceStatus represents information about the status of a namespace.',
  },
);
export type NamespaceStatus = Static<typeof NamespaceStatus>;

export const Namespace = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    // `default: {}` so the nested defaults apply even when a client sends no spec/status, as the
    // Go defaulters run on the (never nil) embedded structs.
    spec: Type.Optional(Field(NamespaceSpec, { description: 'Spec defines the desired identities of namespace in this set.', default: {} })),
    status: Type.Optional(Field(NamespaceStatus, { default: {} })),
  },
  {
    $id: registryDefinition('Namespace'),
    description: 'Namespace is an image container in registry.',
  },
);
export type Namespace = Static<typeof Namespace>;

export const NamespaceList = ListOf(Namespace, {
  $id: registryDefinition('NamespaceList'),
  description: 'NamespaceList is the whole list of all namespaces which owned by a tenant.',
  itemsDescription: 'List of namespaces',
});
export type NamespaceList = Static<typeof NamespaceList>;
