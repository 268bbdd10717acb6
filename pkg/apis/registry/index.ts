// registry.tkestack.io/v1: the image and chart registry: its kinds, the Docker Registry API at
// /v2/ on a supervised distribution engine with this server as its token service
// (distribution/), and the chart repository at /chart/ (chartrepo/). Chart groups and charts
// carry TKE's spec finalizers; the shared lifecycle controller moves them Pending -> Available
// and, on delete, Terminating -> gone.
import { RegistryFinalizer } from '../../../api/registry/v1/types.ts';
import { lifecycleController } from '../business/controllers/lifecycle.ts';
import type { APIGroupInstaller } from '../../server/group.ts';
import { charts } from './chart.ts';
import { chartGroups } from './chartgroup.ts';
import { registryGroup as group } from './rules.ts';
import { configMaps } from './configmap.ts';
import { namespaces } from './namespace.ts';
import { repositories } from './repository.ts';
import { chartRepoMigrations, chartRepository } from './chartrepo/install.ts';
import { withImageRegistry } from './distribution/index.ts';

export const registryGroup: APIGroupInstaller = {
  name: group,
  migrations: chartRepoMigrations,
  build: ctx =>
    chartRepository(ctx).install(
      withImageRegistry(ctx, {
        resources: [namespaces, repositories, chartGroups, charts, configMaps],
        controllers() {
          const store = (resource: string) => ctx.store(group, resource);
          return [
            lifecycleController(ctx.storage, { store: store('chartgroups'), finalizer: RegistryFinalizer.ChartGroup }, ctx.logger),
            lifecycleController(ctx.storage, { store: store('charts'), finalizer: RegistryFinalizer.Chart }, ctx.logger),
          ];
        },
      }),
    ),
};
