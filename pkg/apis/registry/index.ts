// registry.tkestack.io/v1: the image and chart registry's kinds, served as stored objects
// (the Docker registry and chartmuseum behind them are a later step). Chart groups and charts
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

export const registryGroup: APIGroupInstaller = {
  name: group,
  build: (ctx) => ({
    resources: [namespaces, repositories, chartGroups, charts, configMaps],
    controllers() {
      const store = (resource: string) => ctx.store(group, resource);
      return [
        lifecycleController(ctx.storage, { store: store('chartgroups'), finalizer: RegistryFinalizer.ChartGroup }, ctx.logger),
        lifecycleController(ctx.storage, { store: store('charts'), finalizer: RegistryFinalizer.Chart }, ctx.logger),
      ];
    },
  }),
};
