// configmaps.auth.tkestack.io: configuration the auth group's clients keep.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { configMapColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';

export function configMaps(deps: AuthDeps): ResourceDefinition<typeof v1.ConfigMap> {
  return authKind(deps, { kind: 'ConfigMap', resource: 'configmaps', schema: v1.ConfigMap, strategy: configMapColumns });
}
