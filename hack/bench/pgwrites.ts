// node --import tsx hack/bench/pgwrites.ts: what one project create costs PostgreSQL, without the
// API server: the message a create sends (BEGIN, the owner binding's write and the project's,
// COMMIT) from 32 connections, on an embedded PostgreSQL with our migrations. Variants show what
// the writers' queue (an advisory lock before the revision counter) and a NOTIFY per write cost.
// Prints transactions/s and PostgreSQL's CPU per transaction (all its processes, from /proc).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../pkg/storage/embedded.ts';
import { migrate } from '../../pkg/storage/migrate.ts';
import { FINAL_CREATE_SQL, NOTIFY_CHANNEL, QUEUE_FOR_REVISION } from '../../pkg/storage/postgres/sql.ts';
import { rate, round } from './client.ts';

const connections = 32;
const transactions = Number(process.env.BENCH_PG_WRITES ?? 8000);

/** CPU time of every postgres process, in ms (clock ticks of 10 ms). */
function postgresCpuMs(): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* gone meanwhile */
    }
  }
  return ticks * 10;
}

const statements = {
  queued: FINAL_CREATE_SQL,
  unqueued: FINAL_CREATE_SQL.replace(` AND ${QUEUE_FOR_REVISION}`, ''),
};
if (statements.unqueued === statements.queued) throw new Error('the create statement no longer queues writers as this bench expects');

const variants: Record<string, { statement: keyof typeof statements; notify: boolean }> = {
  'as built (queued, no NOTIFY)': { statement: 'queued', notify: false },
  'waiting on the counter row': { statement: 'unqueued', notify: false },
  'queued, NOTIFY per write': { statement: 'queued', notify: true },
};

const dir = mkdtempSync(join(tmpdir(), 'tke-pgwrites-'));
const db = await startEmbeddedPostgres(join(dir, 'postgres'));
const conns: pg.Client[] = [];
try {
  await migrate(db.databaseUrl);
  const object = JSON.stringify({
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: { name: 'p', uid: '0b6e1f6e-4f4f-4a5e-9a66-6b1d7d0a2c11', creationTimestamp: '2026-12-03T20:00:00Z', labels: { bench: 'true' } },
    spec: { tenantID: 'default', displayName: 'p', members: ['admin'] },
    status: { phase: 'Active' },
  });
  for (let i = 0; i < connections; i++) {
    const c = new pg.Client({ connectionString: db.databaseUrl });
    await c.connect();
    await c.query(
      Object.entries(statements)
        .map(([name, sql]) => `PREPARE ${name}(text, text, text, text, text) AS ${sql}`)
        .join('; '),
    );
    conns.push(c);
  }
  const free = [...conns];
  let n = 0;
  const results: Record<string, { perSecond: number; postgresCpuUsPerTx: number }> = {};
  // Twice each, alternating: the machine's noise shows as the difference between the two.
  for (const pass of [1, 2]) {
    for (const [label, v] of Object.entries(variants)) {
      const write = (c: pg.Client, resource: string, name: string) =>
        `EXECUTE ${v.statement}('bench', ${c.escapeLiteral(resource)}, '', ${c.escapeLiteral(name)}, ${c.escapeLiteral(object)})` +
        (v.notify ? `; SELECT pg_notify('${NOTIFY_CHANNEL}', 'bench')` : '');
      const cpuBefore = postgresCpuMs();
      const perSecond = await rate(transactions, connections, async () => {
        const c = free.pop()!;
        const i = n++;
        try {
          await c.query(`BEGIN; ${write(c, 'bindings', `b-${i}`)}; ${write(c, 'projects', `p-${i}`)}; COMMIT`);
        } finally {
          free.push(c);
        }
      });
      const cpuUs = ((postgresCpuMs() - cpuBefore) * 1000) / transactions;
      results[`${label} #${pass}`] = { perSecond: round(perSecond), postgresCpuUsPerTx: Math.round(cpuUs) };
      process.stderr.write(`pgwrites: ${label}: ${round(perSecond)} tx/s, ${Math.round(cpuUs)} us of PostgreSQL CPU each\n`);
    }
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
} finally {
  await Promise.all(conns.map(c => c.end().catch(() => {})));
  await db.stop();
  rmSync(dir, { recursive: true, force: true });
}
