// registry.tkestack.io/v1 ConfigMap (cluster-scoped): configuration data for the registry.
// After tkestack/tke api/registry/v1/types.go. SetDefaults_ConfigMap makes a nil `data` an
// empty map, which `omitempty` drops again on the wire, so no default is declared.
import type { Static } from '@sinclair/typebox';
import { configMapKind } from '../../meta/v1/configmap.ts';
import { registryDefinition } from './types.ts';

export const { ConfigMap, ConfigMapList } = configMapKind(registryDefinition);
export type ConfigMap = Static<typeof ConfigMap>;
