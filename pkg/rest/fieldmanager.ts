// Field ownership (metadata.managedFields) and server-side apply, following the rules of
// sigs.k8s.io/structured-merge-diff as the Kubernetes API server uses them: every write
// records which manager set which fields, an apply merges a partial configuration into the
// live object, removes what the same applier stopped applying, and refuses (409) to change
// fields another manager owns unless forced.
//
// A field set is a trie of path elements in the fieldsV1 spelling: `f:<name>` for a struct
// field or map key, `k:{"key":"value"}` for an item of a list-type=map list, `v:<json>` for
// an item of a set, `i:<n>` for an index. A path is "in" the set when its last element is a
// member of its parent node; in fieldsV1 a member with children is written `".": {}`.
import type { KubeObject, ManagedFieldsEntry, StatusCause } from '../../api/meta/v1/types.ts';
import { StatusError, errors } from './errors.ts';
import {
  type JSONObject, type JSONSchema, type SchemaShape,
  clone, deepEqual, fieldSchema, isNamedField, isObject, shapeOf,
} from './patch.ts';

export type Path = readonly string[];

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
/** Owner of everything that existed before the first apply to an untracked object. */
export const BEFORE_FIRST_APPLY_MANAGER = 'before-first-apply';
/** Bucket for the oldest Update managers once there are more than MAX_UPDATE_MANAGERS. */
export const ANCIENT_CHANGES_MANAGER = 'ancient-changes';
const MAX_UPDATE_MANAGERS = 10;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Path elements

function sortedKeyJSON(fields: Array<[string, unknown]>): string {
  const sorted = [...fields].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${sorted.map(([k, v]) => `${goJSON(k)}:${goJSON(v)}`).join(',')}}`;
}

/** JSON as Go's encoding/json writes it: sorted object keys, HTML-safe escapes. */
export function goJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goJSON).join(',')}]`;
  if (isObject(v)) return sortedKeyJSON(Object.entries(v).filter(([, x]) => x !== undefined));
  return (JSON.stringify(v) ?? 'null')
    .replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export const pe = {
  field: (name: string): string => `f:${name}`,
  key: (fields: Array<[string, unknown]>): string => `k:${sortedKeyJSON(fields)}`,
  value: (v: unknown): string => `v:${goJSON(v)}`,
  index: (i: number): string => `i:${i}`,
};

type DecodedPE =
  | { t: 0; name: string }
  | { t: 1; fields: Array<[string, unknown]> }
  | { t: 2; value: unknown }
  | { t: 3; index: number };

const peCache = new Map<string, DecodedPE>();

function decodePE(s: string): DecodedPE {
  const hit = peCache.get(s);
  if (hit) return hit;
  if (s.length < 2 || s[1] !== ':') throw new Error(`invalid path element ${JSON.stringify(s)}`);
  const body = s.slice(2);
  let d: DecodedPE;
  switch (s[0]) {
    case 'f': d = { t: 0, name: body }; break;
    case 'k': {
      const o: unknown = JSON.parse(body);
      if (!isObject(o)) throw new Error(`invalid key path element ${JSON.stringify(s)}`);
      d = { t: 1, fields: Object.entries(o).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) };
      break;
    }
    case 'v': d = { t: 2, value: JSON.parse(body) as unknown }; break;
    case 'i': {
      if (!/^-?\d+$/.test(body)) throw new Error(`invalid index path element ${JSON.stringify(s)}`);
      d = { t: 3, index: Number(body) };
      break;
    }
    default: throw new Error(`unknown path element type in ${JSON.stringify(s)}`);
  }
  if (peCache.size > 10000) peCache.clear();
  peCache.set(s, d);
  return d;
}

function strCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** structured-merge-diff's total order of values: numbers, strings, bools, lists, maps, null. */
function valueCompare(a: unknown, b: unknown): number {
  const rank = (v: unknown): number =>
    typeof v === 'number' ? 0 : typeof v === 'string' ? 1 : typeof v === 'boolean' ? 2 : Array.isArray(v) ? 3 : isObject(v) ? 4 : 5;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0: return (a as number) - (b as number);
    case 1: return strCompare(a as string, b as string);
    case 2: return Number(a) - Number(b);
    case 3: {
      const la = a as unknown[];
      const lb = b as unknown[];
      for (let i = 0; i < Math.min(la.length, lb.length); i++) {
        const c = valueCompare(la[i], lb[i]);
        if (c) return c;
      }
      return la.length - lb.length;
    }
    case 4: return strCompare(goJSON(a), goJSON(b));
    default: return 0;
  }
}

export function comparePE(a: string, b: string): number {
  if (a === b) return 0;
  const da = decodePE(a);
  const db = decodePE(b);
  if (da.t !== db.t) return da.t - db.t;
  switch (da.t) {
    case 0: return strCompare(da.name, (db as { name: string }).name);
    case 1: {
      const fb = (db as { fields: Array<[string, unknown]> }).fields;
      for (let i = 0; ; i++) {
        if (i >= da.fields.length && i >= fb.length) return 0;
        if (i >= da.fields.length) return -1;
        if (i >= fb.length) return 1;
        const c = strCompare(da.fields[i][0], fb[i][0]) || valueCompare(da.fields[i][1], fb[i][1]);
        if (c) return c;
      }
    }
    case 2: return valueCompare(da.value, (db as { value: unknown }).value);
    case 3: return da.index - (db as { index: number }).index;
  }
}

function comparePaths(a: Path, b: Path): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = comparePE(a[i], b[i]);
    if (c) return c;
  }
  return a.length - b.length;
}

/** Go's value.ToString, used in conflict messages. */
function valueToString(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(valueToString).join(',')}]`;
  if (isObject(v)) return Object.entries(v).map(([k, x]) => `${k}=${valueToString(x)}`).join('');
  return String(v);
}

/** A path the way Kubernetes prints it: `.spec.list[name="a"].value`, `.spec.set[="x"]`. */
export function pathString(path: Path): string {
  return path.map(s => {
    const d = decodePE(s);
    switch (d.t) {
      case 0: return `.${d.name}`;
      case 1: return `[${d.fields.map(([k, v]) => `${k}=${valueToString(v)}`).join(',')}]`;
      case 2: return `[=${valueToString(d.value)}]`;
      case 3: return `[${d.index}]`;
    }
  }).join('');
}

// ---------------------------------------------------------------------------------------------
// Field sets

export class FieldSet {
  private readonly members = new Set<string>();
  private readonly children = new Map<string, FieldSet>();

  static of(paths: Iterable<Path>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  insert(path: Path): this {
    if (path.length === 0) return this;
    let node: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) {
      let next = node.children.get(path[i]);
      if (!next) {
        next = new FieldSet();
        node.children.set(path[i], next);
      }
      node = next;
    }
    node.members.add(path[path.length - 1]);
    return this;
  }

  has(path: Path): boolean {
    if (path.length === 0) return false;
    let node: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && node; i++) node = node.children.get(path[i]);
    return !!node && node.members.has(path[path.length - 1]);
  }

  hasMember(element: string): boolean {
    return this.members.has(element);
  }

  child(element: string): FieldSet | undefined {
    return this.children.get(element);
  }

  empty(): boolean {
    if (this.members.size) return false;
    for (const c of this.children.values()) if (!c.empty()) return false;
    return true;
  }

  private static build(members: Iterable<string>, children: Iterable<[string, FieldSet]>): FieldSet {
    const s = new FieldSet();
    for (const m of members) s.members.add(m);
    for (const [k, c] of children) if (!c.empty()) s.children.set(k, c);
    return s;
  }

  union(o: FieldSet): FieldSet {
    const kids: Array<[string, FieldSet]> = [];
    for (const k of new Set([...this.children.keys(), ...o.children.keys()])) {
      const a = this.children.get(k);
      const b = o.children.get(k);
      kids.push([k, a && b ? a.union(b) : (a ?? b ?? new FieldSet()).clone()]);
    }
    return FieldSet.build([...this.members, ...o.members], kids);
  }

  intersection(o: FieldSet): FieldSet {
    const kids: Array<[string, FieldSet]> = [];
    for (const [k, a] of this.children) {
      const b = o.children.get(k);
      if (b) kids.push([k, a.intersection(b)]);
    }
    return FieldSet.build([...this.members].filter(m => o.members.has(m)), kids);
  }

  difference(o: FieldSet): FieldSet {
    const kids: Array<[string, FieldSet]> = [];
    for (const [k, a] of this.children) {
      const b = o.children.get(k);
      kids.push([k, b ? a.difference(b) : a.clone()]);
    }
    return FieldSet.build([...this.members].filter(m => !o.members.has(m)), kids);
  }

  /** Removes every path of `o` and everything below those paths. */
  recursiveDifference(o: FieldSet): FieldSet {
    const kids: Array<[string, FieldSet]> = [];
    for (const [k, a] of this.children) {
      if (o.members.has(k)) continue;
      const b = o.children.get(k);
      kids.push([k, b ? a.recursiveDifference(b) : a.clone()]);
    }
    return FieldSet.build([...this.members].filter(m => !o.members.has(m)), kids);
  }

  clone(): FieldSet {
    return FieldSet.build(this.members, [...this.children].map(([k, c]) => [k, c.clone()] as [string, FieldSet]));
  }

  equals(o: FieldSet): boolean {
    return this.difference(o).empty() && o.difference(this).empty();
  }

  /** Every path in the set, in Kubernetes' order. */
  paths(): Path[] {
    const out: Path[] = [];
    const walk = (node: FieldSet, prefix: string[]): void => {
      const keys = [...new Set([...node.members, ...node.children.keys()])].sort(comparePE);
      for (const k of keys) {
        if (node.members.has(k)) out.push([...prefix, k]);
        const c = node.children.get(k);
        if (c) walk(c, [...prefix, k]);
      }
    };
    walk(this, []);
    return out;
  }

  /** The `fieldsV1` JSON of metadata.managedFields. */
  toFieldsV1(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const keys = [...new Set([...this.members, ...this.children.keys()])].sort(comparePE);
    for (const k of keys) {
      const c = this.children.get(k);
      if (!c) out[k] = {};
      else out[k] = this.members.has(k) ? { '.': {}, ...c.toFieldsV1() } : c.toFieldsV1();
    }
    return out;
  }

  static fromFieldsV1(json: unknown): FieldSet {
    if (!isObject(json)) throw new Error('fieldsV1 must be a JSON object');
    const s = new FieldSet();
    for (const [k, v] of Object.entries(json)) {
      if (k === '.') continue;
      decodePE(k);
      if (!isObject(v)) throw new Error(`fieldsV1 entry ${JSON.stringify(k)} must be a JSON object`);
      const keys = Object.keys(v);
      if (keys.length === 0 || Object.prototype.hasOwnProperty.call(v, '.')) s.members.add(k);
      if (keys.some(x => x !== '.')) {
        const c = FieldSet.fromFieldsV1(v);
        if (!c.empty()) s.children.set(k, c);
      }
    }
    return s;
  }
}

export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  return set.toFieldsV1();
}

export function fromFieldsV1(json: unknown): FieldSet {
  return FieldSet.fromFieldsV1(json);
}

/** Parses `status`, `spec.foo` style field paths (as strategies declare reset fields). */
export function fieldPaths(paths: Iterable<string | Path>): FieldSet {
  const set = new FieldSet();
  for (const p of paths) set.insert(typeof p === 'string' ? p.split('.').filter(Boolean).map(pe.field) : p);
  return set;
}

// ---------------------------------------------------------------------------------------------
// Lists

interface ListInfo { type: 'atomic' | 'set' | 'map'; keys: string[] }

function listInfo(schema: JSONSchema | undefined): ListInfo {
  if (!schema) return { type: 'atomic', keys: [] };
  const lt = schema['x-kubernetes-list-type'];
  const mergeKey = schema['x-kubernetes-patch-merge-key'];
  if (lt === 'map') {
    const keys = schema['x-kubernetes-list-map-keys'] ?? (typeof mergeKey === 'string' && mergeKey ? [mergeKey] : []);
    return keys.length ? { type: 'map', keys } : { type: 'set', keys: [] };
  }
  if (lt === 'set') return { type: 'set', keys: [] };
  if (lt === 'atomic') return { type: 'atomic', keys: [] };
  // Without a list type, Kubernetes derives the semantics from the strategic-merge tags.
  const strategy = schema['x-kubernetes-patch-strategy'];
  if (typeof strategy === 'string' && strategy.split(',').includes('merge')) {
    return typeof mergeKey === 'string' && mergeKey ? { type: 'map', keys: [mergeKey] } : { type: 'set', keys: [] };
  }
  return { type: 'atomic', keys: [] };
}

class ShapeError extends Error {
  constructor(readonly path: Path, message: string) { super(message); }
}

/**
 * The path element of every item of a granular list, or undefined when the list cannot be
 * keyed (malformed live data is then treated as atomic; `strict` turns that into an error).
 */
function itemElements(items: unknown[], info: ListInfo, elem: JSONSchema | undefined, path: Path, strict: boolean): string[] | undefined {
  const out: string[] = [];
  const seen = new Set<string>();
  const elemShape = shapeOf(elem);
  for (const item of items) {
    let element: string;
    if (info.type === 'map') {
      if (!isObject(item)) {
        if (strict) throw new ShapeError(path, 'associative list with keys may not have non-map elements');
        return undefined;
      }
      const fields: Array<[string, unknown]> = [];
      for (const k of info.keys) {
        let v = item[k];
        if (v === undefined && elemShape.kind === 'object') v = elemShape.properties[k]?.default;
        if (v === undefined) {
          if (strict) throw new ShapeError(path, `associative list with keys has an element that omits key field ${JSON.stringify(k)} (and doesn't have default value)`);
          return undefined;
        }
        fields.push([k, v]);
      }
      element = pe.key(fields);
    } else {
      if (isObject(item) || Array.isArray(item) || item === null) {
        if (strict) throw new ShapeError(path, isObject(item) ? "associative list without keys has an element that's a map type" : item === null ? "associative list without keys has an element that's an explicit null" : 'not supported: associative list with lists as elements');
        return undefined;
      }
      element = pe.value(item);
    }
    if (strict && seen.has(element)) throw new ShapeError(path, `duplicate entries for key ${pathString([element])}`);
    seen.add(element);
    out.push(element);
  }
  return out;
}

function arrayItems(shape: SchemaShape): JSONSchema | undefined {
  return shape.kind === 'array' ? shape.items : undefined;
}

function listOf(shape: SchemaShape): ListInfo {
  return shape.kind === 'array' ? listInfo(shape.schema) : { type: 'atomic', keys: [] };
}

function isGranularObject(shape: SchemaShape, v: unknown): v is JSONObject {
  return isObject(v) && (shape.kind === 'object' ? !shape.atomic : shape.kind === 'unknown');
}

function isGranularArray(shape: SchemaShape, v: unknown): v is unknown[] {
  return Array.isArray(v) && shape.kind === 'array' && listInfo(shape.schema).type !== 'atomic';
}

// ---------------------------------------------------------------------------------------------
// Object -> field set

/**
 * The fields an object (or a partial apply configuration) sets: leaves, map entries, list
 * items; struct fields only when null or empty. `strict` rejects list items that cannot be
 * keyed or are duplicated, as an apply configuration must not contain them.
 */
export function fieldSet(obj: unknown, schema: JSONSchema | undefined, strict = false): FieldSet {
  const set = new FieldSet();
  collect(obj, schema, [], set, strict);
  return set;
}

function collect(value: unknown, schema: JSONSchema | undefined, path: string[], set: FieldSet, strict: boolean): void {
  const shape = shapeOf(schema, value);
  if (isObject(value) && (shape.kind === 'object' || shape.kind === 'unknown')) {
    if (shape.kind === 'object' && shape.atomic) {
      set.insert(path);
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      // Merging a "__proto__" member would replace the prototype of the merged object.
      if (strict && k === '__proto__') throw new ShapeError(path, 'field name "__proto__" is not allowed');
      const child = [...path, pe.field(k)];
      collect(v, fieldSchema(shape, k), child, set, strict);
      if (v === null || (isObject(v) && Object.keys(v).length === 0) || !isNamedField(shape, k)) set.insert(child);
    }
    return;
  }
  if (isGranularArray(shape, value)) {
    const info = listOf(shape);
    const elements = itemElements(value, info, arrayItems(shape), path, strict);
    if (!elements) {
      set.insert(path);
      return;
    }
    value.forEach((item, i) => {
      const child = [...path, elements[i]];
      collect(item, arrayItems(shape), child, set, strict);
      set.insert(child);
    });
    return;
  }
  if (value !== undefined) set.insert(path);
}

// ---------------------------------------------------------------------------------------------
// Comparison of two objects

interface Comparison { added: FieldSet; removed: FieldSet; modified: FieldSet }

function compareObjects(lhs: unknown, rhs: unknown, schema: JSONSchema | undefined): Comparison {
  const c: Comparison = { added: new FieldSet(), removed: new FieldSet(), modified: new FieldSet() };
  compareNode(lhs, rhs, schema, [], true, c);
  return c;
}

function containerKind(v: unknown): 'object' | 'array' | 'scalar' {
  return isObject(v) ? 'object' : Array.isArray(v) ? 'array' : 'scalar';
}

/**
 * Whether an added or removed container is itself a field. Structs that are declared
 * fields are not: Kubernetes starts from a zero-valued object in which they already exist.
 */
function recordsItself(shape: SchemaShape, value: unknown, named: boolean): boolean {
  if (!named) return true;
  if (isObject(value)) return !(shape.kind === 'object' && Object.keys(shape.properties).length > 0);
  return true;
}

function compareNode(lhs: unknown, rhs: unknown, schema: JSONSchema | undefined, path: string[], named: boolean, c: Comparison): void {
  const probe = rhs !== undefined ? rhs : lhs;
  const shape = shapeOf(schema, probe);
  if (lhs !== undefined && rhs !== undefined && containerKind(lhs) !== containerKind(rhs)) {
    if (path.length) c.modified.insert(path);
    const lc = new FieldSet();
    const rc = new FieldSet();
    collect(lhs, schema, path, lc, false);
    collect(rhs, schema, path, rc, false);
    for (const p of lc.paths()) if (p.length > path.length) c.removed.insert(p);
    for (const p of rc.paths()) if (p.length > path.length) c.added.insert(p);
    return;
  }
  if (isGranularObject(shape, probe)) {
    const l = isObject(lhs) ? lhs : undefined;
    const r = isObject(rhs) ? rhs : undefined;
    const keys = new Set([...Object.keys(l ?? {}), ...Object.keys(r ?? {})]);
    for (const k of keys) {
      const lv = l?.[k];
      const rv = r?.[k];
      if (lv === undefined && rv === undefined) continue;
      compareNode(lv, rv, fieldSchema(shape, k), [...path, pe.field(k)], isNamedField(shape, k), c);
    }
    if (path.length && recordsItself(shape, probe, named)) {
      if (lhs === undefined) c.added.insert(path);
      else if (rhs === undefined) c.removed.insert(path);
    }
    return;
  }
  if (isGranularArray(shape, probe)) {
    const info = listOf(shape);
    const elem = arrayItems(shape);
    const l = Array.isArray(lhs) ? lhs : [];
    const r = Array.isArray(rhs) ? rhs : [];
    const le = itemElements(l, info, elem, path, false);
    const re = itemElements(r, info, elem, path, false);
    if (le && re) {
      const lm = new Map<string, unknown>();
      le.forEach((e, i) => { if (!lm.has(e)) lm.set(e, l[i]); });
      const rm = new Map<string, unknown>();
      re.forEach((e, i) => { if (!rm.has(e)) rm.set(e, r[i]); });
      for (const e of new Set([...le, ...re])) compareNode(lm.get(e), rm.get(e), elem, [...path, e], false, c);
      if (path.length) {
        if (lhs === undefined) c.added.insert(path);
        else if (rhs === undefined) c.removed.insert(path);
      }
      return;
    }
  }
  if (!path.length) return;
  if (lhs === undefined) c.added.insert(path);
  else if (rhs === undefined) c.removed.insert(path);
  else if (!deepEqual(lhs, rhs)) c.modified.insert(path);
}

// ---------------------------------------------------------------------------------------------
// Merging an apply configuration into the live object

function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (isObject(v)) {
    const out: JSONObject = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = withoutNulls(x);
    return out;
  }
  return v;
}

function mergeValues(lhs: unknown, rhs: unknown, schema: JSONSchema | undefined, path: string[]): unknown {
  if (rhs === undefined) return lhs;
  if (lhs === undefined || lhs === null) return withoutNulls(clone(rhs));
  const shape = shapeOf(schema, rhs);
  if (isGranularObject(shape, rhs) && isObject(lhs)) {
    const out: JSONObject = { ...lhs };
    for (const [k, v] of Object.entries(rhs)) {
      // A null in the configuration claims the field and leaves it unset, as a typed
      // Kubernetes object cannot hold null.
      if (v === null) delete out[k];
      else if (v !== undefined) out[k] = mergeValues(lhs[k], v, fieldSchema(shape, k), [...path, pe.field(k)]);
    }
    return out;
  }
  if (isGranularArray(shape, rhs) && Array.isArray(lhs)) return mergeLists(lhs, rhs, shape, path);
  return withoutNulls(clone(rhs));
}

/**
 * structured-merge-diff's list merge: live-only items keep their place, items present in
 * both are merged and follow the configuration's order, new items go where the
 * configuration puts them.
 */
function mergeLists(lhs: unknown[], rhs: unknown[], shape: SchemaShape, path: string[]): unknown[] {
  const info = listOf(shape);
  const elem = arrayItems(shape);
  const re = itemElements(rhs, info, elem, path, true) as string[];
  const le = itemElements(lhs, info, elem, path, false);
  if (!le) return withoutNulls(clone(rhs)) as unknown[];

  const observedL = new Map<string, unknown>();
  const duplicated = new Set<string>();
  le.forEach((e, i) => {
    if (observedL.has(e)) duplicated.add(e);
    observedL.set(e, lhs[i]);
  });
  const observedR = new Map<string, unknown>();
  re.forEach((e, i) => observedR.set(e, rhs[i]));
  const liveItem = (e: string): unknown => (duplicated.has(e) ? undefined : observedL.get(e));

  const shared = re.filter(e => observedL.has(e));
  let nextShared = shared.shift();
  const mergedR = new Set<string>();
  const out: unknown[] = [];
  let li = 0;
  let ri = 0;
  while (li < le.length || ri < re.length) {
    if (li < le.length && ri < re.length) {
      const e = le[li];
      if (e === re[ri]) {
        if (!mergedR.has(e)) {
          mergedR.add(e);
          out.push(mergeValues(liveItem(e), observedR.get(e), elem, [...path, e]));
        }
        li++;
        ri++;
        nextShared = shared.shift();
        continue;
      }
      if (observedR.has(e) && nextShared !== undefined && nextShared !== e) {
        li++;
        continue;
      }
    }
    if (li < le.length) {
      const e = le[li];
      if (!observedR.has(e)) {
        out.push(lhs[li]);
        li++;
        continue;
      }
      if (mergedR.has(e)) {
        li++;
        continue;
      }
    }
    if (ri < re.length) {
      const e = re[ri];
      if (!mergedR.has(e)) {
        mergedR.add(e);
        out.push(mergeValues(liveItem(e), observedR.get(e), elem, [...path, e]));
      }
      ri++;
      if (nextShared === e) nextShared = shared.shift();
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pruning what an applier stopped applying

/** Never removed by pruning, whoever owned them: identity and metadata live outside ownership. */
const PRUNE_PROTECTED = new Set(['f:apiVersion', 'f:kind', 'f:metadata']);

function removeField(obj: JSONObject, key: string, shape: SchemaShape): void {
  // A required struct or list is left empty rather than absent, as a Go zero value would be.
  if (shape.kind === 'object' && shape.required.has(key)) {
    const s = shapeOf(fieldSchema(shape, key));
    if (s.kind === 'object') { obj[key] = {}; return; }
    if (s.kind === 'array') { obj[key] = []; return; }
  }
  delete obj[key];
}

function isEmptyContainer(v: unknown): boolean {
  return (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
}

/**
 * Removes from `value` (in place) every field, map entry and list item that the applier
 * owned last time (`last`) and nobody owns now (`owned`, which includes the applier's new
 * configuration). A declared struct field counts as owned when anything below it is.
 */
function prune(value: unknown, schema: JSONSchema | undefined, last: FieldSet, owned: FieldSet | undefined, root: boolean): void {
  const shape = shapeOf(schema, value);
  if (isGranularObject(shape, value)) {
    for (const k of Object.keys(value)) {
      const element = pe.field(k);
      const named = isNamedField(shape, k);
      const lastChild = last.child(element);
      const ownedChild = owned?.child(element);
      const inLast = last.hasMember(element) || (named && lastChild !== undefined);
      const inOwned = !!owned && (owned.hasMember(element) || (named && ownedChild !== undefined));
      if (inLast && !inOwned && !(root && PRUNE_PROTECTED.has(element))) {
        removeField(value, k, shape);
        continue;
      }
      const v = value[k];
      if (lastChild && (isObject(v) || Array.isArray(v)) && !isEmptyContainer(v)) {
        prune(v, fieldSchema(shape, k), lastChild, ownedChild, false);
        if (isEmptyContainer(v) && !(root && PRUNE_PROTECTED.has(element))) removeField(value, k, shape);
      }
    }
    return;
  }
  if (isGranularArray(shape, value)) {
    const elem = arrayItems(shape);
    const elements = itemElements(value, listOf(shape), elem, [], false);
    if (!elements) return;
    const kept: unknown[] = [];
    value.forEach((item, i) => {
      const element = elements[i];
      if (last.hasMember(element) && !owned?.hasMember(element)) return;
      const lastChild = last.child(element);
      if (lastChild && (isObject(item) || Array.isArray(item))) prune(item, elem, lastChild, owned?.child(element), false);
      kept.push(item);
    });
    value.splice(0, value.length, ...kept);
  }
}

// ---------------------------------------------------------------------------------------------
// Managers

interface Owner {
  manager: string;
  operation: string;
  apiVersion: string;
  subresource: string;
  time?: string;
  set: FieldSet;
}

/** Kubernetes' manager identifier: Apply entries are one per manager whatever the version. */
function ownerId(o: Pick<Owner, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  const id: Record<string, string> = {};
  if (o.manager) id.manager = o.manager;
  if (o.operation) id.operation = o.operation;
  if (o.apiVersion && o.operation !== 'Apply') id.apiVersion = o.apiVersion;
  if (o.subresource) id.subresource = o.subresource;
  return JSON.stringify(id);
}

function printManager(o: Owner): string {
  let s = JSON.stringify(o.manager);
  if (o.subresource) s += ` with subresource ${JSON.stringify(o.subresource)}`;
  if (o.operation === 'Update') s += ` using ${o.apiVersion}`;
  return s;
}

/** Decodes metadata.managedFields; undefined when any entry is malformed. */
function decodeManaged(entries: ManagedFieldsEntry[] | undefined): Owner[] | undefined {
  if (!entries) return [];
  if (!Array.isArray(entries)) return undefined;
  const byId = new Map<string, Owner>();
  try {
    for (const e of entries) {
      if (!isObject(e)) return undefined;
      const owner: Owner = {
        manager: e.manager ?? '',
        operation: e.operation ?? '',
        apiVersion: e.apiVersion ?? '',
        subresource: e.subresource ?? '',
        time: e.time,
        set: e.fieldsV1 === undefined || e.fieldsV1 === null ? new FieldSet() : FieldSet.fromFieldsV1(e.fieldsV1),
      };
      byId.set(ownerId(owner), owner);
    }
  } catch {
    return undefined;
  }
  return [...byId.values()];
}

function seconds(t: string | undefined): number {
  if (!t) return 0;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

function encodeManaged(owners: Owner[]): ManagedFieldsEntry[] {
  const sorted = owners.filter(o => !o.set.empty()).sort((p, q) =>
    strCompare(p.operation, q.operation) || seconds(p.time) - seconds(q.time) ||
    strCompare(p.manager, q.manager) || strCompare(p.apiVersion, q.apiVersion) || strCompare(p.subresource, q.subresource));
  return sorted.map(o => {
    const e: ManagedFieldsEntry = { manager: o.manager, operation: o.operation, apiVersion: o.apiVersion };
    if (o.time) e.time = o.time;
    e.fieldsType = 'FieldsV1';
    e.fieldsV1 = o.set.toFieldsV1();
    if (o.subresource) e.subresource = o.subresource;
    return e;
  });
}

/** System metadata that nobody owns (Kubernetes' strip set). */
const STRIPPED = FieldSet.of([
  ['f:apiVersion'], ['f:kind'], ['f:metadata'],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion']
    .map(f => ['f:metadata', pe.field(f)]),
]);

/** Folds the oldest Update entries into one `ancient-changes` entry per version. */
function capUpdateManagers(owners: Owner[]): Owner[] {
  const updaters = owners.filter(o => o.operation !== 'Apply');
  if (updaters.length <= MAX_UPDATE_MANAGERS) return owners;
  updaters.sort((a, b) => seconds(a.time) - seconds(b.time) || strCompare(ownerId(a), ownerId(b)));
  let result = owners.slice();
  const firstOfVersion = new Map<string, Owner>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > MAX_UPDATE_MANAGERS; i++) {
    const o = updaters[i];
    const first = firstOfVersion.get(o.apiVersion);
    if (!first) {
      firstOfVersion.set(o.apiVersion, o);
      continue;
    }
    const bucketId = ownerId({ manager: ANCIENT_CHANGES_MANAGER, operation: 'Update', apiVersion: o.apiVersion, subresource: '' });
    let bucket = result.find(r => ownerId(r) === bucketId);
    if (!bucket) {
      bucket = { ...first, manager: ANCIENT_CHANGES_MANAGER, operation: 'Update', subresource: '' };
      result = result.filter(r => r !== first);
      result.push(bucket);
    }
    bucket.set = bucket.set.union(o.set);
    bucket.time = o.time;
    result = result.filter(r => r !== o);
    length--;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Options shared by Update and Apply

export interface FieldManagerOptions {
  /** The kind's schema: list keys and map/struct distinctions. Without it lists are atomic. */
  schema?: JSONSchema;
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

function comparison(oldObj: unknown, newObj: unknown, schema: JSONSchema | undefined, reset: FieldSet): Comparison {
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
function recordUpdate(owners: Owner[], oldObj: unknown, newObj: unknown, who: Omit<Owner, 'set' | 'time'>, now: string, schema: JSONSchema | undefined, reset: FieldSet): Owner[] {
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
  let owners = fromRequest && fromRequest.length ? fromRequest : decodeManaged(oldObj?.metadata?.managedFields) ?? [];
  delete out.metadata.managedFields;
  if (owners.length === 0 && oldObj !== undefined) return out;

  const reset = fieldPaths(options.resetFields ?? []);
  owners = recordUpdate(owners, withoutManagedFields(oldObj), withoutManagedFields(out), {
    manager, operation, apiVersion, subresource: subresource ?? '',
  }, now, options.schema, reset);
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

interface Conflict { owner: Owner; path: Path }

class ApplyConflicts extends Error {
  constructor(readonly conflicts: Conflict[]) { super('apply conflicts'); }
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

interface ApplyResult { obj: JSONObject; owners: Owner[]; changed: boolean }

function applyOnce(live: JSONObject, config: JSONObject, owners: Owner[], who: Omit<Owner, 'set' | 'time'>, force: boolean, now: string, schema: JSONSchema | undefined, reset: FieldSet): ApplyResult {
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
function allowedFromLastApplied(live: JSONObject, schema: JSONSchema | undefined, apiVersion: string): FieldSet | undefined {
  const meta = live.metadata;
  const annotations = isObject(meta) && isObject(meta.annotations) ? meta.annotations : undefined;
  const raw = annotations?.[LAST_APPLIED_ANNOTATION];
  if (typeof raw !== 'string' || !raw) return undefined;
  let last: unknown;
  try { last = JSON.parse(raw); } catch { return undefined; }
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
  schema: JSONSchema | undefined,
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
  let owners = live ? decodeManaged(live.metadata?.managedFields) ?? [] : [];
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
