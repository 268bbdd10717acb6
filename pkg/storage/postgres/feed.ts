// The change feed: the process's single reader of the change log. It follows `changes` in
// revision order, woken by its own process's commits and by the other processes' NOTIFY (with a
// poll as a safety net), and publishes what it reads to the watch cache; it also reads the log
// for watches that start before the cache. It also tells the other processes of this one's commits.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { StorageError, type ChangeEvent, type KeyPrefix, type ObjectKey, type Watcher, type WatchOptions } from '../interface.ts';
import type { Logger } from '../migrate.ts';
import { WatchCache, type HistoryPage } from '../watchcache/cache.ts';
import type { ResourceState } from '../watchcache/state.ts';
import type { ObjectCodec } from './codec.ts';
import { changesSQL, mapError, NOTIFY_CHANNEL, type ChangeRow, type FeedRow, type ObjRow } from './sql.ts';
import { withTransaction } from './transaction.ts';

export interface FeedHost {
  pool: pg.Pool;
  codec: ObjectCodec;
  databaseUrl: string;
  log: Logger;
  noteCompacted(rv: bigint): void;
}

export interface FeedOptions {
  /** How many recent changes the watch cache keeps. */
  cacheSize: number;
  /** Events buffered per watcher before it is stopped as too slow. */
  watcherBuffer: number;
  /** Safety-net poll of the change log when no notification arrives. */
  pollIntervalMs: number;
}

const TAIL_SQL = changesSQL('rv > $1', '$2');

/**
 * Objects come as their JSON text, parsed one row at a time as they go into the cache: a batch of
 * rows parsed at once by the driver would outlive a few young-generation collections, and so
 * would the parts the cache replaces by shared ones, garbage left in the old generation.
 */
const JSON_AS_TEXT: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.JSONB || oid === pg.types.builtins.JSON
      ? (text: string) => text
      : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** A row read with JSON_AS_TEXT, its objects parsed. */
function parsed<R extends { obj: KubeObject; prev?: KubeObject | null }>(row: R): R {
  const text = row as unknown as { obj: string; prev?: string | null };
  return { ...row, obj: JSON.parse(text.obj), ...(text.prev == null ? {} : { prev: JSON.parse(text.prev) }) };
}

/**
 * Least time between two NOTIFYs of this process's commits: another process's watches see a
 * change at most this much later, and a busy writer sends at most 100 notifications a second.
 */
const ANNOUNCE_GAP_MS = 10;

/** Rows per query when a resource's objects are loaded into the cache. */
const SNAPSHOT_CHUNK = 5000;

interface SyncWaiter {
  round: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ChangeFeed {
  private readonly cache: WatchCache;
  private fetching = false;
  private fetchAgain = false;
  private listener: pg.Client | undefined;
  private listenerBackoff = 100;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly pollIntervalMs: number;
  /** Reads of the log begun; a read is a round of queries that ends at the log's end. */
  private rounds = 0;
  private syncWaiters: SyncWaiter[] = [];
  /** The payload of this process's notifications, which its own listener ignores. */
  private readonly origin = randomUUID();
  private announcing = false;
  private announceAgain = false;

  constructor(
    private readonly host: FeedHost,
    opts: FeedOptions,
  ) {
    this.pollIntervalMs = opts.pollIntervalMs;
    this.cache = new WatchCache({
      capacity: opts.cacheSize,
      watcherBuffer: opts.watcherBuffer,
      history: { read: (prefix, after, limit) => this.readHistory(prefix, after, limit) },
      snapshots: { load: (group, resource) => this.readSnapshot(group, resource) },
    });
  }

  /** The newest revision the cache holds. */
  get revision(): bigint {
    return this.cache.revision;
  }

  resourceState(group: string, resource: string): Promise<ResourceState> {
    return this.cache.resourceState(group, resource);
  }

  revisionOf(state: ResourceState): bigint {
    return this.cache.revisionOf(state);
  }

  /**
   * Resolves once the cache holds every change committed before the call: a read of the log that
   * began after it has reached the log's end (a consistent read from the cache, as KEP-2340's).
   * Concurrent callers share reads, so many reads at once cost about two queries.
   */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new StorageError('Unavailable', 'storage is closed'));
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ round: this.rounds + 1, resolve, reject });
      this.kick();
    });
  }

  private settleSyncs(round: number, err?: unknown): void {
    if (this.syncWaiters.length === 0) return;
    const waiting: SyncWaiter[] = [];
    for (const w of this.syncWaiters) {
      if (err !== undefined) w.reject(err);
      else if (w.round <= round) w.resolve();
      else waiting.push(w);
    }
    this.syncWaiters = waiting;
  }

  window(): { from: bigint; to: bigint } {
    return this.cache.window();
  }

  watch(prefix: KeyPrefix, opts: WatchOptions): Watcher {
    return this.cache.watch(prefix, opts);
  }

  async start(): Promise<void> {
    const r = await this.host.pool.query<{ rv: string; compacted: string }>('SELECT r.rv::text AS rv, c.rv::text AS compacted FROM revision r, compaction c');
    this.host.noteCompacted(BigInt(r.rows[0].compacted));
    this.cache.reset(BigInt(r.rows[0].rv));
    await this.connectListener();
    this.pollTimer = setInterval(() => this.kick(), this.pollIntervalMs);
    this.pollTimer.unref();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.settleSyncs(this.rounds, new StorageError('Unavailable', 'storage is shutting down'));
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    this.cache.close();
    const l = this.listener;
    this.listener = undefined;
    if (l) await l.end().catch(() => {});
  }

  private async connectListener(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.host.databaseUrl,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
      application_name: 'tke-apiserver-watch',
    });
    let dropped = false;
    const onDrop = (err?: Error) => {
      if (dropped) return;
      dropped = true;
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => {});
      if (this.closed) return;
      this.host.log('change feed listener lost; reconnecting', { error: err?.message, retryMs: this.listenerBackoff });
      this.reconnectTimer = setTimeout(() => void this.connectListener(), this.listenerBackoff);
      this.reconnectTimer.unref();
      this.listenerBackoff = Math.min(this.listenerBackoff * 2, 5000);
    };
    client.on('error', onDrop);
    client.on('end', () => onDrop());
    client.on('notification', msg => {
      if (msg.payload !== this.origin) this.kick();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (err) {
      onDrop(err as Error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    this.listenerBackoff = 100;
    // Notifications sent while we were not listening are lost; the log is not.
    this.kick();
  }

  /**
   * Tells the other processes on the database that this one committed changes. Sent after the
   * commit rather than by the writes (a NOTIFY in a write transaction takes a database-wide lock
   * through its commit: 2,370 against 2,500 creates/s and 15% more PostgreSQL CPU each in
   * hack/bench/pgwrites.ts); calls while one is sent or within
   * ANNOUNCE_GAP_MS of it fold into the next. A notification lost with the process is made up by
   * the others' poll.
   */
  announce(): void {
    if (this.closed) return;
    if (this.announcing) {
      this.announceAgain = true;
      return;
    }
    this.announcing = true;
    void (async () => {
      do {
        this.announceAgain = false;
        try {
          const db: pg.Client | pg.Pool = this.listener ?? this.host.pool;
          await db.query(`SELECT pg_notify('${NOTIFY_CHANNEL}', $1)`, [this.origin]);
        } catch (err) {
          if (!this.closed) this.host.log('change notification failed; the others will poll', { error: (err as Error).message });
        }
        await new Promise(resolve => setTimeout(resolve, ANNOUNCE_GAP_MS).unref());
      } while (this.announceAgain && !this.closed);
      this.announcing = false;
    })();
  }

  /** Reads whatever is new. Calls while a read is running coalesce into one more read. */
  kick(): void {
    if (this.closed) return;
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    void this.fetchLoop().finally(() => {
      this.fetching = false;
    });
  }

  private async fetchLoop(): Promise<void> {
    const batch = this.cache.batch;
    try {
      do {
        // A round starts once the requests already received have been read: every consistent
        // read among them waits for this one round instead of one round each.
        await new Promise(resolve => setImmediate(resolve));
        this.fetchAgain = false;
        const round = ++this.rounds;
        for (;;) {
          if (this.closed) return;
          // The listener connection is otherwise idle; using it keeps the feed moving when
          // writers have taken every pooled connection.
          const db: pg.Client | pg.Pool = this.listener ?? this.host.pool;
          // One statement = one snapshot: the compaction marker is consistent with the rows.
          const { rows } = await db.query<FeedRow>({ name: 'feed-tail', text: TAIL_SQL, values: [this.cache.revision.toString(), batch], types: JSON_AS_TEXT });
          if (this.closed) return;
          const compacted = BigInt(rows[0].compacted);
          this.host.noteCompacted(compacted);
          if (this.cache.revision < compacted) {
            // The feed fell behind the compaction point (the process was stalled for a long
            // time): changes it has not read may be gone.
            this.host.log('change feed fell behind compaction; restarting watches', { last: this.cache.revision.toString(), compacted: compacted.toString() });
            this.cache.expire(compacted);
            continue;
          }
          let n = 0;
          for (const row of rows) {
            if (row.rv === null) continue;
            n++;
            const withRV = { ...row, rv: row.rv };
            let event: ChangeEvent;
            try {
              event = this.host.codec.event(parsed(withRV));
            } catch (err) {
              this.undecodable(withRV, err as Error);
              continue;
            }
            this.cache.publish(event);
          }
          this.cache.progress();
          if (n < batch) break;
        }
        this.settleSyncs(round);
      } while (this.fetchAgain);
    } catch (err) {
      // The readers waiting for this read (or the next) fail now rather than wait for a retry.
      this.settleSyncs(this.rounds, mapError(err));
      if (!this.closed) this.host.log('change feed read failed; will retry', { error: (err as Error).message });
    }
  }

  /**
   * Every object of a resource in one snapshot, read a chunk at a time, each object frozen with
   * its parts shared (WatchCache.share) as it is read.
   */
  private async readSnapshot(group: string, resource: string): Promise<{ objects: Array<{ key: ObjectKey; object: KubeObject }>; rv: bigint }> {
    try {
      return await withTransaction(
        this.host.pool,
        async client => {
          const rv = BigInt((await client.query<{ rv: string }>('SELECT rv::text AS rv FROM revision')).rows[0].rv);
          const objects: Array<{ key: ObjectKey; object: KubeObject }> = [];
          let after: [string, string] = ['', ''];
          for (let first = true; ; first = false) {
            const { rows } = await client.query<ObjRow>({
              text: `SELECT namespace, name, obj FROM objects WHERE grp = $1 AND resource = $2 ${first ? '' : 'AND (namespace, name) > ($3, $4)'}
             ORDER BY namespace, name LIMIT ${SNAPSHOT_CHUNK}`,
              values: first ? [group, resource] : [group, resource, after[0], after[1]],
              types: JSON_AS_TEXT,
            });
            for (const row of rows) {
              const key = { group, resource, namespace: row.namespace, name: row.name };
              objects.push({ key, object: this.cache.share(this.host.codec.decode(key, parsed(row).obj)) });
            }
            if (rows.length < SNAPSHOT_CHUNK) return { objects, rv };
            after = [rows[rows.length - 1].namespace, rows[rows.length - 1].name];
          }
        },
        { begin: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' },
      );
    } catch (err) {
      throw mapError(err);
    }
  }

  /**
   * A change that cannot be decoded (a secret sealed by a key this server lacks, or an altered
   * row) must not stop the feed for everyone: only the watches of its resource end.
   */
  private undecodable(row: ChangeRow & { rv: string }, err: Error): void {
    this.host.log('change cannot be decoded; ending the watches of its resource', {
      group: row.grp,
      resource: row.resource,
      namespace: row.namespace,
      name: row.name,
      rv: row.rv,
      error: err.message,
    });
    this.cache.skip({ group: row.grp, resource: row.resource }, BigInt(row.rv), err);
  }

  /** The log under `prefix` after `after`, for a watch that starts before the cache. */
  private async readHistory(prefix: KeyPrefix, after: bigint, limit: number): Promise<HistoryPage> {
    const params: string[] = [prefix.group, prefix.resource];
    let where = 'grp = $1 AND resource = $2';
    if (prefix.namespace) {
      params.push(prefix.namespace);
      where += ` AND namespace = $${params.length}`;
    }
    const sql = changesSQL(`${where} AND rv > $${params.length + 1}`, `$${params.length + 2}`);
    try {
      const { rows } = await this.host.pool.query<FeedRow>(sql, [...params, after.toString(), limit]);
      const compacted = BigInt(rows[0].compacted);
      this.host.noteCompacted(compacted);
      const head = BigInt(rows[0].head);
      // Nothing is decoded for a watch that is too old: it ends with Expired, not a decoding error.
      if (after < compacted) return { events: [], compacted, head };
      const events: ChangeEvent[] = [];
      for (const row of rows) if (row.rv !== null) events.push(this.host.codec.event({ ...row, rv: row.rv }));
      return { events, compacted, head };
    } catch (err) {
      throw mapError(err);
    }
  }
}
