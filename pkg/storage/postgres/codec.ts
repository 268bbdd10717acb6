// Objects to rows and back.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { maxObjectBytes, StorageValueError, type ChangeEvent, type KeyPrefix, type ObjectKey } from '../interface.ts';
import type { FieldEncryption } from '../encryption.ts';
import type { ChangeRow } from './sql.ts';

export function withRV(obj: KubeObject, rv: bigint): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: rv.toString() } };
}

// jsonb keeps object keys sorted by length, which would print `kind` and `spec` before
// `apiVersion` and `metadata`. Objects read back get the field order Kubernetes serialises in.
const TOP_LEVEL_ORDER = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const METADATA_ORDER = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

// On the path of every object read: plain loops, no closure made per call.
function ordered<T extends object>(value: T, order: readonly string[]): T {
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of order) if (Object.hasOwn(src, k)) out[k] = src[k];
  for (const k of Object.keys(src)) {
    if (Object.hasOwn(out, k)) continue;
    // A stored "__proto__" key must stay data, not become the prototype.
    if (k === '__proto__') Object.defineProperty(out, k, { value: src[k], enumerable: true, writable: true, configurable: true });
    else out[k] = src[k];
  }
  return out as T;
}

function fromDB(obj: KubeObject): KubeObject {
  if (!obj || typeof obj !== 'object') return obj;
  const top = ordered(obj, TOP_LEVEL_ORDER);
  if (top.metadata && typeof top.metadata === 'object') top.metadata = ordered(top.metadata, METADATA_ORDER);
  return top;
}

/** An object made of the values at `paths` (null = absent), as `pick` reads them. */
export function assemble(paths: string[], values: unknown[]): KubeObject {
  const out: Record<string, unknown> = { metadata: {} };
  paths.forEach((path, i) => {
    if (values[i] === null || values[i] === undefined) return;
    const steps = path.split('.');
    let node = out;
    for (const step of steps.slice(0, -1)) {
      if (typeof node[step] !== 'object' || node[step] === null) node[step] = {};
      node = node[step] as Record<string, unknown>;
    }
    node[steps[steps.length - 1]] = values[i];
  });
  return out as unknown as KubeObject;
}

/**
 * JSON going in, with the secret fields sealed when encryption is on; coming out, the field
 * order restored and the secret fields opened.
 */
export class ObjectCodec {
  constructor(private readonly encryption?: FieldEncryption) {}

  decode(where: KeyPrefix, obj: KubeObject): KubeObject {
    const out = fromDB(obj);
    return this.encryption ? this.encryption.open(where, out) : out;
  }

  encode(key: ObjectKey, obj: KubeObject): string {
    const text = JSON.stringify(this.encryption ? this.encryption.seal(key, obj) : obj);
    // UTF-8 takes at least one byte per UTF-16 unit: the length alone settles most cases.
    const size = text.length > maxObjectBytes ? text.length : Buffer.byteLength(text);
    if (size > maxObjectBytes) {
      throw new StorageValueError('TooLarge', `Request entity too large: the object is ${size} bytes as stored, limit is ${maxObjectBytes}`, key);
    }
    return text;
  }

  /** A row of the change log as a watch event. */
  event(row: ChangeRow & { rv: string }): ChangeEvent {
    const key = { group: row.grp, resource: row.resource, namespace: row.namespace, name: row.name };
    const event: ChangeEvent = { type: row.type, key, object: this.decode(key, row.obj), rv: BigInt(row.rv) };
    if (row.prev) event.prevObject = this.decode(key, row.prev);
    return event;
  }
}
