// e2e: the chart repository at TKE's paths (/chart/...), with a real chart archive made by the
// `tar` CLI: upload (multipart and raw), index.yaml, downloads counting pulls, Chart and
// ChartGroup status following, delete, charts/version, chartgroups/repoupdating from a second
// server on loopback, credentials (API keys, HTTP Basic with a password or a key) and who may
// read or write which chart group, across tenants too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import YAML from 'yaml';
import { ChartArchives } from '../../pkg/apis/registry/chartrepo/archives.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse } from '../support/http.ts';
import { uniqueName } from '../support/fixtures.ts';
import { parseTable } from '../support/tables.ts';
import { waitFor } from '../support/wait.ts';

const API = '/apis/registry.tkestack.io/v1';
const AUTH = '/apis/auth.tkestack.io/v1';
const PASSWORD = 'Passw0rd123';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): any;
  text(): string;
}

/** A request whose answer is kept as bytes (archives), with any Authorization the test chooses. */
function raw(
  s: TestServer,
  method: string,
  urlPath: string,
  opts: { body?: Buffer; headers?: Record<string, string>; token?: string | null; basic?: [string, string] } = {},
): Promise<Raw> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.basic) headers.Authorization = `Basic ${b64(`${opts.basic[0]}:${opts.basic[1]}`)}`;
  else if (opts.token !== null) headers.Authorization = `Bearer ${opts.token ?? s.token}`;
  if (opts.body) headers['Content-Length'] = String(opts.body.length);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: s.port, method, path: urlPath, headers, ca: s.caPEM }, res => {
      const chunks: Buffer[] = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, text: () => body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
const show = (r: Raw) => `HTTP ${r.status}: ${r.text().slice(0, 1000)}`;

/** A chart directory tarred and gzipped by the tar CLI, as `helm package` lays it out. */
function buildChart(name: string, version: string, appVersion = '1.0.0'): Buffer {
  const root = mkdtempSync(path.join(tmpdir(), 'chart-'));
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'templates'), { recursive: true });
  writeFileSync(
    path.join(dir, 'Chart.yaml'),
    `apiVersion: v2\nname: ${name}\nversion: ${version}\nappVersion: "${appVersion}"\ndescription: A test chart ${name}\ntype: application\n`,
  );
  writeFileSync(path.join(dir, 'values.yaml'), 'replicaCount: 1\ngreeting: hello\n');
  writeFileSync(path.join(dir, 'README.md'), `# ${name}\n`);
  writeFileSync(
    path.join(dir, 'templates', 'configmap.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n',
  );
  const out = path.join(root, `${name}-${version}.tgz`);
  execFileSync('tar', ['-czf', out, '-C', root, name]);
  return readFileSync(out);
}

/** A tar with one member named `name` (for archives the tar CLI would refuse to make). */
function tarWith(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const body = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(body);
  return Buffer.concat([header, body, Buffer.alloc(1024)]);
}

function multipart(field: string, fileName: string, content: Buffer): { body: Buffer; headers: Record<string, string> } {
  const boundary = `----tke${Date.now().toString(16)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${fileName}"\r\nContent-Type: application/gzip\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } };
}

describe('e2e: chart repository', function () {
  this.timeout(120_000);
  let s: TestServer;
  const priv = { object: uniqueName('rcg'), name: uniqueName('private') };
  const pub = { object: uniqueName('rcg'), name: uniqueName('public') };
  const chart = buildChart('webapp', '0.1.0');

  const upload = (group: string, archive: Buffer, opts: { token?: string | null; basic?: [string, string]; query?: string } = {}) => {
    const form = multipart('chart', 'webapp.tgz', archive);
    return raw(s, 'POST', `/chart/api/default/${group}/charts${opts.query ?? ''}`, { ...opts, body: form.body, headers: form.headers });
  };
  const getJSON = async (p: string) => {
    const r = await s.request('GET', p);
    assert.equal(r.status, 200, describeResponse(r));
    return r.json();
  };
  const chartObject = async (groupObject: string, name: string) =>
    (await getJSON(`${API}/namespaces/${groupObject}/charts`)).items.find((c: any) => c.spec.name === name);

  async function createUser(username: string, tenant = 'default') {
    const r = await s.request('POST', `${AUTH}/localidentities`, {
      body: { metadata: { generateName: 'usr-' }, spec: { username, displayName: username, hashedPassword: b64(PASSWORD), tenantID: tenant } },
    });
    assert.equal(r.status, 201, describeResponse(r));
  }
  async function keyFor(username: string, tenant = 'default'): Promise<string> {
    const r = await s.request('POST', `${AUTH}/apikeys/default/password`, {
      token: null,
      body: { tenantID: tenant, username, password: b64(PASSWORD), expire: '1h' },
    });
    assert.equal(r.status, 201, describeResponse(r));
    return r.json().spec.apiKey;
  }
  async function chartGroup(server: TestServer, object: string, spec: Record<string, unknown>, annotations?: Record<string, string>) {
    const r = await server.request('POST', `${API}/chartgroups`, {
      body: { apiVersion: 'registry.tkestack.io/v1', kind: 'ChartGroup', metadata: { name: object, annotations }, spec },
    });
    assert.equal(r.status, 201, describeResponse(r));
  }

  before(async function () {
    s = await startServer();
    await chartGroup(s, priv.object, { name: priv.name, visibility: 'User' });
    await chartGroup(s, pub.object, { name: pub.name, visibility: 'Public' });
  });
  after(async () => {
    await s?.stop().catch(() => undefined);
  });

  it('uploads a chart (multipart), lists it in index.yaml with its digest, and serves the same bytes', async () => {
    const up = await upload(priv.name, chart);
    assert.equal(up.status, 201, show(up));
    assert.deepEqual(up.json(), { saved: true });

    const index = await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`);
    assert.equal(index.status, 200, show(index));
    const doc = YAML.parse(index.text());
    assert.equal(doc.apiVersion, 'v1');
    const [entry] = doc.entries.webapp;
    assert.equal(entry.version, '0.1.0');
    assert.equal(entry.appVersion, '1.0.0');
    assert.equal(entry.description, 'A test chart webapp');
    assert.equal(entry.digest, sha256(chart));
    assert.deepEqual(entry.urls, ['charts/webapp-0.1.0.tgz']);
    assert.ok(!Number.isNaN(Date.parse(entry.created)), entry.created);

    const pull = await raw(s, 'GET', `/chart/default/${priv.name}/${entry.urls[0]}`);
    assert.equal(pull.status, 200, show(pull));
    assert.ok(pull.body.equals(chart), 'the download is the uploaded archive');
  });

  it('keeps Chart status.versions, pullCount and ChartGroup status.chartCount in step', async () => {
    const c = await chartObject(priv.object, 'webapp');
    assert.ok(c, 'a Chart for the uploaded chart');
    assert.equal(c.spec.chartGroupName, priv.name);
    assert.deepEqual(
      c.status.versions.map((v: any) => [v.version, v.chartSize, v.appVersion]),
      [['0.1.0', chart.length, '1.0.0']],
    );
    assert.equal(c.status.pullCount, 1, 'the download counted');
    assert.equal((await getJSON(`${API}/chartgroups/${priv.object}`)).status.chartCount, 1);

    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/charts/webapp-0.1.0.tgz`)).status, 200);
    assert.equal((await chartObject(priv.object, 'webapp')).status.pullCount, 2);
  });

  it('refuses a version that exists with 409 unless ?force, and takes a raw .tgz body', async () => {
    const again = await upload(priv.name, chart);
    assert.equal(again.status, 409, show(again));
    assert.match(again.json().error, /webapp-0\.1\.0\.tgz already exists/);
    assert.equal((await upload(priv.name, chart, { query: '?force' })).status, 201);

    const second = buildChart('webapp', '0.2.0', '2.0.0');
    const r = await raw(s, 'POST', `/chart/api/default/${priv.name}/charts`, { body: second, headers: { 'Content-Type': 'application/gzip' } });
    assert.equal(r.status, 201, show(r));
    const doc = YAML.parse((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`)).text());
    assert.deepEqual(
      doc.entries.webapp.map((v: any) => v.version),
      ['0.2.0', '0.1.0'],
      'newest first',
    );
    assert.deepEqual(
      (await chartObject(priv.object, 'webapp')).status.versions.map((v: any) => v.version),
      ['0.1.0', '0.2.0'],
    );
  });

  it('answers bad uploads with a 4xx JSON error', async () => {
    const cases: Array<[string, Buffer, number, RegExp]> = [
      ['not gzip', Buffer.from('just some text'), 400, /not gzip/],
      ['gzip of no tar', gzipSync(Buffer.from('x'.repeat(2000))), 400, /not a valid tar|no Chart\.yaml/],
      ['no Chart.yaml', gzipSync(tarWith('thing/values.yaml', 'a: 1\n')), 400, /no Chart\.yaml/],
      ['path traversal', gzipSync(tarWith('../evil/Chart.yaml', 'name: evil\nversion: 1.0.0\n')), 400, /unsafe file name/],
      ['bad version', gzipSync(tarWith('bad/Chart.yaml', 'name: bad\nversion: latest\n')), 400, /SemVer/],
      ['too large', Buffer.alloc(11 * 1024 * 1024, 1), 413, /larger than/],
    ];
    for (const [what, body, status, message] of cases) {
      const r = await upload(priv.name, body);
      assert.equal(r.status, status, `${what}: ${show(r)}`);
      assert.match(r.json().error, message, what);
    }
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/charts/..%2f..%2fetc%2fpasswd`)).status, 404);
    assert.equal((await raw(s, 'GET', '/chart/default/no-such-group/index.yaml')).status, 404);
  });

  it('charts/version answers the chart info of a version', async () => {
    const c = await chartObject(priv.object, 'webapp');
    const info = await getJSON(`${API}/namespaces/${priv.object}/charts/${c.metadata.name}/version?version=0.1.0`);
    assert.equal(info.kind, 'ChartInfo');
    assert.match(info.spec.values, /replicaCount: 1/);
    assert.match(info.spec.readme, /# webapp/);
    assert.match(info.spec.rawFiles['templates/configmap.yaml'], /kind: ConfigMap/);
    const missing = await s.request('GET', `${API}/namespaces/${priv.object}/charts/${c.metadata.name}/version?version=9.9.9`);
    assert.equal(missing.status, 404, describeResponse(missing));
  });

  it('kubectl get charts shows versions and pulls', async () => {
    const t = parseTable((await s.kubectlOK(['get', 'charts', '-n', priv.object])).stdout);
    const row = t.rows.find((r: any) => r['NAME IN REGISTRY'] === 'webapp');
    assert.ok(row, JSON.stringify(t.rows));
    assert.equal(row.VERSIONS, '2');
    assert.equal(row.PULLS, '2');
  });

  it('decides who reads and writes: anonymous, users without rights, members, by key or password', async () => {
    await createUser('chartuser');
    const key = await keyFor('chartuser');
    // Public: anyone, even without credentials, reads; nobody without rights writes.
    assert.equal((await upload(pub.name, chart)).status, 201);
    assert.equal((await raw(s, 'GET', `/chart/default/${pub.name}/index.yaml`, { token: null })).status, 200);
    assert.equal((await raw(s, 'GET', `/chart/default/${pub.name}/charts/webapp-0.1.0.tgz`, { token: null })).status, 200);
    const anonUpload = await upload(pub.name, chart, { token: null });
    assert.equal(anonUpload.status, 401, show(anonUpload));
    assert.match(String(anonUpload.headers['www-authenticate']), /^Basic/);
    assert.equal((await upload(pub.name, chart, { token: key, query: '?force' })).status, 403);
    // Private (User): not for anonymous callers nor users without rights.
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { token: null })).status, 401);
    const denied = await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { token: key });
    assert.equal(denied.status, 403, show(denied));
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { basic: ['chartuser', PASSWORD] })).status, 403);
    assert.equal((await upload(priv.name, chart, { basic: ['chartuser', key], query: '?force' })).status, 403);
    const wrong = await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { basic: ['chartuser', 'Wr0ngPassword'] });
    assert.equal(wrong.status, 401, show(wrong));
    assert.ok(!wrong.text().includes('Wr0ngPassword'), 'no password in the answer');

    // A member of the group (spec.users) reads and uploads, with a password as helm sends it or a key.
    const g = await getJSON(`${API}/chartgroups/${priv.object}`);
    const patched = await s.request('PATCH', `${API}/chartgroups/${priv.object}`, {
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: { spec: { users: [...g.spec.users, 'chartuser'] } },
    });
    assert.equal(patched.status, 200, describeResponse(patched));
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { basic: ['chartuser', PASSWORD] })).status, 200);
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { basic: ['anything', key] })).status, 200);
    const memberUpload = await upload(priv.name, buildChart('memberchart', '1.0.0'), { basic: ['chartuser', PASSWORD] });
    assert.equal(memberUpload.status, 201, show(memberUpload));
    assert.ok(!s.logs().includes(PASSWORD), 'passwords are never logged');
  });

  it('password logins go through the login throttle', async () => {
    await createUser('guessed');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { basic: ['guessed', `Wr0ngGuess${i}`] })).status);
    }
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.equal(statuses[6], 429, `locked out after repeated wrong passwords: ${statuses}`);
    const locked = await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { basic: ['guessed', PASSWORD] });
    assert.equal(locked.status, 429, show(locked));
    assert.ok(Number(locked.headers['retry-after']) >= 1, 'says when to try again');
  });

  it("a hostile tenant administrator neither reads nor uploads into another tenant's private group", async () => {
    const idp = await s.request('POST', `${AUTH}/identityproviders`, {
      body: { metadata: { name: 'tenant-h' }, spec: { name: 'tenant-h', type: 'local', administrators: ['hostile'], config: '' } },
    });
    assert.equal(idp.status, 201, describeResponse(idp));
    await createUser('hostile', 'tenant-h');
    const key = await keyFor('hostile', 'tenant-h');
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`, { token: key })).status, 404);
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/charts/webapp-0.1.0.tgz`, { token: key })).status, 404);
    assert.equal((await upload(priv.name, chart, { token: key, query: '?force' })).status, 404);
    assert.equal((await raw(s, 'DELETE', `/chart/api/default/${priv.name}/charts/webapp/0.1.0`, { token: key })).status, 404);
    assert.equal((await raw(s, 'GET', `/chart/tenant-h/${priv.name}/index.yaml`, { token: key })).status, 404, 'the name in its own tenant is another group');
    // The same administrator in its own tenant may do anything.
    const own = await s.request('POST', `${API}/chartgroups`, {
      token: key,
      body: { metadata: { name: uniqueName('rcg') }, spec: { name: priv.name, visibility: 'User' } },
    });
    assert.equal(own.status, 201, describeResponse(own));
    assert.equal(own.json().spec.tenantID, 'tenant-h');
    const ownUpload = await raw(s, 'POST', `/chart/api/tenant-h/${priv.name}/charts`, { token: key, body: chart });
    assert.equal(ownUpload.status, 201, show(ownUpload));
    const theirs = YAML.parse((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`)).text());
    assert.deepEqual(Object.keys(theirs.entries).sort(), ['memberchart', 'webapp'], "the default tenant's group is untouched");
  });

  it('deletes versions: the index, the Chart and the group count follow', async () => {
    const del = await raw(s, 'DELETE', `/chart/api/default/${priv.name}/charts/webapp/0.1.0`);
    assert.equal(del.status, 200, show(del));
    assert.equal((await raw(s, 'DELETE', `/chart/api/default/${priv.name}/charts/webapp/0.1.0`)).status, 404);
    assert.equal((await raw(s, 'GET', `/chart/default/${priv.name}/charts/webapp-0.1.0.tgz`)).status, 404);
    assert.deepEqual(
      (await chartObject(priv.object, 'webapp')).status.versions.map((v: any) => v.version),
      ['0.2.0'],
    );
    assert.equal((await getJSON(`${API}/chartgroups/${priv.object}`)).status.chartCount, 2);
    assert.equal((await raw(s, 'DELETE', `/chart/api/default/${priv.name}/charts/webapp/0.2.0`)).status, 200);
    const doc = YAML.parse((await raw(s, 'GET', `/chart/default/${priv.name}/index.yaml`)).text());
    assert.equal(doc.entries.webapp, undefined);
    await waitFor('the Chart without versions is gone', async () => !(await chartObject(priv.object, 'webapp')), 10_000);
    assert.equal((await getJSON(`${API}/chartgroups/${priv.object}`)).status.chartCount, 1);
  });

  it("the sweeper's query drops archives no Chart lists and keeps those that one does", async () => {
    const pool = new pg.Pool({ connectionString: s.databaseUrl, max: 1 });
    try {
      const uidOf = async (object: string) => (await getJSON(`${API}/chartgroups/${object}`)).metadata.uid;
      const [privUID, pubUID] = [await uidOf(priv.object), await uidOf(pub.object)];
      const rows = async () =>
        (
          await pool.query('SELECT chart_group_uid AS uid, name FROM registry_chart_archives WHERE chart_group_uid = ANY($1) ORDER BY name', [
            [privUID, pubUID],
          ])
        ).rows;
      assert.deepEqual(await rows(), [
        { uid: privUID, name: 'memberchart' },
        { uid: pubUID, name: 'webapp' },
      ]);
      // As if pub's Chart had been deleted through the API: only priv's memberchart is still listed.
      const others = (
        await pool.query('SELECT DISTINCT chart_group_uid AS "groupUID", name FROM registry_chart_archives WHERE NOT (chart_group_uid = ANY($1))', [
          [privUID, pubUID],
        ])
      ).rows;
      const dropped = await new ChartArchives(pool).forgetAllExcept([...others, { groupUID: privUID, name: 'memberchart' }], Date.now() + 1000);
      assert.equal(dropped, 1);
      assert.deepEqual(await rows(), [{ uid: privUID, name: 'memberchart' }]);
    } finally {
      await pool.end();
    }
  });

  describe('chartgroups/repoupdating', () => {
    let remote: TestServer;
    const remoteGroup = uniqueName('upstream');
    const imported = uniqueName('rcg');
    const remoteChart = buildChart('upstream-app', '3.1.4');
    before(async function () {
      remote = await startServer();
      await chartGroup(remote, uniqueName('rcg'), { name: remoteGroup, visibility: 'User' });
      const form = multipart('chart', 'x.tgz', remoteChart);
      const r = await raw(remote, 'POST', `/chart/api/default/${remoteGroup}/charts`, { body: form.body, headers: form.headers });
      assert.equal(r.status, 201, show(r));
      // Its admin password stands in for a user's: the import authenticates with HTTP Basic.
      await chartGroup(s, imported, {
        name: uniqueName('mirror'),
        visibility: 'User',
        type: 'Imported',
        importedInfo: { addr: `${remote.url}/chart/default/${remoteGroup}`, username: 'admin', password: b64(remote.token) },
      });
    });
    after(async () => {
      await remote?.stop().catch(() => undefined);
    });

    const update = () =>
      s.request('POST', `${API}/chartgroups/${imported}/repoupdating`, {
        body: { apiVersion: 'registry.tkestack.io/v1', kind: 'ChartGroup', metadata: { name: imported } },
      });

    it('refuses a remote whose certificate it cannot verify, saying so', async () => {
      const r = await update();
      assert.equal(r.status, 400, describeResponse(r));
      assert.match(r.json().message, /certificate/i);
    });

    it('imports every version from the remote, trusting the CA given in the annotation', async () => {
      const annotated = await s.request('PATCH', `${API}/chartgroups/${imported}`, {
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { metadata: { annotations: { 'registry.tkestack.io/import-ca-data': b64(remote.caPEM) } } },
      });
      assert.equal(annotated.status, 200, describeResponse(annotated));
      const r = await update();
      assert.equal(r.status, 201, describeResponse(r));
      assert.equal(r.json().status.chartCount, 1);
      assert.equal(r.json().spec.importedInfo.password, undefined, 'the import password is not served');
      const c = await chartObject(imported, 'upstream-app');
      assert.deepEqual(
        c.status.versions.map((v: any) => v.version),
        ['3.1.4'],
      );
      const g = await getJSON(`${API}/chartgroups/${imported}`);
      const index = YAML.parse((await raw(s, 'GET', `/chart/default/${g.spec.name}/index.yaml`)).text());
      assert.equal(index.entries['upstream-app'][0].digest, sha256(remoteChart));
      const pulled = await raw(s, 'GET', `/chart/default/${g.spec.name}/charts/upstream-app-3.1.4.tgz`);
      assert.ok(pulled.body.equals(remoteChart), 'the imported archive is the remote one');
    });
  });
});
