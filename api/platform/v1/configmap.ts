// platform.tkestack.io/v1 ConfigMap (cluster-scoped): configuration data for TKE to consume.
// After tkestack/tke api/platform/v1/types.go.
import type { Static } from '@sinclair/typebox';
import { configMapKind } from '../../meta/v1/configmap.ts';

export const { ConfigMap, ConfigMapList } = configMapKind(name => `io.tkestack.tke.api.platform.v1.${name}`);
export type ConfigMap = Static<typeof ConfigMap>;
