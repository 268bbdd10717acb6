// apikeys.auth.tkestack.io: the record of each API key (the token is shown once, never stored),
// and the endpoints that issue keys (POST apikeys, apikeys/*/token, apikeys/*/password).
import * as v1 from '../../../api/auth/v1/types.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { RequestContext, ResourceDefinition } from '../../rest/resource.ts';
import { checkExpire, defaultExpireMs, parseDuration } from './apikeytokens.ts';
import { checkPassword } from './idp.ts';
import { decodePassword, maxLoginNameLength } from './password.ts';
import { tenantIDKey } from './subjects.ts';
import { type AuthDeps, authKind, storedVerbs } from './kind.ts';

export function apiKeys(deps: AuthDeps): ResourceDefinition<typeof v1.APIKey> {
  return authKind(deps, {
    kind: 'APIKey',
    resource: 'apikeys',
    schema: v1.APIKey,
    categories: ['tke'],
    status: true,
    inSnapshot: true,
    tenanted: true,
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
      decorate(obj) {
        if (obj.spec) delete obj.spec.apiKey;
      },
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
      create: (ctx, body) => issueOwnKey(deps, ctx, body as v1.APIKeyReq),
    },
    custom: {
      // apikeys/<any>/token: TKE's TokenREST, an APIKeyReq for a key of the caller itself.
      token: { verbs: ['create'], kind: 'APIKey', parentless: true, handle: r => issueOwnKey(deps, r.ctx, (r.body ?? {}) as v1.APIKeyReq) },
      password: {
        verbs: ['create'],
        kind: 'APIKey',
        parentless: true,
        anonymous: true,
        handle: async r => {
          const req = (r.body ?? {}) as v1.APIKeyReqPassword;
          const tenant = String(req.tenantID || 'default');
          const username = String(req.username ?? '');
          // Checked before anything is written: no made-up name of any length costs a row.
          if (username.length > maxLoginNameLength || tenant.length > maxLoginNameLength) throw errors.unauthorized('invalid username or password');
          const expire = expireOf(req.expire);
          const check = await checkPassword(deps.state, deps.throttle, {
            tenant,
            username,
            password: decodePassword(String(req.password ?? '')),
            source: r.ctx.source ?? '',
            dryRun: r.ctx.dryRun,
          });
          if (check.retryAfter) throw errors.tooManyRequests('too many wrong passwords; try again later', check.retryAfter);
          if (!check.user) throw errors.unauthorized('invalid username or password');
          return deps.apiKeys.issue(tenant, check.user.username, expire, String(req.description ?? ''), { dryRun: r.ctx.dryRun });
        },
      },
    },
  });
}

/**
 * A key for the caller itself. Only callers who are a tenant's identity (they carry its tenant:
 * API keys, OIDC tokens, directory users, also through the front proxy) get one: a Kubernetes
 * user or a client certificate named like a tenant's user is not that user.
 */
export async function issueOwnKey(deps: AuthDeps, ctx: RequestContext, req: v1.APIKeyReq): Promise<KubeObject> {
  if (ctx.user.groups.includes('system:unauthenticated')) throw errors.unauthorized();
  const tenant = ctx.user.extra?.[tenantIDKey]?.[0];
  if (!tenant) throw errors.badRequest(`user "${ctx.user.username}" is not an identity of a tenant; keys are issued to local, directory (LDAP) and OIDC users`);
  return deps.apiKeys.issue(tenant, ctx.user.username, expireOf(req.expire), String(req.description ?? ''), { callerUID: ctx.user.uid, dryRun: ctx.dryRun });
}

export function expireOf(raw: unknown): number {
  if (raw === undefined || raw === '' || raw === null) return defaultExpireMs;
  const ms = typeof raw === 'number' ? raw / 1e6 : parseDuration(String(raw));
  if (ms === undefined) throw errors.badRequest(`expire: invalid duration ${JSON.stringify(raw)}`);
  const why = checkExpire(ms);
  if (why) throw errors.badRequest(`expire: ${why}`);
  return ms;
}
