// The server, assembled from parsed options and a database but not listening: main.ts serves it
// over HTTPS as a process, the in-process tests hand its request handler to supertest. It lives in
// cmd/ because it builds the API groups (pkg/apis), which pkg/server must not import.
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { apiGroups } from '../../pkg/apis/index.ts';
import { bootstrapTokenAuthenticator, ensureBootstrapAdmin } from '../../pkg/apis/auth/bootstrap.ts';
import { tenantIDKey } from '../../pkg/apis/auth/subjects.ts';
import { kubeEventSink, localEventSink } from '../../pkg/apis/events/sinks.ts';
import { tenantOf } from '../../pkg/apis/tke/tenant.ts';
import { QueuedEventRecorder } from '../../pkg/controller/events.ts';
import type { Controller } from '../../pkg/controller/informer.ts';
import { openAPIProvider } from '../../pkg/openapi/provider.ts';
import { AdmissionChain } from '../../pkg/rest/admission.ts';
import { secretFieldsOf } from '../../pkg/rest/resource.ts';
import { APIServer } from '../../pkg/server/apiserver.ts';
import { authenticationMethod, authenticatorConfigFromOptions, createAuthenticator } from '../../pkg/server/authn.ts';
import { allowAuthenticated, type Authorizer } from '../../pkg/server/authz.ts';
import { ensureServingCertificates, splitPEMCertificates } from '../../pkg/server/certs.ts';
import { DelegatedAuthorizer, delegateFrontProxyUsers, loadKubeconfig } from '../../pkg/server/delegatedauthz.ts';
import type { GroupContext } from '../../pkg/server/group.ts';
import { ensureEncryptionKeyFile, FieldEncryption, loadEncryptionKeys } from '../../pkg/storage/encryption.ts';
import { openPostgresStore, type PostgresStore } from '../../pkg/storage/postgres.ts';
import type { ServerOptions } from './options.ts';

export const version = '0.1.0';

export interface AssembleOptions extends ServerOptions {
  /** Resolved by the caller: main starts the embedded PostgreSQL before assembling. */
  databaseUrl: string;
}

export interface AssembleDeps {
  logger: Logger;
  /**
   * The URL clients reach the server at, when known before it listens (an in-process server);
   * otherwise the caller sets it with setExternalURL once it knows its port.
   */
  externalURL?: string;
}

export interface AssembledServer {
  /** The request handler of every path the server answers (API, health, metrics, group routes). */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  apiserver: APIServer;
  storage: PostgresStore;
  /** The bootstrap admin's bearer token (system:masters). */
  adminToken: string;
  /** What to serve HTTPS with, and the CA clients should trust for it. */
  tls: { certPEM: string; keyPEM: string; caPEM: string; clientCAs: string[] };
  setExternalURL(url: string): void;
  /** Controllers act through the server's URL and its objects: started once it serves. */
  startControllers(): Promise<void>;
  /** Readiness turns false, controllers stop, watches end, in-flight requests finish. */
  drain(): Promise<void>;
  /** drain(), then the storage and the delegated authorizer are closed. The database itself is the caller's. */
  stop(): Promise<void>;
}

/** Runs one step of start-up, saying what it does before and how long it took after: a person is waiting. */
export async function startupStep<T>(logger: Logger, what: string, run: () => Promise<T>): Promise<T> {
  const began = Date.now();
  logger.info(`${what}...`);
  const result = await run();
  logger.info({ durationMs: Date.now() - began }, `${what}: done in ${((Date.now() - began) / 1000).toFixed(1)}s`);
  return result;
}

export async function assembleServer(opts: AssembleOptions, deps: AssembleDeps): Promise<AssembledServer> {
  const { logger } = deps;
  const groups = apiGroups;
  const dataDir = resolve(opts.dataDir);
  // Before anything is written there: whether this start makes the admin credentials and seeds the default tenant.
  const firstStart = !existsSync(join(dataDir, 'admin.token'));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const log = (msg: string, fields?: object) => logger.debug(fields ?? {}, msg);
  const progress = (msg: string, fields?: object) => logger.info(fields ?? {}, msg);

  const encryptionKeys = opts.encryptionKeyFile
    ? await loadEncryptionKeys(opts.encryptionKeyFile)
    : await ensureEncryptionKeyFile(join(dataDir, 'encryption.key'));
  // Which fields are secret the groups say once built, below, before any of their objects is read.
  const encryption = new FieldEncryption(encryptionKeys);
  const migrationDirs = groups.flatMap(g => (g.migrations ? [g.migrations] : []));
  const storage = await startupStep(logger, 'opening the database and applying migrations', () =>
    openPostgresStore({ databaseUrl: opts.databaseUrl, log, progress, encryption, migrationDirs }),
  );
  let delegated: DelegatedAuthorizer | undefined;
  try {
    if (firstStart) progress('first start: making the certificates, the admin credentials and the default tenant', { dataDir });
    const certs = await ensureServingCertificates(dataDir, { bindAddress: opts.bindAddress, extraSANs: opts.tlsSANs });
    const certPEM = opts.tlsCertFile ? await readFile(opts.tlsCertFile, 'utf8') : certs.certPEM;
    const keyPEM = opts.tlsPrivateKeyFile ? await readFile(opts.tlsPrivateKeyFile, 'utf8') : certs.keyPEM;
    // With an operator's certificate, clients trust the chain it came with (or the certificate itself).
    const chain = opts.tlsCertFile ? splitPEMCertificates(certPEM) : [];
    const caPEM = opts.tlsCertFile ? (chain.length > 1 ? chain.slice(1) : chain).join('\n') : certs.caPEM;
    const admin = await ensureBootstrapAdmin(storage.pool, dataDir);
    const authenticator = createAuthenticator(authenticatorConfigFromOptions(opts, [bootstrapTokenAuthenticator(storage.pool)]));

    const admission = new AdmissionChain();
    let apiserver: APIServer | undefined;
    let serverAuthorizer: Authorizer | undefined;
    let externalURL = deps.externalURL;
    const eventLog = logger.child({ component: 'event-recorder' });
    const recorder = new QueuedEventRecorder(
      opts.eventsKubeconfig ? kubeEventSink(opts.eventsKubeconfig) : localEventSink(() => apiserver!.store('', 'events')),
      {
        component: 'tke-apiserver',
        host: hostname(),
        tenantOf,
        // A lost event is worth a debug line, never a failure of the controller that recorded it.
        onDropped: (why, err) => eventLog.debug({ err }, why),
      },
    );
    const groupContext: GroupContext = {
      storage,
      sql: storage.pool,
      admission,
      authenticator,
      ca: certs.ca,
      dataDir,
      logger,
      audit: opts.audit,
      clusterHealthCheckPeriodSeconds: opts.clusterHealthCheckPeriodSeconds,
      eventRecorder: recorder,
      eventTTLSeconds: opts.eventTTLSeconds,
      registry: opts.registry,
      store: (group, resource) => apiserver!.store(group, resource),
      authorizer: () => {
        if (!serverAuthorizer) throw new Error('the authorizer is asked before the server is built');
        return serverAuthorizer;
      },
      externalURL: () => {
        if (!externalURL) throw new Error("the server's URL is asked before it listens");
        return externalURL;
      },
    };
    const built = groups.map(g => g.build(groupContext));
    const definitions = built.flatMap(g => g.resources);
    encryption.addSecretFields(secretFieldsOf(definitions));
    await startupStep(
      logger,
      firstStart ? 'seeding the default tenant (policies, categories) and preparing the API groups' : 'preparing the API groups',
      async () => {
        for (const g of built) await g.prepare?.();
      },
    );
    const authorizers = built.flatMap(g => (g.authorizer ? [g.authorizer] : []));
    if (authorizers.length > 1) throw new Error('more than one API group provides the authorizer');
    const localAuthorizer = authorizers[0] ?? allowAuthenticated;
    // Behind kube-apiserver, kube users are the cluster's to authorize (its RBAC), as for any aggregated
    // server; TKE users reach us through the cluster too, but carry their tenant from our TokenReview.
    delegated = opts.authorizationKubeconfig ? new DelegatedAuthorizer(await loadKubeconfig(opts.authorizationKubeconfig)) : undefined;
    const authorizer = delegated
      ? delegateFrontProxyUsers(
          delegated,
          localAuthorizer,
          u => authenticationMethod(u) === 'front-proxy',
          u => !!u.extra?.[tenantIDKey]?.length,
        )
      : localAuthorizer;
    serverAuthorizer = authorizer;
    const compiling = Date.now();
    progress(`compiling the schemas of ${definitions.length} kinds...`);
    const server = new APIServer({
      definitions,
      routes: built.flatMap(g => g.routes ?? []),
      storage,
      admission,
      authenticator,
      authorizer,
      openapi: openAPIProvider(definitions, version),
      logger,
      verbosity: opts.verbosity,
      maxRequestsInflight: opts.maxRequestsInflight,
      maxMutatingRequestsInflight: opts.maxMutatingRequestsInflight,
      version: { gitVersion: `v${version}` },
      healthChecks: [
        {
          name: 'postgres',
          check: async () => {
            await storage.currentRevision();
          },
        },
      ],
    });
    apiserver = server;
    progress(`compiling the schemas of ${definitions.length} kinds: done in ${((Date.now() - compiling) / 1000).toFixed(1)}s`, {
      durationMs: Date.now() - compiling,
    });

    const controllers: Controller[] = [];
    let draining: Promise<void> | undefined;
    let stopping: Promise<void> | undefined;
    const drain = () =>
      (draining ??= (async () => {
        for (const c of controllers) c.stop();
        // What the controllers recorded last is written while the storage is still open.
        await recorder.stop();
        await server.drain();
      })());
    const closing = delegated;
    return {
      handler: server.handle,
      apiserver: server,
      storage,
      adminToken: admin.token,
      tls: { certPEM, keyPEM, caPEM, clientCAs: authenticator.clientCAs },
      setExternalURL(url) {
        externalURL = url;
      },
      async startControllers() {
        if (controllers.length) throw new Error('the controllers are already started');
        controllers.push(...built.flatMap(g => g.controllers?.() ?? []));
        for (const c of controllers) await c.start();
      },
      drain,
      stop: () =>
        (stopping ??= (async () => {
          await drain();
          closing?.close();
          await storage.close();
        })()),
    };
  } catch (err) {
    // The caller keeps running after a failed start (a test process, or main stopping its
    // embedded PostgreSQL): nothing opened here may stay behind.
    delegated?.close();
    await storage.close().catch(() => {});
    throw err;
  }
}
