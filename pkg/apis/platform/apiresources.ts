// GET clusters/<name>/apiresources: the member's API resources, one entry per group at its
// preferred version, as TKE's APIResourcesREST answers (ClusterGroupAPIResourceItemsList, from
// client-go's ServerPreferredResources). Groups the member fails to describe are named in
// failedGroupError instead of failing the whole answer, as discovery's partial errors are.
import type { Cluster } from '../../../api/platform/v1/cluster.ts';
import { errors } from '../../rest/errors.ts';
import type { CustomSubresource, ResourceDefinition } from '../../rest/resource.ts';
import type { Store } from '../../storage/interface.ts';
import { platformGroupName } from './names.ts';
import { memberConnectSubresources, memberJSON, memberTarget, type MemberTarget } from './proxy.ts';
import { asCluster } from './stored.ts';

interface DiscoveredResource {
  name: string;
  singularName?: string;
  namespaced?: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs?: string[];
  shortNames?: string[];
  categories?: string[];
}

export interface APIResourceGroup {
  groupVersion: string;
  resources: DiscoveredResource[];
}

/** The member's resources of every preferred group version; failed group versions are listed apart. */
export async function memberAPIResources(target: MemberTarget): Promise<{ lists: APIResourceGroup[]; failed: string[] }> {
  const fetch = async (path: string) => {
    const r = await memberJSON(target, 'GET', path);
    if (r.status !== 200 || typeof r.body !== 'object') throw new Error(`${path}: HTTP ${r.status}`);
    return r.body;
  };
  const core = await fetch('/api');
  const groups = await fetch('/apis');
  const groupVersions: string[] = [
    ...((core.versions ?? []) as string[]).slice(0, 1),
    ...((groups.groups ?? []) as Array<{ preferredVersion?: { groupVersion?: string }; versions?: Array<{ groupVersion: string }> }>)
      .map(g => g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion ?? '')
      .filter(Boolean),
  ];
  const failed: string[] = [];
  const lists = await Promise.all(
    groupVersions.map(async gv => {
      try {
        const list = await fetch(gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`);
        const [group, version] = gv.includes('/') ? gv.split('/') : ['', gv];
        const resources = ((list.resources ?? []) as DiscoveredResource[]).map(r => ({
          name: r.name,
          singularName: r.singularName ?? '',
          namespaced: Boolean(r.namespaced),
          group: r.group || group,
          version: r.version || version,
          kind: r.kind,
          verbs: r.verbs ?? [],
          shortNames: r.shortNames ?? [],
          categories: r.categories ?? [],
        }));
        return { groupVersion: gv, resources };
      } catch (err) {
        failed.push(`${gv}: ${(err as Error).message}`);
        return { groupVersion: gv, resources: [] };
      }
    }),
  );
  return { lists: lists.filter(l => l.resources.length > 0), failed };
}

export const clusterAPIResources = (storage: Store): CustomSubresource => ({
  verbs: ['get'],
  // Discovery names TKE's New() kind; the answer itself is the list.
  kind: 'ClusterGroupAPIResourceItems',
  async handle({ parent, parentName, ctx }) {
    if (!parent) throw errors.notFound({ group: platformGroupName, resource: 'clusters' }, parentName);
    let discovered: Awaited<ReturnType<typeof memberAPIResources>>;
    try {
      discovered = await memberAPIResources(await memberTarget(storage, asCluster(parent), ctx.user));
    } catch (err) {
      throw (err as { status?: unknown }).status
        ? err
        : errors.unavailable(`the member cluster "${parentName}" did not describe its API: ${(err as Error).message}`);
    }
    return {
      apiVersion: `${platformGroupName}/v1`,
      kind: 'ClusterGroupAPIResourceItemsList',
      metadata: {},
      items: discovered.lists.map(l => ({ groupVersion: l.groupVersion, resources: l.resources })),
      failedGroupError: discovered.failed.join('; '),
    };
  },
});

/** The clusters kind with its subresources into the member: apiresources, and the connect ones discovery lists. */
export function withMemberSubresources(clusters: ResourceDefinition<typeof Cluster>, storage: Store): ResourceDefinition<typeof Cluster> {
  return {
    ...clusters,
    subresources: {
      ...clusters.subresources,
      custom: { ...clusters.subresources.custom, apiresources: clusterAPIResources(storage), ...memberConnectSubresources },
    },
  };
}
