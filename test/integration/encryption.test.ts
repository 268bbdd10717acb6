// Encryption at rest on a real PostgreSQL with two stores on one database standing for two
// replicas, one of which was given a newer key than the other: the replica without it cannot
// read what the other sealed, and that must end the watches of that resource with the error and
// fail those reads, while every other resource's watches and reads go on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FieldEncryption } from '../../pkg/storage/encryption.ts';
import type { ChangeEvent } from '../../pkg/storage/interface.ts';
import { openPostgresStore, type PostgresStore } from '../../pkg/storage/postgres.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

const GROUP = 'enc.test';
const fields = { [`${GROUP}/sealed`]: ['spec.password'] };
const k1 = { name: 'k1', secret: randomBytes(32) };
const k2 = { name: 'k2', secret: randomBytes(32) };
const key = (resource: string, name: string) => ({ group: GROUP, resource, namespace: '', name });

describe('integration: encryption at rest across replicas', function () {
  this.timeout(60_000);
  let behind: PostgresStore;
  let ahead: PostgresStore;

  before(async () => {
    const databaseUrl = await createTestDatabase();
    behind = await openPostgresStore({ databaseUrl, encryption: new FieldEncryption([k1], fields), pollIntervalMs: 100 });
    ahead = await openPostgresStore({ databaseUrl, encryption: new FieldEncryption([k2, k1], fields), pollIntervalMs: 100 });
  });
  after(async () => {
    await behind?.close();
    await ahead?.close();
  });

  it('both replicas read what the one with the old key sealed', async () => {
    await behind.transact(tx => tx.create(key('sealed', 'old'), { metadata: { name: 'old' }, spec: { password: 'one' } }));
    assert.equal((await ahead.get(key('sealed', 'old')))?.spec?.password, 'one');
    assert.equal((await behind.get(key('sealed', 'old')))?.spec?.password, 'one');
  });

  it('a change the replica cannot open ends its watches of that resource with the error, and nothing else', async () => {
    const from = await behind.currentRevision();
    const sealedErrors: Error[] = [];
    const otherEvents: ChangeEvent[] = [];
    const otherErrors: Error[] = [];
    const w1 = behind.watch({ group: GROUP, resource: 'sealed' }, { fromRV: from, onEvent: () => undefined, onError: e => sealedErrors.push(e) });
    const w2 = behind.watch({ group: GROUP, resource: 'plain' }, { fromRV: from, onEvent: e => otherEvents.push(e), onError: e => otherErrors.push(e) });
    try {
      await ahead.transact(tx => tx.create(key('sealed', 'new'), { metadata: { name: 'new' }, spec: { password: 'two' } }));
      await waitFor('the sealed watch to end', () => sealedErrors.length > 0 || undefined);
      assert.match(sealedErrors[0].message, /encryption key "k2", which this server was not given/);
      await assert.rejects(behind.get(key('sealed', 'new')), /was not given/);

      await ahead.transact(tx => tx.create(key('plain', 'p'), { metadata: { name: 'p' }, spec: { v: 1 } }));
      await waitFor('the other watch to go on', () => otherEvents.some(e => e.key.name === 'p') || undefined);
      assert.deepEqual(otherErrors, []);

      // A new watch from before the change reads the log and meets the same error.
      const again: Error[] = [];
      const w3 = behind.watch({ group: GROUP, resource: 'sealed' }, { fromRV: from, onEvent: () => undefined, onError: e => again.push(e) });
      await waitFor('the new watch to end', () => again.length > 0 || undefined);
      w3.stop();
      assert.match(again[0].message, /was not given/);
      assert.equal((await ahead.get(key('sealed', 'new')))?.spec?.password, 'two', 'the replica with the key reads it');
    } finally {
      w1.stop();
      w2.stop();
    }
  });
});
