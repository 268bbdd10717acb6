// What the cached objects have in common, kept once. The watch cache's objects are frozen and
// live as long as the cache (and the informers and snapshots that keep the very objects the cache
// hands out): tens of thousands of objects of one kind repeat most of their parts, the same
// managedFields sets, labels, finalizers, apiVersions, the timestamps of one second. Before an
// object is frozen, its small parts (strings, and objects and arrays whose JSON is short) are
// replaced by an equal part already in use, so a hundred thousand projects hold one
// `{"f:spec": ...}` instead of a hundred thousand.
//
// Sharing is invisible to readers of frozen objects but for one thing: identity. Two objects
// may hold the same part; one object never holds the same part twice, so a copy made by
// structuredClone (which keeps identity within what it copies) has no two places that change
// together.

/** Parts whose JSON is at most this long are shared: longer ones are rarely equal in two objects. */
const MAX_PART_CHARS = 512;
/** Strings at most this long are shared. */
const MAX_STRING_CHARS = 256;

/**
 * A map that forgets what was not used lately: entries go to the young generation; when it is
 * full it becomes the old one (the previous old one is dropped), and a hit in the old one moves
 * the entry back. What many objects hold stays; what one object holds goes after two turns.
 */
class Generations<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();

  constructor(private readonly size: number) {}

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }

  set(key: string, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.size) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}

function isJSONContainer(v: object): boolean {
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * How many characters of JSON `v` is about (strings needing no escapes, numbers counted short)
 * while at most `budget`; -1 when it is more, or when `v` holds what JSON does not show the same.
 */
function jsonSize(v: unknown, budget: number): number {
  switch (typeof v) {
    case 'string':
      return v.length + 2 <= budget ? v.length + 2 : -1;
    case 'number':
      return Number.isFinite(v) && budget >= 1 ? 1 : -1;
    case 'boolean':
      return budget >= 5 ? 5 : -1;
    case 'object': {
      if (v === null) return budget >= 4 ? 4 : -1;
      if (Object.isFrozen(v) || !isJSONContainer(v)) return -1;
      let left = budget - 2;
      if (Array.isArray(v)) {
        for (const c of v) {
          const n = jsonSize(c, left - 1);
          if (n < 0) return -1;
          left -= n + 1;
        }
      } else {
        for (const k of Object.keys(v)) {
          const n = jsonSize((v as Record<string, unknown>)[k], left - k.length - 4);
          if (n < 0) return -1;
          left -= k.length + n + 4;
        }
      }
      return budget - left;
    }
    default:
      return -1;
  }
}

/** How often a field of the top level was looked up whole, and found. */
interface Tries {
  tries: number;
  found: number;
}

export class SharedParts {
  private readonly parts = new Generations<object>(8192);
  private readonly strings = new Generations<string>(16384);
  /** By field of the top level (spec, status, ...). */
  private readonly tries = new Map<string, Tries>();

  /**
   * Replaces the small parts of `obj` (a fresh, unfrozen object) by equal shared ones, in place,
   * and freezes it whole. `obj` itself is not shared: it is what its holder changes or replaces.
   */
  freeze<T>(obj: T): T {
    if (obj === null || typeof obj !== 'object' || Object.isFrozen(obj) || !isJSONContainer(obj)) return deepFreeze(obj);
    const rec = obj as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const v = rec[k];
      const shared = this.value(v, this.worthTrying(k));
      // Equal strings compare equal whichever they are: the shared one is put in its place anyway.
      if (shared !== v || typeof v === 'string') rec[k] = shared;
    }
    unalias(obj, new Set<object>([obj]));
    return deepFreeze(obj);
  }

  /**
   * Whether to look up the top-level field `k` whole. An object's metadata holds its uid and
   * resourceVersion, never equal to another's: only its parts are. A field that is nearly always
   * an object's own (a spec naming the object) is looked up once in a while only, which saves
   * serializing it; its parts are looked up either way.
   */
  private worthTrying(k: string): Tries | undefined {
    if (k === 'metadata') return undefined;
    let t = this.tries.get(k);
    if (!t) {
      t = { tries: 0, found: 0 };
      this.tries.set(k, t);
    }
    if (t.tries >= 1024) {
      t.tries >>= 1;
      t.found >>= 1;
    }
    if (t.tries < 32 || t.found * 8 >= t.tries || t.tries % 64 === 0) return t;
    // Skipped, but counted: every 64th time it is looked up again, in case that changed.
    t.tries++;
    return undefined;
  }

  /** Shares the parts of `node`'s children, in place. */
  private children(node: object): void {
    const rec = node as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const v = rec[k];
      const shared = this.value(v, null);
      if (shared !== v || typeof v === 'string') rec[k] = shared;
    }
  }

  /**
   * `v`, or an equal shared value. `whole`: whether to look `v` up whole (null: yes; a top-level
   * field's tries: yes, and count it; undefined: no, only its parts).
   */
  private value(v: unknown, whole: Tries | null | undefined): unknown {
    if (typeof v === 'string') {
      if (v.length > MAX_STRING_CHARS) return v;
      const known = this.strings.get(v);
      if (known !== undefined) return known;
      this.strings.set(v, v);
      return v;
    }
    if (v === null || typeof v !== 'object' || Object.isFrozen(v) || !isJSONContainer(v)) return v;
    // A small part is looked up whole first: when it is known, nothing in it needs a look.
    const json = whole !== undefined && jsonSize(v, MAX_PART_CHARS) >= 0 ? JSON.stringify(v) : undefined;
    if (json !== undefined) {
      if (whole) whole.tries++;
      const known = this.parts.get(json);
      if (known !== undefined) {
        if (whole) whole.found++;
        return known;
      }
    }
    this.children(v);
    if (json !== undefined) {
      // Everything in it is shared by now: it becomes a part of its own.
      ownParts(v);
      deepFreeze(v);
      this.parts.set(json, v);
    }
    return v;
  }
}

/**
 * Makes a part about to be shared hold no part twice: its children are shared parts (each holding
 * none twice), but two of them may hold the same one; a child that does is replaced by a copy.
 */
function ownParts(node: object): void {
  const rec = node as Record<string, unknown>;
  const keys = Object.keys(rec);
  let containers = 0;
  for (const k of keys) if (rec[k] !== null && typeof rec[k] === 'object') containers++;
  if (containers < 2) return;
  const seen = new Set<object>();
  for (const k of keys) {
    const v = rec[k];
    if (v === null || typeof v !== 'object') continue;
    if (!holdsOnly(v, seen)) rec[k] = JSON.parse(JSON.stringify(v));
  }
}

/**
 * Makes sure no part occurs twice in one object (`seen` holds what is in it so far): a shared
 * part met again (itself or anything in it) is replaced there by a copy of its own.
 */
function unalias(node: object, seen: Set<object>): void {
  const rec = node as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    const v = rec[k];
    // Not a JSON value: none of ours, kept as it is.
    if (v === null || typeof v !== 'object' || !isJSONContainer(v)) continue;
    if (!Object.isFrozen(v)) {
      seen.add(v);
      unalias(v, seen);
      continue;
    }
    if (!holdsOnly(v, seen)) rec[k] = JSON.parse(JSON.stringify(v));
  }
}

/**
 * Whether nothing of `part` (itself or an object under it) is in `seen` yet; when so, all of it is
 * added to `seen`.
 */
function holdsOnly(part: object, seen: Set<object>): boolean {
  let leaf = true;
  for (const c of Object.values(part)) {
    if (c !== null && typeof c === 'object') {
      leaf = false;
      break;
    }
  }
  if (leaf) {
    if (seen.has(part)) return false;
    seen.add(part);
    return true;
  }
  const inside: object[] = [];
  collect(part, inside);
  for (const o of inside) if (seen.has(o)) return false;
  for (const o of inside) seen.add(o);
  return true;
}

/** `v` and every object under it. */
function collect(v: object, into: object[]): void {
  into.push(v);
  for (const c of Object.values(v)) if (c !== null && typeof c === 'object') collect(c, into);
}

/**
 * Watch events are shared by every watcher and the cache; freezing turns an accidental
 * mutation by one consumer into an immediate TypeError instead of corrupting the others.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
