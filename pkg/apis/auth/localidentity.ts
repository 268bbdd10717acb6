// localidentities.auth.tkestack.io: the users of a local tenant, their scrypt-hashed passwords,
// and the policies TKE's spec.extra.policies binds them to.
import * as v1 from '../../../api/auth/v1/types.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { ResourceDefinition, WriteContext } from '../../rest/resource.ts';
import { timestamp } from '../../rest/metadata.ts';
import { tenantOf } from '../tke/tenant.ts';
import { checkPassword, listGroups } from './idp.ts';
import { decodePassword, hashPassword, isHashed, validatePassword, validateUsername } from './password.ts';
import { authGroupName } from './state.ts';
import { isMaster, isReservedName, isTenantAdmin, tenantOfUser, type SubjectRef } from './subjects.ts';
import { type AuthDeps, authKind, ensureSpec, forbidden } from './kind.ts';
import { listOf, merge, remove, sameSubject, writeThrough } from './bindings.ts';
import { asStored, key, listStored, readStored, type StoredLocalIdentity } from './stored.ts';
import { groupObject, policiesReaching, rolesReaching, subjectView } from './views.ts';

export function localIdentities(deps: AuthDeps): ResourceDefinition<typeof v1.LocalIdentity> {
  return authKind(deps, {
    kind: 'LocalIdentity',
    resource: 'localidentities',
    singular: 'localidentity',
    schema: v1.LocalIdentity,
    shortNames: ['li'],
    status: true,
    inSnapshot: true,
    tenanted: true,
    namePrefix: 'usr-',
    finalize: true,
    strategy: {
      prepareForCreate(obj) {
        if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'usr-';
      },
      prepareForUpdate(obj, old, ctx) {
        // The password changes only through localidentities/password; a PUT keeps the stored hash.
        const spec = ensureSpec(obj);
        if (ctx.subresource === 'password') return;
        if (old.spec?.hashedPassword === undefined) delete spec.hashedPassword;
        else spec.hashedPassword = old.spec.hashedPassword;
      },
      validate(obj) {
        const out: FieldError[] = [];
        const username = obj.spec?.username ?? '';
        const bad = validateUsername(username);
        if (bad) out.push(field.invalid('spec.username', username, bad));
        // Before the schema is checked (as here) groups and password may be anything a client sent.
        const groups: unknown[] = Array.isArray(obj.spec?.groups) ? obj.spec.groups : [];
        groups.forEach((g, i) => {
          if (typeof g === 'string' && isReservedName(g))
            out.push(field.forbidden(`spec.groups[${i}]`, `"system:" groups are Kubernetes' own and cannot be given to a tenant's user`));
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
        const spec = ensureSpec(obj);
        if (spec.hashedPassword !== undefined && !isHashed(spec.hashedPassword)) spec.hashedPassword = await hashPassword(decodePassword(spec.hashedPassword));
        if (!old) {
          const tenant = tenantOf(obj);
          const clash = await listStored(ctx.tx, 'localidentities', o => tenantOf(o) === tenant && o.spec?.username === spec.username);
          if (clash.length) throw errors.alreadyExists({ group: authGroupName, resource: 'localidentities' }, spec.username);
        }
        obj.status ??= {};
        obj.status.lastUpdateTime = timestamp();
        await bindExtraPolicies(deps, obj, old, ctx);
      },
      decorate(obj) {
        if (obj.spec) delete obj.spec.hashedPassword;
      },
      columns: [
        { name: 'Username', type: 'string', format: '', description: 'The account of the user.', priority: 0 },
        { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
        { name: 'Tenant', type: 'string', format: '', description: 'The tenant of the user.', priority: 1 },
      ],
      row: o => [o.spec?.username ?? '', o.spec?.displayName ?? '', o.spec?.tenantID ?? ''],
    },
    custom: {
      password: {
        verbs: ['create'],
        kind: 'LocalIdentity',
        handle: async r => {
          const req = (r.body ?? {}) as v1.PasswordReq;
          const next = decodePassword(String(req.hashedPassword ?? ''));
          const why = validatePassword(next);
          if (why)
            throw errors.invalid(authGroupName, 'LocalIdentity', r.parentName, [
              { field: 'hashedPassword', reason: 'FieldValueInvalid', message: `Invalid value: password ${why}` },
            ]);
          const snap = await deps.state.snapshot();
          const li = asStored('localidentities', r.parent!);
          const tenant = tenantOf(li);
          const privileged = isMaster(r.ctx.user) || (tenantOfUser(r.ctx.user) === tenant && isTenantAdmin(snap, tenant, r.ctx.user.username));
          if (!privileged) {
            const check = await checkPassword(deps.state, deps.throttle, {
              tenant,
              username: li.spec?.username ?? '',
              password: decodePassword(String(req.originalPassword ?? '')),
              source: r.ctx.source ?? '',
              dryRun: r.ctx.dryRun,
            });
            if (check.retryAfter) throw errors.tooManyRequests('too many wrong passwords; try again later', check.retryAfter);
            if (!check.user) throw errors.badRequest('the original password is wrong');
          }
          const hashed = await hashPassword(next);
          return writeThrough(deps, 'localidentities', r.parentName, r, 'password', o => {
            ensureSpec(o).hashedPassword = hashed;
          });
        },
      },
      policies: subjectView(deps, 'localidentities', 'PolicyList', (snap, tenant, li) =>
        listOf('Policy', policiesReaching(snap, tenant, { name: li.spec?.username ?? '', id: li.metadata.name!, groups: li.spec?.groups ?? [] })),
      ),
      roles: subjectView(deps, 'localidentities', 'RoleList', (snap, tenant, li) =>
        listOf('Role', rolesReaching(snap, tenant, { name: li.spec?.username ?? '', id: li.metadata.name! })),
      ),
      // The groups the identity is a member of (TKE answers a GroupList here).
      groups: {
        verbs: ['get'],
        kind: 'GroupList',
        handle: async r => {
          const li = asStored('localidentities', r.parent!);
          const tenant = tenantOf(li);
          const all = await listGroups(await deps.state.snapshot(), tenant);
          return listOf(
            'Group',
            all.filter(g => g.members.some(m => m.id === li.metadata.name || m.name === li.spec?.username)).map(g => groupObject(tenant, g)),
          );
        },
      },
    },
  });
}

/**
 * TKE's spec.extra.policies ("pol-a,pol-b"): the platform policies the identity holds directly,
 * bound on write (in the write's transaction) and taken out of the stored object. On update,
 * policies that bind the user directly and are not listed any more are unbound. Each binding is
 * authorized as the caller's own POST policies/<p>/binding (or unbinding) would be.
 */
export async function bindExtraPolicies(deps: AuthDeps, obj: StoredLocalIdentity, old: StoredLocalIdentity | undefined, ctx: WriteContext): Promise<void> {
  const extra = obj.spec?.extra;
  if (extra?.policies === undefined) return;
  const wanted = [
    ...new Set(
      extra.policies
        .split(',')
        .map(p => p.trim())
        .filter(p => p.startsWith('pol-')),
    ),
  ];
  delete extra.policies;
  const tenant = tenantOf(obj);
  const subject: SubjectRef = { id: obj.metadata.name!, name: obj.spec?.username ?? '' };
  const held = old
    ? (await listStored(ctx.tx, 'policies', p => tenantOf(p) === tenant && (p.status?.users ?? []).some(u => sameSubject(u, subject)))).map(
        p => p.metadata.name!,
      )
    : [];
  const changes = [
    ...wanted.filter(p => !held.includes(p)).map(p => [p, true] as const),
    ...held.filter(p => !wanted.includes(p)).map(p => [p, false] as const),
  ];
  for (const [name, add] of changes) {
    if (!(await deps.allowed(ctx.user, { verb: 'create', apiGroup: authGroupName, resource: 'policies', subresource: add ? 'binding' : 'unbinding', name }))) {
      throw forbidden('policies', name, `spec.extra.policies: user "${ctx.user.username}" may not ${add ? 'bind' : 'unbind'} policy ${name}`);
    }
    const policy = await readStored(ctx.tx, 'policies', name, { forUpdate: true });
    if (!policy || tenantOf(policy) !== tenant)
      throw errors.invalid(authGroupName, 'LocalIdentity', obj.metadata.name!, [field.invalid('spec.extra.policies', name, 'no such policy in the tenant')]);
    if (policy.spec?.scope === 'project')
      throw errors.invalid(authGroupName, 'LocalIdentity', obj.metadata.name!, [
        field.invalid('spec.extra.policies', name, 'a project policy is granted inside a project, not to a user'),
      ]);
    const users = add ? merge(policy.status?.users, [subject]) : remove(policy.status?.users, [subject]);
    await ctx.tx.update(key('policies', name), { ...policy, status: { ...policy.status, users } }, policy.metadata.resourceVersion);
  }
}
