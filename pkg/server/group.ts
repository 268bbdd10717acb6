// How an API group plugs into the server: its kinds, plus what it adds to the shared
// machinery (admission plugins, token authenticators, an authorizer, controllers).
// main.ts installs every group the same way; no group is special-cased anywhere else.
import type { Logger } from 'pino';
import type { Controller } from '../controller/informer.ts';
import type { AdmissionChain } from '../rest/admission.ts';
import type { ResourceDefinition } from '../rest/resource.ts';
import type { RegistryStore } from '../rest/store.ts';
import type { Store } from '../storage/interface.ts';
import type { Route } from './apiserver.ts';
import type { ChainAuthenticator } from './authn.ts';
import type { Authorizer } from './authz.ts';
import type { CertificateAuthority } from './certs.ts';

export interface GroupContext {
  storage: Store;
  /** The registry store of any served kind, for controllers and cross-kind rules. */
  store(group: string, resource: string): RegistryStore;
  admission: AdmissionChain;
  authenticator: ChainAuthenticator;
  /**
   * The server's authorizer, as it decides requests (every source of decisions composed), for rules
   * that must ask about another object than the request's own. Usable once the server serves.
   */
  authorizer(): Authorizer;
  /** The URL clients reach this server at (https, --external-hostname or the bind address, and the port). Usable once the server serves. */
  externalURL(): string;
  /** The server's CA (the one in DIR/pki), for certificates a group issues. */
  ca: CertificateAuthority;
  dataDir: string;
  logger: Logger;
  /** Retention of the audit trail (--audit-log-maxage, --audit-log-maxevents; 0 = unbounded). */
  audit: { maxAgeDays: number; maxEvents: number };
}

export interface APIGroupInstaller {
  name: string;
  resources: ResourceDefinition[];
  /** Called before serving: registers admission plugins and authenticators. */
  install?(ctx: GroupContext): Promise<void> | void;
  /** The group that decides authorization returns it here (at most one group does). */
  authorizer?(ctx: GroupContext): Authorizer;
  /** Paths the group answers beside the Kubernetes API (an OIDC issuer, a registry's token service). */
  routes?(ctx: GroupContext): Route[];
  /** Controllers started once the server serves and stopped on shutdown. */
  controllers?(ctx: GroupContext): Controller[];
}
