// auth.tkestack.io: identities (local, LDAP, OIDC tenants), API keys, TKE policies, and the
// authorizer every request of every group goes through. Also serves the tokenreviews and
// subjectaccessreviews webhooks member clusters call, and the OIDC issuer they trust.
import { fileURLToPath } from 'node:url';
import type { AdmissionPlugin } from '../../rest/admission.ts';
import { errors } from '../../rest/errors.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { defaultTenantID, setTenant, tenantOf } from '../tke/tenant.ts';
import { allowed } from '../../server/authz.ts';
import type { APIGroupInstaller } from '../../server/group.ts';
import { StorageError, type Store } from '../../storage/interface.ts';
import { apiKeys } from './apikey.ts';
import { APIKeys } from './apikeytokens.ts';
import { apiSigningKeys } from './apisigningkey.ts';
import { AuditLog } from './audit.ts';
import { auditEvents } from './auditevent.ts';
import { TKEAuthorizer } from './authorizer.ts';
import { BOOTSTRAP_ADMIN_USERNAME } from './bootstrap.ts';
import { businessAccessPlugins } from './business.ts';
import { categories } from './category.ts';
import { clients } from './client.ts';
import { configMaps } from './configmap.ts';
import { customPolicyBindings } from './custompolicybinding.ts';
import { groups } from './group.ts';
import { identityProviders } from './identityprovider.ts';
import { checkPassword, OIDCAuthenticator } from './idp.ts';
import { issuerRoutes } from './issuer.ts';
import type { AuthDeps } from './kind.ts';
import { localGroups } from './localgroup.ts';
import { localIdentities } from './localidentity.ts';
import { maxLoginNameLength, PasswordThrottle } from './password.ts';
import { policies } from './policy.ts';
import { seedCategories, seedTenant } from './predefined.ts';
import { projects } from './project.ts';
import { projectPolicyBindings } from './projectpolicybinding.ts';
import { roles } from './role.ts';
import { rules } from './rule.ts';
import { SigningKeys } from './signingkey.ts';
import { AuthState, authGroupName, serverObject } from './state.ts';
import { subjectAccessReviews } from './subjectaccessreview.ts';
import { isMaster, tenantIDKey, tenantOfObject, tenantOfUser } from './subjects.ts';
import { tokenReviews } from './tokenreview.ts';
import { users } from './user.ts';

/** The default tenant: a local identity provider whose administrator is the bootstrap admin, with TKE's policies. */
async function ensureDefaultTenant(storage: Store): Promise<void> {
  const key = { group: authGroupName, resource: 'identityproviders', namespace: '', name: defaultTenantID };
  for (let attempt = 0; ; attempt++) {
    try {
      await storage.transact(async tx => {
        if (!(await tx.get(key))) {
          await tx.create(
            key,
            serverObject('IdentityProvider', defaultTenantID, {
              spec: { name: defaultTenantID, type: 'local', administrators: [BOOTSTRAP_ADMIN_USERNAME], config: '' },
            }),
          );
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
      throw errors.forbidden(
        { group: a.resource.group, resource: a.resource.resource },
        a.name,
        'objects shared by all tenants are changed by platform administrators only',
      );
    }
    // Deletes are kept to the caller's tenant by the authorizer's object filter.
    if (a.operation === 'DELETE' || objTenant === tenant) return;
    const hasTenantField = obj.spec !== undefined || 'tenantID' in obj;
    const defaulted =
      objTenant === defaultTenantID && hasTenantField && a.resource.resource !== 'identityproviders' && (!a.oldObject || tenantOf(a.oldObject) === tenant);
    if (defaulted) {
      setTenant(obj, tenant);
      return;
    }
    throw errors.forbidden(
      { group: a.resource.group, resource: a.resource.resource },
      a.name,
      `objects of tenant "${objTenant}" cannot be written by a user of tenant "${tenant}"`,
    );
  },
};

export const authGroup: APIGroupInstaller = {
  name: authGroupName,
  migrations: fileURLToPath(new URL('./migrations/', import.meta.url)),
  build(ctx) {
    const log = (msg: string, fields?: object) => ctx.logger.info(fields ?? {}, msg);
    const state = new AuthState(ctx.storage, log);
    const audit = new AuditLog(ctx.sql, log, ctx.audit);
    const signingKeys = new SigningKeys(ctx.storage, state);
    const authorizer = new TKEAuthorizer(state, audit);
    const deps: AuthDeps = {
      storage: ctx.storage,
      state,
      audit,
      throttle: new PasswordThrottle(ctx.sql),
      apiKeys: new APIKeys(ctx.storage, state, signingKeys),
      allowed: (user, r) => allowed(ctx.authorizer(), user, r),
      store: (resource: string) => ctx.store(authGroupName, resource),
    };
    const tokenAuthenticators = [deps.apiKeys.authenticator(), new OIDCAuthenticator(state)];
    for (const t of tokenAuthenticators) ctx.authenticator.addTokenAuthenticator(t);
    ctx.authenticator.setPasswordAuthenticator({
      // Other protocols' logins (the registry's token service) go through the same throttle as apikeys/default/password.
      async authenticatePassword(l) {
        if (l.username.length > maxLoginNameLength || l.tenant.length > maxLoginNameLength) return {};
        const check = await checkPassword(state, deps.throttle, l);
        if (check.retryAfter) return { retryAfterSeconds: check.retryAfter };
        return check.user ? { user: { ...check.user, extra: { [tenantIDKey]: [l.tenant] } } } : {};
      },
    });
    ctx.admission.register(tenantAdmission);
    for (const p of businessAccessPlugins({ state, allowed: deps.allowed })) ctx.admission.register(p);
    const kinds: Array<(deps: AuthDeps) => ResourceDefinition> = [
      localIdentities,
      apiKeys,
      apiSigningKeys,
      identityProviders,
      policies,
      roles,
      localGroups,
      projectPolicyBindings,
      customPolicyBindings,
      categories,
      rules,
      clients,
      configMaps,
      users,
      groups,
      projects,
      auditEvents,
    ];
    let housekeepingTimer: NodeJS.Timeout | undefined;
    return {
      resources: [...kinds.map(k => k(deps)), tokenReviews(tokenAuthenticators), subjectAccessReviews(authorizer)],
      prepare: () => ensureDefaultTenant(ctx.storage),
      authorizer,
      routes: issuerRoutes({ ...deps, keys: signingKeys, externalURL: ctx.externalURL }),
      controllers: () => [
        {
          name: 'auth-snapshot',
          // Warm the snapshot without holding up start-up (requests build it on demand anyway), keep
          // the password throttle's table from growing with names nobody tries any more, and apply
          // the audit trail's retention.
          async start() {
            void state.snapshot().catch(() => undefined);
            const housekeeping = async () => {
              await deps.throttle.forgetStale();
              await audit.prune();
            };
            const run = () => void housekeeping().catch(err => ctx.logger.warn({ err }, 'auth housekeeping failed; retried in 10 minutes'));
            run();
            housekeepingTimer = setInterval(run, 10 * 60_000).unref();
          },
          stop() {
            clearInterval(housekeepingTimer);
            state.stop();
            void audit.flush();
          },
        },
      ],
    };
  },
};
