// registry.tkestack.io/v1 ConfigMap (cluster-scoped): configuration data for the registry.
// After tkestack/tke api/registry/v1/types.go. SetDefaults_ConfigMap makes a nil `data` an
// empty map, which `omitempty` drops again on the wire, so no default is declared.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { ListOf, TypeMeta } from '../../meta/v1/schema.ts';
import { registryDefinition } from './types.ts';

export const ConfigMap = Type.Object({
  ...TypeMeta,
  metadata: Type.Optional(ObjectMeta),
  data: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process." })),
  binaryData: Type.Optional(Type.Record(Type.String(), Type.String({ format: 'byte' }), { description: "BinaryData contains the binary data. Each key must consist of alphanumeric characters, '-', '_' or '.'. BinaryData can contain byte sequences that are not in the UTF-8 range. The keys stored in BinaryData must not overlap with the ones in the Data field, this is enforced during validation process." })),
}, {
  $id: registryDefinition('ConfigMap'),
  description: 'ConfigMap holds configuration data for tke to consume.',
});
export type ConfigMap = Static<typeof ConfigMap>;

export const ConfigMapList = ListOf(ConfigMap, {
  $id: registryDefinition('ConfigMapList'),
  description: 'ConfigMapList is a resource containing a list of ConfigMap objects.',
  itemsDescription: 'Items is the list of ConfigMaps.',
});
export type ConfigMapList = Static<typeof ConfigMapList>;
