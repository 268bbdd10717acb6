// The Store conformance suite: what every implementation of pkg/storage/interface.ts must do,
// after k8s.io/apiserver/pkg/storage/testing/store_tests.go. A test file calls
// runStoreConformance(name, open) with a function that opens a fresh, empty store; the suite
// registers mocha describe/it blocks that exercise only the Store contract, so the same tests
// hold a database-backed store, a cached one, or any future one to the same behaviour.
//
// Every test asserts outcomes a caller of Store relies on. Waits are for a condition (a watch
// reaching a revision), never a sleep standing in for one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import {
  StorageError,
  type ChangeEvent,
  type KeyPrefix,
  type ListOptions,
  type ListResult,
  type ObjectKey,
  type Store,
  type StorageErrorCode,
} from '../../pkg/storage/interface.ts';

/** What the suite's `open` returns: a fresh store with nothing in it, and how to dispose of it. */
export interface StoreUnderTest {
  store: Store;
  /** Closes the store and everything `peer` opened. */
  cleanup(): Promise<void>;
  /**
   * Optional: opens another Store on the same data, as a second server process would (a replica).
   * The tests of cross-instance consistency need it; they are skipped when it is absent.
   */
  peer?(): Promise<Store>;
  /**
   * Optional: compacts the history up to the newest revision and returns the new compacted
   * revision. When absent, a store method `compact({ retainRevisions: 0 })` is used if there is
   * one (PostgresStore has it); without either the compaction tests are skipped.
   */
  compact?(): Promise<bigint>;
}

const GROUP = 'conformance.tkestack.io';
const OTHER_GROUP = 'other.conformance.tkestack.io';

// ---------------------------------------------------------------------------------------------
// Helpers

let resourceSeq = 0;
/** A resource name no other test of this run uses, so tests sharing a store stay apart. */
function res(label: string): string {
  return `${label}-${++resourceSeq}`;
}

function key(resource: string, namespace: string, name: string, group = GROUP): ObjectKey {
  return { group, resource, namespace, name };
}

function prefixOf(resource: string, namespace?: string, group = GROUP): KeyPrefix {
  return namespace === undefined ? { group, resource } : { group, resource, namespace };
}

function thing(namespace: string, name: string, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: `${GROUP}/v1`, kind: 'Thing', metadata: namespace ? { name, namespace } : { name }, spec };
}

function thingAt(k: ObjectKey, spec: Record<string, unknown> = {}): KubeObject {
  return thing(k.namespace, k.name, spec);
}

/** The object with a different spec, everything else (resourceVersion included) kept. */
function withSpec(obj: KubeObject, spec: Record<string, unknown>): KubeObject {
  return { ...obj, metadata: { ...obj.metadata }, spec };
}

function withRV(obj: KubeObject, rv: bigint): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: rv.toString() } };
}

/** The object's resourceVersion, asserting it is a positive decimal string. */
function rvOf(obj: KubeObject | undefined): bigint {
  assert.ok(obj, 'an object');
  const rv = obj.metadata.resourceVersion;
  assert.ok(typeof rv === 'string' && /^[1-9][0-9]*$/.test(rv), `resourceVersion ${JSON.stringify(rv)} is a positive decimal string`);
  return BigInt(rv);
}

function nsName(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function keyName(k: ObjectKey): string {
  return `${k.namespace}/${k.name}`;
}

function names(items: KubeObject[]): string[] {
  return items.map(nsName);
}

function byKey(items: KubeObject[]): Map<string, KubeObject> {
  return new Map(items.map(o => [nsName(o), o]));
}

function matches(prefix: KeyPrefix, k: ObjectKey): boolean {
  return k.group === prefix.group && k.resource === prefix.resource && (!prefix.namespace || k.namespace === prefix.namespace);
}

async function rejectsWith(p: Promise<unknown>, code: StorageErrorCode, what?: string): Promise<void> {
  await assert.rejects(
    p,
    (err: unknown) => {
      assert.ok(err instanceof StorageError, `${what ?? 'the call'}: expected StorageError ${code}, got ${String(err)}`);
      assert.equal(err.code, code, `${what ?? 'the call'}: ${err.message}`);
      return true;
    },
    `${what ?? 'the call'} should fail with ${code}`,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Polls until `cond` is true; a throw from `cond` ends the wait with that error. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

/** Reads every page of a list; continuation pages pass only the token (and limit, filter). */
async function pageAll(store: Store, prefix: KeyPrefix, opts: ListOptions & { limit: number }): Promise<{ items: KubeObject[]; pages: ListResult[] }> {
  const pages: ListResult[] = [];
  let token: string | undefined;
  do {
    const page = await store.list(prefix, token ? { limit: opts.limit, filter: opts.filter, continue: token } : opts);
    pages.push(page);
    token = page.continue;
    assert.ok(pages.length < 1000, 'paging ends');
  } while (token);
  return { items: pages.flatMap(p => p.items), pages };
}

interface Recorder {
  readonly events: ChangeEvent[];
  readonly errors: Error[];
  /** Contract violations seen in the callbacks (asserting there would only stop the watch). */
  readonly violations: string[];
  /** The highest revision onProgress reported. */
  progress: bigint | undefined;
  /** Resolves once onProgress reported `rv` or later; rejects on a watch error. */
  caughtUp(rv: bigint, timeoutMs?: number): Promise<void>;
  stop(): void;
}

/** Watches and records, checking the per-event invariants of WatchOptions as events arrive. */
function record(store: Store, prefix: KeyPrefix, fromRV: bigint): Recorder {
  let last = fromRV;
  let stopped = false;
  const rec: Recorder = {
    events: [],
    errors: [],
    violations: [],
    progress: undefined,
    async caughtUp(rv: bigint, timeoutMs = 10_000) {
      await waitFor(
        `the watch of ${prefix.resource}/${prefix.namespace ?? '*'} from ${fromRV} to report progress ${rv}`,
        () => {
          if (rec.errors.length) throw rec.errors[0];
          return rec.progress !== undefined && rec.progress >= rv;
        },
        timeoutMs,
      );
    },
    stop() {
      stopped = true;
      watcher.stop();
    },
  };
  const watcher = store.watch(prefix, {
    fromRV,
    onEvent: e => {
      if (stopped) rec.violations.push(`event at ${e.rv} delivered after stop()`);
      if (e.rv <= last) rec.violations.push(`event at ${e.rv} delivered after ${last}: not strictly increasing`);
      if (rec.progress !== undefined && e.rv <= rec.progress) rec.violations.push(`event at ${e.rv} delivered after progress ${rec.progress} was reported`);
      if (!matches(prefix, e.key)) rec.violations.push(`event for ${e.key.group}/${e.key.resource} ${keyName(e.key)} outside the watched prefix`);
      if (e.object?.metadata?.resourceVersion !== e.rv.toString())
        rec.violations.push(`event at ${e.rv} carries resourceVersion ${e.object?.metadata?.resourceVersion}`);
      if (e.type === 'ADDED' && e.prevObject !== undefined) rec.violations.push(`ADDED at ${e.rv} has a prevObject`);
      last = e.rv > last ? e.rv : last;
      rec.events.push(e);
    },
    onError: err => {
      rec.errors.push(err);
      if (rec.errors.length > 1) rec.violations.push(`onError called ${rec.errors.length} times`);
    },
    onProgress: rv => {
      if (rec.progress !== undefined && rv < rec.progress) rec.violations.push(`progress went back from ${rec.progress} to ${rv}`);
      if (rv < fromRV) rec.violations.push(`progress ${rv} is below fromRV ${fromRV}`);
      if (rec.progress === undefined || rv > rec.progress) rec.progress = rv;
    },
  });
  return rec;
}

/** An event as plain data, for comparing whole sequences. */
function shape(e: ChangeEvent): { type: string; key: ObjectKey; rv: bigint; object: KubeObject; prevObject?: KubeObject } {
  const out: { type: string; key: ObjectKey; rv: bigint; object: KubeObject; prevObject?: KubeObject } = {
    type: e.type,
    key: { ...e.key },
    rv: e.rv,
    object: e.object,
  };
  if (e.prevObject !== undefined) out.prevObject = e.prevObject;
  return out;
}

/** Replays events into the state they describe, checking each type against that state. */
function replay(events: ChangeEvent[]): Map<string, KubeObject> {
  const state = new Map<string, KubeObject>();
  for (const e of events) {
    const k = keyName(e.key);
    if (e.type === 'ADDED') {
      assert.ok(!state.has(k), `ADDED ${k} at ${e.rv}, but it exists`);
    } else {
      assert.ok(state.has(k), `${e.type} ${k} at ${e.rv}, but it does not exist`);
      assert.deepEqual(e.prevObject, state.get(k), `${e.type} ${k} at ${e.rv}: prevObject is the state before it`);
    }
    if (e.type === 'DELETED') state.delete(k);
    else state.set(k, e.object);
  }
  return state;
}

/** xorshift32: the same "random" choices on every run. */
function rng(seed: number): (n: number) => number {
  let s = (seed * 0x9e3779b1) >>> 0 || 1;
  return n => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

function compactorOf(h: StoreUnderTest): (() => Promise<bigint>) | undefined {
  if (h.compact) return () => h.compact!();
  const s = h.store as Store & { compact?: (opts: { retainRevisions: number }) => Promise<bigint> };
  if (typeof s.compact === 'function') return () => s.compact!({ retainRevisions: 0 });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The suite

export function runStoreConformance(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`Store conformance: ${name}`, function () {
    this.timeout(20_000);

    let h: StoreUnderTest;
    let store: Store;
    let peerStore: Store | undefined;
    /** Stores opened by single tests (fresh ones, for compaction and the concurrency test). */
    let extra: StoreUnderTest[] = [];

    before(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      const opened = extra;
      extra = [];
      for (const x of opened) await x.cleanup();
    });
    after(async () => {
      await h?.cleanup();
    });

    async function fresh(): Promise<StoreUnderTest> {
      const x = await open();
      extra.push(x);
      return x;
    }

    /** The shared store's peer; skips the test when the implementation offers none. */
    async function peer(ctx: Mocha.Context): Promise<Store> {
      if (!h.peer) ctx.skip();
      peerStore ??= await h.peer!();
      return peerStore;
    }

    // -------------------------------------------------------------------------------------------
    describe('objects', () => {
      it('create returns the object with a new resourceVersion, and get returns exactly it', async () => {
        const r = res('create');
        const k = key(r, 'ns', 'a');
        const input: KubeObject = {
          ...thingAt(k, { n: 1, text: 'ünïcødé ✓', nested: { list: [1, 'two', { three: true }], empty: {}, nothing: null } }),
          status: { phase: 'Pending' },
        };
        input.metadata.labels = { app: 'x' };
        input.metadata.annotations = { note: 'a "quoted" value' };
        const snapshot = structuredClone(input);
        const before = await store.currentRevision();

        const created = await store.transact(tx => tx.create(k, input));
        const rv = rvOf(created);
        assert.ok(rv > before, `resourceVersion ${rv} is above the revision before the write (${before})`);
        assert.equal(await store.currentRevision(), rv, "currentRevision is the write's revision");
        assert.deepEqual(created, withRV(snapshot, rv), 'the stored object is the input with its resourceVersion');
        assert.deepEqual(input, snapshot, "the caller's object is left as it was");
        assert.deepEqual(await store.get(k), created);

        // A resourceVersion in the input is not the stored one: the store assigns it.
        const k2 = key(r, 'ns', 'b');
        const c2 = await store.transact(tx => tx.create(k2, withRV(thingAt(k2), 999_999_999n)));
        assert.equal(rvOf(c2), rv + 1n);
        assert.equal((await store.get(k2))?.metadata.resourceVersion, c2.metadata.resourceVersion);
      });

      it('get returns undefined for a key that differs in any part', async () => {
        const r = res('keys');
        const k = key(r, 'ns', 'a');
        await store.transact(tx => tx.create(k, thingAt(k)));
        assert.ok(await store.get(k));
        assert.equal(await store.get(key(r, 'ns', 'b')), undefined, 'other name');
        assert.equal(await store.get(key(r, 'other', 'a')), undefined, 'other namespace');
        assert.equal(await store.get(key(r, '', 'a')), undefined, 'cluster-scoped');
        assert.equal(await store.get(key(`${r}x`, 'ns', 'a')), undefined, 'other resource');
        assert.equal(await store.get(key(r, 'ns', 'a', OTHER_GROUP)), undefined, 'other group');

        // The same name cluster-scoped and in two namespaces: three objects.
        const keys = [key(r, '', 'same'), key(r, 'ns', 'same'), key(r, 'other', 'same')];
        const made = await store.transact(async tx => {
          const out: KubeObject[] = [];
          for (const [i, kk] of keys.entries()) out.push(await tx.create(kk, thingAt(kk, { i })));
          return out;
        });
        for (const [i, kk] of keys.entries()) assert.deepEqual(await store.get(kk), made[i]);
      });

      it('create of an existing key fails with AlreadyExists and changes nothing', async () => {
        const r = res('exists');
        const k = key(r, 'ns', 'a');
        const created = await store.transact(tx => tx.create(k, thingAt(k, { v: 1 })));
        const before = await store.currentRevision();
        await rejectsWith(
          store.transact(tx => tx.create(k, thingAt(k, { v: 2 }))),
          'AlreadyExists',
          'a second create',
        );
        await rejectsWith(
          store.transact(async tx => {
            const k2 = key(r, 'ns', 'b');
            await tx.create(k2, thingAt(k2));
            await tx.create(k2, thingAt(k2));
          }),
          'AlreadyExists',
          'a create of a key the same transaction created',
        );
        assert.deepEqual(await store.get(k), created);
        assert.equal(await store.get(key(r, 'ns', 'b')), undefined, 'the failed transaction left nothing');
        assert.equal(await store.currentRevision(), before, 'failed writes take no revision');
      });

      it('update replaces the object; Conflict on a stale expectedRV, NotFound on a missing key', async () => {
        const r = res('update');
        const k = key(r, 'ns', 'a');
        const v1 = await store.transact(tx => tx.create(k, thingAt(k, { v: 1 })));
        const before = await store.currentRevision();

        await rejectsWith(
          store.transact(tx => tx.update(key(r, 'ns', 'missing'), thing('ns', 'missing'))),
          'NotFound',
          'update of a missing key',
        );
        await rejectsWith(
          store.transact(tx => tx.update(k, withSpec(v1, { v: 9 }), (rvOf(v1) + 1000n).toString())),
          'Conflict',
          'update with a future expectedRV',
        );
        await rejectsWith(
          store.transact(tx => tx.update(k, withSpec(v1, { v: 9 }), '1')),
          'Conflict',
          'update with an old expectedRV',
        );
        assert.equal(await store.currentRevision(), before, 'failed updates take no revision');
        assert.deepEqual(await store.get(k), v1);

        const v2 = await store.transact(tx => tx.update(k, withSpec(v1, { v: 2 }), v1.metadata.resourceVersion));
        assert.ok(rvOf(v2) > rvOf(v1));
        assert.deepEqual(v2, withRV(withSpec(v1, { v: 2 }), rvOf(v2)));
        assert.deepEqual(await store.get(k), v2);

        // The precondition is expectedRV only: without it the update is unconditional, whatever
        // resourceVersion the object carries.
        const v3 = await store.transact(tx => tx.update(k, withSpec(v1, { v: 3 })));
        assert.ok(rvOf(v3) > rvOf(v2));
        assert.deepEqual(await store.get(k), v3);
        await rejectsWith(
          store.transact(tx => tx.update(k, withSpec(v3, { v: 4 }), v2.metadata.resourceVersion)),
          'Conflict',
          'update with the previous revision',
        );

        // Exactly one of several updates from the same revision wins; the others are told Conflict.
        const outcomes = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) => store.transact(tx => tx.update(k, withSpec(v3, { v: 10 + i }), v3.metadata.resourceVersion))),
        );
        const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
        assert.equal(won.length, 1, 'exactly one concurrent update from the same revision succeeds');
        for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof StorageError && o.reason.code === 'Conflict', String(o.reason));
        assert.deepEqual((await store.get(k))?.spec, { v: 10 + won[0] });
      });

      it("delete returns the last state with the deletion's revision; NotFound and Conflict as documented", async () => {
        const r = res('delete');
        const k = key(r, 'ns', 'a');
        const v1 = await store.transact(tx => tx.create(k, thingAt(k, { v: 1 })));
        const v2 = await store.transact(tx => tx.update(k, withSpec(v1, { v: 2 })));
        const before = await store.currentRevision();

        await rejectsWith(
          store.transact(tx => tx.delete(key(r, 'ns', 'missing'))),
          'NotFound',
          'delete of a missing key',
        );
        await rejectsWith(
          store.transact(tx => tx.delete(k, v1.metadata.resourceVersion)),
          'Conflict',
          'delete with a stale expectedRV',
        );
        assert.equal(await store.currentRevision(), before);
        assert.deepEqual(await store.get(k), v2);

        const gone = await store.transact(tx => tx.delete(k, v2.metadata.resourceVersion));
        const rv = rvOf(gone);
        assert.ok(rv > rvOf(v2));
        assert.deepEqual(gone, withRV(v2, rv), "the last state, with the deletion's resourceVersion");
        assert.equal(await store.currentRevision(), rv);
        assert.equal(await store.get(k), undefined);
        await rejectsWith(
          store.transact(tx => tx.delete(k)),
          'NotFound',
          'a second delete',
        );
        await rejectsWith(
          store.transact(tx => tx.update(k, v2)),
          'NotFound',
          'update after delete',
        );

        const again = await store.transact(tx => tx.create(k, thingAt(k, { v: 'again' })));
        assert.ok(rvOf(again) > rv, 'a re-created object gets a new, higher revision');
        assert.deepEqual(await store.get(k), again);
      });

      it('resourceVersions strictly increase, across transactions and within one', async () => {
        const r = res('increasing');
        let last = await store.currentRevision();
        for (let i = 0; i < 8; i++) {
          const k = key(i % 2 ? r : `${r}-b`, i % 3 ? 'ns' : '', `o${i}`);
          const o = await store.transact(tx => tx.create(k, thingAt(k)));
          assert.ok(rvOf(o) > last, `write ${i}: ${rvOf(o)} > ${last}`);
          last = rvOf(o);
        }
        const a = key(r, 'ns', 'o1');
        const out = await store.transact(async tx => {
          const cur = (await tx.get(a))!;
          const x = await tx.create(key(r, 'ns', 'x'), thing('ns', 'x'));
          const y = await tx.create(key(r, 'ns', 'y'), thing('ns', 'y'));
          const u = await tx.update(a, withSpec(cur, { u: true }));
          const d = await tx.delete(key(r, 'ns', 'x'));
          return [x, y, u, d];
        });
        for (const o of out) {
          assert.ok(rvOf(o) > last, `${rvOf(o)} > ${last}`);
          last = rvOf(o);
        }
        assert.equal(await store.currentRevision(), last, "currentRevision is the last write's revision");
        assert.deepEqual(await store.get(key(r, 'ns', 'y')), out[1]);
        assert.deepEqual(await store.get(a), out[2]);
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('list', () => {
      it('orders by (namespace, name) in byte order', async () => {
        const r = res('order');
        // Byte order, not locale order ('a-c' before 'aa'), not UTF-16 order (U+FFFD before an
        // astral character), and by the pair, not by a joined "namespace/name" string
        // ('a'/'z' before 'a-b'/'a', although "a-b/a" < "a/z").
        const expected = ['/x', 'a/B', 'a/a-c', 'a/a.b', 'a/a0', 'a/aa', 'a/ab', 'a/z', 'a/é', 'a/\uFFFD', 'a/\u{1F600}', 'a-b/a', 'ab/a', 'b/a'];
        const shuffled = [...expected].sort((x, y) => ((x.length * 7 + x.charCodeAt(x.length - 1)) % 11) - ((y.length * 7 + y.charCodeAt(y.length - 1)) % 11));
        await store.transact(async tx => {
          for (const s of shuffled) {
            const [ns, n] = [s.slice(0, s.indexOf('/')), s.slice(s.indexOf('/') + 1)];
            await tx.create(key(r, ns, n), thing(ns, n));
          }
        });
        assert.deepEqual(names((await store.list(prefixOf(r))).items), expected);
        assert.deepEqual(
          names((await store.list(prefixOf(r, 'a'))).items),
          expected.filter(s => s.startsWith('a/')),
        );
        for (const limit of [1, 3, 4]) {
          assert.deepEqual(names((await pageAll(store, prefixOf(r), { limit })).items), expected, `pages of ${limit}`);
        }
        assert.deepEqual(names(await store.transact(tx => tx.list(prefixOf(r)))), expected, 'Transaction.list in the same order');
      });

      it('lists a namespace, or every namespace of a resource, and nothing else', async () => {
        const r = res('prefix');
        const inR = ['/x', 'a/x', 'a/y', 'a-b/x', 'ab/x'];
        await store.transact(async tx => {
          for (const s of inR) {
            const [ns, n] = s.split('/');
            await tx.create(key(r, ns, n), thing(ns, n));
          }
          // Look-alikes that must never appear: other resources and another group.
          for (const k of [key(`${r}s`, 'a', 'x'), key(r.slice(0, -1), 'a', 'x'), key(r, 'a', 'x', OTHER_GROUP)]) await tx.create(k, thingAt(k));
        });
        const cases: Array<[string | undefined, string[]]> = [
          [undefined, inR],
          ['', inR],
          ['a', ['a/x', 'a/y']],
          ['ab', ['ab/x']],
          ['a-b', ['a-b/x']],
          ['b', []],
        ];
        for (const [ns, want] of cases) {
          const p = prefixOf(r, ns);
          assert.deepEqual(names((await store.list(p)).items), want, `list of namespace ${JSON.stringify(ns)}`);
          assert.deepEqual(names(await store.transact(tx => tx.list(p))), want, `Transaction.list of namespace ${JSON.stringify(ns)}`);
        }
        const other = await store.list(prefixOf(r, 'a', OTHER_GROUP));
        assert.deepEqual(names(other.items), ['a/x']);
        assert.equal(other.items[0].metadata.namespace, 'a');
      });

      it("carries the revision it is consistent with, and each item's resourceVersion", async () => {
        const r = res('listrv');
        const empty = await store.list(prefixOf(r));
        assert.deepEqual(empty.items, []);
        assert.equal(empty.continue, undefined);
        assert.equal(empty.rv, await store.currentRevision(), 'an empty list still has a revision');

        const written: KubeObject[] = [];
        for (const n of ['a', 'b', 'c']) written.push(await store.transact(tx => tx.create(key(r, 'ns', n), thing('ns', n))));
        const list = await store.list(prefixOf(r));
        const after = await store.currentRevision();
        assert.ok(list.rv >= rvOf(written[2]) && list.rv <= after, `list revision ${list.rv} between the last write and the current revision`);
        assert.deepEqual(list.items, written);
        for (const o of list.items) assert.ok(rvOf(o) <= list.rv);
      });

      it('pages with limit and continue, with remainingItemCount, ending where the list ends', async () => {
        const r = res('paging');
        const p = prefixOf(r);
        await store.transact(async tx => {
          for (let i = 0; i < 25; i++)
            await tx.create(key(r, i < 12 ? 'a' : 'b', `o${String(i).padStart(2, '0')}`), thing(i < 12 ? 'a' : 'b', `o${String(i).padStart(2, '0')}`));
        });
        const all = await store.list(p);
        assert.equal(all.items.length, 25);

        const p1 = await store.list(p, { limit: 10 });
        assert.equal(p1.items.length, 10);
        assert.ok(p1.continue, 'more items follow: continue is set');
        assert.equal(p1.remainingItemCount, 15, 'remainingItemCount of an unfiltered list');
        assert.equal(p1.rv, all.rv);
        const p2 = await store.list(p, { limit: 10, continue: p1.continue });
        assert.equal(p2.rv, p1.rv);
        assert.equal(p2.items.length, 10);
        assert.ok(p2.continue);
        if (p2.remainingItemCount !== undefined) assert.equal(p2.remainingItemCount, 5);
        const p3 = await store.list(p, { limit: 10, continue: p2.continue });
        assert.equal(p3.rv, p1.rv);
        assert.equal(p3.items.length, 5);
        assert.equal(p3.continue, undefined, 'the last page has no continue');
        assert.ok(!p3.remainingItemCount, 'nothing remains after the last page');
        assert.deepEqual([...p1.items, ...p2.items, ...p3.items], all.items);

        for (const limit of [25, 26, 1000]) {
          const one = await store.list(p, { limit });
          assert.deepEqual(one.items, all.items, `limit ${limit}`);
          assert.equal(one.continue, undefined, `limit ${limit} >= the number of items: no continue`);
        }
        assert.deepEqual((await store.list(p, { limit: 0 })).items, all.items, 'limit 0 is everything');
        const ns = await pageAll(store, prefixOf(r, 'a'), { limit: 5 });
        assert.deepEqual(ns.items, all.items.slice(0, 12), 'paging within a namespace');
        assert.equal(ns.pages.length, 3);
      });

      it("continues at the first page's revision while objects change between pages", async () => {
        const r = res('snapshot');
        const p = prefixOf(r);
        const nm = (i: number) => `n${String(i).padStart(2, '0')}`;
        const k = (n: string, ns = 'ns') => key(r, ns, n);
        await store.transact(async tx => {
          for (let i = 0; i < 20; i++) await tx.create(k(nm(i)), thing('ns', nm(i), { v: 0 }));
        });
        const atStart = await store.list(p);
        const first = await store.list(p, { limit: 5 });
        const R = first.rv;
        assert.deepEqual(names(first.items), ['ns/n00', 'ns/n01', 'ns/n02', 'ns/n03', 'ns/n04']);

        // Between pages: updates, deletes, a delete and re-create, creates before and after the
        // cursor, and a create in a namespace that sorts last.
        const update = async (n: string, spec: Record<string, unknown>) => {
          const cur = (await store.get(k(n)))!;
          return store.transact(tx => tx.update(k(n), withSpec(cur, spec)));
        };
        await update(nm(7), { v: 1 });
        await store.transact(tx => tx.delete(k(nm(8))));
        await store.transact(tx => tx.create(k('n05a'), thing('ns', 'n05a')));
        await store.transact(tx => tx.create(k('n02a'), thing('ns', 'n02a')));
        await store.transact(tx => tx.delete(k(nm(1))));
        await update(nm(12), { v: 1 });
        await update(nm(12), { v: 2 });
        await store.transact(tx => tx.delete(k(nm(15))));
        await store.transact(tx => tx.create(k(nm(15)), thing('ns', nm(15), { v: 'again' })));
        await store.transact(tx => tx.create(k('new', 'zz'), thing('zz', 'new')));

        const items = [...first.items];
        let expectRemaining = 15;
        for (let token = first.continue; token; ) {
          const page = await store.list(p, { limit: 5, continue: token });
          assert.equal(page.rv, R, "every page is at the first page's revision");
          items.push(...page.items);
          expectRemaining -= page.items.length;
          if (page.continue && page.remainingItemCount !== undefined)
            assert.equal(page.remainingItemCount, expectRemaining, 'remainingItemCount counts the snapshot');
          token = page.continue;
        }
        assert.deepEqual(items, atStart.items, "the pages together are the state of the first page's revision");
        assert.deepEqual((await store.list(p, { atRevision: R })).items, atStart.items, 'as is one read at that revision');
        const now = names((await store.list(p)).items);
        for (const s of ['ns/n02a', 'ns/n05a', 'zz/new']) assert.ok(now.includes(s), `the newest state has ${s}`);
        assert.ok(!now.includes('ns/n08'));
      });

      it('applies the filter before the limit', async () => {
        const r = res('filter');
        const p = prefixOf(r);
        await store.transact(async tx => {
          for (let i = 0; i < 30; i++) await tx.create(key(r, 'ns', `o${String(i).padStart(2, '0')}`), thing('ns', `o${String(i).padStart(2, '0')}`, { i }));
        });
        const third = (o: KubeObject) => (o.spec!.i as number) % 3 === 0;
        const want = (await store.list(p)).items.filter(third);
        assert.equal(want.length, 10);
        assert.deepEqual((await store.list(p, { filter: third })).items, want);

        const { items, pages } = await pageAll(store, p, { limit: 4, filter: third });
        assert.deepEqual(items, want, 'every matching object once, in order');
        for (const page of pages) {
          assert.ok(page.items.every(third), 'pages hold matching objects only');
          assert.ok(page.items.length <= 4);
          if (page.continue) assert.equal(page.items.length, 4, 'a page followed by more is full: the limit counts matches');
          assert.equal(page.rv, pages[0].rv);
        }
        assert.equal(pages[0].items.length, 4);

        const none = await store.list(p, { limit: 4, filter: () => false });
        assert.deepEqual(none.items, []);
        assert.equal(none.continue, undefined);
        const sparse = await pageAll(store, p, { limit: 2, filter: o => o.spec!.i === 29 });
        assert.deepEqual(names(sparse.items), ['ns/o29'], 'a match after many non-matching objects is found');
      });

      it('reads the exact state of an older revision, including an object deleted and created again', async () => {
        const r = res('history');
        const p = prefixOf(r);
        const ka = key(r, 'ns', 'a');
        const kb = key(r, 'ns', 'b');
        const elsewhere = key(res('elsewhere'), 'ns', 'e');
        const R0 = await store.currentRevision();
        const a1 = await store.transact(tx => tx.create(ka, thingAt(ka, { v: 1 })));
        const a2 = await store.transact(tx => tx.update(ka, withSpec(a1, { v: 2 })));
        const other = await store.transact(tx => tx.create(elsewhere, thingAt(elsewhere)));
        const aGone = await store.transact(tx => tx.delete(ka));
        const b1 = await store.transact(tx => tx.create(kb, thingAt(kb, { v: 1 })));
        const a3 = await store.transact(tx => tx.create(ka, thingAt(ka, { v: 3 })));
        const b2 = await store.transact(tx => tx.update(kb, withSpec(b1, { v: 2 })));

        const states: Array<[string, bigint, KubeObject[]]> = [
          ['before any write', R0, []],
          ['created', rvOf(a1), [a1]],
          ['updated', rvOf(a2), [a2]],
          ['another resource written', rvOf(other), [a2]],
          ['deleted', rvOf(aGone), []],
          ['another created', rvOf(b1), [b1]],
          ['created again', rvOf(a3), [a3, b1]],
          ['newest', rvOf(b2), [a3, b2]],
        ];
        for (const [what, rv, items] of states) {
          const got = await store.list(p, { atRevision: rv });
          assert.equal(got.rv, rv, `${what}: the list is at the asked revision`);
          assert.deepEqual(got.items, items, `${what} (revision ${rv})`);
          assert.deepEqual((await store.list(prefixOf(r, 'ns'), { atRevision: rv })).items, items, `${what}, namespace list`);
        }
        const paged = await pageAll(store, p, { limit: 1, atRevision: rvOf(a3) });
        assert.deepEqual(paged.items, [a3, b1], 'pages of an older revision');
        for (const page of paged.pages) assert.equal(page.rv, rvOf(a3));
      });

      it('rejects a continue token of another list, or garbage, with InvalidContinue', async () => {
        const r = res('tokens');
        await store.transact(async tx => {
          for (const s of ['a/1', 'a/2', 'a/3', 'b/1', 'b/2']) {
            const [ns, n] = s.split('/');
            await tx.create(key(r, ns, n), thing(ns, n));
          }
        });
        const inA = (await store.list(prefixOf(r, 'a'), { limit: 1 })).continue;
        const inAll = (await store.list(prefixOf(r), { limit: 1 })).continue;
        assert.ok(inA && inAll);
        // Each token still works for its own list.
        assert.deepEqual(names((await store.list(prefixOf(r, 'a'), { limit: 1, continue: inA })).items), ['a/2']);

        const foreign: Array<[string, KeyPrefix, string]> = [
          ['namespace a', prefixOf(r), 'every namespace'],
          ['namespace a', prefixOf(r, 'b'), 'namespace b'],
          ['namespace a', prefixOf(`${r}x`, 'a'), 'another resource'],
          ['namespace a', prefixOf(r, 'a', OTHER_GROUP), 'another group'],
          ['every namespace', prefixOf(r, 'a'), 'namespace a'],
        ];
        for (const [from, p, to] of foreign) {
          await rejectsWith(
            store.list(p, { limit: 1, continue: from === 'namespace a' ? inA : inAll }),
            'InvalidContinue',
            `a token of ${from} used for ${to}`,
          );
        }
        const b64 = (s: string) => Buffer.from(s).toString('base64url');
        const garbage = ['garbage', '!!!', b64('{}'), b64('[]'), b64('null'), b64('"x"'), b64('{"v":1}'), randomBytes(24).toString('base64url')];
        for (const g of garbage) await rejectsWith(store.list(prefixOf(r, 'a'), { limit: 1, continue: g }), 'InvalidContinue', `continue ${JSON.stringify(g)}`);
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('watch', () => {
      it('delivers every change after fromRV once, in order, with prevObject for updates and deletes', async function () {
        const r = res('watch');
        const p = prefixOf(r);
        const k = (n: string, ns = 'ns') => key(r, ns, n);
        const pre = await store.transact(tx => tx.create(k('pre'), thingAt(k('pre'), { v: 0 })));
        const from = await store.currentRevision();
        const live = record(store, p, from);

        const unrelated = key(res('unwatched'), 'ns', 'u');
        const a1 = await store.transact(tx => tx.create(k('a'), thingAt(k('a'), { v: 1 })));
        const b1 = await store.transact(tx => tx.create(k('b', 'other'), thingAt(k('b', 'other'), { v: 1 })));
        await store.transact(tx => tx.create(unrelated, thingAt(unrelated)));
        const a2 = await store.transact(tx => tx.update(k('a'), withSpec(a1, { v: 2 }), a1.metadata.resourceVersion));
        const [a3, preGone] = await store.transact(async tx => [await tx.update(k('a'), withSpec(a2, { v: 3 })), await tx.delete(k('pre'))]);
        const bGone = await store.transact(tx => tx.delete(k('b', 'other')));
        const b2 = await store.transact(tx => tx.create(k('b', 'other'), thingAt(k('b', 'other'), { v: 'again' })));
        const head = await store.currentRevision();

        const expected = [
          { type: 'ADDED', key: k('a'), rv: rvOf(a1), object: a1 },
          { type: 'ADDED', key: k('b', 'other'), rv: rvOf(b1), object: b1 },
          { type: 'MODIFIED', key: k('a'), rv: rvOf(a2), object: a2, prevObject: a1 },
          { type: 'MODIFIED', key: k('a'), rv: rvOf(a3), object: a3, prevObject: a2 },
          { type: 'DELETED', key: k('pre'), rv: rvOf(preGone), object: preGone, prevObject: pre },
          { type: 'DELETED', key: k('b', 'other'), rv: rvOf(bGone), object: bGone, prevObject: b1 },
          { type: 'ADDED', key: k('b', 'other'), rv: rvOf(b2), object: b2 },
        ];
        await live.caughtUp(head);
        assert.deepEqual(live.violations, []);
        assert.deepEqual(live.events.map(shape), expected, 'a watch started before the writes');

        // Started after the writes from the same revision: the same sequence, from history.
        const late = record(store, p, from);
        await late.caughtUp(head);
        assert.deepEqual(late.violations, []);
        assert.deepEqual(late.events.map(shape), expected, 'a watch started after the writes');
        // From the middle: exactly the changes after that revision.
        const mid = record(store, p, rvOf(a2));
        await mid.caughtUp(head);
        assert.deepEqual(mid.events.map(shape), expected.slice(3), 'a watch from the middle');

        // The same through another instance, whose memory starts after all of it.
        if (h.peer) {
          const other = await h.peer();
          const remote = record(other, p, from);
          await remote.caughtUp(head);
          assert.deepEqual(remote.violations, []);
          assert.deepEqual(remote.events.map(shape), expected, 'a watch on another instance');
          remote.stop();
        }

        // All of them go on with live changes.
        const a4 = await store.transact(tx => tx.update(k('a'), withSpec(a3, { v: 4 })));
        for (const w of [live, late, mid]) {
          await w.caughtUp(rvOf(a4));
          assert.deepEqual(shape(w.events.at(-1)!), { type: 'MODIFIED', key: k('a'), rv: rvOf(a4), object: a4, prevObject: a3 });
          assert.deepEqual(w.errors, []);
          w.stop();
        }
      });

      it('delivers only the changes under its prefix', async () => {
        const r = res('watchprefix');
        const from = await store.currentRevision();
        const nsA = record(store, prefixOf(r, 'a'), from);
        const whole = record(store, prefixOf(r), from);
        const writes: Array<[ObjectKey, boolean, boolean]> = [
          // key, seen by the namespace watch, seen by the resource watch
          [key(r, 'ab', 'x'), false, true],
          [key(r, 'a-b', 'x'), false, true],
          [key(r, '', 'a'), false, true],
          [key(r, 'a', 'x'), true, true],
          [key(`${r}s`, 'a', 'x'), false, false],
          [key(r.slice(0, -1), 'a', 'x'), false, false],
          [key(r, 'a', 'x', OTHER_GROUP), false, false],
          [key(r, 'a', 'y'), true, true],
        ];
        const made: KubeObject[] = [];
        for (const [k] of writes) made.push(await store.transact(tx => tx.create(k, thingAt(k))));
        const head = await store.currentRevision();
        await nsA.caughtUp(head);
        await whole.caughtUp(head);
        for (const w of [nsA, whole]) {
          assert.deepEqual(w.violations, []);
          assert.deepEqual(w.errors, []);
        }
        assert.deepEqual(
          nsA.events.map(e => e.object),
          made.filter((_, i) => writes[i][1]),
        );
        assert.deepEqual(
          whole.events.map(e => e.object),
          made.filter((_, i) => writes[i][2]),
        );
        nsA.stop();
        whole.stop();
      });

      it('reports progress up to the newest revision, also when nothing under its prefix changed', async () => {
        const r = res('progress');
        const from = await store.currentRevision();
        const w = record(store, prefixOf(r), from);
        const elsewhere = key(res('busy'), 'ns', 'x');
        const o = await store.transact(tx => tx.create(elsewhere, thingAt(elsewhere)));
        await w.caughtUp(rvOf(o));
        assert.equal(w.events.length, 0, 'no events for other resources');
        const mine = await store.transact(tx => tx.create(key(r, 'ns', 'x'), thing('ns', 'x')));
        await w.caughtUp(rvOf(mine));
        assert.deepEqual(
          w.events.map(e => e.rv),
          [rvOf(mine)],
          'the event arrives before progress past it',
        );
        assert.deepEqual(w.violations, []);
        w.stop();
      });

      it('delivers nothing after stop()', async () => {
        const r = res('stop');
        const p = prefixOf(r);
        const from = await store.currentRevision();
        const stopped = record(store, p, from);
        const x = await store.transact(tx => tx.create(key(r, 'ns', 'x'), thing('ns', 'x')));
        await stopped.caughtUp(rvOf(x));
        stopped.stop();
        const control = record(store, p, rvOf(x));
        const y = await store.transact(tx => tx.create(key(r, 'ns', 'y'), thing('ns', 'y')));
        await control.caughtUp(rvOf(y));
        assert.deepEqual(
          control.events.map(e => e.object),
          [y],
        );
        assert.deepEqual(
          stopped.events.map(e => e.object),
          [x],
          'the stopped watch got nothing more',
        );
        assert.deepEqual(stopped.violations, []);
        assert.deepEqual(stopped.errors, []);
        control.stop();
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('compaction', () => {
      it('fails lists and continues from before the compacted revision with Expired, and keeps the rest exact', async function () {
        const f = await fresh();
        const compact = compactorOf(f);
        if (!compact) this.skip();
        const s = f.store;
        const r = res('compact');
        const p = prefixOf(r);
        const k = (i: number) => key(r, 'ns', `o${i}`);
        await s.transact(async tx => {
          for (let i = 0; i < 6; i++) await tx.create(k(i), thingAt(k(i), { v: 0 }));
        });
        const first = await s.list(p, { limit: 2 });
        const R1 = first.rv;
        const o1 = (await s.get(k(1)))!;
        await s.transact(tx => tx.update(k(1), withSpec(o1, { v: 1 })));
        await s.transact(tx => tx.delete(k(4)));
        const R2 = await s.currentRevision();
        await s.transact(tx => tx.create(k(9), thingAt(k(9))));
        const head = await s.currentRevision();
        assert.ok(s.compactedRevision() <= R1, 'nothing compacted yet');

        const c = await compact();
        assert.equal(c, head, 'compacted up to the newest revision');
        assert.equal(s.compactedRevision(), c);
        assert.ok(s.compactedRevision() <= (await s.currentRevision()));

        await rejectsWith(s.list(p, { atRevision: R1 }), 'Expired', 'a list at a compacted revision');
        await rejectsWith(s.list(p, { atRevision: R2 }), 'Expired', 'a list just below the compacted revision');
        await rejectsWith(s.list(p, { limit: 2, continue: first.continue }), 'Expired', 'a continue from before the compaction');

        const latest = await s.list(p);
        assert.deepEqual(names(latest.items), ['ns/o0', 'ns/o1', 'ns/o2', 'ns/o3', 'ns/o5', 'ns/o9']);
        assert.deepEqual((await s.get(k(1)))?.spec, { v: 1 });
        const atC = await s.list(p, { atRevision: c });
        assert.equal(atC.rv, c);
        assert.deepEqual(atC.items, latest.items, 'the compacted revision itself is still readable');
        assert.deepEqual((await pageAll(s, p, { limit: 2 })).items, latest.items, 'new lists page as before');

        // Lists that begin after the compaction keep their revision through later writes.
        const page = await s.list(p, { limit: 3 });
        await s.transact(tx => tx.delete(k(0)));
        const rest = await s.list(p, { limit: 3, continue: page.continue });
        assert.equal(rest.rv, page.rv);
        assert.deepEqual([...page.items, ...rest.items], latest.items);
      });

      it('ends a watch from a compacted revision with Expired', async function () {
        const f = await fresh();
        const compact = compactorOf(f);
        if (!compact) this.skip();
        const s = f.store;
        const r = res('watchcompact');
        const p = prefixOf(r);
        const k = (i: number) => key(r, 'ns', `o${i}`);
        const made: KubeObject[] = [];
        for (let i = 0; i < 5; i++) made.push(await s.transact(tx => tx.create(k(i), thingAt(k(i)))));
        const R1 = rvOf(made[0]);
        const c = await compact();
        assert.equal(c, rvOf(made[4]));

        // The writer instance may still hold those changes in memory: it may deliver them, but
        // only exactly the changes that happened, never a stream with holes; and it may end
        // with Expired, at the start or after some of them.
        const own = record(s, p, R1);
        await waitFor('the watch to fail or catch up', () => own.errors.length > 0 || (own.progress ?? 0n) >= c);
        const history = made.slice(1);
        assert.deepEqual(
          own.events.map(e => e.object),
          history.slice(0, own.events.length),
          'what it delivered is the history after fromRV, from its start',
        );
        if (own.errors.length) {
          assert.ok(own.errors[0] instanceof StorageError && own.errors[0].code === 'Expired', `Expired, got ${own.errors[0]}`);
        } else {
          assert.equal(own.events.length, history.length, 'without an error, all of it');
        }
        assert.deepEqual(own.violations, []);
        own.stop();

        // An instance that never saw them has only the compacted history: Expired.
        const other = f.peer ? await f.peer() : s;
        for (const fromRV of f.peer ? [R1, c - 1n] : []) {
          const w = record(other, p, fromRV);
          await waitFor(`Expired for a watch from ${fromRV}`, () => w.errors.length > 0 || (w.progress ?? 0n) >= c);
          assert.equal(w.errors.length, 1, `a watch from ${fromRV}, below the compacted revision ${c}, ends with an error`);
          assert.ok(w.errors[0] instanceof StorageError && w.errors[0].code === 'Expired', `Expired, got ${w.errors[0]}`);
          assert.deepEqual(w.events, [], 'and delivers nothing');
          assert.deepEqual(w.violations, []);
          w.stop();
        }

        // From the compacted revision itself, a watch works.
        const ok = record(other, p, c);
        const later = await s.transact(tx => tx.create(k(7), thingAt(k(7))));
        await ok.caughtUp(rvOf(later));
        assert.deepEqual(ok.errors, []);
        assert.deepEqual(
          ok.events.map(e => e.object),
          [later],
        );
        ok.stop();
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('transactions', () => {
      it('return what fn returns and roll back everything when fn throws', async () => {
        const r = res('rollback');
        const p = prefixOf(r);
        const existing = await store.transact(tx => tx.create(key(r, '', 'existing'), thing('', 'existing', { v: 1 })));
        const doomed = await store.transact(tx => tx.create(key(r, '', 'doomed'), thing('', 'doomed')));
        assert.equal(await store.transact(async () => 42), 42);
        const before = await store.currentRevision();
        const listBefore = await store.list(p);
        const w = record(store, p, before);

        const boom = new Error('boom');
        await assert.rejects(
          store.transact(async tx => {
            await tx.create(key(r, '', 'new'), thing('', 'new'));
            await tx.update(key(r, '', 'existing'), withSpec(existing, { v: 2 }));
            await tx.delete(key(r, '', 'doomed'));
            await tx.lock(`${r}-lock`);
            throw boom;
          }),
          (err: unknown) => err === boom,
          'transact rejects with the error fn threw',
        );
        await rejectsWith(
          store.transact(async tx => {
            await tx.create(key(r, '', 'new2'), thing('', 'new2'));
            await tx.update(key(r, '', 'existing'), withSpec(existing, { v: 3 }), '1');
          }),
          'Conflict',
          'a transaction failing on its second write',
        );

        assert.equal(await store.currentRevision(), before, 'no revision was taken');
        assert.equal(await store.get(key(r, '', 'new')), undefined);
        assert.equal(await store.get(key(r, '', 'new2')), undefined);
        assert.deepEqual(await store.get(key(r, '', 'existing')), existing);
        assert.deepEqual(await store.get(key(r, '', 'doomed')), doomed);
        assert.deepEqual((await store.list(p)).items, listBefore.items);

        // The lock was released, and no change reached the watch: the next write is the only
        // event, at the very next revision.
        const marker = await store.transact(async tx => {
          await tx.lock(`${r}-lock`);
          return tx.create(key(r, '', 'marker'), thing('', 'marker'));
        });
        assert.equal(rvOf(marker), before + 1n, 'revisions of rolled-back writes leave no gap');
        await w.caughtUp(rvOf(marker));
        assert.deepEqual(
          w.events.map(e => e.object),
          [marker],
        );
        assert.deepEqual(w.violations, []);
        w.stop();
      });

      it('stay usable after a StorageError the caller handles', async () => {
        const r = res('handled');
        const k = key(r, 'ns', 'a');
        const a = await store.transact(tx => tx.create(k, thingAt(k)));
        const [made, updated] = await store.transact(async tx => {
          let m: KubeObject;
          try {
            m = await tx.create(k, thingAt(k));
          } catch (err) {
            assert.ok(err instanceof StorageError && err.code === 'AlreadyExists', String(err));
            m = await tx.create(key(r, 'ns', 'b'), thing('ns', 'b'));
          }
          let u: KubeObject;
          try {
            u = await tx.update(k, withSpec(a, { v: 1 }), '1');
          } catch (err) {
            assert.ok(err instanceof StorageError && err.code === 'Conflict', String(err));
            u = await tx.update(k, withSpec(a, { v: 2 }), a.metadata.resourceVersion);
          }
          return [m, u];
        });
        assert.deepEqual(await store.get(key(r, 'ns', 'b')), made);
        assert.deepEqual(await store.get(k), updated);
        assert.ok(rvOf(updated) === rvOf(made) + 1n, 'the handled failures took no revision');
      });

      it('see their own writes, and others do not until they commit', async () => {
        const r = res('ownwrites');
        const p = prefixOf(r, 'ns');
        const ka = key(r, 'ns', 'a');
        const kb = key(r, 'ns', 'b');
        const b = await store.transact(tx => tx.create(kb, thingAt(kb, { color: 'blue' })));
        const since = await store.currentRevision();
        const a2 = await store.transact(async tx => {
          assert.equal(tx.hasWritten, false);
          assert.deepEqual(await tx.list(p), [b]);
          const a = await tx.create(ka, thingAt(ka, { color: 'red' }));
          assert.equal(tx.hasWritten, true);
          assert.deepEqual(await tx.get(ka), a, 'get sees the create');
          assert.deepEqual(await tx.list(p), [a, b], 'list sees the create');
          const updated = await tx.update(ka, withSpec(a, { color: 'green' }), a.metadata.resourceVersion);
          assert.deepEqual(await tx.get(ka, { forUpdate: true }), updated, 'get sees the update');
          await tx.delete(kb);
          assert.equal(await tx.get(kb), undefined, 'get sees the delete');
          assert.deepEqual(await tx.list(p), [updated], 'list sees the update and the delete');
          assert.deepEqual(await tx.list(p, { fields: { 'spec.color': 'green' } }), [updated], 'fields see the update');
          assert.deepEqual(await tx.list(p, { fields: { 'spec.color': 'red' } }), [], 'and not the replaced state');
          assert.deepEqual(await tx.listChanged(p, since), { count: 1, changed: [updated] }, 'listChanged sees them');

          // Nobody else sees any of it before the commit.
          assert.equal(await store.get(ka), undefined, 'an uncommitted create is invisible outside');
          assert.deepEqual(await store.get(kb), b, 'an uncommitted delete is invisible outside');
          assert.deepEqual((await store.list(p)).items, [b]);
          return updated;
        });
        assert.deepEqual(await store.get(ka), a2);
        assert.equal(await store.get(kb), undefined);
      });

      it('list with fields, pick and filter', async () => {
        const r = res('txlist');
        const objs: Array<[ObjectKey, Record<string, unknown>, Record<string, string>?]> = [
          [key(r, 'n', 'o1'), { color: 'red', size: 'L', n: 1, nested: { a: '1', b: [1, 2] } }, { tier: 'web' }],
          [key(r, 'n', 'o2'), { color: 'red', size: 'S', n: 2 }],
          [key(r, 'n', 'o3'), { color: 'blue', size: 'L', n: 3 }],
          [key(r, 'm', 'o4'), { color: 'red', size: 'L', n: 4 }],
          [key(r, 'n', 'o5'), { n: 5 }],
        ];
        const made = await store.transact(async tx => {
          const out = new Map<string, KubeObject>();
          for (const [k, spec, labels] of objs) {
            const o = thingAt(k, spec);
            if (labels) o.metadata.labels = labels;
            out.set(k.name, await tx.create(k, o));
          }
          return out;
        });
        const get = (...ns: string[]) => ns.map(n => made.get(n)!);
        const all = prefixOf(r);
        const inN = prefixOf(r, 'n');
        await store.transact(async tx => {
          assert.deepEqual(await tx.list(all), get('o4', 'o1', 'o2', 'o3', 'o5'));
          assert.deepEqual(await tx.list(all, { fields: { 'spec.color': 'red' } }), get('o4', 'o1', 'o2'));
          assert.deepEqual(await tx.list(all, { fields: { 'spec.color': 'red', 'spec.size': 'L' } }), get('o4', 'o1'), 'every field must match');
          assert.deepEqual(await tx.list(inN, { fields: { 'spec.color': 'red' } }), get('o1', 'o2'), 'fields within a namespace');
          assert.deepEqual(await tx.list(all, { fields: { 'metadata.labels.tier': 'web' } }), get('o1'));
          assert.deepEqual(await tx.list(all, { fields: { 'spec.color': 'green' } }), []);
          assert.deepEqual(await tx.list(all, { fields: { 'spec.nothing': 'red' } }), []);
          assert.deepEqual(await tx.list(all, { fields: { 'spec.color': 'red' }, filter: o => o.spec?.size === 'S' }), get('o2'), 'fields and filter');
          assert.deepEqual(await tx.list(all, { forUpdate: true, fields: { 'spec.size': 'L' } }), get('o4', 'o1', 'o3'), 'forUpdate lists the same');

          assert.deepEqual(
            await tx.list(inN, { fields: { 'spec.color': 'red' }, pick: ['metadata.name', 'spec.nested', 'spec.n', 'spec.missing'] }),
            [
              { metadata: { name: 'o1' }, spec: { nested: { a: '1', b: [1, 2] }, n: 1 } },
              { metadata: { name: 'o2' }, spec: { n: 2 } },
            ],
            'pick reads only the picked paths, values as stored',
          );
          // The filter sees the partial objects.
          const seen: KubeObject[] = [];
          const picked = await tx.list(all, {
            pick: ['metadata.name', 'spec.n'],
            filter: o => {
              seen.push(o);
              return (o.spec!.n as number) % 2 === 1;
            },
          });
          assert.deepEqual(picked, [
            { metadata: { name: 'o1' }, spec: { n: 1 } },
            { metadata: { name: 'o3' }, spec: { n: 3 } },
            { metadata: { name: 'o5' }, spec: { n: 5 } },
          ]);
          assert.equal(seen.length, 5);
          for (const o of seen) assert.deepEqual(Object.keys(o.spec ?? {}), ['n'], 'the filter got the partial object');
        });
      });

      it('listChanged tells how many objects a set holds and which were written since a revision', async () => {
        const r = res('changed');
        const p = prefixOf(r, 'n');
        const k = (n: string) => key(r, 'n', n);
        await store.transact(async tx => {
          for (const n of ['a', 'b', 'c']) await tx.create(k(n), thingAt(k(n), { v: 1, color: n === 'c' ? 'blue' : 'red' }));
        });
        await store.transact(tx => tx.create(key(r, 'm', 'x'), thing('m', 'x')));
        const since = await store.currentRevision();
        assert.deepEqual(await store.transact(tx => tx.listChanged(p, since)), { count: 3, changed: [] });
        const b = (await store.get(k('b')))!;
        const [b2, d] = await store.transact(async tx => {
          const u = await tx.update(k('b'), withSpec(b, { v: 2, color: 'red' }));
          await tx.delete(k('c'));
          const dd = await tx.create(k('d'), thingAt(k('d'), { v: 1, color: 'blue' }));
          return [u, dd];
        });
        assert.deepEqual(await store.transact(tx => tx.listChanged(p, since)), { count: 3, changed: [b2, d] }, 'count now, changed in key order');
        assert.deepEqual(await store.transact(tx => tx.listChanged(p, since, { pick: ['metadata.name', 'spec.v'] })), {
          count: 3,
          changed: [
            { metadata: { name: 'b' }, spec: { v: 2 } },
            { metadata: { name: 'd' }, spec: { v: 1 } },
          ],
        });
        assert.deepEqual(await store.transact(tx => tx.listChanged(p, since, { fields: { 'spec.color': 'red' } })), { count: 2, changed: [b2] });
        assert.deepEqual(await store.transact(tx => tx.listChanged(p, 0n)), { count: 3, changed: (await store.list(p)).items });
        assert.deepEqual(await store.transact(tx => tx.listChanged(prefixOf(r, 'none'), 0n)), { count: 0, changed: [] });
      });

      it('lock() runs two transactions that take the same lock one after the other', async () => {
        const r = res('lock');
        const lockName = `${r}/invariant`;
        const k = key(r, '', 'first');
        let aLocked!: () => void;
        const aHasLock = new Promise<void>(resolve => {
          aLocked = resolve;
        });
        let openGate!: () => void;
        const gate = new Promise<void>(resolve => {
          openGate = resolve;
        });

        const a = store.transact(async tx => {
          await tx.lock(lockName);
          aLocked();
          await gate;
          return tx.create(k, thingAt(k));
        });
        await aHasLock;
        const b = store.transact(async tx => {
          await tx.lock(lockName);
          // Taken only after A committed: B reads what A wrote.
          return tx.get(k);
        });
        // A correct lock keeps B waiting until A commits; a broken one lets B finish first, so
        // A is held until B is done or has had ample time to get through.
        await Promise.race([
          b.then(
            () => {},
            () => {},
          ),
          delay(250),
        ]);
        openGate();
        const [made, seenByB] = await Promise.all([a, b]);
        assert.deepEqual(seenByB, made, 'the second transaction ran after the first committed');

        // Check-then-write under the lock loses no update, though each reads without locking.
        const counter = key(r, '', 'counter');
        await store.transact(tx => tx.create(counter, thingAt(counter, { n: 0 })));
        await Promise.all(
          Array.from({ length: 8 }, () =>
            store.transact(async tx => {
              await tx.lock(`${r}/counter`);
              const cur = (await tx.get(counter))!;
              return tx.update(counter, withSpec(cur, { n: (cur.spec!.n as number) + 1 }));
            }),
          ),
        );
        assert.deepEqual((await store.get(counter))?.spec, { n: 8 });
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('final writes', () => {
      it('commit with the write, return its revision, and accept nothing after it', async () => {
        const r = res('final');
        const k1 = key(r, 'ns', 'a');
        const k2 = key(r, 'ns', 'b');
        let after: unknown = 'not tried';
        const [first, made] = await store.transact(async tx => {
          const f = await tx.create(k1, thingAt(k1, { v: 1 }));
          const m = await tx.create(k2, thingAt(k2), { final: true });
          await tx.get(k1).then(
            () => {
              after = 'accepted';
            },
            err => {
              after = err;
            },
          );
          return [f, m];
        });
        assert.ok(after instanceof Error, `an operation after a final write is refused (got ${String(after)})`);
        assert.ok(rvOf(made) > rvOf(first));
        assert.equal(await store.currentRevision(), rvOf(made));
        assert.deepEqual(await store.get(k1), first);
        assert.deepEqual(await store.get(k2), made);

        const updated = await store.transact(tx => tx.update(k1, withSpec(first, { v: 2 }), first.metadata.resourceVersion, { final: true }));
        assert.deepEqual(await store.get(k1), updated);
        const gone = await store.transact(tx => tx.delete(k1, updated.metadata.resourceVersion, { final: true }));
        assert.deepEqual(gone, withRV(updated, rvOf(gone)));
        assert.equal(await store.get(k1), undefined);
      });

      it('commit nothing when the final write fails', async () => {
        const r = res('finalfail');
        const exists = key(r, 'ns', 'exists');
        const e = await store.transact(tx => tx.create(exists, thingAt(exists)));
        const before = await store.currentRevision();
        const earlier = key(r, 'ns', 'earlier');
        await rejectsWith(
          store.transact(async tx => {
            await tx.create(earlier, thingAt(earlier));
            return tx.create(exists, thingAt(exists), { final: true });
          }),
          'AlreadyExists',
          'a final create of an existing key',
        );
        await rejectsWith(
          store.transact(async tx => {
            await tx.create(earlier, thingAt(earlier));
            return tx.update(exists, withSpec(e, { v: 2 }), '1', { final: true });
          }),
          'Conflict',
          'a final update with a stale expectedRV',
        );
        await rejectsWith(
          store.transact(async tx => {
            await tx.create(earlier, thingAt(earlier));
            return tx.delete(key(r, 'ns', 'missing'), undefined, { final: true });
          }),
          'NotFound',
          'a final delete of a missing key',
        );
        assert.equal(await store.get(earlier), undefined, 'the writes before the failed final write were not committed');
        assert.deepEqual(await store.get(exists), e);
        assert.equal(await store.currentRevision(), before);
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('read-your-writes', () => {
      it('get and list right after an acknowledged write return it', async () => {
        const r = res('ryw');
        const p = prefixOf(r);
        const k = (i: number) => key(r, `ns${i % 2}`, `o${i % 3}`);
        const state = new Map<string, KubeObject>();
        const check = async (what: string, written: KubeObject | undefined, kk: ObjectKey, rv: bigint) => {
          assert.deepEqual(await store.get(kk), written, `${what}: get`);
          const list = await store.list(p);
          assert.ok(list.rv >= rv, `${what}: list revision ${list.rv} >= ${rv}`);
          assert.deepEqual(byKey(list.items), state, `${what}: list`);
          const ns = await store.list(prefixOf(r, kk.namespace), { limit: 10 });
          assert.deepEqual(
            ns.items.find(o => o.metadata.name === kk.name),
            written,
            `${what}: namespace list`,
          );
          const at = await store.list(p, { atRevision: rv });
          assert.deepEqual(byKey(at.items), state, `${what}: list at the write's revision`);
          assert.ok((await store.currentRevision()) >= rv, `${what}: currentRevision`);
        };
        for (let i = 0; i < 24; i++) {
          const kk = k(i);
          const cur = state.get(keyName(kk));
          if (!cur) {
            const o = await store.transact(tx => tx.create(kk, thingAt(kk, { i })));
            state.set(keyName(kk), o);
            await check(`create ${i}`, o, kk, rvOf(o));
          } else if (i % 4 === 3) {
            const gone = await store.transact(tx => tx.delete(kk, cur.metadata.resourceVersion));
            state.delete(keyName(kk));
            await check(`delete ${i}`, undefined, kk, rvOf(gone));
          } else {
            const o = await store.transact(tx => tx.update(kk, withSpec(cur, { i }), cur.metadata.resourceVersion));
            state.set(keyName(kk), o);
            await check(`update ${i}`, o, kk, rvOf(o));
          }
        }
      });

      it('another instance reads a write as soon as it is acknowledged', async function () {
        const other = await peer(this);
        const r = res('rywpeer');
        const p = prefixOf(r);
        const state = new Map<string, KubeObject>();
        for (let i = 0; i < 20; i++) {
          const [writer, reader] = i % 2 ? [other, store] : [store, other];
          const kk = key(r, 'ns', `o${i % 3}`);
          const cur = state.get(keyName(kk));
          let rv: bigint;
          if (!cur) {
            const o = await writer.transact(tx => tx.create(kk, thingAt(kk, { i })));
            state.set(keyName(kk), o);
            rv = rvOf(o);
          } else if (i % 5 === 4) {
            rv = rvOf(await writer.transact(tx => tx.delete(kk)));
            state.delete(keyName(kk));
          } else {
            const o = await writer.transact(tx => tx.update(kk, withSpec(cur, { i }), cur.metadata.resourceVersion));
            state.set(keyName(kk), o);
            rv = rvOf(o);
          }
          assert.deepEqual(await reader.get(kk), state.get(keyName(kk)), `write ${i}: get on the other instance`);
          const list = await reader.list(p);
          assert.ok(list.rv >= rv, `write ${i}: list revision ${list.rv} >= ${rv}`);
          assert.deepEqual(byKey(list.items), state, `write ${i}: list on the other instance`);
          assert.deepEqual(byKey((await reader.list(p, { atRevision: rv })).items), state, `write ${i}: list at the write's revision`);
          assert.ok((await reader.currentRevision()) >= rv, `write ${i}: currentRevision on the other instance`);
        }
        // A watch on the other instance from just before a write delivers it.
        const kk = key(r, 'ns', 'watched');
        const o = await store.transact(tx => tx.create(kk, thingAt(kk)));
        const w = record(other, p, rvOf(o) - 1n);
        await w.caughtUp(rvOf(o));
        assert.deepEqual(
          w.events.map(e => e.object),
          [o],
        );
        w.stop();
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('revisions', () => {
      it('currentRevision is the newest acknowledged write; compactedRevision stays at or below it', async function () {
        const r = res('revisions');
        const c0 = store.compactedRevision();
        const r0 = await store.currentRevision();
        assert.ok(c0 <= r0, `compactedRevision ${c0} <= currentRevision ${r0}`);
        assert.equal(await store.currentRevision(), r0, 'stable while nothing is written');
        const o = await store.transact(tx => tx.create(key(r, '', 'a'), thing('', 'a')));
        assert.equal(await store.currentRevision(), rvOf(o));
        assert.ok(rvOf(o) > r0);
        await assert.rejects(
          store.transact(async tx => {
            await tx.create(key(r, '', 'b'), thing('', 'b'));
            throw new Error('no');
          }),
        );
        assert.equal(await store.currentRevision(), rvOf(o), 'unchanged by a rolled-back transaction');
        assert.ok(store.compactedRevision() >= c0, 'compactedRevision never goes back');
        assert.ok(store.compactedRevision() <= rvOf(o));
        const atCompacted = await store.list(prefixOf(r), { atRevision: store.compactedRevision() });
        assert.equal(atCompacted.rv, store.compactedRevision(), 'the compacted revision is readable');

        const f = await fresh();
        const start = await f.store.currentRevision();
        assert.ok(f.store.compactedRevision() <= start);
        const w = record(f.store, prefixOf(r), f.store.compactedRevision());
        const made = await f.store.transact(tx => tx.create(key(r, '', 'a'), thing('', 'a')));
        await w.caughtUp(rvOf(made));
        assert.deepEqual(w.errors, [], 'a watch from the compacted revision of a new store works');
        assert.deepEqual(
          w.events.map(e => e.object),
          [made],
        );
        w.stop();
        if (h.peer) assert.ok((await (await peer(this)).currentRevision()) >= rvOf(o), 'another instance has seen it');
      });
    });

    // -------------------------------------------------------------------------------------------
    describe('concurrency', () => {
      it('32 concurrent transactions on overlapping keys: a watch from 0 sees a gap-free sequence ending at the listed state', async function () {
        this.timeout(30_000);
        const f = await fresh();
        const s = f.store;
        const other = f.peer ? await f.peer() : s;
        const r = res('race');
        const p = prefixOf(r);
        const KEYS = 8;
        const keyOf = (n: number) => key(r, `ns${n % 2}`, `k${n}`);
        const start = await s.currentRevision();
        const live = record(s, p, start);
        let midway: Recorder | undefined;

        const acknowledged: KubeObject[] = [];
        let retries = 0;
        const worker = async (w: number) => {
          const via = w % 2 ? other : s;
          const rand = rng(w + 1);
          for (let round = 0; round < 3; round++) {
            // One or two keys, in either order, overlapping with the other workers'.
            const first = rand(KEYS);
            const second = rand(KEYS);
            const keys = w % 3 === 0 && first !== second ? [first, second] : [first];
            const deletes = rand(5) === 0;
            for (;;) {
              try {
                const out = await via.transact(async tx => {
                  const results: KubeObject[] = [];
                  for (const n of keys) {
                    const k = keyOf(n);
                    const cur = await tx.get(k, { forUpdate: true });
                    if (!cur) results.push(await tx.create(k, thingAt(k, { w, round, n: 1 })));
                    else if (deletes) results.push(await tx.delete(k, cur.metadata.resourceVersion));
                    else results.push(await tx.update(k, withSpec(cur, { w, round, n: (cur.spec!.n as number) + 1 }), cur.metadata.resourceVersion));
                  }
                  return results;
                });
                acknowledged.push(...out);
                break;
              } catch (err) {
                // Two creates of a missing key race: the loser is told so and, like a client, tries again.
                if (!(err instanceof StorageError && (err.code === 'AlreadyExists' || err.code === 'Conflict'))) throw err;
                retries++;
              }
            }
            if (!midway && acknowledged.length >= 40) midway = record(other, p, 0n);
          }
        };
        await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
        const head = await s.currentRevision();
        assert.equal(head - start, BigInt(acknowledged.length), `one revision per acknowledged write (${acknowledged.length} writes, ${retries} retries)`);
        const byRV = new Map(acknowledged.map(o => [rvOf(o), o]));
        assert.equal(byRV.size, acknowledged.length, 'no two writes share a revision');

        const fromZero = record(s, p, 0n);
        const fromZeroOther = record(other, p, 0n);
        const watchers: Array<[string, Recorder]> = [
          ['live', live],
          ['from 0', fromZero],
          ['from 0 on the other instance', fromZeroOther],
          ['from 0, started midway', midway!],
        ];
        const expectedRVs = Array.from({ length: Number(head - start) }, (_, i) => start + 1n + BigInt(i));
        const final = await s.list(p);
        assert.ok(final.rv >= head);
        assert.deepEqual(byKey((await other.list(p)).items), byKey(final.items), 'both instances list the same');
        for (const [what, w] of watchers) {
          assert.ok(w, what);
          await w.caughtUp(head);
          assert.deepEqual(w.violations, [], what);
          assert.deepEqual(w.errors, [], what);
          assert.deepEqual(
            w.events.map(e => e.rv),
            expectedRVs,
            `${what}: every revision once, in order, no gap`,
          );
          for (const e of w.events) assert.deepEqual(e.object, byRV.get(e.rv), `${what}: the event at ${e.rv} is the acknowledged write`);
          assert.deepEqual(replay(w.events), byKey(final.items), `${what}: replayed, the events are the listed state`);
          w.stop();
        }
      });
    });
  });
}
