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
import type { KubeObject } from '../../api/meta/v1/types.ts';
import {
  maxObjectBytes,
  StorageError,
  StorageValueError,
  type ChangeEvent,
  type KeyPrefix,
  type ListOptions,
  type ListResult,
  type ObjectKey,
  type Store,
  type Transaction,
  type Watcher,
  type TransactionListOptions,
  type WatchEventType,
  type WatchOptions,
} from './interface.ts';
import type { FieldEncryption } from './encryption.ts';
import { migrate, type Logger } from './migrate.ts';

export type { Logger } from './migrate.ts';

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

const NOTIFY_CHANNEL = 'tke_changes';
/** Advisory lock class ids: Transaction.lock names, and compaction. Migrations use another. */
const NAMED_LOCK_CLASS = 0x746b66;
const COMPACTION_LOCK_CLASS = 0x746b67;
const MAX_TX_ATTEMPTS = 10;
const TX_IDLE_TIMEOUT_MS = 60_000;
/** Bound on the locks a retry takes up front (a list(forUpdate) can lock many rows). */
const MAX_LEARNED_LOCKS = 256;
const FEED_BATCH = 1000;

// SQLSTATEs after which a transaction is simply run again.
const RETRYABLE_CODES = new Set(['40001', '40P01', '55P03']);

/** Thrown when the counter holder would have to wait for a lock; the transaction is re-run. */
class LockBusyError extends Error {
  readonly code = '55P03';
}

function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

function isRetryable(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNABORTED']);

/** Whether err says the database cannot be reached (or refuses connections) rather than that a statement failed. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = errorCode(err);
  if (code !== undefined) {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    if (CONNECTION_ERRNOS.has(code)) return true;
  }
  return /Connection terminated|connection error|timeout exceeded when trying to connect|Cannot use a pool after calling end/i.test(err.message);
}

/**
 * Callers see StorageError (and StorageValueError) for what they can act on; other errors pass
 * through unchanged. Exported for code outside the store that queries the same database.
 */
export function mapError(err: unknown): unknown {
  if (err instanceof StorageError || err instanceof StorageValueError) return err;
  if (isConnectionError(err)) return new StorageError('Unavailable', `database unavailable: ${(err as Error).message}`);
  const code = errorCode(err);
  // Class 22 is a data exception: a value PostgreSQL cannot hold (a NUL character, a lone
  // surrogate escape). The request's data is at fault, whatever check let it through.
  if (code?.startsWith('22')) return new StorageValueError('Invalid', `the database cannot store a value of this request: ${(err as Error).message}`);
  if (code === '54000') return new StorageValueError('TooLarge', `the database cannot store a value this large: ${(err as Error).message}`);
  return err;
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

function withRV(obj: KubeObject, rv: bigint): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: rv.toString() } };
}

// jsonb keeps object keys sorted by length, which would print `kind` and `spec` before
// `apiVersion` and `metadata`. Objects read back get the field order Kubernetes serialises in.
const TOP_LEVEL_ORDER = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const METADATA_ORDER = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
];

// On the path of every object read: plain loops, no closure made per call.
function ordered<T extends object>(value: T, order: readonly string[]): T {
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of order) if (Object.hasOwn(src, k)) out[k] = src[k];
  for (const k of Object.keys(src)) {
    if (Object.hasOwn(out, k)) continue;
    // A stored "__proto__" key must stay data, not become the prototype.
    if (k === '__proto__') Object.defineProperty(out, k, { value: src[k], enumerable: true, writable: true, configurable: true });
    else out[k] = src[k];
  }
  return out as T;
}

function fromDB(obj: KubeObject): KubeObject;
function fromDB(obj: KubeObject | null): KubeObject | null;
function fromDB(obj: KubeObject | null): KubeObject | null {
  if (!obj || typeof obj !== 'object') return obj;
  const top = ordered(obj, TOP_LEVEL_ORDER);
  if (top.metadata && typeof top.metadata === 'object') top.metadata = ordered(top.metadata, METADATA_ORDER);
  return top;
}

/** An object made of the values at `paths` (null = absent), as `pick` reads them. */
function assemble(paths: string[], values: unknown[]): KubeObject {
  const out: Record<string, unknown> = { metadata: {} };
  paths.forEach((path, i) => {
    if (values[i] === null || values[i] === undefined) return;
    const steps = path.split('.');
    let node = out;
    for (const step of steps.slice(0, -1)) {
      if (typeof node[step] !== 'object' || node[step] === null) node[step] = {};
      node = node[step] as Record<string, unknown>;
    }
    node[steps[steps.length - 1]] = values[i];
  });
  return out as unknown as KubeObject;
}

/**
 * Objects to rows and back: JSON going in, with the secret fields sealed when encryption is on;
 * coming out, the field order restored and the secret fields opened.
 */
class ObjectCodec {
  constructor(private readonly encryption?: FieldEncryption) {}

  decode(where: KeyPrefix, obj: KubeObject): KubeObject {
    const out = fromDB(obj);
    return this.encryption ? this.encryption.open(where, out) : out;
  }

  encode(key: ObjectKey, obj: KubeObject): string {
    const text = JSON.stringify(this.encryption ? this.encryption.seal(key, obj) : obj);
    // UTF-8 takes at least one byte per UTF-16 unit: the length alone settles most cases.
    const size = text.length > maxObjectBytes ? text.length : Buffer.byteLength(text);
    if (size > maxObjectBytes) {
      throw new StorageValueError('TooLarge', `Request entity too large: the object is ${size} bytes as stored, limit is ${maxObjectBytes}`, key);
    }
    return text;
  }
}

function keyParams(key: ObjectKey): string[] {
  return [key.group, key.resource, key.namespace, key.name];
}

/**
 * Watch events are shared by every watcher and the cache; freezing turns an accidental
 * mutation by one consumer into an immediate TypeError instead of corrupting the others.
 */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function prefixMatches(prefix: KeyPrefix, key: ObjectKey): boolean {
  return key.group === prefix.group && key.resource === prefix.resource && (!prefix.namespace || key.namespace === prefix.namespace);
}

function resourceKey(group: string, resource: string): string {
  return `${group}\u0000${resource}`;
}

// ---------------------------------------------------------------------------------------------
// Continue tokens

interface ContinueToken {
  v: 1;
  /** The revision of the first page, decimal. */
  rv: string;
  /** group, resource, namespace of the prefix the list was made for. */
  p: [string, string, string];
  /** The last key returned: namespace, name. */
  k: [string, string];
}

function encodeContinue(prefix: KeyPrefix, rv: bigint, last: [string, string]): string {
  const t: ContinueToken = { v: 1, rv: rv.toString(), p: [prefix.group, prefix.resource, prefix.namespace ?? ''], k: last };
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function isStringPair(v: unknown): v is [string, string] {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string';
}

function decodeContinue(token: string, prefix: KeyPrefix): { rv: bigint; after: [string, string] } {
  const invalid = (why: string) => new StorageError('InvalidContinue', `invalid continue token: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not base64-encoded JSON');
  }
  if (!parsed || typeof parsed !== 'object') throw invalid('not an object');
  const t = parsed as Partial<Record<keyof ContinueToken, unknown>>;
  if (t.v !== 1 || typeof t.rv !== 'string' || !/^\d{1,19}$/.test(t.rv)) throw invalid('bad version or revision');
  if (!Array.isArray(t.p) || t.p.length !== 3 || !isStringPair(t.k)) throw invalid('bad key');
  // Key strings go into SQL parameters: ones PostgreSQL cannot hold would fail the query instead.
  if (t.k.some(s => s.length > 1024 || s.includes('\0') || !(s as unknown as { isWellFormed(): boolean }).isWellFormed())) throw invalid('bad key');
  if (t.p[0] !== prefix.group || t.p[1] !== prefix.resource || t.p[2] !== (prefix.namespace ?? '')) {
    throw invalid('it belongs to another list');
  }
  return { rv: BigInt(t.rv), after: t.k };
}

// ---------------------------------------------------------------------------------------------
// Rows

interface ObjRow {
  namespace: string;
  name: string;
  obj: KubeObject;
}

interface ChangeRow {
  rv: string | null;
  grp: string;
  resource: string;
  namespace: string;
  name: string;
  type: WatchEventType;
  obj: KubeObject;
  prev: KubeObject | null;
}

interface FeedRow extends ChangeRow {
  compacted: string;
  head: string;
}

function toEvent(row: ChangeRow & { rv: string }, codec: ObjectCodec): ChangeEvent {
  const key = { group: row.grp, resource: row.resource, namespace: row.namespace, name: row.name };
  const event: ChangeEvent = { type: row.type, key, object: codec.decode(key, row.obj), rv: BigInt(row.rv) };
  if (row.prev) event.prevObject = codec.decode(key, row.prev);
  return deepFreeze(event);
}

const CHANGE_COLUMNS = 'c.rv::text AS rv, c.grp, c.resource, c.namespace, c.name, c.type, c.obj, p.obj AS prev';

// ---------------------------------------------------------------------------------------------
// Transactions

// Each write is one statement: take the next revision from the counter (locking its row
// until COMMIT when this is the transaction's first write), write the object with that
// revision in metadata.resourceVersion, append the change, and notify. Under READ COMMITTED
// the counter UPDATE waits for the previous holder and then increments the committed value.
const SET_RV = "jsonb_set($5::jsonb, '{metadata,resourceVersion}', to_jsonb(ctr.rv::text))";

const CREATE_SQL = `WITH ctr AS (
    -- The existence check keeps the counter untouched (and unlocked) for a plain AlreadyExists.
    UPDATE revision SET rv = rv + 1
    WHERE id AND NOT EXISTS (SELECT 1 FROM objects WHERE grp = $1 AND resource = $2 AND namespace = $3 AND name = $4)
    RETURNING rv
  ), ins AS (
    INSERT INTO objects (grp, resource, namespace, name, rv, obj)
    SELECT $1, $2, $3, $4, ctr.rv, ${SET_RV} FROM ctr
    ON CONFLICT DO NOTHING RETURNING rv, obj
  ), ch AS (
    INSERT INTO changes (rv, grp, resource, namespace, name, type, obj, prev_rv)
    SELECT rv, $1, $2, $3, $4, 'ADDED', obj, NULL FROM ins
  )
  SELECT (SELECT rv::text FROM ctr) AS allocated, (SELECT rv::text FROM ins) AS rv,
         (SELECT pg_notify('${NOTIFY_CHANNEL}', rv::text) FROM ins) AS notified`;

const UPDATE_SQL = `WITH ctr AS (
    UPDATE revision SET rv = rv + 1 WHERE id RETURNING rv
  ), up AS (
    UPDATE objects o SET rv = ctr.rv, obj = ${SET_RV} FROM ctr
    WHERE o.grp = $1 AND o.resource = $2 AND o.namespace = $3 AND o.name = $4
    RETURNING o.rv, o.obj
  ), ch AS (
    INSERT INTO changes (rv, grp, resource, namespace, name, type, obj, prev_rv)
    SELECT rv, $1, $2, $3, $4, 'MODIFIED', obj, $6::bigint FROM up
  )
  SELECT rv::text AS rv, pg_notify('${NOTIFY_CHANNEL}', rv::text) AS notified FROM up`;

const DELETE_SQL = `WITH ctr AS (
    UPDATE revision SET rv = rv + 1 WHERE id RETURNING rv
  ), d AS (
    -- USING ctr: the row goes only once the revision is ours. Deleting first would make a
    -- concurrent holder's INSERT of the same key wait for us while we wait for it.
    DELETE FROM objects o USING ctr
    WHERE o.grp = $1 AND o.resource = $2 AND o.namespace = $3 AND o.name = $4
    RETURNING ctr.rv, o.rv AS prev_rv, o.obj
  ), ch AS (
    INSERT INTO changes (rv, grp, resource, namespace, name, type, obj, prev_rv)
    SELECT rv, $1, $2, $3, $4, 'DELETED',
           jsonb_set(obj, '{metadata,resourceVersion}', to_jsonb(rv::text)), prev_rv
    FROM d
    RETURNING rv, obj
  )
  SELECT rv::text AS rv, obj, pg_notify('${NOTIFY_CHANNEL}', rv::text) AS notified FROM ch`;

function keyString(key: ObjectKey): string {
  return `${key.group}\u0000${key.resource}\u0000${key.namespace}\u0000${key.name}`;
}

class PgTransaction implements Transaction {
  /** Whether this transaction holds the counter row lock (made its first write). */
  private writeLocked = false;
  /**
   * Revisions of rows this transaction holds locked, so a write after get(forUpdate) needs no
   * second round trip to lock and check. null: deleted by this transaction, which holds the
   * counter, so nobody else can create it before COMMIT.
   */
  private readonly locked = new Map<string, string | null>();
  /** Revisions taken from the counter but not used; returned before the next write or COMMIT. */
  private unusedRevisions = 0;
  /**
   * What this attempt locked or tried to lock. When it has to be re-run because a lock was
   * busy, the next attempt takes these first, in a fixed order and before the counter, so
   * transactions that lock the same objects in different orders still make progress.
   */
  readonly lockSet = { keys: new Map<string, ObjectKey>(), names: new Set<string>() };
  private finished = false;
  /** A database error the transaction cannot commit after, even if fn swallowed it. */
  failure: unknown;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly client: pg.PoolClient, private readonly codec: ObjectCodec) {}

  /** fn may fire operations concurrently; they must still run one at a time, in call order. */
  private run<T>(op: () => Promise<T>): Promise<T> {
    const p = this.chain.then(() => {
      if (this.finished) throw new Error('transaction already finished');
      return op();
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  private noteKey(key: ObjectKey): void {
    if (this.lockSet.keys.size < MAX_LEARNED_LOCKS) this.lockSet.keys.set(keyString(key), key);
  }

  /** Takes the locks a previous attempt needed, names then rows, each in sorted order. */
  async preLock(prev: PgTransaction['lockSet']): Promise<void> {
    for (const name of [...prev.names].sort()) {
      this.lockSet.names.add(name);
      await this.q('SELECT pg_advisory_xact_lock($1, hashtext($2))', [NAMED_LOCK_CLASS, name]);
    }
    const keys = [...prev.keys.values()];
    if (keys.length === 0) return;
    for (const k of keys) this.noteKey(k);
    // LockRows runs above the sort, so the rows are locked in this order.
    const r = await this.q<{ grp: string; resource: string; namespace: string; name: string; rv: string }>(
      `SELECT grp, resource, namespace, name, rv::text AS rv FROM objects
       WHERE (grp, resource, namespace, name) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]))
       ORDER BY grp, resource, namespace, name FOR UPDATE`,
      [keys.map(k => k.group), keys.map(k => k.resource), keys.map(k => k.namespace), keys.map(k => k.name)],
    );
    for (const row of r.rows) {
      this.locked.set(keyString({ group: row.grp, resource: row.resource, namespace: row.namespace, name: row.name }), row.rv);
    }
  }

  /** Waits for operations still running; afterwards the transaction accepts no more. */
  async settle(): Promise<void> {
    await this.chain;
    this.finished = true;
  }

  /** Last statements before COMMIT. */
  async prepareCommit(): Promise<void> {
    await this.returnUnusedRevisions();
  }

  private async returnUnusedRevisions(): Promise<void> {
    if (this.unusedRevisions === 0 || this.failure) return;
    const n = this.unusedRevisions;
    this.unusedRevisions = 0;
    await this.q('UPDATE revision SET rv = rv - $1 WHERE id', [n]);
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[], name?: string): Promise<pg.QueryResult<R>> {
    try {
      return await this.client.query<R>(name ? { name, text: sql, values: params } : { text: sql, values: params });
    } catch (err) {
      this.failure ??= err;
      throw err;
    }
  }

  private lockClause(): string {
    return this.writeLocked ? 'FOR UPDATE NOWAIT' : 'FOR UPDATE';
  }

  /** The stored revision of key, locked until COMMIT; undefined when there is no such object. */
  private async lockRow(key: ObjectKey): Promise<string | undefined> {
    const k = keyString(key);
    const known = this.locked.get(k);
    if (known !== undefined) return known ?? undefined;
    this.noteKey(key);
    const r = await this.q<{ rv: string }>(
      `SELECT rv::text AS rv FROM objects WHERE grp = $1 AND resource = $2 AND namespace = $3 AND name = $4 ${this.lockClause()}`,
      keyParams(key),
    );
    const rv = r.rows[0]?.rv;
    if (rv !== undefined) this.locked.set(k, rv);
    return rv;
  }

  get(key: ObjectKey, opts: { forUpdate?: boolean } = {}): Promise<KubeObject | undefined> {
    return this.run(async () => {
      const lock = opts.forUpdate ? this.lockClause() : '';
      if (opts.forUpdate) this.noteKey(key);
      const r = await this.q<{ rv: string; obj: KubeObject }>(
        `SELECT rv::text AS rv, obj FROM objects WHERE grp = $1 AND resource = $2 AND namespace = $3 AND name = $4 ${lock}`,
        keyParams(key),
      );
      const row = r.rows[0];
      if (row && opts.forUpdate) this.locked.set(keyString(key), row.rv);
      return row ? this.codec.decode(key, row.obj) : undefined;
    });
  }

  get hasWritten(): boolean {
    return this.writeLocked;
  }

  /** The WHERE clause and the columns of a list, its parameters appended to `params`. */
  private listQuery(prefix: KeyPrefix, opts: TransactionListOptions, params: Array<string | string[]>): { where: string; columns: string } {
    params.push(prefix.group, prefix.resource);
    let where = `grp = $${params.length - 1} AND resource = $${params.length}`;
    if (prefix.namespace) {
      params.push(prefix.namespace);
      where += ` AND namespace = $${params.length}`;
    }
    // Planned with the path as a constant, so the expression indexes of
    // migrations/003_field_indexes.sql serve the paths they cover.
    for (const [path, value] of Object.entries(opts.fields ?? {})) {
      params.push(path.split('.'), value);
      where += ` AND obj #>> $${params.length - 1}::text[] = $${params.length}`;
    }
    // Picked paths come back as one JSON array a row, so only they are sent and parsed.
    let columns = 'obj';
    if (opts.pick) {
      columns = `jsonb_build_array(${opts.pick.map(p => { params.push(p.split('.')); return `obj #> $${params.length}::text[]`; }).join(', ')}) AS obj`;
    }
    return { where, columns };
  }

  listChanged(prefix: KeyPrefix, since: bigint, opts: Pick<TransactionListOptions, 'fields' | 'pick'> = {}): Promise<{ count: number; changed: KubeObject[] }> {
    return this.run(async () => {
      const params: Array<string | string[]> = [];
      const { where, columns } = this.listQuery(prefix, opts, params);
      params.push(since.toString());
      const r = await this.q<{ total: string; obj: KubeObject | null }>(
        `WITH t AS (SELECT count(*) AS total FROM objects WHERE ${where})
         SELECT t.total::text AS total, c.obj FROM t
         LEFT JOIN LATERAL (SELECT ${columns} FROM objects WHERE ${where} AND rv > $${params.length} ORDER BY namespace, name) c ON true`,
        params,
      );
      const changed = r.rows.filter(row => row.obj !== null).map(row => this.codec.decode(prefix, opts.pick ? assemble(opts.pick, row.obj as unknown as unknown[]) : row.obj!));
      return { count: Number(r.rows[0]?.total ?? 0), changed };
    });
  }

  list(prefix: KeyPrefix, opts: TransactionListOptions = {}): Promise<KubeObject[]> {
    return this.run(async () => {
      const params: Array<string | string[]> = [];
      const { where, columns } = this.listQuery(prefix, opts, params);
      const lock = opts.forUpdate ? this.lockClause() : '';
      const r = await this.q<{ rv: string; namespace: string; name: string; obj: KubeObject }>(
        `SELECT rv::text AS rv, namespace, name, ${columns} FROM objects WHERE ${where} ORDER BY namespace, name ${lock}`,
        params,
      );
      if (opts.pick) for (const row of r.rows) row.obj = assemble(opts.pick, row.obj as unknown as unknown[]);
      if (opts.forUpdate) {
        for (const row of r.rows) {
          const k = { group: prefix.group, resource: prefix.resource, namespace: row.namespace, name: row.name };
          this.locked.set(keyString(k), row.rv);
          this.noteKey(k);
        }
      }
      const objs = r.rows.map(row => this.codec.decode(prefix, row.obj));
      return opts.filter ? objs.filter(opts.filter) : objs;
    });
  }

  create(key: ObjectKey, obj: KubeObject): Promise<KubeObject> {
    return this.run(async () => {
      const encoded = this.codec.encode(key, obj);
      await this.returnUnusedRevisions();
      const r = await this.q<{ allocated: string | null; rv: string | null }>(
        CREATE_SQL,
        [...keyParams(key), encoded],
        'tke_create',
      );
      const { allocated, rv } = r.rows[0];
      if (allocated !== null) this.writeLocked = true;
      if (rv === null) {
        // Another transaction created the key after this statement's snapshot was taken and
        // committed while we waited for the counter. The revision must be handed back (no
        // gap), but usually the caller rolls back anyway, so only pay for it if it goes on.
        if (allocated !== null) this.unusedRevisions++;
        throw new StorageError('AlreadyExists', `${describe(key)} already exists`, key);
      }
      this.locked.set(keyString(key), rv);
      return withRV(obj, BigInt(rv));
    });
  }

  update(key: ObjectKey, obj: KubeObject, expectedRV?: string): Promise<KubeObject> {
    return this.run(async () => {
      // Lock and check before taking the counter: a conflict then costs no serialized time.
      const cur = await this.lockRow(key);
      if (cur === undefined) throw new StorageError('NotFound', `${describe(key)} not found`, key);
      if (expectedRV && expectedRV !== cur) {
        throw new StorageError('Conflict', `${describe(key)}: resourceVersion ${expectedRV} is stale, the object is at ${cur}`, key);
      }
      const encoded = this.codec.encode(key, obj);
      await this.returnUnusedRevisions();
      const r = await this.q<{ rv: string }>(UPDATE_SQL, [...keyParams(key), encoded, cur], 'tke_update');
      this.writeLocked = true;
      // Cannot happen while we hold the row lock; the statement would have taken a revision.
      if (r.rowCount !== 1) throw new Error(`${describe(key)} vanished while locked`);
      const rv = r.rows[0].rv;
      this.locked.set(keyString(key), rv);
      return withRV(obj, BigInt(rv));
    });
  }

  delete(key: ObjectKey, expectedRV?: string): Promise<KubeObject> {
    return this.run(async () => {
      const cur = await this.lockRow(key);
      if (cur === undefined) throw new StorageError('NotFound', `${describe(key)} not found`, key);
      if (expectedRV && expectedRV !== cur) {
        throw new StorageError('Conflict', `${describe(key)}: resourceVersion ${expectedRV} is stale, the object is at ${cur}`, key);
      }
      await this.returnUnusedRevisions();
      const r = await this.q<{ rv: string; obj: KubeObject }>(DELETE_SQL, keyParams(key), 'tke_delete');
      this.writeLocked = true;
      if (r.rowCount !== 1) throw new Error(`${describe(key)} vanished while locked`);
      this.locked.set(keyString(key), null);
      return this.codec.decode(key, r.rows[0].obj);
    });
  }

  lock(name: string): Promise<void> {
    return this.run(async () => {
      this.lockSet.names.add(name);
      if (!this.writeLocked) {
        await this.q('SELECT pg_advisory_xact_lock($1, hashtext($2))', [NAMED_LOCK_CLASS, name]);
        return;
      }
      const r = await this.q<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok', [NAMED_LOCK_CLASS, name]);
      if (!r.rows[0].ok) {
        const err = new LockBusyError(`lock ${name} is busy`);
        this.failure ??= err;
        throw err;
      }
    });
  }
}

function describe(key: ObjectKey): string {
  const ns = key.namespace ? `${key.namespace}/` : '';
  return `${key.resource}.${key.group} ${ns}${key.name}`;
}

// ---------------------------------------------------------------------------------------------
// Watchers

type QueueItem = ChangeEvent | bigint;

/**
 * One watch. Events are queued and handed to onEvent from a later tick, so neither the feed
 * nor other watchers ever run inside a consumer's callback.
 */
class FeedWatcher implements Watcher {
  stopped = false;
  /** Everything at or below this revision has been queued (or did not concern this watch). */
  threshold: bigint;
  private queue: (QueueItem | undefined)[] = [];
  private head = 0;
  private scheduled = false;
  private roomWaiters: (() => void)[] = [];

  constructor(
    readonly prefix: KeyPrefix,
    private readonly opts: WatchOptions,
    private readonly maxBuffer: number,
    private readonly detach: (w: FeedWatcher) => void,
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
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
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
  };

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

/** A fixed-size ring of the newest change events, oldest first. */
class EventRing {
  private buf: (ChangeEvent | undefined)[];
  private start = 0;
  private len = 0;

  /** The ring holds every change with startRV < rv <= the newest pushed. */
  constructor(private readonly capacity: number, public startRV: bigint) {
    this.buf = new Array<ChangeEvent | undefined>(capacity);
  }

  push(e: ChangeEvent): void {
    if (this.len === this.capacity) {
      const evicted = this.buf[this.start];
      if (evicted) this.startRV = evicted.rv;
      this.start = (this.start + 1) % this.capacity;
      this.len--;
    }
    this.buf[(this.start + this.len) % this.capacity] = e;
    this.len++;
  }

  reset(startRV: bigint): void {
    this.buf = new Array<ChangeEvent | undefined>(this.capacity);
    this.start = 0;
    this.len = 0;
    this.startRV = startRV;
  }

  private at(i: number): ChangeEvent {
    return this.buf[(this.start + i) % this.capacity] as ChangeEvent;
  }

  /** Events with rv > after, in order. */
  *since(after: bigint): Generator<ChangeEvent> {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).rv <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.len; i++) yield this.at(i);
  }
}

interface FeedHost {
  pool: pg.Pool;
  codec: ObjectCodec;
  databaseUrl: string;
  log: Logger;
  noteCompacted(rv: bigint): void;
}

/**
 * The process's single reader of the change log. It follows `changes` in revision order,
 * keeps the newest events in a ring, and fans them out to live watchers; watchers that start
 * before the ring read the log themselves until they reach it.
 */
class ChangeFeed {
  /** The newest revision read from the log; every change up to it is in the ring or older. */
  last = 0n;
  private readonly ring: EventRing;
  private readonly live = new Map<string, Set<FeedWatcher>>();
  private readonly all = new Set<FeedWatcher>();
  private fetching = false;
  private fetchAgain = false;
  private listener: pg.Client | undefined;
  private listenerBackoff = 100;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly batch: number;

  constructor(
    private readonly host: FeedHost,
    cacheSize: number,
    private readonly watcherBuffer: number,
    private readonly pollIntervalMs: number,
  ) {
    this.ring = new EventRing(cacheSize, 0n);
    this.batch = Math.max(1, Math.min(FEED_BATCH, Math.floor(watcherBuffer / 2)));
  }

  window(): { from: bigint; to: bigint } {
    return { from: this.ring.startRV, to: this.last };
  }

  async start(): Promise<void> {
    const r = await this.host.pool.query<{ rv: string; compacted: string }>(
      'SELECT r.rv::text AS rv, c.rv::text AS compacted FROM revision r, compaction c',
    );
    this.last = BigInt(r.rows[0].rv);
    this.host.noteCompacted(BigInt(r.rows[0].compacted));
    this.ring.reset(this.last);
    await this.connectListener();
    this.pollTimer = setInterval(() => this.kick(), this.pollIntervalMs);
    this.pollTimer.unref();
  }

  async stop(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    for (const w of [...this.all]) w.fail(new StorageError('Unavailable', 'storage is shutting down'));
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
    client.on('notification', () => this.kick());
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
    try {
      do {
        this.fetchAgain = false;
        for (;;) {
          if (this.closed) return;
          // The listener connection is otherwise idle; using it keeps the feed moving when
          // writers have taken every pooled connection.
          const db: pg.Client | pg.Pool = this.listener ?? this.host.pool;
          // One statement = one snapshot: the compaction marker is consistent with the rows.
          const { rows } = await db.query<FeedRow>(
            `SELECT m.rv::text AS compacted, h.rv::text AS head, ${CHANGE_COLUMNS}
             FROM compaction m CROSS JOIN revision h
             LEFT JOIN LATERAL (SELECT * FROM changes WHERE rv > $1 ORDER BY rv LIMIT $2) c ON true
             LEFT JOIN changes p ON p.rv = c.prev_rv
             ORDER BY c.rv`,
            [this.last.toString(), this.batch],
          );
          if (this.closed) return;
          const compacted = BigInt(rows[0].compacted);
          this.host.noteCompacted(compacted);
          if (this.last < compacted) {
            this.skipTo(compacted);
            continue;
          }
          let n = 0;
          for (const row of rows) {
            if (row.rv === null) continue;
            n++;
            let event: ChangeEvent;
            try {
              event = toEvent({ ...row, rv: row.rv }, this.host.codec);
            } catch (err) {
              this.undecodable({ ...row, rv: row.rv }, err as Error);
              continue;
            }
            this.publish(event);
          }
          for (const set of this.live.values()) for (const w of set) w.advance(this.last);
          if (n < this.batch) break;
        }
      } while (this.fetchAgain);
    } catch (err) {
      if (!this.closed) this.host.log('change feed read failed; will retry', { error: (err as Error).message });
    }
  }

  private publish(e: ChangeEvent): void {
    this.ring.push(e);
    this.last = e.rv;
    const set = this.live.get(resourceKey(e.key.group, e.key.resource));
    if (!set) return;
    for (const w of set) if (prefixMatches(w.prefix, e.key)) w.push(e);
  }

  /**
   * A change that cannot be decoded (a secret sealed by a key this server lacks, or an altered
   * row) must not stop the feed for everyone: the watches of its resource end with the error,
   * and the cache restarts after it, so a watch from an earlier revision reads the log and gets
   * the same error instead of a stream with a hole in it.
   */
  private undecodable(row: ChangeRow & { rv: string }, err: Error): void {
    const rv = BigInt(row.rv);
    this.host.log('change cannot be decoded; ending the watches of its resource', { group: row.grp, resource: row.resource, namespace: row.namespace, name: row.name, rv: row.rv, error: err.message });
    for (const w of [...(this.live.get(resourceKey(row.grp, row.resource)) ?? [])]) w.fail(err);
    this.last = rv;
    this.ring.reset(rv);
  }

  /**
   * The feed fell behind the compaction point (the process was stalled for a long time):
   * changes it has not read may be gone, so every live watch ends and the feed restarts at
   * the first exact revision.
   */
  private skipTo(compacted: bigint): void {
    this.host.log('change feed fell behind compaction; restarting watches', { last: this.last.toString(), compacted: compacted.toString() });
    for (const set of this.live.values()) {
      for (const w of [...set]) w.fail(new StorageError('Expired', `watch revision ${w.threshold} has been compacted`));
    }
    this.last = compacted;
    this.ring.reset(compacted);
  }

  watch(prefix: KeyPrefix, opts: WatchOptions): Watcher {
    const w = new FeedWatcher(prefix, opts, this.watcherBuffer, watcher => this.detach(watcher));
    this.all.add(w);
    if (this.closed) w.fail(new StorageError('Unavailable', 'storage is closed'));
    else if (opts.fromRV >= this.ring.startRV) this.attachLive(w);
    else void this.catchUp(w);
    return w;
  }

  private detach(w: FeedWatcher): void {
    this.all.delete(w);
    const k = resourceKey(w.prefix.group, w.prefix.resource);
    const set = this.live.get(k);
    if (set?.delete(w) && set.size === 0) this.live.delete(k);
  }

  /** Synchronous, so no event can be published between reading the ring and subscribing. */
  private attachLive(w: FeedWatcher): void {
    for (const e of this.ring.since(w.threshold)) if (prefixMatches(w.prefix, e.key)) w.push(e);
    if (w.stopped) return;
    const k = resourceKey(w.prefix.group, w.prefix.resource);
    let set = this.live.get(k);
    if (!set) this.live.set(k, (set = new Set()));
    set.add(w);
    w.advance(this.last);
  }

  /** Serves a watch that starts before the ring from the log, then hands it to the live stream. */
  private async catchUp(w: FeedWatcher): Promise<void> {
    const params: string[] = [w.prefix.group, w.prefix.resource];
    let where = 'grp = $1 AND resource = $2';
    if (w.prefix.namespace) {
      params.push(w.prefix.namespace);
      where += ` AND namespace = $${params.length}`;
    }
    const cursorParam = `$${params.length + 1}`;
    const limitParam = `$${params.length + 2}`;
    const sql = `SELECT m.rv::text AS compacted, h.rv::text AS head, ${CHANGE_COLUMNS}
      FROM compaction m CROSS JOIN revision h
      LEFT JOIN LATERAL (SELECT * FROM changes WHERE ${where} AND rv > ${cursorParam} ORDER BY rv LIMIT ${limitParam}) c ON true
      LEFT JOIN changes p ON p.rv = c.prev_rv
      ORDER BY c.rv`;
    try {
      let cursor = w.threshold;
      for (;;) {
        if (w.stopped || this.closed) return;
        if (cursor >= this.ring.startRV) {
          this.attachLive(w);
          return;
        }
        await w.waitForRoom();
        if (w.stopped || this.closed) return;
        const { rows } = await this.host.pool.query<FeedRow>(sql, [...params, cursor.toString(), this.batch]);
        const compacted = BigInt(rows[0].compacted);
        this.host.noteCompacted(compacted);
        if (cursor < compacted) {
          w.fail(new StorageError('Expired', `too old resource version: ${cursor} (compacted to ${compacted})`));
          return;
        }
        let n = 0;
        for (const row of rows) {
          if (row.rv === null) continue;
          n++;
          const e = toEvent({ ...row, rv: row.rv }, this.host.codec);
          w.push(e);
          cursor = e.rv;
        }
        // A short batch saw everything committed up to head in this snapshot.
        const head = BigInt(rows[0].head);
        if (n < this.batch && head > cursor) cursor = head;
        w.advance(cursor);
      }
    } catch (err) {
      const mapped = mapError(err);
      w.fail(mapped instanceof Error ? mapped : new Error(String(mapped)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The store

class PgStore implements PostgresStore {
  private compacted = 0n;
  private closed = false;
  private compactTimer: NodeJS.Timeout | undefined;
  private readonly feed: ChangeFeed;
  private readonly log: Logger;
  private readonly retain: number;

  private readonly codec: ObjectCodec;

  constructor(readonly pool: pg.Pool, private readonly opts: PostgresStoreOptions) {
    this.log = opts.log ?? (() => {});
    this.codec = new ObjectCodec(opts.encryption);
    this.retain = opts.retainRevisions ?? 100_000;
    this.feed = new ChangeFeed(
      { pool, codec: this.codec, databaseUrl: opts.databaseUrl, log: this.log, noteCompacted: rv => this.noteCompacted(rv) },
      opts.watchCacheSize ?? 10_000,
      opts.watcherBufferSize ?? 10_000,
      opts.pollIntervalMs ?? 1000,
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

  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    try {
      const r = await this.pool.query<{ obj: KubeObject }>(
        'SELECT obj FROM objects WHERE grp = $1 AND resource = $2 AND namespace = $3 AND name = $4',
        keyParams(key),
      );
      const row = r.rows[0];
      return row ? this.codec.decode(key, row.obj) : undefined;
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
    let learned: PgTransaction['lockSet'] | undefined;
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw mapError(err);
      }
      // A connection whose state is unknown must not go back to the pool.
      let broken: Error | undefined;
      // The pool stops listening to a client it hands out: a connection lost then (the database
      // restarting) would be an unhandled 'error' event, which ends the process.
      const onLost = (err: Error) => { broken ??= err; };
      client.on('error', onLost);
      let tx: PgTransaction | undefined;
      try {
        // One round trip (simple protocol). A transaction that holds the revision lock stops
        // every writer of the database, so a client that stalls mid-transaction (a hung
        // process, a lost network) is cut off by the server instead of holding it forever.
        await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL idle_in_transaction_session_timeout = ${TX_IDLE_TIMEOUT_MS}`);
        tx = new PgTransaction(client, this.codec);
        if (learned) await tx.preLock(learned);
        let result: T;
        try {
          result = await fn(tx);
        } finally {
          await tx.settle();
        }
        if (tx.failure) throw tx.failure;
        await tx.prepareCommit();
        const done = await client.query('COMMIT');
        // COMMIT of an aborted transaction reports ROLLBACK instead of failing.
        if (done.command === 'ROLLBACK') throw new Error('transaction was rolled back by the database');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr as Error;
        }
        if (isRetryable(err) && attempt < MAX_TX_ATTEMPTS) {
          if (tx) learned = tx.lockSet;
          // Long enough, late on, for the transaction that holds the contended lock to finish.
          await sleep(Math.random() * Math.min(5 * 2 ** attempt, 250));
          continue;
        }
        if (isRetryable(err)) throw new StorageError('Conflict', `transaction gave up after ${attempt} attempts: ${(err as Error).message}`);
        throw mapError(err);
      } finally {
        client.off('error', onLost);
        client.release(broken);
      }
    }
  }

  async list(prefix: KeyPrefix, opts: ListOptions = {}): Promise<ListResult> {
    const token = opts.continue ? decodeContinue(opts.continue, prefix) : undefined;
    const wanted = token?.rv ?? opts.atRevision;
    // A revision newer than the newest committed one may not have committed yet (another
    // replica acknowledged it a moment ago): wait briefly rather than read a state that could
    // still change under that revision.
    const deadline = Date.now() + 3000;
    for (;;) {
      const result = await this.listOnce(prefix, opts, wanted, token?.after);
      if (typeof result !== 'bigint') return result;
      if (Date.now() >= deadline) {
        throw new StorageError('TooLargeResourceVersion', `Too large resource version: ${wanted}, current: ${result}`);
      }
      await sleep(50);
    }
  }

  /** Returns the current revision instead of a result when `wanted` lies in the future. */
  private async listOnce(prefix: KeyPrefix, opts: ListOptions, wanted: bigint | undefined, start: [string, string] | undefined): Promise<ListResult | bigint> {
    const limit = opts.limit && opts.limit > 0 ? Math.floor(opts.limit) : 0;
    // Every query of this list (there may be several chunks) reads one snapshot.
    return this.inTransaction('REPEATABLE READ READ ONLY', async (client) => {
      const st = (await client.query<{ current: string; compacted: string }>(
        'SELECT r.rv::text AS current, c.rv::text AS compacted FROM revision r, compaction c',
      )).rows[0];
      const current = BigInt(st.current);
      const compacted = BigInt(st.compacted);
      this.noteCompacted(compacted);
      const rv = wanted ?? current;
      if (rv > current) return current;
      if (rv < compacted) {
        throw new StorageError('Expired', `too old resource version: ${rv} (compacted to ${compacted})`);
      }

      const base: string[] = [prefix.group, prefix.resource];
      let where = 'grp = $1 AND resource = $2';
      if (prefix.namespace) {
        base.push(prefix.namespace);
        where += ` AND namespace = $${base.length}`;
      }

      // The current table is the state at rv exactly when nothing in this prefix changed since.
      let fromObjects = rv >= current;
      if (!fromObjects) {
        const changed = await client.query(`SELECT 1 FROM changes WHERE ${where} AND rv > $${base.length + 1} LIMIT 1`, [...base, rv.toString()]);
        fromObjects = changed.rowCount === 0;
      }

      /**
       * Reads the state at rv of the keys after `after`, at most n of them. `bound` is set when
       * more keys may follow the chunk: the next chunk starts after it.
       */
      const fetchChunk = async (after: [string, string] | undefined, n: number): Promise<{ rows: ObjRow[]; bound?: [string, string] }> => {
        const params: string[] = [...base];
        let cond = where;
        if (after) {
          params.push(after[0], after[1]);
          cond += ` AND (namespace, name) > ($${params.length - 1}, $${params.length})`;
        }
        const lim = n > 0 ? `LIMIT ${n}` : '';
        if (fromObjects) {
          const rows = (await client.query<ObjRow>(`SELECT namespace, name, obj FROM objects WHERE ${cond} ORDER BY namespace, name ${lim}`, params)).rows;
          return { rows, bound: n > 0 && rows.length === n ? [rows[n - 1].namespace, rows[n - 1].name] : undefined };
        }
        // A row of `objects` at or below rv has not been written since, so it is its state at
        // rv. Every other key was written after rv (updated, deleted or created): its state at
        // rv is its newest change at or below rv, unless that is a deletion or there is none.
        // Every key that existed at rv is still in `objects` or was deleted after rv, so the
        // n-th of those keys bounds the chunk: only the keys written after rv inside that
        // range touch the change log, however much else changed since.
        params.push(rv.toString());
        const rvParam = `$${params.length}`;
        let bound: [string, string] | undefined;
        if (n > 0) {
          const row = (await client.query<{ namespace: string; name: string }>(
            `SELECT namespace, name FROM (
               (SELECT namespace, name FROM objects WHERE ${cond} ORDER BY namespace, name LIMIT ${n})
               UNION
               (SELECT DISTINCT namespace, name FROM changes WHERE ${cond} AND rv > ${rvParam} AND type = 'DELETED' ORDER BY namespace, name LIMIT ${n})
             ) k ORDER BY namespace, name OFFSET ${n - 1} LIMIT 1`,
            params,
          )).rows[0];
          if (row) {
            bound = [row.namespace, row.name];
            params.push(row.namespace, row.name);
            cond += ` AND (namespace, name) <= ($${params.length - 1}, $${params.length})`;
          }
        }
        const rows = (await client.query<ObjRow>(
          `SELECT namespace, name, obj FROM (
             SELECT namespace, name, obj FROM objects WHERE ${cond} AND rv <= ${rvParam}
             UNION ALL
             SELECT k.namespace, k.name, s.obj
             FROM (SELECT DISTINCT namespace, name FROM changes WHERE ${cond} AND rv > ${rvParam}) k
             CROSS JOIN LATERAL (
               -- The newest change of the key at or below rv, as one backward step of the
               -- (grp, resource, namespace, name, rv) index: written as a row comparison so no
               -- other index can serve it (with stale statistics the planner would otherwise
               -- walk the per-resource index backwards through every later change, per key).
               SELECT c.grp, c.resource, c.namespace, c.name, c.type, c.obj FROM changes c
               WHERE (c.grp, c.resource, c.namespace, c.name, c.rv) <= ($1, $2, k.namespace, k.name, ${rvParam}::bigint)
               ORDER BY c.grp DESC, c.resource DESC, c.namespace DESC, c.name DESC, c.rv DESC LIMIT 1
             ) s
             -- A key created after rv has no such change: the step lands on an earlier key.
             WHERE s.grp = $1 AND s.resource = $2 AND s.namespace = k.namespace AND s.name = k.name AND s.type <> 'DELETED'
           ) u ORDER BY namespace, name`,
          params,
        )).rows;
        return { rows, bound };
      };

      const items: KubeObject[] = [];
      let after = start;
      let lastReturned: [string, string] | undefined;
      let more = false;
      // A chunk is every row read at once, before the filter: a page of 10 big objects must not
      // read 100 of them. A chunk that was not enough means a sparse filter: the next is larger.
      let chunk = limit ? Math.min(limit + 1, 5000) : 0;
      scan: for (;;) {
        const { rows, bound } = await fetchChunk(after, chunk);
        if (chunk) chunk = Math.min(chunk * 2, 5000);
        for (const row of rows) {
          after = [row.namespace, row.name];
          const obj = this.codec.decode(prefix, row.obj);
          if (opts.filter && !opts.filter(obj)) continue;
          if (limit && items.length >= limit) {
            more = true;
            break scan;
          }
          items.push(obj);
          lastReturned = after;
        }
        if (!bound) break;
        after = bound;
        if (items.length >= limit) {
          // Keys remain but none of them was examined: the next page may turn out empty,
          // which clients handle, and it bounds the work a sparse filter can cause here.
          more = true;
          break;
        }
      }

      const result: ListResult = { items, rv };
      if (more && lastReturned) {
        result.continue = encodeContinue(prefix, rv, lastReturned);
        if (!opts.filter && fromObjects) {
          const c = await client.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM objects WHERE ${where} AND (namespace, name) > ($${base.length + 1}, $${base.length + 2})`,
            [...base, lastReturned[0], lastReturned[1]],
          );
          result.remainingItemCount = Number(c.rows[0].n);
        }
      }
      return result;
    });
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
    const compacted = await this.inTransaction('READ COMMITTED', async (client) => {
      const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, 0) AS ok', [COMPACTION_LOCK_CLASS]);
      if (!got.rows[0].ok) {
        // Another replica is compacting right now; its result is as good as ours.
        return this.compacted;
      }
      const st = (await client.query<{ current: string; compacted: string }>(
        'SELECT r.rv::text AS current, c.rv::text AS compacted FROM revision r, compaction c FOR UPDATE OF c',
      )).rows[0];
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

  /**
   * Runs `fn` in one transaction of its own connection and commits; any error rolls back. A
   * connection whose rollback failed is discarded rather than returned to the pool.
   */
  private async inTransaction<T>(isolation: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapError(err);
    }
    let broken: Error | undefined;
    const onLost = (err: Error) => { broken ??= err; };
    client.on('error', onLost);
    try {
      await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => { broken ??= e; });
      throw mapError(err);
    } finally {
      client.off('error', onLost);
      client.release(broken);
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
    max: opts.poolSize ?? 10,
    keepAlive: true,
    // Without a bound, requests would queue forever while the database is unreachable.
    connectionTimeoutMillis: 10_000,
    application_name: 'tke-apiserver',
  });
  // An idle pooled connection that dies emits here; without a listener it would crash the process.
  pool.on('error', err => log('idle database connection failed', { error: err.message }));
  try {
    if (opts.migrate ?? true) await migrate(pool, { log, dirs: opts.migrationDirs });
    await opts.encryption?.verifyAgainst(pool);
    const store = new PgStore(pool, opts);
    await store.start();
    return store;
  } catch (err) {
    await pool.end().catch(() => {});
    throw mapError(err);
  }
}
