// The workload both peers run, against business.tkestack.io/v1 projects: creates and GETs at 32
// concurrent clients, lists of 10,000 projects (one page, and paged by 500), watch delivery to
// 1,000 watchers at 200 writes/s, and the server's memory with 100,000 projects listed in one
// page. Traffic goes to 127.0.0.1 only; every loop is bounded.
import { readFileSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import { expectOk, makeClient, percentile, rate, round, type Client, type Target } from './client.ts';

const concurrency = 32;
const createCount = Number(process.env.BENCH_CREATES ?? 4000);
const getCount = Number(process.env.BENCH_GETS ?? 20000);
const listObjects = Number(process.env.BENCH_LIST_OBJECTS ?? 10000);
const listRounds = Number(process.env.BENCH_LIST_ROUNDS ?? 20);
const watchers = Number(process.env.BENCH_WATCHERS ?? 1000);
const watchWrites = Number(process.env.BENCH_WATCH_WRITES ?? 1000);
const watchWritesPerSecond = Number(process.env.BENCH_WATCH_RATE ?? 200);
const memoryObjects = Number(process.env.BENCH_MEMORY_OBJECTS ?? 100000);

export const projectsPath = '/apis/business.tkestack.io/v1/projects';

export interface WorkloadFigures {
  createsPerSecond: number;
  getsPerSecond: number;
  concurrency: number;
  list10000: { onePageP50Ms: number; onePageP99Ms: number; pagedBy500P50Ms: number; pagedBy500P99Ms: number; pageP99Ms: number };
  watch: { watchers: number; events: number; missing: number; writesPerSecond: number; deliveryP50Ms: number | null; deliveryP99Ms: number | null };
  memory: { objects: number; rssMB100k: number; listMs: number };
}

/** What the workload needs to know of the server beyond its API. */
export interface ServerProbe {
  /** The server process's resident memory now, in bytes. */
  rssBytes(): number;
}

/** VmRSS of a process, from /proc. */
export function rssOfPid(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** The i-th of the projects the creates leave behind, modulo their count (also for probes of the storage underneath). */
export const createdProjectName = (i: number): string => `bench-c-${i % createCount}`;

function project(name: string): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
} {
  return {
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: { name, labels: { bench: 'true' } },
    spec: { displayName: name, members: ['admin'] },
  };
}

/** `label` names the server in the progress lines written to stderr. */
// The client collects each whole list it parsed (10 MiB of objects) before it times the next
// request, so that its own garbage collection (10-20 ms, measured) is not counted as the
// server's latency. `npm run bench` runs node with --expose-gc.
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

export async function runWorkload(label: string, target: Target, probe: ServerProbe): Promise<{ figures: WorkloadFigures; client: Client }> {
  const client = makeClient(target, concurrency);
  const base = projectsPath;
  // The first quarter of the creates, and of the GETs, warms the server up untimed: the rates are
  // a running server's, not those of its first seconds, when V8 is still compiling the request
  // paths (A/B, 4,000 creates and 20,000 GETs: 708-758 creates/s and 7,110-8,085 GETs/s timed
  // from the start, 793-807 and 7,502-8,250 after the warm-up).
  const afterWarmup = async (total: number, op: (i: number) => Promise<void>) => {
    const warmup = Math.floor(total / 4);
    await rate(warmup, concurrency, op);
    return rate(total - warmup, concurrency, i => op(warmup + i));
  };
  const createsPerSecond = await afterWarmup(createCount, i => expectOk(client.request('POST', base, project(`bench-c-${i}`))).then(() => {}));
  const getsPerSecond = await afterWarmup(getCount, i => expectOk(client.request('GET', `${base}/${createdProjectName(i)}`)).then(() => {}));

  // Fill up to listObjects projects, then time whole lists and lists paged by 500.
  await rate(Math.max(0, listObjects - createCount), concurrency, i => expectOk(client.request('POST', base, project(`bench-l-${i}`))).then(() => {}));
  const onePage: number[] = [];
  const paged: number[] = [];
  const pages: number[] = [];
  for (let r = 0; r < listRounds; r++) {
    collect();
    let t = performance.now();
    const body = await expectOk(client.request('GET', base));
    const all = JSON.parse(body);
    onePage.push(performance.now() - t);
    if (all.items.length < listObjects) throw new Error(`listed ${all.items.length} of ${listObjects}`);
    // The peers' objects differ a little (defaults, finalizers, managedFields): the size says how much.
    if (r === 0)
      process.stderr.write(`bench: ${label}: ${all.items.length} projects listed in one page of ${Math.round(Buffer.byteLength(body) / 1024)} KiB\n`);
    collect();
    t = performance.now();
    let cont = '';
    let seen = 0;
    do {
      const pageStarted = performance.now();
      const page = JSON.parse(await expectOk(client.request('GET', `${base}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)));
      pages.push(performance.now() - pageStarted);
      seen += page.items.length;
      cont = page.metadata.continue ?? '';
    } while (cont);
    paged.push(performance.now() - t);
    if (seen < listObjects) throw new Error(`paged ${seen} of ${listObjects}`);
  }

  // Watch delivery: `watchers` watchers from the current revision, writes paced at
  // `watchWritesPerSecond`; each write's latency is the time from sending it to its event
  // reaching a watcher. Lines are not parsed whole (the client would otherwise be what is slow).
  const rv = JSON.parse(await expectOk(client.request('GET', `${base}?limit=1`))).metadata.resourceVersion as string;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let received = 0;
  const expected = watchers * watchWrites;
  let allReceived!: () => void;
  const done = new Promise<void>(r => {
    allReceived = r;
  });
  const watchPath = `${base}?watch=true&resourceVersion=${rv}&labelSelector=bench-watch%3Dtrue`;
  const opened: ClientRequest[] = [];
  let writesPerSecond = 0;
  try {
    // Each is kept as soon as it is open, so that a failure to open one still closes the others.
    await Promise.all(
      Array.from({ length: watchers }, () => {
        let buf = '';
        return client
          .stream(watchPath, chunk => {
            buf += chunk.toString();
            for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              // Only the creation is timed: later MODIFIED events (controllers updating status) were not sent at sentAt.
              if (!line.startsWith('{"type":"ADDED"')) {
                if (line.startsWith('{"type":"ERROR"')) throw new Error(`watch ended: ${line.slice(0, 300)}`);
                continue;
              }
              const m = /"name":"(bench-w-\d+)"/.exec(line);
              const t0 = m ? sentAt.get(m[1]!) : undefined;
              if (t0 !== undefined) latencies.push(performance.now() - t0);
              if (++received === expected) allReceived();
            }
          })
          .then(req => {
            opened.push(req);
          });
      }),
    );
    collect();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: watchWrites }, async (_, i) => {
        // Paced: write i leaves at its slot, whatever the ones before it are doing.
        const wait = started + (i * 1000) / watchWritesPerSecond - performance.now();
        if (wait > 0) await new Promise(r => setTimeout(r, wait));
        const name = `bench-w-${i}`;
        sentAt.set(name, performance.now());
        const body = project(name);
        body.metadata.labels = { 'bench-watch': 'true' };
        await expectOk(client.request('POST', base, body));
      }),
    );
    writesPerSecond = watchWrites / ((performance.now() - started) / 1000);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise(r => {
        timer = setTimeout(r, 120_000);
      }),
    ]);
    clearTimeout(timer);
  } finally {
    for (const r of opened) r.destroy();
  }
  // An event that never arrived (the server ended a watch it could not keep up with, or the
  // timeout passed) counts as infinitely late: a p99 that lands on one is reported as null.
  const missing = expected - received;
  const delivery = [...latencies, ...Array<number>(missing).fill(Number.POSITIVE_INFINITY)];
  const late = (p: number) => {
    const v = percentile(delivery, p);
    return Number.isFinite(v) ? round(v) : null;
  };
  process.stderr.write(
    `bench: ${label}: ${watchers} watchers, ${watchWrites} writes at ${round(writesPerSecond)}/s, ${received} of ${expected} events delivered\n`,
  );

  // Memory: fill up to memoryObjects projects, then list them all in one page while sampling the
  // server's resident memory.
  const existing = listObjects + watchWrites;
  await rate(Math.max(0, memoryObjects - existing), concurrency, i => expectOk(client.request('POST', base, project(`bench-m-${i}`))).then(() => {}));
  let peakRss = probe.rssBytes();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, probe.rssBytes());
  }, 50);
  const listStarted = performance.now();
  let listed: number;
  try {
    const body = await expectOk(client.request('GET', base));
    listed = (JSON.parse(body).items as unknown[]).length;
  } finally {
    clearInterval(sampler);
  }
  const listMs = performance.now() - listStarted;
  peakRss = Math.max(peakRss, probe.rssBytes());
  if (listed < memoryObjects) throw new Error(`listed ${listed} of ${memoryObjects}`);
  process.stderr.write(`bench: ${label}: ${listed} projects listed in ${Math.round(listMs)} ms, peak RSS ${Math.round(peakRss / 1048576)} MiB\n`);

  return {
    client,
    figures: {
      createsPerSecond: round(createsPerSecond),
      getsPerSecond: round(getsPerSecond),
      concurrency,
      list10000: {
        onePageP50Ms: round(percentile(onePage, 50)),
        onePageP99Ms: round(percentile(onePage, 99)),
        pagedBy500P50Ms: round(percentile(paged, 50)),
        pagedBy500P99Ms: round(percentile(paged, 99)),
        pageP99Ms: round(percentile(pages, 99)),
      },
      watch: { watchers, events: received, missing, writesPerSecond: round(writesPerSecond), deliveryP50Ms: late(50), deliveryP99Ms: late(99) },
      memory: { objects: listed, rssMB100k: round(peakRss / 1048576), listMs: round(listMs) },
    },
  };
}
