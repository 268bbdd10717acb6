// Field ownership (metadata.managedFields) and server-side apply, following the rules of
// sigs.k8s.io/structured-merge-diff as the Kubernetes API server uses them: every write
// records which manager set which fields, an apply merges a partial configuration into the
// live object, removes what the same applier stopped applying, and refuses (409) to change
// fields another manager owns unless forced. Its parts follow structured-merge-diff's packages:
// fieldmanager/fieldpath.ts (path elements, field sets), typed.ts (what a schema makes of an
// object: field sets, comparison, merge, prune), managed.ts (managedFields and their owners).
import type { KubeObject, StatusCause } from '../../api/meta/v1/types.ts';
import { StatusError, errors } from './errors.ts';
import { isObject, type JsonSchema } from '../openapi/schema.ts';
import { type JSONObject, clone, deepEqual } from './patch.ts';
import { FieldSet, type Path, comparePaths, fieldPaths, goJSON, pathString, strCompare } from './fieldmanager/fieldpath.ts';
import { type Comparison, ShapeError, compareObjects, fieldSet, mergeValues, prune } from './fieldmanager/typed.ts';
import {
  BEFORE_FIRST_APPLY_MANAGER,
  type Owner,
  STRIPPED,
  capUpdateManagers,
  decodeManaged,
  encodeManaged,
  ownerId,
  printManager,
} from './fieldmanager/managed.ts';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Options shared by Update and Apply

export interface FieldManagerOptions {
  /** The kind's schema: list keys and map/struct distinctions. Without it lists are atomic. */
  schema?: JsonSchema;
  /**
   * Fields whose ownership this endpoint does not track because the strategy resets them
   * (Kubernetes' ResetFields): typically ['status'] on the main resource of a kind with a
   * status subresource, and ['spec', 'metadata'] on its status subresource.
   */
  resetFields?: Iterable<string | Path>;
  /** The Kind served at this endpoint, checked against the applied object's `kind`. */
  kind?: string;
  /** Subresource of the request ('' or undefined for the main resource); Apply only. */
  subresource?: string;
}

function comparison(oldObj: unknown, newObj: unknown, schema: JsonSchema | undefined, reset: FieldSet): Comparison {
  const c = compareObjects(oldObj, newObj, schema);
  if (reset.empty()) return c;
  return { added: c.added.recursiveDifference(reset), removed: c.removed.recursiveDifference(reset), modified: c.modified.recursiveDifference(reset) };
}

function withoutManagedFields(obj: KubeObject | undefined): JSONObject {
  if (!obj) return {};
  const out = clone(obj) as JSONObject;
  if (isObject(out.metadata)) delete out.metadata.managedFields;
  return out;
}

/**
 * Records an Update-style write of `manager`: the fields it changed move to its entry, and
 * other managers lose what was changed or removed under them.
 */
function recordUpdate(
  owners: Owner[],
  oldObj: unknown,
  newObj: unknown,
  who: Omit<Owner, 'set' | 'time'>,
  now: string,
  schema: JsonSchema | undefined,
  reset: FieldSet,
): Owner[] {
  const c = comparison(oldObj, newObj, schema, reset);
  const changed = c.modified.union(c.added);
  const touched = changed.union(c.removed);
  const out = owners.map(o => ({ ...o, set: o.set.difference(touched) }));
  const mine = changed.recursiveDifference(reset).difference(STRIPPED);
  if (!mine.empty()) {
    const id = ownerId(who);
    const existing = out.find(o => ownerId(o) === id);
    if (existing) {
      existing.set = existing.set.union(mine);
      existing.time = now;
    } else {
      out.push({ ...who, time: now, set: mine });
    }
  }
  return out.filter(o => !o.set.empty());
}

// ---------------------------------------------------------------------------------------------
// Update

/**
 * Computes metadata.managedFields after a create (oldObj undefined), update or non-apply
 * patch by `manager`. Returns a copy of `newObj` with the new managedFields (absent when
 * nothing is tracked).
 *
 * Like Kubernetes: managedFields sent in the request replace the stored ones (this is how a
 * client resets them, e.g. with `[{}]`), except on subresources; an existing object without
 * managedFields stays untracked until the next apply.
 */
export function updateManagedFields(
  oldObj: KubeObject | undefined,
  newObj: KubeObject,
  manager: string,
  operation: 'Update',
  apiVersion: string,
  subresource: string | undefined,
  now: string,
  options: FieldManagerOptions = {},
): KubeObject {
  const out = clone(newObj);
  out.metadata = out.metadata ?? {};
  const fromRequest = subresource ? [] : decodeManaged(newObj.metadata?.managedFields);
  let owners = fromRequest && fromRequest.length ? fromRequest : (decodeManaged(oldObj?.metadata?.managedFields) ?? []);
  delete out.metadata.managedFields;
  if (owners.length === 0 && oldObj !== undefined) return out;

  const reset = fieldPaths(options.resetFields ?? []);
  // Compared, not changed: the old object is read without its managedFields, not copied.
  const old: JSONObject = oldObj ? { ...oldObj, metadata: { ...oldObj.metadata, managedFields: undefined } } : {};
  owners = recordUpdate(
    owners,
    old,
    out,
    {
      manager,
      operation,
      apiVersion,
      subresource: subresource ?? '',
    },
    now,
    options.schema,
    reset,
  );
  owners = capUpdateManagers(owners);
  const encoded = encodeManaged(owners);
  if (encoded.length) out.metadata.managedFields = encoded;
  return out;
}

/** A copy of `obj` without metadata.managedFields. */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (!obj.metadata || obj.metadata.managedFields === undefined) return obj;
  const metadata = { ...obj.metadata };
  delete metadata.managedFields;
  return { ...obj, metadata };
}

// ---------------------------------------------------------------------------------------------
// Apply

interface Conflict {
  owner: Owner;
  path: Path;
}

class ApplyConflicts extends Error {
  constructor(readonly conflicts: Conflict[]) {
    super('apply conflicts');
  }
}

function conflictError(conflicts: Conflict[]): StatusError {
  const sorted = conflicts.slice().sort((a, b) => strCompare(ownerId(a.owner), ownerId(b.owner)) || comparePaths(a.path, b.path));
  const causes: StatusCause[] = sorted.map(c => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${printManager(c.owner)}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (sorted.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(sorted[0].owner)}: ${pathString(sorted[0].path)}`;
  } else {
    const lines: string[] = [];
    let current = '';
    for (const c of sorted) {
      const id = ownerId(c.owner);
      if (id !== current) {
        lines.push(`conflicts with ${printManager(c.owner)}:`);
        current = id;
      }
      lines.push(`- ${pathString(c.path)}`);
    }
    message = `Apply failed with ${sorted.length} conflicts: ${lines.join('\n')}`;
  }
  return new StatusError(409, 'Conflict', message, { causes });
}

function gvkString(apiVersion: string | undefined, kind: string | undefined): string {
  const av = apiVersion ?? '';
  const slash = av.lastIndexOf('/');
  const group = slash >= 0 ? av.slice(0, slash) : '';
  const version = slash >= 0 ? av.slice(slash + 1) : av;
  return `${group}/${version}, Kind=${kind ?? ''}`;
}

interface ApplyResult {
  obj: JSONObject;
  owners: Owner[];
  changed: boolean;
}

function applyOnce(
  live: JSONObject,
  config: JSONObject,
  owners: Owner[],
  who: Omit<Owner, 'set' | 'time'>,
  force: boolean,
  now: string,
  schema: JsonSchema | undefined,
  reset: FieldSet,
): ApplyResult {
  const id = ownerId(who);
  const previous = owners.find(o => ownerId(o) === id);
  const configSet = fieldSet(config, schema, true).recursiveDifference(reset).difference(STRIPPED);

  const merged = mergeValues(live, config, schema, []) as JSONObject;
  const others = owners.filter(o => ownerId(o) !== id);
  if (previous && !previous.set.empty()) {
    const owned = others.reduce((acc, o) => acc.union(o.set), configSet);
    prune(merged, schema, previous.set, owned, true);
  }

  const c = comparison(live, merged, schema, reset);
  const changed = c.modified.union(c.added);
  const conflicts: Conflict[] = [];
  const updatedOthers = others.map(o => {
    const clash = o.set.intersection(changed);
    if (!clash.empty()) for (const path of clash.paths()) conflicts.push({ owner: o, path });
    return { ...o, set: o.set.difference(clash).difference(c.removed) };
  });
  if (conflicts.length && !force) throw new ApplyConflicts(conflicts);

  // Stored objects may omit apiVersion/kind while every configuration carries them.
  const { apiVersion: _la, kind: _lk, ...liveBody } = live;
  const { apiVersion: _ma, kind: _mk, ...mergedBody } = merged;
  const objectChanged = !deepEqual(liveBody, mergedBody);
  const entry: Owner = {
    ...who,
    time: objectChanged || !previous ? now : previous.time,
    set: configSet,
  };
  const result = [...updatedOthers.filter(o => !o.set.empty())];
  if (!configSet.empty()) result.push(entry);
  return { obj: merged, owners: result, changed: objectChanged };
}

/**
 * The fields kubectl's client-side apply last set and that still hold those values: a
 * `kubectl apply --server-side` may take them over without conflict.
 */
function allowedFromLastApplied(live: JSONObject, schema: JsonSchema | undefined, apiVersion: string): FieldSet | undefined {
  const meta = live.metadata;
  const annotations = isObject(meta) && isObject(meta.annotations) ? meta.annotations : undefined;
  const raw = annotations?.[LAST_APPLIED_ANNOTATION];
  if (typeof raw !== 'string' || !raw) return undefined;
  let last: unknown;
  try {
    last = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(last) || last.apiVersion !== apiVersion) return undefined;
  const c = compareObjects(last, live, schema);
  return fieldSet(last, schema).difference(c.modified).difference(c.added).difference(c.removed);
}

function annotationsSize(a: JSONObject): number {
  let n = 0;
  for (const [k, v] of Object.entries(a)) n += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  return n;
}

/** kubectl's server-side apply keeps an existing client-side apply annotation in step. */
function syncLastApplied(obj: JSONObject, config: JSONObject): void {
  const meta = obj.metadata;
  if (!isObject(meta) || !isObject(meta.annotations) || meta.annotations[LAST_APPLIED_ANNOTATION] === undefined) return;
  const copy = clone(config);
  if (isObject(copy.metadata) && isObject(copy.metadata.annotations)) delete copy.metadata.annotations[LAST_APPLIED_ANNOTATION];
  const annotations: JSONObject = { ...meta.annotations, [LAST_APPLIED_ANNOTATION]: goJSON(copy) };
  if (annotationsSize(annotations) > MAX_ANNOTATIONS_BYTES) delete annotations[LAST_APPLIED_ANNOTATION];
  meta.annotations = annotations;
}

/**
 * Server-side apply of `applied` (the parsed apply-patch body) by `manager` onto `live`
 * (undefined when the object does not exist yet). Returns the resulting object with
 * metadata.managedFields; throws 409 Conflict listing every field another manager owns with
 * a different value, unless `force`, in which case those fields change hands.
 */
export function serverSideApply(
  live: KubeObject | undefined,
  applied: KubeObject,
  manager: string,
  force: boolean,
  schema: JsonSchema | undefined,
  apiVersion: string,
  now: string,
  options: FieldManagerOptions = {},
): KubeObject {
  if (!manager) throw errors.badRequest('fieldManager is required for apply requests');
  if (!isObject(applied)) throw errors.badRequest('error decoding YAML: the apply configuration must be an object');
  const kind = options.kind ?? live?.kind;
  if (applied.apiVersion !== apiVersion || (kind !== undefined && applied.kind !== kind)) {
    throw errors.badRequest(`invalid object type: ${gvkString(applied.apiVersion, applied.kind)}`);
  }
  const config = clone(applied) as JSONObject;
  if (config.metadata !== undefined && !isObject(config.metadata)) throw errors.badRequest('metadata must be an object');
  if (isObject(config.metadata)) delete config.metadata.managedFields;
  try {
    fieldSet(config, schema, true);
  } catch (e) {
    if (e instanceof ShapeError) {
      throw errors.badRequest(`failed to create typed patch object (${gvkString(apiVersion, kind ?? applied.kind)}): ${pathString(e.path)}: ${e.message}`);
    }
    throw e;
  }

  const reset = fieldPaths(options.resetFields ?? []);
  const subresource = options.subresource ?? '';
  const liveObj = withoutManagedFields(live);
  let owners = live ? (decodeManaged(live.metadata?.managedFields) ?? []) : [];
  if (live && owners.length === 0) {
    // An object written while untracked: whatever it holds belongs to a synthetic manager,
    // so the first applier conflicts with it instead of silently taking everything.
    owners = recordUpdate([], {}, liveObj, { manager: BEFORE_FIRST_APPLY_MANAGER, operation: 'Update', apiVersion, subresource }, now, schema, reset);
  }
  const who = { manager, operation: 'Apply', apiVersion, subresource };

  let result: ApplyResult;
  try {
    result = applyOnce(liveObj, config, owners, who, force, now, schema, reset);
  } catch (e) {
    if (!(e instanceof ApplyConflicts)) throw e;
    let conflicts = e.conflicts;
    if (manager === 'kubectl') {
      // Upgrading from client-side apply: fields that still hold the last-applied values
      // were kubectl's own and may be taken over.
      const allowed = allowedFromLastApplied(liveObj, schema, apiVersion);
      if (allowed) conflicts = conflicts.filter(c => !allowed.has(c.path));
    }
    if (conflicts.length) throw conflictError(conflicts);
    result = applyOnce(liveObj, config, owners, who, true, now, schema, reset);
  }

  const obj = result.obj;
  if (manager === 'kubectl') syncLastApplied(obj, config);
  if (!isObject(obj.metadata)) obj.metadata = {};
  const owned = capUpdateManagers(result.owners);
  const encoded = encodeManaged(owned);
  const metadata = obj.metadata as JSONObject;
  if (encoded.length) metadata.managedFields = encoded;
  else delete metadata.managedFields;
  return obj as KubeObject;
}
