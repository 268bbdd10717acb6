// The auth kinds in storage: their keys, and their objects as read back, typed by their kind's schema.
import type * as v1 from '../../../api/auth/v1/types.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { ObjectOf } from '../../rest/resource.ts';
import type { ObjectKey, Transaction } from '../../storage/interface.ts';
import { authGroupName } from './state.ts';

export type StoredLocalIdentity = ObjectOf<typeof v1.LocalIdentity>;
export type StoredAPIKey = ObjectOf<typeof v1.APIKey>;
export type StoredAPISigningKey = ObjectOf<typeof v1.APISigningKey>;
export type StoredIdentityProvider = ObjectOf<typeof v1.IdentityProvider>;
export type StoredPolicy = ObjectOf<typeof v1.Policy>;
export type StoredRole = ObjectOf<typeof v1.Role>;
export type StoredLocalGroup = ObjectOf<typeof v1.LocalGroup>;
export type StoredProjectPolicyBinding = ObjectOf<typeof v1.ProjectPolicyBinding>;
export type StoredCustomPolicyBinding = ObjectOf<typeof v1.CustomPolicyBinding>;
export type StoredClient = ObjectOf<typeof v1.Client>;

/** The objects of each stored auth resource that is read back for its fields. */
export interface StoredObjects {
  localidentities: StoredLocalIdentity;
  apikeys: StoredAPIKey;
  apisigningkeys: StoredAPISigningKey;
  identityproviders: StoredIdentityProvider;
  policies: StoredPolicy;
  roles: StoredRole;
  localgroups: StoredLocalGroup;
  projectpolicybindings: StoredProjectPolicyBinding;
  custompolicybindings: StoredCustomPolicyBinding;
  clients: StoredClient;
}
export type StoredResource = keyof StoredObjects;

export function key(resource: string, name: string): ObjectKey {
  return { group: authGroupName, resource, namespace: '', name };
}

/**
 * An object of `resource` read from storage (a transaction, the store, the snapshot, a
 * subresource's parent): untyped JSON to the storage, but it passed its kind's schema when it was
 * written, as the generic store validates every write. The one place an auth object is taken to
 * be of its schema's type.
 */
export function asStored<R extends StoredResource>(_resource: R, obj: KubeObject): StoredObjects[R] {
  return obj as StoredObjects[R];
}

/** A transaction or the store: what readStored reads through. */
interface Reader {
  get(key: ObjectKey, opts?: { forUpdate?: boolean }): Promise<KubeObject | undefined>;
}

export async function readStored<R extends StoredResource>(
  from: Reader,
  resource: R,
  name: string,
  opts?: { forUpdate?: boolean },
): Promise<StoredObjects[R] | undefined> {
  const obj = await from.get(key(resource, name), opts);
  return obj && asStored(resource, obj);
}

/** The objects of `resource` in `tx` that `filter` keeps (all without one). */
export async function listStored<R extends StoredResource>(
  tx: Transaction,
  resource: R,
  filter?: (obj: StoredObjects[R]) => boolean,
): Promise<Array<StoredObjects[R]>> {
  const all = await tx.list({ group: authGroupName, resource }, filter ? { filter: o => filter(asStored(resource, o)) } : undefined);
  return all.map(o => asStored(resource, o));
}
