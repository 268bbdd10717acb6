// The PostgreSQL store against a real PostgreSQL: CRUD, transactions, consistent paging,
// compaction, and the watch invariant under concurrent writers in two "processes".
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import {
  StorageError,
  StorageValueError,
  type ChangeEvent,
  type KeyPrefix,
  type ObjectKey,
  type Store,
  type Transaction,
  type StorageErrorCode,
} from '../../pkg/storage/interface.ts';
import { migrate } from '../../pkg/storage/migrate.ts';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../pkg/storage/postgres.ts';
import { createTestDatabase } from '../support/postgres.ts';

const GROUP = 'test.tkestack.io';

function key(resource: string, namespace: string, name: string): ObjectKey {
  return { group: GROUP, resource, namespace, name };
}

function object(name: string, namespace: string, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: `${GROUP}/v1`, kind: 'Thing', metadata: namespace ? { name, namespace } : { name }, spec };
}

async function rejectsWith(p: Promise<unknown>, code: StorageErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StorageError, `expected StorageError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

async function eventually(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Recorder {
  events: ChangeEvent[];
  errors: Error[];
  progress: bigint;
  stop(): void;
}

/** Watches and records, asserting the invariant on every event as it arrives. */
function record(store: Store, prefix: KeyPrefix, fromRV: bigint): Recorder {
  const rec: Recorder = { events: [], errors: [], progress: fromRV, stop: () => {} };
  let last = fromRV;
  const w = store.watch(prefix, {
    fromRV,
    onEvent: e => {
      assert.ok(e.rv > last, `revision ${e.rv} delivered after ${last}`);
      last = e.rv;
      assert.equal(e.object.metadata.resourceVersion, e.rv.toString());
      assert.equal(e.key.group, prefix.group);
      assert.equal(e.key.resource, prefix.resource);
      if (prefix.namespace) assert.equal(e.key.namespace, prefix.namespace);
      rec.events.push(e);
    },
    onError: err => rec.errors.push(err),
    onProgress: rv => {
      assert.ok(rv >= rec.progress, 'progress went backwards');
      rec.progress = rv;
    },
  });
  rec.stop = () => w.stop();
  return rec;
}

/** Replays events into the state they describe, keyed by namespace/name. */
function replay(events: ChangeEvent[], into = new Map<string, KubeObject>()): Map<string, KubeObject> {
  for (const e of events) {
    const k = `${e.key.namespace}/${e.key.name}`;
    if (e.type === 'DELETED') {
      assert.ok(into.has(k), `DELETED ${k} at ${e.rv} for an object the watcher never saw`);
      into.delete(k);
    } else {
      assert.equal(into.has(k), e.type === 'MODIFIED', `${e.type} ${k} at ${e.rv}`);
      into.set(k, e.object);
    }
  }
  return into;
}

function byKey(items: KubeObject[]): Map<string, KubeObject> {
  return new Map(items.map(o => [`${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
}

async function open(databaseUrl: string, opts: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  return openPostgresStore({ databaseUrl, compactionIntervalMs: 0, ...opts });
}

describe('storage: PostgreSQL store', function () {
  let url: string;
  let store: PostgresStore;

  before(async () => {
    url = await createTestDatabase();
    store = await open(url);
  });
  after(async () => {
    await store?.close();
  });

  describe('migrations', () => {
    it('are recorded once and safe to run concurrently', async () => {
      const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
      assert.deepEqual(results.flat(), [], 'everything was applied when the store opened');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const r = await c.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY version');
        assert.ok(r.rows.some(row => row.name === '001_storage.sql'));
        assert.equal(new Set(r.rows.map(row => row.name)).size, r.rows.length);
      } finally {
        await c.end();
      }
    });

    it('apply concurrently to a fresh database exactly once', async () => {
      const fresh = await createTestDatabase();
      const results = await Promise.all([migrate(fresh), migrate(fresh), migrate(fresh)]);
      assert.equal(results.flat().filter(n => n === '001_storage.sql').length, 1);
    });
  });

  describe('objects', () => {
    it('creates, reads, updates and deletes with the right revisions and errors', async () => {
      const k = key('crud', 'ns1', 'a');
      const before = await store.currentRevision();
      const created = await store.transact(tx => tx.create(k, object('a', 'ns1', { n: 1 })));
      const rv1 = BigInt(created.metadata.resourceVersion!);
      assert.equal(rv1, before + 1n);
      assert.equal(await store.currentRevision(), rv1);

      const got = await store.get(k);
      assert.deepEqual(got, created);
      assert.deepEqual(Object.keys(got!), ['apiVersion', 'kind', 'metadata', 'spec'], 'Kubernetes field order');

      await rejectsWith(
        store.transact(tx => tx.create(k, object('a', 'ns1'))),
        'AlreadyExists',
      );
      await rejectsWith(
        store.transact(tx => tx.update(key('crud', 'ns1', 'missing'), object('missing', 'ns1'))),
        'NotFound',
      );
      await rejectsWith(
        store.transact(tx => tx.delete(key('crud', 'ns1', 'missing'))),
        'NotFound',
      );
      await rejectsWith(
        store.transact(tx => tx.update(k, object('a', 'ns1', { n: 2 }), (rv1 + 1000n).toString())),
        'Conflict',
      );
      assert.equal(await store.currentRevision(), rv1, 'failed writes take no revision');

      const updated = await store.transact(tx => tx.update(k, { ...created, spec: { n: 2 } }, created.metadata.resourceVersion));
      assert.equal(updated.metadata.resourceVersion, (rv1 + 1n).toString());
      // No expected revision: unconditional.
      const updated2 = await store.transact(tx => tx.update(k, { ...updated, spec: { n: 3 } }));
      assert.equal((await store.get(k))?.spec?.n, 3);

      await rejectsWith(
        store.transact(tx => tx.delete(k, created.metadata.resourceVersion)),
        'Conflict',
      );
      const deleted = await store.transact(tx => tx.delete(k, updated2.metadata.resourceVersion));
      assert.equal(deleted.metadata.resourceVersion, (rv1 + 3n).toString(), 'deletion carries its own revision');
      assert.deepEqual(deleted.spec, { n: 3 }, 'and the last state');
      assert.equal(await store.get(k), undefined);
      await rejectsWith(
        store.transact(tx => tx.delete(k)),
        'NotFound',
      );
    });

    it('keeps cluster-scoped and namespaced keys apart and lists by prefix', async () => {
      await store.transact(async tx => {
        await tx.create(key('scoped', '', 'x'), object('x', ''));
        await tx.create(key('scoped', 'a', 'x'), object('x', 'a'));
        await tx.create(key('scoped', 'b', 'x'), object('x', 'b'));
        await tx.create(key('scoped', 'b', 'y'), object('y', 'b'));
        await tx.create(key('other', 'b', 'z'), object('z', 'b'));
      });
      const all = await store.list({ group: GROUP, resource: 'scoped' });
      assert.deepEqual(
        all.items.map(o => `${o.metadata.namespace ?? ''}/${o.metadata.name}`),
        ['/x', 'a/x', 'b/x', 'b/y'],
      );
      const b = await store.list({ group: GROUP, resource: 'scoped', namespace: 'b' });
      assert.deepEqual(
        b.items.map(o => o.metadata.name),
        ['x', 'y'],
      );
      assert.equal(b.rv, await store.currentRevision());
      const inTx = await store.transact(tx => tx.list({ group: GROUP, resource: 'scoped' }, { filter: o => o.metadata.name === 'x' }));
      assert.equal(inTx.length, 3);
    });

    it('tells what a set holds now and what in it was written since a revision, in one snapshot', async () => {
      const k = (n: string) => key('since', 'n', n);
      await store.transact(async tx => {
        for (const n of ['a', 'b', 'c']) await tx.create(k(n), object(n, 'n'));
      });
      const since = await store.currentRevision();
      const none = await store.transact(tx => tx.listChanged({ group: GROUP, resource: 'since', namespace: 'n' }, since));
      assert.deepEqual(none, { count: 3, changed: [] });
      const b = await store.get(k('b'));
      await store.transact(async tx => {
        await tx.update(k('b'), { ...b!, spec: { v: 2 } });
        await tx.delete(k('c'));
        await tx.create(k('d'), object('d', 'n'));
      });
      const later = await store.transact(tx =>
        tx.listChanged({ group: GROUP, resource: 'since', namespace: 'n' }, since, { pick: ['metadata.name', 'spec.v'] }),
      );
      assert.equal(later.count, 3);
      assert.deepEqual(later.changed, [{ metadata: { name: 'b' }, spec: { v: 2 } }, { metadata: { name: 'd' } }]);
      const empty = await store.transact(tx => tx.listChanged({ group: GROUP, resource: 'since', namespace: 'none' }, 0n));
      assert.deepEqual(empty, { count: 0, changed: [] });
      const written = await store.transact(async tx => {
        const before = tx.hasWritten;
        await tx.lock('since-lock');
        const afterLock = tx.hasWritten;
        await tx.create(k('e'), object('e', 'n'));
        return [before, afterLock, tx.hasWritten];
      });
      assert.deepEqual(written, [false, false, true]);
    });

    it('reads only the picked paths of each object when asked to', async () => {
      await store.transact(async tx => {
        await tx.create(key('picked', 'n', 'p1'), {
          metadata: { name: 'p1', namespace: 'n', labels: { a: 'b' } },
          spec: { hard: { cpu: '1' }, clusterName: 'c1', other: 'x' },
        });
        await tx.create(key('picked', 'n', 'p2'), { metadata: { name: 'p2', namespace: 'n' }, spec: { clusterName: 'c2' } });
      });
      const picked = await store.transact(tx =>
        tx.list(
          { group: GROUP, resource: 'picked', namespace: 'n' },
          {
            pick: ['metadata.name', 'spec.hard', 'spec.clusterName'],
            filter: o => o.spec?.clusterName === 'c1' || o.metadata.name === 'p2',
          },
        ),
      );
      assert.deepEqual(picked, [
        { metadata: { name: 'p1' }, spec: { hard: { cpu: '1' }, clusterName: 'c1' } },
        { metadata: { name: 'p2' }, spec: { clusterName: 'c2' } },
      ]);
    });

    it('serialises read-modify-write through expected revisions', async () => {
      const k = key('occ', '', 'counter');
      await store.transact(tx => tx.create(k, object('counter', '', { n: 0 })));
      // Ten clients read the same revision; exactly one update may win.
      const seen = (await store.get(k))!;
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.transact(tx => tx.update(k, { ...seen, spec: { n: i } }, seen.metadata.resourceVersion))),
      );
      assert.equal(outcomes.filter(o => o.status === 'fulfilled').length, 1);
      for (const o of outcomes) if (o.status === 'rejected') assert.equal((o.reason as StorageError).code, 'Conflict');

      // With retry on Conflict, every increment lands.
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          for (;;) {
            const cur = (await store.get(k))!;
            try {
              await store.transact(tx => tx.update(k, { ...cur, spec: { n: (cur.spec!.n as number) + 1 } }, cur.metadata.resourceVersion));
              return;
            } catch (err) {
              if (!(err instanceof StorageError && err.code === 'Conflict')) throw err;
            }
          }
        }),
      );
      const winner = outcomes.findIndex(o => o.status === 'fulfilled');
      assert.equal((await store.get(k))!.spec!.n, winner + 10);
    });
  });

  describe('transactions', () => {
    it('roll back entirely when fn throws', async () => {
      const existing = await store.transact(tx => tx.create(key('rb', '', 'existing'), object('existing', '', { v: 1 })));
      const before = await store.currentRevision();
      await assert.rejects(
        store.transact(async tx => {
          await tx.create(key('rb', '', 'new'), object('new', ''));
          await tx.update(key('rb', '', 'existing'), { ...existing, spec: { v: 2 } });
          await tx.delete(key('rb', '', 'existing'));
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await store.currentRevision(), before);
      assert.equal(await store.get(key('rb', '', 'new')), undefined);
      assert.deepEqual((await store.get(key('rb', '', 'existing')))?.spec, { v: 1 });
      const next = await store.transact(tx => tx.create(key('rb', '', 'after'), object('after', '')));
      assert.equal(next.metadata.resourceVersion, (before + 1n).toString(), 'the rolled-back revisions are reused: no gap');
    });

    it('stay usable after a StorageError the caller handles', async () => {
      const k = key('handled', '', 'name');
      await store.transact(tx => tx.create(k, object('name', '')));
      const made = await store.transact(async tx => {
        try {
          return await tx.create(k, object('name', ''));
        } catch (err) {
          assert.ok(err instanceof StorageError && err.code === 'AlreadyExists');
          return tx.create(key('handled', '', 'name-2'), object('name-2', ''));
        }
      });
      assert.equal(made.metadata.name, 'name-2');
      assert.ok(await store.get(key('handled', '', 'name-2')));
    });

    it('assigns increasing revisions to several writes in one transaction', async () => {
      const before = await store.currentRevision();
      const out = await store.transact(async tx =>
        Promise.all([
          tx.create(key('multi', '', 'a'), object('a', '')),
          tx.create(key('multi', '', 'b'), object('b', '')),
          tx.create(key('multi', '', 'c'), object('c', '')),
        ]),
      );
      assert.deepEqual(
        out.map(o => o.metadata.resourceVersion),
        [1n, 2n, 3n].map(d => (before + d).toString()),
      );
    });

    it('commit with a final write, and a final write that fails commits nothing', async () => {
      const before = await store.currentRevision();
      const made = await store.transact(async tx => {
        await tx.create(key('final', '', 'first'), object('first', ''));
        return tx.create(key('final', '', 'second'), object('second', ''), { final: true });
      });
      assert.equal(made.metadata.resourceVersion, (before + 2n).toString());
      assert.ok(await store.get(key('final', '', 'second')));
      // The final create of a key that exists fails the whole transaction, the write before it too.
      await rejectsWith(
        store.transact(async tx => {
          await tx.create(key('final', '', 'third'), object('third', ''));
          return tx.create(key('final', '', 'second'), object('second', ''), { final: true });
        }),
        'AlreadyExists',
      );
      assert.equal(await store.get(key('final', '', 'third')), undefined);
      assert.equal(await store.currentRevision(), before + 2n, 'no revision was taken for good');
      // Nothing runs in a transaction after its final write.
      await assert.rejects(
        store.transact(async tx => {
          await tx.update(key('final', '', 'first'), object('first', '', { v: 2 }), undefined, { final: true });
          await tx.get(key('final', '', 'first'));
        }),
        /already finished/,
      );
      const updated = await store.get(key('final', '', 'first'));
      assert.deepEqual(updated?.spec, { v: 2 }, 'the final update committed before the refused read');
      const gone = await store.transact(tx => tx.delete(key('final', '', 'first'), updated!.metadata.resourceVersion, { final: true }));
      assert.equal(gone.metadata.name, 'first');
      assert.equal(await store.get(key('final', '', 'first')), undefined);
    });

    it('send queued writes with the next statement or the final write, in call order, all or nothing', async () => {
      const rvOf = async (name: string) => BigInt((await store.get(key('queued', '', name)))!.metadata.resourceVersion!);
      await store.transact(tx => tx.create(key('queued', '', 'existing'), object('existing', '')));
      const before = await store.currentRevision();
      const existing = await store.get(key('queued', '', 'existing'));
      const made = await store.transact(async tx => {
        await tx.createLater(key('queued', '', 'a'), object('a', ''));
        await tx.updateLater(key('queued', '', 'existing'), object('existing', '', { v: 2 }), existing!.metadata.resourceVersion);
        assert.ok(tx.hasWritten);
        return tx.create(key('queued', '', 'final'), object('final', ''), { final: true });
      });
      assert.deepEqual([await rvOf('a'), await rvOf('existing'), await rvOf('final')], [before + 1n, before + 2n, before + 3n]);
      assert.equal(made.metadata.resourceVersion, (before + 3n).toString());
      assert.deepEqual((await store.get(key('queued', '', 'existing')))?.spec, { v: 2 });

      // A read sees what was queued before it; a transaction without a final write sends them before COMMIT.
      await store.transact(async tx => {
        await tx.createLater(key('queued', '', 'b'), object('b', ''));
        assert.ok(await tx.get(key('queued', '', 'b')), 'the queued create was sent before the read');
        await tx.createLater(key('queued', '', 'c'), object('c', ''));
      });
      assert.ok(await store.get(key('queued', '', 'c')));

      // Refused at once when the transaction knows better; a final write that fails takes the queued ones with it.
      const current = await store.currentRevision();
      await rejectsWith(
        store.transact(async tx => {
          await tx.createLater(key('queued', '', 'd'), object('d', ''));
          await tx.createLater(key('queued', '', 'd'), object('d', ''));
        }),
        'AlreadyExists',
      );
      await rejectsWith(
        store.transact(async tx => {
          await tx.createLater(key('queued', '', 'd'), object('d', ''));
          return tx.create(key('queued', '', 'final'), object('final', ''), { final: true });
        }),
        'AlreadyExists',
      );
      await rejectsWith(
        store.transact(tx => tx.updateLater(key('queued', '', 'existing'), object('existing', ''), existing!.metadata.resourceVersion)),
        'Conflict',
      );
      await rejectsWith(
        store.transact(tx => tx.updateLater(key('queued', '', 'nobody'), object('nobody', ''))),
        'NotFound',
      );
      assert.equal(await store.get(key('queued', '', 'd')), undefined);
      assert.equal(await store.currentRevision(), current, 'nothing was written');

      // A key another transaction creates meanwhile runs the transaction again, which then sees it.
      let attempts = 0;
      const other = await open(url);
      try {
        await store.transact(async tx => {
          attempts++;
          const e = key('queued', '', 'raced');
          if (await tx.get(e)) {
            await tx.updateLater(e, object('raced', '', { by: 'retry' }));
          } else {
            await tx.createLater(e, object('raced', '', { by: 'first attempt' }));
            await other.transact(t => t.create(e, object('raced', '', { by: 'other' })));
          }
          return tx.create(key('queued', '', `after-race-${attempts}`), object('x', ''), { final: true });
        });
      } finally {
        await other.close();
      }
      assert.equal(attempts, 2);
      assert.deepEqual((await store.get(key('queued', '', 'raced')))?.spec, { by: 'retry' });
      assert.equal(await store.get(key('queued', '', 'after-race-1')), undefined, 'the first attempt committed nothing');
      assert.ok(await store.get(key('queued', '', 'after-race-2')));
    });

    it('presume a key absent without reading it, and run again to read it when it exists after all', async () => {
      const k = (name: string) => key('presumed', '', name);
      // The usual case: nothing is read, the create proves the absence, one attempt.
      let attempts = 0;
      await store.transact(async tx => {
        attempts++;
        assert.equal(await tx.getPresumedAbsent(k('new')), undefined);
        await tx.createLater(k('new'), object('new', '', { v: 1 }));
        return tx.create(k('new-final'), object('new-final', ''), { final: true });
      });
      assert.equal(attempts, 1);
      assert.deepEqual((await store.get(k('new')))?.spec, { v: 1 });

      // It exists: the queued create (or a final one, or a plain one) fails the attempt, and the
      // next attempt reads it, locked, and updates it instead.
      const creates: Array<(tx: Transaction, name: string) => Promise<unknown>> = [
        (tx, name) => tx.createLater(k(name), object(name, '', { v: 'created' })),
        (tx, name) => tx.create(k(name), object(name, '', { v: 'created' }), { final: true }),
        (tx, name) => tx.create(k(name), object(name, '', { v: 'created' })),
      ];
      for (const [i, create] of creates.entries()) {
        const name = `existing-${i}`;
        await store.transact(tx => tx.create(k(name), object(name, '', { v: 'before' })));
        const seen: unknown[] = [];
        await store.transact(async tx => {
          const current = await tx.getPresumedAbsent(k(name));
          seen.push(current?.spec);
          if (current) return tx.update(k(name), object(name, '', { v: 'updated' }), current.metadata.resourceVersion, { final: true });
          return create(tx, name);
        });
        assert.deepEqual(seen, [undefined, { v: 'before' }], `create ${i}: the second attempt read it`);
        assert.deepEqual((await store.get(k(name)))?.spec, { v: 'updated' });
      }

      // Not created by the transaction: the key is read at commit, and its existence runs the transaction again.
      await store.transact(tx => tx.create(k('other'), object('other', '')));
      const seen: unknown[] = [];
      const current = await store.currentRevision();
      await store.transact(async tx => {
        seen.push(await tx.getPresumedAbsent(k('other')));
        await tx.createLater(k(`side-${seen.length}`), object('side', ''));
      });
      assert.equal(seen.length, 2);
      assert.equal(seen[0], undefined);
      assert.equal((seen[1] as KubeObject).metadata.name, 'other');
      assert.equal(await store.get(k('side-1')), undefined, 'the first attempt committed nothing');
      assert.ok(await store.get(k('side-2')));
      assert.equal(await store.currentRevision(), current + 1n);
      // And a key that is indeed absent costs that one read only.
      await store.transact(async tx => {
        assert.equal(await tx.getPresumedAbsent(k('nobody')), undefined);
      });
      assert.equal(await store.get(k('nobody')), undefined);
    });

    it('send BEGIN with their first statement, whose parameters mean what they would as parameters', async () => {
      const odd = `it's \\ "quoted", {braced} -- not a comment; ünïcödé \u{1F600}`;
      const k = key('inline', 'ns', odd);
      // Each of these is a transaction's first statement: the one that carries BEGIN.
      await store.transact(tx => tx.create(k, object(odd, 'ns', { v: odd, [odd]: 'yes' }), { final: true }));
      assert.deepEqual((await store.transact(tx => tx.get(k)))?.spec, { v: odd, [odd]: 'yes' });
      // The path is an array parameter: its elements quoted and escaped inside the array literal.
      const byOddPath = await store.transact(tx => tx.list({ group: GROUP, resource: 'inline', namespace: 'ns' }, { fields: { [`spec.${odd}`]: 'yes' } }));
      assert.equal(byOddPath.length, 1);
      const listed = await store.transact(tx => tx.list({ group: GROUP, resource: 'inline', namespace: 'ns' }, { fields: { 'spec.v': odd } }));
      assert.deepEqual(
        listed.map(o => o.metadata.name),
        [odd],
      );
      const picked = await store.transact(tx => tx.list({ group: GROUP, resource: 'inline', namespace: 'ns' }, { pick: ['spec.v', 'metadata.name'] }));
      assert.equal(picked[0]?.metadata.name, odd);
      await store.transact(async tx => {
        await tx.lock(odd);
        await tx.lock(odd);
      });
      // A NUL cannot be in a statement's text; it is refused as the database refuses it, and nothing is written.
      const before = await store.currentRevision();
      await assert.rejects(
        store.transact(async tx => {
          await tx.get(key('inline', 'ns', 'a\u0000b'));
          await tx.create(key('inline', 'ns', 'after'), object('after', 'ns'));
        }),
        (err: unknown) => err instanceof StorageValueError && err.code === 'Invalid',
      );
      assert.equal(await store.currentRevision(), before);
      // A transaction that sent nothing commits nothing, and the connection stays usable.
      assert.equal(await store.transact(async () => 42), 42);
      assert.ok(await store.transact(tx => tx.get(k)));
    });

    it('lock(name) serialises check-then-write across transactions', async () => {
      const prefix = { group: GROUP, resource: 'unique' };
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          store.transact(async tx => {
            await tx.lock('unique:singleton');
            const existing = await tx.list(prefix);
            if (existing.length > 0) throw new StorageError('AlreadyExists', 'taken');
            await sleep(5);
            return tx.create(key('unique', '', `holder-${i}`), object(`holder-${i}`, ''));
          }),
        ),
      );
      assert.equal(results.filter(r => r.status === 'fulfilled').length, 1);
      assert.equal((await store.list(prefix)).items.length, 1);
    });

    it('does not deadlock when lockers and writers cross', async () => {
      const a = key('cross', '', 'a');
      const b = key('cross', '', 'b');
      await store.transact(async tx => {
        await tx.create(a, object('a', '', { n: 0 }));
        await tx.create(b, object('b', '', { n: 0 }));
      });
      const bump = async (first: ObjectKey, second: ObjectKey) =>
        store.transact(async tx => {
          const x = (await tx.get(first, { forUpdate: true }))!;
          await tx.update(first, { ...x, spec: { n: (x.spec!.n as number) + 1 } });
          const y = (await tx.get(second, { forUpdate: true }))!;
          await tx.update(second, { ...y, spec: { n: (y.spec!.n as number) + 1 } });
        });
      const started = Date.now();
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? bump(a, b) : bump(b, a))));
      assert.ok(Date.now() - started < 5000, 'no deadlock-detector stalls');
      assert.equal((await store.get(a))!.spec!.n, 20);
      assert.equal((await store.get(b))!.spec!.n, 20);
    });
  });

  describe('list paging', () => {
    const prefix = { group: GROUP, resource: 'paged' };
    const name = (i: number) => `obj-${String(i).padStart(3, '0')}`;

    it("yields every object of the first page's revision exactly once under concurrent writes", async () => {
      await store.transact(async tx => {
        for (let i = 0; i < 200; i++) await tx.create(key('paged', i % 2 ? 'odd' : 'even', name(i)), object(name(i), i % 2 ? 'odd' : 'even', { gen: 0 }));
      });
      const first = await store.list(prefix, { limit: 17 });
      assert.equal(first.items.length, 17);
      assert.ok(first.continue);
      assert.equal(first.remainingItemCount, 183);
      const R = first.rv;

      // Writers change the resource while the pages are read: deletes, updates, and creates
      // that sort both before and after the current page position.
      let stop = false;
      let writes = 0;
      const writer = (async () => {
        let i = 0;
        while (!stop) {
          const n = (i * 37) % 200;
          const ns = n % 2 ? 'odd' : 'even';
          await store.transact(async tx => {
            const cur = await tx.get(key('paged', ns, name(n)), { forUpdate: true });
            if (cur && i % 3 === 0) await tx.delete(key('paged', ns, name(n)));
            else if (cur) await tx.update(key('paged', ns, name(n)), { ...cur, spec: { gen: i } });
            await tx.create(key('paged', ns, `${name(n)}-new-${i}`), object(`${name(n)}-new-${i}`, ns));
          });
          writes++;
          i++;
          await sleep(1);
        }
      })();

      const items = [...first.items];
      let token: string | undefined = first.continue;
      let pages = 1;
      while (token) {
        const page = await store.list(prefix, { limit: 17, continue: token });
        assert.equal(page.rv, R);
        items.push(...page.items);
        token = page.continue;
        pages++;
        await sleep(3);
      }
      stop = true;
      await writer;
      assert.ok(writes > 5, `writers made progress during paging (${writes})`);
      assert.equal(pages, Math.ceil(200 / 17));
      const names = items.map(o => `${o.metadata.namespace}/${o.metadata.name}`);
      assert.equal(new Set(names).size, 200, 'no duplicates');
      assert.deepEqual(names, [...names].sort(), 'ordered by namespace, name');
      for (const o of items) {
        assert.ok(BigInt(o.metadata.resourceVersion!) <= R);
        assert.deepEqual(o.spec, { gen: 0 }, 'state as of the first page');
      }

      // The same snapshot, read in one go, matches; the current state does not.
      const whole = await store.list(prefix, { atRevision: R });
      assert.deepEqual(whole.items, items);
      const now = await store.list(prefix);
      assert.notDeepEqual(
        now.items.map(o => o.metadata.name),
        whole.items.map(o => o.metadata.name),
      );
    });

    it('reads continue pages from the current table and the log for exactly the keys written since', async () => {
      const db = await createTestDatabase();
      const s = await open(db);
      try {
        const mixed = { group: GROUP, resource: 'mixed' };
        const k = (n: string) => key('mixed', 'ns', n);
        const put = (n: string, spec: Record<string, unknown>) =>
          s.transact(async tx => {
            const cur = await tx.get(k(n), { forUpdate: true });
            return cur ? tx.update(k(n), { ...cur, spec }) : tx.create(k(n), object(n, 'ns', spec));
          });
        const del = (n: string) => s.transact(tx => tx.delete(k(n)));
        // More keys than one chunk read (100 rows), so pages are cut inside chunks and across them.
        const nm = (i: number) => `k${String(i).padStart(3, '0')}`;
        await s.transact(async tx => {
          for (let i = 0; i < 250; i++) await tx.create(k(nm(i)), object(nm(i), 'ns', { v: 0 }));
        });
        await del(nm(249));
        await put(nm(248), { v: 1 });
        // The same namespace and name in a resource that sorts just before this one: a key
        // created here after R must not be mistaken for it.
        await s.transact(tx => tx.create(key('mixea', 'ns', 'a-first'), object('a-first', 'ns', { v: 'other resource' })));
        const first = await s.list(mixed, { limit: 7 });
        const R = first.rv;
        const atR = (await s.list(mixed, { atRevision: R })).items;
        assert.equal(atR.length, 249);

        // After R, all over the range: updated twice, deleted, deleted and re-created, created
        // and kept, created and deleted again; the rest untouched.
        for (const i of [1, 99, 100, 101, 150, 200]) {
          await put(nm(i), { v: 1 });
          await put(nm(i), { v: 2 });
        }
        for (const i of [4, 98, 102, 199]) await del(nm(i));
        for (const i of [7, 103, 201]) {
          await del(nm(i));
          await put(nm(i), { v: 'again' });
        }
        for (const i of [8, 99, 104, 230]) await put(`${nm(i)}a`, { v: 'new' });
        for (const i of [10, 105]) {
          await put(`${nm(i)}a`, { v: 'gone' });
          await del(`${nm(i)}a`);
        }
        await put(nm(249), { v: 'back' });
        await put('a-first', { v: 'new' });
        await s.transact(tx => tx.create(key('mixed', 'other', 'x'), object('x', 'other')));

        const pageThrough = async () => {
          const items = [...first.items];
          for (let token = first.continue; token; ) {
            const page = await s.list(mixed, { limit: 7, continue: token });
            assert.equal(page.rv, R);
            items.push(...page.items);
            token = page.continue;
          }
          return items;
        };
        assert.deepEqual(await pageThrough(), atR, 'the pages are the snapshot at R');
        assert.deepEqual((await s.list(mixed, { atRevision: R })).items, atR, 'so is one read of R');
        assert.deepEqual(
          atR.map(o => o.metadata.name),
          Array.from({ length: 249 }, (_, i) => nm(i)),
        );
        assert.ok(atR.every(o => isDeepStrictEqual(o.spec, { v: o.metadata.name === nm(248) ? 1 : 0 })));

        // Compacted up to R: the entries the snapshot needs are still there.
        await s.compact({ retainRevisions: Number((await s.currentRevision()) - R) });
        assert.deepEqual(await pageThrough(), atR, 'unchanged after compacting to R');
      } finally {
        await s.close();
      }
    });

    it('applies the filter before the limit', async () => {
      const even = (o: KubeObject) => o.metadata.namespace === 'even' && !o.metadata.name!.includes('-new-');
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.list(prefix, { limit: 10, continue: token, filter: even });
        assert.ok(page.items.length <= 10);
        assert.ok(page.items.every(even));
        if (page.continue) assert.equal(page.items.length, 10, 'a non-final page is full');
        seen.push(...page.items.map(o => o.metadata.name!));
        token = page.continue;
        pages++;
      } while (token);
      const expected = (await store.list(prefix, { filter: even })).items.map(o => o.metadata.name!);
      assert.deepEqual(seen, expected);
      assert.ok(pages >= Math.ceil(expected.length / 10));
    });

    it('waits for a revision that has not committed yet', async () => {
      const next = (await store.currentRevision()) + 1n;
      const pending = store.list(prefix, { atRevision: next });
      await sleep(100);
      await store.transact(tx => tx.create(key('elsewhere', '', 'x'), object('x', '')));
      const r = await pending;
      assert.equal(r.rv, next);
    });

    it('rejects garbage and foreign continue tokens', async () => {
      await rejectsWith(store.list(prefix, { limit: 5, continue: 'not a token!' }), 'InvalidContinue');
      await rejectsWith(store.list(prefix, { limit: 5, continue: Buffer.from('{"v":1}').toString('base64') }), 'InvalidContinue');
      const page = await store.list(prefix, { limit: 5 });
      await rejectsWith(store.list({ group: GROUP, resource: 'scoped' }, { limit: 5, continue: page.continue }), 'InvalidContinue');
    });
  });

  describe('watch', () => {
    it('delivers every later change once, in order, across store instances', async () => {
      const other = await open(url);
      try {
        const prefix = { group: GROUP, resource: 'watched' };
        await store.transact(tx => tx.create(key('watched', 'a', 'pre'), object('pre', 'a', { v: 0 })));
        const from = await store.currentRevision();
        const all = record(other, prefix, from);
        const onlyA = record(other, { ...prefix, namespace: 'a' }, from);

        const x = await store.transact(tx => tx.create(key('watched', 'a', 'x'), object('x', 'a', { v: 1 })));
        await store.transact(tx => tx.create(key('watched', 'b', 'y'), object('y', 'b', { v: 1 })));
        await store.transact(tx => tx.create(key('unwatched', 'a', 'z'), object('z', 'a')));
        const x2 = await store.transact(tx => tx.update(key('watched', 'a', 'x'), { ...x, spec: { v: 2 } }, x.metadata.resourceVersion));
        const gone = await store.transact(tx => tx.delete(key('watched', 'a', 'pre')));
        const last = await store.currentRevision();

        await eventually('watchers to catch up', () => all.progress >= last && onlyA.progress >= last);
        assert.deepEqual(
          all.events.map(e => `${e.type} ${e.key.namespace}/${e.key.name}`),
          ['ADDED a/x', 'ADDED b/y', 'MODIFIED a/x', 'DELETED a/pre'],
        );
        assert.deepEqual(
          onlyA.events.map(e => `${e.type} ${e.key.name}`),
          ['ADDED x', 'MODIFIED x', 'DELETED pre'],
        );
        const mod = all.events[2];
        assert.deepEqual(mod.object, x2);
        assert.deepEqual(mod.prevObject, x);
        const del = all.events[3];
        assert.equal(del.rv.toString(), gone.metadata.resourceVersion);
        assert.deepEqual(del.object.spec, { v: 0 }, 'DELETED carries the last state');
        assert.ok(Object.isFrozen(del.object), 'shared events are read-only');
        assert.deepEqual(all.errors, []);
        all.stop();
        onlyA.stop();
      } finally {
        await other.close();
      }
    });

    it('serves recent revisions from the cache, older ones from the log, compacted ones not at all', async () => {
      const db = await createTestDatabase();
      const s = await open(db, { watchCacheSize: 20 });
      try {
        const prefix = { group: GROUP, resource: 'window' };
        const start = await s.currentRevision();
        for (let i = 0; i < 60; i++) {
          await s.transact(async tx => {
            const k = key('window', '', `o${i % 7}`);
            const cur = await tx.get(k, { forUpdate: true });
            if (cur) await tx.delete(k);
            else await tx.create(k, object(`o${i % 7}`, '', { i }));
          });
        }
        const head = await s.currentRevision();
        await eventually('cache to fill', () => s.watchCacheWindow().to === head);
        const win = s.watchCacheWindow();
        assert.equal(win.to - win.from, 20n);

        const expectAll = async (from: bigint) => {
          const r = record(s, prefix, from);
          await eventually(`watch from ${from}`, () => r.progress >= head);
          assert.deepEqual(r.errors, []);
          assert.deepEqual(
            r.events.map(e => e.rv),
            Array.from({ length: Number(head - from) }, (_, i) => from + 1n + BigInt(i)),
          );
          return r;
        };
        (await expectAll(head - 5n)).stop(); // in memory
        (await expectAll(start)).stop(); // from the log, then live
        const joined = await expectAll(win.from - 3n); // straddles the boundary
        await s.transact(tx => tx.create(key('window', '', 'later'), object('later', '')));
        await eventually('live event after catch-up', () => joined.events.at(-1)?.key.name === 'later');
        joined.stop();

        const compacted = await s.compact({ retainRevisions: 10 });
        assert.equal(compacted, head + 1n - 10n);
        assert.equal(s.compactedRevision(), compacted);
        const expired = record(s, prefix, start);
        await eventually('Expired', () => expired.errors.length > 0);
        assert.equal((expired.errors[0] as StorageError).code, 'Expired');
        assert.deepEqual(expired.events, []);
        // At or after the compacted revision the log is still exact.
        const exact = record(s, prefix, compacted);
        await eventually('watch from the compacted revision', () => exact.progress >= head + 1n);
        assert.equal(exact.events.length, Number(head + 1n - compacted));
        exact.stop();
      } finally {
        await s.close();
      }
    });

    it('keeps going when the LISTEN connection drops', async () => {
      const db = await createTestDatabase();
      const s = await open(db, { pollIntervalMs: 60_000 });
      const admin = new pg.Client({ connectionString: db });
      await admin.connect();
      try {
        const from = await s.currentRevision();
        const r = record(s, { group: GROUP, resource: 'listen' }, from);
        await s.transact(tx => tx.create(key('listen', '', 'one'), object('one', '')));
        await eventually('first event', () => r.events.length === 1);
        const killed = await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tke-apiserver-watch'",
        );
        assert.equal(killed.rowCount, 1);
        await s.transact(tx => tx.create(key('listen', '', 'two'), object('two', '')));
        // The poll is a minute away: only the reconnect and its catch-up can deliver this.
        await eventually('event after reconnect', () => r.events.length === 2, 5000);
        await s.transact(tx => tx.create(key('listen', '', 'three'), object('three', '')));
        await eventually('notifications again', () => r.events.length === 3, 3000);
        assert.deepEqual(r.errors, []);
        r.stop();
      } finally {
        await admin.end();
        await s.close();
      }
    });

    it("wakes on another process's commits, which that process tells of after they commit", async () => {
      const db = await createTestDatabase();
      // Polls a minute apart: only a notification can wake either store in time.
      const [a, b] = [await open(db, { pollIntervalMs: 60_000 }), await open(db, { pollIntervalMs: 60_000 })];
      const admin = new pg.Client({ connectionString: db });
      await admin.connect();
      try {
        const from = await a.currentRevision();
        const seen = record(b, { group: GROUP, resource: 'told' }, from);
        await admin.query('LISTEN tke_changes');
        const notified: string[] = [];
        admin.on('notification', n => notified.push(n.payload ?? ''));
        for (let i = 0; i < 20; i++) await a.transact(tx => tx.create(key('told', '', `t${i}`), object(`t${i}`, '')));
        await eventually("b sees a's writes", () => seen.events.length === 20, 3000);
        assert.deepEqual(
          seen.events.map(e => e.object.metadata.name),
          Array.from({ length: 20 }, (_, i) => `t${i}`),
        );
        // Told after the commits, by a's process as a whole (which its own listener ignores).
        await eventually('notified', () => notified.length > 0);
        assert.equal(new Set(notified).size, 1, notified.join());
        seen.stop();
      } finally {
        await admin.end();
        await a.close();
        await b.close();
      }
    });

    it('stops a failing watcher without disturbing the others', async () => {
      const from = await store.currentRevision();
      const prefix = { group: GROUP, resource: 'faulty' };
      let failed: Error | undefined;
      const bad = store.watch(prefix, {
        fromRV: from,
        onEvent: () => {
          throw new Error('consumer broke');
        },
        onError: err => {
          failed = err;
        },
      });
      const good = record(store, prefix, from);
      for (let i = 0; i < 5; i++) await store.transact(tx => tx.create(key('faulty', '', `f${i}`), object(`f${i}`, '')));
      await eventually('good watcher', () => good.events.length === 5);
      await eventually('bad watcher stopped', () => failed !== undefined);
      assert.match(failed!.message, /consumer broke/);
      bad.stop();
      good.stop();
    });
  });

  describe('compaction', () => {
    it('expires old continue tokens and snapshots, keeps newer ones exact', async () => {
      const db = await createTestDatabase();
      const s = await open(db);
      try {
        const prefix = { group: GROUP, resource: 'compact' };
        for (let i = 0; i < 30; i++) await s.transact(tx => tx.create(key('compact', '', `c${String(i).padStart(2, '0')}`), object(`c${i}`, '', { v: 0 })));
        const page = await s.list(prefix, { limit: 10 });
        for (let i = 0; i < 30; i += 3) {
          await s.transact(async tx => {
            const k = key('compact', '', `c${String(i).padStart(2, '0')}`);
            const cur = (await tx.get(k, { forUpdate: true }))!;
            if (i % 2) await tx.delete(k);
            else await tx.update(k, { ...cur, spec: { v: 1 } });
          });
        }
        const mid = await s.currentRevision();
        const midList = await s.list(prefix, { atRevision: mid });
        for (let i = 0; i < 5; i++) await s.transact(tx => tx.create(key('compact', '', `late${i}`), object(`late${i}`, '')));
        assert.equal(s.compactedRevision(), 0n);

        const c = await s.compact({ retainRevisions: Number((await s.currentRevision()) - mid) });
        assert.equal(c, mid);
        await rejectsWith(s.list(prefix, { limit: 10, continue: page.continue }), 'Expired');
        await rejectsWith(s.list(prefix, { atRevision: mid - 1n }), 'Expired');
        const again = await s.list(prefix, { atRevision: mid });
        assert.deepEqual(again.items, midList.items, 'the snapshot at the compacted revision is unchanged');

        const pool = s.pool;
        const remaining = await pool.query<{ n: string }>("SELECT count(*)::text AS n FROM changes WHERE rv <= $1 AND type = 'DELETED'", [mid.toString()]);
        assert.equal(remaining.rows[0].n, '0', 'tombstones at or below the compacted revision are gone');
        const dup = await pool.query('SELECT 1 FROM changes WHERE rv <= $1 GROUP BY grp, resource, namespace, name HAVING count(*) > 1', [mid.toString()]);
        assert.equal(dup.rowCount, 0, 'one entry per key at or below the compacted revision');
      } finally {
        await s.close();
      }
    });
  });

  describe('two processes, many writers', function () {
    this.timeout(60_000);

    it('every watcher sees every change exactly once, in order, ending at the listed state', async () => {
      const db = await createTestDatabase();
      const a = await open(db, { poolSize: 6 });
      const b = await open(db, { poolSize: 6 });
      const resource = 'hammer';
      const prefix = { group: GROUP, resource };
      try {
        const start = await a.currentRevision();
        const watchers = [record(a, prefix, start), record(b, { ...prefix, namespace: 'ns-1' }, start)];
        let late: Recorder | undefined;

        const WRITERS = 8;
        const WRITES = 300;
        const KEYS = 32;
        let committed = 0;
        const writer = async (w: number) => {
          const s = w % 2 ? b : a;
          // xorshift32: reproducible runs without a hot key from a degenerate generator.
          let seed = ((w + 1) * 0x9e3779b1) >>> 0;
          const rand = (n: number) => {
            seed ^= seed << 13;
            seed ^= seed >>> 17;
            seed ^= seed << 5;
            seed >>>= 0;
            return seed % n;
          };
          for (let i = 0; i < WRITES; i++) {
            if (w === 0 && i === WRITES / 3) late = record(b, prefix, start); // joins mid-stream from the start
            const k1 = rand(KEYS);
            const k2 = rand(KEYS);
            const keyOf = (n: number) => key(resource, `ns-${n % 3}`, `k${n}`);
            let n = 0;
            for (;;) {
              try {
                n = await s.transact(async tx => {
                  let writes = 0;
                  // Some transactions write two objects, taking the second row lock while
                  // already holding the revision lock.
                  for (const kn of i % 5 === 0 && k1 !== k2 ? [k1, k2] : [k1]) {
                    const k = keyOf(kn);
                    const cur = await tx.get(k, { forUpdate: true });
                    if (!cur) await tx.create(k, object(k.name, k.namespace, { w, i }));
                    else if (rand(4) === 0) await tx.delete(k, cur.metadata.resourceVersion);
                    else await tx.update(k, { ...cur, spec: { w, i } }, cur.metadata.resourceVersion);
                    writes++;
                  }
                  return writes;
                });
                break;
              } catch (err) {
                // Two writers found the key missing and both created it: the loser is told
                // so and, like a client, reads again.
                if (!(err instanceof StorageError && err.code === 'AlreadyExists')) throw err;
              }
            }
            committed += n;
          }
        };
        const t0 = Date.now();
        await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
        const elapsed = Date.now() - t0;
        const head = await a.currentRevision();
        assert.equal(head - start, BigInt(committed), 'revisions are dense: one per committed write');
        assert.ok(late);
        const all = [...watchers, late];
        await eventually('watchers to reach the head', () => all.every(r => r.progress >= head), 10_000);

        const full = await b.list(prefix);
        assert.equal(full.rv, head);
        const expectedRVs = Array.from({ length: committed }, (_, i) => start + 1n + BigInt(i));
        for (const r of [watchers[0], late]) {
          assert.deepEqual(r.errors, []);
          assert.deepEqual(
            r.events.map(e => e.rv),
            expectedRVs,
            'every revision once, in order',
          );
          assert.deepEqual(replay(r.events), byKey(full.items));
        }
        const ns1 = watchers[1];
        assert.deepEqual(ns1.errors, []);
        assert.deepEqual(
          ns1.events.map(e => e.rv),
          watchers[0].events.filter(e => e.key.namespace === 'ns-1').map(e => e.rv),
        );
        assert.deepEqual(replay(ns1.events), byKey((await a.list({ ...prefix, namespace: 'ns-1' })).items));
        for (const r of all) r.stop();
        // The write rate, for tuning the write path.
        if (process.env.TKE_TEST_PG_LOG) process.stderr.write(`hammer: ${committed} writes in ${elapsed} ms\n`);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
});
