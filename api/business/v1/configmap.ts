// business.tkestack.io/v1 ConfigMap (cluster-scoped): configuration data for TKE to consume.
// After tkestack/tke api/business/v1/types.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { ListOf, TypeMeta } from '../../meta/v1/schema.ts';

export const ConfigMap = Type.Object({
  ...TypeMeta,
  metadata: Type.Optional(ObjectMeta),
  data: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process." })),
  binaryData: Type.Optional(Type.Record(Type.String(), Type.String({ format: 'byte' }), { description: "BinaryData contains the binary data. Each key must consist of alphanumeric characters, '-', '_' or '.'. BinaryData can contain byte sequences that are not in the UTF-8 range. The keys stored in BinaryData must not overlap with the ones in the Data field, this is enforced during validation process." })),
}, {
  $id: 'io.tkestack.tke.api.business.v1.ConfigMap',
  description: 'ConfigMap holds configuration data for tke to consume.',
});
export type ConfigMap = Static<typeof ConfigMap>;

export const ConfigMapList = ListOf(ConfigMap, {
  $id: 'io.tkestack.tke.api.business.v1.ConfigMapList',
  description: 'ConfigMapList is a resource containing a list of ConfigMap objects.',
  itemsDescription: 'Items is the list of ConfigMaps.',
});
export type ConfigMapList = Static<typeof ConfigMapList>;
