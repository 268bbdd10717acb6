// clusters.platform.tkestack.io: a Kubernetes cluster TKE manages or imports.
import { Cluster } from '../../../api/platform/v1/cluster.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { defaultTenant } from '../tke/tenant.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';

export const clusters: ResourceDefinition = {
  group: 'platform.tkestack.io', version: 'v1', kind: 'Cluster', listKind: 'ClusterList',
  resource: 'clusters', singular: 'cluster', namespaced: false,
  shortNames: ['cls'], categories: ['tke', 'all'],
  schema: Cluster,
  subresources: { status: true, finalize: specFinalizers },
  // SSH credentials of the machines, and of the proxy in front of them.
  secretFields: ['machines', 'scalingMachines'].flatMap(list => ['password', 'privateKey', 'passPhrase', 'proxy.password', 'proxy.privateKey', 'proxy.passPhrase']
    .map(field => `spec.${list}[].${field}`)),
  // A machine's credentials written back masked are kept only for the same address.
  secretTargets: Object.fromEntries(['machines', 'scalingMachines'].flatMap(list => [[`spec.${list}[]`, ['ip', 'port']], [`spec.${list}[].proxy`, ['ip', 'port']]])),
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'cls-';
      delete obj.status;
    },
    defaults: defaultTenant,
    columns: [
      { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
      { name: 'Type', type: 'string', format: '', description: 'Baremetal, Imported, ...', priority: 0 },
      { name: 'Version', type: 'string', format: '', description: 'The Kubernetes version.', priority: 0 },
      { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase of the cluster.', priority: 0 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the cluster belongs to.', priority: 1 },
      { name: 'Machines', type: 'integer', format: '', description: 'Number of machines in the spec.', priority: 1 },
    ],
    row: (obj) => [
      obj.spec?.displayName ?? '', obj.spec?.type ?? '', obj.spec?.version ?? '', obj.status?.phase ?? '',
      obj.spec?.tenantID ?? '', ((obj.spec?.machines as unknown[] | undefined) ?? []).length,
    ],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'spec.type', 'spec.version', 'status.version', 'status.phase'),
      'status.locked': o => (o.status?.locked === undefined ? '' : String(o.status.locked)),
    },
  },
};
