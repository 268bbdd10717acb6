// The PostgreSQL implementation of the Store contract.
//
// Ordering. Every write takes its revision from the single row of `revision`, and the first
// write of a transaction locks that row until COMMIT. So at most one transaction at a time is
// between "took a revision" and "committed", and revisions become visible strictly in order:
// a reader that sees revision N also sees every revision below N. The change feed can then
// read `changes WHERE rv > last` and never skip a change that commits later. A transaction
// that rolls back also rolls back its counter update, so revisions stay dense.
//
// Deadlock freedom. Only the holder of the counter lock inserts, updates or deletes rows (each
// write statement touches `objects` only after its counter update has returned); the other
// transactions only take row locks (SELECT ... FOR UPDATE) and named advisory locks. The
// holder must never wait for those (the other side may be queued on the counter), so once a
// transaction holds the counter it takes further locks with NOWAIT / try-lock and, if busy,
// rolls back and runs again. Transactions without the counter lock wait normally; their
// checks (existence, expected revision) run before they queue for the counter.
import pg from 'pg';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import {
  StorageError,
  type KeyPrefix,
  type ListOptions,
  type ListResult,
  type ObjectKey,
  type Store,
  type Transaction,
  type Watcher,
  type WatchOptions,
} from '../interface.ts';
import type { FieldEncryption } from '../encryption.ts';
import { migrate, type Logger } from '../migrate.ts';
import { ObjectCodec } from './codec.ts';
import { ChangeFeed } from './feed.ts';
import { decodeContinue, encodeContinue, readPage } from './list.ts';
import type { ResourceState } from '../watchcache/state.ts';
import { COMPACTION_LOCK_CLASS, isRetryable, mapError } from './sql.ts';
import { PgTransaction, withTransaction, type LockSet } from './transaction.ts';

export interface PostgresStoreOptions {
  databaseUrl: string;
  poolSize?: number;
  log?: Logger;
  /** How often compaction runs; 0 disables the timer. Default 5 minutes. */
  compactionIntervalMs?: number;
  /** How many revisions behind the newest stay exactly reconstructable. Default 100000. */
  retainRevisions?: number;
  /** How many recent changes the in-memory watch cache keeps. Default 10000. */
  watchCacheSize?: number;
  /** Events buffered per watcher before it is stopped as too slow. Default 10000. */
  watcherBufferSize?: number;
  /** Safety-net poll of the change log when no notification arrives. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Told what the opening does that takes long (migrations). */
  progress?: Logger;
  /** Apply migrations before opening. Default true. */
  migrate?: boolean;
  /** Directories of migrations beside the storage's own (the API groups' tables). */
  migrationDirs?: string[];
  /** Seals the secret fields of the resources it names (see encryption.ts); none when unset. */
  encryption?: FieldEncryption;
}

export type PostgresStore = Store & {
  pool: pg.Pool;
  /** Compacts now; returns the new compacted revision. */
  compact(opts?: { retainRevisions?: number }): Promise<bigint>;
  /** The revisions (from, to] the in-memory watch cache can serve without the database. */
  watchCacheWindow(): { from: bigint; to: bigint };
};

const MAX_TX_ATTEMPTS = 10;
/**
 * How long a read of a revision newer than this server has seen waits for it: another replica may
 * have acknowledged it a moment ago. Longer, and it is TooLargeResourceVersion.
 */
const FUTURE_REVISION_WAIT_MS = 3000;
const TX_IDLE_TIMEOUT_MS = 60_000;
// Sent with the transaction's first statement. A transaction that holds the revision lock stops
// every writer of the database, so a client that stalls mid-transaction (a hung process, a lost
// network) is cut off by the server instead of holding it forever.
const BEGIN_WRITE = ['BEGIN ISOLATION LEVEL READ COMMITTED', `SET LOCAL idle_in_transaction_session_timeout = ${TX_IDLE_TIMEOUT_MS}`];

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

class PgStore implements PostgresStore {
  private compacted = 0n;
  private closed = false;
  private compactTimer: NodeJS.Timeout | undefined;
  private readonly feed: ChangeFeed;
  private readonly log: Logger;
  private readonly retain: number;

  private readonly codec: ObjectCodec;

  constructor(
    readonly pool: pg.Pool,
    private readonly opts: PostgresStoreOptions,
  ) {
    this.log = opts.log ?? (() => {});
    this.codec = new ObjectCodec(opts.encryption);
    this.retain = opts.retainRevisions ?? 100_000;
    this.feed = new ChangeFeed(
      { pool, codec: this.codec, databaseUrl: opts.databaseUrl, log: this.log, noteCompacted: rv => this.noteCompacted(rv) },
      { cacheSize: opts.watchCacheSize ?? 10_000, watcherBuffer: opts.watcherBufferSize ?? 10_000, pollIntervalMs: opts.pollIntervalMs ?? 1000 },
    );
  }

  async start(): Promise<void> {
    await this.feed.start();
    const interval = this.opts.compactionIntervalMs ?? 5 * 60_000;
    if (interval > 0) {
      this.compactTimer = setInterval(() => {
        this.compact().catch(err => this.log('compaction failed', { error: (err as Error).message }));
      }, interval);
      this.compactTimer.unref();
    }
  }

  private noteCompacted(rv: bigint): void {
    if (rv > this.compacted) this.compacted = rv;
  }

  /** A consistent read from the cache: it holds every change committed before the call. */
  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    try {
      await this.feed.sync();
      return (await this.feed.resourceState(key.group, key.resource)).get(key.namespace, key.name);
    } catch (err) {
      throw mapError(err);
    }
  }

  async currentRevision(): Promise<bigint> {
    try {
      const r = await this.pool.query<{ rv: string }>('SELECT rv::text AS rv FROM revision');
      return BigInt(r.rows[0].rv);
    } catch (err) {
      throw mapError(err);
    }
  }

  compactedRevision(): bigint {
    return this.compacted;
  }

  watchCacheWindow(): { from: bigint; to: bigint } {
    return this.feed.window();
  }

  async transact<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    let learned: LockSet | undefined;
    for (let attempt = 1; ; attempt++) {
      let tx: PgTransaction | undefined;
      try {
        const out = await withTransaction(
          this.pool,
          async client => {
            tx = new PgTransaction(client, this.codec, BEGIN_WRITE);
            if (learned) await tx.preLock(learned);
            let result: T;
            try {
              result = await fn(tx);
            } finally {
              await tx.settle();
            }
            if (tx.failure) throw tx.failure;
            if (!tx.committed) await tx.prepareCommit();
            return result;
          },
          { begin: null, begun: () => tx?.begun ?? false, committed: () => tx?.committed ?? false },
        );
        // This process's own changes reach its cache and watches without waiting for a notification.
        if (tx?.hasWritten) {
          this.feed.kick();
          this.feed.announce();
        }
        return out;
      } catch (err) {
        if (isRetryable(err) && attempt < MAX_TX_ATTEMPTS) {
          if (tx) learned = tx.lockSet;
          // Long enough, late on, for the transaction that holds the contended lock to finish.
          await sleep(Math.random() * Math.min(5 * 2 ** attempt, 250));
          continue;
        }
        if (isRetryable(err)) throw new StorageError('Conflict', `transaction gave up after ${attempt} attempts: ${(err as Error).message}`);
        throw mapError(err);
      }
    }
  }

  /**
   * Lists from the cache: the newest state after a consistent read (or once the cache reached
   * `notOlderThan`), and an exact revision when nothing of the resource changed since it (pages
   * after the first, while the resource is quiet). Older states come from the change log.
   */
  async list(prefix: KeyPrefix, opts: ListOptions = {}): Promise<ListResult> {
    const token = opts.continue ? decodeContinue(opts.continue, prefix) : undefined;
    const wanted = token?.rv ?? opts.atRevision;
    try {
      if (wanted === undefined) {
        if (opts.notOlderThan === undefined) await this.feed.sync();
        else await this.reach(opts.notOlderThan);
        const state = await this.feed.resourceState(prefix.group, prefix.resource);
        return this.pageOf(state, prefix, opts, undefined, this.feed.revisionOf(state));
      }
      if (wanted >= this.compacted) {
        const state = await this.feed.resourceState(prefix.group, prefix.resource);
        if (state.changedAt <= wanted && wanted <= this.feed.revisionOf(state)) return this.pageOf(state, prefix, opts, token?.after, wanted);
      }
    } catch (err) {
      throw mapError(err);
    }
    return this.listFromLog(prefix, opts, wanted, token?.after);
  }

  /** One page of `state`, read synchronously so that it is the state at `rv`. */
  private pageOf(state: ResourceState, prefix: KeyPrefix, opts: ListOptions, after: [string, string] | undefined, rv: bigint): ListResult {
    const limit = opts.limit && opts.limit > 0 ? Math.floor(opts.limit) : 0;
    const page = state.page({ namespace: prefix.namespace, after, limit, filter: opts.filter });
    const result: ListResult = { items: page.items, rv };
    if (page.continueAfter) {
      result.continue = encodeContinue(prefix, rv, page.continueAfter);
      if (page.remaining !== undefined) result.remainingItemCount = page.remaining;
    }
    return result;
  }

  /** Waits until the cache has revision `rv` (see FUTURE_REVISION_WAIT_MS). */
  private async reach(rv: bigint): Promise<void> {
    const deadline = Date.now() + FUTURE_REVISION_WAIT_MS;
    while (this.feed.revision < rv) {
      await this.feed.sync();
      if (this.feed.revision >= rv) return;
      if (Date.now() >= deadline) throw new StorageError('TooLargeResourceVersion', `Too large resource version: ${rv}, current: ${this.feed.revision}`);
      await sleep(50);
    }
  }

  /** A page at an older revision, reconstructed from the objects table and the change log. */
  private async listFromLog(prefix: KeyPrefix, opts: ListOptions, wanted: bigint | undefined, start: [string, string] | undefined): Promise<ListResult> {
    // A revision newer than the newest committed one may not have committed yet: wait briefly
    // (FUTURE_REVISION_WAIT_MS) rather than read a state that could still change under it.
    const deadline = Date.now() + FUTURE_REVISION_WAIT_MS;
    for (;;) {
      const result = await this.inTransaction('REPEATABLE READ READ ONLY', client =>
        readPage(client, this.codec, { prefix, opts, wanted, start }, rv => this.noteCompacted(rv)),
      );
      if (typeof result !== 'bigint') return result;
      if (Date.now() >= deadline) {
        throw new StorageError('TooLargeResourceVersion', `Too large resource version: ${wanted}, current: ${result}`);
      }
      await sleep(50);
    }
  }

  watch(prefix: KeyPrefix, opts: WatchOptions): Watcher {
    return this.feed.watch(prefix, opts);
  }

  /**
   * Drops change-log entries no snapshot at revision >= C needs: an entry superseded by a
   * newer entry of the same key at or below C, and deletions at or below C. Only keys changed
   * since the previous compaction can have such entries, so the work is incremental.
   */
  async compact(opts: { retainRevisions?: number } = {}): Promise<bigint> {
    const retain = BigInt(Math.max(0, Math.floor(opts.retainRevisions ?? this.retain)));
    // The new compacted revision is noted only once it is committed.
    const compacted = await this.inTransaction('READ COMMITTED', async client => {
      const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, 0) AS ok', [COMPACTION_LOCK_CLASS]);
      if (!got.rows[0].ok) {
        // Another replica is compacting right now; its result is as good as ours.
        return this.compacted;
      }
      const st = (
        await client.query<{ current: string; compacted: string }>(
          'SELECT r.rv::text AS current, c.rv::text AS compacted FROM revision r, compaction c FOR UPDATE OF c',
        )
      ).rows[0];
      const previous = BigInt(st.compacted);
      const target = BigInt(st.current) - retain;
      if (target <= previous) return previous;
      const del = await client.query(
        `WITH touched AS (
           SELECT DISTINCT grp, resource, namespace, name FROM changes WHERE rv > $1 AND rv <= $2
         )
         DELETE FROM changes c USING touched t
         WHERE c.grp = t.grp AND c.resource = t.resource AND c.namespace = t.namespace AND c.name = t.name
           AND c.rv <= $2
           AND (c.type = 'DELETED' OR EXISTS (
             SELECT 1 FROM changes n
             WHERE n.grp = c.grp AND n.resource = c.resource AND n.namespace = c.namespace AND n.name = c.name
               AND n.rv > c.rv AND n.rv <= $2))`,
        [previous.toString(), target.toString()],
      );
      await client.query('UPDATE compaction SET rv = $1 WHERE id', [target.toString()]);
      this.log('compacted change log', { revision: target.toString(), deleted: del.rowCount ?? 0 });
      return target;
    });
    this.noteCompacted(compacted);
    return compacted;
  }

  /** Runs `fn` in one transaction of its own connection; errors come out as the store's. */
  private async inTransaction<T>(isolation: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    try {
      return await withTransaction(this.pool, fn, { begin: `BEGIN ISOLATION LEVEL ${isolation}` });
    } catch (err) {
      throw mapError(err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.compactTimer);
    await this.feed.stop();
    await this.pool.end();
  }
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const log = opts.log ?? (() => {});
  const pool = new pg.Pool({
    connectionString: opts.databaseUrl,
    // Under load each transaction waits for the event loop between its statements; with more of
    // them in flight the requests keep moving (creates at 200/s beside 1,000 watchers: p50 of a
    // POST 231 -> 86 ms from 10 to 20 connections).
    max: opts.poolSize ?? 20,
    keepAlive: true,
    // Without a bound, requests would queue forever while the database is unreachable.
    connectionTimeoutMillis: 10_000,
    application_name: 'tke-apiserver',
  });
  // An idle pooled connection that dies emits here; without a listener it would crash the process.
  pool.on('error', err => log('idle database connection failed', { error: err.message }));
  try {
    if (opts.migrate ?? true) await migrate(pool, { log, progress: opts.progress, dirs: opts.migrationDirs });
    await opts.encryption?.verifyAgainst(pool);
    const store = new PgStore(pool, opts);
    await store.start();
    return store;
  } catch (err) {
    await pool.end().catch(() => {});
    throw mapError(err);
  }
}
