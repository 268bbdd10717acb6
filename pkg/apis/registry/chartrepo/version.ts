// GET charts/<name>/version?version=<v>: what TKE's chart info REST answers for one version of a
// chart, a ChartInfo with the chart's values.yaml, README and raw files, read from the stored
// archive (TKE pulls it from its chartmuseum and runs `helm show`).
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import { errors } from '../../../rest/errors.ts';
import type { CustomSubresource } from '../../../rest/resource.ts';
import { asChart } from '../stored.ts';
import { chartInfoFiles, readChartArchive } from './archive.ts';
import type { ChartArchives } from './archives.ts';
import { serverContext, type ChartStores } from './objects.ts';

export function chartVersionSubresource(deps: { stores: () => ChartStores; archives: () => ChartArchives }): CustomSubresource {
  return {
    verbs: ['get'],
    kind: 'ChartInfo',
    async handle({ parent, parentName, query }): Promise<KubeObject> {
      const gr = { group: 'registry.tkestack.io', resource: 'charts' };
      if (!parent) throw errors.notFound(gr, parentName);
      const version = query.get('version') ?? '';
      if (!version) throw errors.badRequest('version is required');
      const namespace = parent.metadata.namespace!;
      const group = await deps.stores().chartGroups.get(serverContext(''), namespace);
      const content = await deps.archives().content(group.metadata.uid!, asChart(parent).spec?.name ?? '', version);
      if (!content) throw errors.notFound(gr, `${parentName}/version/${version}`);
      const chart = readChartArchive(content);
      return {
        apiVersion: 'registry.tkestack.io/v1',
        kind: 'ChartInfo',
        metadata: { name: parent.metadata.name, namespace },
        spec: { ...chartInfoFiles(chart), chartSpec: chart.metadata },
      };
    },
  };
}
