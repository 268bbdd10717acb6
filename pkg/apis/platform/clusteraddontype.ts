// clusteraddontypes.platform.tkestack.io: the add-ons a cluster can be given, their level and
// latest version. As in TKE it is a fixed table of this release, computed on every read and never
// stored: get and list only (short name `cat`).
import { AddonLevel, ClusterAddonType, ClusterAddonTypeList } from '../../../api/platform/v1/clusteraddontype.ts';
import { errors } from '../../rest/errors.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import type { ObjectOf } from '../../rest/resource.ts';
import { ClusterType } from './cluster.ts';
import { platformGroupName } from './names.ts';

const addons: Array<[type: string, level: NonNullable<ClusterAddonType['level']>, latestVersion: string, description: string]> = [
  ['Helm', AddonLevel.Enhance, 'v2.10.0', 'Helm manages Kubernetes applications as charts.'],
  ['PersistentEvent', AddonLevel.Enhance, 'v1.0.0', "Keeps the cluster's events beyond their time to live, in Elasticsearch."],
  ['LogCollector', AddonLevel.Enhance, 'v1.1.0', 'Collects container and node logs and ships them to Elasticsearch or Kafka.'],
  ['TappController', AddonLevel.Enhance, 'v1.1.0', 'TApp: workloads with instance-level control.'],
  ['CSIOperator', AddonLevel.Basic, 'v1.0.0', 'Installs and runs CSI storage plugins.'],
  ['VolumeDecorator', AddonLevel.Enhance, 'v1.0.0', 'Records volume usage on persistent volumes.'],
  ['CronHPA', AddonLevel.Enhance, 'v1.0.0', 'Scales workloads on a schedule.'],
  ['Prometheus', AddonLevel.Basic, 'v1.0.0', 'Monitoring of the cluster with Prometheus.'],
  ['IPAM', AddonLevel.Enhance, 'v1.0.0', 'Galaxy IPAM: fixed IP addresses for pods.'],
  ['LBCF', AddonLevel.Basic, 'v1.0.0', 'Load balancers driven by webhooks.'],
];

// The table is this release's: it exists, as served, since the server started.
const servedSince = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function addonTypes(): Array<ObjectOf<typeof ClusterAddonType>> {
  return addons.map(([type, level, latestVersion, description]) => ({
    apiVersion: `${platformGroupName}/v1`,
    kind: 'ClusterAddonType',
    metadata: { name: type.toLowerCase(), creationTimestamp: servedSince },
    type,
    level,
    latestVersion,
    description,
    compatibleClusterType: Object.values(ClusterType),
  }));
}

export const clusterAddonTypes: OpenAPIResource<typeof ClusterAddonType> = {
  group: platformGroupName,
  version: 'v1',
  kind: 'ClusterAddonType',
  listKind: 'ClusterAddonTypeList',
  resource: 'clusteraddontypes',
  singular: 'clusteraddontype',
  namespaced: false,
  shortNames: ['cat'],
  categories: [],
  schema: ClusterAddonType,
  listSchema: ClusterAddonTypeList,
  subresources: {},
  verbs: ['get', 'list'],
  handlers: {
    get: async (_ctx, name) => {
      const found = addonTypes().find(a => a.metadata.name === name.toLowerCase());
      if (!found) throw errors.notFound({ group: platformGroupName, resource: 'clusteraddontypes' }, name);
      return found;
    },
    list: async () => ({ items: addonTypes() }),
  },
  strategy: {
    columns: [
      { name: 'Type', type: 'string', format: '', description: 'The add-on.', priority: 0 },
      { name: 'Level', type: 'string', format: '', description: 'Basic or Enhance.', priority: 0 },
      { name: 'Latest Version', type: 'string', format: '', description: 'The version a new install gets.', priority: 0 },
    ],
    omitAge: true,
    row: obj => [obj.type, obj.level, obj.latestVersion],
  },
};
