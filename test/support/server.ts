// The server as a process: starts `node cmd/tke-apiserver/bin.js` on a free port with a fresh
// data dir and a fresh database, and gives tests kubectl, raw HTTPS and lifecycle controls (stop,
// kill -9, restart on the same data dir, database and port). For what only a process shows;
// everything else runs in the test process (inprocess.ts).
//
// Set TKE_TEST_LOG=1 to stream server logs to stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import YAML from 'yaml';
import { httpsRequest, isReady, type Requester } from './http.ts';
import { kubectlFor, type Kubectl } from './kubectl.ts';
import { createTestDatabase } from './postgres.ts';
import { freePort, makeTempDir, repoRoot, serverBin, track } from './process.ts';
import { sleep } from './wait.ts';

const READY_TIMEOUT_MS = Number(process.env.TKE_TEST_READY_TIMEOUT_MS ?? 120_000);
const STOP_TIMEOUT_MS = 30_000;
const LOG_TAIL = 64 * 1024;

export interface StartOptions {
  /** Reuse this data dir (e.g. a second replica sharing PKI and the admin kubeconfig). */
  dataDir?: string;
  /** Use this database instead of a fresh one from createTestDatabase(). */
  databaseUrl?: string;
  port?: number;
  /** Extra server flags. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** Run this script instead of cmd/tke-apiserver/bin.js (the build's dist/cmd/tke-apiserver/main.js), from `cwd`. */
  bin?: string;
  cwd?: string;
}

export interface TestServer extends Kubectl, Requester {
  url: string;
  port: number;
  dataDir: string;
  databaseUrl: string;
  /** Path of <dataDir>/admin.kubeconfig. */
  kubeconfig: string;
  token: string;
  caPEM: string;
  /** HOME / KUBECACHEDIR used for kubectl runs against this server. */
  home: string;
  process: ChildProcess;
  /** Recent server stdout+stderr (for failure messages). */
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  /** True while the server process is running. */
  alive(): boolean;
}

interface Kubeconfig {
  server: string;
  token: string;
  caPEM: string;
}

function readKubeconfig(file: string): Kubeconfig {
  const doc = YAML.parse(readFileSync(file, 'utf8'));
  const ctxName = doc['current-context'];
  const ctx = (doc.contexts ?? []).find((c: any) => c.name === ctxName)?.context ?? doc.contexts?.[0]?.context;
  const cluster = (doc.clusters ?? []).find((c: any) => c.name === ctx?.cluster)?.cluster ?? doc.clusters?.[0]?.cluster;
  const user = (doc.users ?? []).find((u: any) => u.name === ctx?.user)?.user ?? doc.users?.[0]?.user;
  if (!cluster?.server) throw new Error(`${file}: no cluster server`);
  if (!user?.token) throw new Error(`${file}: no user token`);
  let caPEM = '';
  if (cluster['certificate-authority-data']) caPEM = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  else if (cluster['certificate-authority']) caPEM = readFileSync(path.resolve(path.dirname(file), cluster['certificate-authority']), 'utf8');
  return { server: cluster.server, token: user.token, caPEM };
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const root = makeTempDir('tke-e2e-');
  // A caller-supplied dataDir is never removed by us; only our own temp root is.
  const dataDir = opts.dataDir ?? path.join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  const home = path.join(root, 'home');
  mkdirSync(path.join(home, '.kube', 'cache'), { recursive: true });
  const databaseUrl = opts.databaseUrl ?? (await createTestDatabase());
  const port = opts.port ?? (await freePort());
  const kubeconfigPath = path.join(dataDir, 'admin.kubeconfig');
  const readyTimeout = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;

  let logTail = '';
  const appendLog = (s: string) => {
    logTail += s;
    if (logTail.length > LOG_TAIL * 2) logTail = logTail.slice(-LOG_TAIL);
  };

  const bin = opts.bin ?? serverBin;
  const args = [bin, '--data-dir', dataDir, '--secure-port', String(port), '--database-url', databaseUrl, ...(opts.args ?? [])];

  const spawnServer = (): ChildProcess => {
    if (!existsSync(bin)) throw new Error(`${bin} does not exist (the server is not built yet)`);
    const child = spawn(process.execPath, args, {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      appendLog(d);
      if (process.env.TKE_TEST_LOG) process.stderr.write(`[srv:${port}] ${d}`);
    });
    child.stderr!.on('data', (d: string) => {
      appendLog(d);
      if (process.env.TKE_TEST_LOG) process.stderr.write(`[srv:${port}!] ${d}`);
    });
    return child;
  };

  const waitReady = async (child: ChildProcess): Promise<Kubeconfig> => {
    const deadline = Date.now() + readyTimeout;
    let exited: string | undefined;
    const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
      exited = `exited with code ${code} signal ${sig}`;
    };
    child.once('exit', onExit);
    try {
      let lastStatus = 0;
      for (;;) {
        if (exited) throw new Error(`tke-apiserver ${exited} before it was ready\n${args.join(' ')}\n--- output\n${logTail.slice(-8000)}`);
        if (Date.now() > deadline) {
          throw new Error(
            `tke-apiserver not ready within ${readyTimeout}ms (last GET /readyz -> ${lastStatus || 'no answer'})\n--- output\n${logTail.slice(-8000)}`,
          );
        }
        lastStatus = await isReady(port);
        if (lastStatus === 200 && existsSync(kubeconfigPath)) {
          try {
            return readKubeconfig(kubeconfigPath);
          } catch {
            /* still being written */
          }
        }
        await sleep(100);
      }
    } finally {
      child.off('exit', onExit);
    }
  };

  let child = spawnServer();
  let kc: Kubeconfig;
  try {
    kc = await waitReady(child);
  } catch (err) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
    throw err;
  }

  const exitOf = (c: ChildProcess): Promise<number | null> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise(resolve => c.once('exit', code => resolve(code)));

  let agent = new https.Agent({ keepAlive: true, maxSockets: 64 });

  const server: TestServer = {
    url: `https://127.0.0.1:${port}`,
    port,
    dataDir,
    databaseUrl,
    kubeconfig: kubeconfigPath,
    token: kc.token,
    caPEM: kc.caPEM || (existsSync(path.join(dataDir, 'pki', 'ca.crt')) ? readFileSync(path.join(dataDir, 'pki', 'ca.crt'), 'utf8') : ''),
    home,
    get process() {
      return child;
    },
    logs: () => logTail,
    alive: () => child.exitCode === null && child.signalCode === null,

    ...kubectlFor(kubeconfigPath, home),

    request(method, urlPath, ropts = {}) {
      return httpsRequest({ port, caPEM: server.caPEM }, method, urlPath, { ...ropts, defaultToken: server.token, agent: ropts.cert ? undefined : agent });
    },

    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      agent.destroy();
      if (!server.alive()) return child.exitCode;
      const exited = exitOf(child);
      child.kill(signal);
      const timeout = sleep(STOP_TIMEOUT_MS).then(() => 'timeout' as const);
      const r = await Promise.race([exited, timeout]);
      if (r === 'timeout') {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`tke-apiserver did not exit within ${STOP_TIMEOUT_MS}ms of ${signal}\n--- output\n${logTail.slice(-4000)}`);
      }
      return r;
    },

    async kill9() {
      agent.destroy();
      if (!server.alive()) return;
      const exited = exitOf(child);
      child.kill('SIGKILL');
      await exited;
    },

    async restart() {
      if (server.alive()) {
        const code = await server.stop('SIGTERM');
        if (code !== 0) throw new Error(`tke-apiserver exited with ${code} on SIGTERM before restart`);
      }
      agent = new https.Agent({ keepAlive: true, maxSockets: 64 });
      child = spawnServer();
      try {
        const k = await waitReady(child);
        server.token = k.token;
        if (k.caPEM) server.caPEM = k.caPEM;
      } catch (err) {
        try {
          child.kill('SIGKILL');
        } catch {
          /* gone */
        }
        throw err;
      }
    },
  };

  return server;
}

/**
 * One server for a whole describe block: started before its tests, stopped after them.
 * `use` receives it so the block's tests can refer to it by a plain variable.
 */
export function useServer(use: (server: TestServer) => void, opts: StartOptions = {}): void {
  let started: TestServer | undefined;
  before(async function () {
    this.timeout(180_000);
    started = await startServer(opts);
    use(started);
  });
  after(async function () {
    if (started) await started.stop();
  });
}
