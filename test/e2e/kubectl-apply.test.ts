// kubectl apply (client-side, three-way), kubectl diff and server-side apply with field managers.
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { useServer, type TestServer } from '../support/server.ts';
import { describeResponse, waitSettled } from '../support/http.ts';
import { describeRun } from '../support/kubectl.ts';
import { uniqueName, toYAML, clusterObject, projectObject, namespaceObject, paths } from '../support/fixtures.ts';
import { tempFile } from '../support/process.ts';

describe('e2e: kubectl apply, diff and server-side apply', function () {
  this.timeout(120_000);
  let server: TestServer;

  useServer(s => {
    server = s;
  });

  const kubectlOK = (args: string[], input?: string) => server.kubectlOK(args, { input });
  async function getJSON(path: string) {
    const res = await server.request('GET', path);
    assert.equal(res.status, 200, describeResponse(res));
    return res.json();
  }

  describe('client-side apply of a Cluster, a Project and a business Namespace', function () {
    const cls = uniqueName('cls');
    const prj = uniqueName('prj');
    const ns = uniqueName('ns');
    const hard = { [cls]: { hard: { 'requests.cpu': '4', 'requests.memory': '8Gi' } } };
    const objects = () => [
      clusterObject(cls, { labels: { app: 'e2e' } }),
      projectObject(prj, { labels: { app: 'e2e', stage: 'one' }, displayName: 'First name', clusters: hard }),
      namespaceObject(prj, ns, cls, { labels: { app: 'e2e' } }),
    ];

    it('creates all three from one file', async function () {
      const file = tempFile('all.yaml', toYAML(...objects()));
      const args = ['apply', '-f', file];
      const r = await kubectlOK(args);
      assert.match(r.stdout, new RegExp(`cluster.platform.tkestack.io/${cls} created`), describeRun(args, r));
      assert.match(r.stdout, new RegExp(`project.business.tkestack.io/${prj} created`), describeRun(args, r));
      assert.match(r.stdout, new RegExp(`namespace.business.tkestack.io/${ns} created`), describeRun(args, r));

      const p = await getJSON(paths.project(prj));
      assert.equal(p.spec.displayName, 'First name');
      assert.ok(p.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], 'no last-applied annotation');
      assert.ok(p.metadata.uid && p.metadata.resourceVersion && p.metadata.creationTimestamp, JSON.stringify(p.metadata));
      const n = await getJSON(paths.namespace(prj, ns));
      assert.equal(n.metadata.namespace, prj);
      assert.equal(n.spec.clusterName, cls);
    });

    it('re-applying the same file is unchanged', async function () {
      const file = tempFile('all.yaml', toYAML(...objects()));
      const r = await kubectlOK(['apply', '-f', file]);
      assert.match(r.stdout, new RegExp(`project.business.tkestack.io/${prj} unchanged`), r.stdout);
      assert.match(r.stdout, new RegExp(`cluster.platform.tkestack.io/${cls} unchanged`), r.stdout);
    });

    it('kubectl diff exits 0 when the file matches the live objects', async function () {
      const file = tempFile('all.yaml', toYAML(...objects()));
      const args = ['diff', '-f', file];
      const r = await server.kubectl(args);
      assert.equal(r.code, 0, describeRun(args, r));
      assert.equal(r.stdout.trim(), '', describeRun(args, r));
    });

    it('kubectl diff exits 1 with a diff when the file differs, and stores nothing', async function () {
      const objs = objects();
      objs[1].spec.displayName = 'Diffed name';
      const file = tempFile('all.yaml', toYAML(...objs));
      const args = ['diff', '-f', file];
      const r = await server.kubectl(args);
      assert.equal(r.code, 1, describeRun(args, r));
      assert.match(r.stdout, /^-\s+displayName: First name$/m, describeRun(args, r));
      assert.match(r.stdout, /^\+\s+displayName: Diffed name$/m, describeRun(args, r));
      const p = await getJSON(paths.project(prj));
      assert.equal(p.spec.displayName, 'First name', 'kubectl diff (dry-run) changed the object');
    });

    it('applying an edited file updates the field and prunes a removed label', async function () {
      const objs = objects();
      objs[1].spec.displayName = 'Second name';
      delete objs[1].metadata.labels.stage;
      objs[0].spec.displayName = 'Renamed cluster';
      const file = tempFile('all.yaml', toYAML(...objs));
      const r = await kubectlOK(['apply', '-f', file]);
      assert.match(r.stdout, new RegExp(`project.business.tkestack.io/${prj} configured`), r.stdout);
      assert.match(r.stdout, new RegExp(`cluster.platform.tkestack.io/${cls} configured`), r.stdout);
      assert.match(r.stdout, new RegExp(`namespace.business.tkestack.io/${ns} unchanged`), r.stdout);
      const p = await getJSON(paths.project(prj));
      assert.equal(p.spec.displayName, 'Second name');
      assert.deepEqual(p.metadata.labels, { app: 'e2e' }, 'three-way merge should have removed the stage label');
      const c = await getJSON(paths.cluster(cls));
      assert.equal(c.spec.displayName, 'Renamed cluster');
      assert.equal(p.metadata.generation, 2, 'generation bumps once on the spec change');
    });

    it('applying from stdin in JSON works too', async function () {
      const obj = projectObject(prj, { labels: { app: 'e2e' }, displayName: 'Third name', clusters: hard });
      const r = await kubectlOK(['apply', '-f', '-'], JSON.stringify(obj));
      assert.match(r.stdout, /configured/, r.stdout);
      assert.equal((await getJSON(paths.project(prj))).spec.displayName, 'Third name');
    });
  });

  describe('server-side apply', function () {
    const prj = uniqueName('ssa');
    const manifest = (displayName: string, labels?: Record<string, string>) => YAML.stringify(projectObject(prj, { displayName, labels }));

    it('creates with --server-side and records the field manager', async function () {
      const args = ['apply', '--server-side', '--field-manager=alice', '-f', '-'];
      const r = await kubectlOK(args, manifest('Alice name', { owner: 'alice' }));
      assert.match(r.stdout, new RegExp(`project.business.tkestack.io/${prj} serverside-applied`), describeRun(args, r));
      const p = await getJSON(paths.project(prj));
      assert.equal(p.spec.displayName, 'Alice name');
      const mf = (p.metadata.managedFields ?? []) as any[];
      const alice = mf.find(e => e.manager === 'alice');
      assert.ok(alice, `no managedFields entry for alice: ${JSON.stringify(mf)}`);
      assert.equal(alice.operation, 'Apply');
      assert.equal(alice.apiVersion, 'business.tkestack.io/v1');
      assert.equal(alice.fieldsType, 'FieldsV1');
      assert.ok(alice.fieldsV1?.['f:spec']?.['f:displayName'] !== undefined, `alice does not own spec.displayName: ${JSON.stringify(alice.fieldsV1)}`);
    });

    it('applying the same manifest again by the same manager is a no-op success', async function () {
      const before = await waitSettled(server, paths.project(prj));
      await kubectlOK(['apply', '--server-side', '--field-manager=alice', '-f', '-'], manifest('Alice name', { owner: 'alice' }));
      const after = await getJSON(paths.project(prj));
      assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'a no-op apply must not write');
    });

    it('a second manager changing an owned field gets a conflict', async function () {
      const args = ['apply', '--server-side', '--field-manager=bob', '-f', '-'];
      const r = await server.kubectl(args, { input: manifest('Bob name') });
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /conflict/i, describeRun(args, r));
      assert.match(r.stderr, /alice/, `conflict message should name the other manager: ${r.stderr}`);
      assert.match(r.stderr, /\.spec\.displayName/, `conflict message should name the field: ${r.stderr}`);
      assert.equal((await getJSON(paths.project(prj))).spec.displayName, 'Alice name');
    });

    it('the raw apply PATCH conflict is a 409 Status with reason Conflict and causes', async function () {
      const res = await server.request('PATCH', `${paths.project(prj)}?fieldManager=carol`, {
        headers: { 'Content-Type': 'application/apply-patch+yaml' },
        body: manifest('Carol name'),
      });
      assert.equal(res.status, 409, describeResponse(res));
      const st = res.json();
      assert.equal(st.kind, 'Status');
      assert.equal(st.reason, 'Conflict');
      assert.ok(
        (st.details?.causes ?? []).some((c: any) => c.reason === 'FieldManagerConflict' && /displayName/.test(c.field ?? '')),
        describeResponse(res),
      );
    });

    it('--force-conflicts takes the field over', async function () {
      const args = ['apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', '-'];
      const r = await kubectlOK(args, manifest('Bob name'));
      assert.match(r.stdout, /serverside-applied/, r.stdout);
      const p = await getJSON(paths.project(prj));
      assert.equal(p.spec.displayName, 'Bob name');
      const mf = p.metadata.managedFields as any[];
      const bob = mf.find(e => e.manager === 'bob' && e.operation === 'Apply');
      assert.ok(bob?.fieldsV1?.['f:spec']?.['f:displayName'] !== undefined, `bob should own spec.displayName: ${JSON.stringify(mf)}`);
      const alice = mf.find(e => e.manager === 'alice');
      assert.ok(!alice?.fieldsV1?.['f:spec']?.['f:displayName'], `alice should have lost spec.displayName: ${JSON.stringify(mf)}`);
    });

    it('a manager dropping a field it solely owns removes it', async function () {
      // alice applies without her label: she is the only owner of metadata.labels.owner -> it is removed.
      const obj = projectObject(prj, { displayName: 'Bob name' });
      delete obj.spec.displayName; // not alice's any more
      const r = await server.kubectl(['apply', '--server-side', '--field-manager=alice', '-f', '-'], { input: YAML.stringify(obj) });
      assert.equal(r.code, 0, describeRun(['apply', '--server-side', '--field-manager=alice'], r));
      const p = await getJSON(paths.project(prj));
      assert.equal(p.metadata.labels?.owner, undefined, `label owned only by alice should be gone: ${JSON.stringify(p.metadata.labels)}`);
      assert.equal(p.spec.displayName, 'Bob name', 'bob still owns displayName');
    });

    it('a dry-run server-side apply stores nothing', async function () {
      const before = await waitSettled(server, paths.project(prj));
      await kubectlOK(['apply', '--server-side', '--field-manager=bob', '--force-conflicts', '--dry-run=server', '-f', '-'], manifest('Dry name'));
      const after = await getJSON(paths.project(prj));
      assert.equal(after.spec.displayName, 'Bob name');
      assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
    });
  });
});
