// The workload both peers run, against business.tkestack.io/v1 projects: creates and GETs at 32
// concurrent clients, lists of 10,000 projects (one page, and paged by 500), and watch delivery
// to 100 watchers. Traffic goes to 127.0.0.1 only; every loop is bounded.
import type { ClientRequest } from 'node:http';
import { expectOk, makeClient, percentile, rate, round, type Client, type Target } from './client.ts';

const concurrency = 32;
const createCount = Number(process.env.BENCH_CREATES ?? 4000);
const getCount = Number(process.env.BENCH_GETS ?? 20000);
const listObjects = Number(process.env.BENCH_LIST_OBJECTS ?? 10000);
const listRounds = Number(process.env.BENCH_LIST_ROUNDS ?? 20);
const watchers = 100;
const watchWrites = Number(process.env.BENCH_WATCH_WRITES ?? 200);

export const projectsPath = '/apis/business.tkestack.io/v1/projects';

export interface WorkloadFigures {
  createsPerSecond: number;
  getsPerSecond: number;
  concurrency: number;
  list10000: { onePageP50Ms: number; onePageP99Ms: number; pagedBy500P50Ms: number; pagedBy500P99Ms: number };
  watch: { watchers: number; events: number; deliveryP50Ms: number; deliveryP99Ms: number };
}

/** The i-th of the projects the creates leave behind, modulo their count (also for probes of the storage underneath). */
export const createdProjectName = (i: number): string => `bench-c-${i % createCount}`;

function project(name: string): { apiVersion: string; kind: string; metadata: { name: string; labels: Record<string, string> }; spec: Record<string, unknown> } {
  return { apiVersion: 'business.tkestack.io/v1', kind: 'Project', metadata: { name, labels: { bench: 'true' } }, spec: { displayName: name, members: ['admin'] } };
}

/** `label` names the server in the progress lines written to stderr. */
export async function runWorkload(label: string, target: Target): Promise<{ figures: WorkloadFigures; client: Client }> {
  const client = makeClient(target, concurrency);
  const base = projectsPath;
  const createsPerSecond = await rate(createCount, concurrency, i => expectOk(client.request('POST', base, project(`bench-c-${i}`))).then(() => {}));
  const getsPerSecond = await rate(getCount, concurrency, i => expectOk(client.request('GET', `${base}/${createdProjectName(i)}`)).then(() => {}));

  // Fill up to listObjects projects, then time whole lists and lists paged by 500.
  await rate(Math.max(0, listObjects - createCount), concurrency, i => expectOk(client.request('POST', base, project(`bench-l-${i}`))).then(() => {}));
  const onePage: number[] = [];
  const paged: number[] = [];
  for (let r = 0; r < listRounds; r++) {
    let t = performance.now();
    const body = await expectOk(client.request('GET', base));
    const all = JSON.parse(body);
    onePage.push(performance.now() - t);
    if (all.items.length < listObjects) throw new Error(`listed ${all.items.length} of ${listObjects}`);
    // The peers' objects differ a little (defaults, finalizers, managedFields): the size says how much.
    if (r === 0) process.stderr.write(`bench: ${label}: ${all.items.length} projects listed in one page of ${Math.round(Buffer.byteLength(body) / 1024)} KiB\n`);
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
  const watchPath = `${base}?watch=true&resourceVersion=${rv}&labelSelector=bench-watch%3Dtrue`;
  const opened: ClientRequest[] = [];
  try {
    // Each is kept as soon as it is open, so that a failure to open one still closes the others.
    await Promise.all(Array.from({ length: watchers }, () => {
      let buf = '';
      return client.stream(watchPath, chunk => {
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
      }).then(req => { opened.push(req); });
    }));
    await rate(watchWrites, 4, async i => {
      const name = `bench-w-${i}`;
      sentAt.set(name, performance.now());
      const body = project(name);
      body.metadata.labels = { 'bench-watch': 'true' };
      await expectOk(client.request('POST', base, body));
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise(r => { timer = setTimeout(r, 60_000); })]);
    clearTimeout(timer);
  } finally {
    opened.forEach(r => r.destroy());
  }
  if (received < expected) throw new Error(`watchers received ${received} of ${expected} events`);

  return {
    client,
    figures: {
      createsPerSecond: round(createsPerSecond),
      getsPerSecond: round(getsPerSecond),
      concurrency,
      list10000: { onePageP50Ms: round(percentile(onePage, 50)), onePageP99Ms: round(percentile(onePage, 99)), pagedBy500P50Ms: round(percentile(paged, 50)), pagedBy500P99Ms: round(percentile(paged, 99)) },
      watch: { watchers, events: received, deliveryP50Ms: round(percentile(latencies, 50)), deliveryP99Ms: round(percentile(latencies, 99)) },
    },
  };
}
