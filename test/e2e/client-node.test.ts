// @kubernetes/client-node against a started server: KubernetesObjectApi CRUD on projects, and an
// informer that keeps delivering add/update/delete across a server restart.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, waitSettled } from '../support/http.ts';
import { uniqueName, projectObject, paths } from '../support/fixtures.ts';
import { waitFor } from '../support/wait.ts';

type Project = k8s.KubernetesObject & { spec?: any; status?: any };

describe('e2e: @kubernetes/client-node', function () {
  this.timeout(120_000);
  let server: TestServer;
  let kc: k8s.KubeConfig;
  let api: k8s.KubernetesObjectApi;

  before(async function () {
    this.timeout(180_000);
    server = await startServer();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfig);
    api = k8s.KubernetesObjectApi.makeApiClient(kc);
  });
  after(async function () {
    if (server) await server.stop();
  });

  function codeOf(err: unknown): number | undefined {
    const e = err as { code?: number; statusCode?: number; body?: unknown };
    return e?.code ?? e?.statusCode;
  }

  describe('KubernetesObjectApi', function () {
    const name = uniqueName('cn');
    const header = { apiVersion: 'business.tkestack.io/v1', kind: 'Project', metadata: { name } };

    it('create', async function () {
      const created = await api.create<Project>(projectObject(name, { labels: { via: 'client-node' }, displayName: 'Client Node' }));
      assert.equal(created.metadata?.name, name);
      assert.equal(created.kind, 'Project');
      assert.ok(created.metadata?.uid);
      assert.ok(created.metadata?.resourceVersion);
      assert.equal(created.spec.displayName, 'Client Node');
    });

    it('read', async function () {
      const p = await api.read<Project>(header);
      assert.equal(p.metadata?.name, name);
      assert.equal(p.metadata?.labels?.via, 'client-node');
      assert.equal(p.spec.tenantID, 'default');
    });

    it('patch (merge, strategic and server-side apply)', async function () {
      let p = await api.patch<Project>(
        { ...header, spec: { displayName: 'Merged by client-node' } } as Project,
        undefined,
        undefined,
        'client-node-e2e',
        undefined,
        k8s.PatchStrategy.MergePatch,
      );
      assert.equal(p.spec.displayName, 'Merged by client-node');

      p = await api.patch<Project>(
        { ...header, metadata: { name, labels: { smp: 'yes' } } } as Project,
        undefined,
        undefined,
        'client-node-e2e',
        undefined,
        k8s.PatchStrategy.StrategicMergePatch,
      );
      assert.equal(p.metadata?.labels?.smp, 'yes');
      assert.equal(p.metadata?.labels?.via, 'client-node');

      p = await api.patch<Project>(
        projectObject(name, { displayName: 'Applied by client-node' }),
        undefined,
        undefined,
        'client-node-apply',
        true,
        k8s.PatchStrategy.ServerSideApply,
      );
      assert.equal(p.spec.displayName, 'Applied by client-node');
      assert.ok(
        p.metadata?.managedFields?.some(m => m.manager === 'client-node-apply' && m.operation === 'Apply'),
        JSON.stringify(p.metadata?.managedFields),
      );
    });

    it('replace', async function () {
      await waitSettled(server, paths.project(name));
      const cur = await api.read<Project>(header);
      cur.spec.displayName = 'Replaced by client-node';
      const p = await api.replace<Project>(cur);
      assert.equal(p.spec.displayName, 'Replaced by client-node');
      // Replacing the same stale copy again is a 409.
      await assert.rejects(api.replace<Project>(cur), (err: unknown) => codeOf(err) === 409);
    });

    it('list with label and field selectors, and limit', async function () {
      const list = await api.list<Project>('business.tkestack.io/v1', 'Project', undefined, undefined, undefined, undefined, undefined, 'via=client-node');
      assert.deepEqual(
        list.items.map(i => i.metadata?.name),
        [name],
      );
      assert.ok(list.metadata?.resourceVersion);
      const byField = await api.list<Project>('business.tkestack.io/v1', 'Project', undefined, undefined, undefined, undefined, `metadata.name=${name}`);
      assert.deepEqual(
        byField.items.map(i => i.metadata?.name),
        [name],
      );
      for (let i = 0; i < 3; i++) await api.create(projectObject(`${name}-x${i}`, { labels: { via: 'client-node' } }));
      // limit is honoured (client-node's generic list drops metadata.continue when it deserializes,
      // so paging itself is covered by the kubectl --chunk-size and raw tests).
      const page = await api.list<Project>('business.tkestack.io/v1', 'Project', undefined, undefined, undefined, undefined, undefined, 'via=client-node', 2);
      assert.equal(page.items.length, 2);
    });

    it('delete, then read is a 404', async function () {
      await api.delete(header);
      await waitFor(
        `${name} to be gone`,
        async () => {
          try {
            await api.read(header);
            return false;
          } catch (err) {
            if (codeOf(err) === 404) return true;
            throw err;
          }
        },
        15_000,
      );
      await assert.rejects(api.read(header), (err: unknown) => codeOf(err) === 404);
    });

    it('create of a duplicate is a 409 and an invalid object a 422', async function () {
      const n = uniqueName('cnd');
      await api.create(projectObject(n));
      await assert.rejects(api.create(projectObject(n)), (err: unknown) => codeOf(err) === 409);
      await assert.rejects(api.create(projectObject('Invalid_Name')), (err: unknown) => codeOf(err) === 422);
    });
  });

  describe('informer', function () {
    it('receives add, update and delete, and keeps receiving them after the server restarts', async function () {
      this.timeout(240_000);
      const label = uniqueName('inf');
      const events: Array<{ type: string; name: string; displayName?: string; rv?: string }> = [];
      const errors: unknown[] = [];
      let stopped = false;

      const listFn = () => api.list<Project>('business.tkestack.io/v1', 'Project', undefined, undefined, undefined, undefined, undefined, `informer=${label}`);
      const informer = k8s.makeInformer<Project>(kc, paths.projects, listFn, `informer=${label}`);
      const record = (type: string) => (obj: Project) =>
        events.push({ type, name: obj.metadata!.name!, displayName: obj.spec?.displayName, rv: obj.metadata?.resourceVersion });
      informer.on('add', record('add'));
      informer.on('update', record('update'));
      informer.on('delete', record('delete'));
      // client-node informers stop on a connection error; restart like a controller would.
      informer.on('error', (err: unknown) => {
        errors.push(err);
        if (stopped) return;
        setTimeout(() => {
          if (!stopped) informer.start().catch(e => errors.push(e));
        }, 200);
      });

      const has = (type: string, name: string, displayName?: string) =>
        events.some(e => e.type === type && e.name === name && (displayName === undefined || e.displayName === displayName));
      const ctx = () => `\nevents: ${JSON.stringify(events)}\nerrors: ${errors.map(String).join(' | ')}`;

      const create = async (name: string) => {
        const res = await server.request('POST', paths.projects, { body: projectObject(name, { labels: { informer: label }, displayName: 'v1' }) });
        assert.equal(res.status, 201, describeResponse(res));
        await waitFor(`informer add ${name}${ctx()}`, () => has('add', name), 20_000);
      };
      const update = async (name: string, displayName: string) => {
        const res = await server.request('PATCH', paths.project(name), {
          headers: { 'Content-Type': 'application/merge-patch+json' },
          body: { spec: { displayName } },
        });
        assert.equal(res.status, 200, describeResponse(res));
        await waitFor(`informer update ${name} -> ${displayName}${ctx()}`, () => has('update', name, displayName), 20_000);
      };
      const remove = async (name: string) => {
        const res = await server.request('DELETE', paths.project(name));
        assert.ok(res.status === 200 || res.status === 202, describeResponse(res));
        await waitFor(`informer delete ${name} (live: ${(await server.request('GET', paths.project(name))).body})${ctx()}`, () => has('delete', name), 20_000);
      };
      const a = `${label}-a`;
      const b = `${label}-b`;

      try {
        await informer.start();
        await create(a);
        await update(a, 'v2');

        // Restart: SIGTERM (must drain and exit 0), then the same data dir, database and port.
        // (the exit code is asserted at the end, so the informer part is checked either way)
        const code = await server.stop('SIGTERM');
        const stopLogs = server.logs().slice(-3000);
        await server.restart();

        await create(b);
        await update(b, 'v2');
        await update(a, 'v3');
        // Exactly one add per object: the re-watch after the restart must not replay a stale add.
        assert.equal(events.filter(e => e.type === 'add' && e.name === a).length, 1, ctx());
        assert.equal(events.filter(e => e.type === 'add' && e.name === b).length, 1, ctx());
        await remove(a);
        await remove(b);
        // The cache agrees with the server.
        assert.equal(informer.list().length, 0, `informer cache should be empty: ${JSON.stringify(informer.list().map(o => o.metadata?.name))}`);
        assert.equal(code, 0, `tke-apiserver exit code on SIGTERM (contract: drains and exits 0)\n${stopLogs}`);
      } finally {
        stopped = true;
        await informer.stop();
      }
    });
  });
});
