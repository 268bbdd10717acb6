// The watch cache keeps what its objects have in common once (share.ts): on its own, and through
// the cache's events and snapshots.
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { staleStoredForm, type ChangeEvent, type ObjectKey } from '../../pkg/storage/interface.ts';
import { WatchCache } from '../../pkg/storage/watchcache/cache.ts';
import { SharedParts } from '../../pkg/storage/watchcache/share.ts';

const project = (name: string, time: string): KubeObject =>
  JSON.parse(
    JSON.stringify({
      metadata: {
        name,
        uid: `uid-${name}`,
        creationTimestamp: time,
        labels: { team: 'a' },
        managedFields: [{ manager: 'm', operation: 'Update', time, fieldsV1: { 'f:spec': { 'f:members': {}, 'f:displayName': {} } } }],
      },
      spec: { members: ['admin'], displayName: name, finalizers: ['project'] },
      status: {
        phase: 'Active',
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'Synced', status: 'True' },
        ],
      },
    }),
  );

/** Every object under `v`, with how often it occurs. */
function occurrences(v: unknown, into = new Map<object, number>()): Map<object, number> {
  if (v !== null && typeof v === 'object') {
    into.set(v, (into.get(v) ?? 0) + 1);
    for (const c of Object.values(v)) occurrences(c, into);
  }
  return into;
}

describe('watch cache: parts the cached objects share', () => {
  it('keeps equal parts of different objects once, frozen, and leaves the objects equal to what they were', () => {
    const shared = new SharedParts();
    const a = project('a', '2026-01-01T00:00:00Z');
    const b = project('b', '2026-01-01T00:00:00Z');
    const [wantA, wantB] = [structuredClone(a), structuredClone(b)];
    assert.equal(shared.freeze(a), a, 'the object itself is kept');
    shared.freeze(b);
    assert.deepEqual(a, wantA);
    assert.deepEqual(b, wantB);
    assert.deepEqual(Object.keys(a.metadata), Object.keys(wantA.metadata), 'the order of fields is kept');
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.metadata.managedFields![0].fieldsV1));
    assert.notEqual(a.metadata, b.metadata, 'parts that differ are their own');
    assert.notEqual(a.spec, b.spec);
    assert.equal(a.metadata.labels, b.metadata.labels);
    assert.equal(a.metadata.managedFields, b.metadata.managedFields, 'same manager, same second: one managedFields');
    assert.equal(a.spec!.members, b.spec!.members);
    assert.equal(a.status, b.status);
    // A part of another second is its own, but what is inside it is still shared.
    const c = shared.freeze(project('c', '2026-01-01T00:00:01Z'));
    assert.notEqual(c.metadata.managedFields, a.metadata.managedFields);
    assert.equal(c.metadata.managedFields![0].fieldsV1, a.metadata.managedFields![0].fieldsV1);
  });

  it('never puts one part twice in one object, so a structuredClone of it changes in one place only', () => {
    const shared = new SharedParts();
    shared.freeze(project('a', 't'));
    // Equal parts inside one object: the empty fieldsV1 leaves, the two equal statuses of conditions.
    const b = shared.freeze(project('b', 't'));
    for (const [part, n] of occurrences(b)) assert.equal(n, 1, `${JSON.stringify(part)} occurs once`);
    const copy = structuredClone(b) as KubeObject & { status: { conditions: Array<{ status: string }> } };
    copy.status.conditions[0].status = 'False';
    assert.equal(copy.status.conditions[1].status, 'True');
    const fields = (copy.metadata.managedFields![0].fieldsV1 as Record<string, Record<string, Record<string, unknown>>>)['f:spec'];
    fields['f:members']['.'] = {};
    assert.deepEqual(fields['f:displayName'], {});
    // A part shared with another object and met again inside this one is also copied.
    const inner = { x: { y: 1 } };
    const d = shared.freeze(JSON.parse(JSON.stringify({ metadata: { name: 'd' }, one: inner, two: { x: { y: 1 }, z: 2 } })));
    for (const [part, n] of occurrences(d)) assert.equal(n, 1, `${JSON.stringify(part)} occurs once`);
  });

  it('keeps equal strings once (what two equal strings are is seen only in the memory they take)', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const long = 'x'.repeat(200);
    const heapOf = (share: boolean): number => {
      const shared = new SharedParts();
      gc();
      const before = process.memoryUsage().heapUsed;
      // Each parse makes its own strings; the objects are one of a kind (their names), their `text` is not.
      const kept = Array.from({ length: 20000 }, (_, i) => {
        const o = JSON.parse(`{"metadata":{"name":"n${i}"},"text":"${long}"}`) as KubeObject;
        return share ? shared.freeze(o) : Object.freeze(o);
      });
      gc();
      const used = process.memoryUsage().heapUsed - before;
      assert.equal(kept.length, 20000);
      return used;
    };
    const own = heapOf(false);
    const shared = heapOf(true);
    assert.ok(own - shared > 20000 * 150, `20,000 strings of 200 characters kept once: ${Math.round((own - shared) / 1024)} KiB saved`);
  });

  it('shares the strings, keeps what JSON cannot hold as it is, and keeps fields named __proto__ as data', () => {
    const shared = new SharedParts();
    const one = shared.freeze(JSON.parse('{"a":{"t":"2026-01-01T00:00:00Z"},"b":[1,2]}'));
    const two = shared.freeze(JSON.parse('{"a":{"t":"2026-01-01T00:00:00Z","u":1},"b":[1,2]}'));
    assert.equal(one.b, two.b);
    assert.notEqual(one.a, two.a);
    const when = new Date(0);
    const odd = { metadata: { name: 'x' }, when, nothing: undefined, big: 10n, list: [undefined, 1], nan: Number.NaN } as unknown as KubeObject;
    Object.defineProperty(odd, staleStoredForm, { value: true, enumerable: false });
    shared.freeze(odd);
    const o = odd as unknown as Record<string | symbol, unknown>;
    assert.equal(o.when, when);
    assert.ok('nothing' in odd && o.nothing === undefined);
    assert.equal(o.big, 10n);
    assert.ok(Number.isNaN(o.nan));
    assert.equal(o[staleStoredForm], true, 'a mark the storage set stays');
    const proto = shared.freeze(JSON.parse('{"metadata":{"name":"p"},"spec":{"__proto__":{"polluted":true}}}'));
    assert.equal(Object.getPrototypeOf(proto.spec), Object.prototype);
    assert.deepEqual(Object.keys(proto.spec!), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // Something frozen already is not the cache's to change.
    const frozen = Object.freeze({ metadata: { name: 'f' } }) as KubeObject;
    assert.equal(shared.freeze(frozen), frozen);
  });

  it('shares the parts of the objects it loads, the events it publishes and the objects those replaced', async () => {
    const key = (name: string): ObjectKey => ({ group: 'g', resource: 'things', namespace: '', name });
    const cache = new WatchCache({
      capacity: 10,
      watcherBuffer: 10,
      history: { read: async () => ({ events: [], compacted: 0n, head: 0n }) },
      snapshots: { load: async () => ({ objects: [{ key: key('old'), object: project('old', 't') }], rv: 1n }) },
    });
    cache.reset(1n);
    const state = await cache.resourceState('g', 'things');
    const added: ChangeEvent = { type: 'ADDED', key: key('new'), object: project('new', 't'), rv: 2n };
    cache.publish(added);
    const modified: ChangeEvent = { type: 'MODIFIED', key: key('new'), object: project('new', 'u'), prevObject: project('new', 't'), rv: 3n };
    cache.publish(modified);
    assert.ok(Object.isFrozen(added) && Object.isFrozen(added.object.spec));
    assert.equal(state.get('', 'old')!.status, state.get('', 'new')!.status);
    assert.equal(modified.prevObject!.metadata.managedFields, added.object.metadata.managedFields);
    assert.equal(state.get('', 'new'), modified.object);
  });
});
