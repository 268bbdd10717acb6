// One generic handler per verb, for every kind. They read HTTP, call the registry store,
// and write objects, lists, tables and watch streams.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeList, KubeObject, ListMeta } from '../../api/meta/v1/types.ts';
import { errors, StatusError } from '../rest/errors.ts';
import { apiVersionOf, type RequestContext, type ResourceDefinition } from '../rest/resource.ts';
import type { RegistryStore } from '../rest/store.ts';
import { parseRevision } from '../rest/metadata.ts';
import type { DeleteOptions, FieldValidation, ListQuery, WriteResult } from '../rest/options.ts';
import { watchResource } from '../rest/watch.ts';
import { maxObjectBytes, type Store } from '../storage/interface.ts';
import { checkPatchText, decodeBody, decodeText, encode, negotiate, type Negotiated } from './negotiate.ts';
import type { RequestInfo } from './requestinfo.ts';
import { isTrue } from './requestinfo.ts';
import { columnsOf, partialMetadata, partialMetadataList, tableConversions, toTable, type IncludeObject } from './table.ts';

export interface HandlerContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  info: RequestInfo;
  ctx: RequestContext;
  body: () => Promise<Buffer>;
  /** Registers a watch so shutdown can end it cleanly. */
  trackWatch: (stop: () => void) => () => void;
}

export const patchTypes = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

const minWatchTimeoutSeconds = 1800;
// Node fires a timer of more than 2^31-1 ms at once, which ended such watches immediately; and no
// client needs one stream for longer than the longest a watch without a timeout lasts.
const maxWatchTimeoutSeconds = 2 * minWatchTimeoutSeconds;
/** Bytes a watch stream may have waiting for its client before it is ended as too slow. */
const maxWatchBacklogBytes = 16 * 1024 * 1024;

// A list with a client limit is read and written a page at a time, so memory holds about one page
// per list however large it is (a whole list is one read of the cache, written a piece at a time).
// Objects may be 1.5 MiB each: the first page is small, later ones are sized from the objects seen so far.
const firstListPageItems = 10;
const maxListPageItems = 1000;
const listPageBudgetBytes = 1024 * 1024;

export class ResourceHandlers {
  /** The watch lines of the frozen (shared) objects watch streams write: made once for every stream. */
  private readonly eventLines = new WeakMap<object, Partial<Record<string, Buffer>>>();
  /** A number for each shared line, by which batches of the same lines are known. */
  private readonly lineIds = new WeakMap<Buffer, number>();
  private nextLineId = 0;
  /**
   * Batches of shared lines joined in this turn of the event loop: the streams that write the
   * same events at once (every watch of a resource, in a round of the watch cache) write one
   * buffer instead of a copy each.
   */
  private readonly batches = new Map<string, Buffer>();

  constructor(
    private readonly stores: Map<string, RegistryStore>,
    private readonly storage: Store,
  ) {}

  /** One watch event as its line of JSON, encoded once for every stream that sends the same object. */
  private eventLine(type: string, object: unknown): Buffer {
    const encode = () => Buffer.from(`{"type":"${type}","object":${JSON.stringify(object)}}\n`);
    if (object === null || typeof object !== 'object' || !Object.isFrozen(object)) return encode();
    let lines = this.eventLines.get(object);
    if (!lines) {
      lines = {};
      this.eventLines.set(object, lines);
    }
    let line = lines[type];
    if (!line) {
      line = encode();
      lines[type] = line;
      this.lineIds.set(line, this.nextLineId++);
    }
    return line;
  }

  /** Lines as one buffer: shared with the other streams that write the same lines in this turn. */
  private joinLines(lines: Buffer[]): Buffer {
    if (lines.length === 1) return lines[0];
    let key = '';
    for (const line of lines) {
      const id = this.lineIds.get(line);
      if (id === undefined) return Buffer.concat(lines);
      key += `${id},`;
    }
    let joined = this.batches.get(key);
    if (!joined) {
      if (this.batches.size === 0) setImmediate(() => this.batches.clear());
      joined = Buffer.concat(lines);
      this.batches.set(key, joined);
    }
    return joined;
  }

  find(info: RequestInfo): RegistryStore | undefined {
    return this.stores.get(`${info.apiGroup}/${info.apiVersion}/${info.resource}`);
  }

  /** Whether the request is for a subresource that accepts callers without credentials. */
  allowsAnonymous(info: RequestInfo): boolean {
    if (!info.isResourceRequest || !info.subresource) return false;
    return this.find(info)?.def.subresources.custom?.[info.subresource]?.anonymous === true;
  }

  async handle(h: HandlerContext, store: RegistryStore): Promise<void> {
    const { info } = h;
    const def = store.def;
    if (def.namespaced === false && info.namespace) throw errors.notFound({ group: def.group, resource: def.resource }, info.name || info.resource);
    if (info.parts.length > 3) throw errors.notFound({ group: def.group, resource: def.resource }, info.parts.join('/'));
    const sub = info.subresource;
    if (sub) {
      const custom = def.subresources.custom?.[sub];
      if (custom) return this.custom(h, store, custom);
      const known = (sub === 'status' && def.subresources.status) || (sub === 'finalize' && def.subresources.finalize);
      if (!known) throw errors.notFound({ group: def.group, resource: `${def.resource}/${sub}` }, info.name);
      const allowed = sub === 'status' ? ['get', 'update', 'patch'] : ['update', 'patch'];
      if (!allowed.includes(info.verb)) throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
    // POST names no object and PUT names one, as in Kubernetes.
    if ((info.verb === 'create' && info.name && !sub) || (info.verb === 'update' && !info.name)) {
      throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    }
    const verbs = def.verbs;
    if (verbs && !verbs.includes(info.verb as never)) throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    if (!sub && def.handlers) {
      const handled = await this.virtual(h, store, def.handlers);
      if (handled) return;
    }
    switch (info.verb) {
      case 'get':
        return this.get(h, store);
      case 'list':
        return this.list(h, store);
      case 'watch':
        return this.watch(h, store);
      case 'create':
        return this.create(h, store);
      case 'update':
        return this.update(h, store);
      case 'patch':
        return this.patch(h, store);
      case 'delete':
        return this.delete(h, store);
      case 'deletecollection':
        return this.deleteCollection(h, store);
      default:
        throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
  }

  /** Serves a verb a kind answers with its own code; false when the kind leaves it to the store. */
  private async virtual(h: HandlerContext, store: RegistryStore, v: NonNullable<ResourceDefinition['handlers']>): Promise<boolean> {
    const verb = h.info.verb;
    if (verb === 'create' && v.create) {
      const n = negotiate(h.req.headers.accept);
      const body = decodeBody(h.req.headers['content-type'], await h.body()) as KubeObject;
      send(h.res, 201, await v.create(h.ctx, body), n);
      return true;
    }
    if (verb === 'get' && v.get) {
      const n = negotiate(h.req.headers.accept, tableConversions);
      const obj = await v.get(h.ctx, h.info.name);
      if (n.as === 'Table') send(h.res, 200, toTable(store.def, [obj], {}, includeObject(h.url)), n);
      else send(h.res, 200, obj, n);
      return true;
    }
    if (verb === 'list' && v.listObject) {
      const n = negotiate(h.req.headers.accept, tableConversions);
      const obj = await v.listObject(h.ctx);
      if (n.as === 'Table') send(h.res, 200, toTable(store.def, [obj], {}, includeObject(h.url)), n);
      else send(h.res, 200, obj, n);
      return true;
    }
    if (verb === 'list' && v.list) {
      const n = negotiate(h.req.headers.accept, tableConversions);
      const q = listQuery(h.url);
      const out = await v.list(h.ctx, q);
      const meta = out.resourceVersion ? { resourceVersion: out.resourceVersion } : {};
      if (n.as === 'Table') send(h.res, 200, toTable(store.def, out.items, meta, includeObject(h.url)), n);
      else send(h.res, 200, { apiVersion: apiVersionOf(store.def), kind: store.def.listKind, metadata: meta, items: out.items }, n);
      return true;
    }
    if (verb === 'delete' && v.delete) {
      send(h.res, 200, await v.delete(h.ctx, h.info.name), negotiate(h.req.headers.accept));
      return true;
    }
    return false;
  }

  private async get(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept, tableConversions);
    const obj = store.present(await store.get(h.ctx, h.info.name), h.ctx);
    if (n.as === 'Table') return send(h.res, 200, toTable(store.def, [obj], { resourceVersion: obj.metadata.resourceVersion }, includeObject(h.url)), n);
    if (n.as === 'PartialObjectMetadata') return send(h.res, 200, partialMetadata(obj), n);
    send(h.res, 200, obj, n);
  }

  private async list(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept, tableConversions);
    const query = listQuery(h.url);
    const include = n.as === 'Table' ? includeObject(h.url) : 'Metadata';
    // YAML is one document; it is built whole, as before.
    if (n.encoding !== 'json') return this.sendList(h, store, n, include, await store.list(h.ctx, query));
    const limit = query.limit && query.limit > 0 ? query.limit : 0;
    // A whole list is one read of the storage's cache (references to objects it holds anyway),
    // written out a piece at a time.
    if (limit === 0) return this.streamList(h, store, n, include, query, 0, await store.list(h.ctx, query));
    const first = await store.list(h.ctx, { ...query, limit: Math.min(limit, firstListPageItems) });
    if (!first.metadata.continue || (limit > 0 && first.items.length >= limit)) return this.sendList(h, store, n, include, first);
    return this.streamList(h, store, n, include, query, limit, first);
  }

  private sendList(h: HandlerContext, store: RegistryStore, n: Negotiated, include: IncludeObject, list: KubeList): void {
    if (n.as === 'Table') send(h.res, 200, toTable(store.def, list.items, list.metadata, include), n);
    else if (n.as === 'PartialObjectMetadataList') send(h.res, 200, partialMetadataList(list.items, list.metadata), n);
    else send(h.res, 200, list, n);
  }

  /**
   * Writes a list a piece at a time, each piece only once the client has taken the one before: a
   * whole list as read at once, or page after page of the same snapshot (the storage's continue
   * tokens), so a huge list or a slow reader never has the list serialized whole in memory.
   */
  private async streamList(
    h: HandlerContext,
    store: RegistryStore,
    n: Negotiated,
    include: IncludeObject,
    query: ListQuery,
    limit: number,
    first: KubeList,
  ): Promise<void> {
    const { res } = h;
    const rv = first.metadata.resourceVersion;
    const convert = (items: KubeObject[]): unknown[] =>
      n.as === 'Table' ? (toTable(store.def, items, {}, include).rows as unknown[]) : n.as === 'PartialObjectMetadataList' ? items.map(partialMetadata) : items;
    // Without a client limit the list ends without a continue token: its metadata is known now
    // and goes first, as kube-apiserver writes it. With one, it is known at the end only.
    const metaFirst = limit === 0;
    const envelope: Record<string, unknown> =
      n.as === 'Table'
        ? { kind: 'Table', apiVersion: 'meta.k8s.io/v1', ...(metaFirst ? { metadata: { resourceVersion: rv } } : {}), columnDefinitions: columnsOf(store.def) }
        : n.as === 'PartialObjectMetadataList'
          ? { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', ...(metaFirst ? { metadata: { resourceVersion: rv } } : {}) }
          : { apiVersion: first.apiVersion, kind: first.kind, ...(metaFirst ? { metadata: { resourceVersion: rv } } : {}) };
    const itemsKey = n.as === 'Table' ? 'rows' : 'items';

    res.writeHead(200, { 'Content-Type': n.contentType, 'Cache-Control': 'no-cache, private' });
    let written = 0;
    // Pages are sized by the objects read, not by what is written of them (a Table row is small).
    let sampled = 0;
    let sampledBytes = 0;
    const writeItems = async (items: KubeObject[]): Promise<boolean> => {
      if (n.as !== undefined) {
        for (const item of items.slice(0, 3)) {
          sampled++;
          sampledBytes += JSON.stringify(item).length;
        }
      }
      // Written in pieces of about 64 KiB: a page is never copied whole into one string nor
      // buffered whole in the socket, and small items do not become one chunk each.
      let batch = '';
      for (const item of convert(items)) {
        const text = JSON.stringify(item);
        if (n.as === undefined) {
          sampled++;
          sampledBytes += text.length;
        }
        batch += written > 0 ? `,${text}` : text;
        written++;
        if (batch.length >= 64 * 1024) {
          if (!(await writeWithBackpressure(res, batch))) return false;
          batch = '';
        }
      }
      return batch ? writeWithBackpressure(res, batch) : !res.destroyed;
    };
    try {
      if (!(await writeWithBackpressure(res, `${JSON.stringify(envelope).slice(0, -1)},"${itemsKey}":[`))) return;
      if (!(await writeItems(first.items))) return;
      let page = first;
      while (page.metadata.continue && (!limit || written < limit)) {
        const average = sampled > 0 ? sampledBytes / sampled : 1024;
        const size = Math.max(1, Math.min(maxListPageItems, Math.floor(listPageBudgetBytes / average)));
        page = await store.list(h.ctx, {
          labelSelector: query.labelSelector,
          fieldSelector: query.fieldSelector,
          limit: limit ? Math.min(size, limit - written) : size,
          continue: page.metadata.continue,
        });
        if (!(await writeItems(page.items))) return;
      }
      const meta: ListMeta = {
        resourceVersion: rv,
        ...(page.metadata.continue ? { continue: page.metadata.continue } : {}),
        ...(page.metadata.remainingItemCount !== undefined && page.metadata.continue ? { remainingItemCount: page.metadata.remainingItemCount } : {}),
      };
      res.end(metaFirst ? ']}' : `],"metadata":${JSON.stringify(meta)}}`);
    } catch (err) {
      // The status line is sent: a cut connection is the only way left to tell the client the
      // list is incomplete (a well-formed but short list would be taken as the whole).
      res.destroy();
      throw err;
    }
  }

  private async watch(h: HandlerContext, store: RegistryStore): Promise<void> {
    const { url, res } = h;
    const n = negotiate(h.req.headers.accept, tableConversions);
    const query = listQuery(url);
    if (h.info.name) query.fieldSelector = [query.fieldSelector, `metadata.name=${h.info.name}`].filter(Boolean).join(',');
    const bookmarks = isTrue(url.searchParams.get('allowWatchBookmarks'));
    const sendInitial = url.searchParams.get('sendInitialEvents');
    const include = includeObject(url);
    const timeoutParam = url.searchParams.get('timeoutSeconds');
    if (timeoutParam !== null && !/^\d+$/.test(timeoutParam)) throw errors.badRequest(`timeoutSeconds: invalid value ${JSON.stringify(timeoutParam)}`);
    // Like kube-apiserver, a watch without a timeout ends after a random 30-60 minutes so load rebalances.
    const timeoutSeconds = Number(timeoutParam) > 0 ? Math.min(Number(timeoutParam), maxWatchTimeoutSeconds) : minWatchTimeoutSeconds * (1 + Math.random());

    store.matcher(h.ctx, query); // bad selectors are a 400 before the stream starts, not an ERROR event in it
    res.writeHead(200, {
      'Content-Type': n.contentType === 'application/yaml' ? 'application/json' : n.contentType,
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    let first = true;
    const wrap = (obj: KubeObject): unknown => {
      if (n.as === 'Table') {
        const table = toTable(store.def, [obj], { resourceVersion: obj.metadata.resourceVersion }, include, first);
        first = false;
        return table;
      }
      if (n.as === 'PartialObjectMetadata') return partialMetadata(obj);
      return obj;
    };
    let done = false;
    let watcher: { stop(): void } | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher?.stop();
      untrack();
      res.end();
    };
    // The events of one turn of the event loop leave in one write: one chunk, one TLS record, one
    // system call (which costs more than the events' bytes).
    let gathered: Buffer[] = [];
    const flush = () => {
      const lines = gathered;
      gathered = [];
      if (!done) res.write(this.joinLines(lines));
    };
    const write = (type: string, object: unknown) => {
      if (done) return;
      // A client that stopped reading would otherwise grow this process's memory without bound;
      // like kube-apiserver, the watch ends and the client watches again (or relists).
      if (res.writableLength > maxWatchBacklogBytes) {
        res.destroy();
        return;
      }
      if (gathered.length === 0) process.nextTick(flush);
      gathered.push(this.eventLine(type, object));
    };
    const timer = setTimeout(finish, timeoutSeconds * 1000);
    const untrack = h.trackWatch(finish);
    h.req.on('close', finish);
    res.on('close', finish);
    const bookmarkObject = (rv: bigint, end = false) => ({
      kind: store.def.kind,
      apiVersion: apiVersionOf(store.def),
      metadata: { resourceVersion: String(rv), ...(end ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}) },
    });
    try {
      watcher = await watchResource(
        store,
        this.storage,
        h.ctx,
        { ...query, sendInitialEvents: sendInitial === null ? undefined : isTrue(sendInitial) },
        {
          event: (type, obj) => write(type, wrap(obj)),
          error: status => {
            write('ERROR', status.status);
            finish();
          },
          bookmark: (rv, end) => {
            if (bookmarks || end) write('BOOKMARK', bookmarkObject(rv, end));
          },
        },
      );
      if (done) watcher.stop();
    } catch (err) {
      const status = err instanceof StatusError ? err : errors.internal((err as Error).message);
      write('ERROR', status.status);
      finish();
    }
  }

  private async create(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept);
    const opts = writeOptions(h);
    const raw = await h.body();
    const body = decodeBody(h.req.headers['content-type'], raw, { rejectDuplicateKeys: opts.fieldValidation === 'Strict' }) as KubeObject;
    checkObjectBody(store, raw, body);
    const result = await store.create(h.ctx, body, opts);
    respondWrite(h.res, 201, result, n);
  }

  private async update(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept);
    const opts = writeOptions(h);
    const raw = await h.body();
    const body = decodeBody(h.req.headers['content-type'], raw, { rejectDuplicateKeys: opts.fieldValidation === 'Strict' }) as KubeObject;
    checkObjectBody(store, raw, body);
    const result = await store.update(h.ctx, h.info.name, body, opts);
    respondWrite(h.res, 200, result, n);
  }

  private async patch(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept);
    const type = (h.req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!patchTypes.includes(type)) throw errors.unsupportedMediaType(type);
    const opts = { ...writeOptions(h), force: isTrue(h.url.searchParams.get('force')) };
    if (h.url.searchParams.has('force') && type !== 'application/apply-patch+yaml') {
      throw errors.badRequest('force flag must only be set for apply patches');
    }
    const text = decodeText(await h.body());
    checkPatchText(type, text);
    const result = await store.patch(h.ctx, h.info.name, type, text, opts);
    respondWrite(h.res, result.created ? 201 : 200, result, n);
  }

  private async delete(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept);
    const opts = await deleteOptions(h);
    const result = await store.delete(h.ctx, h.info.name, opts);
    // 202 tells the client the object is still there, waiting for its finalizers.
    respondWrite(h.res, result.object.metadata.deletionTimestamp ? 202 : 200, result, n);
  }

  private async deleteCollection(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept);
    const opts = await deleteOptions(h);
    const list = await store.deleteCollection(h.ctx, listQuery(h.url), opts);
    send(h.res, 200, list, n);
  }

  private async custom(h: HandlerContext, store: RegistryStore, sub: NonNullable<ResourceDefinition['subresources']['custom']>[string]): Promise<void> {
    const n = negotiate(h.req.headers.accept);
    const verb = h.info.verb === 'get' ? 'get' : h.info.verb === 'create' ? 'create' : h.info.verb === 'update' ? 'update' : undefined;
    if (!verb || !sub.verbs.includes(verb)) throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const parent = sub.parentless ? undefined : await store.get(h.ctx, h.info.name);
    const raw = verb === 'get' ? undefined : await h.body();
    const body = raw && raw.length ? (decodeBody(h.req.headers['content-type'], raw) as KubeObject) : undefined;
    const writeOpts = verb === 'get' ? {} : writeOptions(h);
    const out = await sub.handle({
      verb,
      parentName: h.info.name,
      parent,
      body,
      query: h.url.searchParams,
      headers: h.req.headers,
      writeOptions: writeOpts,
      ctx: h.ctx,
    });
    send(h.res, verb === 'create' ? 201 : 200, out, n);
  }
}

/** Resolves when `res` can take more, or false once the client is gone. */
async function writeWithBackpressure(res: ServerResponse, chunk: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  await new Promise<void>(resolve => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed;
}

/**
 * What Go's typed decoding refuses before anything else runs (a struct given as a string, e.g.
 * `"metadata": "x"`), and objects that could never be stored: both fail here, before the
 * object goes through defaulting, validation and field ownership at all.
 */
function checkObjectBody(store: RegistryStore, raw: Buffer, body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return; // the store says what is wrong
  const mistyped = store.compiled.shapeError(body);
  if (mistyped) {
    const kind = store.def.kind;
    throw errors.badRequest(`${kind} in version "${store.def.version}" cannot be handled as a ${kind}: ${mistyped}`);
  }
  // What is stored is the body and more (field ownership, status), so a body over the limit once
  // measured compact (YAML and indented JSON are larger than what is stored) cannot be stored.
  if (raw.length > maxObjectBytes) {
    const size = Buffer.byteLength(JSON.stringify(body));
    if (size > maxObjectBytes) throw objectTooLarge(size);
  }
}

function objectTooLarge(size: number): StatusError {
  return errors.tooLarge(`Request entity too large: the object is ${size} bytes, limit is ${maxObjectBytes}`);
}

function includeObject(url: URL): IncludeObject {
  const v = url.searchParams.get('includeObject');
  if (v === null || v === '') return 'Metadata';
  if (v === 'None' || v === 'Metadata' || v === 'Object') return v;
  throw errors.badRequest(`includeObject: Unsupported value: "${v}": supported values: "None", "Metadata", "Object"`);
}

function listQuery(url: URL): ListQuery {
  const q = url.searchParams;
  const limit = q.get('limit');
  if (limit !== null && !/^\d+$/.test(limit)) throw errors.badRequest(`limit: invalid value ${JSON.stringify(limit)}`);
  const rv = q.get('resourceVersion') ?? undefined;
  if (rv && rv !== '0') parseRevision(rv);
  const match = q.get('resourceVersionMatch') ?? undefined;
  if (match && !['Exact', 'NotOlderThan'].includes(match)) throw errors.badRequest(`resourceVersionMatch: Unsupported value: "${match}"`);
  return {
    labelSelector: q.get('labelSelector') ?? undefined,
    fieldSelector: q.get('fieldSelector') ?? undefined,
    limit: limit === null ? undefined : Number(limit),
    continue: q.get('continue') ?? undefined,
    resourceVersion: rv,
    resourceVersionMatch: match,
  };
}

function writeOptions(h: HandlerContext): { fieldManager?: string; fieldValidation: FieldValidation } {
  const q = h.url.searchParams;
  const fv = q.get('fieldValidation') ?? 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(fv))
    throw errors.badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
  const given = q.get('fieldManager');
  if (given !== null && (given.length > 128 || /[^\x20-\x7e]/.test(given))) {
    throw errors.badRequest('fieldManager: Invalid value: must be at most 128 printable characters');
  }
  // Like Kubernetes: without a fieldManager, the client's User-Agent program name owns what it wrote.
  const agent = (h.req.headers['user-agent'] ?? '')
    .split('/')[0]
    .replace(/[^\x20-\x7e]/g, '')
    .slice(0, 128);
  return { fieldManager: given ?? (agent || undefined), fieldValidation: fv as FieldValidation };
}

async function deleteOptions(h: HandlerContext): Promise<DeleteOptions> {
  const q = h.url.searchParams;
  const raw = await h.body();
  const body = raw.length ? (decodeBody(h.req.headers['content-type'], raw) as Record<string, unknown>) : {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.badRequest('DeleteOptions must be an object');
  // kubectl sends dryRun in the DeleteOptions body rather than the query.
  if (Array.isArray(body.dryRun) && body.dryRun.length) {
    if (body.dryRun.some(v => v !== 'All')) throw errors.badRequest(`dryRun: Unsupported value: ${JSON.stringify(body.dryRun)}: supported values: "All"`);
    h.ctx.dryRun = true;
  }
  const pre = (body.preconditions ?? {}) as { uid?: string; resourceVersion?: string };
  const policy = (body.propagationPolicy as string | undefined) ?? q.get('propagationPolicy') ?? undefined;
  if (policy && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw errors.badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Orphan", "Background", "Foreground"`);
  }
  const grace = body.gracePeriodSeconds ?? q.get('gracePeriodSeconds') ?? undefined;
  return { preconditions: pre, propagationPolicy: policy, gracePeriodSeconds: grace === undefined ? undefined : Number(grace) };
}

function respondWrite(res: ServerResponse, code: number, result: WriteResult, n: Negotiated): void {
  if (result.warnings.length) {
    res.setHeader(
      'Warning',
      result.warnings.map(w => `299 - ${JSON.stringify(w)}`),
    );
  }
  send(res, code, result.object, n);
}

export function send(res: ServerResponse, code: number, value: unknown, n: Pick<Negotiated, 'encoding' | 'contentType'>): void {
  const body = encode(value, n.encoding);
  res.writeHead(code, { 'Content-Type': n.contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache, private' });
  res.end(body);
}
