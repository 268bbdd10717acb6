// What the storage engines underneath do without an API server on top, at the same 32 clients:
// PostgreSQL committing an object row plus a change-log row per transaction (tables shaped like
// ours, a plain sequence for the revision: none of the storage layer's ordering), and etcd
// answering single-key range requests (linearizable, as kube-apiserver's GETs ask) through its
// JSON gateway. The gap to createsPerSecond / peer.getsPerSecond is the API servers' own cost.
import http from 'node:http';
import pg from 'pg';
import { rate } from './client.ts';

const clients = 32;
const pgTransactions = Number(process.env.BENCH_BASELINE_PG_TX ?? 10000);
const etcdRanges = Number(process.env.BENCH_BASELINE_ETCD_RANGES ?? 20000);

/** BEGIN, INSERT object, INSERT change, COMMIT, from 32 connections; transactions per second. */
export async function postgresInsertTxPerSecond(databaseUrl: string): Promise<number> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const conns: pg.Client[] = [];
  try {
    // LIKE ... INCLUDING ALL: the same columns, collations, keys and indexes as the storage's
    // tables, whatever later migrations make of them.
    await admin.query(`DROP SCHEMA IF EXISTS bench_baseline CASCADE;
      CREATE SCHEMA bench_baseline;
      CREATE TABLE bench_baseline.objects (LIKE public.objects INCLUDING ALL);
      CREATE TABLE bench_baseline.changes (LIKE public.changes INCLUDING ALL);
      CREATE SEQUENCE bench_baseline.rv`);
    // A project as the server stored it, so rows are as wide as the real ones.
    const sample = await admin.query<{ obj: unknown }>(`SELECT obj FROM public.objects WHERE resource = 'projects' LIMIT 1`);
    const obj = JSON.stringify(sample.rows[0]?.obj ?? { apiVersion: 'business.tkestack.io/v1', kind: 'Project', metadata: {}, spec: {} });
    for (let i = 0; i < clients; i++) {
      const c = new pg.Client({ connectionString: databaseUrl });
      conns.push(c);
      await c.connect();
    }
    const free = [...conns];
    const perSecond = await rate(pgTransactions, clients, async i => {
      const c = free.pop()!;
      try {
        await c.query('BEGIN');
        const { rows } = await c.query<{ rv: string }>(
          `INSERT INTO bench_baseline.objects (grp, resource, namespace, name, rv, obj)
          VALUES ('business.tkestack.io', 'projects', '', $1, nextval('bench_baseline.rv'), $2) RETURNING rv::text`,
          [`baseline-${i}`, obj],
        );
        await c.query(
          `INSERT INTO bench_baseline.changes (rv, grp, resource, namespace, name, type, obj, prev_rv)
          VALUES ($1, 'business.tkestack.io', 'projects', '', $2, 'ADDED', $3, NULL)`,
          [rows[0]!.rv, `baseline-${i}`, obj],
        );
        await c.query('COMMIT');
      } finally {
        free.push(c);
      }
    });
    await admin.query('DROP SCHEMA bench_baseline CASCADE');
    return perSecond;
  } finally {
    await Promise.all(conns.map(c => c.end().catch(() => {})));
    await admin.end();
  }
}

/** POST /v3/kv/range of one existing key each, from 32 connections; ranges per second. */
export async function etcdRangesPerSecond(etcdURL: string, key: (i: number) => string): Promise<number> {
  const url = new URL('/v3/kv/range', etcdURL);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const range = (k: string) =>
    new Promise<string>((ok, fail) => {
      const body = JSON.stringify({ key: Buffer.from(k).toString('base64') });
      const req = http.request(
        url,
        { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', c => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200) fail(new Error(`etcd range ${k}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
            else ok(text);
          });
        },
      );
      req.on('error', fail);
      req.end(body);
    });
  try {
    // The keys must exist, or this would time etcd answering "nothing there".
    const probe = JSON.parse(await range(key(0))) as { kvs?: unknown[] };
    if (probe.kvs?.length !== 1) throw new Error(`etcd has no key ${key(0)}: the peer stores projects elsewhere`);
    return await rate(etcdRanges, clients, async i => {
      await range(key(i));
    });
  } finally {
    agent.destroy();
  }
}
