// The current objects of one resource, kept from its change events: what GET and LIST read
// instead of the database. Keys are kept sorted as the storage sorts them, so pages read here and
// pages read from the storage continue each other.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { ChangeEvent, ObjectKey } from '../interface.ts';

/**
 * Compares as the UTF-8 bytes compare (PostgreSQL's "C" collation). UTF-16 code units agree with
 * that except between surrogates (code points above U+FFFF) and U+E000..U+FFFF, which swap.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** The first index of sorted `keys` whose key is not below `k`. */
function lowerBound(keys: readonly string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid], k) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index of sorted `keys` whose key is above `k`. */
function upperBound(keys: readonly string[], k: string): number {
  const i = lowerBound(keys, k);
  return i < keys.length && keys[i] === k ? i + 1 : i;
}

/**
 * The objects of one namespace: by name, and their names in order. The names are the strings the
 * objects hold (metadata.name), so a key costs a slot in each, nothing more.
 */
interface Space {
  names: string[];
  objects: Map<string, KubeObject>;
}

export interface StatePageRequest {
  /** Only this namespace's objects; undefined or '' = all. */
  namespace?: string;
  /** Start after this key (namespace, name). */
  after?: [string, string];
  /** At most this many objects; 0 = all. */
  limit: number;
  filter?: (obj: KubeObject) => boolean;
}

export interface StatePage {
  items: KubeObject[];
  /** The key of the last item, when more matching objects follow. */
  continueAfter?: [string, string];
  /** Objects of the range after the page, when there is no filter to count them through. */
  remaining?: number;
}

export class ResourceState {
  /** The revision the state is current at: its snapshot's, or that of the last change applied. */
  rv: bigint;
  /**
   * The newest revision at which an object of the resource changed (for a state loaded from a
   * snapshot, at most the snapshot's): reads at any revision from it to `rv` see these objects.
   */
  changedAt: bigint;
  /** Set when the cache stopped keeping this state current (it was reset): it stays at `rv`. */
  detached = false;
  /** By namespace ('' for cluster-scoped objects); keys sort as (namespace, name) pairs. */
  private readonly spaces = new Map<string, Space>();
  /** The namespaces of `spaces`, in order. */
  private namespaces: string[] = [];
  private count = 0;

  /** From every object of the resource at revision `rv`. */
  constructor(objects: Iterable<{ key: ObjectKey; object: KubeObject }>, rv: bigint) {
    this.rv = rv;
    this.changedAt = rv;
    for (const { key, object } of objects) {
      let space = this.spaces.get(key.namespace);
      if (!space) {
        space = { names: [], objects: new Map() };
        this.spaces.set(key.namespace, space);
      }
      const name = nameOf(key, object);
      if (!space.objects.has(name)) space.names.push(name);
      space.objects.set(name, object);
    }
    for (const space of this.spaces.values()) {
      space.names.sort(compareKeys);
      this.count += space.names.length;
    }
    this.namespaces = [...this.spaces.keys()].sort(compareKeys);
  }

  get size(): number {
    return this.count;
  }

  /** The next change of the resource; changes at or below `rv` are in the state already. */
  apply(e: ChangeEvent): void {
    if (e.rv <= this.rv) return;
    this.rv = e.rv;
    this.changedAt = e.rv;
    const { namespace } = e.key;
    let space = this.spaces.get(namespace);
    if (e.type === 'DELETED') {
      if (!space?.objects.delete(e.key.name)) return;
      space.names.splice(lowerBound(space.names, e.key.name), 1);
      this.count--;
      if (space.names.length === 0) {
        this.spaces.delete(namespace);
        this.namespaces.splice(lowerBound(this.namespaces, namespace), 1);
      }
      return;
    }
    if (!space) {
      space = { names: [], objects: new Map() };
      this.spaces.set(namespace, space);
      this.namespaces.splice(lowerBound(this.namespaces, namespace), 0, namespace);
    }
    if (space.objects.has(e.key.name)) {
      space.objects.set(e.key.name, e.object);
      return;
    }
    const name = nameOf(e.key, e.object);
    space.objects.set(name, e.object);
    space.names.splice(lowerBound(space.names, name), 0, name);
    this.count++;
  }

  get(namespace: string, name: string): KubeObject | undefined {
    return this.spaces.get(namespace)?.objects.get(name);
  }

  page(req: StatePageRequest): StatePage {
    const ns = req.namespace || undefined;
    const after = req.after;
    // The namespaces the page may read, from the one it starts in; only `ns` when it is given.
    let from = after ? lowerBound(this.namespaces, after[0]) : 0;
    let to = this.namespaces.length;
    if (ns !== undefined) {
      const at = lowerBound(this.namespaces, ns);
      if (this.namespaces[at] !== ns) return { items: [] };
      from = Math.max(from, at);
      to = at + 1;
    }
    const items: KubeObject[] = [];
    let last: [string, string] | undefined;
    for (let s = from; s < to; s++) {
      const namespace = this.namespaces[s];
      const { names, objects } = this.spaces.get(namespace)!;
      let i = after && after[0] === namespace ? upperBound(names, after[1]) : 0;
      for (; i < names.length; i++) {
        const object = objects.get(names[i])!;
        if (req.filter && !req.filter(object)) continue;
        if (req.limit && items.length === req.limit) {
          return { items, continueAfter: last, remaining: req.filter ? undefined : this.countAfter(last!, to) };
        }
        items.push(object);
        last = [namespace, names[i]];
      }
    }
    return { items };
  }

  /** How many keys follow `key` (one of the state's), up to the namespace at index `to`. */
  private countAfter(key: [string, string], to: number): number {
    const { names } = this.spaces.get(key[0])!;
    let n = names.length - upperBound(names, key[1]);
    for (let s = lowerBound(this.namespaces, key[0]) + 1; s < to; s++) n += this.spaces.get(this.namespaces[s])!.names.length;
    return n;
  }
}

/** The name of `key`, as the string the object holds when they are equal (one string instead of two). */
function nameOf(key: ObjectKey, object: KubeObject): string {
  const held = object?.metadata?.name;
  return held === key.name ? held : key.name;
}
