// registry.tkestack.io/v1 served as stored kinds: kubectl apply of each kind, TKE's defaults,
// table columns, field selectors, the status subresource, the chart group lifecycle and
// discovery with TKE's short names.
import assert from 'node:assert/strict';
import { useServer, type TestServer } from '../support/server.ts';
import { describeResponse } from '../support/http.ts';
import { uniqueName, toYAML } from '../support/fixtures.ts';
import { parseTable } from '../support/tables.ts';
import { waitFor } from '../support/wait.ts';

const api = '/apis/registry.tkestack.io/v1';

describe('e2e: registry.tkestack.io kinds', function () {
  this.timeout(120_000);
  let server: TestServer;
  const rns = uniqueName('rns');
  const rcg = uniqueName('rcg');
  const repo = uniqueName('repo');
  const chart = uniqueName('chart');
  const cm = uniqueName('cm');
  const nsName = uniqueName('library');
  const groupName = uniqueName('charts');

  useServer(s => {
    server = s;
  });

  const kubectlOK = (args: string[], input?: string) => server.kubectlOK(args, { input });
  async function getJSON(path: string): Promise<any> {
    const res = await server.request('GET', path);
    assert.equal(res.status, 200, describeResponse(res));
    return res.json();
  }

  const objects = () => [
    { apiVersion: 'registry.tkestack.io/v1', kind: 'Namespace', metadata: { name: rns }, spec: { name: nsName, displayName: 'Library' } },
    {
      apiVersion: 'registry.tkestack.io/v1',
      kind: 'ChartGroup',
      metadata: { name: rcg },
      spec: {
        name: groupName,
        displayName: 'Charts',
        visibility: 'User',
        importedInfo: { addr: 'https://charts.example.com', username: 'u', password: 'c2VjcmV0' },
      },
    },
    { apiVersion: 'registry.tkestack.io/v1', kind: 'ConfigMap', metadata: { name: cm }, data: { 'registry.domain': 'registry.example.com' } },
  ];
  const children = () => [
    { apiVersion: 'registry.tkestack.io/v1', kind: 'Repository', metadata: { name: repo, namespace: rns }, spec: { name: 'nginx', namespaceName: nsName } },
    { apiVersion: 'registry.tkestack.io/v1', kind: 'Chart', metadata: { name: chart, namespace: rcg }, spec: { name: 'redis', chartGroupName: groupName } },
  ];

  it('kubectl apply creates one object of each kind, with TKE defaults', async function () {
    await kubectlOK(['apply', '-f', '-'], toYAML(...objects()));
    await kubectlOK(['apply', '-f', '-'], toYAML(...children()));

    const ns = await getJSON(`${api}/namespaces/${rns}`);
    assert.equal(ns.spec.tenantID, 'default');
    assert.equal(ns.spec.visibility, 'Public');
    assert.equal(ns.status.repoCount, 0);

    const r = await getJSON(`${api}/namespaces/${rns}/repositories/${repo}`);
    assert.equal(r.metadata.namespace, rns);
    assert.equal(r.spec.tenantID, 'default');
    assert.deepEqual(r.status.tags, []);

    const g = await getJSON(`${api}/chartgroups/${rcg}`);
    assert.equal(g.spec.type, 'SelfBuilt');
    assert.deepEqual(g.spec.finalizers, ['chartgroup']);
    assert.equal(g.spec.creator, 'admin');
    assert.ok(g.spec.users.includes('admin'), JSON.stringify(g.spec));
    assert.equal(g.spec.importedInfo.addr, 'https://charts.example.com');
    assert.equal(g.spec.importedInfo.password, undefined, 'the import password is never served');

    const c = await getJSON(`${api}/namespaces/${rcg}/charts/${chart}`);
    assert.deepEqual(c.spec.finalizers, ['chart']);
    assert.deepEqual(c.status.versions, []);

    const m = await getJSON(`${api}/configmaps/${cm}`);
    assert.equal(m.data['registry.domain'], 'registry.example.com');

    // A second apply of the same objects is accepted (nothing changed).
    await kubectlOK(['apply', '-f', '-'], toYAML(...objects(), ...children()));
  });

  it('the lifecycle controller makes chart groups and charts Available', async function () {
    await waitFor('chart group available', async () => (await getJSON(`${api}/chartgroups/${rcg}`)).status?.phase === 'Available', 10_000);
    await waitFor('chart available', async () => (await getJSON(`${api}/namespaces/${rcg}/charts/${chart}`)).status?.phase === 'Available', 10_000);
  });

  it('kubectl get shows the server-side columns, also through short names', async function () {
    let t = parseTable((await kubectlOK(['get', 'rns'])).stdout);
    assert.deepEqual(t.columns, ['NAME', 'NAME IN REGISTRY', 'DISPLAY NAME', 'VISIBILITY', 'REPOS', 'AGE']);
    assert.deepEqual(
      { ...t.rows.find(x => x.NAME === rns), AGE: '' },
      { NAME: rns, 'NAME IN REGISTRY': nsName, 'DISPLAY NAME': 'Library', VISIBILITY: 'Public', REPOS: '0', AGE: '' },
    );

    t = parseTable((await kubectlOK(['get', 'repo', '-n', rns])).stdout);
    assert.deepEqual(t.columns, ['NAME', 'NAME IN REGISTRY', 'REGISTRY NAMESPACE', 'VISIBILITY', 'TAGS', 'PULLS', 'AGE']);
    assert.equal(t.rows[0]['REGISTRY NAMESPACE'], nsName);

    t = parseTable((await kubectlOK(['get', 'rcg', '-o', 'wide'])).stdout);
    assert.deepEqual(t.columns, ['NAME', 'NAME IN REGISTRY', 'DISPLAY NAME', 'TYPE', 'VISIBILITY', 'CHARTS', 'PHASE', 'PROJECTS', 'CREATOR', 'TENANT', 'AGE']);
    const row = t.rows.find(x => x.NAME === rcg)!;
    assert.equal(row.TYPE, 'SelfBuilt');
    assert.equal(row.CREATOR, 'admin');

    t = parseTable((await kubectlOK(['get', 'charts.registry.tkestack.io', '-n', rcg])).stdout);
    assert.deepEqual(t.columns, ['NAME', 'NAME IN REGISTRY', 'CHART GROUP', 'VISIBILITY', 'VERSIONS', 'PHASE', 'PULLS', 'AGE']);
    assert.equal(t.rows[0]['CHART GROUP'], groupName);

    t = parseTable((await kubectlOK(['get', 'configmaps.registry.tkestack.io', cm])).stdout);
    assert.deepEqual(t.columns, ['NAME', 'DATA', 'AGE']);
    assert.equal(t.rows[0].DATA, '1');
  });

  it('field selectors of TKE strategies filter lists', async function () {
    const names = async (args: string[]) => (await kubectlOK(['get', ...args, '-o', 'name'])).stdout.trim().split('\n').filter(Boolean);
    assert.deepEqual(await names(['rns', '--field-selector', `spec.name=${nsName}`]), [`namespace.registry.tkestack.io/${rns}`]);
    assert.deepEqual(await names(['rns', '--field-selector', 'spec.name=nope']), []);
    assert.deepEqual(await names(['repo', '-A', '--field-selector', `spec.namespaceName=${nsName},spec.name=nginx,spec.tenantID=default`]), [
      `repository.registry.tkestack.io/${repo}`,
    ]);
    assert.deepEqual(await names(['rcg', '--field-selector', 'spec.type=SelfBuilt,spec.visibility=User']), [`chartgroup.registry.tkestack.io/${rcg}`]);
    assert.deepEqual(await names(['rcg', '--field-selector', 'spec.type=System']), []);
    assert.deepEqual(await names(['charts.registry.tkestack.io', '-A', '--field-selector', `spec.chartGroupName=${groupName}`]), [
      `chart.registry.tkestack.io/${chart}`,
    ]);
    const bad = await server.kubectl(['get', 'rns', '--field-selector', 'spec.displayName=Library']);
    assert.notEqual(bad.code, 0, 'a field TKE does not select on is refused');
  });

  it('the status subresource writes status only, and the main resource keeps status', async function () {
    await kubectlOK([
      'patch',
      'repo',
      repo,
      '-n',
      rns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { pullCount: 7, tags: [{ name: 'v1', digest: 'sha256:0' }] }, spec: { displayName: 'ignored' } }),
    ]);
    let r = await getJSON(`${api}/namespaces/${rns}/repositories/${repo}`);
    assert.equal(r.status.pullCount, 7);
    assert.equal(r.spec.displayName, undefined);
    const t = parseTable((await kubectlOK(['get', 'repo', '-n', rns, '-o', 'wide'])).stdout);
    assert.equal(t.rows[0].TAGS, 'v1');
    assert.equal(t.rows[0].PULLS, '7');

    await kubectlOK(['patch', 'repo', repo, '-n', rns, '--type=merge', '-p', JSON.stringify({ status: { pullCount: 9 }, spec: { displayName: 'Nginx' } })]);
    r = await getJSON(`${api}/namespaces/${rns}/repositories/${repo}`);
    assert.equal(r.status.pullCount, 7);
    assert.equal(r.spec.displayName, 'Nginx');

    await kubectlOK(['patch', 'rcg', rcg, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { chartCount: 2 } })]);
    assert.equal((await getJSON(`${api}/chartgroups/${rcg}`)).status.chartCount, 2);
  });

  // /namespaces/<name>/status is a subresource of the cluster-scoped registry Namespace, as
  // Kubernetes' RequestInfoFactory parses it.
  it('namespaces/<name>/status of the cluster-scoped registry Namespace', async function () {
    await kubectlOK([
      'patch',
      'rns',
      rns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { repoCount: 3 }, spec: { displayName: 'ignored' } }),
    ]);
    const ns = await getJSON(`${api}/namespaces/${rns}`);
    assert.equal(ns.status.repoCount, 3);
    assert.equal(ns.spec.displayName, 'Library');
  });

  it('an update of the main resource keeps the status of a registry Namespace', async function () {
    const before = await getJSON(`${api}/namespaces/${rns}`);
    await kubectlOK(['patch', 'rns', rns, '--type=merge', '-p', JSON.stringify({ status: { repoCount: 9 }, spec: { displayName: 'Library 2' } })]);
    const ns = await getJSON(`${api}/namespaces/${rns}`);
    assert.notEqual(before.status.repoCount, 9);
    assert.equal(ns.status.repoCount, before.status.repoCount);
    assert.equal(ns.spec.displayName, 'Library 2');
  });

  it('TKE validation: required names, unique spec.name, existing parent, immutable fields', async function () {
    const post = (path: string, body: unknown) => server.request('POST', `${api}/${path}`, { body });
    let res = await post('namespaces', { metadata: { name: uniqueName('rns') }, spec: { name: nsName } });
    assert.equal(res.status, 422, describeResponse(res));
    assert.match(res.body, /Duplicate value/);

    res = await post('namespaces', { metadata: { generateName: 'x-' }, spec: {} });
    assert.equal(res.status, 422, describeResponse(res));
    assert.match(res.body, /spec\.name/);

    res = await post('namespaces', { metadata: {}, spec: { name: uniqueName('lib') } });
    assert.equal(res.status, 201, describeResponse(res));
    assert.match(res.json().metadata.name, /^rns-/, "a nameless namespace gets TKE's rns- prefix");

    res = await post(`namespaces/${rns}/repositories`, { metadata: { name: uniqueName('repo') }, spec: { name: 'busybox', namespaceName: 'missing' } });
    assert.equal(res.status, 422, describeResponse(res));
    assert.match(res.body, /spec\.namespaceName/);

    res = await post(`namespaces/${rns}/repositories`, { metadata: { name: uniqueName('repo') }, spec: { name: 'nginx', namespaceName: nsName } });
    assert.equal(res.status, 422, describeResponse(res));
    assert.match(res.body, /Duplicate value/);

    res = await post('chartgroups', { metadata: { name: uniqueName('rcg') }, spec: { name: uniqueName('sys'), type: 'System', visibility: 'User' } });
    assert.equal(res.status, 422, describeResponse(res));
    assert.match(res.body, /visibility must be public when type is system/);

    res = await server.request('PATCH', `${api}/namespaces/${rns}`, {
      body: { spec: { name: 'renamed' } },
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    assert.equal(res.status, 422, describeResponse(res));
    assert.match(res.body, /disallowed change the name/);
  });

  it("deleting a chart group and chart goes through TKE's finalizers to the end", async function () {
    await kubectlOK(['delete', 'charts.registry.tkestack.io', chart, '-n', rcg, '--wait=false']);
    await kubectlOK(['delete', 'rcg', rcg, '--wait=false']);
    await waitFor('chart gone', async () => (await server.request('GET', `${api}/namespaces/${rcg}/charts/${chart}`)).status === 404, 15_000);
    await waitFor('chart group gone', async () => (await server.request('GET', `${api}/chartgroups/${rcg}`)).status === 404, 15_000);
  });

  it('kubectl api-resources lists the kinds with TKE short names', async function () {
    const r = await kubectlOK(['api-resources', '--api-group=registry.tkestack.io', '-o', 'wide']);
    const t = parseTable(r.stdout);
    const byName = new Map(t.rows.map(row => [row.NAME, row]));
    // `tke` holds what a platform team manages (README: What `kubectl get tke` shows); charts live in their chart groups.
    const expected: Array<[string, string, string, string, string]> = [
      ['namespaces', 'rns', 'false', 'Namespace', 'tke,all'],
      ['repositories', 'repo', 'true', 'Repository', 'tke,all'],
      ['chartgroups', 'rcg', 'false', 'ChartGroup', 'tke,all'],
      ['charts', 'chart', 'true', 'Chart', 'all'],
      ['configmaps', 'cm', 'false', 'ConfigMap', ''],
    ];
    for (const [name, short, namespaced, kind, categories] of expected) {
      const row = byName.get(name);
      assert.ok(row, `no ${name} in:\n${r.stdout}`);
      assert.equal(row.SHORTNAMES, short);
      assert.equal(row.NAMESPACED, namespaced);
      assert.equal(row.KIND, kind);
      assert.equal(row.CATEGORIES, categories);
    }
    assert.equal(t.rows.length, expected.length, r.stdout);
    assert.doesNotMatch(byName.get('namespaces')!.VERBS, /deletecollection/);
    assert.match(byName.get('repositories')!.VERBS, /deletecollection/);

    const disc = await getJSON(api);
    const sub = disc.resources.map((x: { name: string }) => x.name).sort();
    assert.deepEqual(sub, [
      'chartgroups',
      'chartgroups/finalize',
      'chartgroups/repoupdating',
      'chartgroups/status',
      'charts',
      'charts/finalize',
      'charts/status',
      'charts/version',
      'configmaps',
      'namespaces',
      'namespaces/status',
      'repositories',
      'repositories/status',
    ]);
  });
});
