// The watch cache's objects of a resource, on their own: no database, events made by hand.
import assert from 'node:assert/strict';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import type { ChangeEvent, ObjectKey } from '../../pkg/storage/interface.ts';
import { WatchCache } from '../../pkg/storage/watchcache/cache.ts';
import { compareKeys, ResourceState } from '../../pkg/storage/watchcache/state.ts';

const key = (namespace: string, name: string): ObjectKey => ({ group: 'g', resource: 'things', namespace, name });
const object = (namespace: string, name: string, v = 0): KubeObject => ({ metadata: { name, ...(namespace ? { namespace } : {}) }, spec: { v } });
const event = (type: ChangeEvent['type'], namespace: string, name: string, rv: bigint, v = 0): ChangeEvent => ({
  type,
  key: key(namespace, name),
  object: object(namespace, name, v),
  rv,
});
const names = (items: KubeObject[]) => items.map(o => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);

describe('watch cache: the objects of a resource', () => {
  it('sorts as UTF-8 bytes do (PostgreSQL "C"), not as UTF-16 units or a locale', () => {
    const sorted = ['aa', 'a-c', 'B', '\u{1F600}', '\uFFFD', 'a'].sort(compareKeys);
    assert.deepEqual(sorted, ['B', 'a', 'a-c', 'aa', '\uFFFD', '\u{1F600}']);
    assert.ok(Buffer.compare(Buffer.from('\uFFFD'), Buffer.from('\u{1F600}')) < 0);
  });

  it('applies changes in order, skips those its snapshot has, and pages like the storage', () => {
    const state = new ResourceState(
      [
        { key: key('b', 'x'), object: object('b', 'x') },
        { key: key('a', 'y'), object: object('a', 'y') },
        { key: key('a', 'x'), object: object('a', 'x') },
      ],
      10n,
    );
    state.apply(event('DELETED', 'a', 'x', 9n));
    assert.ok(state.get('a', 'x'), 'a change at or below the snapshot is in it already');
    state.apply(event('ADDED', 'a', 'z', 11n));
    state.apply(event('MODIFIED', 'b', 'x', 12n, 2));
    state.apply(event('DELETED', 'a', 'y', 13n));
    assert.equal(state.rv, 13n);
    assert.equal(state.changedAt, 13n);
    assert.equal(state.get('a', 'y'), undefined);
    assert.equal(state.get('b', 'x')?.spec?.v, 2);
    assert.deepEqual(names(state.page({ limit: 0 }).items), ['a/x', 'a/z', 'b/x']);

    const first = state.page({ limit: 2 });
    assert.deepEqual(names(first.items), ['a/x', 'a/z']);
    assert.deepEqual(first.continueAfter, ['a', 'z']);
    assert.equal(first.remaining, 1);
    const rest = state.page({ limit: 2, after: first.continueAfter });
    assert.deepEqual(names(rest.items), ['b/x']);
    assert.equal(rest.continueAfter, undefined, 'no token when nothing follows');

    assert.deepEqual(names(state.page({ namespace: 'a', limit: 0 }).items), ['a/x', 'a/z']);
    assert.deepEqual(names(state.page({ namespace: 'b', limit: 5, after: ['a', 'z'] }).items), ['b/x']);
    const filtered = state.page({ limit: 1, filter: o => o.metadata.name !== 'x' });
    assert.deepEqual(names(filtered.items), ['a/z']);
    assert.equal(filtered.continueAfter, undefined, 'the filter runs before the limit: nothing else matches');
  });

  it('pages, counts and reads as one list of (namespace, name) keys in byte order, whatever the changes', () => {
    // The model: every key in one sorted list, as the storage's ORDER BY namespace, name reads them.
    const joined = (ns: string, name: string) => `${ns}\u0000${name}`;
    const model = new Map<string, { ns: string; name: string; v: number }>();
    const namespaces = ['', 'a', 'ab', 'b', '\uFFFD', '\u{1F600}'];
    const namesPool = ['x', 'x-1', 'xy', 'y', 'Z', 'é', '\u{1F600}', '\uFFFD', '0'];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const state = new ResourceState([], 0n);
    for (let rv = 1n; rv <= 400n; rv++) {
      const ns = namespaces[random(namespaces.length)];
      const name = namesPool[random(namesPool.length)];
      const type = random(3) === 0 ? 'DELETED' : model.has(joined(ns, name)) ? 'MODIFIED' : 'ADDED';
      state.apply(event(type, ns, name, rv, Number(rv)));
      if (type === 'DELETED') model.delete(joined(ns, name));
      else model.set(joined(ns, name), { ns, name, v: Number(rv) });
      if (rv % 20n !== 0n) continue;
      const sorted = [...model.keys()].sort(compareKeys).map(k => model.get(k)!);
      assert.equal(state.size, sorted.length);
      for (const e of sorted) assert.equal(state.get(e.ns, e.name)?.spec?.v, e.v);
      assert.equal(state.get('nope', 'x'), undefined);
      const even = (o: KubeObject) => (o.spec?.v as number) % 2 === 0;
      for (const namespace of [undefined, ...namespaces, 'zz']) {
        for (const filter of [undefined, even]) {
          const want = sorted.filter(e => (namespace === undefined || namespace === '' || e.ns === namespace) && (!filter || e.v % 2 === 0));
          const all = state.page({ namespace, limit: 0, filter });
          assert.deepEqual(
            names(all.items),
            want.map(e => `${e.ns}/${e.name}`),
          );
          for (const limit of [1, 3]) {
            // Page through, each page after the last key of the one before.
            const got: string[] = [];
            let after: [string, string] | undefined;
            for (let pages = 0; ; pages++) {
              assert.ok(pages <= want.length + 1, 'pages end');
              const page = state.page({ namespace, limit, filter, after });
              got.push(...names(page.items));
              if (!page.continueAfter) break;
              assert.deepEqual(
                page.continueAfter,
                got.length
                  ? (() => {
                      const e = want[got.length - 1];
                      return [e.ns, e.name];
                    })()
                  : undefined,
              );
              if (!filter) assert.equal(page.remaining, want.length - got.length, 'remaining counts the keys after the page');
              after = page.continueAfter;
            }
            assert.deepEqual(
              got,
              want.map(e => `${e.ns}/${e.name}`),
            );
          }
        }
      }
      // A page may start after a key the state does not hold.
      const from: [string, string] = ['a', 'xa'];
      const rest = sorted.filter(e => compareKeys(joined(e.ns, e.name), joined(...from)) > 0);
      assert.deepEqual(
        names(state.page({ limit: 0, after: from }).items),
        rest.map(e => `${e.ns}/${e.name}`),
      );
    }
  });

  it('loads a resource once, keeping the changes published while it loads', async () => {
    let loads = 0;
    let release!: () => void;
    const gate = new Promise<void>(r => {
      release = r;
    });
    const cache = new WatchCache({
      capacity: 100,
      watcherBuffer: 100,
      history: { read: async () => ({ events: [], compacted: 0n, head: 0n }) },
      snapshots: {
        async load() {
          loads++;
          await gate;
          // Read after the load began: it has revision 6 but not 7.
          return {
            objects: [
              { key: key('', 'old'), object: object('', 'old') },
              { key: key('', 'six'), object: object('', 'six') },
            ],
            rv: 6n,
          };
        },
      },
    });
    cache.reset(5n);
    const a = cache.resourceState('g', 'things');
    const b = cache.resourceState('g', 'things');
    cache.publish(event('ADDED', '', 'six', 6n));
    cache.publish(event('ADDED', '', 'seven', 7n));
    release();
    const [sa, sb] = await Promise.all([a, b]);
    assert.equal(sa, sb);
    assert.equal(loads, 1);
    assert.deepEqual(names(sa.page({ limit: 0 }).items), ['/old', '/seven', '/six']);
    cache.publish(event('DELETED', '', 'old', 8n));
    assert.equal((await cache.resourceState('g', 'things')).get('', 'old'), undefined);
    assert.equal(cache.revisionOf(sa), 8n);
    assert.ok(Object.isFrozen(sa.get('', 'six')), 'objects are shared: frozen');
    // A reset (the cache may have missed changes) detaches the state; the next read loads again.
    cache.reset(8n);
    assert.ok(sa.detached);
    await cache.resourceState('g', 'things');
    assert.equal(loads, 2);
  });
});
