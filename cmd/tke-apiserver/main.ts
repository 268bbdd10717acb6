// tke-apiserver: flags -> config -> start. The server itself is assembled in server.ts; here it
// is given a database, served over HTTPS, and stopped on signals.
import { mkdirSync } from 'node:fs';
import https from 'node:https';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { serverURL, writeKubeconfig } from '../../pkg/server/kubeconfig.ts';
import { startEmbeddedPostgres } from '../../pkg/storage/embedded.ts';
import { parseOptionsOrExit } from './options.ts';
import { assembleServer, startupStep } from './server.ts';

/** Stopped when the start fails: an embedded PostgreSQL would outlive this process and hold its data dir. */
let startedPostgres: { stop(): Promise<void> } | undefined;

async function main(): Promise<void> {
  const opts = parseOptionsOrExit(process.argv.slice(2), process.env);
  const logger = pino({ level: opts.verbosity >= 4 ? 'debug' : 'info', base: { component: 'tke-apiserver' } });
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const began = Date.now();
  const log = (msg: string, fields?: object) => logger.debug(fields ?? {}, msg);
  const progress = (msg: string, fields?: object) => logger.info(fields ?? {}, msg);
  const embedded = opts.databaseUrl ? undefined : await startupStep(logger, 'starting the embedded PostgreSQL',
    () => startEmbeddedPostgres(join(dataDir, 'postgres'), { log, progress }));
  startedPostgres = embedded;
  const databaseUrl = opts.databaseUrl ?? embedded!.databaseUrl;
  const assembled = await assembleServer({ ...opts, dataDir, databaseUrl }, { logger });
  const { apiserver, tls } = assembled;

  const server = https.createServer({
    key: tls.keyPEM,
    cert: tls.certPEM,
    // Client certificates are optional and verified by the authenticator, which knows
    // which CA (client or front-proxy) may vouch for what.
    requestCert: true,
    rejectUnauthorized: false,
    ca: tls.clientCAs.length ? tls.clientCAs : undefined,
  }, apiserver.handle);
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
  const kubeconfig = join(dataDir, 'admin.kubeconfig');
  await writeKubeconfig(kubeconfig, { server: url, caPEM: tls.caPEM, token: assembled.adminToken, user: 'admin', cluster: 'tke', context: 'tke-admin' });
  logger.info({ url, kubeconfig, database: embedded ? 'embedded' : 'external', startupMs: Date.now() - began }, `serving (started in ${((Date.now() - began) / 1000).toFixed(1)}s)`);
  if (opts.printKubectl) {
    process.stdout.write(`\ntke-apiserver is serving on ${url}\nPoint kubectl at it:\n\n  export KUBECONFIG=${kubeconfig}\n  kubectl get tke\n\n`);
  }

  await startupStep(logger, 'starting the controllers', () => assembled.startControllers());

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

main().catch(async err => {
  process.stderr.write(`tke-apiserver: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  await startedPostgres?.stop().catch(() => {});
  process.exit(1);
});
