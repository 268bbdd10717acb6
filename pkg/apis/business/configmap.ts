// configmaps.business.tkestack.io: configuration data for TKE's own components.
import { ConfigMap, ConfigMapList } from '../../../api/business/v1/configmap.ts';
import { configMapKind } from '../tke/configmap.ts';

export const configMaps = configMapKind({
  group: 'business.tkestack.io',
  schema: ConfigMap,
  listSchema: ConfigMapList,
  shortNames: [],
  allowUnconditionalUpdate: true,
});
