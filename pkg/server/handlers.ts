// One generic handler per verb, for every kind. They read HTTP, call the registry store,
// and write objects, lists, tables and watch streams.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { errors, StatusError } from '../rest/errors.ts';
import { apiVersionOf, type RequestContext, type ResourceDefinition } from '../rest/resource.ts';
import { parseRevision, watchResource, type DeleteOptions, type FieldValidation, type ListQuery, type RegistryStore, type WriteResult } from '../rest/store.ts';
import type { Store } from '../storage/interface.ts';
import { decodeBody, encode, negotiate, type Negotiated } from './negotiate.ts';
import type { RequestInfo } from './requestinfo.ts';
import { isTrue } from './requestinfo.ts';
import { partialMetadata, partialMetadataList, tableConversions, toTable, type IncludeObject } from './table.ts';

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

export class ResourceHandlers {
  constructor(private readonly stores: Map<string, RegistryStore>, private readonly storage: Store) {}

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
      case 'get': return this.get(h, store);
      case 'list': return this.list(h, store);
      case 'watch': return this.watch(h, store);
      case 'create': return this.create(h, store);
      case 'update': return this.update(h, store);
      case 'patch': return this.patch(h, store);
      case 'delete': return this.delete(h, store);
      case 'deletecollection': return this.deleteCollection(h, store);
      default: throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
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
    const obj = store.withTypeMeta(await store.get(h.ctx, h.info.name));
    if (n.as === 'Table') return send(h.res, 200, toTable(store.def, [obj], { resourceVersion: obj.metadata.resourceVersion }, includeObject(h.url)), n);
    if (n.as === 'PartialObjectMetadata') return send(h.res, 200, partialMetadata(obj), n);
    send(h.res, 200, obj, n);
  }

  private async list(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept, tableConversions);
    const list = await store.list(h.ctx, listQuery(h.url));
    if (n.as === 'Table') return send(h.res, 200, toTable(store.def, list.items, list.metadata, includeObject(h.url)), n);
    if (n.as === 'PartialObjectMetadataList') return send(h.res, 200, partialMetadataList(list.items, list.metadata), n);
    send(h.res, 200, list, n);
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
    const timeoutSeconds = Number(timeoutParam) > 0 ? Number(timeoutParam) : minWatchTimeoutSeconds * (1 + Math.random());

    store.matcher(h.ctx, query); // bad selectors are a 400 before the stream starts, not an ERROR event in it
    res.writeHead(200, { 'Content-Type': n.contentType === 'application/yaml' ? 'application/json' : n.contentType, 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
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
    const write = (type: string, object: unknown) => {
      if (!done) res.write(JSON.stringify({ type, object }) + '\n');
    };
    const timer = setTimeout(finish, timeoutSeconds * 1000);
    const untrack = h.trackWatch(finish);
    h.req.on('close', finish);
    res.on('close', finish);
    const bookmarkObject = (rv: bigint, end = false) => ({
      kind: store.def.kind, apiVersion: apiVersionOf(store.def),
      metadata: { resourceVersion: String(rv), ...(end ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}) },
    });
    try {
      watcher = await watchResource(store, this.storage, h.ctx, { ...query, sendInitialEvents: sendInitial === null ? undefined : isTrue(sendInitial) }, {
        event: (type, obj) => write(type, wrap(obj)),
        error: (status) => { write('ERROR', status.status); finish(); },
        bookmark: (rv, end) => { if (bookmarks || end) write('BOOKMARK', bookmarkObject(rv, end)); },
      });
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
    const body = decodeBody(h.req.headers['content-type'], await h.body(), { rejectDuplicateKeys: opts.fieldValidation === 'Strict' }) as KubeObject;
    const result = await store.create(h.ctx, body, opts);
    respondWrite(h.res, 201, result, n);
  }

  private async update(h: HandlerContext, store: RegistryStore): Promise<void> {
    const n = negotiate(h.req.headers.accept);
    const opts = writeOptions(h);
    const body = decodeBody(h.req.headers['content-type'], await h.body(), { rejectDuplicateKeys: opts.fieldValidation === 'Strict' }) as KubeObject;
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
    const result = await store.patch(h.ctx, h.info.name, type, (await h.body()).toString('utf8'), opts);
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
    const body = raw && raw.length ? decodeBody(h.req.headers['content-type'], raw) as KubeObject : undefined;
    const writeOpts = verb === 'get' ? {} : writeOptions(h);
    const out = await sub.handle({ verb, parentName: h.info.name, parent, body, query: h.url.searchParams, headers: h.req.headers, writeOptions: writeOpts, ctx: h.ctx });
    send(h.res, verb === 'create' ? 201 : 200, out, n);
  }
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
  if (!['Strict', 'Warn', 'Ignore'].includes(fv)) throw errors.badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
  const given = q.get('fieldManager');
  if (given !== null && (given.length > 128 || /[^\x20-\x7e]/.test(given))) {
    throw errors.badRequest('fieldManager: Invalid value: must be at most 128 printable characters');
  }
  // Like Kubernetes: without a fieldManager, the client's User-Agent program name owns what it wrote.
  const agent = (h.req.headers['user-agent'] ?? '').split('/')[0].replace(/[^\x20-\x7e]/g, '').slice(0, 128);
  return { fieldManager: given ?? (agent || undefined), fieldValidation: fv as FieldValidation };
}

async function deleteOptions(h: HandlerContext): Promise<DeleteOptions> {
  const q = h.url.searchParams;
  const raw = await h.body();
  const body = raw.length ? decodeBody(h.req.headers['content-type'], raw) as Record<string, unknown> : {};
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
    res.setHeader('Warning', result.warnings.map(w => `299 - ${JSON.stringify(w)}`));
  }
  send(res, code, result.object, n);
}

export function send(res: ServerResponse, code: number, value: unknown, n: Pick<Negotiated, 'encoding' | 'contentType'>): void {
  const body = encode(value, n.encoding);
  res.writeHead(code, { 'Content-Type': n.contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache, private' });
  res.end(body);
}
