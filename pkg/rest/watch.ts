// Watching a kind through its generic registry store: initial events, selectors that objects
// move into and out of, presentation per caller, and the storage's errors as watch errors.
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { StorageError, type Store } from '../storage/interface.ts';
import { errors, StatusError } from './errors.ts';
import type { RequestContext } from './resource.ts';
import { parseRevision } from './metadata.ts';
import type { ListQuery } from './options.ts';
import type { RegistryStore } from './store.ts';

export interface WatchQuery extends ListQuery {
  sendInitialEvents?: boolean;
}

export interface WatchSink {
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void;
  /** The stream ends after an error event. */
  error(status: StatusError): void;
  /** Progress with no change, for allowWatchBookmarks; `initialEventsEnd` marks the end of sendInitialEvents. */
  bookmark(rv: bigint, initialEventsEnd?: boolean): void;
}

/** A watch of a RegistryStore's objects, with its matcher and presentation, as the handlers stream it. */
export async function watchResource(store: RegistryStore, storage: Store, ctx: RequestContext, query: WatchQuery, sink: WatchSink): Promise<{ stop(): void }> {
  const matches = store.matcher(ctx, query);
  const rv = query.resourceVersion ?? '';
  let fromRV: bigint;
  // "" and "0" mean: the current state first (as ADDED events), then the changes after it.
  const initial = query.sendInitialEvents ?? (rv === '' || rv === '0');
  if (initial) {
    const list = await storage.list(store.prefix(ctx.namespace), { filter: matches });
    fromRV = list.rv;
    for (const item of list.items) sink.event('ADDED', store.present(item, ctx));
    if (query.sendInitialEvents) sink.bookmark(fromRV, true);
  } else {
    fromRV = parseRevision(rv);
  }
  return storage.watch(store.prefix(ctx.namespace), {
    fromRV,
    onEvent: ev => {
      const now = matches(ev.object);
      const before = ev.prevObject ? matches(ev.prevObject) : false;
      const obj = store.presentEvent(ev, ctx);
      if (ev.type === 'DELETED') {
        if (before || now) sink.event('DELETED', obj);
        return;
      }
      if (ev.type === 'ADDED') {
        if (now) sink.event('ADDED', obj);
        return;
      }
      // A modification moves an object into or out of the selected set.
      if (now && before) sink.event('MODIFIED', obj);
      else if (now) sink.event('ADDED', obj);
      else if (before) sink.event('DELETED', obj);
    },
    onError: err => {
      if (err instanceof StorageError && err.code === 'Expired') {
        sink.error(errors.gone(`too old resource version: ${fromRV} (${storage.compactedRevision()})`));
      } else {
        sink.error(err instanceof StatusError ? err : errors.internal((err as Error).message));
      }
    },
    onProgress: progress => sink.bookmark(progress),
  });
}
