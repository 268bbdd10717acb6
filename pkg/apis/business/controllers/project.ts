// The project controller keeps status true and runs deletion:
// - phase Pending -> Active; status.clusters[c].used = what is spoken for in c (exact sums): the
//   grants of its child projects, and for each of its namespaces what the member cluster's
//   ResourceQuota measured (the namespace's status.used, see controllers/namespace.ts) or, until
//   something was measured or where nothing can be (a cluster this server does not reach), the
//   namespace's whole grant; calculatedChildProjects/calculatedNamespaces. Quota admission does
//   not read this: it adds up the grants in its transaction (quota.ts), so a namespace's unused
//   grant can never be handed out twice.
// - on delete: Terminating; delete its child projects and everything in its namespace (each
//   goes through its own finalizers); once nothing is left, remove the "project" finalizer. The
//   project's beforeDelete re-checks that in the transaction, so nothing can be left behind.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { BusinessFinalizer } from '../../../../api/business/v1/types.ts';
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import type { RecordEvent } from '../../../controller/events.ts';
import type { Informer } from '../../../controller/informer.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { timestamp } from '../../../rest/metadata.ts';
import type { Store } from '../../../storage/interface.ts';
import { withPhase } from '../../tke/kinds.ts';
import { activeProjectStatus } from '../project.ts';
import {
  asNamespace,
  asProject,
  businessGroup,
  isDeleting,
  projectContentResources,
  type ProjectContentResource,
  type StoredNamespace,
  type StoredProject,
} from '../stored.ts';
import { allocationsFrom, describeQuotaUse } from '../quota.ts';
import { CacheIndex, deleteIgnoringNotFound, InformerController, removeSpecFinalizer, writeStatus } from './reconcile.ts';

/** A namespace as it counts in its project's used: its measured use in place of its grant, once there is one. */
function measuredUse(ns: StoredNamespace): StoredNamespace {
  const used = ns.status?.used;
  return used ? { ...ns, spec: { ...ns.spec, hard: used } } : ns;
}

export function projectController(storage: Store, store: (resource: string) => RegistryStore, recordEvent: RecordEvent, logger?: Logger): InformerController {
  const projects = store('projects');
  const contents = new Map<ProjectContentResource, CacheIndex>();
  let projectInformer: Informer | undefined;
  const childIndex = new CacheIndex(p => asProject(p).spec?.parentProjectName ?? '');

  const childrenOf = (name: string) => childIndex.get(name).map(asProject);
  const contentOf = (resource: ProjectContentResource, project: string) => contents.get(resource)!.get(project);

  const reconcile = async (name: string) => {
    const cached = projectInformer!.cache.get(name);
    if (!cached) return;
    const project = asProject(cached);
    const children = childrenOf(name);
    const namespaces = contentOf('namespaces', name).map(asNamespace);
    if (isDeleting(project)) return terminate(project, children);
    const allocations = allocationsFrom(name, children, namespaces.map(measuredUse));
    const status = activeProjectStatus(
      project,
      allocations,
      children.map(c => c.metadata.name!),
      namespaces.map(n => n.metadata.name!),
      timestamp(),
    );
    await writeStatus(projects, project, status);
    if (project.status?.phase !== 'Active') recordEvent(project, 'Normal', 'Active', 'the project is active');
    else if (!isDeepStrictEqual(project.status?.cachedSpecClusters ?? {}, project.spec?.clusters ?? {})) {
      recordEvent(project, 'Normal', 'QuotaChanged', `quota now: ${describeQuotaUse({ ...project, status }) || 'none'}`);
    }
  };

  const terminate = async (project: StoredProject, children: StoredProject[]) => {
    const name = project.metadata.name!;
    if (project.status?.phase !== 'Terminating') {
      await writeStatus(projects, project, withPhase(project.status, 'Terminating', timestamp()));
      recordEvent(project, 'Normal', 'Terminating', 'deleting its child projects and namespaces');
      return;
    }
    const remaining: Array<[RegistryStore, KubeObject]> = children.map(c => [projects, c]);
    for (const resource of projectContentResources) {
      for (const o of contentOf(resource, name)) remaining.push([store(resource), o]);
    }
    await Promise.all(remaining.map(([s, o]) => deleteIgnoringNotFound(s, o)));
    // The deletions' own events bring the project back here once they are gone.
    if (remaining.length === 0) {
      await removeSpecFinalizer(projects, project, BusinessFinalizer.Project);
      recordEvent(project, 'Normal', 'Deleted', 'nothing is left in the project; its finalizer is removed');
    } else {
      recordEvent(project, 'Normal', 'Deleting', `waiting for ${remaining.length} objects to be deleted`);
    }
  };

  const controller = new InformerController(`projects.${businessGroup}`, storage, reconcile, { logger });
  projectInformer = controller.watch(
    { group: businessGroup, resource: 'projects' },
    (obj, old) => [obj.metadata.name, asProject(obj).spec?.parentProjectName, old && asProject(old).spec?.parentProjectName],
    childIndex,
  );
  for (const resource of projectContentResources) {
    const byProject = new CacheIndex(o => o.metadata.namespace ?? '');
    contents.set(resource, byProject);
    controller.watch({ group: businessGroup, resource }, obj => [obj.metadata.namespace], byProject);
  }
  return controller;
}
