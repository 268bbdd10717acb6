// The generic registry store: one per kind. It turns verbs into storage transactions and
// calls the kind's Strategy and the admission chain at fixed points, like
// k8s.io/apiserver's registry/generic/registry.Store.
import { randomUUID, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeList, KubeObject } from '../../api/meta/v1/types.ts';
import { staleStoredForm, StorageError, type ChangeEvent, type KeyPrefix, type ObjectKey, type Store, type Transaction } from '../storage/interface.ts';
import type { AdmissionChain } from './admission.ts';
import { errors, field, StatusError, type FieldError } from './errors.ts';
import { serverSideApply, updateManagedFields, type FieldManagerOptions } from './fieldmanager.ts';
import { applyPatch, parseApplyPatch } from './patch.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { apiVersionOf, type Operation, type RequestContext, type ResourceDefinition, type WriteContext } from './resource.ts';
import { compileKind, type CompiledKind } from './validation.ts';
import { validateObjectMeta } from './objectmeta.ts';
import { keepMaskedSecrets, maskSecrets } from './secrets.ts';
import { parseRevision, timestamp } from './metadata.ts';
import type { DeleteOptions, FieldValidation, ListQuery, PatchOptions, WriteOptions, WriteResult } from './options.ts';

/** Thrown inside a dry-run transaction to roll it back after everything has been checked. */
class DryRunRollback extends Error {
  constructor(readonly result: WriteResult) {
    super('dry run');
  }
}

export class RegistryStore {
  readonly compiled: CompiledKind;
  private readonly gr: { group: string; resource: string };
  private readonly apiVersion: string;
  private readonly eventPresentations = new WeakMap<ChangeEvent, KubeObject>();

  constructor(
    readonly def: ResourceDefinition,
    private readonly storage: Store,
    private readonly admission: AdmissionChain,
  ) {
    this.compiled = compileKind(def.schema);
    this.gr = { group: def.group, resource: def.resource };
    this.apiVersion = apiVersionOf(def);
  }

  key(namespace: string, name: string): ObjectKey {
    return { group: this.def.group, resource: this.def.resource, namespace: this.def.namespaced ? namespace : '', name };
  }

  prefix(namespace: string): KeyPrefix {
    return { group: this.def.group, resource: this.def.resource, namespace: this.def.namespaced ? namespace : '' };
  }

  // ---- reads ---------------------------------------------------------------

  async get(ctx: RequestContext, name: string): Promise<KubeObject> {
    const obj = await this.storage.get(this.key(ctx.namespace, name));
    if (!obj || (ctx.objectFilter && !ctx.objectFilter(obj))) throw errors.notFound(this.gr, name);
    return obj;
  }

  /** Compiles label and field selectors plus the caller's visibility into one predicate. */
  matcher(ctx: RequestContext, query: Pick<ListQuery, 'labelSelector' | 'fieldSelector'>): (obj: KubeObject) => boolean {
    const labels = parseLabelSelector(query.labelSelector);
    const fields = parseFieldSelector(query.fieldSelector).map(req => {
      const get = this.fieldGetter(req.field);
      return (obj: KubeObject) => ((get(obj) ?? '') === req.value) !== req.negate;
    });
    const visible = ctx.objectFilter;
    return obj => labels(obj.metadata.labels) && fields.every(f => f(obj)) && (!visible || visible(obj));
  }

  private fieldGetter(path: string): (obj: KubeObject) => string | undefined {
    if (path === 'metadata.name') return o => o.metadata.name;
    if (path === 'metadata.namespace') return o => o.metadata.namespace ?? '';
    const custom = this.def.strategy.fieldSelectors?.[path];
    if (custom) return custom;
    const supported = ['metadata.name', 'metadata.namespace', ...Object.keys(this.def.strategy.fieldSelectors ?? {})];
    throw errors.badRequest(`field label not supported: ${path} (supported: ${supported.join(', ')})`);
  }

  async list(ctx: RequestContext, query: ListQuery): Promise<KubeList> {
    const filter = this.matcher(ctx, query);
    let atRevision: bigint | undefined;
    let notOlderThan: bigint | undefined;
    try {
      // "" is the newest state (a consistent read), "0" any state, N (NotOlderThan) a state at
      // least as new as N, N with Exact the state at N.
      if (query.resourceVersion) {
        const wanted = parseRevision(query.resourceVersion);
        if (query.resourceVersionMatch === 'Exact') atRevision = wanted;
        else notOlderThan = wanted;
      }
      const page = await this.storage.list(this.prefix(ctx.namespace), {
        limit: query.limit && query.limit > 0 ? query.limit : undefined,
        continue: query.continue || undefined,
        atRevision,
        notOlderThan,
        filter,
      });
      return {
        apiVersion: this.apiVersion,
        kind: this.def.listKind,
        metadata: {
          resourceVersion: String(page.rv),
          ...(page.continue ? { continue: page.continue } : {}),
          ...(page.remainingItemCount !== undefined ? { remainingItemCount: page.remainingItemCount } : {}),
        },
        items: page.items.map(o => this.present(o, ctx)),
      };
    } catch (err) {
      throw this.translate(err, '');
    }
  }

  /**
   * The object as served to a caller: type meta set, the kind's decorate() applied, and its secret
   * fields masked unless the caller may see them.
   */
  present(obj: KubeObject, ctx: Pick<RequestContext, 'revealSecrets'>): KubeObject {
    const out = { apiVersion: this.apiVersion, kind: this.def.kind, ...obj };
    const mask = !ctx.revealSecrets && !!this.def.secretFields?.length;
    if (!this.def.strategy.decorate && !mask) return out;
    const copy = structuredClone(out);
    this.def.strategy.decorate?.(copy);
    if (mask) maskSecrets(copy, this.def.secretFields!);
    return copy;
  }

  /**
   * present() for a watch event: every watch of the event that sees it the same way shares one
   * presentation (frozen), so a stream serializes it once for all of them. Kept as long as the
   * event is (the cache's ring), not as long as the object.
   */
  presentEvent(ev: ChangeEvent, ctx: Pick<RequestContext, 'revealSecrets'>): KubeObject {
    if (this.def.strategy.decorate || (!ctx.revealSecrets && this.def.secretFields?.length)) return this.present(ev.object, ctx);
    const known = this.eventPresentations.get(ev);
    if (known) return known;
    const shared = Object.freeze(this.present(ev.object, ctx));
    this.eventPresentations.set(ev, shared);
    return shared;
  }

  /** Whether something still holds the object: metadata.finalizers, or the kind's own list. */
  private hasFinalizers(obj: KubeObject): boolean {
    return (obj.metadata.finalizers?.length ?? 0) > 0 || (this.def.subresources.finalize?.get(obj)?.length ?? 0) > 0;
  }

  /** Secret fields written as the mask take the stored value back, where they may (see secrets.ts). */
  private keepMaskedSecrets(obj: KubeObject, old: KubeObject | undefined): FieldError[] {
    return this.def.secretFields?.length ? keepMaskedSecrets(obj, old, this.def.secretFields, this.def.secretTargets) : [];
  }

  // ---- writes --------------------------------------------------------------

  async create(ctx: RequestContext, body: KubeObject, opts: WriteOptions): Promise<WriteResult> {
    const warnings = this.checkTypeAndFields(body, opts.fieldValidation);
    const obj = structuredClone(body);
    obj.metadata ??= {};
    if (obj.metadata.resourceVersion) {
      throw errors.badRequest('resourceVersion should not be set on objects to be created');
    }
    const now = timestamp();
    const generated = this.beforeCreate(ctx, obj, now);
    const final = this.recordUpdate(ctx, undefined, obj, opts.fieldManager, now);
    for (let attempt = 0; ; attempt++) {
      try {
        // A copy per attempt: the strategy's beforeWrite may change the object it writes.
        return await this.write(ctx, 'CREATE', undefined, structuredClone(final), warnings);
      } catch (err) {
        // A generated name that collides is regenerated, as Kubernetes does.
        if (generated && err instanceof StatusError && err.reason === 'AlreadyExists' && attempt < 8) {
          final.metadata.name = obj.metadata.generateName + randomSuffix();
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * What every create goes through before its write, as rest.BeforeCreate: the namespace of the
   * URL, the metadata only the server sets, the strategy's preparation, a generated name, defaults
   * and validation. Returns whether the name was generated (and may be generated again).
   */
  private beforeCreate(ctx: RequestContext, obj: KubeObject, now: string): boolean {
    this.bindNamespace(ctx, obj);
    Object.assign(obj.metadata, { uid: randomUUID(), creationTimestamp: now, generation: 1 });
    delete obj.metadata.deletionTimestamp;
    delete obj.metadata.deletionGracePeriodSeconds;
    // The strategy may choose a generateName (e.g. "prj-") for objects created without a name.
    this.def.strategy.prepareForCreate?.(obj, ctx);
    const generated = !obj.metadata.name && !!obj.metadata.generateName;
    if (generated) obj.metadata.name = obj.metadata.generateName + randomSuffix();
    this.normalize(obj);
    this.validate(obj, undefined, ctx, this.keepMaskedSecrets(obj, undefined));
    return generated;
  }

  /** PUT of the main resource or of the status/finalize subresource. */
  async update(ctx: RequestContext, name: string, body: KubeObject, opts: WriteOptions): Promise<WriteResult> {
    const warnings = this.checkTypeAndFields(body, opts.fieldValidation);
    if (body.metadata?.name && body.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (this.def.strategy.allowUnconditionalUpdate === false && !body.metadata?.resourceVersion) {
      throw errors.invalid(this.def.group, this.def.kind, name, [field.invalid('metadata.resourceVersion', 0, 'must be specified for an update')]);
    }
    return this.guaranteedUpdate(ctx, name, warnings, opts, current => {
      const wantRV = body.metadata?.resourceVersion;
      if (wantRV && wantRV !== current.metadata.resourceVersion) {
        throw errors.conflict(this.gr, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      return { object: structuredClone(body) };
    });
  }

  async patch(ctx: RequestContext, name: string, patchType: string, body: string, opts: PatchOptions): Promise<WriteResult> {
    if (patchType === 'application/apply-patch+yaml' || patchType === 'application/apply-patch+cbor') {
      return this.apply(ctx, name, body, opts);
    }
    return this.guaranteedUpdate(ctx, name, [], opts, current => {
      const patched = applyPatch(current, patchType, body, this.def.schema);
      return { object: patched, warnings: this.checkTypeAndFields(patched, opts.fieldValidation) };
    });
  }

  /** Server-side apply: creates the object when missing, else merges the applied configuration. */
  private async apply(ctx: RequestContext, name: string, body: string, opts: PatchOptions): Promise<WriteResult> {
    if (!opts.fieldManager) {
      throw errors.badRequest('PATCH requests with application/apply-patch+yaml require a fieldManager query parameter');
    }
    const applied = parseApplyPatch(body);
    const warnings = this.checkTypeAndFields(applied, opts.fieldValidation);
    if (applied.metadata?.name && applied.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`);
    }
    const existing = await this.storage.get(this.key(ctx.namespace, name));
    if (!existing) {
      // As kube-apiserver: an apply that creates is a create, whatever the patch was allowed as.
      if (ctx.authorize && !(await ctx.authorize('create'))) {
        throw errors.forbidden(
          this.gr,
          name,
          `User "${ctx.user.username}" cannot create resource "${this.def.resource}" in API group "${this.def.group}": an apply that creates the object needs create`,
        );
      }
      const now = timestamp();
      const obj = serverSideApply(
        undefined,
        { ...applied, metadata: { ...applied.metadata, name } },
        opts.fieldManager,
        !!opts.force,
        this.def.schema,
        this.apiVersion,
        now,
        this.fieldOptions(ctx),
      );
      // The applied configuration's resourceVersion says nothing about an object that does not exist.
      delete obj.metadata.resourceVersion;
      this.beforeCreate(ctx, obj, now);
      try {
        return await this.write(ctx, 'CREATE', undefined, obj, warnings);
      } catch (err) {
        // Lost a race with another creator: apply onto what it created.
        if (!(err instanceof StatusError && err.reason === 'AlreadyExists')) throw err;
      }
    }
    return this.guaranteedUpdate(
      ctx,
      name,
      warnings,
      opts,
      current => ({
        object: serverSideApply(current, applied, opts.fieldManager!, !!opts.force, this.def.schema, this.apiVersion, timestamp(), this.fieldOptions(ctx)),
      }),
      true,
    );
  }

  /**
   * Read-modify-write of one object in one transaction with its row locked, so concurrent
   * patches never lose each other's changes. `mutate` returns the client's desired object and
   * the warnings found while making it (a patch's unknown fields are only known once applied).
   */
  private async guaranteedUpdate(
    ctx: RequestContext,
    name: string,
    warnings: string[],
    opts: WriteOptions,
    mutate: (current: KubeObject) => { object: KubeObject; warnings?: string[] },
    managedByApply = false,
  ): Promise<WriteResult> {
    const key = this.key(ctx.namespace, name);
    return this.transact(ctx, async tx => {
      const current = await tx.get(key, { forUpdate: true });
      if (!current || (ctx.objectFilter && !ctx.objectFilter(current))) throw errors.notFound(this.gr, name);
      const desired = mutate(structuredClone(current));
      const obj = this.mergeForUpdate(ctx, desired.object, current);
      const now = timestamp();
      const final = managedByApply ? obj : this.recordUpdate(ctx, current, obj, opts.fieldManager, now);
      const allWarnings = [...warnings, ...(desired.warnings ?? [])];
      // An unchanged object is not written again, unless its stored form is out of date.
      if (isUnchanged(current, final) && !(current as { [staleStoredForm]?: boolean })[staleStoredForm])
        return { object: this.present(current, ctx), created: false, warnings: allWarnings };
      return this.writeInTx(tx, ctx, 'UPDATE', current, final, allWarnings);
    });
  }

  /** Applies the update rules of the endpoint (main resource, status, finalize) to the client's object. */
  private mergeForUpdate(ctx: RequestContext, desired: KubeObject, current: KubeObject): KubeObject {
    desired.metadata ??= {};
    let obj: KubeObject;
    const statusField = this.def.subresources.statusField ?? 'status';
    const finalizers = this.def.subresources.finalize;
    if (ctx.subresource === 'status') {
      obj = { ...structuredClone(current), [statusField]: desired[statusField] };
      if (desired[statusField] === undefined) delete obj[statusField];
    } else if (ctx.subresource === 'finalize' && finalizers) {
      obj = structuredClone(current);
      finalizers.set(obj, finalizers.get(desired) ?? []);
    } else {
      obj = desired;
      if (this.def.subresources.status) {
        if (current[statusField] === undefined) delete obj[statusField];
        else obj[statusField] = structuredClone(current[statusField]);
      }
      // Only the finalize subresource changes the kind's own finalizers.
      if (finalizers) finalizers.set(obj, structuredClone(finalizers.get(current)));
    }
    // Fields no client may change through an update.
    const m = obj.metadata;
    m.name = current.metadata.name;
    m.uid = current.metadata.uid;
    m.creationTimestamp = current.metadata.creationTimestamp;
    m.resourceVersion = current.metadata.resourceVersion;
    if (this.def.namespaced) m.namespace = current.metadata.namespace;
    else delete m.namespace;
    m.generation = current.metadata.generation;
    if (current.metadata.deletionTimestamp) {
      m.deletionTimestamp = current.metadata.deletionTimestamp;
      m.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
    } else {
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
    }
    if (!m.managedFields && current.metadata.managedFields) m.managedFields = current.metadata.managedFields;
    const secretProblems = this.keepMaskedSecrets(obj, current);
    // A custom subresource that writes the whole object (localidentities/password) is an update of
    // the main resource as far as the strategy goes; ctx.subresource tells it which one.
    if (ctx.subresource !== 'status' && ctx.subresource !== 'finalize') this.def.strategy.prepareForUpdate?.(obj, current, ctx);
    this.normalize(obj);
    if ((this.def.strategy.generationFromSpec ?? true) && !isDeepStrictEqual(obj.spec, current.spec)) {
      m.generation = (current.metadata.generation ?? 0) + 1;
    }
    this.validate(obj, current, ctx, secretProblems);
    return obj;
  }

  async delete(ctx: RequestContext, name: string, opts: DeleteOptions): Promise<WriteResult> {
    const key = this.key(ctx.namespace, name);
    return this.transact(ctx, async tx => {
      const current = await tx.get(key, { forUpdate: true });
      if (!current || (ctx.objectFilter && !ctx.objectFilter(current))) throw errors.notFound(this.gr, name);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== current.metadata.uid) {
        throw errors.conflict(this.gr, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
        throw errors.conflict(
          this.gr,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${current.metadata.resourceVersion}`,
        );
      }
      if (this.hasFinalizers(current)) {
        if (current.metadata.deletionTimestamp) return { object: this.present(current, ctx), created: false, warnings: [] };
        const marked = structuredClone(current);
        marked.metadata.deletionTimestamp = timestamp();
        marked.metadata.deletionGracePeriodSeconds = 0;
        return this.writeInTx(tx, { ...ctx }, 'UPDATE', current, marked, []);
      }
      return this.writeInTx(tx, ctx, 'DELETE', current, undefined, []);
    });
  }

  async deleteCollection(ctx: RequestContext, query: ListQuery, opts: DeleteOptions): Promise<KubeList> {
    const list = await this.list(ctx, { labelSelector: query.labelSelector, fieldSelector: query.fieldSelector });
    const deleted: KubeObject[] = [];
    for (const item of list.items) {
      try {
        deleted.push((await this.delete(ctx, item.metadata.name!, { propagationPolicy: opts.propagationPolicy })).object);
      } catch (err) {
        if (!(err instanceof StatusError && err.reason === 'NotFound')) throw err;
      }
    }
    return { ...list, items: deleted };
  }

  // ---- shared write path ---------------------------------------------------

  private async write(ctx: RequestContext, op: Operation, old: KubeObject | undefined, obj: KubeObject | undefined, warnings: string[]): Promise<WriteResult> {
    return this.transact(ctx, tx => this.writeInTx(tx, ctx, op, old, obj, warnings));
  }

  /** Runs `fn` in a transaction; in dry-run mode everything runs and is then rolled back. */
  private async transact(ctx: RequestContext, fn: (tx: Transaction) => Promise<WriteResult>): Promise<WriteResult> {
    try {
      return await this.storage.transact(async tx => {
        const result = await fn(tx);
        if (ctx.dryRun) throw new DryRunRollback(result);
        return result;
      });
    } catch (err) {
      if (err instanceof DryRunRollback) return err.result;
      throw this.translate(err, '');
    }
  }

  private async writeInTx(
    tx: Transaction,
    ctx: RequestContext,
    op: Operation,
    old: KubeObject | undefined,
    obj: KubeObject | undefined,
    warnings: string[],
  ): Promise<WriteResult> {
    const name = (obj ?? old)!.metadata.name!;
    const wctx: WriteContext = { ...ctx, operation: op, tx, resource: this.def };
    await this.admission.run({
      operation: op,
      resource: this.def,
      subresource: ctx.subresource,
      namespace: ctx.namespace,
      name,
      object: obj,
      oldObject: old,
      user: ctx.user,
      dryRun: ctx.dryRun,
      tx,
    });
    const key = this.key(ctx.namespace, name);
    // The write is the transaction's last step: it commits with it, unless a dry run rolls it back.
    const last = { final: !ctx.dryRun };
    try {
      if (op === 'DELETE') {
        await this.def.strategy.beforeDelete?.(old!, wctx);
        const gone = await tx.delete(key, old!.metadata.resourceVersion, last);
        return { object: this.present(gone, ctx), created: false, warnings };
      }
      // The last finalizer removed from an object being deleted: it goes now.
      if (op === 'UPDATE' && obj!.metadata.deletionTimestamp && !this.hasFinalizers(obj!)) {
        await this.def.strategy.beforeDelete?.(obj!, { ...wctx, operation: 'DELETE' });
        const gone = await tx.delete(key, old!.metadata.resourceVersion, last);
        return { object: this.present(gone, ctx), created: false, warnings };
      }
      await this.def.strategy.beforeWrite?.(obj!, old, wctx);
      const stored =
        op === 'CREATE' ? await tx.create(key, stripTypeMeta(obj!), last) : await tx.update(key, stripTypeMeta(obj!), old!.metadata.resourceVersion, last);
      return { object: this.present(stored, ctx), created: op === 'CREATE', warnings };
    } catch (err) {
      throw this.translate(err, name);
    }
  }

  /** `obj` with the fields an Update by `fieldManager` changed from `current` recorded as its. */
  private recordUpdate(ctx: RequestContext, current: KubeObject | undefined, obj: KubeObject, fieldManager: string | undefined, now: string): KubeObject {
    return updateManagedFields(current, obj, fieldManager ?? 'unknown', 'Update', this.apiVersion, ctx.subresource || undefined, now, this.fieldOptions(ctx));
  }

  /** What field ownership needs to know: list semantics from the schema, and the fields this endpoint resets. */
  private fieldOptions(ctx: RequestContext): FieldManagerOptions {
    const statusField = this.def.subresources.statusField ?? 'status';
    const resetFields = ctx.subresource === 'status' ? ['spec'] : ctx.subresource === '' && this.def.subresources.status ? [statusField] : [];
    return { schema: this.def.schema, kind: this.def.kind, subresource: ctx.subresource || undefined, resetFields };
  }

  // ---- validation ------------------------------------------------------------

  /** Checks kind/apiVersion and unknown fields (pruning them from `body`); returns warnings for fieldValidation=Warn. */
  private checkTypeAndFields(body: KubeObject, mode: FieldValidation = 'Warn'): string[] {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw errors.badRequest('the body of the request must be a JSON or YAML object');
    // A struct, map or list of the wrong JSON type (`"spec": "x"`) is the client's mistake, found
    // before any strategy reads the object.
    const mistyped = this.compiled.shapeError(body);
    if (mistyped) throw errors.badRequest(`${this.def.kind} in version "${this.def.version}" cannot be handled as a ${this.def.kind}: ${mistyped}`);
    if (body.kind !== undefined && body.kind !== this.def.kind) {
      throw errors.badRequest(`the kind of the object (${String(body.kind)}) does not match the kind of the endpoint (${this.def.kind})`);
    }
    if (body.apiVersion !== undefined && body.apiVersion !== this.apiVersion) {
      throw errors.badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${this.apiVersion})`);
    }
    // Undeclared fields are never stored; Strict refuses them, Warn says so, Ignore drops them quietly.
    const unknown = mode === 'Strict' ? this.compiled.unknownFields(body) : this.compiled.pruneUnknownFields(body);
    if (unknown.length === 0 || mode === 'Ignore') return [];
    const messages = unknown.map(path => `unknown field "${path}"`);
    if (mode === 'Strict') throw errors.badRequest(`strict decoding error: ${messages.join(', ')}`);
    return messages;
  }

  private bindNamespace(ctx: RequestContext, obj: KubeObject): void {
    if (this.def.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== ctx.namespace) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = ctx.namespace;
    } else {
      delete obj.metadata.namespace;
    }
  }

  /** Schema defaults, kind defaults, and the type meta every stored object carries. */
  private normalize(obj: KubeObject): void {
    obj.apiVersion = this.apiVersion;
    obj.kind = this.def.kind;
    this.compiled.applyDefaults(obj);
    this.def.strategy.defaults?.(obj);
  }

  private validate(obj: KubeObject, old: KubeObject | undefined, ctx: RequestContext, found: FieldError[] = []): void {
    const problems: FieldError[] = [
      ...found,
      ...validateObjectMeta(obj.metadata, { namespaced: this.def.namespaced }),
      ...this.compiled.validate(obj),
      ...(this.def.strategy.validate?.(obj, ctx) ?? []),
      ...(old ? (this.def.strategy.validateUpdate?.(obj, old, ctx) ?? []) : []),
    ];
    if (old && old.metadata.deletionTimestamp) {
      const added = (obj.metadata.finalizers ?? []).filter(f => !(old.metadata.finalizers ?? []).includes(f));
      if (added.length)
        problems.push(
          field.forbidden(
            'metadata.finalizers',
            `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
          ),
        );
    }
    if (problems.length) throw errors.invalid(this.def.group, this.def.kind, obj.metadata.name ?? obj.metadata.generateName ?? '', problems);
  }

  private translate(err: unknown, name: string): unknown {
    if (!(err instanceof StorageError)) return err;
    const n = err.key?.name ?? name;
    const gr = err.key ? { group: err.key.group, resource: err.key.resource } : this.gr;
    switch (err.code) {
      case 'NotFound':
        return errors.notFound(gr, n);
      case 'AlreadyExists':
        return errors.alreadyExists(gr, n);
      case 'Conflict':
        return errors.conflict(gr, n, 'the object has been modified; please apply your changes to the latest version and try again');
      case 'Expired':
        return errors.gone(
          `The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.`,
        );
      case 'InvalidContinue':
        return errors.badRequest(`continue key is not valid: ${err.message}`);
      case 'TooLargeResourceVersion':
        return errors.tooLargeResourceVersion(err.message);
      case 'Unavailable':
        return errors.unavailable(err.message);
      default:
        return err;
    }
  }
}

/** A write that changes nothing but bookkeeping is not a write: no new revision, no watch event. */
function isUnchanged(current: KubeObject, next: KubeObject): boolean {
  const strip = (o: KubeObject) => {
    const c = structuredClone(o);
    delete c.apiVersion;
    delete c.kind;
    c.metadata.managedFields = (c.metadata.managedFields ?? []).map(e => ({ ...e, time: undefined }));
    return c;
  };
  return isDeepStrictEqual(strip(current), strip(next));
}

function stripTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest as KubeObject;
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(randomBytes(5), b => alphabet[b % alphabet.length]).join('');
}
