// Transactions on PostgreSQL: every BEGIN ... COMMIT of the storage (and of the code beside it
// that shares its database) goes through withTransaction(), and the store's transactions are
// PgTransaction.
import pg from 'pg';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import {
  StorageError,
  StorageValueError,
  type KeyPrefix,
  type ObjectKey,
  type Transaction,
  type TransactionListOptions,
  type WriteOptions,
} from '../interface.ts';
import { assemble, withRV, type ObjectCodec } from './codec.ts';
import {
  CREATE_SQL,
  DELETE_SQL,
  describe,
  errorCode,
  FINAL_CREATE_SQL,
  keyParams,
  keyString,
  LockBusyError,
  NAMED_LOCK_CLASS,
  QueuedWriteConflict,
  uniqueKeyDetail,
  UNIQUE_VIOLATION,
  UPDATE_SQL,
} from './sql.ts';

// ---------------------------------------------------------------------------------------------
// BEGIN ... COMMIT

export interface TransactionOptions {
  /**
   * The statement that opens the transaction (isolation level, SET LOCAL); default `BEGIN`. null:
   * fn's first statement carries it, and `begun` tells whether it was sent.
   */
  begin?: string | null;
  /** With `begin: null`: whether fn sent BEGIN; if not, there is nothing to commit or roll back. */
  begun?: () => boolean;
  /** Asked once fn has returned: true when fn's last statement committed the transaction itself. */
  committed?: () => boolean;
  /** Told when ROLLBACK failed too: the connection is then in an unknown state. */
  onRollbackError?: (err: Error) => void;
}

/**
 * Runs `fn` between BEGIN and COMMIT on a connection the caller holds (a migration's, which
 * keeps a session lock across transactions). Any error rolls back and is rethrown as it was.
 */
export async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  const open = () => opts.begun?.() ?? true;
  try {
    if (opts.begin !== null) await client.query(opts.begin ?? 'BEGIN');
    const result = await fn();
    if (opts.committed?.() || !open()) return result;
    const done = await client.query('COMMIT');
    // COMMIT of an aborted transaction (fn swallowed a failed statement) reports ROLLBACK
    // instead of failing.
    if (done.command === 'ROLLBACK') throw new Error('transaction was rolled back by the database');
    return result;
  } catch (err) {
    if (!open()) throw err;
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      opts.onRollbackError?.(rollbackErr as Error);
    }
    throw err;
  }
}

/**
 * Runs `fn` in one transaction on a connection of `pool` and gives the connection back. One
 * whose ROLLBACK failed, or that was lost while out of the pool, is released with the error, so
 * the pool destroys it instead of handing a broken or still-open transaction to the next caller.
 * Errors are rethrown as they were (the pool's own included).
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool stops listening to a client it hands out: a connection lost then (the database
  // restarting) would be an unhandled 'error' event, which ends the process.
  const onLost = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onLost);
  try {
    return await inTransaction(client, () => fn(client), {
      begin: opts.begin,
      begun: opts.begun,
      committed: opts.committed,
      onRollbackError: err => {
        broken ??= err;
        opts.onRollbackError?.(err);
      },
    });
  } finally {
    client.off('error', onLost);
    client.release(broken);
  }
}

// ---------------------------------------------------------------------------------------------
// Writes sent in one message

// A write that ends its transaction is sent with COMMIT in one message (the simple protocol, the
// only one that takes several statements), and so are the writes queued before it
// (Transaction.createLater/updateLater): the revision counter, locked by the first write, is then
// held for the writes and the commit's flush only, not also for round trips to this process and
// back. The statements are prepared once per connection, so each write is only executed.
const messageStatements = {
  tke_final_create: FINAL_CREATE_SQL,
  tke_final_update: UPDATE_SQL,
  tke_final_delete: DELETE_SQL,
} as const;
type MessageStatement = keyof typeof messageStatements;

/** A write checked and waiting to be sent with the transaction's next statement that needs it. */
interface QueuedWrite {
  statement: MessageStatement;
  params: string[];
  key: ObjectKey;
}

// PREPARE outlives the transaction it runs in, rolled back or not: once per connection.
const PREPARE_MESSAGE_WRITES = Object.entries(messageStatements)
  .map(([name, sql]) => {
    const params = Math.max(...[...sql.matchAll(/\$(\d+)/g)].map(m => Number(m[1])));
    return `PREPARE ${name}(${Array(params).fill('text').join(', ')}) AS ${sql}`;
  })
  .join(';\n');
const preparedConnections = new WeakSet<pg.ClientBase>();

/** The results of a simple-protocol message, one per statement (pg answers one statement's bare). */
function resultsOf<R extends pg.QueryResultRow>(r: pg.QueryResult<R> | pg.QueryResult<R>[]): pg.QueryResult<R>[] {
  return Array.isArray(r) ? r : [r];
}

/** `sql` with each $n replaced by its parameter as a literal, for a statement of the simple protocol. */
function inlineParameters(client: pg.ClientBase, sql: string, params: unknown[]): string {
  if (params.length === 0) return sql;
  return sql.replace(/\$(\d+)/g, (_, n: string) => literal(client, params[Number(n) - 1]));
}

function literal(client: pg.ClientBase, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  // In parentheses: a negative number after a minus sign would otherwise start a comment.
  if (typeof value === 'number' || typeof value === 'bigint') return `(${String(value)})`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  // An array literal: each element double-quoted, with \ and " escaped inside.
  const text = Array.isArray(value)
    ? `{${value.map(v => (v === null ? 'NULL' : `"${String(v).replace(/[\\"]/g, c => `\\${c}`)}"`)).join(',')}}`
    : String(value);
  // A statement's text ends at a NUL; as a parameter PostgreSQL would refuse it (22021), so here too.
  if (text.includes('\u0000')) throw new StorageValueError('Invalid', 'the database cannot store a value of this request: it holds a NUL character');
  return client.escapeLiteral(text);
}

/** Rows whose keys are in the parameters $1-$4 (keyArrays): one statement for any number of keys. */
const KEYS_IN_PARAMS = '(grp, resource, namespace, name) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]))';

function keyArrays(keys: ObjectKey[]): string[][] {
  return [keys.map(k => k.group), keys.map(k => k.resource), keys.map(k => k.namespace), keys.map(k => k.name)];
}

// ---------------------------------------------------------------------------------------------
// The store's transactions

/** Bound on the locks a retry takes up front (a list(forUpdate) can lock many rows). */
const MAX_LEARNED_LOCKS = 256;

/** What one attempt of a transaction locked, for the next attempt to take first. */
export interface LockSet {
  keys: Map<string, ObjectKey>;
  names: Set<string>;
}

export class PgTransaction implements Transaction {
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
  /** Writes queued by createLater/updateLater, in call order; sent before anything reads or writes after them. */
  private queued: QueuedWrite[] = [];
  /** Keys getPresumedAbsent answered without reading: their creates (or a read at commit) prove it. */
  private readonly presumedAbsent = new Map<string, ObjectKey>();
  /**
   * What this attempt locked or tried to lock. When it has to be re-run because a lock was
   * busy, the next attempt takes these first, in a fixed order and before the counter, so
   * transactions that lock the same objects in different orders still make progress.
   */
  readonly lockSet: LockSet = { keys: new Map<string, ObjectKey>(), names: new Set<string>() };
  private finished = false;
  /** Whether BEGIN has been sent: the transaction's first statement carries it, in the same message. */
  begun = false;
  /** Set once a final write committed the transaction. */
  committed = false;
  /** A database error the transaction cannot commit after, even if fn swallowed it. */
  failure: unknown;
  private chain: Promise<unknown> = Promise.resolve();

  /** `begin`: the statements that open the transaction, sent with its first one. */
  constructor(
    private readonly client: pg.PoolClient,
    private readonly codec: ObjectCodec,
    private readonly begin: readonly string[],
  ) {}

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
  async preLock(prev: LockSet): Promise<void> {
    for (const name of [...prev.names].sort()) {
      this.lockSet.names.add(name);
      await this.q('SELECT pg_advisory_xact_lock($1, hashtext($2))', [NAMED_LOCK_CLASS, name]);
    }
    const keys = [...prev.keys.values()];
    if (keys.length === 0) return;
    for (const k of keys) this.noteKey(k);
    // LockRows runs above the sort, so the rows are locked in this order.
    const r = await this.q<{ grp: string; resource: string; namespace: string; name: string; rv: string }>(
      `SELECT grp, resource, namespace, name, rv::text AS rv FROM objects WHERE ${KEYS_IN_PARAMS}
       ORDER BY grp, resource, namespace, name FOR UPDATE`,
      keyArrays(keys),
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
    await this.checkPresumptions();
    await this.sendQueued();
    await this.returnUnusedRevisions();
  }

  /**
   * Sends the queued writes, in one message. A queued create whose key was created meanwhile by
   * another transaction fails it as a conflict, so the transaction is run again and sees the key.
   */
  private async sendQueued(): Promise<void> {
    if (this.queued.length === 0) return;
    const writes = this.queued;
    this.queued = [];
    await this.prepareMessageWrites();
    let results: pg.QueryResult<{ rv: string }>[];
    try {
      results = resultsOf(await this.q<{ rv: string }>(writes.map(w => this.executeSQL(w.statement, w.params)).join('; '), []));
    } catch (err) {
      throw this.queuedWriteError(err, writes) ?? err;
    }
    this.noteWritten(writes, results);
  }

  /** The error a failed message means when one of `queued` failed it: a conflict to run again. */
  private queuedWriteError(err: unknown, queued: QueuedWrite[]): Error | undefined {
    if (errorCode(err) !== UNIQUE_VIOLATION) return undefined;
    const detail = (err as { detail?: string }).detail ?? '';
    const key = queued.find(w => detail.includes(uniqueKeyDetail(w.key)))?.key;
    if (!key) return undefined;
    return this.conflictOn(key, `${describe(key)} was created by another transaction meanwhile`);
  }

  /** Fails the transaction to be run again; the next attempt locks `key` first (and so reads it). */
  private conflictOn(key: ObjectKey, message: string): QueuedWriteConflict {
    this.noteKey(key);
    const conflict = new QueuedWriteConflict(message);
    this.failure = conflict;
    return conflict;
  }

  private noteWritten(writes: QueuedWrite[], results: pg.QueryResult<{ rv: string }>[]): void {
    this.writeLocked = true;
    writes.forEach((w, i) => {
      const rv = results[i]?.rows[0]?.rv;
      if (rv === undefined) throw new Error(`${describe(w.key)}: a queued write wrote nothing`);
      this.locked.set(keyString(w.key), rv);
    });
  }

  private async prepareMessageWrites(): Promise<void> {
    if (preparedConnections.has(this.client)) return;
    await this.q(PREPARE_MESSAGE_WRITES, []);
    preparedConnections.add(this.client);
  }

  private executeSQL(statement: MessageStatement, params: string[]): string {
    return `EXECUTE ${statement}(${params.map(p => literal(this.client, p)).join(', ')})`;
  }

  private async returnUnusedRevisions(): Promise<void> {
    if (this.unusedRevisions === 0 || this.failure) return;
    const n = this.unusedRevisions;
    this.unusedRevisions = 0;
    await this.q('UPDATE revision SET rv = rv - $1 WHERE id', [n]);
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[], name?: string): Promise<pg.QueryResult<R>> {
    try {
      if (!this.begun) {
        // One message: BEGIN and the first statement (the simple protocol, so its parameters go
        // as literals), which saves every transaction a round trip.
        this.begun = true;
        const all = (await this.client.query(`${this.begin.join('; ')}; ${inlineParameters(this.client, sql, params)}`)) as unknown as pg.QueryResult<R>[];
        const own = all.slice(this.begin.length);
        return own.length === 1 ? own[0] : (own as unknown as pg.QueryResult<R>);
      }
      return await this.client.query<R>(name ? { name, text: sql, values: params } : { text: sql, values: params });
    } catch (err) {
      this.failure ??= err;
      throw err;
    }
  }

  /**
   * Runs the queued writes, a prepared final write and COMMIT in one round trip; afterwards the
   * transaction is over. A failed write aborts the transaction before the COMMIT runs (the rest of
   * a message is skipped after an error), so nothing of it is committed.
   */
  private async executeAndCommit<R extends pg.QueryResultRow>(name: MessageStatement, params: string[], key: ObjectKey): Promise<pg.QueryResult<R>> {
    await this.checkPresumptions(name === 'tke_final_create' ? key : undefined);
    await this.prepareMessageWrites();
    const queued = this.queued;
    this.queued = [];
    const sql = [...queued.map(w => this.executeSQL(w.statement, w.params)), this.executeSQL(name, params), 'COMMIT'].join('; ');
    let results: pg.QueryResult<R>[];
    try {
      results = resultsOf(await this.q<R>(sql, []));
    } catch (err) {
      throw this.queuedWriteError(err, queued) ?? err;
    }
    // COMMIT of a transaction the database had aborted answers ROLLBACK instead of failing.
    if (results.at(-1)?.command !== 'COMMIT') {
      const err = new Error('transaction was rolled back by the database');
      this.failure ??= err;
      throw err;
    }
    this.noteWritten(queued, results as unknown as pg.QueryResult<{ rv: string }>[]);
    this.committed = true;
    this.finished = true;
    return results[queued.length];
  }

  private lockClause(): string {
    return this.writeLocked ? 'FOR UPDATE NOWAIT' : 'FOR UPDATE';
  }

  /** The stored revision of key, locked until COMMIT; undefined when there is no such object. */
  private async lockRow(key: ObjectKey): Promise<string | undefined> {
    const k = keyString(key);
    const known = this.locked.get(k);
    if (known !== undefined) return known ?? undefined;
    await this.sendQueued();
    this.noteKey(key);
    const r = await this.q<{ rv: string }>(
      `SELECT rv::text AS rv FROM objects WHERE grp = $1 AND resource = $2 AND namespace = $3 AND name = $4 ${this.lockClause()}`,
      keyParams(key),
    );
    const rv = r.rows[0]?.rv;
    if (rv !== undefined) this.locked.set(k, rv);
    return rv;
  }

  /** The stored revision of key, locked until COMMIT; NotFound when it does not exist, Conflict when it is not `expectedRV`. */
  private async lockExisting(key: ObjectKey, expectedRV: string | undefined): Promise<string> {
    const cur = await this.lockRow(key);
    if (cur === undefined) throw new StorageError('NotFound', `${describe(key)} not found`, key);
    if (expectedRV && expectedRV !== cur) {
      throw new StorageError('Conflict', `${describe(key)}: resourceVersion ${expectedRV} is stale, the object is at ${cur}`, key);
    }
    return cur;
  }

  get(key: ObjectKey, opts: { forUpdate?: boolean } = {}): Promise<KubeObject | undefined> {
    return this.run(async () => {
      await this.sendQueued();
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
    return this.writeLocked || this.queued.length > 0;
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
      columns = `jsonb_build_array(${opts.pick
        .map(p => {
          params.push(p.split('.'));
          return `obj #> $${params.length}::text[]`;
        })
        .join(', ')}) AS obj`;
    }
    return { where, columns };
  }

  listChanged(prefix: KeyPrefix, since: bigint, opts: Pick<TransactionListOptions, 'fields' | 'pick'> = {}): Promise<{ count: number; changed: KubeObject[] }> {
    return this.run(async () => {
      await this.sendQueued();
      const params: Array<string | string[]> = [];
      const { where, columns } = this.listQuery(prefix, opts, params);
      params.push(since.toString());
      const r = await this.q<{ total: string; obj: KubeObject | null }>(
        `WITH t AS (SELECT count(*) AS total FROM objects WHERE ${where})
         SELECT t.total::text AS total, c.obj FROM t
         LEFT JOIN LATERAL (SELECT ${columns} FROM objects WHERE ${where} AND rv > $${params.length} ORDER BY namespace, name) c ON true`,
        params,
      );
      const changed = r.rows
        .filter(row => row.obj !== null)
        .map(row => this.codec.decode(prefix, opts.pick ? assemble(opts.pick, row.obj as unknown as unknown[]) : row.obj!));
      return { count: Number(r.rows[0]?.total ?? 0), changed };
    });
  }

  list(prefix: KeyPrefix, opts: TransactionListOptions = {}): Promise<KubeObject[]> {
    return this.run(async () => {
      await this.sendQueued();
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

  create(key: ObjectKey, obj: KubeObject, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.run(async () => {
      const encoded = this.codec.encode(key, obj);
      await this.returnUnusedRevisions();
      if (opts.final) {
        try {
          const r = await this.executeAndCommit<{ rv: string }>('tke_final_create', [...keyParams(key), encoded], key);
          return withRV(obj, BigInt(r.rows[0].rv));
        } catch (err) {
          if (errorCode(err) === UNIQUE_VIOLATION && (err as { table?: string }).table === 'objects') {
            throw this.alreadyExists(key);
          }
          throw err;
        }
      }
      await this.sendQueued();
      const r = await this.q<{ allocated: string | null; rv: string | null }>(CREATE_SQL, [...keyParams(key), encoded], 'tke_create');
      const { allocated, rv } = r.rows[0];
      if (allocated !== null) this.writeLocked = true;
      if (rv === null) {
        // Another transaction created the key after this statement's snapshot was taken and
        // committed while we waited for the counter. The revision must be handed back (no
        // gap), but usually the caller rolls back anyway, so only pay for it if it goes on.
        if (allocated !== null) this.unusedRevisions++;
        throw this.alreadyExists(key);
      }
      this.locked.set(keyString(key), rv);
      this.presumedAbsent.delete(keyString(key));
      return withRV(obj, BigInt(rv));
    });
  }

  update(key: ObjectKey, obj: KubeObject, expectedRV?: string, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.run(async () => {
      // Lock and check before taking the counter: a conflict then costs no serialized time.
      const cur = await this.lockExisting(key, expectedRV);
      const encoded = this.codec.encode(key, obj);
      await this.returnUnusedRevisions();
      if (!opts.final) await this.sendQueued();
      const params = [...keyParams(key), encoded, cur];
      const r = opts.final
        ? await this.executeAndCommit<{ rv: string }>('tke_final_update', params, key)
        : await this.q<{ rv: string }>(UPDATE_SQL, params, 'tke_update');
      this.writeLocked = true;
      // Cannot happen while we hold the row lock; the statement would have taken a revision.
      if (r.rowCount !== 1) throw new Error(`${describe(key)} vanished while locked`);
      const rv = r.rows[0].rv;
      this.locked.set(keyString(key), rv);
      return withRV(obj, BigInt(rv));
    });
  }

  delete(key: ObjectKey, expectedRV?: string, opts: WriteOptions = {}): Promise<KubeObject> {
    return this.run(async () => {
      await this.lockExisting(key, expectedRV);
      await this.returnUnusedRevisions();
      if (!opts.final) await this.sendQueued();
      const r = opts.final
        ? await this.executeAndCommit<{ rv: string; obj: KubeObject }>('tke_final_delete', keyParams(key), key)
        : await this.q<{ rv: string; obj: KubeObject }>(DELETE_SQL, keyParams(key), 'tke_delete');
      this.writeLocked = true;
      if (r.rowCount !== 1) throw new Error(`${describe(key)} vanished while locked`);
      this.locked.set(keyString(key), null);
      return this.codec.decode(key, r.rows[0].obj);
    });
  }

  private isQueued(k: string): boolean {
    return this.queued.some(w => keyString(w.key) === k);
  }

  /** AlreadyExists, unless this transaction presumed the key absent: then it runs again and reads it. */
  private alreadyExists(key: ObjectKey): Error {
    if (this.presumedAbsent.has(keyString(key))) return this.conflictOn(key, `${describe(key)} exists after all`);
    return new StorageError('AlreadyExists', `${describe(key)} already exists`, key);
  }

  getPresumedAbsent(key: ObjectKey): Promise<KubeObject | undefined> {
    const k = keyString(key);
    // Met before, by this attempt or one that had to run again: read it.
    if (this.lockSet.keys.has(k) || this.locked.has(k) || this.isQueued(k)) return this.get(key, { forUpdate: true });
    return this.run(async () => {
      this.presumedAbsent.set(k, key);
      return undefined;
    });
  }

  /**
   * Reads the presumed-absent keys this transaction does not create (`finalCreate` is the one its
   * last write creates): one that exists after all runs the transaction again. A create proves
   * the absence itself, by its key's uniqueness.
   */
  private async checkPresumptions(finalCreate?: ObjectKey): Promise<void> {
    const created = new Set(this.queued.filter(w => w.statement === 'tke_final_create').map(w => keyString(w.key)));
    if (finalCreate) created.add(keyString(finalCreate));
    const unproven = [...this.presumedAbsent].filter(([k]) => !created.has(k)).map(([, key]) => key);
    if (unproven.length === 0) return;
    const r = await this.q<{ grp: string; resource: string; namespace: string; name: string }>(
      `SELECT grp, resource, namespace, name FROM objects WHERE ${KEYS_IN_PARAMS}`,
      keyArrays(unproven),
    );
    const found = r.rows[0];
    if (found) {
      const key = { group: found.grp, resource: found.resource, namespace: found.namespace, name: found.name };
      throw this.conflictOn(key, `${describe(key)} exists after all`);
    }
  }

  createLater(key: ObjectKey, obj: KubeObject): Promise<void> {
    return this.run(async () => {
      // Known to exist: this transaction read it locked or wrote it (null: deleted it), or queued it.
      const known = this.locked.get(keyString(key));
      if ((known !== undefined && known !== null) || this.isQueued(keyString(key))) {
        throw new StorageError('AlreadyExists', `${describe(key)} already exists`, key);
      }
      this.queued.push({ statement: 'tke_final_create', params: [...keyParams(key), this.codec.encode(key, obj)], key });
    });
  }

  updateLater(key: ObjectKey, obj: KubeObject, expectedRV?: string): Promise<void> {
    return this.run(async () => {
      const cur = await this.lockExisting(key, expectedRV);
      this.queued.push({ statement: 'tke_final_update', params: [...keyParams(key), this.codec.encode(key, obj), cur], key });
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
