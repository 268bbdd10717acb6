// configmaps.registry.tkestack.io: configuration data for the registry components.
import { ConfigMap, ConfigMapList } from '../../../api/registry/v1/configmap.ts';
import { configMapKind } from '../tke/configmap.ts';
import { registryGroup } from './rules.ts';

export const configMaps = configMapKind({
  group: registryGroup,
  schema: ConfigMap,
  listSchema: ConfigMapList,
  shortNames: ['cm'],
  allowUnconditionalUpdate: false,
});
