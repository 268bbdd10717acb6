// platform.tkestack.io/v1 Registry (cluster-scoped): a third-party image registry a user records
// (its URL and credentials), after tkestack/tke api/platform/v1/types.go. The password is a secret
// field.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, TypeMeta } from '../../meta/v1/schema.ts';

export const RegistrySpec = Type.Object(
  {
    tenantID: Type.Optional(Type.String()),
    displayName: Type.Optional(Type.String()),
    clusterName: Type.Optional(Type.String()),
    url: Type.Optional(Type.String()),
    userName: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.RegistrySpec',
    description: 'RegistrySpec indicates the specifications of the third-party image repository.',
  },
);

export const Registry = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(Field(RegistrySpec, { default: {} })),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.Registry',
    description: 'Registry records the third-party image repository information stored by the user.',
  },
);
export type Registry = Static<typeof Registry>;

export const RegistryList = ListOf(Registry, {
  $id: 'io.tkestack.tke.api.platform.v1.RegistryList',
  description: 'RegistryList is a resource containing a list of Registry objects.',
  itemsDescription: 'List of registries',
});
