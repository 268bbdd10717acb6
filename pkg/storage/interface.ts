// The storage contract. It knows rows, keys and revisions; nothing of HTTP or of any kind.
// Resource versions are decimal strings of a database-wide, strictly increasing counter.
import type { KubeObject } from '../../api/meta/v1/types.ts';

/** Where an object lives. `namespace` is '' for cluster-scoped objects. */
export interface ObjectKey {
  group: string;
  resource: string;
  namespace: string;
  name: string;
}

/** A set of keys: every object of a resource, optionally only one namespace's. */
export interface KeyPrefix {
  group: string;
  resource: string;
  /** undefined or '' = all namespaces. */
  namespace?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  type: WatchEventType;
  key: ObjectKey;
  /** The object as committed by this change, metadata.resourceVersion set to `rv`. For DELETED, the last state with the delete's rv. */
  object: KubeObject;
  /** The object before this change (undefined for ADDED), when known. */
  prevObject?: KubeObject;
  rv: bigint;
}

/**
 * Field equality conditions evaluated by the database, so a check such as "who else claims
 * this namespace" reads only the matching rows: dotted paths (`spec.clusterName`) to string values.
 */
export type FieldEquals = Record<string, string>;

export interface ListOptions {
  /** Page size; 0 or undefined = everything. */
  limit?: number;
  /** Token from a previous page; the page is read at the same revision as the first. */
  continue?: string;
  /**
   * Read at exactly this revision (a snapshot from the change log); undefined = the latest.
   * Throws StorageError 'Expired' when the revision was compacted away.
   */
  atRevision?: bigint;
  /**
   * Without atRevision or continue: any state at least this new will do (0n: any at all), read
   * without first making sure nothing newer was committed; undefined = a consistent read, which
   * includes every write committed before the call.
   */
  notOlderThan?: bigint;
  /** Applied in the store before paging, so `limit` counts matching objects only. */
  filter?: (obj: KubeObject) => boolean;
}

export interface ListResult {
  items: KubeObject[];
  /** The revision the whole list (all its pages) is consistent with. */
  rv: bigint;
  /** Set when more items follow. */
  continue?: string;
  remainingItemCount?: number;
}

/**
 * Set (true) on an object read back whose stored form is out of date — a secret field stored in
 * plain text, or sealed with an encryption key that is no longer the first — so that an update
 * writes it again even when nothing in it changed (how keys are rotated).
 */
export const staleStoredForm = Symbol('staleStoredForm');

export type StorageErrorCode = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Expired' | 'InvalidContinue' | 'TooLargeResourceVersion' | 'Unavailable';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly key?: ObjectKey,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

/**
 * The largest object the storage keeps, as its JSON: etcd's default request limit, which is
 * what bounds a Kubernetes object.
 */
export const maxObjectBytes = 1.5 * 1024 * 1024;

/**
 * The database cannot keep a value it was given: an object over maxObjectBytes ('TooLarge'), or
 * a string PostgreSQL cannot hold ('Invalid'). The client's data is at fault, not the server.
 * A class of its own rather than a StorageErrorCode, so code that maps every StorageErrorCode to
 * a status passes it on untouched to the HTTP layer, which answers 413 or 400.
 */
export class StorageValueError extends Error {
  constructor(
    readonly code: 'TooLarge' | 'Invalid',
    message: string,
    readonly key?: ObjectKey,
  ) {
    super(message);
    this.name = 'StorageValueError';
  }
}

/**
 * One database transaction. Reads see the transaction's snapshot; writes get their
 * resourceVersion at the moment they are made, in commit order, so a watcher sees them in
 * increasing revision order. Strategy hooks (quota, uniqueness) read and write through it,
 * so what they check and what is written commit together or not at all.
 */
export interface TransactionListOptions {
  forUpdate?: boolean;
  filter?: (obj: KubeObject) => boolean;
  fields?: FieldEquals;
  pick?: string[];
}

export interface WriteOptions {
  /**
   * This write is the transaction's last operation: the transaction commits with it, in the same
   * round trip to the database, and accepts nothing after it. A failed final write commits nothing.
   */
  final?: boolean;
}

export interface Transaction {
  /** Reads an object; `forUpdate` locks its row until commit. */
  get(key: ObjectKey, opts?: { forUpdate?: boolean }): Promise<KubeObject | undefined>;
  /**
   * Lists objects under a prefix. `fields` are equalities the database checks (indexed paths are
   * fast); `filter` runs on each object read. `pick` reads only those paths (dot-separated) of
   * each object, for checks that add up a few fields of many objects; `filter` then sees the
   * partial objects.
   */
  list(prefix: KeyPrefix, opts?: TransactionListOptions): Promise<KubeObject[]>;
  /**
   * get(key, { forUpdate: true }) of a key the caller expects not to exist and creates when it
   * does not: a first attempt reads nothing and answers undefined, and the create's uniqueness
   * proves the absence (a key not created is read at commit). If the key exists after all, the
   * transaction runs again, and this reads it.
   */
  getPresumedAbsent(key: ObjectKey): Promise<KubeObject | undefined>;
  /** Inserts; throws StorageError 'AlreadyExists'. Returns the object with metadata.resourceVersion set. */
  create(key: ObjectKey, obj: KubeObject, opts?: WriteOptions): Promise<KubeObject>;
  /** Replaces; if `expectedRV` is given and differs from the stored one, throws 'Conflict'. Throws 'NotFound'. */
  update(key: ObjectKey, obj: KubeObject, expectedRV?: string, opts?: WriteOptions): Promise<KubeObject>;
  /** Removes; returns the last state with the deletion's resourceVersion. Throws 'NotFound' / 'Conflict'. */
  delete(key: ObjectKey, expectedRV?: string, opts?: WriteOptions): Promise<KubeObject>;
  /**
   * A create whose result the caller does not need: it is queued and sent with the transaction's
   * next read or write, or its COMMIT, in the same message. Revisions are taken by the first write
   * and held until COMMIT, so a write sent later holds them for less. Throws 'AlreadyExists' at
   * once when the transaction knows the key exists; a key another transaction creates meanwhile
   * makes the whole transaction run again.
   */
  createLater(key: ObjectKey, obj: KubeObject): Promise<void>;
  /** An update queued as createLater's: the row is locked and `expectedRV` checked now, the write sent later. */
  updateLater(key: ObjectKey, obj: KubeObject, expectedRV?: string): Promise<void>;
  /**
   * Serialises transactions that check one invariant across many objects (a quota, a unique
   * field): two transactions locking the same name run one after the other, across processes.
   */
  lock(name: string): Promise<void>;
  /**
   * How many objects a prefix (and `fields`) holds now, and those of them written after revision
   * `since`, read in one snapshot: enough to bring a copy of the set read at `since` up to date
   * (when the count differs from the copy's size after merging, something was removed).
   */
  listChanged(prefix: KeyPrefix, since: bigint, opts?: Pick<TransactionListOptions, 'fields' | 'pick'>): Promise<{ count: number; changed: KubeObject[] }>;
  /** Whether this transaction has written anything yet: its reads may then see its own uncommitted writes. */
  readonly hasWritten: boolean;
}

export interface Watcher {
  stop(): void;
}

export interface WatchOptions {
  /** Deliver every change with rv > fromRV. */
  fromRV: bigint;
  /** Called in strictly increasing rv order, each change once. */
  onEvent: (event: ChangeEvent) => void;
  /** Called at most once when the watch cannot continue (e.g. fromRV was compacted: StorageError 'Expired'). */
  onError: (err: Error) => void;
  /** Called after each batch with the newest revision the watch has caught up to (for bookmarks). */
  onProgress?: (rv: bigint) => void;
}

export interface Store {
  get(key: ObjectKey): Promise<KubeObject | undefined>;
  list(prefix: KeyPrefix, opts?: ListOptions): Promise<ListResult>;
  /**
   * Runs `fn` in one transaction and commits. A serialization failure is retried
   * transparently (fn must be safe to run again); any error thrown by fn rolls back.
   */
  transact<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Watches a prefix. Events for other keys are never delivered. */
  watch(prefix: KeyPrefix, opts: WatchOptions): Watcher;
  /** The newest committed revision. */
  currentRevision(): Promise<bigint>;
  /** The oldest revision a watch or a snapshot read can still start from. */
  compactedRevision(): bigint;
  close(): Promise<void>;
}
