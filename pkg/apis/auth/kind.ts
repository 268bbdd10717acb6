// What every auth.tkestack.io kind shares: the dependencies its strategies use, the builder of its
// ResourceDefinition (tenant defaults, snapshot invalidation), and the tenant partitions of names.
import type { TSchema } from '@sinclair/typebox';
import { errors, field } from '../../rest/errors.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { CustomSubresource, ObjectOf, ResourceDefinition, Strategy, UserInfo, Verb, VirtualHandlers } from '../../rest/resource.ts';
import { type RegistryStore } from '../../rest/store.ts';
import { defaultTenant, tenantOf } from '../tke/tenant.ts';
import type { Store } from '../../storage/interface.ts';
import { type APIKeys } from './apikeytokens.ts';
import type { AuditLog } from './audit.ts';
import type { ObjectRequest } from '../../server/authz.ts';
import { type PasswordThrottle } from './password.ts';
import { authGroupName, type AuthState } from './state.ts';
import { isMaster, tenantOfUser } from './subjects.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';

export interface AuthDeps {
  storage: Store;
  /** Whether the server's authorizer lets `user` make the request `r`: rules that act on other objects ask it. */
  allowed(user: UserInfo, r: ObjectRequest): Promise<boolean>;
  state: AuthState;
  apiKeys: APIKeys;
  throttle: PasswordThrottle;
  audit: AuditLog;
  /** The registry store of an auth kind: writes of subresources go through it (admission, managedFields, dryRun). */
  store(resource: string): RegistryStore;
}

export const version = 'v1';
export const storedVerbs: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/**
 * The object's spec, an empty one put in when it has none, for code that fills it in before the
 * schema is checked (prepareForCreate, prepareForUpdate, defaults, a read-modify-write): the check
 * that follows reports what is still missing.
 */
export function ensureSpec<T extends KubeObject>(obj: T): NonNullable<T['spec']> {
  (obj as KubeObject).spec ??= {};
  return obj.spec as NonNullable<T['spec']>;
}

export function tenantFieldSelectors(): Strategy['fieldSelectors'] {
  return fieldsAt('spec.tenantID', 'spec.username');
}

interface KindOptions<S extends TSchema> {
  kind: string;
  resource: string;
  singular?: string;
  schema: S;
  shortNames?: string[];
  /** Only what a platform team manages day to day is in `tke` (README: What `kubectl get tke` shows). */
  categories?: string[];
  status?: boolean;
  /** The field the status subresource owns when it is not `status` (see ResourceDefinition). */
  statusField?: string;
  custom?: Record<string, CustomSubresource>;
  verbs?: Verb[];
  handlers?: VirtualHandlers;
  /** Read by every request's authentication/authorization: a write invalidates the snapshot. */
  inSnapshot?: boolean;
  /** Objects carry spec.tenantID (defaulted to the caller's tenant by admission, else 'default'). */
  tenanted?: boolean;
  /**
   * TKE's name prefix of the kind (pol-, rol-, grp-, usr-): names are partitioned by tenant,
   * `<prefix><tenant>-...` (see tenantPartition).
   */
  namePrefix?: string;
  /** PUT <kind>/<name>/finalize updates spec.finalizers (TKE's lifecycle). */
  finalize?: boolean;
  /** Encrypted at rest (see ResourceDefinition.secretFields). */
  secretFields?: string[];
  strategy?: Strategy<ObjectOf<S>>;
}

export function authKind<S extends TSchema>(deps: AuthDeps, o: KindOptions<S>): ResourceDefinition<S> {
  const s: Strategy<ObjectOf<S>> = { ...o.strategy };
  if (o.tenanted) {
    const own = s.defaults;
    s.defaults = obj => {
      defaultTenant(obj);
      own?.(obj);
    };
    s.fieldSelectors = { ...tenantFieldSelectors(), ...s.fieldSelectors };
  }
  if (o.namePrefix) tenantPartition(s, o.namePrefix, o.kind);
  if (o.inSnapshot) {
    const bw = s.beforeWrite;
    const bd = s.beforeDelete;
    s.beforeWrite = async (obj, old, ctx) => {
      await bw?.(obj, old, ctx);
      deps.state.invalidate();
    };
    s.beforeDelete = async (obj, ctx) => {
      await bd?.(obj, ctx);
      deps.state.invalidate();
    };
  }
  return {
    group: authGroupName,
    version,
    kind: o.kind,
    listKind: `${o.kind}List`,
    resource: o.resource,
    singular: o.singular ?? o.kind.toLowerCase(),
    namespaced: false,
    shortNames: o.shortNames ?? [],
    categories: o.categories ?? [],
    schema: o.schema,
    subresources: { status: o.status, statusField: o.statusField, finalize: o.finalize ? specFinalizers : undefined, custom: o.custom },
    verbs: o.verbs,
    strategy: s,
    handlers: o.handlers,
    secretFields: o.secretFields,
  };
}

// ---- tenant partitions of names ------------------------------------------------------------------
//
// Auth kinds are cluster-scoped and share one name space across tenants, so a create whose name is
// taken in another tenant would answer 409 AlreadyExists and reveal that the object exists. The
// names are partitioned instead, the way TKE names its predefined objects (pol-<tenant>-viewer):
//  - a name the server generates is `<prefix><tenant>-<random>`, and a collision is retried
//    silently (RegistryStore.create), so it never reveals anything;
//  - a name a tenant's user chooses must lie in its own tenant's partition `<prefix><tenant>-`;
//    a name outside it is refused with 422 whether or not it is taken (the answer depends on the
//    name alone), so a 409 can only come from an object of the caller's own tenant;
//  - a platform master (who sees every tenant anyway) may choose any name, except one inside
//    another tenant's partition;
//  - tenant IDs may not extend one another with '-' (tenant "a" and "a-b" would share "pol-a-b-"),
//    which identityproviders enforce on create.

export function partitionOf(prefix: string, tenant: string): string {
  return `${prefix}${tenant}-`;
}

export function tenantPartition<T extends KubeObject>(s: Strategy<T>, prefix: string, kind: string): void {
  const own = s.prepareForCreate;
  s.prepareForCreate = (obj, ctx) => {
    own?.(obj, ctx);
    const master = isMaster(ctx.user);
    const tenant = master ? String(obj.spec?.tenantID || 'default') : tenantOfUser(ctx.user);
    const partition = partitionOf(prefix, tenant);
    const name = obj.metadata.name;
    if (!name) {
      const gen = obj.metadata.generateName;
      if (!gen || gen === prefix || (!master && !gen.startsWith(partition))) obj.metadata.generateName = partition;
      return;
    }
    if (!master && !name.startsWith(partition)) {
      throw errors.invalid(authGroupName, kind, name, [
        field.invalid(
          'metadata.name',
          name,
          `names chosen by users of tenant "${tenant}" must begin with "${partition}" (or leave the name out and it is generated)`,
        ),
      ]);
    }
  };
  const bw = s.beforeWrite;
  s.beforeWrite = async (obj, old, ctx) => {
    await bw?.(obj, old, ctx);
    if (old || !isMaster(ctx.user)) return;
    // A master's explicit name inside another tenant's partition would block that tenant's own names.
    const tenant = tenantOf(obj);
    const idps = await ctx.tx.list({ group: authGroupName, resource: 'identityproviders' });
    const owner = idps.find(i => i.metadata.name !== tenant && obj.metadata.name!.startsWith(partitionOf(prefix, i.metadata.name!)));
    if (owner) {
      throw errors.invalid(authGroupName, kind, obj.metadata.name!, [
        field.invalid(
          'metadata.name',
          obj.metadata.name,
          `"${partitionOf(prefix, owner.metadata.name!)}" names belong to tenant "${owner.metadata.name}", not to tenant "${tenant}"`,
        ),
      ]);
    }
  };
}

export function forbidden(resource: string, name: string, why: string) {
  return errors.forbidden({ group: authGroupName, resource }, name, why);
}
