// The application/v1 types a Cluster reaches through spec.bootstrapApps (tkestack/tke
// api/application/v1/types.go), with the `$id`s TKE's apiserver publishes for them.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, StringEnum } from '../../meta/v1/schema.ts';

const helmPublicPara = {
  clientTimeout: Type.Optional(
    Type.Integer({ format: 'int64', description: 'Client timeout when installiing or upgrading helm release, override default clientTimeOut' }),
  ),
  createNamespace: Type.Optional(Type.Boolean({ description: 'CreateNamespace create namespace when install helm release' })),
  atomic: Type.Optional(
    Type.Boolean({ description: 'Atomic, if true, for install case, will uninstall failed release, for upgrade case, will roll back on failure.' }),
  ),
  wait: Type.Optional(
    Type.Boolean({
      description:
        'Wait, if true, will wait until all Pods, PVCs, Services, and minimum number of Pods of a Deployment,StatefulSet, or ReplicaSet are in a ready state before marking the release as successful, or wait until client timeout',
    }),
  ),
  waitForJobs: Type.Optional(
    Type.Boolean({
      description: 'WaitForJobs, if true, wait until all Jobs have been completed before marking the release as successful or wait until client timeout',
    }),
  ),
};

export const InstallPara = Type.Object(helmPublicPara, {
  $id: 'io.tkestack.tke.api.application.v1.InstallPara',
  description: 'parameters used to install a chart',
});

export const UpgradePara = Type.Object(helmPublicPara, {
  $id: 'io.tkestack.tke.api.application.v1.UpgradePara',
  description: 'parameters used to upgrade a chart',
});

export const Chart = Type.Object(
  {
    tenantID: Type.Optional(Type.String()),
    chartGroupName: Type.Optional(Type.String()),
    chartName: Type.Optional(Type.String({ description: 'ChartName is the name of the chart.' })),
    chartVersion: Type.Optional(Type.String({ description: 'ChartVersion is the version of the chart.' })),
    repoURL: Type.Optional(Type.String()),
    repoUsername: Type.Optional(Type.String()),
    repoPassword: Type.Optional(Type.String()),
    importedRepo: Type.Optional(Type.Boolean()),
    installPara: Type.Optional(InstallPara),
    upgradePara: Type.Optional(UpgradePara),
  },
  {
    $id: 'io.tkestack.tke.api.application.v1.Chart',
    description: 'Chart is a description of a chart.',
  },
);

export const AppValues = Type.Object(
  {
    rawValuesType: Type.Optional(StringEnum(['json', 'yaml'])),
    rawValues: Type.Optional(Type.String()),
    values: Type.Optional(Type.Array(Type.String())),
  },
  {
    $id: 'io.tkestack.tke.api.application.v1.AppValues',
    description: 'AppValues string the values for this app.',
  },
);

export const AppSpec = Type.Object(
  {
    type: Type.Optional(Type.String()),
    tenantID: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    targetCluster: Type.Optional(Type.String()),
    targetNamespace: Type.Optional(Type.String()),
    chart: Type.Optional(Chart),
    values: Type.Optional(Field(AppValues, { description: 'Values holds the values for this app.' })),
    finalizers: Type.Optional(Type.Array(Type.String())),
    dryRun: Type.Optional(Type.Boolean()),
  },
  {
    $id: 'io.tkestack.tke.api.application.v1.AppSpec',
    description: 'AppSpec is a description of a project.',
  },
);

export const App = Type.Object(
  {
    metadata: Type.Optional(ObjectMeta),
    spec: Type.Optional(AppSpec),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.App' },
);

export const BootstrapApp = Type.Object(
  {
    app: Type.Optional(App),
  },
  { $id: 'io.tkestack.tke.api.platform.v1.BootstrapApp' },
);
export type BootstrapApp = Static<typeof BootstrapApp>;
