// The kinds of auth.tkestack.io/v1 (resource names and subresources of tkestack/tke
// pkg/auth/registry/rest/rest.go), and what each does beyond the generic store.
import type { TSchema } from '@sinclair/typebox';
import * as v1 from '../../api/auth/v1/types.ts';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { createHash } from 'node:crypto';
import { errors, field, StatusError, type FieldError } from '../rest/errors.ts';
import type { CustomSubresource, RequestContext, ResourceDefinition, Strategy, SubresourceRequest, UserInfo, Verb, VirtualHandlers, WriteContext } from '../rest/resource.ts';
import { timestamp, type RegistryStore } from '../rest/store.ts';
import { defaultTenant, tenantOf } from '../rest/tenant.ts';
import type { Store, Transaction } from '../storage/interface.ts';
import { checkExpire, defaultExpireMs, parseDuration, type APIKeys } from './apikey.ts';
import type { AuditLog } from './audit.ts';
import type { ObjectRequest } from '../server/authz.ts';
import { checkPassword, listGroups, listUsers, validateLDAPConfig, validateOIDCConfig, type DirectoryGroup, type DirectoryUser } from './idp.ts';
import { decodePassword, hashPassword, isHashed, maxLoginNameLength, validatePassword, validateUsername, type PasswordThrottle } from './password.ts';
import { seedTenant } from './predefined.ts';
import { authGroupName, type AuthState, type Snapshot } from './state.ts';
import { grantsFor, isMaster, isReservedName, isTenantAdmin, tenantIDKey, tenantOfUser, type SubjectRef } from './subjects.ts';
import { fieldsAt } from '../rest/selectors.ts';
import { secretMask } from '../rest/secrets.ts';

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

const version = 'v1';
const storedVerbs: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function key(resource: string, name: string) {
  return { group: authGroupName, resource, namespace: '', name };
}

function tenantFieldSelectors(): Strategy['fieldSelectors'] {
  return fieldsAt('spec.tenantID', 'spec.username');
}

interface KindOptions {
  kind: string;
  resource: string;
  singular?: string;
  schema: TSchema;
  shortNames?: string[];
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
  /** PUT <kind>/<name>/finalize updates spec.finalizers. */
  finalize?: boolean;
  /** Encrypted at rest (see ResourceDefinition.secretFields). */
  secretFields?: string[];
  strategy?: Strategy;
}

function authKind(deps: AuthDeps, o: KindOptions): ResourceDefinition {
  const s: Strategy = { ...o.strategy };
  if (o.tenanted) {
    const own = s.defaults;
    s.defaults = obj => { defaultTenant(obj); own?.(obj); };
    s.fieldSelectors = { ...tenantFieldSelectors(), ...s.fieldSelectors };
  }
  if (o.namePrefix) tenantPartition(s, o.namePrefix, o.kind);
  if (o.inSnapshot) {
    const bw = s.beforeWrite;
    const bd = s.beforeDelete;
    s.beforeWrite = async (obj, old, ctx) => { await bw?.(obj, old, ctx); deps.state.invalidate(); };
    s.beforeDelete = async (obj, ctx) => { await bd?.(obj, ctx); deps.state.invalidate(); };
  }
  return {
    group: authGroupName, version, kind: o.kind, listKind: `${o.kind}List`, resource: o.resource,
    singular: o.singular ?? o.kind.toLowerCase(), namespaced: false, shortNames: o.shortNames ?? [], categories: ['tke'],
    schema: o.schema, subresources: { status: o.status, statusField: o.statusField, finalize: o.finalize, custom: o.custom }, verbs: o.verbs, strategy: s, handlers: o.handlers,
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

function partitionOf(prefix: string, tenant: string): string {
  return `${prefix}${tenant}-`;
}

function tenantPartition(s: Strategy, prefix: string, kind: string): void {
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
      throw errors.invalid(authGroupName, kind, name, [field.invalid('metadata.name', name,
        `names chosen by users of tenant "${tenant}" must begin with "${partition}" (or leave the name out and it is generated)`)]);
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
      throw errors.invalid(authGroupName, kind, obj.metadata.name!, [field.invalid('metadata.name', obj.metadata.name,
        `"${partitionOf(prefix, owner.metadata.name!)}" names belong to tenant "${owner.metadata.name}", not to tenant "${tenant}"`)]);
    }
  };
}

// ---- helpers shared by the binding subresources --------------------------------------------------

function subjectsOf(v: unknown): SubjectRef[] {
  return Array.isArray(v) ? (v as SubjectRef[]).filter(s => s && typeof s === 'object') : [];
}

function sameSubject(a: SubjectRef, b: SubjectRef): boolean {
  return (!!a.id && a.id === b.id) || (!!a.name && a.name === b.name);
}

function merge(list: unknown, add: SubjectRef[]): SubjectRef[] {
  const out = subjectsOf(list).map(s => ({ id: s.id ?? '', name: s.name ?? '' }));
  for (const s of add) if (!out.some(x => sameSubject(x, s))) out.push({ id: s.id ?? s.name ?? '', name: s.name ?? s.id ?? '' });
  return out;
}

function remove(list: unknown, drop: SubjectRef[]): SubjectRef[] {
  return subjectsOf(list).filter(s => !drop.some(d => sameSubject(s, d)));
}

function bindingBody(body: KubeObject | undefined): { users: SubjectRef[]; groups: SubjectRef[] } {
  const b = (body ?? {}) as Record<string, unknown>;
  const users = subjectsOf(b.users);
  const groups = subjectsOf(b.groups);
  if (!users.length && !groups.length) throw errors.badRequest('a binding must name at least one user or group');
  return { users, groups };
}

function typed(kind: string, obj: KubeObject): KubeObject {
  return { apiVersion: `${authGroupName}/${version}`, kind, ...obj };
}

function listOf(kind: string, items: KubeObject[]): KubeObject {
  return { apiVersion: `${authGroupName}/${version}`, kind: `${kind}List`, metadata: {}, items } as unknown as KubeObject;
}

/**
 * Read-modify-write of one object through its kind's RegistryStore, as the request's caller:
 * admission, strategy, managedFields (the request's fieldManager) and dryRun apply as to any write
 * (TKE's binding subresources call UpdateStatus/Update the same way). `subresource` is 'status'
 * when the change is to status (policies, roles and local groups keep their subjects there).
 * Retried when another writer got in between (optimistic concurrency on resourceVersion).
 */
async function writeThrough(deps: AuthDeps, resource: string, name: string, r: SubresourceRequest, subresource: '' | 'status' | 'password',
  fn: (obj: KubeObject) => void): Promise<KubeObject> {
  const store = deps.store(resource);
  const ctx: RequestContext = { ...r.ctx, subresource };
  for (let attempt = 0; ; attempt++) {
    const current = await store.get(ctx, name);
    const next = structuredClone(current);
    fn(next);
    try {
      return (await store.update(ctx, name, next, r.writeOptions)).object;
    } catch (err) {
      if (err instanceof StatusError && err.reason === 'Conflict' && attempt < 8) continue;
      throw err;
    }
  }
}

/** TKE's X-TKE-ProjectName: the project a policies/* or groups/* request is about. */
function projectHeader(r: SubresourceRequest): string {
  const v = r.headers['x-tke-projectname'];
  return String((Array.isArray(v) ? v[0] : v) ?? '').trim();
}

function isNotFound(err: unknown): boolean {
  return err instanceof StatusError && err.reason === 'NotFound';
}

/** binding / unbinding of users and groups into status.users / status.groups (policies, roles, local groups). */
function bindingSubresources(deps: AuthDeps, resource: string, kind: string): Record<string, CustomSubresource> {
  const change = (add: boolean): CustomSubresource => ({
    verbs: ['create'], kind,
    handle: async (r) => {
      const { users, groups } = bindingBody(r.body);
      if (resource === 'policies' && r.parent?.spec?.scope === 'project') {
        throw errors.badRequest(`unable ${add ? 'bind' : 'unbind'} subject to project-scoped policy, please use projectbinding api`);
      }
      return writeThrough(deps, resource, r.parentName, r, 'status', o => {
        o.status ??= {};
        o.status.users = add ? merge(o.status.users, users) : remove(o.status.users, users);
        if (resource !== 'localgroups') o.status.groups = add ? merge(o.status.groups, groups) : remove(o.status.groups, groups);
      });
    },
  });
  const members = (which: 'users' | 'groups'): CustomSubresource => ({
    verbs: ['get'], kind: which === 'users' ? 'UserList' : 'GroupList',
    handle: async (r) => {
      if (resource === 'policies' && r.parent?.spec?.scope === 'project') throw errors.badRequest(`unable list ${which} of a project-scoped policy, please use project${which} api`);
      return subjectObjects(await deps.state.snapshot(), tenantOf(r.parent!), which, subjectsOf(r.parent?.status?.[which]));
    },
  });
  return { binding: change(true), unbinding: change(false), users: members('users'), ...(resource === 'localgroups' ? {} : { groups: members('groups') }) };
}

// ---- users, groups, policies of a subject ----------------------------------------------------------

/** The tenant a request lists in: the caller's, or (platform masters) the one its field selector names. */
function requestTenant(ctx: RequestContext, fieldSelector?: string): string {
  if (isMaster(ctx.user)) {
    const m = /(?:^|,)spec\.tenantID=([^,]+)/.exec(fieldSelector ?? '');
    if (m) return m[1];
  }
  return tenantOfUser(ctx.user);
}

function userObject(tenant: string, u: DirectoryUser): KubeObject {
  return typed('User', {
    metadata: { name: u.id || u.name },
    spec: { id: u.id || u.name, name: u.name, displayName: u.displayName ?? u.name, email: u.email ?? '', tenantID: tenant, extra: u.groups.length ? { groups: u.groups.join(',') } : {} },
  });
}

/**
 * The users or groups a binding names, as the full objects of the tenant's provider (local or
 * LDAP), as TKE looks each up; a subject the provider does not know (any more) is shown as the
 * binding names it.
 */
async function subjectObjects(snap: Snapshot, tenant: string, which: 'users' | 'groups', subjects: SubjectRef[]): Promise<KubeObject> {
  if (which === 'users') {
    const known = subjects.length ? await listUsers(snap, tenant) : [];
    return listOf('User', subjects.map(s => {
      const u = known.find(k => (s.id && k.id === s.id) || (!s.id && k.name === s.name));
      return u ? userObject(tenant, u) : typed('User', { metadata: { name: s.id || s.name || '' }, spec: { id: s.id ?? '', name: s.name ?? '', tenantID: tenant } });
    }));
  }
  const known = subjects.length ? await listGroups(snap, tenant) : [];
  return listOf('Group', subjects.map(s => {
    const g = known.find(k => (s.id && k.id === s.id) || (!s.id && k.name === s.name));
    return g ? groupObject(tenant, g) : typed('Group', { metadata: { name: s.id || s.name || '' }, spec: { id: s.id ?? '', displayName: s.name ?? '', tenantID: tenant } });
  }));
}

async function findUser(snap: Snapshot, tenant: string, name: string): Promise<DirectoryUser | undefined> {
  return (await listUsers(snap, tenant)).find(u => u.id === name || u.name === name);
}

function policiesReaching(snap: Snapshot, tenant: string, u: DirectoryUser | { name: string; id: string; groups: string[] }): KubeObject[] {
  const names = new Set(grantsFor(snap, tenant, { username: u.name, uid: u.id, groups: u.groups }).map(g => g.policy));
  return [...names].map(n => snap.objects.policies.get(n)).filter((p): p is KubeObject => !!p).map(p => typed('Policy', p));
}

function groupObject(tenant: string, g: DirectoryGroup): KubeObject {
  return typed('Group', { metadata: { name: g.id }, spec: { id: g.id, displayName: g.name, tenantID: tenant, description: '', extra: {} }, status: { users: g.members } });
}

/** Roles bound to a group in one project ('' = platform roles), as TKE's casbin domains put it. */
function groupRoles(snap: Snapshot, tenant: string, group: string, project: string): KubeObject[] {
  return [...snap.objects.roles.values()]
    .filter(r => tenantOf(r) === tenant && String(r.spec?.projectID ?? '') === project && subjectsOf(r.status?.groups).some(s => s.id === group || s.name === group))
    .map(r => typed('Role', r));
}

/** Policies reaching a group in one project ('' = platform-wide grants). */
function groupPolicies(snap: Snapshot, tenant: string, group: string, project: string): KubeObject[] {
  const names = new Set(grantsFor(snap, tenant, { username: '\u0000', uid: '\u0000', groups: [group] })
    .filter(g => (g.project ?? '') === project).map(g => g.policy));
  return [...names].map(n => snap.objects.policies.get(n)).filter((p): p is KubeObject => !!p).map(p => typed('Policy', p));
}

function rolesReaching(snap: Snapshot, tenant: string, u: { name: string; id: string }): KubeObject[] {
  return [...snap.objects.roles.values()].filter(r => tenantOf(r) === tenant && subjectsOf(r.status?.users).some(s => s.name === u.name || s.id === u.id)).map(r => typed('Role', r));
}

// ---- identity provider configurations ---------------------------------------------------------------

function configOf(idp: KubeObject): Record<string, unknown> | undefined {
  try {
    const c = JSON.parse(String(idp.spec?.config ?? '')) as unknown;
    return c && typeof c === 'object' && !Array.isArray(c) ? c as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/** Where an LDAP bind password goes, and how: the server, the account, and whether TLS protects it. */
function bindPasswordTarget(c: Record<string, unknown>): string {
  return JSON.stringify([c.host, c.bindDN, c.insecureNoSSL === true, c.insecureSkipVerify === true]);
}

// ---- the definitions -----------------------------------------------------------------------------------

export function authResources(deps: AuthDeps): ResourceDefinition[] {
  const forbidden = (resource: string, name: string, why: string) => errors.forbidden({ group: authGroupName, resource }, name, why);

  const localidentities = authKind(deps, {
    kind: 'LocalIdentity', resource: 'localidentities', singular: 'localidentity', schema: v1.LocalIdentity, shortNames: ['li'],
    status: true, inSnapshot: true, tenanted: true, namePrefix: 'usr-', finalize: true,
    strategy: {
      prepareForCreate(obj) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'usr-';
      },
      prepareForUpdate(obj, old, ctx) {
        // The password changes only through localidentities/password; a PUT keeps the stored hash.
        obj.spec ??= {};
        if (ctx.subresource === 'password') return;
        if (old.spec?.hashedPassword === undefined) delete obj.spec.hashedPassword; else obj.spec.hashedPassword = old.spec.hashedPassword;
      },
      validate(obj) {
        const out: FieldError[] = [];
        const username = String(obj.spec?.username ?? '');
        const bad = validateUsername(username);
        if (bad) out.push(field.invalid('spec.username', username, bad));
        const groups = Array.isArray(obj.spec?.groups) ? obj.spec.groups as unknown[] : [];
        groups.forEach((g, i) => {
          if (typeof g === 'string' && isReservedName(g)) out.push(field.forbidden(`spec.groups[${i}]`, `"system:" groups are Kubernetes' own and cannot be given to a tenant's user`));
        });
        const pw = obj.spec?.hashedPassword;
        if (typeof pw === 'string' && !isHashed(pw)) {
          const why = validatePassword(decodePassword(pw));
          // The value is a password: never echo it in the error.
          if (why) out.push({ field: 'spec.hashedPassword', reason: 'FieldValueInvalid', message: `Invalid value: password ${why}` });
        }
        return out;
      },
      validateUpdate(obj, old) {
        return obj.spec?.username !== old.spec?.username ? [field.forbidden('spec.username', 'may not be changed')] : [];
      },
      async beforeWrite(obj, old, ctx) {
        const spec = obj.spec ??= {};
        if (typeof spec.hashedPassword === 'string' && !isHashed(spec.hashedPassword)) spec.hashedPassword = await hashPassword(decodePassword(spec.hashedPassword));
        if (!old) {
          const tenant = tenantOf(obj);
          const clash = await ctx.tx.list({ group: authGroupName, resource: 'localidentities' }, { filter: o => tenantOf(o) === tenant && o.spec?.username === spec.username });
          if (clash.length) throw errors.alreadyExists({ group: authGroupName, resource: 'localidentities' }, String(spec.username));
        }
        obj.status ??= {};
        obj.status.lastUpdateTime = timestamp();
        await bindExtraPolicies(obj, old, ctx);
      },
      decorate(obj) { if (obj.spec) delete obj.spec.hashedPassword; },
      columns: [
        { name: 'Username', type: 'string', format: '', description: 'The account of the user.', priority: 0 },
        { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
        { name: 'Tenant', type: 'string', format: '', description: 'The tenant of the user.', priority: 1 },
      ],
      row: o => [o.spec?.username ?? '', o.spec?.displayName ?? '', o.spec?.tenantID ?? ''],
    },
    custom: {
      password: {
        verbs: ['create'], kind: 'LocalIdentity',
        handle: async (r) => {
          const req = (r.body ?? {}) as v1.PasswordReq;
          const next = decodePassword(String(req.hashedPassword ?? ''));
          const why = validatePassword(next);
          if (why) throw errors.invalid(authGroupName, 'LocalIdentity', r.parentName, [{ field: 'hashedPassword', reason: 'FieldValueInvalid', message: `Invalid value: password ${why}` }]);
          const snap = await deps.state.snapshot();
          const tenant = tenantOf(r.parent!);
          const privileged = isMaster(r.ctx.user) || (tenantOfUser(r.ctx.user) === tenant && isTenantAdmin(snap, tenant, r.ctx.user.username));
          if (!privileged) {
            const check = await checkPassword(deps.state, deps.throttle, {
              tenant, username: String(r.parent!.spec?.username), password: decodePassword(String(req.originalPassword ?? '')), source: r.ctx.source ?? '', dryRun: r.ctx.dryRun,
            });
            if (check.retryAfter) throw errors.tooManyRequests('too many wrong passwords; try again later', check.retryAfter);
            if (!check.user) throw errors.badRequest('the original password is wrong');
          }
          const hashed = await hashPassword(next);
          return writeThrough(deps, 'localidentities', r.parentName, r, 'password', o => { o.spec = { ...o.spec, hashedPassword: hashed }; });
        },
      },
      policies: subjectView('PolicyList', (snap, tenant, li) => listOf('Policy', policiesReaching(snap, tenant, { name: String(li.spec?.username), id: li.metadata.name!, groups: (li.spec?.groups as string[] | undefined) ?? [] }))),
      roles: subjectView('RoleList', (snap, tenant, li) => listOf('Role', rolesReaching(snap, tenant, { name: String(li.spec?.username), id: li.metadata.name! }))),
      // The groups the identity is a member of (TKE answers a GroupList here).
      groups: {
        verbs: ['get'], kind: 'GroupList',
        handle: async (r) => {
          const li = r.parent!;
          const tenant = tenantOf(li);
          const all = await listGroups(await deps.state.snapshot(), tenant);
          return listOf('Group', all.filter(g => g.members.some(m => m.id === li.metadata.name || m.name === li.spec?.username)).map(g => groupObject(tenant, g)));
        },
      },
    },
  });

  /**
   * TKE's spec.extra.policies ("pol-a,pol-b"): the platform policies the identity holds directly,
   * bound on write (in the write's transaction) and taken out of the stored object. On update,
   * policies that bind the user directly and are not listed any more are unbound. Each binding is
   * authorized as the caller's own POST policies/<p>/binding (or unbinding) would be.
   */
  async function bindExtraPolicies(obj: KubeObject, old: KubeObject | undefined, ctx: WriteContext): Promise<void> {
    const extra = obj.spec?.extra as Record<string, unknown> | undefined;
    if (!extra || typeof extra.policies !== 'string') return;
    const wanted = [...new Set(extra.policies.split(',').map(p => p.trim()).filter(p => p.startsWith('pol-')))];
    delete extra.policies;
    const tenant = tenantOf(obj);
    const subject: SubjectRef = { id: obj.metadata.name!, name: String(obj.spec?.username ?? '') };
    const held = old ? (await ctx.tx.list({ group: authGroupName, resource: 'policies' }, { filter: p => tenantOf(p) === tenant && subjectsOf(p.status?.users).some(u => sameSubject(u, subject)) })).map(p => p.metadata.name!) : [];
    const changes = [...wanted.filter(p => !held.includes(p)).map(p => [p, true] as const), ...held.filter(p => !wanted.includes(p)).map(p => [p, false] as const)];
    for (const [name, add] of changes) {
      if (!(await deps.allowed(ctx.user, { verb: 'create', apiGroup: authGroupName, resource: 'policies', subresource: add ? 'binding' : 'unbinding', name }))) {
        throw forbidden('policies', name, `spec.extra.policies: user "${ctx.user.username}" may not ${add ? 'bind' : 'unbind'} policy ${name}`);
      }
      const policy = await ctx.tx.get(key('policies', name), { forUpdate: true });
      if (!policy || tenantOf(policy) !== tenant) throw errors.invalid(authGroupName, 'LocalIdentity', obj.metadata.name!, [field.invalid('spec.extra.policies', name, 'no such policy in the tenant')]);
      if (policy.spec?.scope === 'project') throw errors.invalid(authGroupName, 'LocalIdentity', obj.metadata.name!, [field.invalid('spec.extra.policies', name, 'a project policy is granted inside a project, not to a user')]);
      const status = policy.status ?? {};
      const users = add ? merge(status.users, [subject]) : remove(status.users, [subject]);
      await ctx.tx.update(key('policies', name), { ...policy, status: { ...status, users } }, policy.metadata.resourceVersion);
    }
  }

  function subjectView(kind: string, build: (snap: Snapshot, tenant: string, parent: KubeObject, r: SubresourceRequest) => KubeObject): CustomSubresource {
    return { verbs: ['get'], kind, handle: async (r) => build(await deps.state.snapshot(), tenantOf(r.parent!), r.parent!, r) };
  }

  const apikeys = authKind(deps, {
    kind: 'APIKey', resource: 'apikeys', schema: v1.APIKey, status: true, inSnapshot: true, tenanted: true,
    verbs: storedVerbs,
    strategy: {
      prepareForCreate() {
        // Only the server makes APIKey objects, as it issues their tokens: an object made any other
        // way (an apply of a deleted key's object, say) would name a token nobody issued for it.
        throw errors.methodNotAllowed('API keys are made by POST apikeys, apikeys/default/token or apikeys/default/password');
      },
      prepareForUpdate(obj, old) {
        // Who a key belongs to and when it expires are fixed when it is made.
        obj.spec = { ...obj.spec, tenantID: old.spec?.tenantID, username: old.spec?.username, issue_at: old.spec?.issue_at, expire_at: old.spec?.expire_at };
        delete obj.spec.apiKey;
      },
      decorate(obj) { if (obj.spec) delete obj.spec.apiKey; },
      columns: [
        { name: 'Username', type: 'string', format: '', description: 'Owner of the key.', priority: 0 },
        { name: 'Description', type: 'string', format: '', description: 'What the key is for.', priority: 0 },
        { name: 'Expire At', type: 'string', format: '', description: 'When the key stops working.', priority: 0 },
        { name: 'Disabled', type: 'boolean', format: '', description: 'Disabled keys are refused.', priority: 0 },
      ],
      row: o => [o.spec?.username ?? '', o.spec?.description ?? '', o.spec?.expire_at ?? '', o.status?.disabled === true],
    },
    handlers: {
      // POST apikeys takes TKE's APIKeyReq: a key for the caller itself.
      create: (ctx, body) => issueOwnKey(ctx, body as v1.APIKeyReq),
    },
    custom: {
      // apikeys/<any>/token: TKE's TokenREST, an APIKeyReq for a key of the caller itself.
      token: { verbs: ['create'], kind: 'APIKey', parentless: true, handle: r => issueOwnKey(r.ctx, (r.body ?? {}) as v1.APIKeyReq) },
      password: {
        verbs: ['create'], kind: 'APIKey', parentless: true, anonymous: true,
        handle: async (r) => {
          const req = (r.body ?? {}) as v1.APIKeyReqPassword;
          const tenant = String(req.tenantID || 'default');
          const username = String(req.username ?? '');
          // Checked before anything is written: no made-up name of any length costs a row.
          if (username.length > maxLoginNameLength || tenant.length > maxLoginNameLength) throw errors.unauthorized('invalid username or password');
          const expire = expireOf(req.expire);
          const check = await checkPassword(deps.state, deps.throttle, {
            tenant, username, password: decodePassword(String(req.password ?? '')), source: r.ctx.source ?? '', dryRun: r.ctx.dryRun,
          });
          if (check.retryAfter) throw errors.tooManyRequests('too many wrong passwords; try again later', check.retryAfter);
          if (!check.user) throw errors.unauthorized('invalid username or password');
          return deps.apiKeys.issue(tenant, check.user.username, expire, String(req.description ?? ''), { dryRun: r.ctx.dryRun });
        },
      },
    },
  });

  /**
   * A key for the caller itself. Only callers who are a tenant's identity (they carry its tenant:
   * API keys, OIDC tokens, directory users, also through the front proxy) get one: a Kubernetes
   * user or a client certificate named like a tenant's user is not that user.
   */
  async function issueOwnKey(ctx: RequestContext, req: v1.APIKeyReq): Promise<KubeObject> {
    if (ctx.user.groups.includes('system:unauthenticated')) throw errors.unauthorized();
    const tenant = ctx.user.extra?.[tenantIDKey]?.[0];
    if (!tenant) throw errors.badRequest(`user "${ctx.user.username}" is not an identity of a tenant; keys are issued to local, directory (LDAP) and OIDC users`);
    return deps.apiKeys.issue(tenant, ctx.user.username, expireOf(req.expire), String(req.description ?? ''), { callerUID: ctx.user.uid, dryRun: ctx.dryRun });
  }

  const apisigningkeys = authKind(deps, {
    kind: 'APISigningKey', resource: 'apisigningkeys', schema: v1.APISigningKey, inSnapshot: true, secretFields: ['signingKey'],
    verbs: ['get', 'list', 'watch', 'delete'],
    strategy: { decorate(obj) { delete obj.signingKey; } },
  });

  const identityproviders = authKind(deps, {
    kind: 'IdentityProvider', resource: 'identityproviders', schema: v1.IdentityProvider, shortNames: ['idp'], inSnapshot: true,
    // The connector configuration holds the LDAP bind password.
    secretFields: ['spec.config'],
    strategy: {
      defaults(obj) {
        obj.spec ??= {};
        if (!obj.spec.name) obj.spec.name = obj.metadata.name;
        if (!Array.isArray(obj.spec.administrators)) obj.spec.administrators = [];
      },
      validate(obj) {
        const t = obj.spec?.type;
        if (t === 'local') return [];
        const cfg = configOf(obj);
        if (!cfg) return [field.invalid('spec.config', '<config>', 'must be JSON')];
        if (cfg.bindPW === secretMask) {
          return [field.invalid('spec.config', '<config>', 'bindPW is masked: the stored bind password is kept only while host, bindDN and the TLS settings stay the same; give the password again')];
        }
        const why = t === 'ldap' ? validateLDAPConfig(cfg) : validateOIDCConfig(cfg);
        return why ? [field.invalid('spec.config', '<config>', why)] : [];
      },
      async beforeWrite(obj, old, ctx) {
        const cfg = obj.spec?.type === 'oidc' ? configOf(obj) : undefined;
        if (cfg) {
          // Tokens are matched to a tenant by issuer and audience: a second tenant naming the same
          // pair would take over the first one's users.
          const idps = await ctx.tx.list({ group: authGroupName, resource: 'identityproviders' });
          const taken = idps.find(i => i.metadata.name !== obj.metadata.name && i.spec?.type === 'oidc'
            && configOf(i)?.issuer === cfg.issuer && configOf(i)?.clientID === cfg.clientID);
          if (taken) throw errors.invalid(authGroupName, 'IdentityProvider', obj.metadata.name!, [field.invalid('spec.config', '<config>', 'another tenant already uses this issuer with this clientID')]);
        }
        if (old) return;
        // Tenant IDs partition the names of auth objects (`pol-<tenant>-...`, see tenantPartition):
        // no tenant ID may be another's followed by '-', or two tenants would share names.
        const name = obj.metadata.name!;
        const idps = await ctx.tx.list({ group: authGroupName, resource: 'identityproviders' });
        const clash = idps.find(i => name.startsWith(`${i.metadata.name}-`) || i.metadata.name!.startsWith(`${name}-`));
        if (clash) throw errors.invalid(authGroupName, 'IdentityProvider', name, [field.invalid('metadata.name', name, `tenant IDs may not extend one another with "-" (tenant "${clash.metadata.name}" exists)`)]);
        await seedTenant(ctx.tx, name);
      },
      prepareForUpdate(obj, old) {
        // A client writing back what it read sends the masked bind password: keep the stored one,
        // but only for the directory and account it was given for (see bindPasswordTarget).
        const next = configOf(obj);
        const prev = configOf(old);
        if (next?.bindPW === secretMask && prev && bindPasswordTarget(next) === bindPasswordTarget(prev)) {
          obj.spec = { ...obj.spec, config: JSON.stringify({ ...next, bindPW: prev.bindPW }) };
        }
      },
      decorate(obj) {
        // The LDAP bind password is a secret: never served back.
        const c = obj.spec?.type === 'ldap' ? configOf(obj) : undefined;
        if (c?.bindPW) obj.spec!.config = JSON.stringify({ ...c, bindPW: secretMask });
      },
      columns: [
        { name: 'Type', type: 'string', format: '', description: 'local, ldap or oidc.', priority: 0 },
        { name: 'Administrators', type: 'string', format: '', description: 'Platform administrators of the tenant.', priority: 0 },
      ],
      row: o => [o.spec?.type ?? '', ((o.spec?.administrators as string[] | undefined) ?? []).join(',')],
    },
  });

  const policies = authKind(deps, {
    kind: 'Policy', resource: 'policies', singular: 'policy', schema: v1.Policy, shortNames: ['pol'], status: true, inSnapshot: true, tenanted: true, namePrefix: 'pol-', finalize: true,
    strategy: {
      prepareForCreate(obj, ctx) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'pol-';
        obj.status = { phase: 'Active', users: [], groups: [] };
        obj.spec ??= {};
        if (!obj.spec.username) obj.spec.username = ctx.user.username;
      },
      defaults(obj) { obj.spec ??= {}; if (!obj.spec.scope) obj.spec.scope = 'platform'; },
      validate(obj) {
        const s = obj.spec?.statement as v1.PolicySpec['statement'] | undefined;
        const out: FieldError[] = [];
        if (!s?.actions?.length) out.push(field.required('spec.statement.actions'));
        if (!s?.resources?.length) out.push(field.required('spec.statement.resources'));
        if (String(obj.spec?.displayName ?? '').length > 255) out.push(field.tooLong('spec.displayName', 255));
        return out;
      },
      columns: [
        { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
        { name: 'Scope', type: 'string', format: '', description: 'platform or project.', priority: 0 },
        { name: 'Effect', type: 'string', format: '', description: 'allow or deny.', priority: 0 },
      ],
      row: o => [o.spec?.displayName ?? '', o.spec?.scope ?? '', (o.spec?.statement as { effect?: string } | undefined)?.effect ?? ''],
      fieldSelectors: fieldsAt('spec.scope', 'spec.type'),
    },
    custom: {
      ...bindingSubresources(deps, 'policies', 'Policy'),
      projectbinding: policyProjectBinding(true),
      projectunbinding: policyProjectBinding(false),
      projectusers: policyProjectMembers('users'),
      projectgroups: policyProjectMembers('groups'),
      roles: subjectView('RoleList', (snap, tenant, pol, r) => listOf('Role', [...snap.objects.roles.values()]
        .filter(ro => tenantOf(ro) === tenant && ((ro.spec?.policies as string[] | undefined) ?? []).includes(pol.metadata.name!) && String(ro.spec?.projectID ?? '') === projectHeader(r))
        .map(ro => typed('Role', ro)))),
    },
  });

  /** The project of policies/project*: TKE's X-TKE-ProjectName header, required; the policy must be a project policy. */
  async function policyProject(r: SubresourceRequest): Promise<{ project: string; tenant: string }> {
    if (r.parent?.spec?.scope !== 'project') throw errors.badRequest('unable to use a platform-scoped policy in a project, please use binding api');
    const project = projectHeader(r);
    if (!project) throw errors.badRequest('must specify projectID header (X-TKE-ProjectName)');
    await businessProject(r.ctx, project);
    return { project, tenant: tenantOf(r.parent) };
  }

  /** policies/projectbinding and projectunbinding: TKE's Binding body; returns the ProjectPolicyBinding. */
  function policyProjectBinding(add: boolean): CustomSubresource {
    return {
      verbs: ['create'], kind: 'ProjectPolicyBinding',
      handle: async (r) => {
        const { users, groups } = bindingBody(r.body);
        const { project, tenant } = await policyProject(r);
        const [out] = await bindInProject(r, project, tenant, [r.parentName], users, groups, add, true);
        return out;
      },
    };
  }

  /** policies/projectusers and projectgroups: the subjects of the policy's binding in the header's project. */
  function policyProjectMembers(which: 'users' | 'groups'): CustomSubresource {
    const kind = which === 'users' ? 'User' : 'Group';
    return {
      verbs: ['get'], kind: `${kind}List`,
      handle: async (r) => {
        const { project, tenant } = await policyProject(r);
        const b = await deps.store('projectpolicybindings').get({ ...r.ctx, subresource: '' }, `${project}-${r.parentName}`);
        return subjectObjects(await deps.state.snapshot(), tenant, which, subjectsOf(b.spec?.[which]));
      },
    };
  }

  const roles = authKind(deps, {
    kind: 'Role', resource: 'roles', schema: v1.Role, shortNames: ['rol'], status: true, inSnapshot: true, tenanted: true, namePrefix: 'rol-', finalize: true,
    strategy: {
      prepareForCreate(obj, ctx) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'rol-';
        obj.status = { phase: 'Active', users: [], groups: [] };
        obj.spec ??= {};
        if (!obj.spec.username) obj.spec.username = ctx.user.username;
      },
      async beforeWrite(obj, _old, ctx) { await checkPolicies(ctx.tx, tenantOf(obj), (obj.spec?.policies as string[] | undefined) ?? [], obj.spec?.projectID ? 'project' : undefined); },
      columns: [{ name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 }],
      row: o => [o.spec?.displayName ?? ''],
    },
    custom: {
      ...bindingSubresources(deps, 'roles', 'Role'),
      policybinding: rolePolicies(true),
      policyunbinding: rolePolicies(false),
      policies: subjectView('PolicyList', (snap, _tenant, role) => listOf('Policy', ((role.spec?.policies as string[] | undefined) ?? []).map(n => snap.objects.policies.get(n)).filter((p): p is KubeObject => !!p).map(p => typed('Policy', p)))),
    },
  });

  function rolePolicies(add: boolean): CustomSubresource {
    return {
      verbs: ['create'], kind: 'Role',
      handle: async (r) => {
        const want = ((r.body as { policies?: unknown } | undefined)?.policies as string[] | undefined) ?? [];
        if (!Array.isArray(want) || !want.length) throw errors.badRequest('policies is required');
        // The roles strategy checks, in the write's transaction, that every policy exists in the tenant.
        return writeThrough(deps, 'roles', r.parentName, r, '', o => {
          const cur = (o.spec?.policies as string[] | undefined) ?? [];
          o.spec = { ...o.spec, policies: add ? [...new Set([...cur, ...want])] : cur.filter(p => !want.includes(p)) };
        });
      },
    };
  }

  /** Policies named in a role or binding must exist in the tenant, and (for project bindings) be project policies. */
  async function checkPolicies(tx: Transaction, tenant: string, names: string[], scope?: 'project'): Promise<void> {
    for (const n of names) {
      const p = await tx.get(key('policies', n));
      if (!p || tenantOf(p) !== tenant) throw errors.invalid(authGroupName, 'Policy', n, [field.invalid('policies', n, 'no such policy in the tenant')]);
      if (scope === 'project' && p.spec?.scope !== 'project') {
        throw forbidden('policies', n, `policy ${n} is a platform policy; only project policies can be granted inside a project`);
      }
    }
  }

  const localgroups = authKind(deps, {
    kind: 'LocalGroup', resource: 'localgroups', schema: v1.LocalGroup, shortNames: ['lg'], status: true, inSnapshot: true, tenanted: true, namePrefix: 'grp-', finalize: true,
    strategy: {
      prepareForCreate(obj, ctx) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'grp-';
        obj.status = { phase: 'Active', users: [] };
        obj.spec ??= {};
        if (!obj.spec.username) obj.spec.username = ctx.user.username;
      },
      validate(obj) {
        const n = String(obj.spec?.displayName ?? '');
        return n.length > 60 ? [field.tooLong('spec.displayName', 60)] : [];
      },
      columns: [{ name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 }],
      row: o => [o.spec?.displayName ?? ''],
    },
    custom: {
      ...bindingSubresources(deps, 'localgroups', 'LocalGroup'),
      policies: subjectView('PolicyList', (snap, tenant, g) => listOf('Policy', policiesReaching(snap, tenant, { name: '\u0000', id: '\u0000', groups: [g.metadata.name!] }))),
      roles: subjectView('RoleList', (snap, tenant, g, r) => listOf('Role', groupRoles(snap, tenant, g.metadata.name!, projectHeader(r)))),
    },
  });

  const projectpolicybindings = authKind(deps, {
    kind: 'ProjectPolicyBinding', resource: 'projectpolicybindings', schema: v1.ProjectPolicyBinding, inSnapshot: true, tenanted: true, finalize: true,
    status: true, statusField: 'Status',
    strategy: {
      prepareForCreate(obj) {
        // Always <project>-<policy>, whatever the client asked (as TKE's strategy does): the policy
        // is checked to be the tenant's, so the name is within the tenant's names (see tenantPartition).
        if (obj.spec?.projectID && obj.spec.policyID) obj.metadata.name = `${String(obj.spec.projectID)}-${String(obj.spec.policyID)}`;
        obj.Status = { phase: 'Active' };
      },
      async beforeWrite(obj, _old, ctx) { await checkPolicies(ctx.tx, tenantOf(obj), [String(obj.spec?.policyID ?? '')], 'project'); },
      validateUpdate(obj, old) {
        return obj.spec?.projectID !== old.spec?.projectID || obj.spec?.policyID !== old.spec?.policyID ? [field.forbidden('spec', 'projectID and policyID may not be changed')] : [];
      },
      fieldSelectors: fieldsAt('spec.projectID', 'spec.policyID'),
    },
  });

  const custompolicybindings = authKind(deps, {
    kind: 'CustomPolicyBinding', resource: 'custompolicybindings', schema: v1.CustomPolicyBinding, inSnapshot: true, tenanted: true, namePrefix: 'cpb-', finalize: true,
    status: true, statusField: 'Status',
    strategy: { async beforeWrite(obj, _old, ctx) { await checkPolicies(ctx.tx, tenantOf(obj), [String(obj.spec?.policyID ?? '')]); } },
  });

  const categories = authKind(deps, { kind: 'Category', resource: 'categories', singular: 'category', schema: v1.Category });
  // rules: TKE keeps casbin rules (p/g lines) derived from policies and bindings. Here they are a
  // read-only view computed from the same snapshot and the same grantsFor() the authorizer decides
  // with, so what rules lists is what is enforced; nothing is stored and they cannot be written.
  const rules = authKind(deps, {
    kind: 'Rule', resource: 'rules', schema: v1.Rule, verbs: ['get', 'list'],
    handlers: {
      async list(ctx, q) {
        const snap = await deps.state.snapshot();
        const tenants = isMaster(ctx.user)
          ? (/(?:^|,)spec\.tenantID=([^,]+)/.exec(q.fieldSelector ?? '')?.[1] ? [requestTenant(ctx, q.fieldSelector)] : [...snap.objects.identityproviders.keys()])
          : [tenantOfUser(ctx.user)];
        return { items: (await Promise.all(tenants.map(t => casbinRules(snap, t)))).flat() };
      },
      async get(ctx, name) {
        const r = (await this.list!(ctx, {})).items.find(i => i.metadata.name === name);
        if (!r) throw errors.notFound({ group: authGroupName, resource: 'rules' }, name);
        return r;
      },
    },
  });
  const clients = authKind(deps, {
    kind: 'Client', resource: 'clients', schema: v1.Client, secretFields: ['spec.secret'], inSnapshot: true,
    strategy: { decorate(obj) { if (obj.spec?.secret) obj.spec.secret = '******'; } },
  });
  const configmaps = authKind(deps, { kind: 'ConfigMap', resource: 'configmaps', schema: v1.ConfigMap });

  // ---- computed kinds --------------------------------------------------------------------------------

  const users = authKind(deps, {
    kind: 'User', resource: 'users', schema: v1.User, verbs: ['get', 'list'],
    handlers: {
      async list(ctx, q) {
        const tenant = requestTenant(ctx, q.fieldSelector);
        const all = (await listUsers(await deps.state.snapshot(), tenant)).map(u => userObject(tenant, u));
        return { items: ctx.objectFilter ? all.filter(ctx.objectFilter) : all };
      },
      async get(ctx, name) {
        const tenant = tenantOfUser(ctx.user);
        const u = await findUser(await deps.state.snapshot(), tenant, name);
        if (!u) throw errors.notFound({ group: authGroupName, resource: 'users' }, name);
        return userObject(tenant, u);
      },
    },
    custom: {
      policies: userView('PolicyList', (snap, tenant, u) => listOf('Policy', policiesReaching(snap, tenant, u))),
      roles: userView('RoleList', (snap, tenant, u) => listOf('Role', rolesReaching(snap, tenant, u))),
      // TKE's ProjectBelongs: the projects the user is bound in, by policy; managed = project owner.
      projects: userView('ProjectBelongs', (snap, tenant, u) => {
        const owner = `pol-${tenant}-project-owner`;
        const managed: Record<string, string[]> = {};
        const memberd: Record<string, string[]> = {};
        for (const b of snap.objects.projectpolicybindings.values()) {
          if (tenantOf(b) !== tenant || !subjectsOf(b.spec?.users).some(s => s.id === u.id || s.name === u.name)) continue;
          const prj = String(b.spec?.projectID ?? '');
          const pol = String(b.spec?.policyID ?? '');
          (memberd[prj] ??= []).push(pol);
          if (pol === owner) (managed[prj] ??= []).push(pol);
        }
        return { apiVersion: `${authGroupName}/${version}`, kind: 'ProjectBelongs', tenantID: tenant, managedProjects: managed, memberdProjects: memberd } as unknown as KubeObject;
      }),
    },
  });

  function userView(kind: string, build: (snap: Snapshot, tenant: string, u: DirectoryUser) => KubeObject): CustomSubresource {
    return {
      verbs: ['get'], kind, parentless: true,
      handle: async (r) => {
        const snap = await deps.state.snapshot();
        const tenant = tenantOfUser(r.ctx.user);
        const u = await findUser(snap, tenant, r.parentName);
        if (!u) throw errors.notFound({ group: authGroupName, resource: 'users' }, r.parentName);
        return build(snap, tenant, u);
      },
    };
  }

  const groups = authKind(deps, {
    kind: 'Group', resource: 'groups', schema: v1.Group, verbs: ['get', 'list'],
    handlers: {
      async list(ctx, q) {
        const tenant = requestTenant(ctx, q.fieldSelector);
        const all = (await listGroups(await deps.state.snapshot(), tenant)).map(g => groupObject(tenant, g));
        return { items: ctx.objectFilter ? all.filter(ctx.objectFilter) : all };
      },
      async get(ctx, name) {
        const items = (await this.list!(ctx, {})).items;
        const g = items.find(i => i.metadata.name === name);
        if (!g) throw errors.notFound({ group: authGroupName, resource: 'groups' }, name);
        return g;
      },
    },
    custom: {
      policies: groupView('PolicyList', (snap, tenant, g, project) => listOf('Policy', groupPolicies(snap, tenant, g.id, project))),
      roles: groupView('RoleList', (snap, tenant, g, project) => listOf('Role', groupRoles(snap, tenant, g.id, project))),
    },
  });

  /** groups/<id>/policies and roles: in the project of X-TKE-ProjectName, else platform-wide. */
  function groupView(kind: string, build: (snap: Snapshot, tenant: string, g: DirectoryGroup, project: string) => KubeObject): CustomSubresource {
    return {
      verbs: ['get'], kind, parentless: true,
      handle: async (r) => {
        const snap = await deps.state.snapshot();
        const tenant = tenantOfUser(r.ctx.user);
        const g = (await listGroups(snap, tenant)).find(x => x.id === r.parentName);
        if (!g) throw errors.notFound({ group: authGroupName, resource: 'groups' }, r.parentName);
        return build(snap, tenant, g, projectHeader(r));
      },
    };
  }

  /** The business project a projects.auth.tkestack.io request names; 404 when the caller cannot see it. */
  async function businessProject(ctx: RequestContext, name: string): Promise<KubeObject> {
    const project = await deps.storage.get({ group: 'business.tkestack.io', resource: 'projects', namespace: '', name });
    if (!project || (ctx.objectFilter && !ctx.objectFilter(project))) throw errors.notFound({ group: authGroupName, resource: 'projects' }, name);
    return project;
  }

  /** The project policy bindings of a project (its tenant's), with `written` (e.g. a dry run's results) in place of the stored ones. */
  async function bindingsOf(project: KubeObject, written: KubeObject[] = []): Promise<KubeObject[]> {
    const snap = await deps.state.snapshot();
    const byName = new Map([...snap.objects.projectpolicybindings.values()]
      .filter(b => b.spec?.projectID === project.metadata.name && tenantOf(b) === tenantOf(project)).map(b => [b.metadata.name!, b]));
    for (const w of written) byName.set(w.metadata.name!, w);
    return [...byName.values()];
  }

  /** projects.auth.tkestack.io: members of a business project, from its project policy bindings. */
  async function projectView(ctx: RequestContext, name: string): Promise<KubeObject> {
    const project = await businessProject(ctx, name);
    const members: Record<string, string> = {};
    const groupsOf: Record<string, string> = {};
    for (const b of await bindingsOf(project)) {
      for (const s of subjectsOf(b.spec?.users)) members[s.id || s.name || ''] = s.name || s.id || '';
      for (const s of subjectsOf(b.spec?.groups)) groupsOf[s.id || s.name || ''] = s.name || s.id || '';
    }
    return typed('Project', { metadata: { name, creationTimestamp: project.metadata.creationTimestamp }, tenantID: tenantOf(project), members, groups: groupsOf });
  }

  /** Policies granted inside a project must exist in the tenant and be project policies; checked before anything is written. */
  async function checkProjectPolicies(tenant: string, names: string[]): Promise<void> {
    await deps.storage.transact(tx => checkPolicies(tx, tenant, names, 'project'));
  }

  /**
   * Adds subjects to, or removes them from, the bindings `<project>-<policy>` (TKE's
   * ProjectPolicyName), through the projectpolicybindings store as the caller. A missing binding
   * is created when adding; when removing it is skipped, or NotFound with `missingIsError`.
   */
  async function bindInProject(r: SubresourceRequest, project: string, tenant: string, policies: string[],
    users: SubjectRef[], groups: SubjectRef[], add: boolean, missingIsError = false): Promise<KubeObject[]> {
    const store = deps.store('projectpolicybindings');
    const ctx: RequestContext = { ...r.ctx, subresource: '' };
    const out: KubeObject[] = [];
    for (const policy of policies) {
      const name = `${project}-${policy}`;
      const exists = await store.get(ctx, name).then(() => true, (err: unknown) => { if (isNotFound(err)) return false; throw err; });
      if (!exists) {
        if (!add) {
          if (missingIsError) throw errors.notFound({ group: authGroupName, resource: 'projectpolicybindings' }, name);
          continue;
        }
        try {
          const body = { metadata: { name }, spec: { tenantID: tenant, projectID: project, policyID: policy, users: merge([], users), groups: merge([], groups) } } as KubeObject;
          out.push((await store.create(ctx, body, r.writeOptions)).object);
          continue;
        } catch (err) {
          // Created meanwhile by another request: add to it.
          if (!(err instanceof StatusError && err.reason === 'AlreadyExists')) throw err;
        }
      }
      out.push(await writeThrough(deps, 'projectpolicybindings', name, r, '', o => {
        o.spec = { ...o.spec, users: add ? merge(o.spec?.users, users) : remove(o.spec?.users, users), groups: add ? merge(o.spec?.groups, groups) : remove(o.spec?.groups, groups) };
      }));
    }
    return out;
  }

  /** The body of projects/binding, unbinding, users and groups: TKE's ProjectPolicyBindingRequest. */
  function projectRequest(r: SubresourceRequest): { policies: string[]; users: SubjectRef[]; groups: SubjectRef[] } {
    const body = (r.body ?? {}) as v1.ProjectPolicyBindingRequest;
    const policies = Array.isArray(body.policies) ? body.policies.filter(p => typeof p === 'string' && p) : [];
    return { policies, users: subjectsOf(body.users), groups: subjectsOf(body.groups) };
  }

  // projects/* act on the project named in the URL, which is what authorization decided on; TKE's
  // X-TKE-ProjectName header is not allowed to redirect them to another project. Like TKE, they
  // answer the ProjectPolicyBindingList of the bindings written.
  function projectBinding(add: boolean): CustomSubresource {
    return {
      verbs: ['create'], kind: 'ProjectPolicyBindingList', parentless: true,
      handle: async (r: SubresourceRequest) => {
        const project = await businessProject(r.ctx, r.parentName);
        const req = projectRequest(r);
        if (!req.policies.length) throw errors.badRequest('policies is required');
        bindingBody(r.body);
        const tenant = tenantOf(project);
        if (add) await checkProjectPolicies(tenant, req.policies);
        return listOf('ProjectPolicyBinding', await bindInProject(r, r.parentName, tenant, req.policies, req.users, req.groups, add));
      },
    };
  }

  /** Policy id -> display name of the policies a subject holds in a project (TKE's spec.extra.policies of projects/users and groups). */
  function policiesOfSubject(bindings: KubeObject[], which: 'users' | 'groups', id: string, snap: Snapshot): Record<string, string> {
    const out: Record<string, string> = {};
    for (const b of bindings) {
      if (!subjectsOf(b.spec?.[which]).some(s => s.id === id || (!s.id && s.name === id))) continue;
      const pid = String(b.spec?.policyID ?? '');
      out[pid] = String(snap.objects.policies.get(pid)?.spec?.displayName ?? pid);
    }
    return out;
  }

  /**
   * projects/users and projects/groups: GET lists the project's members (or groups) with the
   * policies each holds; POST sets the policies of the named subjects to exactly those of the
   * request (binding the new ones, unbinding the others), like TKE, and returns the bindings written.
   */
  function projectMembers(which: 'users' | 'groups'): CustomSubresource {
    const kind = which === 'users' ? 'User' : 'Group';
    return {
      verbs: ['get', 'create'], kind: `${kind}List`, parentless: true,
      handle: async (r) => {
        const project = await businessProject(r.ctx, r.parentName);
        const tenant = tenantOf(project);
        if (r.verb === 'get') {
          const snap = await deps.state.snapshot();
          const bindings = await bindingsOf(project);
          const seen = new Map<string, string>();
          for (const b of bindings) for (const s of subjectsOf(b.spec?.[which])) seen.set(s.id || s.name || '', s.name || s.id || '');
          return listOf(kind, [...seen].map(([id, name]) => {
            const extra = { policies: JSON.stringify(policiesOfSubject(bindings, which, id, snap)) };
            const spec = which === 'users' ? { id, name, tenantID: tenant, extra } : { id, displayName: name, tenantID: tenant, extra };
            return typed(kind, { metadata: { name: id }, spec });
          }));
        }
        const req = projectRequest(r);
        const subjects = req[which];
        if (!subjects.length) throw errors.badRequest(`must specify ${which}`);
        if (req.policies.length) await checkProjectPolicies(tenant, req.policies);
        const users = which === 'users' ? subjects : [];
        const groups = which === 'groups' ? subjects : [];
        const written = req.policies.length ? await bindInProject(r, r.parentName, tenant, req.policies, users, groups, true) : [];
        const bindings = await bindingsOf(project, written);
        for (const s of subjects) {
          const id = s.id || s.name || '';
          const stale = Object.keys(policiesOfSubject(bindings, which, id, await deps.state.snapshot())).filter(p => !req.policies.includes(p));
          if (stale.length) written.push(...await bindInProject(r, r.parentName, tenant, stale, which === 'users' ? [s] : [], which === 'groups' ? [s] : [], false));
        }
        return listOf('ProjectPolicyBinding', written);
      },
    };
  }

  const projects = authKind(deps, {
    kind: 'Project', resource: 'projects', schema: v1.AuthProject, verbs: ['get', 'list'],
    handlers: {
      get: (ctx, name) => projectView(ctx, name),
      async list(ctx) {
        const all = await deps.storage.list({ group: 'business.tkestack.io', resource: 'projects' }, { filter: ctx.objectFilter });
        return { items: await Promise.all(all.items.map(p => projectView(ctx, p.metadata.name!))) };
      },
    },
    custom: {
      binding: projectBinding(true),
      unbinding: projectBinding(false),
      users: projectMembers('users'),
      groups: projectMembers('groups'),
      policies: {
        verbs: ['get'], kind: 'PolicyList', parentless: true,
        handle: async (r) => {
          const project = await businessProject(r.ctx, r.parentName);
          const snap = await deps.state.snapshot();
          const names = new Set((await bindingsOf(project)).map(b => String(b.spec?.policyID)));
          return listOf('Policy', [...names].map(n => snap.objects.policies.get(n)).filter((p): p is KubeObject => !!p).map(p => typed('Policy', p)));
        },
      },
    },
  });

  const auditevents = authKind(deps, {
    kind: 'AuditEvent', resource: 'auditevents', schema: v1.AuditEvent, verbs: ['list'],
    handlers: {
      async list(ctx, q) {
        const tenant = isMaster(ctx.user) ? (/spec\.tenantID=([^,]+)/.exec(q.fieldSelector ?? '')?.[1]) : tenantOfUser(ctx.user);
        return { items: await deps.audit.read(tenant) };
      },
    },
  });

  return [localidentities, apikeys, apisigningkeys, identityproviders, policies, roles, localgroups, projectpolicybindings,
    custompolicybindings, categories, rules, clients, configmaps, users, groups, projects, auditevents];
}

/**
 * The casbin rules of a tenant, in TKE's model (p = sub, dom, obj, act, eft; g = _, _, _ with
 * domain '*' platform-wide or a project ID): a p line per action and resource of every policy
 * statement, and a g line per subject that holds a policy (directly, by role or by project or
 * custom binding) or a role, or is a member of a local group. Names are content hashes.
 */
async function casbinRules(snap: Snapshot, tenant: string): Promise<KubeObject[]> {
  const lines: string[][] = [];
  const userKey = (s: SubjectRef) => `${tenant}##user##${s.name || s.id}`;
  const groupKey = (s: SubjectRef) => `${tenant}##group##${s.id || s.name}`;
  const subjects = (o: Record<string, unknown> | undefined) => [...subjectsOf(o?.users).map(userKey), ...subjectsOf(o?.groups).map(groupKey)];
  const statement = (p: KubeObject) => p.spec?.statement as { actions?: string[]; resources?: string[]; effect?: string } | undefined;
  for (const p of snap.objects.policies.values()) {
    if (tenantOf(p) !== tenant) continue;
    const st = statement(p);
    for (const res of st?.resources ?? []) for (const act of st?.actions ?? []) lines.push(['p', p.metadata.name!, '*', res, act, String(st?.effect ?? 'allow')]);
    for (const sub of subjects(p.status)) lines.push(['g', sub, p.metadata.name!, '*']);
  }
  for (const r of snap.objects.roles.values()) {
    if (tenantOf(r) !== tenant) continue;
    const dom = String(r.spec?.projectID || '*');
    for (const pol of (r.spec?.policies as string[] | undefined) ?? []) lines.push(['g', r.metadata.name!, pol, dom]);
    for (const sub of subjects(r.status)) lines.push(['g', sub, r.metadata.name!, dom]);
  }
  for (const g of snap.objects.localgroups.values()) {
    if (tenantOf(g) !== tenant) continue;
    for (const u of subjectsOf(g.status?.users)) lines.push(['g', userKey(u), groupKey({ id: g.metadata.name }), '*']);
  }
  for (const b of snap.objects.projectpolicybindings.values()) {
    if (tenantOf(b) !== tenant) continue;
    for (const sub of subjects(b.spec)) lines.push(['g', sub, String(b.spec?.policyID ?? ''), String(b.spec?.projectID ?? '')]);
  }
  for (const b of snap.objects.custompolicybindings.values()) {
    if (tenantOf(b) !== tenant) continue;
    // A custom binding narrows its policy to its own resources: a rule subject of its own.
    const p = snap.objects.policies.get(String(b.spec?.policyID ?? ''));
    const st = p && statement(p);
    const resources = (b.spec?.resources as string[] | undefined)?.length ? (b.spec!.resources as string[]) : st?.resources ?? [];
    for (const res of resources) for (const act of st?.actions ?? []) lines.push(['p', b.metadata.name!, '*', res, act, String(st?.effect ?? 'allow')]);
    for (const sub of subjects(b.spec)) lines.push(['g', sub, b.metadata.name!, '*']);
  }
  const seen = new Set<string>();
  const out: KubeObject[] = [];
  for (const l of lines) {
    const id = createHash('sha256').update(`${tenant}\u0000${l.join('\u0000')}`).digest('hex').slice(0, 20);
    if (seen.has(id)) continue;
    seen.add(id);
    const [ptype, v0 = '', v1 = '', v2 = '', v3 = '', v4 = '', v5 = '', v6 = ''] = l;
    out.push(typed('Rule', { metadata: { name: `rule-${id}`, labels: { 'auth.tkestack.io/tenant': tenant } }, spec: { ptype, v0, v1, v2, v3, v4, v5, v6 } }));
  }
  return out;
}

function expireOf(raw: unknown): number {
  if (raw === undefined || raw === '' || raw === null) return defaultExpireMs;
  const ms = typeof raw === 'number' ? raw / 1e6 : parseDuration(String(raw));
  if (ms === undefined) throw errors.badRequest(`expire: invalid duration ${JSON.stringify(raw)}`);
  const why = checkExpire(ms);
  if (why) throw errors.badRequest(`expire: ${why}`);
  return ms;
}

