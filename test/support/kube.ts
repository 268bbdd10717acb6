// The real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager
// (built from Go modules by hack/kube/build.sh) with a tke-apiserver aggregated into it, started
// by hack/kube/up.sh exactly as a user starts it on a laptop. One per mocha run, shared by every
// suite: started on first use, stopped by the root afterAll (test/support/hooks.ts) or, whatever
// happened, when the test process exits.
//
// The tke-apiserver inside uses a database of the run's test PostgreSQL. When the binaries
// cannot be built (no Go, no module proxy) kubeControlPlane() throws with up.sh's message: the
// suites fail, they never skip. TKE_TEST_KEEP=1 keeps the directory (logs in DIR/logs).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from './postgres.ts';
import { httpsRequest, type HttpResponse, type RequestOptions } from './http.ts';
import { collectKubectl, describeRun, kubectlBin, type KubectlOptions, type KubectlResult } from './kubectl.ts';
import { repoRoot } from './process.ts';

const upScript = path.join(repoRoot, 'hack', 'kube', 'up.sh');
const downScript = path.join(repoRoot, 'hack', 'kube', 'down.sh');

/**
 * How long a suite's before hook should allow for kubeControlPlane(): on a machine without the
 * binaries in the cache, up.sh first builds kube-apiserver, kube-controller-manager and etcd
 * (about 10 minutes on 2 cores with a warm module cache; .ci/run builds them before the tests).
 */
export const KUBE_START_TIMEOUT_MS = Number(process.env.TKE_KUBE_START_TIMEOUT_MS ?? 60 * 60_000);

/** DIR/env of up.sh. */
export interface KubeEnv {
  KUBE_SERVER: string;
  KUBE_CA_FILE: string;
  /** A cluster-admin service account's token: what importing the cluster as a member needs. */
  KUBE_TOKEN: string;
  KUBE_KUBECONFIG: string;
  TKE_SERVER: string;
  TKE_CA_FILE: string;
  /** tke-apiserver's bootstrap admin. */
  TKE_TOKEN: string;
  TKE_KUBECONFIG: string;
}

export interface KubeKubectlOptions extends KubectlOptions {
  /** Run as this bearer token against kube-apiserver instead of kube.kubeconfig's admin certificate. */
  token?: string;
  /** Another kubeconfig (e.g. tke.kubeconfig). */
  kubeconfig?: string;
}

export interface KubeControlPlane {
  dir: string;
  env: KubeEnv;
  /** DIR/kube.kubeconfig: kube-apiserver as kubernetes-admin (system:masters). */
  kubeconfig: string;
  /** DIR/tke.kubeconfig: tke-apiserver directly, as its bootstrap admin. */
  tkeKubeconfig: string;
  kubeCAPEM: string;
  tkeCAPEM: string;
  /** The real kubectl against kube-apiserver (kube.kubeconfig unless opts.token or opts.kubeconfig). */
  kubectl(args: string[], opts?: KubeKubectlOptions): Promise<KubectlResult>;
  /** kubectl that must exit 0; the assertion message carries its whole output. */
  kubectlOK(args: string[], opts?: KubeKubectlOptions): Promise<KubectlResult>;
  /** kubectl in the background (e.g. `get -w`); killed when the test process exits. */
  spawnKubectl(args: string[], opts?: KubeKubectlOptions): ChildProcess;
  /** HTTPS to kube-apiserver; the default credential is KUBE_TOKEN (cluster-admin). */
  kube(method: string, urlPath: string, opts?: RequestOptions): Promise<HttpResponse>;
  /** HTTPS to tke-apiserver directly; the default credential is its bootstrap admin token. */
  tke(method: string, urlPath: string, opts?: RequestOptions): Promise<HttpResponse>;
  /** The last lines of DIR/logs/<component>.log, for failure messages. */
  logTail(component: 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'tke-apiserver', lines?: number): string;
}

let starting: Promise<KubeControlPlane> | undefined;
let runningDir: string | undefined;
const background = new Set<ChildProcess>();
let exitHookInstalled = false;

function parseEnv(text: string): KubeEnv {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)='([^']*)'$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  for (const k of ['KUBE_SERVER', 'KUBE_CA_FILE', 'KUBE_TOKEN', 'TKE_SERVER', 'TKE_TOKEN']) {
    assert.ok(out[k], `up.sh wrote no ${k} into its env file`);
  }
  return out as unknown as KubeEnv;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function stopSync(): void {
  for (const p of background) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  background.clear();
  if (!runningDir) return;
  const dir = runningDir;
  runningDir = undefined;
  spawnSync(downScript, [path.join(dir, 'cp')], { stdio: 'ignore', timeout: 120_000 });
  if (!process.env.TKE_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // up.sh starts every component in its own session, out of reach of the harness's child
  // bookkeeping: only down.sh stops them.
  process.on('exit', stopSync);
}

async function start(): Promise<KubeControlPlane> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tke-kube-'));
  const home = path.join(dir, 'home');
  mkdirSync(path.join(home, '.kube', 'cache'), { recursive: true });
  const databaseUrl = await createTestDatabase();
  installExitHook();
  runningDir = dir;

  const output = await new Promise<{ code: number | null; text: string }>(resolve => {
    const child = spawn('bash', [upScript, path.join(dir, 'cp')], {
      cwd: repoRoot,
      env: { ...process.env, TKE_DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    const add = (d: Buffer) => {
      text += d.toString('utf8');
      if (process.env.TKE_TEST_LOG) process.stderr.write(`[kube-up] ${d.toString('utf8')}`);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    child.on('error', err => {
      text += String(err);
    });
    child.on('close', code => resolve({ code, text }));
  });
  if (output.code !== 0) {
    // up.sh has already stopped whatever it started.
    throw new Error(`hack/kube/up.sh failed (exit ${output.code}); the aggregation tests need the real control plane:\n${output.text.slice(-6000)}`);
  }

  const cp = path.join(dir, 'cp');
  const env = parseEnv(readFileSync(path.join(cp, 'env'), 'utf8'));
  const kubeconfig = path.join(cp, 'kube.kubeconfig');
  const tkeKubeconfig = path.join(cp, 'tke.kubeconfig');
  const kubeCAPEM = readFileSync(env.KUBE_CA_FILE, 'utf8');
  const tkeCAPEM = readFileSync(env.TKE_CA_FILE, 'utf8');

  const kubectlArgs = (args: string[], opts: KubeKubectlOptions): string[] =>
    opts.token !== undefined
      ? // No kubeconfig at all: the token is the only credential kubectl has.
        ['--kubeconfig', '/dev/null', '--server', env.KUBE_SERVER, '--certificate-authority', env.KUBE_CA_FILE, '--token', opts.token, ...args]
      : ['--kubeconfig', opts.kubeconfig ?? kubeconfig, ...args];

  const plane: KubeControlPlane = {
    dir: cp,
    env,
    kubeconfig,
    tkeKubeconfig,
    kubeCAPEM,
    tkeCAPEM,

    spawnKubectl(args, opts = {}) {
      const p = spawn(kubectlBin, kubectlArgs(args, opts), {
        cwd: opts.cwd ?? home,
        env: { ...process.env, HOME: home, KUBECACHEDIR: path.join(home, '.kube', 'cache'), KUBECONFIG: '', ...(opts.env ?? {}) },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      background.add(p);
      p.once('exit', () => background.delete(p));
      return p;
    },

    kubectl(args, opts = {}) {
      return collectKubectl(plane.spawnKubectl(args, opts), opts);
    },

    async kubectlOK(args, opts = {}) {
      const r = await plane.kubectl(args, opts);
      assert.equal(r.code, 0, describeRun(args, r));
      return r;
    },

    kube(method, urlPath, opts = {}) {
      return httpsRequest({ port: portOf(env.KUBE_SERVER), caPEM: kubeCAPEM }, method, urlPath, { ...opts, defaultToken: env.KUBE_TOKEN });
    },

    tke(method, urlPath, opts = {}) {
      return httpsRequest({ port: portOf(env.TKE_SERVER), caPEM: tkeCAPEM }, method, urlPath, { ...opts, defaultToken: env.TKE_TOKEN });
    },

    logTail(component, lines = 40) {
      try {
        return readFileSync(path.join(cp, 'logs', `${component}.log`), 'utf8')
          .split('\n')
          .slice(-lines)
          .join('\n');
      } catch (err) {
        return `(no log: ${(err as Error).message})`;
      }
    },
  };
  return plane;
}

/** The run's control plane, started on first use. A failed start is retried by the next caller. */
export function kubeControlPlane(): Promise<KubeControlPlane> {
  if (!starting) {
    starting = start();
    starting.catch(() => {
      starting = undefined;
      stopSync();
    });
  }
  return starting;
}

/** Stops the control plane if this run started one (root afterAll). */
export async function stopKubeControlPlane(): Promise<void> {
  if (!starting) return;
  const pending = starting;
  starting = undefined;
  await pending.catch(() => undefined);
  for (const p of background) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  background.clear();
  const dir = runningDir;
  runningDir = undefined;
  if (!dir) return;
  const code = await new Promise<number | null>(resolve => {
    const p = spawn(downScript, [path.join(dir, 'cp')], { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', () => resolve(-1));
    p.on('close', resolve);
  });
  if (!process.env.TKE_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`hack/kube/down.sh exited with ${code}`);
}
