// platform.tkestack.io/v1: the clusters TKE manages or imports, the credentials that reach them,
// the machines that become their nodes.
import type { APIGroupInstaller } from '../../server/group.ts';
import { withMemberSubresources } from './apiresources.ts';
import { clusterAddonTypes } from './clusteraddontype.ts';
import { clusterController } from './clustercontroller.ts';
import { clusterCredentials } from './clustercredential.ts';
import { clusters } from './cluster.ts';
import { configMaps } from './configmap.ts';
import { machines } from './machine.ts';
import { machineController } from './machinecontroller.ts';
import { platformGroupName } from './names.ts';
import { memberRoutes } from './proxy.ts';
import { registries } from './registry.ts';

export const platformGroup: APIGroupInstaller = {
  name: platformGroupName,
  build: ctx => ({
    resources: [withMemberSubresources(clusters, ctx.storage), clusterCredentials, machines, configMaps, registries, clusterAddonTypes],
    routes: memberRoutes(ctx),
    controllers: () => [clusterController(ctx), machineController(ctx)],
  }),
};
