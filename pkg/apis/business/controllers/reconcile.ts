// What the business controllers share: the identity they write as, status and finalize writes
// that never overwrite a newer object, and the informer -> queue wiring.
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import type { Logger } from 'pino';
import { Informer, objectKey, WorkQueue, type Controller, type FailureReporter } from '../../../controller/informer.ts';
import { StatusError } from '../../../rest/errors.ts';
import type { RequestContext } from '../../../rest/resource.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import type { KeyPrefix, Store } from '../../../storage/interface.ts';
import { specFinalizers } from '../../tke/finalizers.ts';

export const controllerUser = { username: 'system:serviceaccount:tke:tke-business-controller', groups: ['system:masters', 'system:authenticated'] };

export function controllerContext(namespace: string, subresource: '' | 'status' | 'finalize' = ''): RequestContext {
  return { user: controllerUser, namespace, dryRun: false, subresource };
}

/** Writes `status` if it differs; the cached resourceVersion guards against writing over a newer object. */
export async function writeStatus(store: RegistryStore, obj: KubeObject, status: Record<string, unknown>): Promise<void> {
  if (isDeepStrictEqual(obj.status ?? {}, status)) return;
  await ignoreNotFound(
    store.update(
      controllerContext(obj.metadata.namespace ?? '', 'status'),
      obj.metadata.name!,
      { metadata: { name: obj.metadata.name, resourceVersion: obj.metadata.resourceVersion }, status },
      {},
    ),
  );
}

/** Removes this controller's entry from spec.finalizers; the store deletes the object once none is left. */
export async function removeSpecFinalizer(store: RegistryStore, obj: KubeObject, finalizer: string): Promise<void> {
  const finalizers = specFinalizers.get(obj) ?? [];
  if (!finalizers.includes(finalizer)) return;
  await ignoreNotFound(
    store.update(
      controllerContext(obj.metadata.namespace ?? '', 'finalize'),
      obj.metadata.name!,
      { metadata: { name: obj.metadata.name, resourceVersion: obj.metadata.resourceVersion }, spec: { finalizers: finalizers.filter(f => f !== finalizer) } },
      {},
    ),
  );
}

export async function deleteIgnoringNotFound(store: RegistryStore, obj: KubeObject): Promise<void> {
  if (obj.metadata.deletionTimestamp) return;
  await ignoreNotFound(store.delete(controllerContext(obj.metadata.namespace ?? ''), obj.metadata.name!, { preconditions: { uid: obj.metadata.uid } }));
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof StatusError && err.reason === 'NotFound')) throw err;
  }
}

/**
 * A controller whose queue is fed by informers: `keysFor` maps a change of any watched resource
 * to the keys to reconcile. Informers are started (and synced) before the first reconcile.
 */
export class InformerController implements Controller {
  private readonly queue: WorkQueue;
  private readonly informers: Informer[] = [];

  private readonly report: FailureReporter;

  constructor(
    readonly name: string,
    private readonly storage: Store,
    reconcile: (key: string) => Promise<void>,
    opts: { workers?: number; logger?: Logger } = {},
  ) {
    const log = opts.logger?.child({ controller: name });
    // A conflict is a stale cache meeting a newer object: routine, retried at once with the new one.
    this.report = (err, what) => {
      const routine = err instanceof StatusError && err.reason === 'Conflict';
      log?.[routine ? 'debug' : 'warn']({ err: err instanceof Error ? err.message : String(err) }, what);
    };
    this.queue = new WorkQueue(reconcile, opts.workers ?? 4, 2_000, this.report);
  }

  /** `indexes` are updated before the queue hears of a change, since a reconcile may start at once. */
  watch(prefix: KeyPrefix, keysFor: (obj: KubeObject, old?: KubeObject) => Array<string | undefined>, ...indexes: CacheIndex[]): Informer {
    const informer = new Informer(this.storage, prefix, 1000, this.report);
    for (const index of indexes) informer.onChange((type, obj, old) => index.update(type, obj, old));
    informer.onChange((_type, obj, old) => {
      for (const key of keysFor(obj, old)) if (key) this.queue.add(key);
    });
    this.informers.push(informer);
    return informer;
  }

  /** Queues a key outside any change, e.g. for a periodic check. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map(i => i.start()));
    await Promise.all(this.informers.map(i => i.hasSynced()));
  }

  stop(): void {
    this.queue.stop();
    for (const i of this.informers) i.stop();
  }
}

export const selfKey = (obj: KubeObject) => objectKey(obj);

/**
 * An informer's cache grouped by one value of each object (a project's parent, the project a
 * namespace is in), so a reconcile finds its objects without scanning every cached object.
 */
export class CacheIndex {
  private readonly groups = new Map<string, Map<string, KubeObject>>();

  constructor(private readonly groupOf: (obj: KubeObject) => string) {}

  update(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject, old?: KubeObject): void {
    const key = objectKey(obj);
    const before = old ?? obj;
    const group = this.groups.get(this.groupOf(before));
    if (group?.delete(key) && group.size === 0) this.groups.delete(this.groupOf(before));
    if (type === 'DELETED') return;
    const into = this.groups.get(this.groupOf(obj)) ?? new Map<string, KubeObject>();
    into.set(key, obj);
    this.groups.set(this.groupOf(obj), into);
  }

  get(value: string): KubeObject[] {
    return [...(this.groups.get(value)?.values() ?? [])];
  }
}
