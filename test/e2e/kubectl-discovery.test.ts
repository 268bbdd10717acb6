// kubectl against a started server: discovery (api-resources, api-versions, categories),
// explain (OpenAPI) and get --raw of the discovery/openapi/version documents.
import assert from 'node:assert/strict';
import { useServer, type TestServer } from '../support/server.ts';
import { describeResponse } from '../support/http.ts';
import { describeRun } from '../support/kubectl.ts';
import { uniqueName, clusterObject, projectObject, namespaceObject, paths, GROUPS } from '../support/fixtures.ts';
import { parseTable } from '../support/tables.ts';

describe('e2e: kubectl discovery, explain and raw documents', function () {
  this.timeout(120_000);
  let server: TestServer;

  useServer(s => {
    server = s;
  });

  const kubectlOK = (args: string[]) => server.kubectlOK(args);

  describe('api-versions and api-resources', function () {
    it('kubectl api-versions lists the four TKE groups at v1', async function () {
      const r = await kubectlOK(['api-versions']);
      const lines = r.stdout.split('\n').map(l => l.trim());
      for (const g of Object.values(GROUPS)) {
        assert.ok(lines.includes(`${g}/v1`), `missing ${g}/v1 in:\n${r.stdout}`);
      }
    });

    it('kubectl api-resources shows clusters, projects and namespaces with short names, scope, kind and category tke', async function () {
      const r = await kubectlOK(['api-resources', '-o', 'wide']);
      const t = parseTable(r.stdout);
      for (const col of ['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND', 'VERBS', 'CATEGORIES']) {
        assert.ok(t.columns.includes(col), `no ${col} column in:\n${r.stdout}`);
      }
      const find = (name: string, apiVersion: string) => {
        const row = t.rows.find(x => x.NAME === name && x.APIVERSION === apiVersion);
        assert.ok(row, `no ${name} ${apiVersion} row in:\n${r.stdout}`);
        return row!;
      };
      const cls = find('clusters', 'platform.tkestack.io/v1');
      assert.deepEqual(cls.SHORTNAMES.split(','), ['cls']);
      assert.equal(cls.NAMESPACED, 'false');
      assert.equal(cls.KIND, 'Cluster');
      assert.ok(cls.CATEGORIES.split(',').includes('tke'), `clusters categories: ${cls.CATEGORIES}`);
      for (const v of ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']) {
        assert.ok(cls.VERBS.includes(v), `clusters verbs ${cls.VERBS} lacks ${v}`);
      }

      const prj = find('projects', 'business.tkestack.io/v1');
      assert.deepEqual(prj.SHORTNAMES.split(','), ['prj']);
      assert.equal(prj.NAMESPACED, 'false');
      assert.equal(prj.KIND, 'Project');
      assert.ok(prj.CATEGORIES.split(',').includes('tke'), `projects categories: ${prj.CATEGORIES}`);

      const ns = find('namespaces', 'business.tkestack.io/v1');
      assert.deepEqual(ns.SHORTNAMES.split(','), ['ns'], 'TKE registers short name "ns" for business namespaces');
      assert.equal(ns.NAMESPACED, 'true');
      assert.equal(ns.KIND, 'Namespace');
      assert.ok(ns.CATEGORIES.split(',').includes('tke'), `namespaces categories: ${ns.CATEGORIES}`);
    });

    it('kubectl api-resources --categories=tke and --api-group filter', async function () {
      const r = await kubectlOK(['api-resources', '--categories=tke', '-o', 'name']);
      const names = r.stdout
        .split('\n')
        .map(s => s.trim())
        .filter(Boolean);
      for (const n of ['clusters.platform.tkestack.io', 'projects.business.tkestack.io', 'namespaces.business.tkestack.io']) {
        assert.ok(names.includes(n), `${n} not in category tke:\n${r.stdout}`);
      }
      const g = await kubectlOK(['api-resources', '--api-group=business.tkestack.io', '-o', 'name']);
      assert.ok(g.stdout.split('\n').includes('projects.business.tkestack.io'), g.stdout);
      assert.ok(!g.stdout.includes('clusters.platform.tkestack.io'), g.stdout);
    });

    it('kubectl get tke lists a cluster, a project and a business namespace', async function () {
      const cls = uniqueName('cls');
      const prj = uniqueName('prj');
      const ns = uniqueName('ns');
      let res = await server.request('POST', paths.clusters, { body: clusterObject(cls) });
      assert.equal(res.status, 201, describeResponse(res));
      res = await server.request('POST', paths.projects, {
        body: projectObject(prj, { clusters: { [cls]: { hard: { 'requests.cpu': '4', 'requests.memory': '8Gi' } } } }),
      });
      assert.equal(res.status, 201, describeResponse(res));
      res = await server.request('POST', paths.namespaces(prj), { body: namespaceObject(prj, ns, cls) });
      assert.equal(res.status, 201, describeResponse(res));

      const args = ['get', 'tke', '--all-namespaces', '-o', 'name'];
      const r = await kubectlOK(args);
      const names = r.stdout.split('\n').map(s => s.trim());
      assert.ok(names.includes(`cluster.platform.tkestack.io/${cls}`), describeRun(args, r));
      assert.ok(names.includes(`project.business.tkestack.io/${prj}`), describeRun(args, r));
      assert.ok(names.includes(`namespace.business.tkestack.io/${ns}`), describeRun(args, r));

      // Short names resolve to the TKE resources.
      const s = await kubectlOK(['get', 'cls,prj', '-o', 'name']);
      assert.ok(s.stdout.includes(`cluster.platform.tkestack.io/${cls}`), s.stdout);
      assert.ok(s.stdout.includes(`project.business.tkestack.io/${prj}`), s.stdout);
      const n = await kubectlOK(['get', 'ns', '-n', prj, '-o', 'name']);
      assert.ok(n.stdout.includes(`namespace.business.tkestack.io/${ns}`), n.stdout);
    });
  });

  describe('explain', function () {
    it('kubectl explain projects.spec.clusters prints field docs', async function () {
      const r = await kubectlOK(['explain', 'projects.spec.clusters']);
      assert.match(r.stdout, /GROUP:\s+business\.tkestack\.io/, r.stdout);
      assert.match(r.stdout, /KIND:\s+Project/, r.stdout);
      assert.match(r.stdout, /FIELD:\s+clusters\b/, r.stdout);
      assert.match(r.stdout, /DESCRIPTION:\s*\n\s+\S/, `no description text:\n${r.stdout}`);
      assert.match(r.stdout, /\bhard\b/, `clusters.<cluster>.hard not documented:\n${r.stdout}`);
    });

    it('kubectl explain clusters.status prints field docs', async function () {
      const r = await kubectlOK(['explain', 'clusters.status']);
      assert.match(r.stdout, /KIND:\s+Cluster/, r.stdout);
      assert.match(r.stdout, /FIELD:\s+status\b/, r.stdout);
      assert.match(r.stdout, /DESCRIPTION:\s*\n\s+\S/, `no description text:\n${r.stdout}`);
      for (const f of ['phase', 'conditions', 'version']) {
        assert.match(r.stdout, new RegExp(`^\\s+${f}\\s+<`, 'm'), `status.${f} not listed:\n${r.stdout}`);
      }
    });

    it('kubectl explain --recursive namespaces.spec lists the TKE fields', async function () {
      const r = await kubectlOK(['explain', '--recursive', 'namespaces.spec', '--api-version=business.tkestack.io/v1']);
      for (const f of ['tenantID', 'clusterName', 'namespace', 'hard', 'finalizers']) {
        assert.match(r.stdout, new RegExp(`\\b${f}\\b`), `namespaces.spec.${f} missing:\n${r.stdout}`);
      }
    });
  });

  describe('get --raw', function () {
    it('/apis lists the four groups with preferred version v1', async function () {
      const r = await kubectlOK(['get', '--raw', '/apis']);
      const list = JSON.parse(r.stdout);
      assert.equal(list.kind, 'APIGroupList');
      for (const g of Object.values(GROUPS)) {
        const group = list.groups.find((x: any) => x.name === g);
        assert.ok(group, `${g} missing from /apis`);
        assert.equal(group.preferredVersion?.groupVersion, `${g}/v1`);
        assert.ok(group.versions.some((v: any) => v.groupVersion === `${g}/v1` && v.version === 'v1'));
      }
    });

    it('/apis/business.tkestack.io/v1 describes projects and namespaces with subresources', async function () {
      const r = await kubectlOK(['get', '--raw', '/apis/business.tkestack.io/v1']);
      const list = JSON.parse(r.stdout);
      assert.equal(list.kind, 'APIResourceList');
      assert.equal(list.groupVersion, 'business.tkestack.io/v1');
      const byName = new Map<string, any>(list.resources.map((x: any) => [x.name, x]));
      const projects = byName.get('projects');
      assert.ok(projects, 'projects missing');
      assert.equal(projects.kind, 'Project');
      assert.equal(projects.namespaced, false);
      assert.equal(projects.singularName, 'project');
      assert.deepEqual(projects.shortNames, ['prj']);
      assert.ok(projects.categories?.includes('tke'));
      assert.ok(projects.verbs.includes('watch'));
      const namespaces = byName.get('namespaces');
      assert.ok(namespaces, 'namespaces missing');
      assert.equal(namespaces.kind, 'Namespace');
      assert.equal(namespaces.namespaced, true);
      for (const sub of ['projects/status', 'projects/finalize', 'namespaces/status', 'namespaces/finalize']) {
        assert.ok(byName.has(sub), `${sub} missing from discovery: ${[...byName.keys()].join(', ')}`);
      }
      const pc = await kubectlOK(['get', '--raw', '/apis/platform.tkestack.io/v1']);
      const plist = JSON.parse(pc.stdout);
      const clusters = plist.resources.find((x: any) => x.name === 'clusters');
      assert.ok(clusters, 'clusters missing');
      assert.deepEqual(clusters.shortNames, ['cls']);
      assert.ok(plist.resources.some((x: any) => x.name === 'clusters/status'));
      assert.ok(plist.resources.some((x: any) => x.name === 'clusters/finalize'));
    });

    it('/openapi/v3 indexes the groups and the group document has the kinds', async function () {
      const r = await kubectlOK(['get', '--raw', '/openapi/v3']);
      const index = JSON.parse(r.stdout);
      for (const g of Object.values(GROUPS)) {
        const entry = index.paths?.[`apis/${g}/v1`];
        assert.ok(entry?.serverRelativeURL, `openapi v3 index lacks apis/${g}/v1: ${Object.keys(index.paths ?? {}).join(', ')}`);
      }
      const url = index.paths['apis/business.tkestack.io/v1'].serverRelativeURL as string;
      const d = await kubectlOK(['get', '--raw', url]);
      const doc = JSON.parse(d.stdout);
      assert.match(String(doc.openapi), /^3\./);
      const schemas = Object.values(doc.components?.schemas ?? {}) as any[];
      const project = schemas.find(s =>
        (s['x-kubernetes-group-version-kind'] ?? []).some((k: any) => k.group === 'business.tkestack.io' && k.kind === 'Project'),
      );
      assert.ok(project, 'no schema with x-kubernetes-group-version-kind Project');
      assert.ok(project.properties?.spec, 'Project schema has no spec');
      assert.ok(
        Object.keys(doc.paths ?? {}).some(p => p.startsWith('/apis/business.tkestack.io/v1/projects')),
        'no project paths',
      );
    });

    it('/openapi/v2 has the definitions', async function () {
      const res = await server.request('GET', '/openapi/v2');
      assert.equal(res.status, 200, describeResponse(res));
      const doc = res.json();
      assert.equal(doc.swagger, '2.0');
      const defs = Object.values(doc.definitions ?? {}) as any[];
      assert.ok(
        defs.some(s => (s['x-kubernetes-group-version-kind'] ?? []).some((k: any) => k.kind === 'Cluster' && k.group === 'platform.tkestack.io')),
        'no Cluster definition',
      );
    });

    it('/version reports a version', async function () {
      const r = await kubectlOK(['get', '--raw', '/version']);
      const v = JSON.parse(r.stdout);
      assert.ok(v.major !== undefined && v.minor !== undefined, r.stdout);
      assert.match(String(v.gitVersion), /^v\d+\.\d+/, r.stdout);
      const kv = await server.kubectl(['version', '-o', 'json']);
      assert.equal(kv.code, 0, describeRun(['version'], kv));
      assert.ok(JSON.parse(kv.stdout).serverVersion, kv.stdout);
    });

    it('/api and the health endpoints answer', async function () {
      const api = await server.request('GET', '/api');
      assert.equal(api.status, 200, describeResponse(api));
      assert.equal(api.json().kind, 'APIVersions');
      for (const p of ['/healthz', '/livez', '/readyz']) {
        const res = await server.request('GET', p, { token: null });
        assert.equal(res.status, 200, `${p} without credentials: ${describeResponse(res)}`);
      }
    });
  });
});
