// The business kinds in storage: where their objects live, and those objects as read back from
// it, typed by their kind's schema. (The platform and auth objects the business rules read are
// typed where those groups keep theirs: platform/stored.ts, auth/stored.ts.)
import type { Namespace } from '../../../api/business/v1/namespace.ts';
import type { Project } from '../../../api/business/v1/project.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { ObjectOf } from '../../rest/resource.ts';
import type { KeyPrefix, ObjectKey } from '../../storage/interface.ts';

export const businessGroup = 'business.tkestack.io';

export const keys = {
  project: (name: string): ObjectKey => ({ group: businessGroup, resource: 'projects', namespace: '', name }),
  allProjects: (): KeyPrefix => ({ group: businessGroup, resource: 'projects' }),
  namespace: (project: string, name: string): ObjectKey => ({ group: businessGroup, resource: 'namespaces', namespace: project, name }),
  /** `project` undefined: the namespaces of every project. */
  namespaces: (project?: string): KeyPrefix => ({ group: businessGroup, resource: 'namespaces', namespace: project }),
  /** The objects of one project-scoped resource (namespaces, imagenamespaces, ...) of `project`. */
  inProject: (resource: ProjectContentResource, project: string): KeyPrefix => ({ group: businessGroup, resource, namespace: project }),
};

/** Kinds that live in a project's namespace and go when the project goes. */
export const projectContentResources = ['namespaces', 'imagenamespaces', 'chartgroups', 'nsemigrations'] as const;
export type ProjectContentResource = (typeof projectContentResources)[number];

export type StoredProject = ObjectOf<typeof Project>;
export type StoredNamespace = ObjectOf<typeof Namespace>;

// An object read back (from a transaction, the storage, an informer's cache or a subresource's
// parent) is untyped JSON to the storage, but it passed its kind's schema when it was written: the
// generic store validates every write. These are the one place each kind is taken to be of its
// schema's type.
export const asProject = (obj: KubeObject) => obj as StoredProject;
export const asNamespace = (obj: KubeObject) => obj as StoredNamespace;

/** A write's transaction or the storage: what the typed reads below read through. */
interface Reader {
  get(key: ObjectKey): Promise<KubeObject | undefined>;
}

export async function readProject(from: Reader, name: string): Promise<StoredProject | undefined> {
  const obj = await from.get(keys.project(name));
  return obj && asProject(obj);
}

export async function readNamespace(from: Reader, project: string, name: string): Promise<StoredNamespace | undefined> {
  const obj = await from.get(keys.namespace(project, name));
  return obj && asNamespace(obj);
}

export function isDeleting(obj: KubeObject): boolean {
  return !!obj.metadata.deletionTimestamp;
}
