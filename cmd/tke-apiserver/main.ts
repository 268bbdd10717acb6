// tke-apiserver: flags -> config -> start. The server itself is assembled in server.ts; here it
// is given a database, served over HTTPS, and stopped on signals.
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync } from 'node:fs';
import https from 'node:https';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { serverURL, writeKubeconfig } from '../../pkg/server/kubeconfig.ts';
import { startEmbeddedPostgres } from '../../pkg/storage/embedded.ts';
import { limitHeapGrowth, returnFreedNativeMemory } from './memory.ts';
import { parseOptionsOrExit } from './options.ts';
import { assembleServer, startupStep } from './server.ts';

/** Stopped when the start fails: an embedded PostgreSQL would outlive this process and hold its data dir. */
let startedPostgres: { stop(): Promise<void> } | undefined;

async function main(): Promise<void> {
  limitHeapGrowth();
  returnFreedNativeMemory();
  const opts = parseOptionsOrExit(process.argv.slice(2), process.env);
  const logger = pino({ level: opts.verbosity >= 4 ? 'debug' : 'info', base: { component: 'tke-apiserver' } });
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (opts.workers > 1 && cluster.isPrimary) return supervise(opts.workers, dataDir, !opts.databaseUrl, logger);
  // Worker 1 (or the only process) also runs what must run once: controllers, the kubeconfig.
  const lead = !cluster.isWorker || process.env.TKE_WORKER === '1';

  const began = Date.now();
  const log = (msg: string, fields?: object) => logger.debug(fields ?? {}, msg);
  const progress = (msg: string, fields?: object) => logger.info(fields ?? {}, msg);
  const embedded = opts.databaseUrl
    ? undefined
    : await startupStep(logger, 'starting the embedded PostgreSQL', () => startEmbeddedPostgres(join(dataDir, 'postgres'), { log, progress }));
  startedPostgres = embedded;
  const databaseUrl = opts.databaseUrl ?? embedded!.databaseUrl;
  const registry = { ...opts.registry, sharedEngine: cluster.isWorker ? (lead ? ('owner' as const) : ('user' as const)) : undefined };
  const assembled = await assembleServer({ ...opts, dataDir, databaseUrl, registry }, { logger });
  const { apiserver, tls } = assembled;

  const server = https.createServer(
    {
      key: tls.keyPEM,
      cert: tls.certPEM,
      // Client certificates are optional and verified by the authenticator, which knows
      // which CA (client or front-proxy) may vouch for what.
      requestCert: true,
      rejectUnauthorized: false,
      ca: tls.clientCAs.length ? tls.clientCAs : undefined,
    },
    apiserver.handle,
  );
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(opts.securePort, opts.bindAddress, () => ok());
    });
  } catch (err) {
    await assembled.stop().catch(() => {});
    throw err;
  }
  const port = (server.address() as { port: number }).port;
  const url = serverURL(opts.bindAddress, port);
  assembled.setExternalURL(opts.externalHostname ? serverURL(opts.externalHostname, port) : url);
  if (cluster.isWorker) {
    process.send!({ listening: url });
    if (!lead) {
      installStop(logger, assembled, server, undefined);
      return;
    }
    // The kubeconfig that tells clients the server is up is written once every worker serves.
    await new Promise<void>(go =>
      process.on('message', (m: { go?: boolean }) => {
        if (m?.go) go();
      }),
    );
  }
  const kubeconfig = join(dataDir, 'admin.kubeconfig');
  await writeKubeconfig(kubeconfig, { server: url, caPEM: tls.caPEM, token: assembled.adminToken, user: 'admin', cluster: 'tke', context: 'tke-admin' });
  logger.info(
    { url, kubeconfig, database: embedded ? 'embedded' : 'external', startupMs: Date.now() - began },
    `serving (started in ${((Date.now() - began) / 1000).toFixed(1)}s)`,
  );
  if (opts.printKubectl) {
    process.stdout.write(`\ntke-apiserver is serving on ${url}\nPoint kubectl at it:\n\n  export KUBECONFIG=${kubeconfig}\n  kubectl get tke\n\n`);
  }

  await startupStep(logger, 'starting the controllers', () => assembled.startControllers());
  installStop(logger, assembled, server, embedded);
}

function installStop(
  logger: Logger,
  assembled: { drain(): Promise<void>; stop(): Promise<void> },
  server: https.Server,
  embedded: { stop(): Promise<void> } | undefined,
): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close();
    await assembled.drain();
    server.closeAllConnections();
    await assembled.stop();
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

/**
 * --workers N: this process starts the embedded PostgreSQL (unless a URL is given) and N workers
 * that share the port (node:cluster hands each new connection to the next worker). Worker 1 starts
 * alone first, so the migrations, certificates and admin credentials are made once; the others
 * start after it. A worker that dies is started again; a signal stops them all, then the database.
 */
async function supervise(workers: number, dataDir: string, embeddedDatabase: boolean, logger: Logger): Promise<void> {
  const log = (msg: string, fields?: object) => logger.debug(fields ?? {}, msg);
  const progress = (msg: string, fields?: object) => logger.info(fields ?? {}, msg);
  const embedded = embeddedDatabase
    ? await startupStep(logger, 'starting the embedded PostgreSQL', () => startEmbeddedPostgres(join(dataDir, 'postgres'), { log, progress }))
    : undefined;
  startedPostgres = embedded;
  let stopping = false;
  let allStarted = false;
  const running = new Map<number, Worker>();
  /** Resolves when the worker listens; worker 1 goes on to the kubeconfig and controllers when told. */
  const start = (id: number): Promise<Worker> =>
    new Promise((listening, fail) => {
      const worker = cluster.fork({ TKE_WORKER: String(id), ...(embedded ? { DATABASE_URL: embedded.databaseUrl } : {}) });
      running.set(id, worker);
      let started = false;
      worker.on('message', (m: { listening?: string }) => {
        if (m?.listening === undefined || started) return;
        started = true;
        // A worker 1 started again after the others serve goes on at once.
        if (allStarted) worker.send({ go: true });
        listening(worker);
      });
      worker.once('exit', (code, signal) => {
        running.delete(id);
        if (!started) {
          fail(new Error(`worker ${id} exited with ${signal ?? code} before it served`));
          return;
        }
        if (stopping) return;
        logger.error({ worker: id, code, signal }, 'a worker exited; starting it again');
        setTimeout(() => void start(id).catch(err => logger.error({ err, worker: id }, 'a worker could not be started again')), 1000);
      });
    });
  const stopAll = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      [...running.values()].map(
        w =>
          new Promise(r => {
            w.once('exit', r);
            w.process.kill(signal);
          }),
      ),
    );
    await embedded?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stopAll('SIGTERM'));
  process.on('SIGINT', () => void stopAll('SIGINT'));
  try {
    const first = await start(1);
    await Promise.all(Array.from({ length: workers - 1 }, (_, i) => start(i + 2)));
    allStarted = true;
    first.send({ go: true });
  } catch (err) {
    stopping = true;
    for (const w of running.values()) w.process.kill('SIGTERM');
    throw err;
  }
  logger.info({ workers }, `serving with ${workers} workers`);
}

main().catch(async err => {
  process.stderr.write(`tke-apiserver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await startedPostgres?.stop().catch(() => {});
  process.exit(1);
});
