// An in-memory snapshot of the objects every request's authentication and authorization reads
// (identity providers, policies, roles, groups, bindings, API keys, local identities), so a
// request costs no database round trip. It is rebuilt when a watch on any of those kinds
// reports a change (writes by any replica) and, for writes made through this process, on every
// request for a short window after the write so the writer's next request already sees it.
import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { timestamp } from '../../rest/metadata.ts';
import type { Store, Watcher } from '../../storage/interface.ts';
import type { StoredLocalIdentity, StoredObjects } from './stored.ts';

export const authGroupName = 'auth.tkestack.io';

/** A stored object written by the server itself (not through a REST store). */
export function serverObject(kind: string, name: string, fields: Record<string, unknown>): KubeObject {
  return {
    apiVersion: `${authGroupName}/v1`,
    kind,
    metadata: { name, uid: randomUUID(), creationTimestamp: timestamp(), generation: 1 },
    ...fields,
  };
}

/** The kinds the snapshot holds, by resource name. */
export const snapshotResources = [
  'identityproviders',
  'policies',
  'roles',
  'localgroups',
  'projectpolicybindings',
  'custompolicybindings',
  'apikeys',
  'localidentities',
  'apisigningkeys',
  'clients',
] as const;
export type SnapshotResource = (typeof snapshotResources)[number];

/** The snapshot's objects of each kind, by name. */
export type SnapshotObjects = { [R in SnapshotResource]: Map<string, StoredObjects[R]> };

export interface Snapshot {
  /** Increases with every rebuild; caches derived from a snapshot key on it. */
  version: number;
  objects: SnapshotObjects;
  /** Local identities by tenant + "\0" + username. */
  identitiesByUser: Map<string, StoredLocalIdentity>;
}

export function userKey(tenant: string, username: string): string {
  return `${tenant}\u0000${username}`;
}

/** How long after a local write every request rebuilds (covers the time until the commit is visible). */
const freshWindowMs = 1500;

export class AuthState {
  private current: Snapshot | undefined;
  private building: { seq: number; promise: Promise<Snapshot> } | undefined;
  /** Orders requests and rebuilds: a rebuild serves requests that arrived before it started. */
  private seq = 0;
  private currentSeq = 0;
  private dirty = true;
  private freshUntil = 0;
  private version = 0;
  private watchers: Watcher[] = [];
  private stopped = false;
  /** The revision every object of the current snapshot is at least as new as. */
  private builtAt = 0n;

  constructor(
    private readonly storage: Store,
    private readonly log: (msg: string, fields?: object) => void = () => {},
  ) {}

  /** Marks the snapshot stale now and for a moment after (a write of this process is about to commit). */
  invalidate(): void {
    this.dirty = true;
    this.freshUntil = Date.now() + freshWindowMs;
  }

  /**
   * The current snapshot; rebuilt when stale. A request never gets a snapshot whose reads began
   * before the request arrived while it is stale: it joins a rebuild started after its arrival,
   * or starts one. Rebuilds run one at a time; requests waiting meanwhile share the next one.
   */
  async snapshot(): Promise<Snapshot> {
    if (this.current && !this.dirty && Date.now() > this.freshUntil) return this.current;
    const arrived = ++this.seq;
    for (;;) {
      const b = this.building;
      if (b && b.seq > arrived) return b.promise;
      if (b) {
        await b.promise.catch(() => undefined);
        continue;
      }
      if (this.current && this.currentSeq > arrived && !this.dirty) return this.current;
      const seq = ++this.seq;
      this.dirty = false;
      const promise = this.build()
        .then(
          snap => {
            this.currentSeq = seq;
            return snap;
          },
          err => {
            this.dirty = true;
            throw err;
          },
        )
        .finally(() => {
          if (this.building?.seq === seq) this.building = undefined;
        });
      this.building = { seq, promise };
      return promise;
    }
  }

  /**
   * A snapshot holding every write committed before the call, for a refusal that a write made
   * through another process may explain: another worker or replica created the API key, identity or
   * binding a moment ago, and this process's watch has not brought it yet. Rebuilt only when the
   * database has moved past the current snapshot, so a refusal costs one small query.
   */
  async upToDate(): Promise<Snapshot> {
    const snap = await this.snapshot();
    const built = this.builtAt;
    if ((await this.storage.currentRevision()) <= built) return snap;
    this.dirty = true;
    return this.snapshot();
  }

  private async build(): Promise<Snapshot> {
    const lists = await Promise.all(snapshotResources.map(r => this.storage.list({ group: authGroupName, resource: r })));
    // Stored objects, each of its kind's schema (see asStored in stored.ts).
    const objects = Object.fromEntries(snapshotResources.map((r, i) => [r, new Map(lists[i].items.map(o => [o.metadata.name!, o]))])) as SnapshotObjects;
    const identitiesByUser = new Map<string, StoredLocalIdentity>();
    for (const li of objects.localidentities.values()) {
      identitiesByUser.set(userKey(li.spec?.tenantID ?? 'default', li.spec?.username ?? ''), li);
    }
    this.builtAt = lists.reduce((min, l) => (l.rv < min ? l.rv : min), lists[0].rv);
    if (this.watchers.length === 0 && !this.stopped) this.watch(this.builtAt);
    this.current = { version: ++this.version, objects, identitiesByUser };
    return this.current;
  }

  private watch(fromRV: bigint): void {
    for (const resource of snapshotResources) {
      const w = this.storage.watch(
        { group: authGroupName, resource },
        {
          fromRV,
          onEvent: () => {
            this.dirty = true;
          },
          onError: err => {
            // The feed cannot continue (compaction, connection loss): rebuild and watch anew.
            this.log('auth snapshot watch ended; rebuilding', { resource, error: err.message });
            this.dirty = true;
            this.stopWatches();
          },
        },
      );
      this.watchers.push(w);
    }
  }

  private stopWatches(): void {
    for (const w of this.watchers.splice(0)) w.stop();
  }

  stop(): void {
    this.stopped = true;
    this.stopWatches();
  }
}
