// What a kind is to the generic machinery: a schema, a strategy, and how it is served.
// Adding a kind means writing one ResourceDefinition; the server and the storage never
// learn its name.
import type { Static, TSchema } from '@sinclair/typebox';
import type { KubeObject, TableColumnDefinition } from '../../api/meta/v1/types.ts';
import type { Transaction } from '../storage/interface.ts';
import type { FieldError } from './errors.ts';

/** Who is asking. Filled by authentication; read by authorization, admission and strategies. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

export interface RequestContext {
  user: UserInfo;
  /** Namespace of the request URL ('' for cluster-scoped). */
  namespace: string;
  dryRun: boolean;
  /** Subresource being written ('' for the main resource). */
  subresource: string;
  /**
   * Which objects the caller may see at all (tenant isolation). Objects it rejects are
   * reported as NotFound and left out of lists and watches, never as Forbidden.
   */
  objectFilter?: (obj: KubeObject) => boolean;
  /**
   * Whether the caller may see the kind's secret fields as stored; anyone else reads them masked.
   * Unset = masked: only a request whose authorizer said so sees them.
   */
  revealSecrets?: boolean;
  /**
   * Asks the authorizer whether the caller may also `verb` the object of the request (its kind,
   * namespace and name, no subresource): a write that turns out to create is authorized as create.
   */
  authorize?: (verb: string) => Promise<boolean>;
  /** The network address the request comes from (its socket's peer), for limits kept per source. */
  source?: string;
}

/**
 * The object a kind's strategy works on: its schema's type, with the metadata the generic store
 * has filled in before any hook runs. An untyped kind (`TSchema`) gets a plain KubeObject.
 */
export type ObjectOf<S extends TSchema> = Static<S> & KubeObject;

/**
 * A field selector's getter. Declared as a method so a kind's typed getters remain usable where
 * any kind's are expected (method parameters are compared bivariantly), as the hooks are.
 */
export type FieldGetter<T extends KubeObject = KubeObject> = { get(obj: T): string | undefined }['get'];

/** Everything a strategy hook gets inside the write transaction. */
export interface WriteContext extends RequestContext {
  operation: Operation;
  tx: Transaction;
  resource: ResourceDefinition;
}

/**
 * Per-kind behaviour, called by the generic store in this order:
 * create: prepareForCreate -> defaults -> validate -> admission -> beforeWrite (in tx) -> write
 * update: prepareForUpdate -> defaults -> validate + validateUpdate -> admission -> beforeWrite (in tx) -> write
 * delete: beforeDelete (in tx) -> write; afterCommit for every operation.
 */
export interface Strategy<T extends KubeObject = KubeObject> {
  /** Clears what a client may not set on create (e.g. status). */
  prepareForCreate?(obj: T, ctx: RequestContext): void;
  /** Keeps what a client may not change through this endpoint (e.g. status on the main resource). */
  prepareForUpdate?(obj: T, old: T, ctx: RequestContext): void;
  /** Kind-specific defaults beyond the schema's `default` keywords. */
  defaults?(obj: T): void;
  validate?(obj: T, ctx: RequestContext): FieldError[];
  validateUpdate?(obj: T, old: T, ctx: RequestContext): FieldError[];
  /**
   * Runs inside the write transaction after the object is final, before it is written.
   * Cross-object rules (quota, uniqueness, hierarchy) live here; throwing a StatusError rolls back.
   */
  beforeWrite?(obj: T, old: T | undefined, ctx: WriteContext): Promise<void>;
  beforeDelete?(obj: T, ctx: WriteContext): Promise<void>;
  /** Server-side Table columns after NAME; AGE is appended by the server unless `omitAge`. */
  columns?: TableColumnDefinition[];
  /** One cell per column. */
  row?(obj: T): unknown[];
  omitAge?: boolean;
  /** Field selectors beyond metadata.name and metadata.namespace, e.g. `spec.tenantID`. */
  fieldSelectors?: Record<string, FieldGetter<T>>;
  /** Whether spec changes bump metadata.generation (true unless a kind says otherwise). */
  generationFromSpec?: boolean;
  /**
   * false: a PUT must carry metadata.resourceVersion (422 otherwise), as Kubernetes'
   * AllowUnconditionalUpdate() = false. Patches are unaffected. Default true.
   */
  allowUnconditionalUpdate?: boolean;
  /**
   * Changes a copy of every object before it is sent to a client (TKE's registry Decorator):
   * drops what is stored but never served, such as password hashes and private keys.
   */
  decorate?(obj: T): void;
}

/**
 * Finalizers a kind keeps beside metadata.finalizers, as Kubernetes' Namespace keeps
 * spec.finalizers: the object is not removed while either list holds one, only the finalize
 * subresource writes these, and an update of the main resource keeps them as stored.
 */
export interface FinalizerField {
  /** undefined when the object has no such list at all (not even an empty one). */
  get(obj: KubeObject): string[] | undefined;
  /** undefined removes the list. */
  set(obj: KubeObject, finalizers: string[] | undefined): void;
}

/** A subresource other than status/finalize, served by its own handler (e.g. namespaces/certificate). */
export interface CustomSubresource {
  /** HTTP verbs it answers: 'get', 'create' (POST), 'update' (PUT). */
  verbs: Array<'get' | 'create' | 'update'>;
  kind: string;
  handle(req: SubresourceRequest): Promise<KubeObject>;
  /** Answers for any name without reading a parent object (TKE's apikeys/default/password). */
  parentless?: boolean;
  /**
   * May be called without credentials (as system:anonymous); the authorizer still decides.
   * For endpoints whose body is the credential, like a password exchanged for a key.
   */
  anonymous?: boolean;
}

export interface SubresourceRequest {
  verb: 'get' | 'create' | 'update';
  parentName: string;
  /** The object named in the URL; undefined for a parentless subresource. */
  parent?: KubeObject;
  body?: KubeObject;
  /** The request's query parameters (e.g. validDays of namespaces/certificate). */
  query: URLSearchParams;
  /** The request's headers, lower-cased names (e.g. TKE's X-TKE-ProjectName). */
  headers: Record<string, string | string[] | undefined>;
  /** fieldManager and fieldValidation of a write, to pass on to the stores it writes through. */
  writeOptions: { fieldManager?: string; fieldValidation?: 'Strict' | 'Warn' | 'Ignore' };
  ctx: RequestContext;
}

export interface ResourceDefinition<S extends TSchema = TSchema> {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** Plural, lower case: the URL segment. */
  resource: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** JSON schema of the whole object (TypeBox), with descriptions for `kubectl explain`. */
  schema: S;
  /** Schema of `spec` and `status` are found inside `schema`; subresources: */
  subresources: {
    status?: boolean;
    /**
     * The object's field the status subresource owns, 'status' unless named: TKE's policy
     * bindings carry theirs as `Status` (a Go field without a JSON tag), and clients send it so.
     */
    statusField?: string;
    /** PUT /finalize writes the kind's own finalizer list (TKE's namespace-style lifecycle). */
    finalize?: FinalizerField;
    custom?: Record<string, CustomSubresource>;
  };
  /** Verbs served; defaults to all of them. Virtual kinds (portal) narrow it. */
  verbs?: Verb[];
  /**
   * Fields holding secrets (passwords, private keys), encrypted at rest by the storage: paths
   * like `spec.config`, with `[]` for every element of an array (`spec.machines[].password`).
   */
  secretFields?: string[];
  /**
   * For the holder of secret fields (their path without the last step, e.g. `spec.machines[]`),
   * the sibling fields that say where the secret is sent (ip, port, a URL). A secret written back
   * masked is kept only while these are unchanged; without an entry it is always kept.
   */
  secretTargets?: Record<string, string[]>;
  strategy: Strategy<ObjectOf<S>>;
  /**
   * Verbs answered by code instead of the generic store: kinds that are computed
   * (portal, users of an LDAP directory) or that act without storing (tokenreviews,
   * apikeys/password). Verbs not listed here fall through to the store.
   */
  handlers?: VirtualHandlers;
}

export interface VirtualHandlers {
  create?(ctx: RequestContext, body: KubeObject): Promise<KubeObject>;
  get?(ctx: RequestContext, name: string): Promise<KubeObject>;
  list?(ctx: RequestContext, query: { labelSelector?: string; fieldSelector?: string }): Promise<{ items: KubeObject[]; resourceVersion?: string }>;
  /** A list verb answered with one computed object instead of a list (TKE's portal). */
  listObject?(ctx: RequestContext): Promise<KubeObject>;
  delete?(ctx: RequestContext, name: string): Promise<KubeObject>;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
export const allVerbs: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiVersionOf(def: Pick<ResourceDefinition, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** The secret fields of every kind that has some, keyed `<group>/<resource>` for the storage. */
export function secretFieldsOf(defs: ResourceDefinition[]): Record<string, string[]> {
  return Object.fromEntries(defs.filter(d => d.secretFields?.length).map(d => [`${d.group}/${d.resource}`, d.secretFields!]));
}
