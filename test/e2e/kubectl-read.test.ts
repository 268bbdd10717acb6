// kubectl reads: server-side columns, output formats, describe, label/field selectors,
// chunked lists and `get -w --output-watch-events`.
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, openWatch, parseJSONStream } from '../support/http.ts';
import { describeRun, followOutput } from '../support/kubectl.ts';
import { uniqueName, clusterObject, projectObject, paths } from '../support/fixtures.ts';
import { parseTable, parseTables } from '../support/tables.ts';
import { waitFor } from '../support/wait.ts';

describe('e2e: kubectl get, describe, selectors, chunking and watch', function () {
  this.timeout(120_000);
  let server: TestServer;
  const run = uniqueName('run');
  const cls = uniqueName('cls');
  // 7 projects: tiers a,a,a,b,b,c,c
  const tiers = ['a', 'a', 'a', 'b', 'b', 'c', 'c'];
  const projects = tiers.map((tier, i) => ({ name: `${run}-p${i}`, tier, displayName: `Read Project ${i}` }));

  before(async function () {
    this.timeout(180_000);
    server = await startServer();
    let res = await server.request('POST', paths.clusters, { body: clusterObject(cls, { labels: { run }, displayName: 'Read Cluster' }) });
    assert.equal(res.status, 201, describeResponse(res));
    for (const p of projects) {
      res = await server.request('POST', paths.projects, {
        body: projectObject(p.name, { labels: { run, tier: p.tier }, displayName: p.displayName }),
      });
      assert.equal(res.status, 201, describeResponse(res));
    }
  });
  after(async function () {
    if (server) await server.stop();
  });

  const kubectlOK = (args: string[]) => server.kubectlOK(args);
  const names = (out: string) =>
    out
      .split('\n')
      .map(s => s.trim())
      .filter(Boolean);

  describe('output formats', function () {
    it('kubectl get clusters,projects shows the server-side columns', async function () {
      const args = ['get', 'clusters,projects', '-l', `run=${run}`];
      const r = await kubectlOK(args);
      const tables = parseTables(r.stdout);
      assert.equal(tables.length, 2, describeRun(args, r));
      const [ct, pt] = tables;
      assert.equal(ct.columns[0], 'NAME');
      assert.ok(ct.columns.includes('AGE'), `clusters columns: ${ct.columns}`);
      assert.ok(ct.columns.length > 2, `clusters table has only the default NAME/AGE columns (no server-side Table?): ${ct.columns}`);
      assert.equal(ct.rows.length, 1);
      assert.equal(ct.rows[0].NAME, `cluster.platform.tkestack.io/${cls}`);

      for (const col of ['NAME', 'DISPLAY NAME', 'PHASE', 'AGE']) {
        assert.ok(pt.columns.includes(col), `projects table lacks ${col}: ${pt.columns}\n${r.stdout}`);
      }
      assert.equal(pt.rows.length, 7, r.stdout);
      const row = pt.rows.find(x => x.NAME === `project.business.tkestack.io/${projects[0].name}`);
      assert.ok(row, r.stdout);
      assert.equal(row!['DISPLAY NAME'], projects[0].displayName);
      assert.match(row!.AGE, /^\d+[smhd]/);
    });

    it('the raw Table response has column definitions, cells and includeObject', async function () {
      const res = await server.request('GET', `${paths.projects}?labelSelector=run%3D${run}&includeObject=Object`, {
        headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
      });
      assert.equal(res.status, 200, describeResponse(res));
      const t = res.json();
      assert.equal(t.kind, 'Table');
      assert.equal(t.apiVersion, 'meta.k8s.io/v1');
      const cols = (t.columnDefinitions as any[]).map(c => c.name);
      assert.equal(cols[0], 'Name');
      assert.ok(
        cols.some(c => /display\s*name/i.test(c)),
        `no Display Name column: ${cols}`,
      );
      assert.ok(
        cols.some(c => /phase/i.test(c)),
        `no Phase column: ${cols}`,
      );
      assert.ok(
        cols.some(c => /age/i.test(c)),
        `no Age column: ${cols}`,
      );
      assert.equal(t.rows.length, 7);
      for (const row of t.rows) {
        assert.equal(row.cells.length, cols.length);
        assert.equal(row.object?.kind, 'Project', 'includeObject=Object should embed the full object');
        assert.equal(row.cells[0], row.object.metadata.name);
      }
      assert.ok(t.metadata?.resourceVersion, 'Table has no resourceVersion');
    });

    it('-o wide', async function () {
      const r = await kubectlOK(['get', 'projects', '-l', `run=${run}`, '-o', 'wide']);
      const t = parseTable(r.stdout);
      assert.ok(t.columns.includes('DISPLAY NAME'), r.stdout);
      assert.equal(t.rows.length, 7);
    });

    it('-o yaml of one object', async function () {
      const r = await kubectlOK(['get', 'project', projects[1].name, '-o', 'yaml']);
      const obj = YAML.parse(r.stdout);
      assert.equal(obj.apiVersion, 'business.tkestack.io/v1');
      assert.equal(obj.kind, 'Project');
      assert.equal(obj.metadata.name, projects[1].name);
      assert.equal(obj.metadata.labels.tier, 'a');
      assert.ok(obj.metadata.uid);
      assert.ok(obj.metadata.resourceVersion);
      assert.ok(obj.metadata.creationTimestamp);
      assert.equal(obj.spec.displayName, projects[1].displayName);
      assert.equal(obj.spec.tenantID, 'default');
    });

    it('-o json of a list', async function () {
      const r = await kubectlOK(['get', 'projects', '-l', `run=${run}`, '-o', 'json']);
      const list = JSON.parse(r.stdout);
      assert.equal(list.kind, 'List');
      assert.equal(list.items.length, 7);
      assert.ok(list.items.every((i: any) => i.kind === 'Project' && i.apiVersion === 'business.tkestack.io/v1'));
    });

    it('-o jsonpath', async function () {
      const r = await kubectlOK(['get', 'project', projects[2].name, '-o', 'jsonpath={.spec.displayName}']);
      assert.equal(r.stdout, projects[2].displayName);
      const r2 = await kubectlOK(['get', 'projects', '-l', `run=${run},tier=b`, '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}']);
      assert.deepEqual(
        names(r2.stdout).sort(),
        projects
          .filter(p => p.tier === 'b')
          .map(p => p.name)
          .sort(),
      );
    });

    it('-o custom-columns', async function () {
      const r = await kubectlOK([
        'get',
        'projects',
        '-l',
        `run=${run}`,
        '-o',
        'custom-columns=N:.metadata.name,T:.metadata.labels.tier,D:.spec.displayName',
        '--sort-by=.metadata.name',
      ]);
      const t = parseTable(r.stdout);
      assert.deepEqual(t.columns, ['N', 'T', 'D']);
      assert.deepEqual(
        t.rows.map(x => x.N),
        projects.map(p => p.name).sort(),
      );
      for (const row of t.rows) {
        const p = projects.find(x => x.name === row.N)!;
        assert.equal(row.T, p.tier);
        assert.equal(row.D, p.displayName);
      }
    });

    it('-o name', async function () {
      const r = await kubectlOK(['get', 'clusters,projects', '-l', `run=${run}`, '-o', 'name']);
      assert.deepEqual(names(r.stdout).sort(), [`cluster.platform.tkestack.io/${cls}`, ...projects.map(p => `project.business.tkestack.io/${p.name}`)].sort());
    });

    it('kubectl describe project and cluster', async function () {
      const r = await kubectlOK(['describe', 'project', projects[0].name]);
      assert.match(r.stdout, new RegExp(`^Name:\\s+${projects[0].name}$`, 'm'), r.stdout);
      assert.match(r.stdout, /^Labels:\s+\S/m, r.stdout);
      assert.match(r.stdout, /tier=a/, r.stdout);
      assert.match(r.stdout, /^API Version:\s+business\.tkestack\.io\/v1$/m, r.stdout);
      assert.match(r.stdout, /^Kind:\s+Project$/m, r.stdout);
      assert.match(r.stdout, /Display Name:\s+Read Project 0/, r.stdout);
      const c = await kubectlOK(['describe', 'clusters', '-l', `run=${run}`]);
      assert.match(c.stdout, new RegExp(`^Name:\\s+${cls}$`, 'm'), c.stdout);
      assert.match(c.stdout, /Display Name:\s+Read Cluster/, c.stdout);
    });
  });

  describe('selectors and chunking', function () {
    it('-l with equality, inequality and set selectors', async function () {
      const sel = async (s: string) =>
        names((await kubectlOK(['get', 'projects', '-l', s, '-o', 'name'])).stdout)
          .map(n => n.split('/')[1])
          .sort();
      const want = (f: (p: (typeof projects)[number]) => boolean) =>
        projects
          .filter(f)
          .map(p => p.name)
          .sort();
      assert.deepEqual(
        await sel(`run=${run},tier=a`),
        want(p => p.tier === 'a'),
      );
      assert.deepEqual(
        await sel(`run=${run},tier!=a`),
        want(p => p.tier !== 'a'),
      );
      assert.deepEqual(
        await sel(`run=${run},tier in (b,c)`),
        want(p => p.tier !== 'a'),
      );
      assert.deepEqual(
        await sel(`run=${run},tier notin (a,b)`),
        want(p => p.tier === 'c'),
      );
      assert.deepEqual(
        await sel(`run=${run},!nothere`),
        want(() => true),
      );
      assert.deepEqual(await sel(`run=${run},nothere`), []);
    });

    it('--field-selector metadata.name and spec.tenantID', async function () {
      const target = projects[3];
      const live = await server.request('GET', paths.project(target.name));
      const tenant = live.json().spec.tenantID as string;
      assert.ok(tenant, 'project has no spec.tenantID');
      let r = await kubectlOK(['get', 'projects', '--field-selector', `metadata.name=${target.name},spec.tenantID=${tenant}`, '-o', 'name']);
      assert.deepEqual(names(r.stdout), [`project.business.tkestack.io/${target.name}`]);
      r = await kubectlOK(['get', 'projects', '-l', `run=${run}`, '--field-selector', `spec.tenantID=${tenant}`, '-o', 'name']);
      assert.equal(names(r.stdout).length, 7, r.stdout);
      r = await kubectlOK(['get', 'projects', '-l', `run=${run}`, '--field-selector', `metadata.name!=${target.name}`, '-o', 'name']);
      assert.equal(names(r.stdout).length, 6, r.stdout);
      r = await kubectlOK(['get', 'projects', '--field-selector', 'spec.tenantID=no-such-tenant', '-o', 'name']);
      assert.equal(names(r.stdout).length, 0, r.stdout);
      r = await kubectlOK(['get', 'clusters', '--field-selector', `metadata.name=${cls},spec.tenantID=${tenant}`, '-o', 'name']);
      assert.deepEqual(names(r.stdout), [`cluster.platform.tkestack.io/${cls}`]);
    });

    it('an unsupported field selector is a 400 BadRequest', async function () {
      const args = ['get', 'projects', '--field-selector', 'spec.bogus=x'];
      const r = await server.kubectl(args);
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /BadRequest|field label not supported|not supported/i, describeRun(args, r));
    });

    it('--chunk-size=2 over 7 objects returns all 7 exactly once', async function () {
      const r = await kubectlOK(['get', 'projects', '-l', `run=${run}`, '--chunk-size=2', '-o', 'name']);
      const got = names(r.stdout);
      assert.equal(got.length, 7, r.stdout);
      assert.equal(new Set(got).size, 7, `duplicates: ${got}`);
      assert.deepEqual(got.map(n => n.split('/')[1]).sort(), projects.map(p => p.name).sort());
      // Table output with chunking (server-side tables carry continue tokens).
      const t = parseTable((await kubectlOK(['get', 'projects', '-l', `run=${run}`, '--chunk-size=2'])).stdout);
      assert.equal(t.rows.length, 7);
      assert.equal(new Set(t.rows.map(x => x.NAME)).size, 7);
    });

    it('raw limit/continue pages are a consistent snapshot', async function () {
      const seen: string[] = [];
      let cont = '';
      let rv = '';
      let pages = 0;
      do {
        const res = await server.request('GET', `${paths.projects}?labelSelector=run%3D${run}&limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
        assert.equal(res.status, 200, describeResponse(res));
        const list = res.json();
        pages++;
        if (pages === 1) {
          rv = list.metadata.resourceVersion;
          // A write after the first page must not show up in later pages.
          const w = await server.request('POST', paths.projects, { body: projectObject(`${run}-late`, { labels: { run, tier: 'z' } }) });
          assert.equal(w.status, 201, describeResponse(w));
        } else {
          assert.equal(list.metadata.resourceVersion, rv, 'all pages share the snapshot resourceVersion');
        }
        assert.ok(list.items.length <= 2);
        seen.push(...list.items.map((i: any) => i.metadata.name));
        cont = list.metadata.continue ?? '';
        if (cont) assert.ok(pages < 10, 'too many pages');
      } while (cont);
      assert.equal(pages, 4);
      assert.deepEqual(seen.sort(), projects.map(p => p.name).sort());
      // (the late project keeps the run label; this test runs last among the label-counting tests)
    });
  });

  describe('watch', function () {
    it('kubectl get projects -w --output-watch-events shows ADDED, MODIFIED and DELETED from another client', async function () {
      const label = uniqueName('w');
      const sentinel = `${label}-s`;
      const target = `${label}-t`;
      let res = await server.request('POST', paths.projects, { body: projectObject(sentinel, { labels: { watch: label } }) });
      assert.equal(res.status, 201, describeResponse(res));

      // Events as JSON (robust to parse) and, in parallel, the human table output of a plain -w.
      const events = server.spawnKubectl(['get', 'projects', '-w', '--output-watch-events', '-o', 'json', '-l', `watch=${label}`]);
      const table = server.spawnKubectl(['get', 'projects', '-w', '-l', `watch=${label}`]);
      const output = followOutput(events);
      const tableOutput = followOutput(table);
      const evs = () => parseJSONStream(output.stdout) as Array<{ type: string; object: any }>;
      const has = (type: string, name: string, pred: (o: any) => boolean = () => true) =>
        evs().some(e => e.type === type && e.object?.metadata?.name === name && pred(e.object));
      const ctx = () => `\n--- kubectl stdout\n${output.stdout.slice(-4000)}\n--- stderr\n${output.stderr}`;
      try {
        await waitFor(`initial ADDED ${sentinel}${ctx()}`, () => has('ADDED', sentinel), 20_000);
        await waitFor(`table watch shows ${sentinel}: ${tableOutput.stdout}`, () => tableOutput.stdout.includes(sentinel), 20_000);

        res = await server.request('POST', paths.projects, { body: projectObject(target, { labels: { watch: label }, displayName: 'Watched' }) });
        assert.equal(res.status, 201, describeResponse(res));
        await waitFor(`ADDED ${target}${ctx()}`, () => has('ADDED', target), 20_000);

        res = await server.request('PATCH', paths.project(target), {
          headers: { 'Content-Type': 'application/merge-patch+json' },
          body: { spec: { displayName: 'Watched and modified' } },
        });
        assert.equal(res.status, 200, describeResponse(res));
        await waitFor(`MODIFIED ${target}${ctx()}`, () => has('MODIFIED', target, o => o.spec?.displayName === 'Watched and modified'), 20_000);

        res = await server.request('DELETE', paths.project(target));
        assert.ok(res.status === 200 || res.status === 202, describeResponse(res));
        await waitFor(
          `DELETED ${target} (live object after delete: ${(await server.request('GET', paths.project(target))).body})${ctx()}`,
          () => has('DELETED', target),
          20_000,
        );

        const mine = evs()
          .filter(e => e.object?.metadata?.name === target)
          .map(e => e.type);
        assert.equal(mine[0], 'ADDED', mine.join(','));
        assert.equal(mine[mine.length - 1], 'DELETED', mine.join(','));
        assert.equal(mine.filter(e => e === 'ADDED').length, 1, mine.join(','));
        const rvs = evs().map(e => BigInt(e.object.metadata.resourceVersion));
        for (let i = 1; i < rvs.length; i++) assert.ok(rvs[i] > rvs[i - 1], `resourceVersions not increasing: ${rvs.join(',')}`);

        // The plain table watch used the server-side columns and saw the modification.
        await waitFor(`table watch shows the modification:\n${tableOutput.stdout}`, () => tableOutput.stdout.includes('Watched and modified'), 20_000);
        const header = tableOutput.stdout.split('\n')[0];
        assert.match(header, /DISPLAY NAME/, `table watch header: ${header}`);
        assert.match(header, /PHASE/, `table watch header: ${header}`);
        assert.equal(events.exitCode, null, `kubectl get -w exited early: ${output.stderr}`);
      } finally {
        events.kill('SIGKILL');
        table.kill('SIGKILL');
      }
    });

    it('watches that are sent the same burst of events each get all of it, once and in order', async function () {
      const burst = uniqueName('burst');
      const list = await server.request('GET', `${paths.projects}?labelSelector=burst%3D${burst}`);
      const rv = list.json().metadata.resourceVersion as string;
      // Half the watches also select by name prefix, so they are sent different batches.
      const watches = Array.from({ length: 12 }, (_, i) =>
        openWatch(server, `${paths.projects}?watch=true&resourceVersion=${rv}&labelSelector=burst%3D${burst}${i % 2 ? `,half%3Dyes` : ''}`),
      );
      try {
        const names = Array.from({ length: 30 }, (_, i) => `${burst}-${String(i).padStart(2, '0')}`);
        // Concurrent creates: their events reach the watches together, several to a write.
        await Promise.all(
          names.map(async (name, i) => {
            const res = await server.request('POST', paths.projects, { body: projectObject(name, { labels: { burst, ...(i % 3 ? {} : { half: 'yes' }) } }) });
            assert.equal(res.status, 201, describeResponse(res));
          }),
        );
        const wanted = (i: number) => (i % 2 ? names.filter((_, j) => j % 3 === 0) : names);
        await waitFor('every watch has its events', async () => watches.every((w, i) => w.events.filter(e => e.type === 'ADDED').length >= wanted(i).length));
        for (const [i, w] of watches.entries()) {
          const added = w.events.filter(e => e.type === 'ADDED');
          const revisions = added.map(e => BigInt(e.object.metadata.resourceVersion));
          assert.deepEqual(added.map(e => e.object.metadata.name).sort(), wanted(i), `watch ${i}`);
          assert.deepEqual(
            revisions,
            [...revisions].sort((a, b) => (a < b ? -1 : 1)),
            `watch ${i} in revision order`,
          );
        }
      } finally {
        for (const w of watches) w.close();
      }
    });

    it('a raw watch from an old resourceVersion replays, and a too-old one is 410 Expired', async function () {
      const list = await server.request('GET', `${paths.projects}?labelSelector=run%3D${run}`);
      const rv = list.json().metadata.resourceVersion as string;
      const res = await server.request('GET', `${paths.projects}?watch=true&resourceVersion=${rv}&timeoutSeconds=1&labelSelector=run%3D${run}`);
      assert.equal(res.status, 200, describeResponse(res));
      const bad = await server.request('GET', `${paths.projects}?watch=true&resourceVersion=1&timeoutSeconds=1`);
      // RV 1 is before this database's first write; it is either still retained (200) or compacted (410 in an ERROR event or status).
      if (bad.status !== 200) {
        assert.equal(bad.status, 410, describeResponse(bad));
        assert.equal(bad.json().reason, 'Expired');
      }
      const garbage = await server.request('GET', `${paths.projects}?watch=true&resourceVersion=notanumber&timeoutSeconds=1`);
      assert.equal(garbage.status, 400, describeResponse(garbage));
    });
  });
});
