// business.tkestack.io quota and hierarchy rules against the real server: exact quantities,
// cluster and parent checks, no overcommit under races (also across two replicas), cycles,
// status kept by the controllers, namespace uniqueness, project deletion and namespace moves.
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { type HttpResponse, describeResponse } from '../support/http.ts';
import { uniqueName, clusterObject, paths } from '../support/fixtures.ts';
import { waitFor } from '../support/wait.ts';

type Hard = Record<string, string | number>;

const project = (name: string, clusters: Record<string, Hard>, extra: { parent?: string; members?: string[] } = {}) => ({
  apiVersion: 'business.tkestack.io/v1',
  kind: 'Project',
  metadata: { name },
  spec: {
    tenantID: 'default',
    displayName: `Project ${name}`,
    members: extra.members ?? ['admin'],
    ...(extra.parent ? { parentProjectName: extra.parent } : {}),
    clusters: Object.fromEntries(Object.entries(clusters).map(([c, hard]) => [c, { hard }])),
  },
});

const namespace = (prj: string, name: string, cluster: string, hard: Hard, k8sNamespace = name) => ({
  apiVersion: 'business.tkestack.io/v1',
  kind: 'Namespace',
  metadata: { name, namespace: prj },
  spec: { tenantID: 'default', clusterName: cluster, namespace: k8sNamespace, hard },
});

const emigration = (from: string, ns: string, to: string) => ({
  apiVersion: 'business.tkestack.io/v1',
  kind: 'NsEmigration',
  metadata: { generateName: 'move-', namespace: from },
  spec: { tenantID: 'default', namespace: ns, destination: to },
});

const nsemigrations = (prj: string) => `/apis/business.tkestack.io/v1/namespaces/${prj}/nsemigrations`;

describe('e2e: business.tkestack.io quota and hierarchy', function () {
  this.timeout(120_000);
  let server: TestServer;
  const cls = uniqueName('cls');
  const cls2 = uniqueName('cls');

  before(async function () {
    this.timeout(180_000);
    server = await startServer();
    for (const c of [cls, cls2]) await expectStatus(server.request('POST', paths.clusters, { body: clusterObject(c) }), 201);
  });
  after(async function () {
    if (server) await server.stop();
  });

  async function expectStatus(p: Promise<HttpResponse>, code: number): Promise<any> {
    const res = await p;
    assert.equal(res.status, code, describeResponse(res));
    return res.json();
  }
  const post = (path: string, body: unknown, code = 201) => expectStatus(server.request('POST', path, { body }), code);
  const get = (path: string) => expectStatus(server.request('GET', path), 200);
  const mergePatch = (path: string, body: unknown, code = 200) =>
    expectStatus(server.request('PATCH', path, { headers: { 'Content-Type': 'application/merge-patch+json' }, body }), code);
  const gone = async (path: string) => (await server.request('GET', path)).status === 404;
  const usedOf = async (prj: string, cluster: string, resource: string) => (await get(paths.project(prj))).status?.clusters?.[cluster]?.used?.[resource];
  const waitUsed = (prj: string, cluster: string, resource: string, want: string) =>
    waitFor(`${prj} status.clusters[${cluster}].used[${resource}] == ${want}`, async () => (await usedOf(prj, cluster, resource)) === want, 10_000);

  describe('quantities', function () {
    it('are stored in canonical form and summed exactly: 0.1 + 0.2 cpu is 300m', async function () {
      const prj = uniqueName('qty');
      await post(paths.projects, project(prj, { [cls]: { 'requests.cpu': '0.3', 'requests.memory': '1.5Gi' } }));
      const p = await get(paths.project(prj));
      assert.deepEqual(p.spec.clusters[cls].hard, { 'requests.cpu': '300m', 'requests.memory': '1536Mi' });
      await post(paths.namespaces(prj), namespace(prj, uniqueName('a'), cls, { 'requests.cpu': '0.1', 'requests.memory': '512Mi' }));
      await post(paths.namespaces(prj), namespace(prj, uniqueName('b'), cls, { 'requests.cpu': 0.2, 'requests.memory': '1Gi' }));
      await waitUsed(prj, cls, 'requests.cpu', '300m');
      assert.equal(await usedOf(prj, cls, 'requests.memory'), '1536Mi');
      // Exactly full: not even one more millicore fits.
      const st = await post(paths.namespaces(prj), namespace(prj, uniqueName('c'), cls, { 'requests.cpu': '1m', 'requests.memory': '0' }), 403);
      // Like Kubernetes' quota admission, only the exceeded resources are listed.
      assert.match(st.message, new RegExp(`cluster "${cls}", requested: requests\\.cpu=1m, used: requests\\.cpu=300m, limited: requests\\.cpu=300m$`));
    });

    it('invalid quantities, negative values and fractional counts are 422 naming the field', async function () {
      const prj = uniqueName('bad');
      for (const [hard, fieldName] of [
        [{ 'requests.cpu': '1.2.3' }, `spec.clusters[${cls}].hard[requests.cpu]`],
        [{ 'requests.cpu': '-1' }, `spec.clusters[${cls}].hard[requests.cpu]`],
        [{ pods: '1500m' }, `spec.clusters[${cls}].hard[pods]`],
        [{ 'count/deployments.apps': '2.5' }, `spec.clusters[${cls}].hard[count/deployments.apps]`],
        [{ gpus: '1' }, `spec.clusters[${cls}].hard[gpus]`],
      ] as const) {
        const st = await post(paths.projects, project(prj, { [cls]: hard }), 422);
        assert.equal(st.reason, 'Invalid', JSON.stringify(st));
        assert.ok(
          st.details.causes.some((c: any) => c.field === fieldName || c.field === `spec.clusters.${cls}.hard`),
          `${JSON.stringify(hard)}: ${JSON.stringify(st.details.causes)}`,
        );
      }
    });
  });

  describe('clusters and parents', function () {
    it('spec.clusters must name existing clusters', async function () {
      const st = await post(paths.projects, project(uniqueName('nocls'), { 'no-such-cluster': { 'requests.cpu': '1' } }), 422);
      assert.ok(
        st.details.causes.some((c: any) => c.field === 'spec.clusters[no-such-cluster]'),
        JSON.stringify(st),
      );
    });

    it("a child may only use its parent's clusters, must set what the parent limits, and must fit", async function () {
      const parent = uniqueName('par');
      await post(paths.projects, project(parent, { [cls]: { 'requests.cpu': '10', 'requests.memory': '10Gi' } }));
      let st = await post(paths.projects, project(uniqueName('kid'), { [cls2]: { 'requests.cpu': '1' } }, { parent }), 422);
      assert.match(st.message, new RegExp(`no quota in cluster "${cls2}"`));
      st = await post(paths.projects, project(uniqueName('kid'), { [cls]: { 'requests.cpu': '1' } }, { parent }), 422);
      assert.match(st.message, /must set quota 'requests\.memory'/);
      const kid = uniqueName('kid');
      await post(paths.projects, project(kid, { [cls]: { 'requests.cpu': '6', 'requests.memory': '4Gi' } }, { parent }));
      await post(paths.namespaces(parent), namespace(parent, uniqueName('ns'), cls, { 'requests.cpu': '3', 'requests.memory': '1Gi' }));
      st = await post(paths.projects, project(uniqueName('kid'), { [cls]: { 'requests.cpu': '2', 'requests.memory': '1Gi' } }, { parent }), 403);
      assert.equal(st.reason, 'Forbidden');
      for (const part of [`cluster "${cls}"`, 'requested: requests.cpu=2', 'used: requests.cpu=9', 'limited: requests.cpu=10']) {
        assert.ok(st.message.includes(part), `${part} in ${st.message}`);
      }
      await post(paths.projects, project(uniqueName('kid'), { [cls]: { 'requests.cpu': '1', 'requests.memory': '1Gi' } }, { parent }));
      await waitUsed(parent, cls, 'requests.cpu', '10');
      // A child may not grow past what its parent has left either.
      st = await mergePatch(paths.project(kid), { spec: { clusters: { [cls]: { hard: { 'requests.cpu': '7' } } } } }, 403);
      assert.match(st.message, /requested: requests\.cpu=7, used: requests\.cpu=4, limited: requests\.cpu=10$/);
      // Lowering the parent below what it handed out is refused the same way.
      st = await mergePatch(paths.project(parent), { spec: { clusters: { [cls]: { hard: { 'requests.cpu': '9' } } } } }, 403);
      assert.match(st.message, new RegExp(`cluster "${cls}".*requested: requests\\.cpu=9, used: requests\\.cpu=10, limited: requests\\.cpu=9$`));
      // And so is removing a cluster its children use.
      st = await mergePatch(paths.project(parent), { spec: { clusters: { [cls]: null, [cls2]: { hard: {} } } } }, 422);
      assert.match(st.message, /can NOT remove cluster/);
    });

    it("a namespace's cluster must be one of its project's, and the project must exist", async function () {
      const prj = uniqueName('nsc');
      await post(paths.projects, project(prj, { [cls]: {} }));
      const st = await post(paths.namespaces(prj), namespace(prj, uniqueName('x'), cls2, {}), 422);
      assert.match(st.message, new RegExp(`no quota in cluster "${cls2}"`));
      await post(paths.namespaces('no-such-project'), namespace('no-such-project', 'x', cls, {}), 422);
    });

    it('cycles are rejected, and moving a project re-checks the new parent and frees the old one', async function () {
      const a = uniqueName('a');
      const b = uniqueName('b');
      const c = uniqueName('c');
      await post(paths.projects, project(a, { [cls]: { 'requests.cpu': '4' } }));
      await post(paths.projects, project(b, { [cls]: { 'requests.cpu': '2' } }, { parent: a }));
      await post(paths.projects, project(c, { [cls]: { 'requests.cpu': '1' } }, { parent: b }));
      const st = await mergePatch(paths.project(a), { spec: { parentProjectName: c } }, 422);
      assert.match(st.message, /ancestor projects formed a circle/);
      await mergePatch(paths.project(a), { spec: { parentProjectName: a } }, 422);

      const small = uniqueName('small');
      await post(paths.projects, project(small, { [cls]: { 'requests.cpu': '500m' } }));
      await waitUsed(b, cls, 'requests.cpu', '1');
      let moved = await mergePatch(paths.project(c), { spec: { parentProjectName: small } }, 403);
      assert.match(moved.message, new RegExp(`exceeded quota of project "${small}"`));
      const roomy = uniqueName('roomy');
      await post(paths.projects, project(roomy, { [cls]: { 'requests.cpu': '3' } }));
      moved = await mergePatch(paths.project(c), { spec: { parentProjectName: roomy } });
      assert.equal(moved.spec.parentProjectName, roomy);
      await waitUsed(b, cls, 'requests.cpu', '0');
      await waitUsed(roomy, cls, 'requests.cpu', '1');
      await waitFor(`${b} no longer lists ${c}`, async () => !((await get(paths.project(b))).status.calculatedChildProjects ?? []).includes(c), 10_000);
    });
  });

  describe('object-count quota (count/<resource>, tkestack/tke#1939)', function () {
    it('is enforced exactly like any other resource', async function () {
      const prj = uniqueName('cnt');
      await post(paths.projects, project(prj, { [cls]: { 'count/deployments.apps': '10', pods: 20 } }));
      assert.deepEqual((await get(paths.project(prj))).spec.clusters[cls].hard, { 'count/deployments.apps': '10', pods: '20' });
      await post(paths.namespaces(prj), namespace(prj, uniqueName('n'), cls, { 'count/deployments.apps': '6', pods: '10' }));
      await post(paths.namespaces(prj), namespace(prj, uniqueName('n'), cls, { 'count/deployments.apps': '4', pods: '10' }));
      const st = await post(paths.namespaces(prj), namespace(prj, uniqueName('n'), cls, { 'count/deployments.apps': '1', pods: '0' }), 403);
      assert.match(st.message, /requested: count\/deployments\.apps=1, used: count\/deployments\.apps=10, limited: count\/deployments\.apps=10$/);
      await post(paths.namespaces(prj), namespace(prj, uniqueName('n'), cls, { pods: '0' }), 422);
      await waitUsed(prj, cls, 'count/deployments.apps', '10');
    });
  });

  describe('no overcommit under races', function () {
    async function race(servers: TestServer[], runs: number) {
      for (let run = 0; run < runs; run++) {
        const prj = uniqueName('race');
        await post(paths.projects, project(prj, { [cls]: { 'requests.cpu': '5', 'requests.memory': '5Gi' } }));
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            servers[i % servers.length].request('POST', paths.namespaces(prj), {
              body: namespace(prj, `ns-${i}`, cls, { 'requests.cpu': '1', 'requests.memory': '1Gi' }, `${prj}-ns-${i}`),
            }),
          ),
        );
        const codes = results.map(r => r.status);
        assert.equal(
          codes.filter(c => c === 201).length,
          5,
          `run ${run}: ${codes.join(',')}\n${results
            .filter(r => r.status !== 201 && r.status !== 403)
            .map(describeResponse)
            .join('\n')}`,
        );
        assert.equal(codes.filter(c => c === 403).length, 15, `run ${run}: ${codes.join(',')}`);
        const list = await get(paths.namespaces(prj));
        assert.equal(list.items.length, 5);
        await waitUsed(prj, cls, 'requests.cpu', '5');
      }
    }

    it('20 concurrent namespace creates of which 5 fit: exactly 5 succeed, every run', async function () {
      await race([server], 5);
    });

    it('the same across two server processes on one database', async function () {
      this.timeout(240_000);
      const replica = await startServer({ databaseUrl: server.databaseUrl, dataDir: server.dataDir });
      try {
        await race([server, replica], 5);
      } finally {
        await replica.stop();
      }
    });
  });

  describe('status kept by the controllers', function () {
    it('project Active from its creation, then used and calculated lists kept; a namespace in a Baremetal cluster stays Pending, saying why', async function () {
      const prj = uniqueName('st');
      const created = await post(paths.projects, project(prj, { [cls]: { 'requests.cpu': '2' } }));
      // Nothing draws on a new project yet: the create sets the status the controller would.
      assert.equal(created.status.phase, 'Active');
      assert.deepEqual(created.status.clusters, { [cls]: { used: { 'requests.cpu': '0' } } });
      assert.deepEqual(created.status.cachedSpecClusters, { [cls]: { hard: { 'requests.cpu': '2' } } });
      assert.deepEqual(created.spec.finalizers, ['project']);
      const kid = uniqueName('stkid');
      await post(paths.projects, project(kid, { [cls]: { 'requests.cpu': '500m' } }, { parent: prj }));
      const ns = uniqueName('stns');
      const nsCreated = await post(paths.namespaces(prj), namespace(prj, ns, cls, { 'requests.cpu': '1' }));
      assert.equal(nsCreated.status.phase, 'Pending');
      // This server does not provision Baremetal clusters: nothing is created anywhere, so the
      // namespace is not Available and reports no use; its grant stays reserved in the project.
      const nsObj = await waitFor(
        `${ns} explained`,
        async () => {
          const o = await get(paths.namespace(prj, ns));
          return o.status.reason === 'ClusterNotManaged' && o;
        },
        10_000,
      );
      assert.equal(nsObj.status.phase, 'Pending');
      assert.match(nsObj.status.message, new RegExp(`cluster "${cls}" is of type Baremetal, which this server does not provision`));
      assert.equal(nsObj.status.used, undefined);
      assert.deepEqual(nsObj.status.cachedSpecHard, { 'requests.cpu': '1' });
      const p = await waitFor(
        `${prj} status`,
        async () => {
          const o = await get(paths.project(prj));
          return o.status.clusters?.[cls]?.used?.['requests.cpu'] === '1500m' && o;
        },
        10_000,
      );
      assert.deepEqual(p.status.calculatedChildProjects, [kid]);
      assert.deepEqual(p.status.calculatedNamespaces, [ns]);
      const sel = await get(`${paths.projects}?fieldSelector=spec.parentProjectName%3D${prj}`);
      assert.deepEqual(
        sel.items.map((o: any) => o.metadata.name),
        [kid],
      );
      const byPhase = await get(`/apis/business.tkestack.io/v1/namespaces?fieldSelector=spec.clusterName%3D${cls},status.phase%3DPending`);
      assert.ok(byPhase.items.some((o: any) => o.metadata.name === ns));
    });
  });

  describe('namespace uniqueness', function () {
    it('a Kubernetes namespace of a cluster belongs to one business namespace across all projects', async function () {
      const p1 = uniqueName('u1');
      const p2 = uniqueName('u2');
      await post(paths.projects, project(p1, { [cls]: {}, [cls2]: {} }));
      await post(paths.projects, project(p2, { [cls]: {}, [cls2]: {} }));
      const k8s = uniqueName('shared');
      await post(paths.namespaces(p1), namespace(p1, 'first', cls, {}, k8s));
      const st = await post(paths.namespaces(p2), namespace(p2, 'second', cls, {}, k8s), 422);
      assert.ok(
        st.details.causes.some((c: any) => c.field === 'spec.namespace' && c.reason === 'FieldValueDuplicate'),
        JSON.stringify(st),
      );
      await post(paths.namespaces(p1), namespace(p1, 'again', cls, {}, k8s), 422);
      // The same name in another cluster is another namespace.
      await post(paths.namespaces(p2), namespace(p2, 'other-cluster', cls2, {}, k8s));
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          server.request('POST', paths.namespaces(i % 2 ? p1 : p2), { body: namespace(i % 2 ? p1 : p2, `dup-${i}`, cls, {}, `${k8s}-race`) }),
        ),
      );
      assert.equal(results.filter(r => r.status === 201).length, 1, results.map(r => r.status).join(','));
      await post(paths.namespaces(p1), namespace(p1, 'kube', cls, {}, 'kube-system'), 422);
    });
  });

  describe('deleting a project', function () {
    it('turns it Terminating, deletes its namespaces and children first, returns quota to the parent, then it is gone', async function () {
      const top = uniqueName('top');
      const mid = uniqueName('mid');
      const leaf = uniqueName('leaf');
      await post(paths.projects, project(top, { [cls]: { 'requests.cpu': '10' } }));
      await post(paths.projects, project(mid, { [cls]: { 'requests.cpu': '6' } }, { parent: top }));
      await post(paths.projects, project(leaf, { [cls]: { 'requests.cpu': '2' } }, { parent: mid }));
      const nsNames = [uniqueName('d'), uniqueName('d')];
      for (const n of nsNames) await post(paths.namespaces(mid), namespace(mid, n, cls, { 'requests.cpu': '1' }));
      await post(paths.namespaces(leaf), namespace(leaf, uniqueName('d'), cls, { 'requests.cpu': '1' }));
      await post(`/apis/business.tkestack.io/v1/namespaces/${mid}/imagenamespaces`, {
        apiVersion: 'business.tkestack.io/v1',
        kind: 'ImageNamespace',
        metadata: { namespace: mid },
        spec: { name: uniqueName('img'), tenantID: 'default' },
      });
      await waitUsed(top, cls, 'requests.cpu', '6');

      const del = await server.request('DELETE', paths.project(mid));
      assert.ok([200, 202].includes(del.status), describeResponse(del));
      const seenTerminating = await waitFor(
        `${mid} Terminating or gone`,
        async () => {
          const res = await server.request('GET', paths.project(mid));
          return res.status === 404 ? 'gone' : res.json().status?.phase === 'Terminating' ? 'terminating' : undefined;
        },
        10_000,
      );
      assert.ok(seenTerminating);
      await waitFor(`${mid} and ${leaf} gone`, async () => (await gone(paths.project(mid))) && (await gone(paths.project(leaf))), 20_000);
      for (const prj of [mid, leaf]) {
        assert.deepEqual((await get(paths.namespaces(prj))).items, [], `namespaces of ${prj} left behind`);
        assert.deepEqual((await get(`/apis/business.tkestack.io/v1/namespaces/${prj}/imagenamespaces`)).items, [], `imagenamespaces of ${prj} left behind`);
      }
      await waitUsed(top, cls, 'requests.cpu', '0');
      // The freed quota is usable again at once.
      await post(paths.projects, project(uniqueName('reuse'), { [cls]: { 'requests.cpu': '10' } }, { parent: top }));
    });

    it('creating content in a terminating project is refused', async function () {
      const prj = uniqueName('term');
      await post(paths.projects, { ...project(prj, { [cls]: {} }), metadata: { name: prj, finalizers: ['e2e.tkestack.io/hold'] } });
      await expectStatus(server.request('DELETE', paths.project(prj)), 202);
      await post(paths.namespaces(prj), namespace(prj, 'late', cls, {}), 403);
      await post(paths.projects, project(uniqueName('latekid'), { [cls]: {} }, { parent: prj }), 403);
      await mergePatch(paths.project(prj), { metadata: { finalizers: null } });
      await waitFor(`${prj} gone`, () => gone(paths.project(prj)), 10_000);
    });
  });

  describe('nsemigrations', function () {
    it("move a namespace to another project atomically, re-checking the destination's quota", async function () {
      const from = uniqueName('from');
      const to = uniqueName('to');
      const full = uniqueName('full');
      await post(paths.projects, project(from, { [cls]: { 'requests.cpu': '4' } }));
      await post(paths.projects, project(to, { [cls]: { 'requests.cpu': '4' } }));
      await post(paths.projects, project(full, { [cls]: { 'requests.cpu': '1' } }));
      const ns = uniqueName('mv');
      await post(paths.namespaces(from), namespace(from, ns, cls, { 'requests.cpu': '2' }));
      await waitUsed(from, cls, 'requests.cpu', '2');

      const refused = await post(nsemigrations(from), emigration(from, ns, full), 403);
      assert.match(refused.message, new RegExp(`exceeded quota of project "${full}"`));
      assert.equal((await get(paths.namespace(from, ns))).spec.namespace, ns, 'a refused move leaves the namespace where it was');
      assert.equal((await server.request('GET', paths.namespace(full, ns))).status, 404);

      const done = await post(nsemigrations(from), emigration(from, ns, to));
      assert.equal(done.status.phase, 'Finished');
      assert.equal(done.spec.nsShowName, ns);
      assert.equal((await server.request('GET', paths.namespace(from, ns))).status, 404);
      const moved = await get(paths.namespace(to, ns));
      assert.deepEqual(moved.spec.hard, { 'requests.cpu': '2' });
      await waitUsed(to, cls, 'requests.cpu', '2');
      await waitUsed(from, cls, 'requests.cpu', '0');
      await post(nsemigrations(from), emigration(from, ns, to), 422);
    });
  });
});
