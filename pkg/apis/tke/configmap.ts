// TKE's ConfigMap kind, which business, platform and registry each serve in their own group with
// the same rules: config keys as Kubernetes names them, no key in both data and binaryData.
// Configuration of TKE's components, not what a platform team manages: outside the `tke` category.
import type { TSchema } from '@sinclair/typebox';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import { verbsWithoutDeleteCollection } from './kinds.ts';

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

export interface ConfigMapKindOptions {
  group: string;
  schema: TSchema;
  listSchema: TSchema;
  /** TKE's `cm` where the group has it (platform, registry). */
  shortNames: string[];
  /** false where TKE's strategy refuses an update without a resourceVersion (platform, registry). */
  allowUnconditionalUpdate: boolean;
}

export function configMapKind(o: ConfigMapKindOptions): OpenAPIResource {
  return {
    group: o.group, version: 'v1', kind: 'ConfigMap', listKind: 'ConfigMapList',
    resource: 'configmaps', singular: 'configmap', namespaced: false,
    shortNames: o.shortNames, categories: [],
    schema: o.schema,
    listSchema: o.listSchema,
    subresources: {},
    verbs: verbsWithoutDeleteCollection,
    strategy: {
      validate: validateConfigMap,
      allowUnconditionalUpdate: o.allowUnconditionalUpdate,
      columns: [
        { name: 'Data', type: 'integer', format: '', description: 'Number of entries in data and binaryData.', priority: 0 },
      ],
      row: (obj) => [Object.keys((obj.data ?? {}) as object).length + Object.keys((obj.binaryData ?? {}) as object).length],
    },
  };
}
