// Error responses, through kubectl and as raw metav1.Status bodies.
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { useServer, type TestServer } from '../support/server.ts';
import { type HttpResponse, describeResponse } from '../support/http.ts';
import { describeRun } from '../support/kubectl.ts';
import { uniqueName, projectObject, clusterObject, paths } from '../support/fixtures.ts';

function assertStatus(res: HttpResponse, code: number, reason: string): any {
  assert.equal(res.status, code, describeResponse(res));
  const ct = String(res.headers['content-type'] ?? '');
  assert.match(ct, /^application\/json/, `Status content-type: ${ct}`);
  const st = res.json();
  assert.equal(st.kind, 'Status', describeResponse(res));
  assert.equal(st.apiVersion, 'v1', describeResponse(res));
  assert.equal(st.status, 'Failure', describeResponse(res));
  assert.equal(st.code, code, describeResponse(res));
  assert.equal(st.reason, reason, describeResponse(res));
  assert.ok(typeof st.message === 'string' && st.message.length > 0, describeResponse(res));
  return st;
}

describe('e2e: errors as metav1.Status', function () {
  this.timeout(120_000);
  let server: TestServer;

  useServer(s => {
    server = s;
  });

  async function create(obj: any, path = paths.projects) {
    const res = await server.request('POST', path, { body: obj });
    assert.equal(res.status, 201, describeResponse(res));
    return res.json();
  }

  describe('409 Conflict on a stale resourceVersion', function () {
    it('kubectl replace of an old copy fails with Conflict', async function () {
      const name = uniqueName('stale');
      await create(projectObject(name));
      const old = YAML.parse((await server.kubectl(['get', 'project', name, '-o', 'yaml'])).stdout);
      const patched = await server.kubectl(['label', 'project', name, 'bump=1']);
      assert.equal(patched.code, 0, describeRun(['label'], patched));
      old.spec.displayName = 'From the old copy';
      const args = ['replace', '-f', '-'];
      const r = await server.kubectl(args, { input: YAML.stringify(old) });
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /Conflict/, describeRun(args, r));
      assert.match(r.stderr, /the object has been modified; please apply your changes to the latest version and try again/, describeRun(args, r));
      const live = (await server.request('GET', paths.project(name))).json();
      assert.notEqual(live.spec.displayName, 'From the old copy');
    });

    it('raw PUT with a stale resourceVersion is 409 Conflict with details', async function () {
      const name = uniqueName('stale');
      await create(projectObject(name));
      // Controllers may update the new object (e.g. its status) too: retry the first PUT on a fresh copy.
      let obj: any;
      for (let attempt = 0; ; attempt++) {
        obj = (await server.request('GET', paths.project(name))).json();
        const up = await server.request('PUT', paths.project(name), { body: { ...obj, spec: { ...obj.spec, displayName: 'first' } } });
        if (up.status === 200) break;
        assert.ok(up.status === 409 && attempt < 10, describeResponse(up));
      }
      const res = await server.request('PUT', paths.project(name), { body: { ...obj, spec: { ...obj.spec, displayName: 'second' } } });
      const st = assertStatus(res, 409, 'Conflict');
      assert.equal(st.details?.name, name);
      assert.equal(st.details?.group, 'business.tkestack.io');
      assert.equal(st.details?.kind, 'projects');
    });

    it('raw PUT without a resourceVersion is rejected for projects (AllowUnconditionalUpdate=false in TKE)', async function () {
      const name = uniqueName('norv');
      const obj = await create(projectObject(name));
      delete obj.metadata.resourceVersion;
      const res = await server.request('PUT', paths.project(name), { body: obj });
      assertStatus(res, 422, 'Invalid');
    });

    it('raw PUT whose name differs from the URL is 400 BadRequest', async function () {
      const name = uniqueName('nm');
      const obj = await create(projectObject(name));
      const res = await server.request('PUT', paths.project(name), { body: { ...obj, metadata: { ...obj.metadata, name: 'other' } } });
      assertStatus(res, 400, 'BadRequest');
    });
  });

  describe('404 NotFound', function () {
    it('kubectl get of a missing project', async function () {
      const args = ['get', 'project', 'does-not-exist'];
      const r = await server.kubectl(args);
      assert.equal(r.code, 1, describeRun(args, r));
      assert.match(r.stderr, /Error from server \(NotFound\): projects\.business\.tkestack\.io "does-not-exist" not found/, describeRun(args, r));
    });

    it('raw GET, PATCH and DELETE of a missing object, and of a missing namespace object', async function () {
      for (const [method, path] of [
        ['GET', paths.project('does-not-exist')],
        ['DELETE', paths.project('does-not-exist')],
        ['GET', paths.cluster('does-not-exist')],
        ['GET', paths.namespace('no-project', 'does-not-exist')],
      ] as const) {
        const st = assertStatus(await server.request(method, path), 404, 'NotFound');
        assert.equal(st.details?.name, 'does-not-exist', `${method} ${path}: ${JSON.stringify(st)}`);
      }
      const patch = await server.request('PATCH', paths.project('does-not-exist'), {
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { spec: { displayName: 'x' } },
      });
      assertStatus(patch, 404, 'NotFound');
      const st = assertStatus(await server.request('GET', paths.project('does-not-exist')), 404, 'NotFound');
      assert.equal(st.details.group, 'business.tkestack.io');
      assert.equal(st.details.kind, 'projects');
      assert.equal(st.message, 'projects.business.tkestack.io "does-not-exist" not found');
    });

    it('unknown resources and groups are 404', async function () {
      const r1 = await server.request('GET', '/apis/business.tkestack.io/v1/nosuchresources');
      assert.equal(r1.status, 404, describeResponse(r1));
      const r2 = await server.request('GET', '/apis/nosuch.tkestack.io/v1');
      assert.equal(r2.status, 404, describeResponse(r2));
      const r3 = await server.request('GET', '/apis/business.tkestack.io/v2/projects');
      assert.equal(r3.status, 404, describeResponse(r3));
    });
  });

  describe('409 AlreadyExists', function () {
    it('kubectl create of a duplicate name', async function () {
      const name = uniqueName('dup');
      const manifest = YAML.stringify(projectObject(name));
      const first = await server.kubectl(['create', '-f', '-'], { input: manifest });
      assert.equal(first.code, 0, describeRun(['create'], first));
      const args = ['create', '-f', '-'];
      const r = await server.kubectl(args, { input: manifest });
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /Error from server \(AlreadyExists\)/, describeRun(args, r));
      assert.match(r.stderr, new RegExp(`projects\\.business\\.tkestack\\.io "${name}" already exists`), describeRun(args, r));
    });

    it('raw POST of a duplicate is 409 AlreadyExists with details', async function () {
      const name = uniqueName('dup');
      await create(clusterObject(name), paths.clusters);
      const st = assertStatus(await server.request('POST', paths.clusters, { body: clusterObject(name) }), 409, 'AlreadyExists');
      assert.equal(st.details?.name, name);
      assert.equal(st.details?.group, 'platform.tkestack.io');
      assert.equal(st.details?.kind, 'clusters');
    });
  });

  describe('422 Invalid', function () {
    it('an invalid name is 422 with a metadata.name cause', async function () {
      const st = assertStatus(await server.request('POST', paths.projects, { body: projectObject('Bad_Name') }), 422, 'Invalid');
      assert.equal(st.details?.name, 'Bad_Name');
      assert.equal(st.details?.group, 'business.tkestack.io');
      assert.equal(st.details?.kind, 'Project');
      assert.ok(
        (st.details?.causes ?? []).some((c: any) => c.field === 'metadata.name' && c.reason === 'FieldValueInvalid'),
        JSON.stringify(st),
      );
    });

    it('a missing required field is 422 with that field as cause (kubectl too)', async function () {
      const obj = projectObject(uniqueName('inv'));
      delete obj.spec.displayName;
      const st = assertStatus(await server.request('POST', paths.projects, { body: obj }), 422, 'Invalid');
      assert.ok(
        (st.details?.causes ?? []).some((c: any) => c.field === 'spec.displayName' && c.reason === 'FieldValueRequired'),
        JSON.stringify(st),
      );
      const args = ['create', '-f', '-'];
      const r = await server.kubectl(args, { input: YAML.stringify(obj) });
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /is invalid: spec\.displayName: Required value/, describeRun(args, r));
    });

    it('an invalid label value is 422 with a metadata.labels cause', async function () {
      const name = uniqueName('lbl');
      await create(projectObject(name));
      const res = await server.request('PATCH', paths.project(name), {
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { metadata: { labels: { bad: 'not valid!' } } },
      });
      const st = assertStatus(res, 422, 'Invalid');
      assert.ok(
        (st.details?.causes ?? []).some((c: any) => String(c.field).startsWith('metadata.labels')),
        JSON.stringify(st),
      );
    });

    it('a wrongly typed field is rejected with 4xx naming the field', async function () {
      const obj = projectObject(uniqueName('typ'));
      obj.spec.members = 'not-a-list';
      const res = await server.request('POST', paths.projects, { body: obj });
      assert.ok(res.status === 400 || res.status === 422, describeResponse(res));
      assert.equal(res.json().kind, 'Status');
      assert.match(res.body, /members/, describeResponse(res));
    });

    it('a business namespace in a missing project is rejected', async function () {
      const res = await server.request('POST', paths.namespaces('no-such-project'), {
        body: {
          apiVersion: 'business.tkestack.io/v1',
          kind: 'Namespace',
          metadata: { name: 'orphan', namespace: 'no-such-project' },
          spec: { tenantID: 'default', clusterName: 'no-such-cluster', namespace: 'orphan' },
        },
      });
      assert.ok([404, 422].includes(res.status), describeResponse(res));
      assert.equal(res.json().kind, 'Status');
    });
  });

  describe('unknown fields under fieldValidation', function () {
    const withUnknown = () => {
      const obj = projectObject(uniqueName('unk'));
      obj.spec.bogusField = 'x';
      return obj;
    };

    it('kubectl (Strict by default) names the unknown field', async function () {
      const args = ['create', '-f', '-'];
      const r = await server.kubectl(args, { input: YAML.stringify(withUnknown()) });
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /unknown field "spec\.bogusField"/, describeRun(args, r));
      const a = await server.kubectl(['apply', '--server-side', '-f', '-'], { input: YAML.stringify(withUnknown()) });
      assert.notEqual(a.code, 0, describeRun(['apply', '--server-side'], a));
      assert.match(a.stderr, /bogusField/, describeRun(['apply', '--server-side'], a));
    });

    it('raw Strict is 400 BadRequest, Warn is 201 with a Warning header, Ignore drops it silently', async function () {
      const strict = await server.request('POST', `${paths.projects}?fieldValidation=Strict`, { body: withUnknown() });
      const st = assertStatus(strict, 400, 'BadRequest');
      assert.match(st.message, /unknown field "spec\.bogusField"/, JSON.stringify(st));

      const warnObj = withUnknown();
      const warn = await server.request('POST', `${paths.projects}?fieldValidation=Warn`, { body: warnObj });
      assert.equal(warn.status, 201, describeResponse(warn));
      assert.match(String(warn.headers['warning'] ?? ''), /^299 - ".*unknown field \\"spec\.bogusField\\".*"/, `Warning header: ${warn.headers['warning']}`);
      assert.equal(warn.json().spec.bogusField, undefined, 'unknown fields are dropped');

      const ign = await server.request('POST', `${paths.projects}?fieldValidation=Ignore`, { body: withUnknown() });
      assert.equal(ign.status, 201, describeResponse(ign));
      assert.equal(ign.headers['warning'], undefined);
      assert.equal(ign.json().spec.bogusField, undefined);

      const dup = await server.request('POST', `${paths.projects}?fieldValidation=Strict`, {
        body: `{"apiVersion":"business.tkestack.io/v1","kind":"Project","metadata":{"name":"${uniqueName('dupk')}"},"spec":{"tenantID":"default","displayName":"a","displayName":"b","members":[]}}`,
      });
      const dst = assertStatus(dup, 400, 'BadRequest');
      assert.match(dst.message, /duplicate field "(spec\.)?displayName"/, JSON.stringify(dst));
    });

    it('an invalid fieldValidation value is 400', async function () {
      assertStatus(await server.request('POST', `${paths.projects}?fieldValidation=Sometimes`, { body: projectObject(uniqueName('fv')) }), 400, 'BadRequest');
    });
  });

  describe('400 BadRequest, 413, 415, 406', function () {
    it('malformed JSON is 400', async function () {
      assertStatus(await server.request('POST', paths.projects, { body: '{"apiVersion": "business.tkestack.io/v1", "kind":' }), 400, 'BadRequest');
      const name = uniqueName('mal');
      await create(projectObject(name));
      for (const ct of ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json']) {
        assertStatus(await server.request('PATCH', paths.project(name), { headers: { 'Content-Type': ct }, body: '{not json' }), 400, 'BadRequest');
      }
      assertStatus(await server.request('PUT', paths.project(name), { body: '{"metadata":' }), 400, 'BadRequest');
    });

    it('malformed YAML is 400', async function () {
      assertStatus(
        await server.request('POST', paths.projects, {
          headers: { 'Content-Type': 'application/yaml' },
          body: 'apiVersion: business.tkestack.io/v1\nkind: Project\nmetadata: {name: [unclosed\n  : - :\n',
        }),
        400,
        'BadRequest',
      );
    });

    it('a body whose kind does not match the resource is 400', async function () {
      const obj = projectObject(uniqueName('kind'));
      obj.kind = 'Cluster';
      obj.apiVersion = 'platform.tkestack.io/v1';
      assertStatus(await server.request('POST', paths.projects, { body: obj }), 400, 'BadRequest');
    });

    it('valid YAML bodies are accepted', async function () {
      const res = await server.request('POST', paths.projects, {
        headers: { 'Content-Type': 'application/yaml' },
        body: YAML.stringify(projectObject(uniqueName('yaml'))),
      });
      assert.equal(res.status, 201, describeResponse(res));
    });

    it('a body over 3 MiB is 413 RequestEntityTooLarge', async function () {
      const obj = projectObject(uniqueName('big'));
      obj.metadata.annotations = { big: 'x'.repeat(3 * 1024 * 1024 + 1024) };
      assertStatus(await server.request('POST', paths.projects, { body: obj }), 413, 'RequestEntityTooLarge');
      // The server still works afterwards.
      const ok = await server.request('GET', paths.projects);
      assert.equal(ok.status, 200, describeResponse(ok));
    });

    it('a read at a resourceVersion from the future is 504 Timeout with cause ResourceVersionTooLarge', async function () {
      this.timeout(30_000);
      for (const q of [
        'resourceVersion=99999999999',
        'resourceVersion=99999999999&resourceVersionMatch=NotOlderThan',
        'resourceVersion=99999999999&resourceVersionMatch=Exact',
      ]) {
        const res = await server.request('GET', `${paths.projects}?${q}`);
        const st = assertStatus(res, 504, 'Timeout');
        assert.ok(
          (st.details?.causes ?? []).some((c: any) => c.reason === 'ResourceVersionTooLarge'),
          `${q}: ${describeResponse(res)}`,
        );
        assert.ok(st.details?.retryAfterSeconds >= 1, `${q}: ${describeResponse(res)}`);
      }
    });

    it('an unsupported Content-Type is 415', async function () {
      assertStatus(
        await server.request('POST', paths.projects, {
          headers: { 'Content-Type': 'text/plain' },
          body: JSON.stringify(projectObject(uniqueName('ct'))),
        }),
        415,
        'UnsupportedMediaType',
      );
      assertStatus(
        await server.request('PATCH', paths.project('x'), {
          headers: { 'Content-Type': 'application/json' },
          body: '{}',
        }),
        415,
        'UnsupportedMediaType',
      );
    });

    it('an unacceptable Accept is 406', async function () {
      const res = await server.request('GET', paths.projects, { headers: { Accept: 'application/vnd.kubernetes.protobuf' } });
      assertStatus(res, 406, 'NotAcceptable');
    });

    it('bad query parameters are 400', async function () {
      for (const q of ['labelSelector=a%20in%20(', 'fieldSelector=metadata.name', 'limit=abc', 'continue=garbage', 'timeoutSeconds=abc&watch=true']) {
        const res = await server
          .request('GET', `${paths.projects}?${q}`, { timeoutMs: 10_000 })
          .catch(err => assert.fail(`${q}: expected an immediate 400, got ${err.message}`));
        assert.equal(res.status, 400, `${q}: ${describeResponse(res)}`);
        assert.equal(res.json().kind, 'Status', q);
      }
      assertStatus(await server.request('POST', `${paths.projects}?dryRun=Some`, { body: projectObject(uniqueName('dr')) }), 400, 'BadRequest');
    });
  });

  describe('401 Unauthorized', function () {
    it('no bearer token, a wrong token and a malformed header are 401', async function () {
      for (const headers of [{}, { Authorization: 'Bearer not-a-valid-token' }, { Authorization: 'Basic Zm9vOmJhcg==' }, { Authorization: 'Bearer' }] as Array<
        Record<string, string>
      >) {
        const res = await server.request('GET', paths.projects, { token: null, headers });
        const st = assertStatus(res, 401, 'Unauthorized');
        assert.equal(st.message, 'Unauthorized', JSON.stringify(headers));
      }
      const w = await server.request('POST', paths.projects, { token: null, body: projectObject(uniqueName('anon')) });
      assertStatus(w, 401, 'Unauthorized');
      const d = await server.request('GET', '/apis', { token: null });
      assert.ok(d.status === 401 || d.status === 403, `discovery without credentials: ${describeResponse(d)}`);
    });

    it('kubectl with a wrong token says it must log in', async function () {
      const kc = YAML.parse((await import('node:fs')).readFileSync(server.kubeconfig, 'utf8'));
      for (const u of kc.users) u.user = { token: 'not-a-valid-token' };
      const { tempFile } = await import('../support/process.ts');
      const file = tempFile('anon.kubeconfig', YAML.stringify(kc));
      const args = ['--kubeconfig', file, 'get', 'projects'];
      const r = await server.kubectl(args, { env: { KUBECONFIG: file } });
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /Unauthorized|must be logged in/, describeRun(args, r));
    });
  });

  describe('405 MethodNotAllowed', function () {
    it('POST on a named object and PUT on a collection are 405', async function () {
      const res = await server.request('POST', paths.project('x'), { body: projectObject('x') });
      assertStatus(res, 405, 'MethodNotAllowed');
      const res2 = await server.request('PUT', paths.projects, { body: projectObject('x') });
      assertStatus(res2, 405, 'MethodNotAllowed');
    });
  });
});
