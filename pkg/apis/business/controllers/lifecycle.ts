// The lifecycle of the business objects that stand for something in a cluster or a registry:
// namespaces, imagenamespaces and chartgroups. This server manages no real cluster or registry,
// so "Available" means admitted and accounted for (its quota is reserved in the project), and
// releasing it on delete is immediate: Pending -> Available, and on delete Terminating -> gone.
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { timestamp } from '../../../rest/store.ts';
import type { Logger } from 'pino';
import type { Store } from '../../../storage/interface.ts';
import { withPhase } from '../../tke/kinds.ts';
import { isDeleting } from '../objects.ts';
import { InformerController, removeSpecFinalizer, selfKey, writeStatus } from './reconcile.ts';

export interface LifecycleKind {
  store: RegistryStore;
  /** The entry of spec.finalizers this controller owns. */
  finalizer: string;
  /** Status fields beyond the phase that an available object reports. */
  availableStatus?(obj: KubeObject): Record<string, unknown>;
}

export function lifecycleController(storage: Store, kind: LifecycleKind, logger?: Logger): InformerController {
  const { group, resource } = kind.store.def;
  let informer: ReturnType<InformerController['watch']> | undefined;
  const controller = new InformerController(`${resource}.${group}-lifecycle`, storage, async (key) => {
    const obj = informer!.cache.get(key);
    if (!obj) return;
    if (isDeleting(obj)) {
      if (obj.status?.phase !== 'Terminating') return writeStatus(kind.store, obj, withPhase(obj.status, 'Terminating', timestamp()));
      return removeSpecFinalizer(kind.store, obj, kind.finalizer);
    }
    await writeStatus(kind.store, obj, withPhase(obj.status, 'Available', timestamp(), kind.availableStatus?.(obj) ?? {}));
  }, { logger });
  informer = controller.watch({ group, resource }, obj => [selfKey(obj)]);
  return controller;
}

/**
 * A namespace's status.used is what its workloads consume in the cluster. With no real cluster
 * behind this server nothing runs there, so every limited resource reports 0 used.
 */
export function namespaceAvailableStatus(ns: KubeObject): Record<string, unknown> {
  const hard = (ns.spec?.hard ?? {}) as Record<string, unknown>;
  return {
    used: Object.fromEntries(Object.keys(hard).sort().map(r => [r, '0'])),
    cachedSpecHard: structuredClone(hard),
  };
}
