// The platform kinds in storage: where their objects live, and those objects as read back from
// it, typed by their kind's schema.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { Cluster } from '../../../api/platform/v1/cluster.ts';
import type { ClusterCredential } from '../../../api/platform/v1/clustercredential.ts';
import type { Machine } from '../../../api/platform/v1/machine.ts';
import type { ObjectOf } from '../../rest/resource.ts';
import type { KeyPrefix, ObjectKey } from '../../storage/interface.ts';
import { platformGroupName } from './names.ts';

export type StoredCluster = ObjectOf<typeof Cluster>;
export type StoredClusterCredential = ObjectOf<typeof ClusterCredential>;
export type StoredMachine = ObjectOf<typeof Machine>;

const keyOf =
  (resource: string) =>
  (name: string): ObjectKey => ({ group: platformGroupName, resource, namespace: '', name });

export const platformKeys = {
  cluster: keyOf('clusters'),
  clusterCredential: keyOf('clustercredentials'),
  machine: keyOf('machines'),
  machines: (): KeyPrefix => ({ group: platformGroupName, resource: 'machines' }),
};

// An object read back (from a transaction, the storage, an informer's cache, a store's list or a
// subresource's parent) is untyped JSON to the storage, but it passed its kind's schema when it was
// written: the generic store validates every write. These are the one place each kind is taken to
// be of its schema's type.
export const asCluster = (obj: KubeObject) => obj as StoredCluster;
export const asClusterCredential = (obj: KubeObject) => obj as StoredClusterCredential;
export const asMachine = (obj: KubeObject) => obj as StoredMachine;

/** A write's transaction or the storage: what the typed reads below read through. */
interface ObjectReader {
  get(key: ObjectKey): Promise<KubeObject | undefined>;
}

export async function readCluster(from: ObjectReader, name: string): Promise<StoredCluster | undefined> {
  const obj = await from.get(platformKeys.cluster(name));
  return obj && asCluster(obj);
}

export async function readClusterCredential(from: ObjectReader, name: string): Promise<StoredClusterCredential | undefined> {
  const obj = await from.get(platformKeys.clusterCredential(name));
  return obj && asClusterCredential(obj);
}

export async function readMachine(from: ObjectReader, name: string): Promise<StoredMachine | undefined> {
  const obj = await from.get(platformKeys.machine(name));
  return obj && asMachine(obj);
}
