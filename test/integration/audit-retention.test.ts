// The audit trail's retention on a real PostgreSQL: by age (--audit-log-maxage) and by count
// (--audit-log-maxevents), and what a caller sends is bounded before it is stored.
import assert from 'node:assert/strict';
import pg from 'pg';
import { AuditLog, type AuditRecord } from '../../pkg/apis/auth/audit.ts';
import { authGroup } from '../../pkg/apis/auth/index.ts';
import { migrate } from '../../pkg/storage/migrate.ts';
import { createTestDatabase } from '../support/postgres.ts';

describe('integration: audit retention', function () {
  this.timeout(60_000);
  let pool: pg.Pool;
  const record = (username: string): AuditRecord => ({
    tenantID: 'default',
    username,
    groups: [],
    verb: 'create',
    apiGroup: 'auth.tkestack.io',
    resource: 'apikeys',
    subresource: 'password',
    namespace: '',
    name: '',
    action: 'createApikeyPassword',
    tkeResource: 'apikey:*',
    decision: 'deny',
    reason: 'anonymous',
    code: 401,
  });
  const count = async () => (await pool.query('SELECT count(*)::int AS n FROM auth_audit_events')).rows[0].n as number;

  before(async () => {
    pool = new pg.Pool({ connectionString: await createTestDatabase(), max: 4 });
    pool.on('error', () => undefined);
    await migrate(pool, { dirs: [authGroup.migrations!] });
  });
  after(async () => {
    await pool?.end();
  });
  beforeEach(async () => {
    await pool.query('DELETE FROM auth_audit_events');
  });

  it('keeps the newest maxEvents events', async () => {
    const log = new AuditLog(pool, undefined, { maxAgeDays: 0, maxEvents: 5 });
    for (let i = 0; i < 20; i++) log.record(record(`u${i}`));
    await log.flush();
    assert.equal(await count(), 20);
    assert.equal(await log.prune(), 15);
    const left = (await pool.query('SELECT username FROM auth_audit_events ORDER BY id')).rows.map(r => r.username);
    assert.deepEqual(left, ['u15', 'u16', 'u17', 'u18', 'u19']);
  });

  it('drops events older than maxAgeDays', async () => {
    const log = new AuditLog(pool, undefined, { maxAgeDays: 30, maxEvents: 0 });
    for (let i = 0; i < 4; i++) log.record(record(`u${i}`));
    await log.flush();
    await pool.query(`UPDATE auth_audit_events SET at = now() - interval '31 days' WHERE username IN ('u0', 'u1')`);
    assert.equal(await log.prune(), 2);
    assert.equal(await count(), 2);
  });

  it('bounds the text a caller sends before storing it', async () => {
    const log = new AuditLog(pool, undefined, { maxAgeDays: 0, maxEvents: 0 });
    log.record({ ...record('x'.repeat(100_000)), groups: Array.from({ length: 1000 }, (_, i) => `g${i}`) });
    await log.flush();
    const row = (await pool.query('SELECT length(username) AS n, cardinality(groups) AS g FROM auth_audit_events')).rows[0];
    assert.ok(row.n <= 1025, `username stored with ${row.n} characters`);
    assert.ok(row.g <= 64, `${row.g} groups stored`);
  });
});
