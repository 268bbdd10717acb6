// One watch of the cache: a bounded queue between the cache and the consumer.
import { StorageError, type ChangeEvent, type KeyPrefix, type Watcher, type WatchOptions } from '../interface.ts';

type QueueItem = ChangeEvent | bigint;

/**
 * How long a slice of a round may hold the event loop: requests and database replies wait no
 * longer than that. A slice takes as many watchers as the cost per watcher measured so far fits
 * in it, and at least MIN_SLICE. Every turn given back costs more than it seems: what queued up
 * meanwhile (write completions of the streams, replies, requests) all runs before the round goes
 * on, so with slices of a fixed 100 watchers a round of 1,000 that was 15-50 ms busy took 100-400
 * ms from start to end, and that was the events' wait (1,000 watchers at 200 writes/s: p99
 * delivery 836-862 ms; with the whole round in one slice, 391-450 ms).
 */
const SLICE_BUDGET_MS = 50;
const MIN_SLICE = 100;

/**
 * Hands the queued events of every watcher of a cache to their consumers in rounds. With a
 * thousand watchers an event would otherwise cost a thousand callbacks and a thousand writes to
 * their streams, each a system call. After a round the next one waits as long as the round was
 * busy (at least `minGapMs`): events that arrive meanwhile leave each stream together, rounds
 * take at most about half of the process, and under load the batches grow instead of the
 * backlog. A round runs in slices of about SLICE_BUDGET_MS, so a large round does not stop
 * requests and database replies for longer than that.
 */
export class DrainScheduler {
  private ready = new Set<CacheWatcher>();
  /** A round is running or waiting for its time. */
  private active = false;
  private round: CacheWatcher[] = [];
  private next = 0;
  private busyMs = 0;
  /**
   * What handing a watcher its events has cost, smoothed over the slices: the consumers' gathering
   * of lines, not their sockets' writes, which Node makes a tick later (connectionCorkNT).
   */
  private perWatcherMs = 0;
  private earliest = Number.NEGATIVE_INFINITY;

  constructor(private readonly minGapMs: number) {}

  add(w: CacheWatcher): void {
    this.ready.add(w);
    if (!this.active) this.schedule();
  }

  private schedule(): void {
    this.active = true;
    const wait = this.earliest - performance.now();
    if (wait > 0) setTimeout(this.start, wait);
    else setImmediate(this.start);
  }

  private readonly start = (): void => {
    this.round = [...this.ready];
    this.ready = new Set();
    this.next = 0;
    this.busyMs = 0;
    this.slice();
  };

  private readonly slice = (): void => {
    const began = performance.now();
    const size = this.perWatcherMs > 0 ? Math.max(MIN_SLICE, Math.floor(SLICE_BUDGET_MS / this.perWatcherMs)) : MIN_SLICE;
    const first = this.next;
    const end = Math.min(this.round.length, first + size);
    // A watcher with more than one round's worth adds itself again, for the next round.
    for (; this.next < end; this.next++) this.round[this.next].drain();
    // Consumers write what they were handed on the next tick (handlers.ts): queued after theirs,
    // this sees that too, though not the socket writes those queue in turn.
    process.nextTick(() => {
      const now = performance.now();
      this.busyMs += now - began;
      // A slice of a few watchers says little about the cost of one.
      if (end - first >= 10) {
        const cost = (now - began) / (end - first);
        this.perWatcherMs = this.perWatcherMs > 0 ? 0.7 * this.perWatcherMs + 0.3 * cost : cost;
      }
      if (this.next < this.round.length) {
        setImmediate(this.slice);
        return;
      }
      this.round = [];
      this.earliest = now + Math.max(this.minGapMs, this.busyMs);
      if (this.ready.size > 0) this.schedule();
      else this.active = false;
    });
  };
}

/**
 * Events are queued and handed to onEvent from a later tick, so neither the cache nor other
 * watchers ever run inside a consumer's callback.
 */
export class CacheWatcher implements Watcher {
  stopped = false;
  /** Everything at or below this revision has been queued (or did not concern this watch). */
  threshold: bigint;
  private queue: (QueueItem | undefined)[] = [];
  private head = 0;
  private roomWaiters: (() => void)[] = [];

  constructor(
    readonly prefix: KeyPrefix,
    private readonly opts: WatchOptions,
    private readonly maxBuffer: number,
    private readonly detach: (w: CacheWatcher) => void,
    private readonly scheduler: DrainScheduler,
  ) {
    this.threshold = opts.fromRV;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  push(event: ChangeEvent): void {
    if (this.stopped || event.rv <= this.threshold) return;
    this.threshold = event.rv;
    if (this.pending >= this.maxBuffer) {
      this.fail(new StorageError('Unavailable', `watch fell more than ${this.maxBuffer} events behind; watch again from the last revision received`));
      return;
    }
    this.queue.push(event);
    this.schedule();
  }

  /** Everything up to rv has been pushed; report it as progress. */
  advance(rv: bigint): void {
    if (this.stopped || rv < this.threshold) return;
    this.threshold = rv;
    if (!this.opts.onProgress) return;
    const tail = this.pending > 0 ? this.queue[this.queue.length - 1] : undefined;
    if (typeof tail === 'bigint') this.queue[this.queue.length - 1] = rv;
    else this.queue.push(rv);
    this.schedule();
  }

  /** Resolves when the queue has room for another batch (backpressure for catch-up reads). */
  waitForRoom(): Promise<void> {
    if (this.stopped || this.pending < this.maxBuffer / 2) return Promise.resolve();
    return new Promise(resolve => this.roomWaiters.push(resolve));
  }

  private schedule(): void {
    this.scheduler.add(this);
  }

  /** Hands up to 1000 queued items to the consumer; called by the scheduler. */
  drain(): void {
    let delivered = 0;
    while (!this.stopped && this.head < this.queue.length && delivered < 1000) {
      const item = this.queue[this.head];
      this.queue[this.head] = undefined;
      this.head++;
      delivered++;
      try {
        if (typeof item === 'bigint') this.opts.onProgress?.(item);
        else if (item) this.opts.onEvent(item);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.pending < this.maxBuffer / 2) this.wakeWaiters();
    if (!this.stopped && this.pending > 0) this.schedule();
  }

  private wakeWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  private halt(): void {
    this.stopped = true;
    this.queue = [];
    this.head = 0;
    this.detach(this);
    this.wakeWaiters();
  }

  fail(err: Error): void {
    if (this.stopped) return;
    this.halt();
    setImmediate(() => {
      try {
        this.opts.onError(err);
      } catch {
        // The watch is over either way; a throwing handler must not take the process down.
      }
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.halt();
  }
}
