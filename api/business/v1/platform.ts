// business.tkestack.io/v1 Platform (cluster-scoped): who administers a tenant's platform.
// After tkestack/tke api/business/v1/types.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, TypeMeta } from '../../meta/v1/schema.ts';

export const PlatformSpec = Type.Object(
  {
    tenantID: Type.Optional(Type.String()),
    administrators: Type.Optional(Type.Array(Type.String(), { description: 'Usernames of the administrators of the platform.' })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.PlatformSpec',
    description: 'PlatformSpec is a description of a platform.',
  },
);
export type PlatformSpec = Static<typeof PlatformSpec>;

export const Platform = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(Field(PlatformSpec, { description: 'Spec defines the desired identities of platforms in this set.' })),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.Platform',
    description: 'Platform is a platform in TKE.',
  },
);
export type Platform = Static<typeof Platform>;

export const PlatformList = ListOf(Platform, {
  $id: 'io.tkestack.tke.api.business.v1.PlatformList',
  description: 'PlatformList is the whole list of all platforms which owned by a tenant.',
  itemsDescription: 'List of platform.',
});
export type PlatformList = Static<typeof PlatformList>;
