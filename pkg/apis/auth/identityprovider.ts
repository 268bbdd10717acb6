// identityproviders.auth.tkestack.io: a tenant (named after it), its administrators and its
// connector (local, LDAP, OIDC), whose configuration holds the LDAP bind password.
import * as v1 from '../../../api/auth/v1/types.ts';
import { errors, field } from '../../rest/errors.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { validateLDAPConfig, validateOIDCConfig } from './idp.ts';
import { seedTenant } from './predefined.ts';
import { authGroupName } from './state.ts';
import { secretMask } from '../../rest/secrets.ts';
import { type AuthDeps, authKind, ensureSpec } from './kind.ts';
import { listStored, type StoredIdentityProvider } from './stored.ts';

// ---- identity provider configurations ---------------------------------------------------------------

export function configOf(idp: StoredIdentityProvider): Record<string, unknown> | undefined {
  try {
    const c = JSON.parse(idp.spec?.config ?? '') as unknown;
    return c && typeof c === 'object' && !Array.isArray(c) ? (c as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Where an LDAP bind password goes, and how: the server, the account, and whether TLS protects it. */
export function bindPasswordTarget(c: Record<string, unknown>): string {
  return JSON.stringify([c.host, c.bindDN, c.insecureNoSSL === true, c.insecureSkipVerify === true]);
}

export function identityProviders(deps: AuthDeps): ResourceDefinition<typeof v1.IdentityProvider> {
  return authKind(deps, {
    kind: 'IdentityProvider',
    resource: 'identityproviders',
    schema: v1.IdentityProvider,
    shortNames: ['idp'],
    categories: ['tke'],
    inSnapshot: true,
    // The connector configuration holds the LDAP bind password.
    secretFields: ['spec.config'],
    strategy: {
      defaults(obj) {
        const spec = ensureSpec(obj);
        if (!spec.name) spec.name = obj.metadata.name;
        // Before the schema is checked (as here) administrators may be anything a client sent.
        if (!Array.isArray(spec.administrators)) spec.administrators = [];
      },
      validate(obj) {
        const t = obj.spec?.type;
        if (t === 'local') return [];
        const cfg = configOf(obj);
        if (!cfg) return [field.invalid('spec.config', '<config>', 'must be JSON')];
        if (cfg.bindPW === secretMask) {
          return [
            field.invalid(
              'spec.config',
              '<config>',
              'bindPW is masked: the stored bind password is kept only while host, bindDN and the TLS settings stay the same; give the password again',
            ),
          ];
        }
        const why = t === 'ldap' ? validateLDAPConfig(cfg) : validateOIDCConfig(cfg);
        return why ? [field.invalid('spec.config', '<config>', why)] : [];
      },
      async beforeWrite(obj, old, ctx) {
        const cfg = obj.spec?.type === 'oidc' ? configOf(obj) : undefined;
        if (cfg) {
          // Tokens are matched to a tenant by issuer and audience: a second tenant naming the same
          // pair would take over the first one's users.
          const idps = await listStored(ctx.tx, 'identityproviders');
          const taken = idps.find(
            i =>
              i.metadata.name !== obj.metadata.name && i.spec?.type === 'oidc' && configOf(i)?.issuer === cfg.issuer && configOf(i)?.clientID === cfg.clientID,
          );
          if (taken)
            throw errors.invalid(authGroupName, 'IdentityProvider', obj.metadata.name!, [
              field.invalid('spec.config', '<config>', 'another tenant already uses this issuer with this clientID'),
            ]);
        }
        if (old) return;
        // Tenant IDs partition the names of auth objects (`pol-<tenant>-...`, see tenantPartition):
        // no tenant ID may be another's followed by '-', or two tenants would share names.
        const name = obj.metadata.name!;
        const idps = await ctx.tx.list({ group: authGroupName, resource: 'identityproviders' });
        const clash = idps.find(i => name.startsWith(`${i.metadata.name}-`) || i.metadata.name!.startsWith(`${name}-`));
        if (clash)
          throw errors.invalid(authGroupName, 'IdentityProvider', name, [
            field.invalid('metadata.name', name, `tenant IDs may not extend one another with "-" (tenant "${clash.metadata.name}" exists)`),
          ]);
        await seedTenant(ctx.tx, name);
      },
      prepareForUpdate(obj, old) {
        // A client writing back what it read sends the masked bind password: keep the stored one,
        // but only for the directory and account it was given for (see bindPasswordTarget).
        const next = configOf(obj);
        const prev = configOf(old);
        if (obj.spec && next?.bindPW === secretMask && prev && bindPasswordTarget(next) === bindPasswordTarget(prev)) {
          obj.spec.config = JSON.stringify({ ...next, bindPW: prev.bindPW });
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
      row: o => [o.spec?.type ?? '', (o.spec?.administrators ?? []).join(',')],
    },
  });
}
