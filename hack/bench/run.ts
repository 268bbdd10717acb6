// npm run bench: starts a server on the embedded PostgreSQL in a temporary data dir and
// prints one JSON line of figures. Traffic goes to 127.0.0.1 only; every loop is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { benchAuth } from './auth.ts';
import { benchQuota } from './quota.ts';

const concurrency = 32;
const createCount = Number(process.env.BENCH_CREATES ?? 4000);
const getCount = Number(process.env.BENCH_GETS ?? 20000);
const listObjects = Number(process.env.BENCH_LIST_OBJECTS ?? 10000);
const listRounds = Number(process.env.BENCH_LIST_ROUNDS ?? 20);
const watchers = 100;
const watchWrites = Number(process.env.BENCH_WATCH_WRITES ?? 200);

interface Client {
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const port = (s.address() as { port: number }).port; s.close(() => ok(port)); });
  });
}

async function startServer(): Promise<{ proc: ChildProcess; client: Client; port: number; token: string; ca: string; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tke-bench-'));
  const port = await freePort();
  const proc = spawn(process.execPath, ['cmd/tke-apiserver/bin.js', '--data-dir', dataDir, '--secure-port', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('server did not become ready');
    try {
      const kc = parseYaml(readFileSync(join(dataDir, 'admin.kubeconfig'), 'utf8'));
      const ca = Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
      const token = kc.users[0].user.token as string;
      const client = makeClient(port, ca, token);
      if ((await client.request('GET', '/readyz')).status === 200) return { proc, client, port, token, ca, dataDir };
    } catch { /* not yet */ }
    await new Promise(r => setTimeout(r, 200));
  }
}

function makeClient(port: number, ca: string, token: string): Client {
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca });
  return {
    request(method, path, body) {
      return new Promise((ok, fail) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request({ host: '127.0.0.1', port, path, method, agent, headers: { Authorization: `Bearer ${token}`, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) } }, res => {
          const chunks: Buffer[] = [];
          res.on('data', c => chunks.push(c));
          res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', fail);
        req.end(data);
      });
    },
  };
}

/** Runs `total` operations with `parallel` in flight; returns operations per second. */
async function rate(total: number, parallel: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < total) await op(next++);
  }));
  return total / ((performance.now() - started) / 1000);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (n: number) => Math.round(n * 10) / 10;

function project(name: string): { apiVersion: string; kind: string; metadata: { name: string; labels: Record<string, string> }; spec: Record<string, unknown> } {
  return { apiVersion: 'business.tkestack.io/v1', kind: 'Project', metadata: { name, labels: { bench: 'true' } }, spec: { displayName: name, members: ['admin'] } };
}

async function expectOk(p: Promise<{ status: number; body: string }>): Promise<string> {
  const r = await p;
  if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  return r.body;
}

async function main(): Promise<void> {
  const { proc, client, port, token, ca, dataDir } = await startServer();
  try {
    const base = '/apis/business.tkestack.io/v1/projects';
    const createsPerSecond = await rate(createCount, concurrency, i => expectOk(client.request('POST', base, project(`bench-c-${i}`))).then(() => {}));
    const getsPerSecond = await rate(getCount, concurrency, i => expectOk(client.request('GET', `${base}/bench-c-${i % createCount}`)).then(() => {}));

    // Fill up to listObjects projects, then time whole lists and lists paged by 500.
    await rate(Math.max(0, listObjects - createCount), concurrency, i => expectOk(client.request('POST', base, project(`bench-l-${i}`))).then(() => {}));
    const onePage: number[] = [];
    const paged: number[] = [];
    for (let r = 0; r < listRounds; r++) {
      let t = performance.now();
      const all = JSON.parse(await expectOk(client.request('GET', base)));
      onePage.push(performance.now() - t);
      if (all.items.length < listObjects) throw new Error(`listed ${all.items.length} of ${listObjects}`);
      t = performance.now();
      let cont = '';
      let seen = 0;
      do {
        const page = JSON.parse(await expectOk(client.request('GET', `${base}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)));
        seen += page.items.length;
        cont = page.metadata.continue ?? '';
      } while (cont);
      paged.push(performance.now() - t);
      if (seen < listObjects) throw new Error(`paged ${seen} of ${listObjects}`);
    }

    // Watch delivery: 100 watchers from the current revision; each write's latency is the
    // time from sending it to its event reaching a watcher.
    const rv = JSON.parse(await expectOk(client.request('GET', `${base}?limit=1`))).metadata.resourceVersion as string;
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let received = 0;
    const expected = watchers * watchWrites;
    let allReceived!: () => void;
    const done = new Promise<void>(r => { allReceived = r; });
    const watchAgent = new https.Agent({ keepAlive: false, ca, maxSockets: watchers });
    const streams = Array.from({ length: watchers }, () => new Promise<import('node:http').ClientRequest>((ok) => {
      const req = https.request({ host: '127.0.0.1', port, path: `${base}?watch=true&resourceVersion=${rv}&labelSelector=bench-watch%3Dtrue`, agent: watchAgent, headers: { Authorization: `Bearer ${token}` } }, res => {
        let buf = '';
        res.on('data', (chunk: Buffer) => {
          buf += chunk.toString();
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const ev = JSON.parse(line);
            // Only the creation is timed: later MODIFIED events (controllers updating status) were not sent at sentAt.
            if (ev.type !== 'ADDED') continue;
            const t0 = sentAt.get(ev.object?.metadata?.name);
            if (t0 !== undefined) latencies.push(performance.now() - t0);
            if (++received === expected) allReceived();
          }
        });
      });
      req.end();
      req.on('response', () => ok(req));
    }));
    const opened = await Promise.all(streams);
    await rate(watchWrites, 4, async i => {
      const name = `bench-w-${i}`;
      sentAt.set(name, performance.now());
      const body = project(name);
      body.metadata.labels = { 'bench-watch': 'true' };
      await expectOk(client.request('POST', base, body));
    });
    await Promise.race([done, new Promise(r => setTimeout(r, 60_000))]);
    opened.forEach(r => r.destroy());
    if (received < expected) throw new Error(`watchers received ${received} of ${expected} events`);

    const quota = await benchQuota(client);
    const auth = await benchAuth({ port, ca, adminToken: token });

    process.stdout.write(JSON.stringify({
      createsPerSecond: round(createsPerSecond),
      getsPerSecond: round(getsPerSecond),
      concurrency,
      list10000: { onePageP50Ms: round(percentile(onePage, 50)), onePageP99Ms: round(percentile(onePage, 99)), pagedBy500P50Ms: round(percentile(paged, 50)), pagedBy500P99Ms: round(percentile(paged, 99)) },
      watch: { watchers, events: received, deliveryP50Ms: round(percentile(latencies, 50)), deliveryP99Ms: round(percentile(latencies, 99)) },
      namespaceCreates: { withQuotaPerSecond: round(quota.quotaCreatesPerSecond), withoutQuotaPerSecond: round(quota.plainCreatesPerSecond) },
      authorizedGets: { apiKeyPerSecond: round(auth.apiKeyGetsPerSecond), adminPerSecond: round(auth.adminGetsPerSecond), policies: auth.policies },
    }) + '\n');
  } finally {
    proc.kill('SIGTERM');
    await new Promise(r => proc.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch(err => { process.stderr.write(`bench failed: ${err.stack ?? err}\n`); process.exit(1); });
