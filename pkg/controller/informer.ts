// Informer and work queue for in-process controllers, after client-go's: an informer
// keeps a local cache of one resource from a list and a watch, re-listing when the watch
// is lost; a controller reacts to keys from a rate-limited, de-duplicating queue.
import type { KubeObject } from '../../api/meta/v1/types.ts';
import type { KeyPrefix, Store, Watcher } from '../storage/interface.ts';

export type Handler = (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject, old?: KubeObject) => void;

/** Where an informer or a queue reports what failed; they retry either way, but nobody should have to guess why. */
export type FailureReporter = (err: unknown, what: string) => void;

export function objectKey(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name!;
}

export class Informer {
  readonly cache = new Map<string, KubeObject>();
  private handlers: Handler[] = [];
  private watcher?: Watcher;
  private stopped = false;
  private synced = false;
  private syncWaiters: Array<() => void> = [];

  constructor(
    private readonly store: Store,
    private readonly prefix: KeyPrefix,
    private readonly relistDelayMs = 1000,
    private readonly report: FailureReporter = () => undefined,
  ) {}

  onChange(handler: Handler): void {
    this.handlers.push(handler);
  }

  async start(): Promise<void> {
    await this.relist();
  }

  hasSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise(resolve => this.syncWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.stop();
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const list = await this.store.list(this.prefix);
      const seen = new Set<string>();
      for (const obj of list.items) {
        const key = objectKey(obj);
        seen.add(key);
        const old = this.cache.get(key);
        this.cache.set(key, obj);
        if (!old) this.emit('ADDED', obj);
        else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('MODIFIED', obj, old);
      }
      for (const [key, old] of [...this.cache]) {
        if (!seen.has(key)) {
          this.cache.delete(key);
          this.emit('DELETED', old);
        }
      }
      this.synced = true;
      for (const f of this.syncWaiters.splice(0)) f();
      this.watcher = this.store.watch(this.prefix, {
        fromRV: list.rv,
        onEvent: ev => {
          const key = objectKey(ev.object);
          const old = this.cache.get(key);
          if (ev.type === 'DELETED') this.cache.delete(key);
          else this.cache.set(key, ev.object);
          this.emit(ev.type, ev.object, old);
        },
        // The watch ended (compaction, overload): start again from a fresh list.
        onError: err => {
          this.report(err, `watch of ${this.prefix.group}/${this.prefix.resource} ended; listing again`);
          setTimeout(() => void this.relist(), this.relistDelayMs);
        },
      });
    } catch (err) {
      this.report(err, `list of ${this.prefix.group}/${this.prefix.resource} failed; trying again`);
      setTimeout(() => void this.relist(), this.relistDelayMs);
    }
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject, old?: KubeObject): void {
    for (const h of this.handlers) h(type, obj, old);
  }
}

/**
 * A de-duplicating work queue: a key added while queued is processed once; a key added
 * while being processed is processed again afterwards; failures retry with backoff.
 */
export class WorkQueue {
  private queue: string[] = [];
  private queued = new Set<string>();
  private processing = new Set<string>();
  private dirty = new Set<string>();
  private failures = new Map<string, number>();
  private running = 0;
  private stopped = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly workers = 2,
    private readonly maxBackoffMs = 30_000,
    private readonly report: FailureReporter = () => undefined,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  stop(): void {
    this.stopped = true;
  }

  private pump(): void {
    while (!this.stopped && this.running < this.workers && this.queue.length) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.running++;
      this.work(key)
        .then(
          () => {
            this.failures.delete(key);
          },
          err => {
            const n = (this.failures.get(key) ?? 0) + 1;
            this.failures.set(key, n);
            const delay = Math.min(this.maxBackoffMs, 5 * 2 ** n);
            this.report(err, `${key} failed (attempt ${n}); retrying in ${delay} ms`);
            setTimeout(() => this.add(key), delay).unref();
          },
        )
        .finally(() => {
          this.running--;
          this.processing.delete(key);
          if (this.dirty.delete(key)) this.add(key);
          this.pump();
        });
    }
  }
}

/** A controller: informers that feed keys to a queue whose worker reconciles one key. */
export interface Controller {
  name: string;
  start(): Promise<void>;
  stop(): void;
}
