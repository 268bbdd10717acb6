// The project controller keeps status true and runs deletion:
// - phase Pending -> Active; status.clusters[c].used = what the project has handed out in c to
//   child projects and namespaces (exact sums); calculatedChildProjects/calculatedNamespaces.
// - on delete: Terminating; delete its child projects and everything in its namespace (each
//   goes through its own finalizers); once nothing is left, remove the "project" finalizer. The
//   project's beforeDelete re-checks that in the transaction, so nothing can be left behind.
import type { Logger } from 'pino';
import { BusinessFinalizer } from '../../../../api/business/v1/types.ts';
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import type { Informer } from '../../../controller/informer.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { timestamp } from '../../../rest/store.ts';
import type { Store } from '../../../storage/interface.ts';
import { withPhase } from '../../tke/kinds.ts';
import { businessGroup, isDeleting, parentOf, projectContentResources, type ProjectContentResource } from '../objects.ts';
import { allocationsFrom, usedByCluster } from '../quota.ts';
import { CacheIndex, deleteIgnoringNotFound, InformerController, removeSpecFinalizer, writeStatus } from './reconcile.ts';

export function projectController(storage: Store, store: (resource: string) => RegistryStore, logger?: Logger): InformerController {
  const projects = store('projects');
  const contents = new Map<ProjectContentResource, CacheIndex>();
  let projectInformer: Informer | undefined;
  const childIndex = new CacheIndex(parentOf);

  const childrenOf = (name: string) => childIndex.get(name);
  const contentOf = (resource: ProjectContentResource, project: string) => contents.get(resource)!.get(project);

  const reconcile = async (name: string) => {
    const project = projectInformer!.cache.get(name);
    if (!project) return;
    const children = childrenOf(name);
    const namespaces = contentOf('namespaces', name);
    if (isDeleting(project)) return terminate(project, children);
    const allocations = allocationsFrom(name, children, namespaces);
    const status = withPhase(project.status, 'Active', timestamp(), {
      clusters: usedByCluster(project, allocations),
      calculatedChildProjects: children.map(c => c.metadata.name!).sort(),
      calculatedNamespaces: namespaces.map(n => n.metadata.name!).sort(),
      cachedSpecClusters: structuredClone(project.spec?.clusters ?? {}),
      cachedParent: parentOf(project),
    });
    for (const k of ['clusters', 'calculatedChildProjects', 'calculatedNamespaces', 'cachedSpecClusters'] as const) {
      const v = status[k];
      if (Array.isArray(v) ? v.length === 0 : Object.keys(v as object).length === 0) delete status[k];
    }
    await writeStatus(projects, project, status);
  };

  const terminate = async (project: KubeObject, children: KubeObject[]) => {
    const name = project.metadata.name!;
    if (project.status?.phase !== 'Terminating') return writeStatus(projects, project, withPhase(project.status, 'Terminating', timestamp()));
    const remaining: Array<[RegistryStore, KubeObject]> = children.map(c => [projects, c]);
    for (const resource of projectContentResources) {
      for (const o of contentOf(resource, name)) remaining.push([store(resource), o]);
    }
    await Promise.all(remaining.map(([s, o]) => deleteIgnoringNotFound(s, o)));
    // The deletions' own events bring the project back here once they are gone.
    if (remaining.length === 0) await removeSpecFinalizer(projects, project, BusinessFinalizer.Project);
  };

  const controller = new InformerController(`projects.${businessGroup}`, storage, reconcile, { logger });
  projectInformer = controller.watch({ group: businessGroup, resource: 'projects' }, (obj, old) => [
    obj.metadata.name, parentOf(obj), old ? parentOf(old) : undefined,
  ], childIndex);
  for (const resource of projectContentResources) {
    const byProject = new CacheIndex(o => o.metadata.namespace ?? '');
    contents.set(resource, byProject);
    controller.watch({ group: businessGroup, resource }, obj => [obj.metadata.namespace], byProject);
  }
  return controller;
}
