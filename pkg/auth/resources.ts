// The kinds of auth.tkestack.io/v1 (resource names and subresources of tkestack/tke
// pkg/auth/registry/rest/rest.go), and what each does beyond the generic store.
import type { TSchema } from '@sinclair/typebox';
import * as v1 from '../../api/auth/v1/types.ts';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { errors, field, type FieldError } from '../rest/errors.ts';
import type { CustomSubresource, RequestContext, ResourceDefinition, Strategy, SubresourceRequest, Verb, VirtualHandlers } from '../rest/resource.ts';
import { timestamp } from '../rest/store.ts';
import { defaultTenant, tenantOf } from '../rest/tenant.ts';
import type { Store, Transaction } from '../storage/interface.ts';
import { checkExpire, defaultExpireMs, parseDuration, serverObject, type APIKeys } from './apikey.ts';
import type { AuditLog } from './audit.ts';
import { checkPassword, listGroups, listUsers, parseConfig, validateLDAPConfig, validateOIDCConfig, type DirectoryUser } from './idp.ts';
import { decodePassword, hashPassword, isHashed, validatePassword, validateUsername, type PasswordThrottle } from './password.ts';
import { seedTenant } from './predefined.ts';
import { authGroupName, type AuthState, type Snapshot } from './state.ts';
import { grantsFor, isMaster, isTenantAdmin, tenantOfUser, type SubjectRef } from './subjects.ts';

export interface AuthDeps {
  storage: Store;
  state: AuthState;
  apiKeys: APIKeys;
  throttle: PasswordThrottle;
  audit: AuditLog;
}

const version = 'v1';
const storedVerbs: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function key(resource: string, name: string) {
  return { group: authGroupName, resource, namespace: '', name };
}

function tenantFieldSelectors(): Strategy['fieldSelectors'] {
  return {
    'spec.tenantID': o => o.spec?.tenantID as string | undefined,
    'spec.username': o => o.spec?.username as string | undefined,
  };
}

interface KindOptions {
  kind: string;
  resource: string;
  singular?: string;
  schema: TSchema;
  shortNames?: string[];
  status?: boolean;
  custom?: Record<string, CustomSubresource>;
  verbs?: Verb[];
  handlers?: VirtualHandlers;
  /** Read by every request's authentication/authorization: a write invalidates the snapshot. */
  inSnapshot?: boolean;
  /** Objects carry spec.tenantID (defaulted to the caller's tenant by admission, else 'default'). */
  tenanted?: boolean;
  strategy?: Strategy;
}

function authKind(deps: AuthDeps, o: KindOptions): ResourceDefinition {
  const s: Strategy = { ...o.strategy };
  if (o.tenanted) {
    const own = s.defaults;
    s.defaults = obj => { defaultTenant(obj); own?.(obj); };
    s.fieldSelectors = { ...tenantFieldSelectors(), ...s.fieldSelectors };
  }
  if (o.inSnapshot) {
    const bw = s.beforeWrite;
    const bd = s.beforeDelete;
    s.beforeWrite = async (obj, old, ctx) => { await bw?.(obj, old, ctx); deps.state.invalidate(); };
    s.beforeDelete = async (obj, ctx) => { await bd?.(obj, ctx); deps.state.invalidate(); };
  }
  return {
    group: authGroupName, version, kind: o.kind, listKind: `${o.kind}List`, resource: o.resource,
    singular: o.singular ?? o.kind.toLowerCase(), namespaced: false, shortNames: o.shortNames ?? [], categories: ['tke'],
    schema: o.schema, subresources: { status: o.status, custom: o.custom }, verbs: o.verbs, strategy: s, handlers: o.handlers,
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

/**
 * Read-modify-write of one stored object in one transaction with its row locked, so concurrent
 * bindings never lose each other's subjects. Objects the caller cannot see are NotFound.
 */
async function mutate(deps: AuthDeps, resource: string, name: string, ctx: RequestContext, fn: (obj: KubeObject, tx: Transaction) => Promise<void> | void): Promise<KubeObject> {
  const out = await deps.storage.transact(async tx => {
    const current = await tx.get(key(resource, name), { forUpdate: true });
    if (!current || (ctx.objectFilter && !ctx.objectFilter(current))) throw errors.notFound({ group: authGroupName, resource }, name);
    const next = structuredClone(current);
    await fn(next, tx);
    return tx.update(key(resource, name), next, current.metadata.resourceVersion);
  });
  deps.state.invalidate();
  return out;
}

function typed(kind: string, obj: KubeObject): KubeObject {
  return { apiVersion: `${authGroupName}/${version}`, kind, ...obj };
}

function listOf(kind: string, items: KubeObject[]): KubeObject {
  return { apiVersion: `${authGroupName}/${version}`, kind: `${kind}List`, metadata: {}, items } as unknown as KubeObject;
}

/** binding / unbinding of users and groups into status.users / status.groups (policies, roles, local groups). */
function bindingSubresources(deps: AuthDeps, resource: string, kind: string): Record<string, CustomSubresource> {
  const change = (add: boolean): CustomSubresource => ({
    verbs: ['create'], kind,
    handle: async (r) => {
      const { users, groups } = bindingBody(r.body);
      const obj = await mutate(deps, resource, r.parentName, r.ctx, o => {
        o.status ??= {};
        o.status.users = add ? merge(o.status.users, users) : remove(o.status.users, users);
        if (resource !== 'localgroups') o.status.groups = add ? merge(o.status.groups, groups) : remove(o.status.groups, groups);
      });
      return typed(kind, obj);
    },
  });
  const members = (which: 'users' | 'groups'): CustomSubresource => ({
    verbs: ['get'], kind: which === 'users' ? 'UserList' : 'GroupList',
    handle: async (r) => listOf(which === 'users' ? 'User' : 'Group', subjectsOf(r.parent?.status?.[which]).map(s => typed(which === 'users' ? 'User' : 'Group', {
      metadata: { name: s.id || s.name || '' }, spec: { id: s.id ?? '', name: s.name ?? '', tenantID: tenantOf(r.parent!) },
    }))),
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

async function findUser(snap: Snapshot, tenant: string, name: string): Promise<DirectoryUser | undefined> {
  return (await listUsers(snap, tenant)).find(u => u.id === name || u.name === name);
}

function policiesReaching(snap: Snapshot, tenant: string, u: DirectoryUser | { name: string; id: string; groups: string[] }): KubeObject[] {
  const names = new Set(grantsFor(snap, tenant, { username: u.name, uid: u.id, groups: u.groups }).map(g => g.policy));
  return [...names].map(n => snap.objects.policies.get(n)).filter((p): p is KubeObject => !!p).map(p => typed('Policy', p));
}

function rolesReaching(snap: Snapshot, tenant: string, u: { name: string; id: string }): KubeObject[] {
  return [...snap.objects.roles.values()].filter(r => tenantOf(r) === tenant && subjectsOf(r.status?.users).some(s => s.name === u.name || s.id === u.id)).map(r => typed('Role', r));
}

// ---- the definitions -----------------------------------------------------------------------------------

export function authResources(deps: AuthDeps): ResourceDefinition[] {
  const forbidden = (resource: string, name: string, why: string) => errors.forbidden({ group: authGroupName, resource }, name, why);

  const localidentities = authKind(deps, {
    kind: 'LocalIdentity', resource: 'localidentities', singular: 'localidentity', schema: v1.LocalIdentity, shortNames: ['li'],
    status: true, inSnapshot: true, tenanted: true,
    strategy: {
      prepareForCreate(obj) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'usr-';
      },
      prepareForUpdate(obj, old) {
        // The password changes only through localidentities/password; a PUT keeps the stored hash.
        obj.spec ??= {};
        if (old.spec?.hashedPassword === undefined) delete obj.spec.hashedPassword; else obj.spec.hashedPassword = old.spec.hashedPassword;
      },
      validate(obj) {
        const out: FieldError[] = [];
        const username = String(obj.spec?.username ?? '');
        const bad = validateUsername(username);
        if (bad) out.push(field.invalid('spec.username', username, bad));
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
            const check = await checkPassword(deps.state, deps.throttle, tenant, String(r.parent!.spec?.username), decodePassword(String(req.originalPassword ?? '')));
            if (check.retryAfter) throw errors.tooManyRequests('too many wrong passwords; try again later', check.retryAfter);
            if (!check.user) throw errors.badRequest('the original password is wrong');
          }
          const hashed = await hashPassword(next);
          const obj = await mutate(deps, 'localidentities', r.parentName, r.ctx, o => {
            o.spec = { ...o.spec, hashedPassword: hashed };
            o.status = { ...o.status, lastUpdateTime: timestamp() };
          });
          return localidentities.strategy.decorate ? decorated(localidentities, obj) : obj;
        },
      },
      policies: subjectView('PolicyList', (snap, tenant, li) => listOf('Policy', policiesReaching(snap, tenant, { name: String(li.spec?.username), id: li.metadata.name!, groups: (li.spec?.groups as string[] | undefined) ?? [] }))),
      roles: subjectView('RoleList', (snap, tenant, li) => listOf('Role', rolesReaching(snap, tenant, { name: String(li.spec?.username), id: li.metadata.name! }))),
    },
  });

  function subjectView(kind: string, build: (snap: Snapshot, tenant: string, parent: KubeObject) => KubeObject): CustomSubresource {
    return { verbs: ['get'], kind, handle: async (r) => build(await deps.state.snapshot(), tenantOf(r.parent!), r.parent!) };
  }

  const apikeys = authKind(deps, {
    kind: 'APIKey', resource: 'apikeys', schema: v1.APIKey, status: true, inSnapshot: true, tenanted: true,
    verbs: storedVerbs,
    strategy: {
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
      async create(ctx, body) {
        const req = body as v1.APIKeyReq;
        if (ctx.user.groups.includes('system:unauthenticated')) throw errors.unauthorized();
        const expire = expireOf(req.expire);
        return deps.apiKeys.issue(tenantOfUser(ctx.user), ctx.user.username, expire, String(req.description ?? ''));
      },
    },
    custom: {
      password: {
        verbs: ['create'], kind: 'APIKey', parentless: true, anonymous: true,
        handle: async (r) => {
          const req = (r.body ?? {}) as v1.APIKeyReqPassword;
          const tenant = String(req.tenantID || 'default');
          const username = String(req.username ?? '');
          const expire = expireOf(req.expire);
          const check = await checkPassword(deps.state, deps.throttle, tenant, username, decodePassword(String(req.password ?? '')));
          if (check.retryAfter) throw errors.tooManyRequests('too many wrong passwords; try again later', check.retryAfter);
          if (!check.user) throw errors.unauthorized('invalid username or password');
          return deps.apiKeys.issue(tenant, check.user.username, expire, String(req.description ?? ''));
        },
      },
    },
  });

  const apisigningkeys = authKind(deps, {
    kind: 'APISigningKey', resource: 'apisigningkeys', schema: v1.APISigningKey, inSnapshot: true,
    verbs: ['get', 'list', 'watch', 'delete'],
    strategy: { decorate(obj) { delete obj.signingKey; } },
  });

  const identityproviders = authKind(deps, {
    kind: 'IdentityProvider', resource: 'identityproviders', schema: v1.IdentityProvider, shortNames: ['idp'], inSnapshot: true,
    strategy: {
      defaults(obj) {
        obj.spec ??= {};
        if (!obj.spec.name) obj.spec.name = obj.metadata.name;
        if (!Array.isArray(obj.spec.administrators)) obj.spec.administrators = [];
      },
      validate(obj) {
        const t = obj.spec?.type;
        if (t === 'local') return [];
        let cfg: Record<string, unknown>;
        try { cfg = JSON.parse(String(obj.spec?.config ?? '')) as Record<string, unknown>; } catch { return [field.invalid('spec.config', '<config>', 'must be JSON')]; }
        const why = t === 'ldap' ? validateLDAPConfig(cfg) : validateOIDCConfig(cfg);
        return why ? [field.invalid('spec.config', '<config>', why)] : [];
      },
      async beforeWrite(obj, old, ctx) {
        if (!old) await seedTenant(ctx.tx, obj.metadata.name!);
      },
      prepareForUpdate(obj, old) {
        // A client writing back what it read sends the masked bind password: keep the stored one.
        const mask = (o: KubeObject) => { try { return JSON.parse(String(o.spec?.config ?? '')) as Record<string, unknown>; } catch { return undefined; } };
        const next = mask(obj);
        const prev = mask(old);
        if (next && prev && next.bindPW === '******') obj.spec = { ...obj.spec, config: JSON.stringify({ ...next, bindPW: prev.bindPW }) };
      },
      decorate(obj) {
        // The LDAP bind password is a secret: never served back.
        if (obj.spec?.type !== 'ldap' || typeof obj.spec.config !== 'string') return;
        try {
          const c = JSON.parse(obj.spec.config) as Record<string, unknown>;
          if (c.bindPW) c.bindPW = '******';
          obj.spec.config = JSON.stringify(c);
        } catch { /* invalid configs are refused on write */ }
      },
      columns: [
        { name: 'Type', type: 'string', format: '', description: 'local, ldap or oidc.', priority: 0 },
        { name: 'Administrators', type: 'string', format: '', description: 'Platform administrators of the tenant.', priority: 0 },
      ],
      row: o => [o.spec?.type ?? '', ((o.spec?.administrators as string[] | undefined) ?? []).join(',')],
    },
  });

  const policies = authKind(deps, {
    kind: 'Policy', resource: 'policies', singular: 'policy', schema: v1.Policy, shortNames: ['pol'], status: true, inSnapshot: true, tenanted: true,
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
      fieldSelectors: { 'spec.scope': o => o.spec?.scope as string | undefined, 'spec.type': o => o.spec?.type as string | undefined },
    },
    custom: bindingSubresources(deps, 'policies', 'Policy'),
  });

  const roles = authKind(deps, {
    kind: 'Role', resource: 'roles', schema: v1.Role, shortNames: ['rol'], status: true, inSnapshot: true, tenanted: true,
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
        return typed('Role', await mutate(deps, 'roles', r.parentName, r.ctx, async (o, tx) => {
          if (add) await checkPolicies(tx, tenantOf(o), want);
          const cur = (o.spec?.policies as string[] | undefined) ?? [];
          o.spec = { ...o.spec, policies: add ? [...new Set([...cur, ...want])] : cur.filter(p => !want.includes(p)) };
        }));
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
    kind: 'LocalGroup', resource: 'localgroups', schema: v1.LocalGroup, shortNames: ['lg'], status: true, inSnapshot: true, tenanted: true,
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
    },
  });

  const projectpolicybindings = authKind(deps, {
    kind: 'ProjectPolicyBinding', resource: 'projectpolicybindings', schema: v1.ProjectPolicyBinding, inSnapshot: true, tenanted: true,
    strategy: {
      prepareForCreate(obj) {
        if (!obj.metadata.name && obj.spec?.projectID && obj.spec.policyID) obj.metadata.name = `${String(obj.spec.projectID)}-${String(obj.spec.policyID)}`;
      },
      async beforeWrite(obj, _old, ctx) { await checkPolicies(ctx.tx, tenantOf(obj), [String(obj.spec?.policyID ?? '')], 'project'); },
      validateUpdate(obj, old) {
        return obj.spec?.projectID !== old.spec?.projectID || obj.spec?.policyID !== old.spec?.policyID ? [field.forbidden('spec', 'projectID and policyID may not be changed')] : [];
      },
      fieldSelectors: { 'spec.projectID': o => o.spec?.projectID as string | undefined, 'spec.policyID': o => o.spec?.policyID as string | undefined },
    },
  });

  const custompolicybindings = authKind(deps, {
    kind: 'CustomPolicyBinding', resource: 'custompolicybindings', schema: v1.CustomPolicyBinding, inSnapshot: true, tenanted: true,
    strategy: { async beforeWrite(obj, _old, ctx) { await checkPolicies(ctx.tx, tenantOf(obj), [String(obj.spec?.policyID ?? '')]); } },
  });

  const categories = authKind(deps, { kind: 'Category', resource: 'categories', singular: 'category', schema: v1.Category });
  const rules = authKind(deps, { kind: 'Rule', resource: 'rules', schema: v1.Rule });
  const clients = authKind(deps, {
    kind: 'Client', resource: 'clients', schema: v1.Client,
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
        const all = (await listGroups(await deps.state.snapshot(), tenant)).map(g => typed('Group', {
          metadata: { name: g.id }, spec: { id: g.id, displayName: g.name, tenantID: tenant, description: '', extra: {} }, status: { users: g.members },
        }));
        return { items: ctx.objectFilter ? all.filter(ctx.objectFilter) : all };
      },
      async get(ctx, name) {
        const items = (await this.list!(ctx, {})).items;
        const g = items.find(i => i.metadata.name === name);
        if (!g) throw errors.notFound({ group: authGroupName, resource: 'groups' }, name);
        return g;
      },
    },
  });

  /** projects.auth.tkestack.io: members of a business project, from its project policy bindings. */
  async function projectView(ctx: RequestContext, name: string): Promise<KubeObject> {
    const project = await deps.storage.get({ group: 'business.tkestack.io', resource: 'projects', namespace: '', name });
    if (!project || (ctx.objectFilter && !ctx.objectFilter(project))) throw errors.notFound({ group: authGroupName, resource: 'projects' }, name);
    const snap = await deps.state.snapshot();
    const members: Record<string, string> = {};
    const groupsOf: Record<string, string> = {};
    for (const b of snap.objects.projectpolicybindings.values()) {
      if (b.spec?.projectID !== name) continue;
      for (const s of subjectsOf(b.spec?.users)) members[s.id || s.name || ''] = s.name || s.id || '';
      for (const s of subjectsOf(b.spec?.groups)) groupsOf[s.id || s.name || ''] = s.name || s.id || '';
    }
    return typed('Project', { metadata: { name, creationTimestamp: project.metadata.creationTimestamp }, tenantID: tenantOf(project), members, groups: groupsOf });
  }

  function projectBinding(add: boolean): CustomSubresource {
    return {
      verbs: ['create'], kind: 'Project', parentless: true,
      handle: async (r: SubresourceRequest) => {
        const view = await projectView(r.ctx, r.parentName);
        const body = (r.body ?? {}) as v1.ProjectPolicyBindingRequest;
        const wanted = Array.isArray(body.policies) ? body.policies : [];
        if (!wanted.length) throw errors.badRequest('policies is required');
        const { users: u, groups: g } = bindingBody(r.body);
        const tenant = String(view.tenantID);
        await deps.storage.transact(async tx => {
          if (add) await checkPolicies(tx, tenant, wanted, 'project');
          for (const policy of wanted) {
            const k = key('projectpolicybindings', `${r.parentName}-${policy}`);
            const cur = await tx.get(k, { forUpdate: true });
            if (!cur) {
              if (!add) continue;
              await tx.create(k, serverObject('ProjectPolicyBinding', k.name, {
                spec: { tenantID: tenant, projectID: r.parentName, policyID: policy, users: merge([], u), groups: merge([], g) },
                Status: { phase: 'Active' },
              }));
              continue;
            }
            const next = structuredClone(cur);
            next.spec = { ...next.spec, users: add ? merge(cur.spec?.users, u) : remove(cur.spec?.users, u), groups: add ? merge(cur.spec?.groups, g) : remove(cur.spec?.groups, g) };
            await tx.update(k, next, cur.metadata.resourceVersion);
          }
        });
        deps.state.invalidate();
        return projectView(r.ctx, r.parentName);
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
      users: {
        verbs: ['get'], kind: 'UserList', parentless: true,
        handle: async (r) => {
          const view = await projectView(r.ctx, r.parentName);
          return listOf('User', Object.entries(view.members as Record<string, string>).map(([id, name]) => typed('User', { metadata: { name: id }, spec: { id, name, tenantID: view.tenantID } })));
        },
      },
      policies: {
        verbs: ['get'], kind: 'PolicyList', parentless: true,
        handle: async (r) => {
          await projectView(r.ctx, r.parentName);
          const snap = await deps.state.snapshot();
          const names = new Set([...snap.objects.projectpolicybindings.values()].filter(b => b.spec?.projectID === r.parentName).map(b => String(b.spec?.policyID)));
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

function decorated(def: ResourceDefinition, obj: KubeObject): KubeObject {
  const copy = typed(def.kind, structuredClone(obj));
  def.strategy.decorate?.(copy);
  return copy;
}

function expireOf(raw: unknown): number {
  if (raw === undefined || raw === '' || raw === null) return defaultExpireMs;
  const ms = typeof raw === 'number' ? raw / 1e6 : parseDuration(String(raw));
  if (ms === undefined) throw errors.badRequest(`expire: invalid duration ${JSON.stringify(raw)}`);
  const why = checkExpire(ms);
  if (why) throw errors.badRequest(`expire: ${why}`);
  return ms;
}

