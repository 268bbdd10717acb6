// What a project's imagenamespaces and chartgroups stand for in the registry group, as TKE's
// business controllers make them: an imagenamespace is a registry Namespace of the same name in
// the tenant (annotated with its project), a chartgroup a registry ChartGroup of the same name
// visible to the project (spec.projects). One that exists already is adopted only if it belongs
// to the same project; another project's is left alone and the business object goes Failed.
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import { RepoType, Visibility } from '../../../../api/registry/v1/types.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { tenantOf } from '../../tke/tenant.ts';
import type { Counterpart } from './lifecycle.ts';
import { controllerContext, deleteIgnoringNotFound } from './reconcile.ts';

/** On the registry object: the project whose business object made it (TKE's annotation). */
export const projectAnnotation = 'projectName';

interface Mirror {
  store: RegistryStore;
  generateName: string;
  /** The registry object's spec beyond name, displayName and tenantID. */
  spec(project: string): Record<string, unknown>;
  what: string;
}

function counterpart(m: Mirror): Counterpart {
  const sameName = async (obj: KubeObject) => {
    const found = await m.store.list(controllerContext(''), { fieldSelector: `spec.tenantID=${tenantOf(obj)},spec.name=${obj.metadata.name}` });
    return found.items;
  };
  const ours = (registryObject: KubeObject, obj: KubeObject) => registryObject.metadata.annotations?.[projectAnnotation] === obj.metadata.namespace;
  return {
    async ensure(obj) {
      const existing = await sameName(obj);
      if (existing.some(r => ours(r, obj))) return undefined;
      if (existing.length) {
        const owner = existing[0]!.metadata.annotations?.[projectAnnotation];
        return `the registry ${m.what} "${obj.metadata.name}" exists already${owner ? ` for project "${owner}"` : ''}`;
      }
      const project = obj.metadata.namespace!;
      await m.store.create(
        controllerContext(''),
        {
          metadata: { generateName: m.generateName, annotations: { [projectAnnotation]: project } },
          spec: { name: obj.metadata.name, displayName: obj.spec?.displayName ?? obj.metadata.name, tenantID: tenantOf(obj), ...m.spec(project) },
        },
        {},
      );
      return undefined;
    },
    async release(obj) {
      for (const r of await sameName(obj)) if (ours(r, obj)) await deleteIgnoringNotFound(m.store, r);
    },
  };
}

export const imageNamespaceCounterpart = (registryNamespaces: RegistryStore) =>
  counterpart({
    store: registryNamespaces,
    generateName: 'rns-',
    what: 'namespace',
    spec: () => ({ visibility: Visibility.Private }),
  });

export const chartGroupCounterpart = (registryChartGroups: RegistryStore) =>
  counterpart({
    store: registryChartGroups,
    generateName: 'rcg-',
    what: 'chart group',
    spec: project => ({ type: RepoType.SelfBuilt, visibility: Visibility.Project, projects: [project] }),
  });
