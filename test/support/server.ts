// e2e harness: starts the real server (`node cmd/tke-apiserver/bin.js`) as a child process on
// a free port with a fresh data dir and a fresh database, and gives tests kubectl, raw HTTPS
// and lifecycle controls (stop, kill -9, restart on the same data dir, database and port).
//
// Every child process started here (servers, background kubectl) is killed when the test
// process exits, whatever happened. Set TKE_TEST_LOG=1 to stream server logs to stderr and
// TKE_TEST_KEEP=1 to keep the temp dirs.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { createTestDatabase } from './postgres.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const serverBin = path.join(repoRoot, 'cmd', 'tke-apiserver', 'bin.js');
export const kubectlBin = process.env.KUBECTL ?? '/usr/bin/kubectl';

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
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

export interface RequestOptions {
  /** String/Buffer sent as is; anything else is JSON-encoded. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Bearer token; default the admin token; null or '' sends no Authorization header. */
  token?: string | null;
  timeoutMs?: number;
  /** Client certificate for mTLS (front-proxy tests). */
  cert?: string;
  key?: string;
}

export interface KubectlResult { code: number | null; stdout: string; stderr: string }
export interface KubectlOptions { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string }

export interface TestServer {
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
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** kubectl that must exit 0; the assertion message carries its whole output. */
  kubectlOK(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Starts kubectl in the background (e.g. `get -w`); killed at exit. */
  spawnKubectl(args: string[], opts?: KubectlOptions): ChildProcess;
  request(method: string, urlPath: string, opts?: RequestOptions): Promise<HttpResponse>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  /** True while the server process is running. */
  alive(): boolean;
}

// ---------------------------------------------------------------------------------------------
// Cleanup of everything we started.

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHandlerInstalled = false;

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  installExitHandler();
  return child;
}

function killAllNow(): void {
  for (const child of children) {
    try { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); } catch { /* gone */ }
  }
  children.clear();
  if (!process.env.TKE_TEST_KEEP) {
    for (const dir of tempDirs) {
      try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
    tempDirs.clear();
  }
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => { killAllNow(); process.exit(130); });
  }
}

/** Kills every server and kubectl started by this module (for root after-hooks). */
export function killAllChildren(): void { killAllNow(); }

function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  installExitHandler();
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Small utilities shared by the e2e tests.

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr && typeof addr === 'object') {
        const port = addr.port;
        srv.close(() => resolve(port));
      } else {
        srv.close(() => reject(new Error('no port')));
      }
    });
  });
}

export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/** Polls `fn` every `intervalMs` until it returns a truthy value; throws with `what` on timeout. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) { lastErr = err; }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message ?? lastErr}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

let nameCounter = 0;
/** A DNS-label name unique within this test run. */
export function uniqueName(prefix: string): string {
  nameCounter++;
  return `${prefix}-${Date.now().toString(36).slice(-5)}${nameCounter.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
}

export const GROUPS = {
  platform: 'platform.tkestack.io',
  business: 'business.tkestack.io',
  auth: 'auth.tkestack.io',
  registry: 'registry.tkestack.io',
} as const;

export const paths = {
  projects: '/apis/business.tkestack.io/v1/projects',
  project: (name: string) => `/apis/business.tkestack.io/v1/projects/${name}`,
  clusters: '/apis/platform.tkestack.io/v1/clusters',
  cluster: (name: string) => `/apis/platform.tkestack.io/v1/clusters/${name}`,
  namespaces: (project: string) => `/apis/business.tkestack.io/v1/namespaces/${project}/namespaces`,
  namespace: (project: string, name: string) => `/apis/business.tkestack.io/v1/namespaces/${project}/namespaces/${name}`,
};

export const TENANT = 'default';

/** A valid TKE Cluster (platform.tkestack.io/v1). */
export function clusterObject(name: string, extra: { labels?: Record<string, string>; displayName?: string } = {}): any {
  return {
    apiVersion: 'platform.tkestack.io/v1',
    kind: 'Cluster',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      tenantID: TENANT,
      displayName: extra.displayName ?? `Cluster ${name}`,
      type: 'Imported',
      version: '1.30.0',
      clusterCIDR: '10.244.0.0/16',
      networkDevice: 'eth0',
    },
  };
}

/** A valid TKE Project (business.tkestack.io/v1). */
export function projectObject(name: string, extra: { labels?: Record<string, string>; displayName?: string; clusters?: Record<string, unknown>; finalizers?: string[]; annotations?: Record<string, string> } = {}): any {
  return {
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: {
      name,
      ...(extra.labels ? { labels: extra.labels } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.finalizers ? { finalizers: extra.finalizers } : {}),
    },
    spec: {
      tenantID: TENANT,
      displayName: extra.displayName ?? `Project ${name}`,
      members: ['admin'],
      ...(extra.clusters ? { clusters: extra.clusters } : {}),
    },
  };
}

/** A valid business Namespace in `project` on `cluster`. */
export function namespaceObject(project: string, name: string, cluster: string, extra: { labels?: Record<string, string> } = {}): any {
  return {
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Namespace',
    metadata: { name, namespace: project, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      tenantID: TENANT,
      clusterName: cluster,
      namespace: name,
      hard: { 'requests.cpu': '1', 'requests.memory': '1Gi' },
    },
  };
}

export function toYAML(...objs: unknown[]): string {
  return objs.map(o => YAML.stringify(o)).join('---\n');
}

/** Short description of a raw response for assertion messages. */
export function describeResponse(res: HttpResponse): string {
  return `HTTP ${res.status}: ${res.body.length > 2000 ? res.body.slice(0, 2000) + '…' : res.body}`;
}

/** Short description of a kubectl run for assertion messages. */
export function describeRun(args: string[], r: KubectlResult): string {
  const cut = (s: string) => (s.length > 3000 ? s.slice(0, 3000) + '…' : s);
  return `kubectl ${args.join(' ')} -> exit ${r.code}\n--- stdout\n${cut(r.stdout)}\n--- stderr\n${cut(r.stderr)}`;
}

// ---------------------------------------------------------------------------------------------
// HTTPS.

interface HttpsTarget { port: number; caPEM?: string }

export function httpsRequest(target: HttpsTarget, method: string, urlPath: string, opts: RequestOptions & { defaultToken?: string; agent?: https.Agent } = {}): Promise<HttpResponse> {
  let payload: Buffer | undefined;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const lower = new Set(Object.keys(headers).map(h => h.toLowerCase()));
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string') payload = Buffer.from(opts.body);
    else if (Buffer.isBuffer(opts.body)) payload = opts.body;
    else payload = Buffer.from(JSON.stringify(opts.body));
    if (!lower.has('content-type')) headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(payload.length);
  }
  if (!lower.has('accept')) headers['Accept'] = 'application/json';
  const token = opts.token === undefined ? opts.defaultToken : opts.token;
  if (token && !lower.has('authorization')) headers['Authorization'] = `Bearer ${token}`;

  return new Promise((resolve, reject) => {
    let settled = false;
    let responded = false;
    const req = https.request({
      host: '127.0.0.1',
      port: target.port,
      method,
      path: urlPath,
      headers,
      ca: target.caPEM,
      rejectUnauthorized: !!target.caPEM,
      // The serving cert is for localhost/127.0.0.1; do not let SNI/hostname checks depend on how we dial.
      checkServerIdentity: () => undefined,
      cert: opts.cert,
      key: opts.key,
      agent: opts.agent ?? (opts.cert ? false : undefined),
      timeout: opts.timeoutMs ?? 30_000,
    }, res => {
      responded = true;
      const chunks: Buffer[] = [];
      res.on('data', c => chunks.push(c));
      res.on('error', err => {
        if (settled) return;
        settled = true;
        reject(new Error(`${method} ${urlPath}: response failed after HTTP ${res.statusCode} (${err.message}); body so far: ${Buffer.concat(chunks).toString('utf8').slice(0, 500)}`));
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json() {
            try { return JSON.parse(body); } catch { throw new Error(`response is not JSON (HTTP ${res.statusCode}): ${body.slice(0, 500)}`); }
          },
        });
      });
    });
    req.on('timeout', () => { req.destroy(new Error(`${method} ${urlPath}: no response within ${opts.timeoutMs ?? 30_000}ms`)); });
    req.on('error', err => {
      // A server may answer (e.g. 413) and close before it read the whole body: keep the answer.
      if (responded) return;
      if (!settled) { settled = true; reject(err); }
    });
    if (payload) req.end(payload); else req.end();
  });
}

export async function isReady(port: number, caPEM?: string, token?: string): Promise<number> {
  try {
    const res = await httpsRequest({ port, caPEM }, 'GET', '/readyz', { token, timeoutMs: 2000, agent: new https.Agent({ keepAlive: false }) });
    return res.status;
  } catch { return 0; }
}

// ---------------------------------------------------------------------------------------------
// Watches over raw HTTP (newline-delimited JSON events).

export interface WatchEvent { type: string; object: any }

export interface RawWatch {
  events: WatchEvent[];
  /** Resolves when the stream ends (server closed it or close() was called). */
  done: Promise<void>;
  /** The HTTP status of the watch response (0 until headers arrive). */
  status(): number;
  /** Error body when the watch was refused. */
  errorBody(): string;
  close(): void;
}

export function openWatch(server: Pick<TestServer, 'port' | 'caPEM' | 'token'>, urlPath: string, onEvent?: (ev: WatchEvent) => void): RawWatch {
  const events: WatchEvent[] = [];
  let status = 0;
  let errBody = '';
  let req: ReturnType<typeof https.request> | undefined;
  let closed = false;
  const done = new Promise<void>(resolve => {
    req = https.request({
      host: '127.0.0.1', port: server.port, method: 'GET', path: urlPath,
      headers: { Authorization: `Bearer ${server.token}`, Accept: 'application/json' },
      ca: server.caPEM, checkServerIdentity: () => undefined, agent: false,
    }, res => {
      status = res.statusCode ?? 0;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (status !== 200) { errBody += chunk; return; }
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          let ev: WatchEvent;
          try { ev = JSON.parse(line); } catch { ev = { type: 'UNPARSEABLE', object: line }; }
          events.push(ev);
          onEvent?.(ev);
        }
      });
      res.on('end', () => {
        const line = buf.trim();
        if (line && status === 200) {
          try { const ev = JSON.parse(line); events.push(ev); onEvent?.(ev); } catch { events.push({ type: 'UNPARSEABLE', object: line }); }
        }
        resolve();
      });
      res.on('error', () => resolve());
      res.on('close', () => resolve());
    });
    req.on('error', err => { if (!closed) errBody += String(err); resolve(); });
    req.end();
  });
  return {
    events,
    done,
    status: () => status,
    errorBody: () => errBody,
    close() { closed = true; req?.destroy(); },
  };
}

// ---------------------------------------------------------------------------------------------
// The server.

interface Kubeconfig { server: string; token: string; caPEM: string }

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
  const ownsDataDir = !opts.dataDir;
  const root = makeTempDir('tke-e2e-');
  const dataDir = opts.dataDir ?? path.join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  const home = path.join(root, 'home');
  mkdirSync(path.join(home, '.kube', 'cache'), { recursive: true });
  const databaseUrl = opts.databaseUrl ?? await createTestDatabase();
  const port = opts.port ?? await freePort();
  const kubeconfigPath = path.join(dataDir, 'admin.kubeconfig');
  const readyTimeout = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;

  let logTail = '';
  const appendLog = (s: string) => {
    logTail += s;
    if (logTail.length > LOG_TAIL * 2) logTail = logTail.slice(-LOG_TAIL);
  };

  const args = [serverBin, '--data-dir', dataDir, '--secure-port', String(port), '--database-url', databaseUrl, ...(opts.args ?? [])];

  const spawnServer = (): ChildProcess => {
    if (!existsSync(serverBin)) throw new Error(`${serverBin} does not exist (the server is not built yet)`);
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { appendLog(d); if (process.env.TKE_TEST_LOG) process.stderr.write(`[srv:${port}] ${d}`); });
    child.stderr!.on('data', (d: string) => { appendLog(d); if (process.env.TKE_TEST_LOG) process.stderr.write(`[srv:${port}!] ${d}`); });
    return child;
  };

  const waitReady = async (child: ChildProcess): Promise<Kubeconfig> => {
    const deadline = Date.now() + readyTimeout;
    let exited: string | undefined;
    const onExit = (code: number | null, sig: NodeJS.Signals | null) => { exited = `exited with code ${code} signal ${sig}`; };
    child.once('exit', onExit);
    try {
      let lastStatus = 0;
      for (;;) {
        if (exited) throw new Error(`tke-apiserver ${exited} before it was ready\n${args.join(' ')}\n--- output\n${logTail.slice(-8000)}`);
        if (Date.now() > deadline) {
          throw new Error(`tke-apiserver not ready within ${readyTimeout}ms (last GET /readyz -> ${lastStatus || 'no answer'})\n--- output\n${logTail.slice(-8000)}`);
        }
        lastStatus = await isReady(port);
        if (lastStatus === 200 && existsSync(kubeconfigPath)) {
          try { return readKubeconfig(kubeconfigPath); } catch { /* still being written */ }
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
    try { child.kill('SIGKILL'); } catch { /* gone */ }
    throw err;
  }

  const exitOf = (c: ChildProcess): Promise<number | null> =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve(c.exitCode)
      : new Promise(resolve => c.once('exit', code => resolve(code)));

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
    get process() { return child; },
    logs: () => logTail,
    alive: () => child.exitCode === null && child.signalCode === null,

    kubectl(kargs, kopts = {}) {
      return new Promise(resolve => {
        const p = server.spawnKubectl(kargs, kopts);
        let stdout = '';
        let stderr = '';
        p.stdout!.setEncoding('utf8');
        p.stderr!.setEncoding('utf8');
        p.stdout!.on('data', (d: string) => { stdout += d; });
        p.stderr!.on('data', (d: string) => { stderr += d; });
        const timer = setTimeout(() => { stderr += `\n[harness] kubectl killed after ${kopts.timeoutMs ?? 60_000}ms`; p.kill('SIGKILL'); }, kopts.timeoutMs ?? 60_000);
        p.on('error', err => { stderr += String(err); });
        p.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
        if (kopts.input !== undefined) p.stdin!.end(kopts.input); else p.stdin!.end();
      });
    },

    async kubectlOK(kargs, kopts = {}) {
      const r = await server.kubectl(kargs, kopts);
      assert.equal(r.code, 0, describeRun(kargs, r));
      return r;
    },

    spawnKubectl(kargs, kopts = {}) {
      const p = spawn(kubectlBin, ['--kubeconfig', kubeconfigPath, ...kargs], {
        cwd: kopts.cwd ?? home,
        env: {
          ...process.env,
          HOME: home,
          KUBECACHEDIR: path.join(home, '.kube', 'cache'),
          KUBECONFIG: kubeconfigPath,
          KUBECTL_INTERACTIVE_DELETE: '',
          ...(kopts.env ?? {}),
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      return track(p);
    },

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
        try { child.kill('SIGKILL'); } catch { /* gone */ }
        throw err;
      }
    },
  };

  void ownsDataDir; // a caller-supplied dataDir is never removed by us; only our own temp root is
  return server;
}

/** Writes `content` into a fresh temp file and returns its path. */
export function tempFile(name: string, content: string | Buffer): string {
  const dir = makeTempDir('tke-e2e-f-');
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

/**
 * Parses kubectl's tabular output (one table). Columns are found from the header: names are
 * separated by 2+ spaces (so "DISPLAY NAME" stays one column) and each cell is the text between
 * two column starts.
 */
export function parseTable(text: string): { columns: string[]; rows: Array<Record<string, string>> } {
  const lines = text.split('\n').filter(l => l.trim() !== '');
  if (lines.length === 0) return { columns: [], rows: [] };
  const header = lines[0];
  const columns: string[] = [];
  const starts: number[] = [];
  const re = /\S+(?: \S+)*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header))) { columns.push(m[0]); starts.push(m.index); }
  const rows = lines.slice(1).map(line => {
    const row: Record<string, string> = {};
    columns.forEach((c, i) => {
      row[c] = line.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim();
    });
    return row;
  });
  return { columns, rows };
}

/** Splits kubectl output that holds several tables (e.g. `get clusters,projects`) at blank lines. */
export function parseTables(text: string): Array<ReturnType<typeof parseTable>> {
  return text.split(/\n\s*\n/).filter(t => t.trim()).map(parseTable);
}

/** Parses concatenated JSON values (as `kubectl get -w -o json` prints them); ignores a trailing partial one. */
export function parseJSONStream(text: string): any[] {
  const out: any[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') { inString = true; continue; }
    if (ch === '{' || ch === '[') { if (depth === 0) start = i; depth++; }
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push(JSON.parse(text.slice(start, i + 1)));
        start = -1;
      }
    }
  }
  return out;
}

/**
 * Waits until an object stops changing (two reads 250 ms apart give the same resourceVersion):
 * the server's controllers update new objects (e.g. status.phase), which would race tests that
 * compare resourceVersions. Returns the settled object.
 */
export async function waitSettled(server: Pick<TestServer, 'request'>, urlPath: string, timeoutMs = 10_000): Promise<any> {
  let last = '';
  let obj: any;
  await waitFor(`${urlPath} to stop changing`, async () => {
    const res = await server.request('GET', urlPath);
    if (res.status !== 200) throw new Error(describeResponse(res));
    obj = res.json();
    const rv = obj.metadata.resourceVersion as string;
    const same = rv === last;
    last = rv;
    return same;
  }, timeoutMs, 250);
  return obj;
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
