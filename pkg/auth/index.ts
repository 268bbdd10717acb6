// auth.tkestack.io: identities (local, LDAP, OIDC tenants), API keys, TKE policies, and the
// authorizer every request of every group goes through. Also serves the tokenreviews and
// subjectaccessreviews webhooks member clusters call.
import type { AdmissionPlugin } from '../rest/admission.ts';
import { defaultTenantID } from '../rest/tenant.ts';
import type { TokenAuthenticator } from '../server/authn.ts';
import type { APIGroupInstaller, GroupContext } from '../server/group.ts';
import type { PostgresStore } from '../storage/postgres.ts';
import { StorageError, type Store } from '../storage/interface.ts';
import { APIKeys } from './apikey.ts';
import { SigningKeys } from './signingkey.ts';
import { issuerRoutes } from './issuer.ts';
import { AuditLog } from './audit.ts';
import { TKEAuthorizer } from './authorizer.ts';
import { OIDCAuthenticator } from './idp.ts';
import { PasswordThrottle } from './password.ts';
import { seedCategories, seedTenant } from './predefined.ts';
import { authResources, type AuthDeps } from './resources.ts';
import { AuthState, authGroupName, serverObject } from './state.ts';
import { isMaster, tenantOfObject, tenantOfUser } from './subjects.ts';
import { BOOTSTRAP_ADMIN_USERNAME } from './bootstrap.ts';
import { errors } from '../rest/errors.ts';
import { allowed } from '../server/authz.ts';
import { webhookResources } from './webhooks.ts';
import { businessAccessPlugins } from './business.ts';

/** Filled by install(): the kinds are declared before the server (and its storage) exists. */
const deps = {} as AuthDeps;
let authorizer: TKEAuthorizer | undefined;
let signingKeys: SigningKeys | undefined;
let tokenAuthenticators: TokenAuthenticator[] = [];

function installed<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('auth group used before install()');
  return v;
}

/** The default tenant: a local identity provider whose administrator is the bootstrap admin, with TKE's policies. */
async function ensureDefaultTenant(storage: Store): Promise<void> {
  const key = { group: authGroupName, resource: 'identityproviders', namespace: '', name: defaultTenantID };
  for (let attempt = 0; ; attempt++) {
    try {
      await storage.transact(async tx => {
        if (!(await tx.get(key))) {
          await tx.create(key, serverObject('IdentityProvider', defaultTenantID, {
            spec: { name: defaultTenantID, type: 'local', administrators: [BOOTSTRAP_ADMIN_USERNAME], config: '' },
          }));
        }
        await seedTenant(tx, defaultTenantID);
        await seedCategories(tx);
      });
      return;
    } catch (err) {
      // Another replica seeding at the same moment: its work is ours; check again.
      if (err instanceof StorageError && err.code === 'AlreadyExists' && attempt < 3) continue;
      throw err;
    }
  }
}

/**
 * Objects a tenant's user writes belong to that tenant: an empty tenantID (defaulted to
 * 'default' by the strategies) becomes the caller's, and naming another tenant is refused.
 */
const tenantAdmission: AdmissionPlugin = {
  name: 'TenantIsolation',
  handles: () => true,
  async admit(a) {
    const obj = a.object ?? a.oldObject;
    if (!obj || isMaster(a.user)) return;
    const tenant = tenantOfUser(a.user);
    const objTenant = tenantOfObject(a.resource.resource, obj);
    if (objTenant === undefined) {
      // Objects of no tenant (categories) are shared by every tenant: only platform masters change them.
      throw errors.forbidden({ group: a.resource.group, resource: a.resource.resource }, a.name, 'objects shared by all tenants are changed by platform administrators only');
    }
    // Deletes are kept to the caller's tenant by the authorizer's object filter.
    if (a.operation === 'DELETE' || objTenant === tenant) return;
    const defaulted = objTenant === defaultTenantID && a.resource.resource !== 'identityproviders' && obj.spec && (!a.oldObject || a.oldObject.spec?.tenantID === tenant);
    if (defaulted && obj.spec) { obj.spec.tenantID = tenant; return; }
    throw errors.forbidden({ group: a.resource.group, resource: a.resource.resource }, a.name, `objects of tenant "${objTenant}" cannot be written by a user of tenant "${tenant}"`);
  },
};

let forgetTimer: NodeJS.Timeout | undefined;

export const authGroup: APIGroupInstaller = {
  name: authGroupName,
  resources: [
    ...authResources(deps),
    ...webhookResources({ tokenAuthenticators: () => tokenAuthenticators, authorizer: () => installed(authorizer) }),
  ],
  async install(ctx: GroupContext) {
    const log = (msg: string, fields?: object) => ctx.logger.info(fields ?? {}, msg);
    const state = new AuthState(ctx.storage, log);
    if (!('pool' in ctx.storage)) throw new Error('the auth group keeps its audit trail and password throttle in PostgreSQL');
    const pool = (ctx.storage as PostgresStore).pool;
    const audit = new AuditLog(pool, log, ctx.audit);
    signingKeys = new SigningKeys(ctx.storage, state);
    authorizer = new TKEAuthorizer(state, audit);
    Object.assign(deps, {
      storage: ctx.storage, allowed: (user, r) => allowed(ctx.authorizer(), user, r), state, apiKeys: new APIKeys(ctx.storage, state, signingKeys), throttle: new PasswordThrottle(pool), audit,
      store: (resource: string) => ctx.store(authGroupName, resource),
    } satisfies AuthDeps);
    await ensureDefaultTenant(ctx.storage);
    tokenAuthenticators = [deps.apiKeys.authenticator(), new OIDCAuthenticator(state)];
    for (const t of tokenAuthenticators) ctx.authenticator.addTokenAuthenticator(t);
    ctx.admission.register(tenantAdmission);
    for (const p of businessAccessPlugins({ state, allowed: deps.allowed })) ctx.admission.register(p);
  },
  authorizer: () => installed(authorizer),
  routes: (ctx) => issuerRoutes({ ...deps, keys: installed(signingKeys), externalURL: ctx.externalURL }),
  controllers: (ctx) => [{
    name: 'auth-snapshot',
    // Warm the snapshot without holding up start-up (requests build it on demand anyway), keep
    // the password throttle's table from growing with names nobody tries any more, and apply
    // the audit trail's retention.
    async start() {
      void deps.state.snapshot().catch(() => undefined);
      const housekeeping = async () => {
        await deps.throttle.forgetStale();
        await deps.audit.prune();
      };
      const run = () => void housekeeping().catch(err => ctx.logger.warn({ err }, 'auth housekeeping failed; retried in 10 minutes'));
      run();
      forgetTimer = setInterval(run, 10 * 60_000).unref();
    },
    stop() { clearInterval(forgetTimer); deps.state.stop(); void deps.audit.flush(); },
  }],
};
