// configmaps.platform.tkestack.io: configuration data for the platform's components, validated
// and shown as business.tkestack.io's configmaps are (TKE's `cm` short name, as registry's).
import { ConfigMap, ConfigMapList } from '../../../api/platform/v1/configmap.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { configMaps as businessConfigMaps } from '../business/configmap.ts';
import { verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { platformGroupName } from './names.ts';

export const configMaps: OpenAPIResource = {
  group: platformGroupName, version: 'v1', kind: 'ConfigMap', listKind: 'ConfigMapList',
  resource: 'configmaps', singular: 'configmap', namespaced: false,
  shortNames: ['cm'], categories: [],
  schema: ConfigMap,
  listSchema: ConfigMapList,
  subresources: {},
  verbs: verbsWithoutDeleteCollection,
  strategy: { ...businessConfigMaps.strategy, allowUnconditionalUpdate: false },
};
