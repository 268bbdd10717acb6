// Path elements and field sets, as structured-merge-diff's fieldpath package has them. A field set
// is a trie of path elements in the fieldsV1 spelling: `f:<name>` for a struct field or map key,
// `k:{"key":"value"}` for an item of a list-type=map list, `v:<json>` for an item of a set, `i:<n>`
// for an index. A path is "in" the set when its last element is a member of its parent node; in
// fieldsV1 a member with children is written `".": {}`.
import { LRUCache } from 'lru-cache';
import { isObject } from '../../openapi/schema.ts';

export type Path = readonly string[];

// ---------------------------------------------------------------------------------------------
// Path elements

export function sortedKeyJSON(fields: Array<[string, unknown]>): string {
  const sorted = [...fields].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${sorted.map(([k, v]) => `${goJSON(k)}:${goJSON(v)}`).join(',')}}`;
}

/** JSON as Go's encoding/json writes it: sorted object keys, HTML-safe escapes. */
export function goJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goJSON).join(',')}]`;
  if (isObject(v)) return sortedKeyJSON(Object.entries(v).filter(([, x]) => x !== undefined));
  return (JSON.stringify(v) ?? 'null')
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export const pe = {
  field: (name: string): string => `f:${name}`,
  key: (fields: Array<[string, unknown]>): string => `k:${sortedKeyJSON(fields)}`,
  value: (v: unknown): string => `v:${goJSON(v)}`,
  index: (i: number): string => `i:${i}`,
};

export type DecodedPE = { t: 0; name: string } | { t: 1; fields: Array<[string, unknown]> } | { t: 2; value: unknown } | { t: 3; index: number };

/** Path elements recur across every object of a kind: each is parsed once. */
const peCache = new LRUCache<string, DecodedPE>({ max: 10_000 });

export function decodePE(s: string): DecodedPE {
  const hit = peCache.get(s);
  if (hit) return hit;
  if (s.length < 2 || s[1] !== ':') throw new Error(`invalid path element ${JSON.stringify(s)}`);
  const body = s.slice(2);
  let d: DecodedPE;
  switch (s[0]) {
    case 'f':
      d = { t: 0, name: body };
      break;
    case 'k': {
      const o: unknown = JSON.parse(body);
      if (!isObject(o)) throw new Error(`invalid key path element ${JSON.stringify(s)}`);
      d = { t: 1, fields: Object.entries(o).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) };
      break;
    }
    case 'v':
      d = { t: 2, value: JSON.parse(body) as unknown };
      break;
    case 'i': {
      if (!/^-?\d+$/.test(body)) throw new Error(`invalid index path element ${JSON.stringify(s)}`);
      d = { t: 3, index: Number(body) };
      break;
    }
    default:
      throw new Error(`unknown path element type in ${JSON.stringify(s)}`);
  }
  peCache.set(s, d);
  return d;
}

export function strCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** structured-merge-diff's total order of values: numbers, strings, bools, lists, maps, null. */
export function valueCompare(a: unknown, b: unknown): number {
  const rank = (v: unknown): number =>
    typeof v === 'number' ? 0 : typeof v === 'string' ? 1 : typeof v === 'boolean' ? 2 : Array.isArray(v) ? 3 : isObject(v) ? 4 : 5;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return (a as number) - (b as number);
    case 1:
      return strCompare(a as string, b as string);
    case 2:
      return Number(a) - Number(b);
    case 3: {
      const la = a as unknown[];
      const lb = b as unknown[];
      for (let i = 0; i < Math.min(la.length, lb.length); i++) {
        const c = valueCompare(la[i], lb[i]);
        if (c) return c;
      }
      return la.length - lb.length;
    }
    case 4:
      return strCompare(goJSON(a), goJSON(b));
    default:
      return 0;
  }
}

export function comparePE(a: string, b: string): number {
  if (a === b) return 0;
  const da = decodePE(a);
  const db = decodePE(b);
  if (da.t !== db.t) return da.t - db.t;
  switch (da.t) {
    case 0:
      return strCompare(da.name, (db as { name: string }).name);
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
    case 2:
      return valueCompare(da.value, (db as { value: unknown }).value);
    case 3:
      return da.index - (db as { index: number }).index;
  }
}

export function comparePaths(a: Path, b: Path): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = comparePE(a[i], b[i]);
    if (c) return c;
  }
  return a.length - b.length;
}

/** Go's value.ToString, used in conflict messages. */
export function valueToString(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(valueToString).join(',')}]`;
  if (isObject(v))
    return Object.entries(v)
      .map(([k, x]) => `${k}=${valueToString(x)}`)
      .join('');
  return String(v);
}

/** A path the way Kubernetes prints it: `.spec.list[name="a"].value`, `.spec.set[="x"]`. */
export function pathString(path: Path): string {
  return path
    .map(s => {
      const d = decodePE(s);
      switch (d.t) {
        case 0:
          return `.${d.name}`;
        case 1:
          return `[${d.fields.map(([k, v]) => `${k}=${valueToString(v)}`).join(',')}]`;
        case 2:
          return `[=${valueToString(d.value)}]`;
        default:
          return `[${d.index}]`;
      }
    })
    .join('');
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
    return FieldSet.build(
      [...this.members].filter(m => o.members.has(m)),
      kids,
    );
  }

  difference(o: FieldSet): FieldSet {
    const kids: Array<[string, FieldSet]> = [];
    for (const [k, a] of this.children) {
      const b = o.children.get(k);
      kids.push([k, b ? a.difference(b) : a.clone()]);
    }
    return FieldSet.build(
      [...this.members].filter(m => !o.members.has(m)),
      kids,
    );
  }

  /** Removes every path of `o` and everything below those paths. */
  recursiveDifference(o: FieldSet): FieldSet {
    const kids: Array<[string, FieldSet]> = [];
    for (const [k, a] of this.children) {
      if (o.members.has(k)) continue;
      const b = o.children.get(k);
      kids.push([k, b ? a.recursiveDifference(b) : a.clone()]);
    }
    return FieldSet.build(
      [...this.members].filter(m => !o.members.has(m)),
      kids,
    );
  }

  clone(): FieldSet {
    return FieldSet.build(
      this.members,
      [...this.children].map(([k, c]) => [k, c.clone()] as [string, FieldSet]),
    );
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
