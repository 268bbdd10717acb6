// categories.auth.tkestack.io: the action catalogue the console groups policies by, shared by all tenants.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { categoryColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';

export function categories(deps: AuthDeps): ResourceDefinition<typeof v1.Category> {
  return authKind(deps, { kind: 'Category', resource: 'categories', singular: 'category', schema: v1.Category, strategy: categoryColumns });
}
