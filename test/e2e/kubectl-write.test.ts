// kubectl writes: label, annotate, patch (merge/json/strategic), edit, replace, dry-run create
// and delete, status subresource, and finalizers with delete --wait.
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import YAML from 'yaml';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, waitSettled } from '../support/http.ts';
import { describeRun, followOutput } from '../support/kubectl.ts';
import { uniqueName, clusterObject, projectObject, paths } from '../support/fixtures.ts';
import { tempFile } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';

describe('e2e: kubectl label, annotate, patch, edit, replace, dry-run and finalizers', function () {
  this.timeout(120_000);
  let server: TestServer;
  const prj = uniqueName('prj');
  const cls = uniqueName('cls');

  before(async function () {
    this.timeout(180_000);
    server = await startServer();
    let res = await server.request('POST', paths.projects, { body: projectObject(prj, { displayName: 'Writable' }) });
    assert.equal(res.status, 201, describeResponse(res));
    res = await server.request('POST', paths.clusters, { body: clusterObject(cls) });
    assert.equal(res.status, 201, describeResponse(res));
  });
  after(async function () {
    if (server) await server.stop();
  });

  const kubectlOK = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) => server.kubectlOK(args, opts);
  async function get(path: string) {
    const res = await server.request('GET', path);
    assert.equal(res.status, 200, describeResponse(res));
    return res.json();
  }

  describe('label and annotate', function () {
    it('kubectl label adds, refuses to overwrite without --overwrite, overwrites and removes', async function () {
      await kubectlOK(['label', 'project', prj, 'env=prod']);
      assert.equal((await get(paths.project(prj))).metadata.labels?.env, 'prod');
      const refused = await server.kubectl(['label', 'project', prj, 'env=dev']);
      assert.notEqual(refused.code, 0, describeRun(['label', 'env=dev'], refused));
      await kubectlOK(['label', 'project', prj, 'env=dev', '--overwrite']);
      assert.equal((await get(paths.project(prj))).metadata.labels?.env, 'dev');
      await kubectlOK(['label', 'project', prj, 'env-']);
      assert.equal((await get(paths.project(prj))).metadata.labels?.env, undefined);
    });

    it('kubectl annotate adds and removes, and does not bump generation', async function () {
      const before = await get(paths.project(prj));
      await kubectlOK(['annotate', 'project', prj, 'tkestack.io/note=hello world']);
      const p = await get(paths.project(prj));
      assert.equal(p.metadata.annotations?.['tkestack.io/note'], 'hello world');
      assert.equal(p.metadata.generation, before.metadata.generation, 'metadata-only change must not bump generation');
      await kubectlOK(['annotate', 'project', prj, 'tkestack.io/note-']);
      assert.equal((await get(paths.project(prj))).metadata.annotations?.['tkestack.io/note'], undefined);
    });
  });

  describe('patch', function () {
    it('--type=merge', async function () {
      const before = await get(paths.project(prj));
      await kubectlOK(['patch', 'project', prj, '--type=merge', '-p', '{"spec":{"displayName":"Merged"}}']);
      const p = await get(paths.project(prj));
      assert.equal(p.spec.displayName, 'Merged');
      assert.equal(p.metadata.generation, before.metadata.generation + 1, 'spec change bumps generation');
      assert.deepEqual(p.spec.members, before.spec.members, 'merge patch keeps the other fields');
    });

    it('--type=json', async function () {
      await kubectlOK([
        'patch',
        'project',
        prj,
        '--type=json',
        '-p',
        '[{"op":"replace","path":"/spec/displayName","value":"Jsoned"},{"op":"add","path":"/metadata/labels","value":{"jp":"json-patched"}}]',
      ]);
      const p = await get(paths.project(prj));
      assert.equal(p.spec.displayName, 'Jsoned');
      assert.equal(p.metadata.labels?.jp, 'json-patched');
    });

    it('--type=json with a failing test op is rejected and changes nothing', async function () {
      const args = [
        'patch',
        'project',
        prj,
        '--type=json',
        '-p',
        '[{"op":"test","path":"/spec/displayName","value":"nope"},{"op":"replace","path":"/spec/displayName","value":"X"}]',
      ];
      const r = await server.kubectl(args);
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.equal((await get(paths.project(prj))).spec.displayName, 'Jsoned');
    });

    it('--type=strategic merges metadata.finalizers (patchStrategy merge) and deletes with $deleteFromPrimitiveList', async function () {
      await kubectlOK(['patch', 'project', prj, '--type=strategic', '-p', '{"metadata":{"finalizers":["e2e.tkestack.io/one"]}}']);
      await kubectlOK([
        'patch',
        'project',
        prj,
        '--type=strategic',
        '-p',
        '{"metadata":{"finalizers":["e2e.tkestack.io/two"]},"spec":{"displayName":"Strategic"}}',
      ]);
      let p = await get(paths.project(prj));
      assert.deepEqual([...p.metadata.finalizers].sort(), ['e2e.tkestack.io/one', 'e2e.tkestack.io/two'], 'strategic merge must merge the finalizers list');
      assert.equal(p.spec.displayName, 'Strategic');
      await kubectlOK([
        'patch',
        'project',
        prj,
        '--type=strategic',
        '-p',
        '{"metadata":{"$deleteFromPrimitiveList/finalizers":["e2e.tkestack.io/one","e2e.tkestack.io/two"]}}',
      ]);
      p = await get(paths.project(prj));
      assert.deepEqual(p.metadata.finalizers ?? [], []);
    });

    it('kubectl patch (default strategic) of cluster status conditions merges by type through the status subresource', async function () {
      const t0 = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      await kubectlOK([
        'patch',
        'cluster',
        cls,
        '--subresource=status',
        '--type=strategic',
        '-p',
        JSON.stringify({ status: { phase: 'Running', conditions: [{ type: 'EnsureA', status: 'True', lastProbeTime: t0, lastTransitionTime: t0 }] } }),
      ]);
      await kubectlOK([
        'patch',
        'cluster',
        cls,
        '--subresource=status',
        '-p',
        JSON.stringify({ status: { conditions: [{ type: 'EnsureB', status: 'False', lastProbeTime: t0, lastTransitionTime: t0 }] } }),
      ]);
      const c = await get(paths.cluster(cls));
      assert.equal(c.status.phase, 'Running');
      const types = (c.status.conditions ?? []).map((x: any) => x.type).sort();
      assert.deepEqual(types, ['EnsureA', 'EnsureB'], `conditions should merge on type: ${JSON.stringify(c.status.conditions)}`);
    });

    it('the status subresource ignores spec, the main resource ignores status', async function () {
      const before = await get(paths.cluster(cls));
      await kubectlOK([
        'patch',
        'cluster',
        cls,
        '--subresource=status',
        '--type=merge',
        '-p',
        '{"spec":{"displayName":"via status"},"status":{"phase":"Failed"}}',
      ]);
      let c = await get(paths.cluster(cls));
      assert.equal(c.spec.displayName, before.spec.displayName, 'status writes must ignore spec');
      assert.equal(c.status.phase, 'Failed');
      await kubectlOK(['patch', 'cluster', cls, '--type=merge', '-p', '{"spec":{"displayName":"via main"},"status":{"phase":"Running"}}']);
      c = await get(paths.cluster(cls));
      assert.equal(c.spec.displayName, 'via main');
      assert.equal(c.status.phase, 'Failed', 'writes to the main resource must ignore status');
    });
  });

  describe('edit, replace and dry-run', function () {
    it('kubectl edit with a scripted EDITOR', async function () {
      const script = tempFile('editor.sh', '#!/bin/sh\nset -e\nsed -i \'s/^  displayName: .*/  displayName: Edited by script/\' "$1"\n');
      chmodSync(script, 0o755);
      const args = ['edit', 'project', prj];
      const r = await server.kubectl(args, { env: { EDITOR: script, KUBE_EDITOR: script } });
      assert.equal(r.code, 0, describeRun(args, r));
      assert.match(r.stdout, new RegExp(`project.business.tkestack.io/${prj} edited`), describeRun(args, r));
      assert.equal((await get(paths.project(prj))).spec.displayName, 'Edited by script');
    });

    it('kubectl edit -o json with a node EDITOR that adds a label', async function () {
      const js = tempFile(
        'editor.mjs',
        [
          "import { readFileSync, writeFileSync } from 'node:fs';",
          'const f = process.argv[2];',
          "const o = JSON.parse(readFileSync(f, 'utf8'));",
          "o.metadata.labels = { ...(o.metadata.labels || {}), edited: 'by-node' };",
          'writeFileSync(f, JSON.stringify(o, null, 2));',
        ].join('\n'),
      );
      const script = tempFile('editor2.sh', `#!/bin/sh\nexec "${process.execPath}" "${js}" "$1"\n`);
      chmodSync(script, 0o755);
      const args = ['edit', 'project', prj, '-o', 'json'];
      const r = await server.kubectl(args, { env: { EDITOR: script, KUBE_EDITOR: script } });
      assert.equal(r.code, 0, describeRun(args, r));
      assert.equal((await get(paths.project(prj))).metadata.labels?.edited, 'by-node');
    });

    it('kubectl replace of the current copy', async function () {
      const r = await kubectlOK(['get', 'project', prj, '-o', 'yaml']);
      const obj = YAML.parse(r.stdout);
      obj.spec.displayName = 'Replaced';
      // JSON, not YAML: kubectl reads YAML 1.1, where e.g. an unquoted `yes` is a bool.
      const rr = await kubectlOK(['replace', '-f', '-'], { input: JSON.stringify(obj) });
      assert.match(rr.stdout, new RegExp(`project.business.tkestack.io/${prj} replaced`), rr.stdout);
      const p = await get(paths.project(prj));
      assert.equal(p.spec.displayName, 'Replaced');
      assert.notEqual(p.metadata.resourceVersion, obj.metadata.resourceVersion);
    });

    it('kubectl create --dry-run=server stores nothing', async function () {
      const name = uniqueName('dry');
      const args = ['create', '--dry-run=server', '-f', '-'];
      const r = await kubectlOK(args, { input: YAML.stringify(projectObject(name)) });
      assert.match(r.stdout, new RegExp(`project.business.tkestack.io/${name} created \\(server dry run\\)`), describeRun(args, r));
      const g = await server.kubectl(['get', 'project', name]);
      assert.equal(g.code, 1, describeRun(['get', 'project', name], g));
      assert.match(g.stderr, /NotFound/, g.stderr);
      // -o yaml of the dry run shows the server-filled object.
      const y = await kubectlOK(['create', '--dry-run=server', '-o', 'yaml', '-f', '-'], { input: YAML.stringify(projectObject(name)) });
      const obj = YAML.parse(y.stdout);
      assert.ok(obj.metadata.uid && obj.metadata.creationTimestamp, `dry-run create should return a complete object: ${y.stdout}`);
      assert.equal((await server.request('GET', paths.project(name))).status, 404);
    });

    it('kubectl delete --dry-run=server keeps the object', async function () {
      const before = await waitSettled(server, paths.project(prj));
      const r = await kubectlOK(['delete', 'project', prj, '--dry-run=server']);
      assert.match(r.stdout, /deleted \(server dry run\)/, r.stdout);
      const p = await get(paths.project(prj));
      assert.equal(p.metadata.deletionTimestamp, undefined);
      assert.equal(p.metadata.resourceVersion, before.metadata.resourceVersion);
    });

    it('generateName creates a unique name', async function () {
      const obj = projectObject('');
      delete obj.metadata.name;
      obj.metadata.generateName = 'gen-';
      const a = await server.request('POST', paths.projects, { body: obj });
      const b = await server.request('POST', paths.projects, { body: obj });
      assert.equal(a.status, 201, describeResponse(a));
      assert.equal(b.status, 201, describeResponse(b));
      assert.match(a.json().metadata.name, /^gen-[a-z0-9]{5,8}$/);
      assert.notEqual(a.json().metadata.name, b.json().metadata.name);
    });
  });

  describe('finalizers and delete', function () {
    it('a delete of an object with metadata.finalizers sets deletionTimestamp and waits for the finalizer', async function () {
      const name = uniqueName('fin');
      const res = await server.request('POST', paths.projects, { body: projectObject(name, { finalizers: ['e2e.tkestack.io/hold'] }) });
      assert.equal(res.status, 201, describeResponse(res));
      await kubectlOK(['delete', 'project', name, '--wait=false']);
      let p = await get(paths.project(name));
      assert.ok(p.metadata.deletionTimestamp, 'deletionTimestamp must be set');
      assert.deepEqual(p.metadata.finalizers, ['e2e.tkestack.io/hold']);
      // Still there after another round trip.
      p = await get(paths.project(name));
      assert.ok(p.metadata.deletionTimestamp);
      // A second delete is accepted and changes nothing.
      const again = await server.request('DELETE', paths.project(name));
      assert.ok([200, 202].includes(again.status), describeResponse(again));
      // Adding a new finalizer while terminating is forbidden in Kubernetes; removing is allowed.
      await kubectlOK(['patch', 'project', name, '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
      await waitFor(
        `${name} to be gone after the last finalizer was removed (live: ${(await server.request('GET', paths.project(name))).body})`,
        async () => (await server.request('GET', paths.project(name))).status === 404,
        15_000,
      );
    });

    it('kubectl delete --wait returns once the finalizer is removed', async function () {
      const name = uniqueName('finw');
      const res = await server.request('POST', paths.clusters, { body: { ...clusterObject(name), metadata: { name, finalizers: ['e2e.tkestack.io/hold'] } } });
      assert.equal(res.status, 201, describeResponse(res));
      const proc = server.spawnKubectl(['delete', 'cluster', name, '--wait=true', '--timeout=60s']);
      const output = followOutput(proc);
      const exited = new Promise<number | null>(resolve => proc.on('close', code => resolve(code)));
      try {
        await waitFor('deletionTimestamp on the cluster', async () => (await get(paths.cluster(name))).metadata.deletionTimestamp, 15_000);
        assert.equal(proc.exitCode, null, `kubectl delete --wait returned while the finalizer was still there: ${output.stdout} ${output.stderr}`);
        await kubectlOK(['patch', 'cluster', name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
        const code = await Promise.race([exited, new Promise<string>(r => setTimeout(() => r('timeout'), 20_000))]);
        assert.equal(code, 0, `kubectl delete --wait: code ${code}\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
        assert.match(output.stdout, new RegExp(`cluster.platform.tkestack.io "${name}" deleted`), output.stdout);
        assert.equal((await server.request('GET', paths.cluster(name))).status, 404);
      } finally {
        proc.kill('SIGKILL');
      }
    });

    it('kubectl delete of a plain project removes it', async function () {
      const name = uniqueName('del');
      const res = await server.request('POST', paths.projects, { body: projectObject(name) });
      assert.equal(res.status, 201, describeResponse(res));
      const args = ['delete', 'project', name, '--timeout=30s'];
      const r = await server.kubectl(args);
      assert.equal(r.code, 0, `${describeRun(args, r)}\nlive object: ${(await server.request('GET', paths.project(name))).body}`);
      assert.equal((await server.request('GET', paths.project(name))).status, 404);
    });

    it('delete with a stale uid precondition is a 409 Conflict', async function () {
      const name = uniqueName('pre');
      const res = await server.request('POST', paths.projects, { body: projectObject(name) });
      assert.equal(res.status, 201, describeResponse(res));
      const del = await server.request('DELETE', paths.project(name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: '00000000-0000-0000-0000-000000000000' } },
      });
      assert.equal(del.status, 409, describeResponse(del));
      assert.equal(del.json().reason, 'Conflict');
      assert.equal((await server.request('GET', paths.project(name))).status, 200);
    });
  });
});
