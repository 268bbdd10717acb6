// platform.tkestack.io/v1 ClusterAddonType (cluster-scoped, list only): the addons a cluster may
// have, after tkestack/tke api/platform/v1/types.go. TKE computes them; so does this server.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { ListOf, StringEnum, TypeMeta } from '../../meta/v1/schema.ts';

/** AddonLevel is level of cluster addon. */
export const AddonLevel = { Basic: 'Basic', Enhance: 'Enhance' } as const;

export const ClusterAddonType = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    type: Type.Optional(Type.String({ description: 'Addon type, one of Helm, PersistentEvent or LogCollector etc.' })),
    level: Type.Optional(StringEnum(Object.values(AddonLevel), { description: 'AddonLevel is level of cluster addon.' })),
    latestVersion: Type.Optional(Type.String({ description: 'LatestVersion is latest version of the addon.' })),
    description: Type.Optional(Type.String({ description: 'Description is desc of the addon.' })),
    compatibleClusterType: Type.Optional(Type.Array(Type.String())),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterAddonType',
    description: 'ClusterAddonType records the all addons of cluster available.',
  },
);
export type ClusterAddonType = Static<typeof ClusterAddonType>;

export const ClusterAddonTypeList = ListOf(ClusterAddonType, {
  $id: 'io.tkestack.tke.api.platform.v1.ClusterAddonTypeList',
  description: 'ClusterAddonTypeList is a resource containing a list of ClusterAddonType objects.',
  itemsDescription: 'Items is the list of ClusterAddonTypes.',
});
