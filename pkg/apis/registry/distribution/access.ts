// What a caller may do to an image, as the token service grants it: a Public namespace's images
// are pullable by anyone (anonymous too), everything else is for users of the namespace's tenant
// whose TKE policies allow it on the Repository objects (pull = get, push = create or update,
// delete = delete), asked of the server's authorizer like any request on those objects. A locked
// namespace grants nothing, as in TKE.
import { Visibility } from '../../../../api/registry/v1/types.ts';
import type { UserInfo } from '../../../rest/resource.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import type { Authorizer } from '../../../server/authz.ts';
import { isMaster, tenantOfUser } from '../../auth/subjects.ts';
import { controllerContext } from '../../business/controllers/reconcile.ts';
import { registryGroup } from '../rules.ts';
import { asNamespace, asRepository, type StoredNamespace, type StoredRepository } from '../stored.ts';
import type { ImageName } from './names.ts';

export interface RegistryObjects {
  namespaces(): RegistryStore;
  repositories(): RegistryStore;
}

/** A field selector's value: escaped as the Kubernetes field selector grammar wants. */
const selectorValue = (v: string) => v.replace(/[\\,=!]/g, c => `\\${c}`);

export async function findNamespace(stores: RegistryObjects, tenant: string, name: string): Promise<StoredNamespace | undefined> {
  const list = await stores
    .namespaces()
    .list(controllerContext(''), { fieldSelector: `spec.tenantID=${selectorValue(tenant)},spec.name=${selectorValue(name)}` });
  return list.items.map(asNamespace)[0];
}

export async function findRepository(stores: RegistryObjects, namespace: StoredNamespace, name: string): Promise<StoredRepository | undefined> {
  const list = await stores.repositories().list(controllerContext(namespace.metadata.name!), {
    fieldSelector: `spec.tenantID=${selectorValue(namespace.spec?.tenantID ?? '')},spec.name=${selectorValue(name)},spec.namespaceName=${selectorValue(namespace.spec?.name ?? '')}`,
  });
  return list.items.map(asRepository)[0];
}

/** The actions of `requested` (distribution's pull, push, delete, *) the caller is granted on `image`. */
export async function grantedActions(
  stores: RegistryObjects,
  authorizer: Authorizer,
  user: UserInfo | undefined,
  image: ImageName,
  requested: string[],
): Promise<string[]> {
  const namespace = await findNamespace(stores, image.tenant, image.namespace);
  if (!namespace || namespace.status?.locked === true) return [];
  const repository = await findRepository(stores, namespace, image.repo);
  const isPublic = namespace.spec?.visibility === Visibility.Public;
  // Tenant administrators are allowed everything by the authorizer, with a filter that hides other
  // tenants' objects: this check is that filter, made before the authorizer is asked at all.
  const member = !!user && (isMaster(user) || tenantOfUser(user) === image.tenant);

  const may = async (verb: string): Promise<boolean> => {
    if (!member) return false;
    const object = repository ?? namespace;
    const decision = await authorizer.authorize({
      user: user!,
      verb,
      isResourceRequest: true,
      path: '',
      apiGroup: registryGroup,
      apiVersion: 'v1',
      resource: 'repositories',
      subresource: '',
      namespace: namespace.metadata.name!,
      name: repository?.metadata.name ?? '',
    });
    const ok = decision.allowed && (!decision.objectFilter || decision.objectFilter(object));
    decision.onComplete?.(ok ? 200 : 403);
    return ok;
  };

  const granted: string[] = [];
  for (const action of new Set(requested)) {
    let ok = false;
    if (action === 'pull') ok = isPublic || (await may(repository ? 'get' : 'list'));
    else if (action === 'push') ok = await may(repository ? 'update' : 'create');
    else if (action === 'delete' || action === '*') ok = !!repository && (await may('delete'));
    if (ok) granted.push(action);
  }
  return granted;
}
