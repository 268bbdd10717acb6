// business.tkestack.io/v1: projects and what lives in them, the platform and portal views, and
// the controllers that keep their status true.
import { BusinessFinalizer } from '../../../api/business/v1/types.ts';
import type { APIGroupInstaller } from '../../server/group.ts';
import { configMaps } from './configmap.ts';
import { lifecycleController } from './controllers/lifecycle.ts';
import { namespaceController } from './controllers/namespace.ts';
import { eventsAbout } from '../../controller/events.ts';
import { projectController } from './controllers/project.ts';
import { chartGroupCounterpart, imageNamespaceCounterpart } from './controllers/registrylinks.ts';
import { namespaces } from './namespace.ts';
import { nsEmigrations } from './nsemigration.ts';
import { businessGroup as group } from './stored.ts';
import { platforms } from './platform.ts';
import { portal } from './portal.ts';
import { projects } from './project.ts';
import { chartGroups, imageNamespaces } from './registryobjects.ts';
import { ProjectAllocations } from './quota.ts';

export const businessGroup: APIGroupInstaller = {
  name: group,
  build(ctx) {
    const allocations = new ProjectAllocations();
    return {
      resources: [
        projects(allocations),
        namespaces(allocations, { storage: ctx.storage }),
        platforms,
        portal(ctx.storage),
        imageNamespaces,
        chartGroups,
        nsEmigrations(allocations),
        configMaps,
      ],
      controllers() {
        const store = (resource: string) => ctx.store(group, resource);
        return [
          projectController(
            ctx.storage,
            store,
            eventsAbout(ctx.eventRecorder, { apiVersion: 'business.tkestack.io/v1', kind: 'Project' }, 'project-controller'),
            ctx.logger,
          ),
          namespaceController({
            storage: ctx.storage,
            store: store('namespaces'),
            logger: ctx.logger,
            healthCheckPeriodMs: ctx.clusterHealthCheckPeriodSeconds * 1000,
          }),
          lifecycleController(
            ctx.storage,
            {
              store: store('imagenamespaces'),
              finalizer: BusinessFinalizer.ImageNamespace,
              counterpart: imageNamespaceCounterpart(ctx.store('registry.tkestack.io', 'namespaces')),
            },
            ctx.logger,
          ),
          lifecycleController(
            ctx.storage,
            {
              store: store('chartgroups'),
              finalizer: BusinessFinalizer.ChartGroup,
              counterpart: chartGroupCounterpart(ctx.store('registry.tkestack.io', 'chartgroups')),
            },
            ctx.logger,
          ),
        ];
      },
    };
  },
};
