// TKE's ConfigMap kind, which business, platform and registry each serve in their own group with
// the same rules: config keys as Kubernetes names them, no key in both data and binaryData.
// Configuration of TKE's components, not what a platform team manages: outside the `tke` category.
import type { TSchema } from '@sinclair/typebox';
import type { configMapKind as configMapSchemas } from '../../../api/meta/v1/configmap.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import type { ObjectOf } from '../../rest/resource.ts';
import { verbsWithoutDeleteCollection } from './kinds.ts';

/** Every group's ConfigMap schema: one shape under the group's own definition names. */
type ConfigMapSchema = ReturnType<typeof configMapSchemas>['ConfigMap'];

const configKey = /^[-._a-zA-Z0-9]+$/;

function validateConfigMap(obj: ObjectOf<ConfigMapSchema>): FieldError[] {
  const problems: FieldError[] = [];
  const data = obj.data ?? {};
  const binary = obj.binaryData ?? {};
  for (const [where, map] of [
    ['data', data],
    ['binaryData', binary],
  ] as const) {
    for (const key of Object.keys(map)) {
      if (!configKey.test(key) || key.length > 253)
        problems.push(field.invalid(`${where}[${key}]`, key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
    }
  }
  for (const key of Object.keys(binary)) {
    if (key in data) problems.push(field.invalid(`binaryData[${key}]`, key, 'duplicate of key present in data'));
  }
  return problems;
}

export interface ConfigMapKindOptions {
  group: string;
  schema: ConfigMapSchema;
  listSchema: TSchema;
  /** TKE's `cm` where the group has it (platform, registry). */
  shortNames: string[];
  /** false where TKE's strategy refuses an update without a resourceVersion (platform, registry). */
  allowUnconditionalUpdate: boolean;
}

export function configMapKind(o: ConfigMapKindOptions): OpenAPIResource<ConfigMapSchema> {
  return {
    group: o.group,
    version: 'v1',
    kind: 'ConfigMap',
    listKind: 'ConfigMapList',
    resource: 'configmaps',
    singular: 'configmap',
    namespaced: false,
    shortNames: o.shortNames,
    categories: [],
    schema: o.schema,
    listSchema: o.listSchema,
    subresources: {},
    verbs: verbsWithoutDeleteCollection,
    strategy: {
      validate: validateConfigMap,
      allowUnconditionalUpdate: o.allowUnconditionalUpdate,
      columns: [{ name: 'Data', type: 'integer', format: '', description: 'Number of entries in data and binaryData.', priority: 0 }],
      row: obj => [Object.keys(obj.data ?? {}).length + Object.keys(obj.binaryData ?? {}).length],
    },
  };
}
