// tke-apiserver: flags -> config -> start. Everything else lives in pkg/.
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { AdmissionChain } from '../../pkg/rest/admission.ts';
import { secretFieldsOf } from '../../pkg/rest/resource.ts';
import type { Controller } from '../../pkg/controller/informer.ts';
import { apiGroups } from '../../pkg/apis/index.ts';
import type { GroupContext } from '../../pkg/server/group.ts';
import { bootstrapTokenAuthenticator, ensureBootstrapAdmin } from '../../pkg/apis/auth/bootstrap.ts';
import { tenantIDKey } from '../../pkg/apis/auth/subjects.ts';
import { openAPIProvider } from '../../pkg/openapi/provider.ts';
import { APIServer } from '../../pkg/server/apiserver.ts';
import { authenticationMethod, authenticatorConfigFromOptions, createAuthenticator } from '../../pkg/server/authn.ts';
import { allowAuthenticated, type Authorizer } from '../../pkg/server/authz.ts';
import { DelegatedAuthorizer, delegateFrontProxyUsers, loadKubeconfig } from '../../pkg/server/delegatedauthz.ts';
import { ensureServingCertificates, splitPEMCertificates } from '../../pkg/server/certs.ts';
import { serverURL, writeKubeconfig } from '../../pkg/server/kubeconfig.ts';
import { startEmbeddedPostgres } from '../../pkg/storage/embedded.ts';
import { ensureEncryptionKeyFile, FieldEncryption, loadEncryptionKeys } from '../../pkg/storage/encryption.ts';
import { openPostgresStore } from '../../pkg/storage/postgres.ts';
import { parseOptionsOrExit } from './options.ts';

const version = '0.1.0';

const groups = apiGroups;

/** Stopped when the start fails: an embedded PostgreSQL would outlive this process and hold its data dir. */
let startedPostgres: { stop(): Promise<void> } | undefined;

async function main(): Promise<void> {
  const opts = parseOptionsOrExit(process.argv.slice(2), process.env);
  const logger = pino({ level: opts.verbosity >= 4 ? 'debug' : 'info', base: { component: 'tke-apiserver' } });
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const log = (msg: string, fields?: object) => logger.debug(fields ?? {}, msg);
  const embedded = opts.databaseUrl ? undefined : await startEmbeddedPostgres(join(dataDir, 'postgres'), { log });
  startedPostgres = embedded;
  const databaseUrl = opts.databaseUrl ?? embedded!.databaseUrl;
  const encryptionKeys = opts.encryptionKeyFile
    ? await loadEncryptionKeys(opts.encryptionKeyFile)
    : await ensureEncryptionKeyFile(join(dataDir, 'encryption.key'));
  // Which fields are secret the groups say once built, below, before any of their objects is read.
  const encryption = new FieldEncryption(encryptionKeys);
  const migrationDirs = groups.flatMap(g => (g.migrations ? [g.migrations] : []));
  const storage = await openPostgresStore({ databaseUrl, log, encryption, migrationDirs });

  const certs = await ensureServingCertificates(dataDir, { bindAddress: opts.bindAddress, extraSANs: opts.tlsSANs });
  const tlsCert = opts.tlsCertFile ? await readFile(opts.tlsCertFile, 'utf8') : certs.certPEM;
  const tlsKey = opts.tlsPrivateKeyFile ? await readFile(opts.tlsPrivateKeyFile, 'utf8') : certs.keyPEM;
  const admin = await ensureBootstrapAdmin(storage.pool, dataDir);
  const authenticator = createAuthenticator(authenticatorConfigFromOptions(opts, [bootstrapTokenAuthenticator(storage.pool)]));

  const admission = new AdmissionChain();
  let apiserver: APIServer | undefined;
  let serverAuthorizer: Authorizer | undefined;
  let externalURL: string | undefined;
  const groupContext: GroupContext = {
    storage, sql: storage.pool, admission, authenticator, ca: certs.ca, dataDir, logger, audit: opts.audit,
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
  const delegated = opts.authorizationKubeconfig ? new DelegatedAuthorizer(await loadKubeconfig(opts.authorizationKubeconfig)) : undefined;
  const authorizer = delegated
    ? delegateFrontProxyUsers(delegated, localAuthorizer, u => authenticationMethod(u) === 'front-proxy', u => !!u.extra?.[tenantIDKey]?.length)
    : localAuthorizer;
  serverAuthorizer = authorizer;
  apiserver = new APIServer({
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

  const server = https.createServer({
    key: tlsKey,
    cert: tlsCert,
    // Client certificates are optional and verified by the authenticator, which knows
    // which CA (client or front-proxy) may vouch for what.
    requestCert: true,
    rejectUnauthorized: false,
    ca: authenticator.clientCAs.length ? authenticator.clientCAs : undefined,
  }, apiserver.handle);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.securePort, opts.bindAddress, () => ok());
  });
  const port = (server.address() as { port: number }).port;
  const url = serverURL(opts.bindAddress, port);
  externalURL = opts.externalHostname ? serverURL(opts.externalHostname, port) : url;
  const kubeconfig = join(dataDir, 'admin.kubeconfig');
  // With an operator's certificate, clients trust the chain it came with (or the certificate itself).
  const chain = opts.tlsCertFile ? splitPEMCertificates(tlsCert) : [];
  const caPEM = opts.tlsCertFile ? (chain.length > 1 ? chain.slice(1) : chain).join('\n') : certs.caPEM;
  await writeKubeconfig(kubeconfig, { server: url, caPEM, token: admin.token, user: 'admin', cluster: 'tke', context: 'tke-admin' });
  logger.info({ url, kubeconfig, database: embedded ? 'embedded' : 'external' }, 'serving');
  if (opts.printKubectl) {
    process.stdout.write(`\ntke-apiserver is serving on ${url}\nPoint kubectl at it:\n\n  export KUBECONFIG=${kubeconfig}\n  kubectl get tke\n\n`);
  }

  const controllers: Controller[] = built.flatMap(g => g.controllers?.() ?? []);
  for (const c of controllers) await c.start();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close();
    for (const c of controllers) c.stop();
    await apiserver!.drain();
    server.closeAllConnections();
    delegated?.close();
    await storage.close();
    await embedded?.stop();
    logger.info('stopped');
    process.exit(0);
  };
  // A bug in one request's code path must not take every other client down with it.
  process.on('uncaughtException', err => logger.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', err => logger.error({ err }, 'unhandled rejection'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch(async err => {
  process.stderr.write(`tke-apiserver: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  await startedPostgres?.stop().catch(() => {});
  process.exit(1);
});
