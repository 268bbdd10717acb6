// e2e: a project's imagenamespaces and chartgroups make their registry counterparts, as TKE's
// business controllers do: a registry Namespace (Private, annotated with the project) and a
// registry ChartGroup visible to the project. Another project's name is not taken over, and
// deleting the business object removes what it made.
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, type HttpResponse } from '../support/http.ts';
import { paths, projectObject, uniqueName } from '../support/fixtures.ts';
import { waitFor } from '../support/wait.ts';

const BUSINESS = '/apis/business.tkestack.io/v1';
const REGISTRY = '/apis/registry.tkestack.io/v1';

describe('e2e: business imagenamespaces and chartgroups in the registry', function () {
  this.timeout(60_000);
  let s: TestServer;
  const [first, second] = [uniqueName('prj-a'), uniqueName('prj-b')];

  before(async () => {
    s = await startServer();
    for (const p of [first, second]) expect(await s.request('POST', paths.projects, { body: projectObject(p) }), 201);
  });
  after(async () => {
    await s?.stop();
  });

  function expect(res: HttpResponse, code: number): any {
    assert.equal(res.status, code, describeResponse(res));
    return res.json();
  }
  const businessPath = (project: string, resource: string, name = '') => `${BUSINESS}/namespaces/${project}/${resource}${name ? `/${name}` : ''}`;
  const registryNamed = async (resource: string, name: string) =>
    expect(await s.request('GET', `${REGISTRY}/${resource}?fieldSelector=${encodeURIComponent(`spec.name=${name}`)}`), 200).items as any[];
  const phaseOf = async (project: string, resource: string, name: string) =>
    expect(await s.request('GET', businessPath(project, resource, name)), 200).status?.phase;

  for (const [resource, registryResource, visibility] of [
    ['imagenamespaces', 'namespaces', 'Private'],
    ['chartgroups', 'chartgroups', 'Project'],
  ] as const) {
    it(`${resource} make a registry ${registryResource} object, refuse another project's, and take theirs away on delete`, async () => {
      const name = uniqueName('team');
      const body = { metadata: {}, spec: { name, tenantID: 'default', displayName: `Team ${name}` } };
      expect(await s.request('POST', businessPath(first, resource), { body }), 201);
      await waitFor(`${resource}/${name} to be Available`, async () => (await phaseOf(first, resource, name)) === 'Available', 20_000);
      const [made, ...more] = await registryNamed(registryResource, name);
      assert.equal(more.length, 0);
      assert.equal(made.metadata.annotations.projectName, first);
      assert.equal(made.spec.visibility, visibility);
      assert.equal(made.spec.displayName, `Team ${name}`);
      if (resource === 'chartgroups') assert.deepEqual(made.spec.projects, [first]);

      expect(await s.request('POST', businessPath(second, resource), { body }), 201);
      await waitFor(`the second project's ${resource}/${name} to be Failed`, async () => (await phaseOf(second, resource, name)) === 'Failed', 20_000);
      const failed = expect(await s.request('GET', businessPath(second, resource, name)), 200);
      assert.match(failed.status.message, new RegExp(`exists already for project "${first}"`));
      assert.deepEqual(
        (await registryNamed(registryResource, name)).map(r => r.metadata.uid),
        [made.metadata.uid],
        "the first project's object is untouched",
      );

      expect(await s.request('DELETE', businessPath(second, resource, name)), 202);
      await waitFor(
        `the second project's ${resource}/${name} to be gone`,
        async () => (await s.request('GET', businessPath(second, resource, name))).status === 404,
        20_000,
      );
      assert.equal((await registryNamed(registryResource, name)).length, 1, 'deleting the refused one removes nothing of the first project');

      expect(await s.request('DELETE', businessPath(first, resource, name)), 202);
      await waitFor(
        `the registry ${registryResource} object ${name} to be gone`,
        async () => (await registryNamed(registryResource, name)).length === 0,
        20_000,
      );
    });
  }
});
