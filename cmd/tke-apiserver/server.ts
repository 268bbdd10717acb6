// The server, assembled from parsed options and a database but not listening: main.ts serves it
// over HTTPS as a process, the in-process tests hand its request handler to supertest. It lives in
// cmd/ because it builds the API groups (pkg/apis), which pkg/server must not import.
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { apiGroups } from '../../pkg/apis/index.ts';
import { bootstrapTokenAuthenticator, ensureBootstrapAdmin } from '../../pkg/apis/auth/bootstrap.ts';
import { tenantIDKey } from '../../pkg/apis/auth/subjects.ts';
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

export async function assembleServer(opts: AssembleOptions, deps: AssembleDeps): Promise<AssembledServer> {
  const { logger } = deps;
  const groups = apiGroups;
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const log = (msg: string, fields?: object) => logger.debug(fields ?? {}, msg);

  const encryptionKeys = opts.encryptionKeyFile
    ? await loadEncryptionKeys(opts.encryptionKeyFile)
    : await ensureEncryptionKeyFile(join(dataDir, 'encryption.key'));
  // Which fields are secret the groups say once built, below, before any of their objects is read.
  const encryption = new FieldEncryption(encryptionKeys);
  const migrationDirs = groups.flatMap(g => (g.migrations ? [g.migrations] : []));
  const storage = await openPostgresStore({ databaseUrl: opts.databaseUrl, log, encryption, migrationDirs });
  let delegated: DelegatedAuthorizer | undefined;
  try {
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
    const groupContext: GroupContext = {
      storage, sql: storage.pool, admission, authenticator, ca: certs.ca, dataDir, logger, audit: opts.audit,
      clusterHealthCheckPeriodSeconds: opts.clusterHealthCheckPeriodSeconds,
      store: (group, resource) => apiserver!.store(group, resource),
      authorizer: () => {
        if (!serverAuthorizer) throw new Error('the authorizer is asked before the server is built');
        return serverAuthorizer;
      },
      externalURL: () => {
        if (!externalURL) throw new Error('the server\'s URL is asked before it listens');
        return externalURL;
      },
    };
    const built = groups.map(g => g.build(groupContext));
    const definitions = built.flatMap(g => g.resources);
    encryption.addSecretFields(secretFieldsOf(definitions));
    for (const g of built) await g.prepare?.();
    const authorizers = built.flatMap(g => (g.authorizer ? [g.authorizer] : []));
    if (authorizers.length > 1) throw new Error('more than one API group provides the authorizer');
    const localAuthorizer = authorizers[0] ?? allowAuthenticated;
    // Behind kube-apiserver, kube users are the cluster's to authorize (its RBAC), as for any aggregated
    // server; TKE users reach us through the cluster too, but carry their tenant from our TokenReview.
    delegated = opts.authorizationKubeconfig ? new DelegatedAuthorizer(await loadKubeconfig(opts.authorizationKubeconfig)) : undefined;
    const authorizer = delegated
      ? delegateFrontProxyUsers(delegated, localAuthorizer, u => authenticationMethod(u) === 'front-proxy', u => !!u.extra?.[tenantIDKey]?.length)
      : localAuthorizer;
    serverAuthorizer = authorizer;
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
      healthChecks: [{ name: 'postgres', check: async () => { await storage.currentRevision(); } }],
    });
    apiserver = server;

    const controllers: Controller[] = [];
    let draining: Promise<void> | undefined;
    let stopping: Promise<void> | undefined;
    const drain = () => draining ??= (async () => {
      for (const c of controllers) c.stop();
      await server.drain();
    })();
    const closing = delegated;
    return {
      handler: server.handle,
      apiserver: server,
      storage,
      adminToken: admin.token,
      tls: { certPEM, keyPEM, caPEM, clientCAs: authenticator.clientCAs },
      setExternalURL(url) { externalURL = url; },
      async startControllers() {
        if (controllers.length) throw new Error('the controllers are already started');
        controllers.push(...built.flatMap(g => g.controllers?.() ?? []));
        for (const c of controllers) await c.start();
      },
      drain,
      stop: () => stopping ??= (async () => {
        await drain();
        closing?.close();
        await storage.close();
      })(),
    };
  } catch (err) {
    // The caller keeps running after a failed start (a test process, or main stopping its
    // embedded PostgreSQL): nothing opened here may stay behind.
    delegated?.close();
    await storage.close().catch(() => {});
    throw err;
  }
}
