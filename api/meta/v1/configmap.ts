// The ConfigMap kind every TKE group serves (cluster-scoped configuration data for TKE to consume),
// one schema shape under each group's own definition names, as each Go package declares its own.
import { Type } from '@sinclair/typebox';
import { ListOf, TypeMeta } from './schema.ts';
import { ObjectMeta } from './types.ts';

/** `definition` names a Go type of the group's package, e.g. `io.tkestack.tke.api.platform.v1.<name>`. */
export function configMapKind(definition: (name: string) => string) {
  const ConfigMap = Type.Object(
    {
      ...TypeMeta,
      metadata: Type.Optional(ObjectMeta),
      data: Type.Optional(
        Type.Record(Type.String(), Type.String(), {
          description:
            "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
        }),
      ),
      binaryData: Type.Optional(
        Type.Record(Type.String(), Type.String({ format: 'byte' }), {
          description:
            "BinaryData contains the binary data. Each key must consist of alphanumeric characters, '-', '_' or '.'. BinaryData can contain byte sequences that are not in the UTF-8 range. The keys stored in BinaryData must not overlap with the ones in the Data field, this is enforced during validation process.",
        }),
      ),
    },
    {
      $id: definition('ConfigMap'),
      description: 'ConfigMap holds configuration data for tke to consume.',
    },
  );
  const ConfigMapList = ListOf(ConfigMap, {
    $id: definition('ConfigMapList'),
    description: 'ConfigMapList is a resource containing a list of ConfigMap objects.',
    itemsDescription: 'Items is the list of ConfigMaps.',
  });
  return { ConfigMap, ConfigMapList };
}
