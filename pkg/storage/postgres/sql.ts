// What the PostgreSQL store says to the database: the statements, the rows they return, the
// advisory lock classes, and how the database's errors read to callers.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { StorageError, StorageValueError, type ObjectKey, type WatchEventType } from '../interface.ts';

export const NOTIFY_CHANNEL = 'tke_changes';
/** Advisory lock class ids: Transaction.lock names, compaction, and writers' queue. Migrations use another. */
export const NAMED_LOCK_CLASS = 0x746b66;
export const COMPACTION_LOCK_CLASS = 0x746b67;
export const WRITERS_LOCK_CLASS = 0x746b68;

// ---------------------------------------------------------------------------------------------
// Errors

/** unique_violation: a final create of a key that exists. */
export const UNIQUE_VIOLATION = '23505';

// SQLSTATEs after which a transaction is simply run again.
const RETRYABLE_CODES = new Set(['40001', '40P01', '55P03']);

/** Thrown when the counter holder would have to wait for a lock; the transaction is re-run. */
export class LockBusyError extends Error {
  readonly code = '55P03';
}

/** Thrown when a queued create meets a key another transaction created meanwhile; the transaction is re-run. */
export class QueuedWriteConflict extends Error {
  readonly code = '40001';
}

export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

export function isRetryable(err: unknown): boolean {
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

// ---------------------------------------------------------------------------------------------
// Keys

export function keyParams(key: ObjectKey): string[] {
  return [key.group, key.resource, key.namespace, key.name];
}

export function keyString(key: ObjectKey): string {
  return `${key.group}\u0000${key.resource}\u0000${key.namespace}\u0000${key.name}`;
}

/** How a unique violation's detail names the key of objects it is about. */
export function uniqueKeyDetail(key: ObjectKey): string {
  return `=(${key.group}, ${key.resource}, ${key.namespace}, ${key.name})`;
}

export function describe(key: ObjectKey): string {
  const ns = key.namespace ? `${key.namespace}/` : '';
  return `${key.resource}.${key.group} ${ns}${key.name}`;
}

// ---------------------------------------------------------------------------------------------
// Rows

export interface ObjRow {
  namespace: string;
  name: string;
  obj: KubeObject;
}

export interface ChangeRow {
  rv: string | null;
  grp: string;
  resource: string;
  namespace: string;
  name: string;
  type: WatchEventType;
  obj: KubeObject;
  prev: KubeObject | null;
}

/** A change read together with the compaction marker and the counter, in one snapshot. */
export interface FeedRow extends ChangeRow {
  compacted: string;
  head: string;
}

// The previous state is looked up per change, by its revision. A join would let the planner hash
// the whole log for a page of a few rows (it did, before the table had statistics: a seq scan of
// every change on each read of the feed, which then took most of a core).
const CHANGE_COLUMNS = 'c.rv::text AS rv, c.grp, c.resource, c.namespace, c.name, c.type, c.obj, (SELECT p.obj FROM changes p WHERE p.rv = c.prev_rv) AS prev';

/**
 * The changes matching `cond` in revision order, at most `limit` (a parameter) of them, with the
 * compaction marker and the counter of the same snapshot: LEFT JOINed, so a read that finds no
 * change still returns them.
 */
export function changesSQL(cond: string, limit: string): string {
  return `SELECT m.rv::text AS compacted, h.rv::text AS head, ${CHANGE_COLUMNS}
    FROM compaction m CROSS JOIN revision h
    LEFT JOIN LATERAL (SELECT * FROM changes WHERE ${cond} ORDER BY rv LIMIT ${limit}) c ON true
    ORDER BY c.rv`;
}

// ---------------------------------------------------------------------------------------------
// Writes

// Each write is one statement: take the next revision from the counter (queueing for it and
// locking its row until COMMIT when this is the transaction's first write), write the object with that
// revision in metadata.resourceVersion, and append the change. Under READ COMMITTED
// the counter UPDATE waits for the previous holder and then increments the committed value.
const SET_RV = "jsonb_set($5::jsonb, '{metadata,resourceVersion}', to_jsonb(ctr.rv::text))";

// Writers queue for the counter on an advisory lock (held, like the row lock, until COMMIT), and
// only its holder touches the row. Waiting on the row itself, 32 writers woke and re-read it on
// every commit and fought over its page: 0.82 ms of PostgreSQL CPU per two-object create against
// 0.35 ms queued on the lock, and 1,600 against 2,500 transactions/s (hack/bench/pgwrites.ts).
// The subquery takes the lock before the row is read for the update.
export const QUEUE_FOR_REVISION = `(SELECT pg_advisory_xact_lock(${WRITERS_LOCK_CLASS}, 0)) IS NOT NULL`;
const TAKE_REVISION = `UPDATE revision SET rv = rv + 1 WHERE id AND ${QUEUE_FOR_REVISION}`;

export const CREATE_SQL = `WITH ctr AS (
    -- The existence check, first (CASE keeps the order), leaves the counter and its queue alone
    -- for a plain AlreadyExists.
    UPDATE revision SET rv = rv + 1
    WHERE id AND CASE WHEN EXISTS (SELECT 1 FROM objects WHERE grp = $1 AND resource = $2 AND namespace = $3 AND name = $4)
                      THEN false ELSE ${QUEUE_FOR_REVISION} END
    RETURNING rv
  ), ins AS (
    INSERT INTO objects (grp, resource, namespace, name, rv, obj)
    SELECT $1, $2, $3, $4, ctr.rv, ${SET_RV} FROM ctr
    ON CONFLICT DO NOTHING RETURNING rv, obj
  ), ch AS (
    INSERT INTO changes (rv, grp, resource, namespace, name, type, obj, prev_rv)
    SELECT rv, $1, $2, $3, $4, 'ADDED', obj, NULL FROM ins
  )
  SELECT (SELECT rv::text FROM ctr) AS allocated, (SELECT rv::text FROM ins) AS rv`;

// The create that ends its transaction (Transaction create with `final`): it goes to the database
// with COMMIT in the same message, so a key that exists must fail the statement (the unique key
// of objects) rather than succeed with no row, which would commit everything before it.
export const FINAL_CREATE_SQL = `WITH ctr AS (
    ${TAKE_REVISION} RETURNING rv
  ), ins AS (
    INSERT INTO objects (grp, resource, namespace, name, rv, obj)
    SELECT $1, $2, $3, $4, ctr.rv, ${SET_RV} FROM ctr
    RETURNING rv, obj
  ), ch AS (
    INSERT INTO changes (rv, grp, resource, namespace, name, type, obj, prev_rv)
    SELECT rv, $1, $2, $3, $4, 'ADDED', obj, NULL FROM ins
  )
  SELECT rv::text AS rv FROM ins`;

export const UPDATE_SQL = `WITH ctr AS (
    ${TAKE_REVISION} RETURNING rv
  ), up AS (
    UPDATE objects o SET rv = ctr.rv, obj = ${SET_RV} FROM ctr
    WHERE o.grp = $1 AND o.resource = $2 AND o.namespace = $3 AND o.name = $4
    RETURNING o.rv, o.obj
  ), ch AS (
    INSERT INTO changes (rv, grp, resource, namespace, name, type, obj, prev_rv)
    SELECT rv, $1, $2, $3, $4, 'MODIFIED', obj, $6::bigint FROM up
  )
  SELECT rv::text AS rv FROM up`;

export const DELETE_SQL = `WITH ctr AS (
    ${TAKE_REVISION} RETURNING rv
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
  SELECT rv::text AS rv, obj FROM ch`;
