// The chart repository as the registry group installs it: its routes, the charts/version and
// chartgroups/repoupdating subresources on the kinds, the archive table, and a sweeper that
// drops the archives of Charts and chart groups deleted through the API rather than the
// repository's own DELETE.
import { fileURLToPath } from 'node:url';
import type { Controller } from '../../../controller/informer.ts';
import type { ResourceDefinition } from '../../../rest/resource.ts';
import type { APIGroup, GroupContext } from '../../../server/group.ts';
import type { Route } from '../../../server/apiserver.ts';
import { registryGroup } from '../rules.ts';
import { asChart } from '../stored.ts';
import { ChartRepoAuthenticator } from './access.ts';
import { ChartArchives } from './archives.ts';
import { repoUpdatingSubresource } from './import.ts';
import { serverContext, type ChartStores } from './objects.ts';
import { chartRepoRoutes } from './routes.ts';
import { chartVersionSubresource } from './version.ts';

export const chartRepoMigrations = fileURLToPath(new URL('../migrations/', import.meta.url));

const sweepEveryMs = 10 * 60_000;

export interface ChartRepository {
  /** The kind with the chart repository's subresources added (charts, chartgroups); others as they are. */
  withSubresources(def: ResourceDefinition): ResourceDefinition;
  routes: Route[];
  controller(): Controller;
  /** The registry group with all of the above added to what it serves. */
  install(group: APIGroup): APIGroup;
}

export function chartRepository(ctx: GroupContext): ChartRepository {
  const archives = new ChartArchives(ctx.sql);
  // Looked up when used: the server makes the stores after every group is built.
  const lazyStores: ChartStores = {
    get chartGroups() {
      return ctx.store(registryGroup, 'chartgroups');
    },
    get charts() {
      return ctx.store(registryGroup, 'charts');
    },
  };
  const stores = () => lazyStores;
  const logger = ctx.logger.child({ component: 'chart-repository' });
  const custom: Record<string, NonNullable<ResourceDefinition['subresources']['custom']>> = {
    charts: { version: chartVersionSubresource({ stores, archives: () => archives }) },
    chartgroups: { repoupdating: repoUpdatingSubresource({ stores, archives: () => archives, storage: ctx.storage, logger }) },
  };
  let timer: NodeJS.Timeout | undefined;
  const repository: ChartRepository = {
    install(group) {
      return {
        ...group,
        resources: group.resources.map(d => repository.withSubresources(d)),
        routes: [...(group.routes ?? []), ...repository.routes],
        controllers: () => [...(group.controllers?.() ?? []), repository.controller()],
      };
    },
    withSubresources(def) {
      const extra = def.group === registryGroup ? custom[def.resource] : undefined;
      return extra ? { ...def, subresources: { ...def.subresources, custom: { ...def.subresources.custom, ...extra } } } : def;
    },
    routes: chartRepoRoutes({
      stores: lazyStores,
      archives,
      logger,
      authorizer: ctx.authorizer,
      authenticator: new ChartRepoAuthenticator(ctx.authenticator),
    }),
    controller: () => ({
      name: 'registry-chart-archives',
      async start() {
        const sweep = async () => {
          // Read before the lists, so that nothing stored after them counts as orphaned.
          const cutoff = Date.now() - sweepEveryMs;
          const groups = await lazyStores.chartGroups.list(serverContext(''), {});
          const uidOf = new Map(groups.items.map(g => [g.metadata.name!, g.metadata.uid!]));
          const charts = await lazyStores.charts.list(serverContext(''), {});
          const live = charts.items.map(asChart).flatMap(c => {
            const groupUID = uidOf.get(c.metadata.namespace ?? '');
            return groupUID && !c.metadata.deletionTimestamp ? [{ groupUID, name: c.spec?.name ?? '' }] : [];
          });
          const dropped = await archives.forgetAllExcept(live, cutoff);
          if (dropped) logger.info({ dropped }, 'dropped the chart archives of deleted charts and chart groups');
        };
        timer = setInterval(() => void sweep().catch(err => logger.warn({ err }, 'chart archive sweep failed; retried later')), sweepEveryMs).unref();
      },
      stop() {
        clearInterval(timer);
      },
    }),
  };
  return repository;
}
