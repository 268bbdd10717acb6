// What a schema says about an object's fields, as structured-merge-diff's typed and merge
// packages do it: the field set an object sets, the comparison of two objects, the merge of an
// apply configuration into the live object, and pruning what an applier stopped applying.
import { isObject, type JsonSchema } from '../../openapi/schema.ts';
import { type ListInfo, type SchemaShape, embedded, fieldSchema, isNamedField, itemSchema } from '../../openapi/walk.ts';
import { type JSONObject, clone, deepEqual } from '../patch.ts';
import { FieldSet, type Path, pathString, pe } from './fieldpath.ts';

// ---------------------------------------------------------------------------------------------
// Lists

export class ShapeError extends Error {
  constructor(
    readonly path: Path,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The path element of every item of a granular list, or undefined when the list cannot be
 * keyed (malformed live data is then treated as atomic; `strict` turns that into an error).
 */
export function itemElements(items: unknown[], info: ListInfo, elem: JsonSchema | undefined, path: Path, strict: boolean): string[] | undefined {
  const out: string[] = [];
  const seen = new Set<string>();
  const elemShape = embedded.shape(elem);
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
        if (v === undefined && elemShape.kind === 'object') v = elemShape.properties[k]?.['default'];
        if (v === undefined) {
          if (strict)
            throw new ShapeError(path, `associative list with keys has an element that omits key field ${JSON.stringify(k)} (and doesn't have default value)`);
          return undefined;
        }
        fields.push([k, v]);
      }
      element = pe.key(fields);
    } else {
      if (isObject(item) || Array.isArray(item) || item === null) {
        if (strict)
          throw new ShapeError(
            path,
            isObject(item)
              ? "associative list without keys has an element that's a map type"
              : item === null
                ? "associative list without keys has an element that's an explicit null"
                : 'not supported: associative list with lists as elements',
          );
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

export function isGranularObject(shape: SchemaShape, v: unknown): v is JSONObject {
  return isObject(v) && (shape.kind === 'object' ? !shape.atomic : shape.kind === 'unknown');
}

export function isGranularArray(shape: SchemaShape, v: unknown): v is unknown[] {
  return Array.isArray(v) && shape.kind === 'array' && embedded.listOf(shape).type !== 'atomic';
}

// ---------------------------------------------------------------------------------------------
// Object -> field set

/**
 * The fields an object (or a partial apply configuration) sets: leaves, map entries, list
 * items; struct fields only when null or empty. `strict` rejects list items that cannot be
 * keyed or are duplicated, as an apply configuration must not contain them.
 */
export function fieldSet(obj: unknown, schema: JsonSchema | undefined, strict = false): FieldSet {
  const set = new FieldSet();
  collect(obj, schema, [], set, strict);
  return set;
}

export function collect(value: unknown, schema: JsonSchema | undefined, path: string[], set: FieldSet, strict: boolean): void {
  const shape = embedded.shape(schema, value);
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
    const info = embedded.listOf(shape);
    const elements = itemElements(value, info, itemSchema(shape), path, strict);
    if (!elements) {
      set.insert(path);
      return;
    }
    value.forEach((item, i) => {
      const child = [...path, elements[i]];
      collect(item, itemSchema(shape), child, set, strict);
      set.insert(child);
    });
    return;
  }
  if (value !== undefined) set.insert(path);
}

// ---------------------------------------------------------------------------------------------
// Comparison of two objects

export interface Comparison {
  added: FieldSet;
  removed: FieldSet;
  modified: FieldSet;
}

export function compareObjects(lhs: unknown, rhs: unknown, schema: JsonSchema | undefined): Comparison {
  const c: Comparison = { added: new FieldSet(), removed: new FieldSet(), modified: new FieldSet() };
  compareNode(lhs, rhs, schema, [], true, c);
  return c;
}

export function containerKind(v: unknown): 'object' | 'array' | 'scalar' {
  return isObject(v) ? 'object' : Array.isArray(v) ? 'array' : 'scalar';
}

/**
 * Whether an added or removed container is itself a field. Structs that are declared
 * fields are not: Kubernetes starts from a zero-valued object in which they already exist.
 */
export function recordsItself(shape: SchemaShape, value: unknown, named: boolean): boolean {
  if (!named) return true;
  if (isObject(value)) return !(shape.kind === 'object' && Object.keys(shape.properties).length > 0);
  return true;
}

export function compareNode(lhs: unknown, rhs: unknown, schema: JsonSchema | undefined, path: string[], named: boolean, c: Comparison): void {
  const probe = rhs !== undefined ? rhs : lhs;
  const shape = embedded.shape(schema, probe);
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
    const info = embedded.listOf(shape);
    const elem = itemSchema(shape);
    const l = Array.isArray(lhs) ? lhs : [];
    const r = Array.isArray(rhs) ? rhs : [];
    const le = itemElements(l, info, elem, path, false);
    const re = itemElements(r, info, elem, path, false);
    if (le && re) {
      const lm = new Map<string, unknown>();
      le.forEach((e, i) => {
        if (!lm.has(e)) lm.set(e, l[i]);
      });
      const rm = new Map<string, unknown>();
      re.forEach((e, i) => {
        if (!rm.has(e)) rm.set(e, r[i]);
      });
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

export function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (isObject(v)) {
    const out: JSONObject = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = withoutNulls(x);
    return out;
  }
  return v;
}

export function mergeValues(lhs: unknown, rhs: unknown, schema: JsonSchema | undefined, path: string[]): unknown {
  if (rhs === undefined) return lhs;
  if (lhs === undefined || lhs === null) return withoutNulls(clone(rhs));
  const shape = embedded.shape(schema, rhs);
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
export function mergeLists(lhs: unknown[], rhs: unknown[], shape: SchemaShape, path: string[]): unknown[] {
  const info = embedded.listOf(shape);
  const elem = itemSchema(shape);
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
  re.forEach((e, i) => {
    observedR.set(e, rhs[i]);
  });
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
export const PRUNE_PROTECTED = new Set(['f:apiVersion', 'f:kind', 'f:metadata']);

export function removeField(obj: JSONObject, key: string, shape: SchemaShape): void {
  // A required struct or list is left empty rather than absent, as a Go zero value would be.
  if (shape.kind === 'object' && shape.required.has(key)) {
    const s = embedded.shape(fieldSchema(shape, key));
    if (s.kind === 'object') {
      obj[key] = {};
      return;
    }
    if (s.kind === 'array') {
      obj[key] = [];
      return;
    }
  }
  delete obj[key];
}

export function isEmptyContainer(v: unknown): boolean {
  return (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
}

/**
 * Removes from `value` (in place) every field, map entry and list item that the applier
 * owned last time (`last`) and nobody owns now (`owned`, which includes the applier's new
 * configuration). A declared struct field counts as owned when anything below it is.
 */
export function prune(value: unknown, schema: JsonSchema | undefined, last: FieldSet, owned: FieldSet | undefined, root: boolean): void {
  const shape = embedded.shape(schema, value);
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
    const elem = itemSchema(shape);
    const elements = itemElements(value, embedded.listOf(shape), elem, [], false);
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
