// configmaps.platform.tkestack.io: configuration data for the platform's components.
import { ConfigMap, ConfigMapList } from '../../../api/platform/v1/configmap.ts';
import { configMapKind } from '../tke/configmap.ts';
import { platformGroupName } from './names.ts';

export const configMaps = configMapKind({
  group: platformGroupName,
  schema: ConfigMap,
  listSchema: ConfigMapList,
  shortNames: ['cm'],
  allowUnconditionalUpdate: false,
});
