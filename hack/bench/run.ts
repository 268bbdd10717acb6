// npm run bench: the same workload against this server (on an embedded PostgreSQL, in a temporary
// data dir) and against its peer (kube-apiserver + etcd serving projects as a CRD), one after the
// other so that neither takes CPU from the other, plus raw baselines of the two storage engines.
// Prints one JSON line: our figures, then `peer` and `baseline`. Traffic goes to 127.0.0.1 only;
// every loop is bounded.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../pkg/storage/embedded.ts';
import { benchAuth } from './auth.ts';
import { etcdRangesPerSecond, postgresInsertTxPerSecond } from './baseline.ts';
import { makeClient, round, type Target } from './client.ts';
import { requirePeerBinaries, startPeer, type Peer } from './peer.ts';
import { benchQuota } from './quota.ts';
import { createdProjectName, rssOfPid, runWorkload } from './workload.ts';

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** What is running, stopped newest first at the end, on failure, or on SIGINT/SIGTERM. */
const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;

/** Registers how to stop something before it starts; refused once stopping has begun, so nothing starts after. */
function onStop(stop: () => Promise<void>): void {
  if (cleaning) throw new Error('stopping: nothing more is started');
  cleanups.push(stop);
}

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (err) {
        process.stderr.write(`bench: cleaning up: ${err}\n`);
      }
    }
  })();
  return cleaning;
}

// BENCH_WORKERS: the server's --workers; one (its default) unless told. On a 2-core machine that
// also runs PostgreSQL and this client, two workers measured slower than one on every figure
// (1,000 watchers: 148 writes/s and p50 1.2 s against 199 and 0.3 s).
const serverWorkers = Number(process.env.BENCH_WORKERS ?? 1);
// The server runs as it is deployed: compiled (npm run build, into a directory of the bench's own
// in the checkout, so the compiled modules still find its packages), not through tsx, whose
// compiler and source maps would be counted in its memory. BENCH_SERVER=tsx runs the sources.
const fromSources = process.env.BENCH_SERVER === 'tsx';

function serverEntry(): string {
  if (fromSources) return 'cmd/tke-apiserver/bin.js';
  const outDir = '.bench-dist';
  execFileSync(process.execPath, ['hack/build.js', '--out-dir', outDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return join(outDir, 'cmd', 'tke-apiserver', 'main.js');
}

interface Ours {
  target: Target;
  databaseUrl: string;
  pid: number;
  stop(): Promise<void>;
}

// The database is started here rather than by the server so that the baseline can reach it; it
// is the same embedded PostgreSQL, with the same settings, the server would start itself.
async function startServer(): Promise<Ours> {
  let dataDir: string | undefined;
  let db: EmbeddedPostgresHandle | undefined;
  let proc: ChildProcess | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise(r => proc!.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    await db?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  onStop(stop);
  dataDir = mkdtempSync(join(tmpdir(), 'tke-bench-'));
  db = await startEmbeddedPostgres(join(dataDir, 'postgres'));
  const port = await freePort();
  // BENCH_SERVER_NODE_OPTIONS: flags for the server's node only (e.g. --cpu-prof to profile it).
  const nodeFlags = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  proc = spawn(
    process.execPath,
    [...nodeFlags, serverEntry(), '--data-dir', dataDir, '--secure-port', String(port), '--database-url', db.databaseUrl, '--workers', String(serverWorkers)],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('server did not become ready');
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    try {
      const kc = parseYaml(readFileSync(join(dataDir, 'admin.kubeconfig'), 'utf8'));
      const target: Target = {
        port,
        ca: Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
        token: kc.users[0].user.token as string,
      };
      if ((await makeClient(target, 1).request('GET', '/readyz')).status === 200) return { target, databaseUrl: db.databaseUrl, pid: proc.pid!, stop };
    } catch {
      /* not yet */
    }
    await new Promise(r => setTimeout(r, 200));
  }
}

/** The RSS of a process and all its descendants (the server's workers), PostgreSQL's excepted: it is started apart. */
function rssOfTree(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent is the 2nd field after the command, which is in parentheses and may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  let total = 0;
  for (const queue = [pid]; queue.length; ) {
    const p = queue.pop()!;
    try {
      total += rssOfPid(p);
    } catch {
      /* gone meanwhile */
    }
    queue.push(...(children.get(p) ?? []));
  }
  return total;
}

async function main(): Promise<void> {
  const started = performance.now();
  requirePeerBinaries();

  const ours = await startServer();
  const { figures, client } = await runWorkload('tke-apiserver', ours.target, { rssBytes: () => rssOfTree(ours.pid) });
  // Ours on stderr at once: a failure of the peer's run later must not lose them.
  process.stderr.write(`bench: tke-apiserver figures: ${JSON.stringify(figures)}\n`);
  const quota = await benchQuota(client);
  const auth = await benchAuth({ port: ours.target.port, ca: ours.target.ca, adminToken: ours.target.token! });
  // The server is idle by now: the database has the machine (but for the bench's own client).
  const pgTxPerSecond = await postgresInsertTxPerSecond(ours.databaseUrl);
  await ours.stop();

  // BENCH_PEER=0: our figures only, for iterating on them (the report needs the peer's beside them).
  if (process.env.BENCH_PEER === '0') {
    await cleanUp();
    process.stdout.write(
      JSON.stringify({
        ...figures,
        server: { workers: serverWorkers, compiled: !fromSources },
        baseline: { postgresInsertTxPerSecond: round(pgTxPerSecond) },
      }) + '\n',
    );
    return;
  }
  const peer: Peer = await startPeer(onStop);
  const peerRun = await runWorkload('peer', peer.target, { rssBytes: () => rssOfPid(peer.apiserverPid) });
  // The key kube-apiserver stores a cluster-scoped custom resource under (default --etcd-prefix).
  const etcdPerSecond = await etcdRangesPerSecond(peer.etcdURL, i => `/registry/business.tkestack.io/projects/${createdProjectName(i)}`);
  await cleanUp();

  process.stdout.write(
    JSON.stringify({
      ...figures,
      server: { workers: serverWorkers, compiled: !fromSources },
      namespaceCreates: { withQuotaPerSecond: round(quota.quotaCreatesPerSecond), withoutQuotaPerSecond: round(quota.plainCreatesPerSecond) },
      authorizedGets: { apiKeyPerSecond: round(auth.apiKeyGetsPerSecond), adminPerSecond: round(auth.adminGetsPerSecond), policies: auth.policies },
      peer: peerRun.figures,
      baseline: { postgresInsertTxPerSecond: round(pgTxPerSecond), etcdRangesPerSecond: round(etcdPerSecond) },
    }) + '\n',
  );
  process.stderr.write(`bench: done in ${Math.round((performance.now() - started) / 1000)}s\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}; stopping what was started\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}

main().catch(async err => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  await cleanUp();
  process.exit(1);
});
