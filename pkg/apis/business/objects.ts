// Where the business kinds live in storage and how to read the fields the rules need from a
// stored object (which the schema has already checked, but which is untyped JSON here).
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { KeyPrefix, ObjectKey } from '../../storage/interface.ts';

export const businessGroup = 'business.tkestack.io';
export const platformGroup = 'platform.tkestack.io';

export const keys = {
  project: (name: string): ObjectKey => ({ group: businessGroup, resource: 'projects', namespace: '', name }),
  allProjects: (): KeyPrefix => ({ group: businessGroup, resource: 'projects' }),
  namespace: (project: string, name: string): ObjectKey => ({ group: businessGroup, resource: 'namespaces', namespace: project, name }),
  /** `project` undefined: the namespaces of every project. */
  namespaces: (project?: string): KeyPrefix => ({ group: businessGroup, resource: 'namespaces', namespace: project }),
  /** The objects of one project-scoped resource (namespaces, imagenamespaces, ...) of `project`. */
  inProject: (resource: ProjectContentResource, project: string): KeyPrefix => ({ group: businessGroup, resource, namespace: project }),
  cluster: (name: string): ObjectKey => ({ group: platformGroup, resource: 'clusters', namespace: '', name }),
};

/** Kinds that live in a project's namespace and go when the project goes. */
export const projectContentResources = ['namespaces', 'imagenamespaces', 'chartgroups', 'nsemigrations'] as const;
export type ProjectContentResource = typeof projectContentResources[number];

export type WireResourceList = Record<string, string | number>;

/** spec.clusters of a project: cluster name -> hard limits (empty when the project sets none). */
export function projectClusters(project: KubeObject): Map<string, WireResourceList> {
  const clusters = (project.spec?.clusters ?? {}) as Record<string, { hard?: WireResourceList } | undefined>;
  return new Map(Object.entries(clusters).map(([name, c]) => [name, c?.hard ?? {}]));
}

export function parentOf(project: KubeObject): string {
  const parent = project.spec?.parentProjectName;
  return typeof parent === 'string' ? parent : '';
}

export function namespaceCluster(ns: KubeObject): string {
  const c = ns.spec?.clusterName;
  return typeof c === 'string' ? c : '';
}

/** The Kubernetes namespace a business namespace stands for. */
export function kubernetesNamespace(ns: KubeObject): string {
  const n = ns.spec?.namespace;
  return typeof n === 'string' ? n : '';
}

export function namespaceHard(ns: KubeObject): WireResourceList {
  return (ns.spec?.hard ?? {}) as WireResourceList;
}

export function isDeleting(obj: KubeObject): boolean {
  return !!obj.metadata.deletionTimestamp;
}
