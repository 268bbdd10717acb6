// The registry objects the chart repository keeps in step with its archives, as TKE's
// chartmuseum hooks do: a Chart per chart name with status.versions, and the ChartGroup's
// status.chartCount counting its Charts. Writes go through the kinds' own stores, so their
// rules (unique names, the parent group, finalizers) apply to them as to any client's.
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import type { ChartVersion } from '../../../../api/registry/v1/chart.ts';
import { StatusError } from '../../../rest/errors.ts';
import type { RequestContext } from '../../../rest/resource.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { tenantOf } from '../../tke/tenant.ts';
import { asChart, asChartGroup, type StoredChart, type StoredChartGroup } from '../stored.ts';
import type { StoredChartVersion } from './archives.ts';

const fieldManager = 'tke-registry-chartrepo';

/** The chart repository acts on objects as the server itself, after authorizing the caller. */
export function serverContext(namespace: string, subresource: '' | 'status' = ''): RequestContext {
  return {
    user: { username: 'system:serviceaccount:tke:tke-registry-chartrepo', groups: ['system:masters', 'system:authenticated'] },
    namespace,
    dryRun: false,
    subresource,
  };
}

export interface ChartStores {
  chartGroups: RegistryStore;
  charts: RegistryStore;
}

const isStatus = (err: unknown, ...codes: number[]) => err instanceof StatusError && codes.includes(err.code);

/** The chart group of a tenant by its name in the registry (spec.name), as the URL names it. */
export async function findChartGroup(stores: ChartStores, tenant: string, name: string): Promise<StoredChartGroup | undefined> {
  const list = await stores.chartGroups.list(serverContext(''), { fieldSelector: `spec.name=${name}` });
  return list.items.map(asChartGroup).find(g => tenantOf(g) === tenant && g.spec?.name === name);
}

export async function findChart(stores: ChartStores, group: StoredChartGroup, name: string): Promise<StoredChart | undefined> {
  const list = await stores.charts.list(serverContext(group.metadata.name!), { fieldSelector: `spec.name=${name}` });
  // A Chart being deleted is on its way out; a new version makes a new Chart once it is gone.
  return list.items.map(asChart).find(c => c.spec?.name === name && tenantOf(c) === tenantOf(group) && !c.metadata.deletionTimestamp);
}

/**
 * Changes an object's status with optimistic concurrency, re-reading it after a conflict: `change`
 * gets a copy of its status, as `as` reads the object.
 */
export async function updateStatus<T extends KubeObject>(
  store: RegistryStore,
  as: (obj: KubeObject) => T,
  namespace: string,
  name: string,
  change: (status: T['status']) => T['status'],
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const current = as(await store.get(serverContext(namespace), name));
    const status = change(structuredClone(current.status));
    try {
      await store.update(
        serverContext(namespace, 'status'),
        name,
        {
          apiVersion: current.apiVersion,
          kind: current.kind,
          metadata: { name, namespace: namespace || undefined, resourceVersion: current.metadata.resourceVersion },
          status,
        },
        { fieldManager },
      );
      return;
    } catch (err) {
      if (!isStatus(err, 409) || attempt >= 10) throw err;
    }
  }
}

const versionOf = (v: StoredChartVersion): ChartVersion => ({
  version: v.version,
  chartSize: v.size,
  timeCreated: new Date(v.createdMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  ...(v.metadata.description ? { description: v.metadata.description } : {}),
  ...(v.metadata.appVersion ? { appVersion: v.metadata.appVersion } : {}),
  ...(v.metadata.icon ? { icon: v.metadata.icon } : {}),
});

/**
 * Makes the Chart named `name` in `group` list exactly `versions` (oldest first): created with
 * the group's visibility when it has its first version, removed when its last one goes.
 */
export async function syncChart(stores: ChartStores, group: StoredChartGroup, name: string, versions: StoredChartVersion[]): Promise<void> {
  const namespace = group.metadata.name!;
  for (let attempt = 0; ; attempt++) {
    const chart = await findChart(stores, group, name);
    if (!chart && versions.length === 0) return;
    if (chart && versions.length === 0) {
      try {
        await stores.charts.delete(serverContext(namespace), chart.metadata.name!, { preconditions: { uid: chart.metadata.uid } });
      } catch (err) {
        if (!isStatus(err, 404, 409)) throw err;
      }
      return;
    }
    try {
      const target =
        chart ??
        (
          await stores.charts.create(
            serverContext(namespace),
            {
              apiVersion: 'registry.tkestack.io/v1',
              kind: 'Chart',
              metadata: { generateName: 'chart-', namespace },
              spec: { name, tenantID: tenantOf(group), chartGroupName: group.spec?.name, visibility: group.spec?.visibility },
            },
            { fieldManager },
          )
        ).object;
      await updateStatus(stores.charts, asChart, namespace, target.metadata.name!, status => ({ ...status, versions: versions.map(versionOf) }));
      return;
    } catch (err) {
      // Another upload made the Chart first (its unique-name rule refused ours): use that one; or
      // the last one is still being deleted: its finalizer goes within moments.
      if (!isStatus(err, 409, 422, 404) || attempt >= 10) throw err;
      await new Promise(resolve => setTimeout(resolve, 300));
    }
  }
}

/** ChartGroup status.chartCount = its Charts, as TKE counts them. */
export async function syncChartCount(stores: ChartStores, group: StoredChartGroup): Promise<void> {
  const charts = await stores.charts.list(serverContext(group.metadata.name!), {});
  const count = charts.items.filter(c => tenantOf(c) === tenantOf(group) && !c.metadata.deletionTimestamp).length;
  await updateStatus(stores.chartGroups, asChartGroup, '', group.metadata.name!, status => ({ ...status, chartCount: count }));
}

/** One more pull of the chart (best effort: a download never fails for its count). */
export async function countPull(stores: ChartStores, group: StoredChartGroup, name: string): Promise<void> {
  const chart = await findChart(stores, group, name);
  if (!chart) return;
  await updateStatus(stores.charts, asChart, group.metadata.name!, chart.metadata.name!, status => ({ ...status, pullCount: (status?.pullCount ?? 0) + 1 }));
}
