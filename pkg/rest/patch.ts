// PATCH bodies: RFC 6902 JSON patch, RFC 7386 merge patch and Kubernetes' strategic merge
// patch, and the body of a server-side apply. Kind-agnostic: list and map semantics come from the kind's JSON Schema, using the
// same `x-kubernetes-*` extensions the OpenAPI document publishes, so kubectl (which computes
// its patches from that document) and the server agree on how every list merges.
import jsonpatch from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { StatusError, errors } from './errors.ts';
import { isObject, type JsonSchema } from '../openapi/schema.ts';
import { embedded, fieldSchema, itemSchema, type SchemaShape } from '../openapi/walk.ts';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

/** Kubernetes refuses JSON patches with more operations than this (413). */
const MAX_JSON_PATCH_OPERATIONS = 10000;

// ---------------------------------------------------------------------------------------------
// JSON values (shared with fieldmanager.ts)

export type JSONObject = Record<string, unknown>;

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

export function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * Applies a PATCH body to `current` and returns the patched object; `current` is not modified.
 * Errors are StatusErrors with Kubernetes' codes: an unparsable body is 400, a patch that
 * parses but cannot be applied (failed `test`, missing path) is 422.
 */
export function applyPatch(current: KubeObject, patchType: string, body: string | Buffer, schema: JsonSchema | undefined): KubeObject {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const type = patchType.split(';')[0].trim().toLowerCase();
  switch (type) {
    case PATCH_TYPES.json:
      return jsonPatch(current, text);
    case PATCH_TYPES.merge:
      return mergePatch(current, text);
    case PATCH_TYPES.strategic:
      return strategicMergePatch(current, text, schema);
    default:
      throw errors.unsupportedMediaType(patchType);
  }
}

function parseBody(text: string): unknown {
  if (!text.trim()) throw errors.badRequest('error decoding patch: the patch body is empty');
  try {
    // Assigning a parsed "__proto__" member while merging would replace an object's prototype.
    return JSON.parse(text, (k: string, v: unknown) => {
      if (k === '__proto__') throw new Error('field name "__proto__" is not allowed');
      return v;
    });
  } catch (e) {
    throw errors.badRequest(`error decoding patch: ${(e as Error).message}`);
  }
}

function parseObjectPatch(text: string): JSONObject {
  const p = parseBody(text);
  if (!isObject(p)) {
    throw errors.badRequest(`error decoding patch: the patch must be a JSON object, got ${Array.isArray(p) ? 'an array' : p === null ? 'null' : typeof p}`);
  }
  return p;
}

/** Kubernetes reports patches that decode but do not apply as 422 with this exact message. */
function unprocessable(detail: string): StatusError {
  return new StatusError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ reason: 'FieldValueInvalid', message: detail, field: 'patch' }],
  });
}

function asKubeObject(v: unknown): KubeObject {
  if (!isObject(v)) throw unprocessable('the patched document is not a JSON object');
  if (v.metadata !== undefined && !isObject(v.metadata)) throw unprocessable('metadata must be an object');
  if (v.metadata === undefined) v.metadata = {};
  return v as KubeObject;
}

// ---------------------------------------------------------------------------------------------
// RFC 6902

const JSON_PATCH_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

function jsonPatch(current: KubeObject, text: string): KubeObject {
  const ops = parseBody(text);
  if (!Array.isArray(ops)) throw errors.badRequest('error decoding patch: a JSON patch must be a JSON array of operations');
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw errors.tooLarge(`Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`);
  }
  for (const [i, op] of ops.entries()) {
    // fast-json-patch accepts its private `_get` op; RFC 6902 and Kubernetes do not.
    if (!isObject(op)) throw unprocessable(`operation ${i} is not a JSON object`);
    if (typeof op.op !== 'string' || !JSON_PATCH_OPS.has(op.op)) throw unprocessable(`Unexpected kind: ${String(op.op)}`);
    if (typeof op.path !== 'string') throw unprocessable(`operation ${i} (${op.op}) is missing "path"`);
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string') throw unprocessable(`operation ${i} (${op.op}) is missing "from"`);
  }
  let doc: unknown;
  try {
    doc = jsonpatch.applyPatch(clone(current), clone(ops as jsonpatch.Operation[]), true, true).newDocument;
  } catch (e) {
    throw unprocessable(describeJsonPatchError(e));
  }
  return asKubeObject(doc);
}

function describeJsonPatchError(e: unknown): string {
  if (e instanceof jsonpatch.JsonPatchError) {
    const op = e.operation as { op?: string; path?: string } | undefined;
    // The library's message embeds the whole document; keep only its first line.
    const first = e.message.split('\n')[0];
    if (e.name === 'TEST_OPERATION_FAILED') return `testing value ${op?.path ?? ''} failed: test failed`;
    return `${op?.op ?? 'operation'} ${op?.path ?? ''} (operation ${e.index ?? 0}): ${first}`;
  }
  return (e as Error).message ?? String(e);
}

// ---------------------------------------------------------------------------------------------
// RFC 7386

function mergePatch(current: KubeObject, text: string): KubeObject {
  const patch = parseObjectPatch(text);
  return asKubeObject(rfc7386(clone(current), patch));
}

function rfc7386(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JSONObject = isObject(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = rfc7386(out[k], v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';
const SET_ORDER_PREFIX = '$setElementOrder/';

function smpError(message: string): StatusError {
  return errors.badRequest(message);
}

function strategicMergePatch(current: KubeObject, text: string, schema: JsonSchema | undefined): KubeObject {
  const patch = parseObjectPatch(text);
  const merged = mergeMap(clone(current) as JSONObject, clone(patch), schema);
  return asKubeObject(merged);
}

function mergeMap(original: JSONObject | undefined, patch: JSONObject, schema: JsonSchema | undefined): JSONObject {
  if (Object.prototype.hasOwnProperty.call(patch, DIRECTIVE)) {
    const d = patch[DIRECTIVE];
    if (d === 'replace') {
      const rest = { ...patch };
      delete rest[DIRECTIVE];
      return mergeMap({}, rest, schema);
    }
    if (d === 'delete') return {};
    // `merge` is the default behaviour, so it is accepted as a no-op.
    if (d !== 'merge') throw smpError(`unknown patch type: ${JSON.stringify(d)} in map: ${JSON.stringify(patch)}`);
    patch = { ...patch };
    delete patch[DIRECTIVE];
  }
  const out: JSONObject = original ?? {};
  const shape = embedded.shape(schema, out);

  applyRetainKeys(out, patch);
  applySetElementOrder(out, patch, shape);

  for (const [rawKey, patchV] of Object.entries(patch)) {
    let key = rawKey;
    let isDeleteList = false;
    if (rawKey.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      key = rawKey.slice(DELETE_PRIMITIVE_PREFIX.length);
      if (!key) throw smpError('invalid patch format of primitive list');
      if (!Array.isArray(patchV)) throw smpError('invalid patch format of primitive list');
      isDeleteList = true;
    } else if (rawKey.startsWith('$')) {
      throw smpError(`unknown directive ${JSON.stringify(rawKey)} in strategic merge patch`);
    }

    if (patchV === null) {
      delete out[key];
      continue;
    }
    const childSchema = fieldSchema(shape, key);
    const meta = embedded.patchMeta(childSchema);
    const origV = out[key];
    if (isDeleteList) {
      if (Array.isArray(origV)) out[key] = origV.filter(v => !(patchV as unknown[]).some(d => deepEqual(d, v)));
      continue;
    }
    if (origV === undefined) {
      out[key] = fresh(patchV, childSchema);
      continue;
    }
    if (isObject(origV) && isObject(patchV)) {
      out[key] = meta.strategy === 'replace' ? mergeMap({}, patchV, childSchema) : mergeMap(origV, patchV, childSchema);
    } else if (Array.isArray(origV) && Array.isArray(patchV)) {
      out[key] = meta.strategy === 'merge' ? mergeSlice(origV, patchV, childSchema, meta.mergeKey) : fresh(patchV, childSchema);
    } else {
      out[key] = fresh(patchV, childSchema);
    }
  }
  return out;
}

/**
 * A patch value with no counterpart in the original: directives and nulls inside it are
 * resolved against an empty original so none of them leak into the stored object.
 */
function fresh(patchV: unknown, schema: JsonSchema | undefined): unknown {
  if (isObject(patchV)) return mergeMap({}, patchV, schema);
  if (Array.isArray(patchV)) {
    const meta = embedded.patchMeta(schema);
    if (meta.strategy === 'merge') return mergeSlice([], patchV, schema, meta.mergeKey);
    const items = itemSchema(embedded.shape(schema, patchV));
    return patchV.map(v => (isObject(v) && !Object.prototype.hasOwnProperty.call(v, DIRECTIVE) ? mergeMap({}, v, items) : v));
  }
  return patchV;
}

function applyRetainKeys(original: JSONObject, patch: JSONObject): void {
  if (!Object.prototype.hasOwnProperty.call(patch, RETAIN_KEYS)) return;
  const list = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw smpError('invalid patch format of retainKeys');
  const keep = new Set(list.map(String));
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_PRIMITIVE_PREFIX) || k.startsWith(SET_ORDER_PREFIX)) continue;
    if (!keep.has(k)) throw smpError('invalid patch format of retainKeys');
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

/**
 * `$setElementOrder/<field>` (sent by kubectl apply) fixes the order of the merged list; the
 * field's own patch list is merged here too so the later generic pass does not touch it.
 */
function applySetElementOrder(original: JSONObject, patch: JSONObject, shape: SchemaShape): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ORDER_PREFIX)) continue;
    const order = patch[key];
    delete patch[key];
    const field = key.slice(SET_ORDER_PREFIX.length);
    if (!field || !Array.isArray(order)) throw smpError('invalid patch format of setElementOrder list');
    const childSchema = fieldSchema(shape, field);
    const meta = embedded.patchMeta(childSchema);
    const origList = original[field];
    const patchList = patch[field];
    if (origList !== undefined && !Array.isArray(origList)) continue;
    if (patchList !== undefined && patchList !== null && !Array.isArray(patchList)) throw smpError('invalid patch format of setElementOrder list');
    if (patchList === null) continue; // deletion wins; handled by the generic pass
    let merged: unknown[];
    if (origList && patchList) {
      merged = meta.strategy === 'merge' ? mergeSlice(origList, patchList, childSchema, meta.mergeKey) : (fresh(patchList, childSchema) as unknown[]);
    } else if (patchList) {
      merged = fresh(patchList, childSchema) as unknown[];
    } else if (origList) {
      merged = origList;
    } else {
      continue;
    }
    const identity = (v: unknown): unknown => (meta.mergeKey && isObject(v) ? v[meta.mergeKey] : v);
    original[field] = orderBy(
      merged,
      order.map(o => identity(o)),
      (origList ?? []).map(identity),
      identity,
    );
    delete patch[field];
  }
}

function mergeSlice(original: unknown[], patch: unknown[], schema: JsonSchema | undefined, mergeKey: string): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const items = itemSchema(embedded.shape(schema, patch));
  const all = [...original, ...patch];
  if (all.some(Array.isArray)) {
    throw new StatusError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
      causes: [{ reason: 'FieldValueInvalid', message: 'lists of lists are not supported', field: 'patch' }],
    });
  }
  const ofMaps = all.some(isObject);
  if (!ofMaps) {
    const merged: unknown[] = [];
    for (const v of all) if (!merged.some(m => deepEqual(m, v))) merged.push(v);
    return orderBy(merged, patch, original, v => v);
  }
  if (!mergeKey) throw smpError('cannot merge lists of objects without a patch merge key (x-kubernetes-patch-merge-key)');

  let base = original.slice();
  let replace = false;
  const plain: JSONObject[] = [];
  for (const item of patch) {
    if (!isObject(item)) throw smpError(`list element types are not identical: ${JSON.stringify(patch)}`);
    if (!Object.prototype.hasOwnProperty.call(item, DIRECTIVE)) {
      plain.push(item);
      continue;
    }
    const d = item[DIRECTIVE];
    if (d === 'delete') {
      if (!Object.prototype.hasOwnProperty.call(item, mergeKey))
        throw smpError(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
      base = base.filter(o => !(isObject(o) && deepEqual(o[mergeKey], item[mergeKey])));
    } else if (d === 'replace') {
      replace = true;
    } else if (d === 'merge') {
      const rest = { ...item };
      delete rest[DIRECTIVE];
      if (Object.keys(rest).length) plain.push(rest);
    } else {
      throw smpError(`unknown patch type: ${JSON.stringify(d)} in map: ${JSON.stringify(item)}`);
    }
  }
  if (replace) return plain.map(p => mergeMap({}, p, items));

  for (const p of plain) {
    if (!Object.prototype.hasOwnProperty.call(p, mergeKey)) throw smpError(`map: ${JSON.stringify(p)} does not contain declared merge key: ${mergeKey}`);
    const idx = base.findIndex(o => isObject(o) && deepEqual(o[mergeKey], p[mergeKey]));
    if (idx >= 0) base[idx] = mergeMap(base[idx] as JSONObject, p, items);
    else base.push(mergeMap({}, p, items));
  }
  const identity = (v: unknown): unknown => (isObject(v) ? v[mergeKey] : v);
  return orderBy(base, plain.map(identity), original.map(identity), identity);
}

/**
 * Kubernetes' list-order rule: items named in `patchOrder` follow that order, the others keep
 * their server order, and the two runs are interleaved by their positions in `serverOrder`.
 */
function orderBy(merged: unknown[], patchOrder: unknown[], serverOrder: unknown[], identity: (v: unknown) => unknown): unknown[] {
  const indexIn = (list: unknown[], v: unknown): number => list.findIndex(x => deepEqual(x, identity(v)));
  const patchItems = merged.filter(v => indexIn(patchOrder, v) >= 0);
  const serverOnly = merged.filter(v => indexIn(patchOrder, v) < 0);
  patchItems.sort((a, b) => indexIn(patchOrder, a) - indexIn(patchOrder, b));
  const serverKnown = serverOnly.filter(v => indexIn(serverOrder, v) >= 0).sort((a, b) => indexIn(serverOrder, a) - indexIn(serverOrder, b));
  let k = 0;
  const serverSorted = serverOnly.map(v => (indexIn(serverOrder, v) >= 0 ? serverKnown[k++] : v));

  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverSorted.length || j < patchItems.length) {
    if (i >= serverSorted.length) out.push(patchItems[j++]);
    else if (j >= patchItems.length) out.push(serverSorted[i++]);
    else {
      const li = indexIn(serverOrder, serverSorted[i]);
      const ri = indexIn(serverOrder, patchItems[j]);
      if (li >= 0 && ri >= 0 && li < ri) out.push(serverSorted[i++]);
      else out.push(patchItems[j++]);
    }
  }
  return out;
}

/** The configuration a server-side apply patch carries: one YAML (or JSON) object. */
export function parseApplyPatch(text: string): KubeObject {
  let value: unknown;
  try {
    value = parseYaml(text, { strict: true, uniqueKeys: true });
  } catch (err) {
    throw errors.badRequest(`error decoding YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw errors.badRequest('the body of the request must be an object');
  return value as KubeObject;
}
