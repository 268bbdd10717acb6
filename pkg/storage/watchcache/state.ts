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

// A NUL sorts below every other character and no name contains one, so the joined keys sort as
// the (namespace, name) pairs do.
function joinKey(namespace: string, name: string): string {
  return `${namespace}\u0000${name}`;
}

interface Entry {
  namespace: string;
  name: string;
  object: KubeObject;
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
  private readonly entries = new Map<string, Entry>();
  private keys: string[];

  /** From every object of the resource at revision `rv`. */
  constructor(objects: Iterable<{ key: ObjectKey; object: KubeObject }>, rv: bigint) {
    this.rv = rv;
    this.changedAt = rv;
    for (const { key, object } of objects) this.entries.set(joinKey(key.namespace, key.name), { namespace: key.namespace, name: key.name, object });
    this.keys = [...this.entries.keys()].sort(compareKeys);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The next change of the resource; changes at or below `rv` are in the state already. */
  apply(e: ChangeEvent): void {
    if (e.rv <= this.rv) return;
    this.rv = e.rv;
    this.changedAt = e.rv;
    const k = joinKey(e.key.namespace, e.key.name);
    if (e.type === 'DELETED') {
      if (this.entries.delete(k)) this.keys.splice(this.lowerBound(k), 1);
      return;
    }
    const entry = this.entries.get(k);
    if (entry) {
      entry.object = e.object;
      return;
    }
    this.entries.set(k, { namespace: e.key.namespace, name: e.key.name, object: e.object });
    this.keys.splice(this.lowerBound(k), 0, k);
  }

  get(namespace: string, name: string): KubeObject | undefined {
    return this.entries.get(joinKey(namespace, name))?.object;
  }

  /** The first index whose key is not below `k`. */
  private lowerBound(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid], k) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  page(req: StatePageRequest): StatePage {
    const ns = req.namespace || undefined;
    // Keys of one namespace run from "ns\0" to just before "ns\u0001".
    const start = ns !== undefined ? this.lowerBound(`${ns}\u0000`) : 0;
    const end = ns !== undefined ? this.lowerBound(`${ns}\u0001`) : this.keys.length;
    let i = req.after ? Math.max(start, this.lowerBound(joinKey(req.after[0], req.after[1]) + '\u0000')) : start;
    const items: KubeObject[] = [];
    let last: Entry | undefined;
    for (; i < end; i++) {
      const entry = this.entries.get(this.keys[i])!;
      if (req.filter && !req.filter(entry.object)) continue;
      if (req.limit && items.length === req.limit) {
        return {
          items,
          continueAfter: [last!.namespace, last!.name],
          remaining: req.filter ? undefined : end - this.lowerBound(joinKey(last!.namespace, last!.name) + '\u0000'),
        };
      }
      items.push(entry.object);
      last = entry;
    }
    return { items };
  }
}
