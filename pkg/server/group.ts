// How an API group plugs into the server: built from the server's context into its kinds and
// what it adds to the shared machinery (admission plugins, token authenticators, an authorizer,
// routes, controllers). main.ts builds every group the same way; no group is special-cased
// anywhere else, and a group keeps no state outside what it builds, so several servers can run in
// one process.
import type pg from 'pg';
import type { Logger } from 'pino';
import type { EventRecorder } from '../controller/events.ts';
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
  /** The database itself, for a group's own tables (its `migrations`): the audit trail, login counts. */
  sql: pg.Pool;
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
  /** Seconds between probes of a member cluster (--cluster-health-check-period). */
  clusterHealthCheckPeriodSeconds: number;
  /**
   * Records Kubernetes Events about the objects a controller acts on, for `kubectl describe`: into
   * this server's core/v1 events, or the kube-apiserver's with --events-kubeconfig. Never blocks, never throws.
   */
  eventRecorder: EventRecorder;
  /** Seconds an Event is kept after it was last seen (--event-ttl). */
  eventTTLSeconds: number;
  /** The image registry's engine and token settings (--registry-*). */
  registry: ImageRegistryOptions;
}

export interface ImageRegistryOptions {
  /** An external distribution's URL; unset = the embedded docker-registry, where `engineBinary` exists. */
  url?: string;
  engineBinary: string;
  /** The token signing pair the engine trusts; unset = generated in <data-dir>/registry. */
  tokenKeyFile?: string;
  tokenCertFile?: string;
  /** The secret the engine's notifications carry; unset = generated in <data-dir>/registry. */
  notificationSecretFile?: string;
  /** Hosts `<tenant>.<suffix>` address that tenant's images (TKE's domain suffix); unset = the default tenant's. */
  domainSuffix?: string;
  /**
   * With --workers, one embedded engine serves them all: worker 1 ('owner') runs it and the others
   * ('user') proxy to the address it publishes. Unset: this process runs its own.
   */
  sharedEngine?: 'owner' | 'user';
}

export interface APIGroupInstaller {
  name: string;
  /** A directory of the group's own SQL migrations, numbered apart from every other's. */
  migrations?: string;
  /**
   * Makes the group. No I/O here: the kinds are asked for before the storage is ready for them
   * (it learns their secret fields from them); what needs the database goes into `prepare`.
   */
  build(ctx: GroupContext): APIGroup;
}

export interface APIGroup {
  resources: ResourceDefinition[];
  /** Work before serving, once every group is built (seeding objects, say). */
  prepare?(): Promise<void>;
  /** The group that decides authorization gives it here (at most one group does). */
  authorizer?: Authorizer;
  /** Paths the group answers beside the Kubernetes API (an OIDC issuer, a registry's token service). */
  routes?: Route[];
  /** Controllers started once the server serves and stopped on shutdown. */
  controllers?(): Controller[];
}
