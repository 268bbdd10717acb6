// configmaps.registry.tkestack.io: configuration data for the registry components. TKE
// validates and shows them exactly as business.tkestack.io's configmaps, so that strategy is
// reused; only the group, schema and TKE's `cm` short name differ.
import { ConfigMap, ConfigMapList } from '../../../api/registry/v1/configmap.ts';
import { configMaps as businessConfigMaps } from '../business/configmap.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { registryGroup } from './rules.ts';
import { verbsWithoutDeleteCollection } from '../tke/kinds.ts';

export const configMaps: OpenAPIResource = {
  group: registryGroup, version: 'v1', kind: 'ConfigMap', listKind: 'ConfigMapList',
  resource: 'configmaps', singular: 'configmap', namespaced: false,
  shortNames: ['cm'], categories: ['tke'],
  schema: ConfigMap,
  listSchema: ConfigMapList,
  subresources: {},
  verbs: verbsWithoutDeleteCollection,
  strategy: { ...businessConfigMaps.strategy, allowUnconditionalUpdate: false },
};
