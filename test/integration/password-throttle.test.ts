// The wrong-password throttle on a real PostgreSQL: two throttles on one database stand for two
// replicas, so guesses spread over replicas are counted once, and parallel guesses cannot slip
// past the lock before the first failure is recorded.
import assert from 'node:assert/strict';
import pg from 'pg';
import { PasswordThrottle } from '../../pkg/apis/auth/password.ts';
import { authGroup } from '../../pkg/apis/auth/index.ts';
import { migrate } from '../../pkg/storage/migrate.ts';
import { createTestDatabase } from '../support/postgres.ts';

describe('integration: password throttle shared by replicas', function () {
  this.timeout(60_000);
  let pool: pg.Pool;
  let now = 1_000_000;
  const clock = () => now;
  const here = '10.0.0.1';
  let replicaA: PasswordThrottle;
  let replicaB: PasswordThrottle;

  before(async () => {
    pool = new pg.Pool({ connectionString: await createTestDatabase(), max: 8 });
    // pg-pool's end() resolves before its sockets are closed; the test PostgreSQL stopping right
    // after may still reach a closing connection with an error nobody is waiting for.
    pool.on('error', () => undefined);
    await migrate(pool, { dirs: [authGroup.migrations!] });
    replicaA = new PasswordThrottle(pool, { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, windowMs: 60_000, now: clock });
    replicaB = new PasswordThrottle(pool, { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, windowMs: 60_000, now: clock });
  });
  after(async () => {
    await pool?.end();
  });

  it('counts failures seen by either replica, locks exponentially and forgives on success', async () => {
    assert.equal(await replicaA.attempt('default', 'alice', here), 0);
    assert.equal(await replicaB.attempt('default', 'alice', here), 0);
    assert.equal(await replicaA.attempt('default', 'alice', here), 0, 'the third failure is still checked, then locks');
    assert.equal(await replicaB.attempt('default', 'alice', here), 1, 'the other replica sees the lock');
    assert.equal(await replicaA.attempt('default', 'bob', here), 0, 'other accounts are untouched');
    assert.equal(await replicaA.attempt('other-tenant', 'alice', here), 0, 'so is the same name in another tenant');
    now += 1001;
    assert.equal(await replicaB.attempt('default', 'alice', here), 0);
    assert.equal(await replicaA.attempt('default', 'alice', here), 2, 'the lock-out doubles');
    now += 2001;
    await replicaA.attempt('default', 'alice', here);
    assert.equal(await replicaB.attempt('default', 'alice', here), 4);
    await replicaB.success('default', 'alice', here);
    assert.equal(await replicaA.attempt('default', 'alice', here), 0, 'a success forgives everything');
    await replicaA.success('default', 'alice', here);
  });

  it('bounds the lock-out and forgets failures after a quiet window', async () => {
    for (let i = 0; i < 40; i++) {
      await replicaA.attempt('default', 'carol', here);
      now += 9000;
    }
    assert.equal(await replicaA.attempt('default', 'carol', here), 0);
    assert.equal(await replicaA.attempt('default', 'carol', here), 8, 'never longer than maxDelayMs');
    now += 61_000;
    assert.equal(await replicaB.attempt('default', 'carol', here), 0);
    assert.equal(await replicaB.attempt('default', 'carol', here), 0, 'counting starts again after the window');
    await replicaB.forgetStale();
    const rows = await pool.query('SELECT count(*)::int AS n FROM auth_login_failures WHERE username = $1', ['carol']);
    assert.equal(rows.rows[0].n, 2, "recent counts are kept (the source's and that of unfamiliar sources)");
    now += 61_000;
    await replicaB.forgetStale();
    const gone = await pool.query('SELECT count(*)::int AS n FROM auth_login_failures WHERE username = $1', ['carol']);
    assert.equal(gone.rows[0].n, 0, 'a stale count is dropped');
  });

  it('lets exactly the free attempts through when 50 guesses arrive at once on two replicas', async () => {
    const waits = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? replicaA : replicaB).attempt('default', 'dave', here)));
    assert.equal(waits.filter(w => w === 0).length, 3, `checked: ${JSON.stringify(waits)}`);
    assert.ok(waits.filter(w => w > 0).every(w => w >= 1));
  });

  it('locks out the guessing address only: the user logs in from its own machine meanwhile', async () => {
    const attacker = '203.0.113.9';
    const home = '192.0.2.10';
    assert.equal(await replicaA.attempt('default', 'erin', home), 0);
    await replicaA.success('default', 'erin', home);
    for (let i = 0; i < 3; i++) assert.equal(await replicaA.attempt('default', 'erin', attacker), 0);
    assert.ok((await replicaB.attempt('default', 'erin', attacker)) > 0, 'the guessing address is locked out');
    assert.equal(await replicaB.attempt('default', 'erin', home), 0, "the user's own address is not");
    await replicaB.success('default', 'erin', home);
  });

  it('holds many unfamiliar addresses to one account-wide allowance, never the familiar ones', async () => {
    const throttle = new PasswordThrottle(pool, {
      freeFailures: 3,
      accountFreeFailures: 10,
      baseDelayMs: 1000,
      maxDelayMs: 8000,
      windowMs: 60_000,
      now: clock,
    });
    assert.equal(await throttle.attempt('default', 'frank', '192.0.2.20'), 0);
    await throttle.success('default', 'frank', '192.0.2.20');
    const botnet = Array.from({ length: 20 }, (_, i) => `198.51.100.${i}`);
    const waits = [];
    for (const ip of botnet) waits.push(await throttle.attempt('default', 'frank', ip));
    // The user's own first login, from an address unfamiliar then, took one of the ten.
    assert.equal(waits.filter(w => w === 0).length, 9, `only the account-wide allowance gets through: ${JSON.stringify(waits)}`);
    assert.ok((await throttle.attempt('default', 'frank', '198.51.100.200')) > 0, 'a new address meets the account-wide lock');
    assert.equal(await throttle.attempt('default', 'frank', '192.0.2.20'), 0, 'the address the user logged in from is not held to it');
  });

  it('does not count an attempt that could not be checked', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(await replicaA.attempt('default', 'gina', here), 0);
      await replicaA.release('default', 'gina', here);
    }
    assert.equal(await replicaB.attempt('default', 'gina', here), 0, 'released attempts left the allowance whole');
  });
});
