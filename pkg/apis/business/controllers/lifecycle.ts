// The lifecycle of the business objects that stand for something in the registry: imagenamespaces
// and chartgroups (and the registry's own chart groups and charts). Pending -> Available once
// their counterpart exists (registrylinks.ts makes the registry namespace or chart group), Failed
// when it cannot; on delete Terminating, the counterpart removed, then gone.
// Business namespaces exist in real member clusters: controllers/namespace.ts keeps them.
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { timestamp } from '../../../rest/metadata.ts';
import type { Logger } from 'pino';
import type { Store } from '../../../storage/interface.ts';
import { withPhase } from '../../tke/kinds.ts';
import { isDeleting } from '../stored.ts';
import { InformerController, removeSpecFinalizer, selfKey, writeStatus } from './reconcile.ts';

export interface LifecycleKind {
  store: RegistryStore;
  /** The entry of spec.finalizers this controller owns. */
  finalizer: string;
  /** What the object stands for elsewhere, made while it exists and removed with it. */
  counterpart?: Counterpart;
}

export interface Counterpart {
  /** Makes or adopts the counterpart; a string says why it cannot (the object goes Failed). */
  ensure(obj: KubeObject): Promise<string | undefined>;
  release(obj: KubeObject): Promise<void>;
}

export function lifecycleController(storage: Store, kind: LifecycleKind, logger?: Logger): InformerController {
  const { group, resource } = kind.store.def;
  let informer: ReturnType<InformerController['watch']> | undefined;
  const controller = new InformerController(
    `${resource}.${group}-lifecycle`,
    storage,
    async key => {
      const obj = informer!.cache.get(key);
      if (!obj) return;
      if (isDeleting(obj)) {
        if (obj.status?.phase !== 'Terminating') return writeStatus(kind.store, obj, withPhase(obj.status, 'Terminating', timestamp()));
        await kind.counterpart?.release(obj);
        return removeSpecFinalizer(kind.store, obj, kind.finalizer);
      }
      const refused = await kind.counterpart?.ensure(obj);
      if (refused) return writeStatus(kind.store, obj, withPhase(obj.status, 'Failed', timestamp(), { reason: 'Conflict', message: refused }));
      const available = withPhase(obj.status, 'Available', timestamp());
      delete available.reason;
      delete available.message;
      await writeStatus(kind.store, obj, available);
    },
    { logger },
  );
  informer = controller.watch({ group, resource }, obj => [selfKey(obj)]);
  return controller;
}
