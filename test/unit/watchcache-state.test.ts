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
