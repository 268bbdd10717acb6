// How the watch cache hands events to many watchers: in order, in rounds that gather what arrives
// meanwhile, and in slices that let the rest of the process run. No database: events by hand.
import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../pkg/storage/interface.ts';
import { WatchCache } from '../../pkg/storage/watchcache/cache.ts';

const prefix = { group: 'g', resource: 'things', namespace: '' };
const event = (rv: bigint): ChangeEvent => ({
  type: 'ADDED',
  key: { ...prefix, name: `n${rv}` },
  object: { metadata: { name: `n${rv}` } },
  rv,
});

function cache(drainGapMs: number): WatchCache {
  const c = new WatchCache({
    capacity: 1000,
    watcherBuffer: 1000,
    drainGapMs,
    history: {
      read: async () => {
        throw new Error('not used');
      },
    },
    snapshots: {
      load: async () => {
        throw new Error('not used');
      },
    },
  });
  c.reset(0n);
  return c;
}

/** A watcher that notes each event, and in which turn of the event loop it came (a batch). */
function record(c: WatchCache) {
  const got: bigint[] = [];
  const batches: bigint[][] = [];
  let open: bigint[] | undefined;
  const w = c.watch(prefix, {
    fromRV: 0n,
    onEvent: e => {
      got.push(e.rv);
      if (!open) {
        open = [];
        batches.push(open);
        process.nextTick(() => {
          open = undefined;
        });
      }
      open.push(e.rv);
    },
    onError: err => assert.fail(err),
  });
  return { got, batches, stop: () => w.stop() };
}

const until = async (what: string, ok: () => boolean) => {
  for (const deadline = Date.now() + 5000; !ok(); ) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 2));
  }
};

describe('watch cache: handing events to watchers', () => {
  it('gives every watcher every event once, in order', async () => {
    const c = cache(0);
    const watchers = Array.from({ length: 300 }, () => record(c));
    for (let rv = 1n; rv <= 50n; rv++) {
      c.publish(event(rv));
      if (rv % 7n === 0n) await new Promise(r => setImmediate(r));
    }
    const all = Array.from({ length: 50 }, (_, i) => BigInt(i + 1));
    await until('every event at every watcher', () => watchers.every(w => w.got.length === 50));
    for (const w of watchers) assert.deepEqual(w.got, all);
    c.close();
  });

  it('gathers the events that arrive while it waits after a round into one batch per watcher', async () => {
    const c = cache(200);
    const watchers = Array.from({ length: 3 }, () => record(c));
    c.publish(event(1n));
    await until('the first round', () => watchers.every(w => w.got.length === 1));
    // Published apart, within the gap after that round: they leave together.
    c.publish(event(2n));
    await new Promise(r => setImmediate(r));
    c.publish(event(3n));
    await new Promise(r => setTimeout(r, 5));
    c.publish(event(4n));
    await until('the next round', () => watchers.every(w => w.got.length === 4));
    for (const w of watchers) assert.deepEqual(w.batches, [[1n], [2n, 3n, 4n]]);
    c.close();
  });

  /**
   * 250 watchers that note, for each event, whether other work (a request, a database reply)
   * scheduled with `otherWork` after the event was published had run by then.
   */
  function watchersBesideOtherWork(c: WatchCache) {
    let servedMeanwhile = false;
    const sawServed: boolean[] = [];
    for (let i = 0; i < 250; i++) {
      c.watch(prefix, { fromRV: 0n, onEvent: () => sawServed.push(servedMeanwhile), onError: err => assert.fail(err) });
    }
    const otherWork = () =>
      setImmediate(() => {
        servedMeanwhile = true;
      });
    return { sawServed, otherWork };
  }

  it('lets the event loop run between slices of a round', async () => {
    const c = cache(0);
    const { sawServed, otherWork } = watchersBesideOtherWork(c);
    c.publish(event(1n));
    otherWork();
    await until('every watcher', () => sawServed.length === 250);
    assert.equal(sawServed[0], false, 'the first slice ran first');
    assert.equal(sawServed[249], true, 'the last slice ran after the other work');
    c.close();
  });

  it('once it knows watchers are cheap, hands a whole round out in one slice', async () => {
    const c = cache(0);
    const { sawServed, otherWork } = watchersBesideOtherWork(c);
    // The first round is cut into slices of the smallest size: nothing is known of the cost yet.
    c.publish(event(1n));
    await until('the first round', () => sawServed.length === 250);
    sawServed.length = 0;
    c.publish(event(2n));
    otherWork();
    await until('the second round', () => sawServed.length === 250);
    assert.equal(sawServed[249], false, 'no turn of the event loop was given back within the second round');
    c.close();
  });

  it('still cuts a round of slow watchers into slices', async () => {
    const c = cache(0);
    let turn = 0;
    const turns: number[] = [];
    // Each watcher costs about 1 ms: 300 of them make a round of about 300 ms.
    for (let i = 0; i < 300; i++) {
      c.watch(prefix, {
        fromRV: 0n,
        onEvent: () => {
          for (const busyUntil = performance.now() + 1; performance.now() < busyUntil; );
          turns.push(turn);
        },
        onError: err => assert.fail(err),
      });
    }
    // Counts turns of the event loop: once in every check phase, before what the phase found
    // queued. (A 0 ms interval, which counted timers phases, missed the turn between a slice
    // started by the round's timer and the next, run in the check phase of the same turn.)
    let ticker = setImmediate(function tick() {
      turn++;
      ticker = setImmediate(tick);
    });
    c.publish(event(1n));
    await until('the first round', () => turns.length === 300);
    turns.length = 0;
    c.publish(event(2n));
    await until('the second round', () => turns.length === 300);
    clearImmediate(ticker);
    // At least 100 a slice, however slow they are: three slices, with other work run between them.
    assert.ok(new Set(turns).size >= 3, `the round ran in ${new Set(turns).size} turns of the event loop`);
    c.close();
  });

  it('a stopped watcher gets nothing more, the others go on', async () => {
    const c = cache(0);
    const a = record(c);
    const b = record(c);
    c.publish(event(1n));
    await until('both', () => a.got.length === 1 && b.got.length === 1);
    a.stop();
    c.publish(event(2n));
    await until('b', () => b.got.length === 2);
    await new Promise(r => setTimeout(r, 10));
    assert.deepEqual(a.got, [1n]);
    c.close();
  });
});
