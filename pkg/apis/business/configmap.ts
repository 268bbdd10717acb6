// configmaps.business.tkestack.io: configuration data for TKE's own components.
import { ConfigMap, ConfigMapList } from '../../../api/business/v1/configmap.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import { verbsWithoutDeleteCollection } from '../tke/kinds.ts';

const configKey = /^[-._a-zA-Z0-9]+$/;

function validateConfigMap(obj: KubeObject): FieldError[] {
  const problems: FieldError[] = [];
  const data = (obj.data ?? {}) as Record<string, unknown>;
  const binary = (obj.binaryData ?? {}) as Record<string, unknown>;
  for (const [where, map] of [['data', data], ['binaryData', binary]] as const) {
    for (const key of Object.keys(map)) {
      if (!configKey.test(key) || key.length > 253) problems.push(field.invalid(`${where}[${key}]`, key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
    }
  }
  for (const key of Object.keys(binary)) {
    if (key in data) problems.push(field.invalid(`binaryData[${key}]`, key, 'duplicate of key present in data'));
  }
  return problems;
}

export const configMaps: OpenAPIResource = {
  group: 'business.tkestack.io', version: 'v1', kind: 'ConfigMap', listKind: 'ConfigMapList',
  resource: 'configmaps', singular: 'configmap', namespaced: false,
  shortNames: [], categories: ['tke'],
  schema: ConfigMap,
  listSchema: ConfigMapList,
  subresources: {},
  verbs: verbsWithoutDeleteCollection,
  strategy: {
    validate: validateConfigMap,
    columns: [
      { name: 'Data', type: 'integer', format: '', description: 'Number of entries in data and binaryData.', priority: 0 },
    ],
    row: (obj) => [Object.keys((obj.data ?? {}) as object).length + Object.keys((obj.binaryData ?? {}) as object).length],
  },
};
