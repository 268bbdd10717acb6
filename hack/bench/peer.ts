// The peer of the benchmark: what a platform team would run instead of this server, etcd and
// kube-apiserver (built from hack/kube/go.mod) serving projects.business.tkestack.io as a CRD.
// Only those two run (hack/kube/up.sh with TKE_UP_ONLY=kube): a tke-apiserver or
// kube-controller-manager beside them would take CPU from the measured server. etcd syncs its
// log to disk, as the embedded PostgreSQL of our side does.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { projects } from '../../pkg/apis/business/project.ts';
import { ProjectAllocations } from '../../pkg/apis/business/quota.ts';
import { expectOk, makeClient, type Target } from './client.ts';
import { customResourceDefinition } from './crd.ts';
import { projectsPath } from './workload.ts';

const kubeDir = fileURLToPath(new URL('../kube/', import.meta.url));

export interface Peer {
  target: Target;
  /** etcd's client URL (plain HTTP, its gRPC gateway answers JSON on /v3/...). */
  etcdURL: string;
  /** kube-apiserver's process (for its memory). */
  apiserverPid: number;
  stop(): Promise<void>;
}

/**
 * Checks up front that the peer's binaries are there (or builds them), so that a machine
 * without Go fails before, not after, minutes of measuring our own server.
 */
export function requirePeerBinaries(): void {
  const build = spawnSync(join(kubeDir, 'build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0) {
    throw new Error(
      `the peer benchmark needs etcd and kube-apiserver, and hack/kube/build.sh could not provide them ` +
        `(${build.error?.message ?? `exit ${build.status ?? build.signal}`}; its message is above). ` +
        'The first build needs Go >= 1.26 and the Go module proxy, and takes 10 to 20 minutes; later runs reuse the binaries',
    );
  }
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; exit: Promise<number> } {
  // Their output goes to stderr: stdout is the benchmark's JSON line.
  const child = spawn(join(kubeDir, script), args, { stdio: ['ignore', 2, 2], env: { ...process.env, ...env } });
  const exit = new Promise<number>((ok, fail) => {
    child.once('error', fail);
    child.once('exit', (code, signal) => ok(code ?? (signal ? 128 : 1)));
  });
  return { child, exit };
}

function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)='(.*)'$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Starts the peer. `onStop` receives its stop function before anything starts, so that an
 * interrupted start is cleaned up too.
 */
export async function startPeer(onStop: (stop: () => Promise<void>) => void): Promise<Peer> {
  let dir: string | undefined;
  let up: ReturnType<typeof run> | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped || !dir) return;
    stopped = true;
    // An up.sh still starting goes first, so that it starts nothing after down.sh read DIR/pids.
    if (up && up.child.exitCode === null && up.child.signalCode === null) up.child.kill('SIGTERM');
    await up?.exit.catch(() => {});
    const code = await run('down.sh', [dir]).exit;
    if (code !== 0) throw new Error(`hack/kube/down.sh ${dir} failed (exit ${code}); its processes may still run`);
    rmSync(dir, { recursive: true, force: true });
  };
  onStop(stop);
  dir = mkdtempSync(join(tmpdir(), 'tke-bench-peer-'));
  try {
    up = run('up.sh', [dir], { TKE_UP_ONLY: 'kube', TKE_UP_ETCD_FSYNC: '1' });
    const code = await up.exit;
    if (code !== 0) throw new Error(`hack/kube/up.sh failed (exit ${code}; its message is above)`);
    const env = readEnvFile(join(dir, 'env'));
    const kc = parseYaml(readFileSync(join(dir, 'kube.kubeconfig'), 'utf8'));
    const b64 = (s: string) => Buffer.from(s, 'base64').toString();
    const target: Target = {
      port: Number(new URL(env['KUBE_SERVER']!).port),
      ca: b64(kc.clusters[0].cluster['certificate-authority-data']),
      cert: b64(kc.users[0].user['client-certificate-data']),
      key: b64(kc.users[0].user['client-key-data']),
    };
    if (!env['ETCD_SERVER'] || !target.port) throw new Error(`${dir}/env lacks KUBE_SERVER or ETCD_SERVER`);
    await installCRD(target);
    const pidLine = readFileSync(join(dir, 'pids'), 'utf8')
      .split('\n')
      .find(l => l.startsWith('kube-apiserver '));
    if (!pidLine) throw new Error(`${dir}/pids lists no kube-apiserver`);
    return { target, etcdURL: env['ETCD_SERVER'], apiserverPid: Number(pidLine.split(' ')[1]), stop };
  } catch (err) {
    await stop().catch(e => process.stderr.write(`bench: ${e}\n`));
    throw err;
  }
}

async function installCRD(target: Target): Promise<void> {
  const client = makeClient(target, 1);
  const crd = customResourceDefinition(projects(new ProjectAllocations()));
  // Strict: a keyword the structural conversion lets through by mistake is an error, not dropped.
  await expectOk(client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldValidation=Strict', crd));
  const name = (crd['metadata'] as { name: string }).name;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const got = JSON.parse(await expectOk(client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)));
    const conditions = (got.status?.conditions ?? []) as Array<{ type: string; status: string; message?: string }>;
    const bad = conditions.find(c => c.type === 'NonStructuralSchema' && c.status === 'True');
    if (bad) throw new Error(`the CRD's schema is not structural: ${bad.message}`);
    const established = conditions.some(c => c.type === 'Established' && c.status === 'True');
    // Established comes before the handler serves; the first list proves it does.
    if (established && (await client.request('GET', `${projectsPath}?limit=1`)).status === 200) return;
    if (Date.now() > deadline) throw new Error(`the CRD ${name} was not served within 60s: ${JSON.stringify(conditions)}`);
    await new Promise(r => setTimeout(r, 200));
  }
}
