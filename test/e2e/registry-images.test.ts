// e2e: the image registry with a real client. skopeo (Debian) pushes an OCI image this test
// builds byte by byte to the server's /v2/ (the embedded docker-registry behind it), pulls it back
// and compares digests; credentials are tenant users' passwords and API keys exchanged at the
// token service (/registry/auth), access follows TKE policies and namespace visibility, and the
// engine's notifications keep Repository and Namespace status up to date.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { describeResponse, type HttpResponse } from '../support/http.ts';
import { uniqueName } from '../support/fixtures.ts';
import { writeOCILayout } from '../support/oci.ts';
import { makeTempDir } from '../support/process.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { parseTable } from '../support/tables.ts';
import { waitFor } from '../support/wait.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const REGISTRY = '/apis/registry.tkestack.io/v1';
const PASSWORD = 'Passw0rd123';
const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Skopeo {
  code: number;
  stdout: string;
  stderr: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('e2e: image registry (docker-registry behind /v2/, skopeo)', function () {
  this.timeout(120_000);
  let s: TestServer;
  let work: string;
  let certDir: string;
  let imageDir: string;
  let manifestDigest: string;
  let readerKey: string;
  const privateNS = uniqueName('priv');
  const publicNS = uniqueName('pub');
  let privateObj: string;
  let publicObj: string;
  const repo = 'tools/hello';

  before(async function () {
    this.timeout(180_000);
    assert.ok(existsSync('/usr/bin/skopeo'), 'skopeo is installed (.ci/run installs it)');
    assert.ok(existsSync('/usr/bin/docker-registry'), 'docker-registry is installed (.ci/run installs it)');
    s = await startServer({ args: ['--registry-domain-suffix', 'registry.test'] });
    work = makeTempDir('tke-images-');
    certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    writeFileSync(path.join(certDir, 'ca.crt'), s.caPEM);
    imageDir = path.join(work, 'image');
    manifestDigest = writeOCILayout(imageDir, 'v1', `hello from ${privateNS}\n`);

    const ok = (r: HttpResponse, code = 201) => {
      assert.equal(r.status, code, describeResponse(r));
      return r.json();
    };
    const user = (username: string, tenant = 'default') =>
      s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { generateName: 'usr-' }, spec: { username, displayName: username, hashedPassword: b64(PASSWORD), tenantID: tenant } },
      });
    ok(await user('pusher'));
    ok(await user('reader'));
    ok(await user('guessed'));
    ok(await s.request('POST', `${AUTH}/policies/pol-default-administrator/binding`, { body: { users: [{ id: 'pusher', name: 'pusher' }] } }));
    ok(await s.request('POST', `${AUTH}/policies/pol-default-readonlyaccess/binding`, { body: { users: [{ id: 'reader', name: 'reader' }] } }));
    ok(
      await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name: 'evil' }, spec: { name: 'evil', type: 'local', administrators: ['mallory'], config: '' } },
      }),
    );
    ok(await user('mallory', 'evil'));
    readerKey = ok(
      await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'default', username: 'reader', password: b64(PASSWORD), description: 'registry', expire: '1h' },
      }),
    ).spec.apiKey;
    privateObj = ok(
      await s.request('POST', `${REGISTRY}/namespaces`, {
        body: { metadata: { generateName: 'rns-' }, spec: { name: privateNS, displayName: 'private', visibility: 'Private' } },
      }),
    ).metadata.name;
    publicObj = ok(
      await s.request('POST', `${REGISTRY}/namespaces`, {
        body: { metadata: { generateName: 'rns-' }, spec: { name: publicNS, displayName: 'public', visibility: 'Public' } },
      }),
    ).metadata.name;
  });

  after(async () => {
    if (s?.alive()) await s.stop();
  });

  /** skopeo with this server's CA trusted and no credentials but those given. */
  function skopeo(...args: string[]): Promise<Skopeo> {
    return new Promise(resolve => {
      execFile(
        'skopeo',
        ['--insecure-policy', ...args],
        {
          env: { PATH: process.env.PATH, HOME: work, XDG_RUNTIME_DIR: work, REGISTRY_AUTH_FILE: path.join(work, 'auth.json') },
          timeout: 60_000,
        },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  }
  const ref = (ns: string, tag = 'v1') => `docker://127.0.0.1:${s.port}/${ns}/${repo}:${tag}`;
  const creds = (user: string, password = PASSWORD) => `${user}:${password}`;
  const push = (ns: string, credentials: string | undefined, tag = 'v1') =>
    skopeo(
      'copy',
      '--retry-times',
      '0',
      '--dest-cert-dir',
      certDir,
      ...(credentials ? ['--dest-creds', credentials] : ['--dest-no-creds']),
      `oci:${imageDir}:v1`,
      ref(ns, tag),
    );
  async function pull(ns: string, credentials: string | undefined): Promise<Skopeo & { digest?: string }> {
    const dir = makeTempDir('tke-pulled-');
    const r = await skopeo(
      'copy',
      '--retry-times',
      '0',
      '--src-cert-dir',
      certDir,
      ...(credentials ? ['--src-creds', credentials] : ['--src-no-creds']),
      ref(ns),
      `oci:${dir}:v1`,
    );
    return r.code === 0 ? { ...r, digest: JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')).manifests[0].digest } : r;
  }
  const tokenFor = (scope: string, authorization?: string) =>
    s.request('GET', `/registry/auth?service=tke-registry&scope=${encodeURIComponent(scope)}`, {
      token: null,
      headers: authorization ? { Authorization: authorization } : {},
    });
  const basic = (user: string, password: string) => `Basic ${b64(`${user}:${password}`)}`;
  async function repository(nsObj: string, ns: string): Promise<any> {
    const list = await s.request('GET', `${REGISTRY}/namespaces/${nsObj}/repositories?fieldSelector=spec.name=${repo},spec.namespaceName=${ns}`);
    assert.equal(list.status, 200, describeResponse(list));
    return list.json().items[0];
  }
  const namespace = async (nsObj: string) => (await s.request('GET', `${REGISTRY}/namespaces/${nsObj}`)).json();

  it("refuses wrong credentials with the registry's 401 error document", async () => {
    const r = await tokenFor(`repository:${privateNS}/${repo}:pull`, basic('pusher', 'Wrong-passw0rd'));
    assert.equal(r.status, 401, describeResponse(r));
    assert.match(String(r.headers['www-authenticate']), /^Basic realm=/);
    assert.equal(r.json().errors[0].code, 'UNAUTHORIZED');
    assert.ok(!r.body.includes('Wrong-passw0rd'));
    const v2 = await s.request('GET', '/v2/', { token: null });
    assert.equal(v2.status, 401, describeResponse(v2));
    assert.match(String(v2.headers['www-authenticate']), new RegExp(`^Bearer realm="https://127\\.0\\.0\\.1:${s.port}/registry/auth",service="tke-registry"`));
    const failed = await push(privateNS, creds('pusher', 'Wrong-passw0rd'));
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /unauthorized|401/i);
  });

  it("counts wrong passwords in the server's login throttle: no brute-force oracle", async () => {
    const scope = `repository:${privateNS}/${repo}:pull`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await tokenFor(scope, basic('guessed', `Wrong-passw0rd${i}`))).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    // Locked out, the right password is not even checked.
    const locked = await tokenFor(scope, basic('guessed', PASSWORD));
    assert.equal(locked.status, 429, describeResponse(locked));
    assert.equal(locked.json().errors[0].code, 'TOOMANYREQUESTS');
    assert.ok(Number(locked.headers['retry-after']) >= 1);
  });

  it('pushes with a password, pulls back with an API key: same manifest digest; status follows', async () => {
    const pushed = await push(privateNS, creds('pusher'));
    assert.equal(pushed.code, 0, pushed.stderr);
    const pulled = await pull(privateNS, creds('reader', readerKey));
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(pulled.digest, manifestDigest);

    const repoObj = await waitFor('the pushed tag and the pull in the repository status', async () => {
      const r = await repository(privateObj, privateNS);
      return r?.status?.tags?.length === 1 && r.status.pullCount === 1 ? r : undefined;
    });
    assert.equal(repoObj.spec.tenantID, 'default');
    assert.equal(repoObj.spec.visibility, 'Private');
    assert.equal(repoObj.status.tags[0].name, 'v1');
    assert.equal(repoObj.status.tags[0].digest, manifestDigest);
    assert.ok(Date.parse(repoObj.status.tags[0].timeCreated) > Date.now() - 120_000);
    assert.equal((await namespace(privateObj)).status.repoCount, 1);

    // The engine's own requests during a push (HEADs) never count as pulls; a second pull does.
    assert.equal((await push(privateNS, creds('pusher'), 'v2')).code, 0);
    assert.equal((await pull(privateNS, creds('reader', PASSWORD))).code, 0);
    const after = await waitFor('two tags, two pulls', async () => {
      const r = await repository(privateObj, privateNS);
      return r?.status?.tags?.length === 2 && r.status.pullCount === 2 ? r : undefined;
    });
    assert.deepEqual(after.status.tags.map((t: any) => t.name).sort(), ['v1', 'v2']);
    assert.equal((await namespace(privateObj)).status.repoCount, 1);
  });

  it('serves Public namespaces to anonymous pulls, Private ones only with rights', async () => {
    assert.equal((await push(publicNS, creds('pusher'))).code, 0);
    const anonymousPublic = await pull(publicNS, undefined);
    assert.equal(anonymousPublic.code, 0, anonymousPublic.stderr);
    assert.equal(anonymousPublic.digest, manifestDigest);
    const anonymousPrivate = await pull(privateNS, undefined);
    assert.notEqual(anonymousPrivate.code, 0);
    assert.match(anonymousPrivate.stderr, /unauthorized|authentication required|401/i);
    // What skopeo hit: the engine's 401 with the registry's error document.
    const manifest = await s.request('GET', `/v2/${privateNS}/${repo}/manifests/v1`, { token: null });
    assert.equal(manifest.status, 401, describeResponse(manifest));
    assert.equal(manifest.json().errors[0].code, 'UNAUTHORIZED');
    const anonymousToken = decodeJwt((await tokenFor(`repository:${privateNS}/${repo}:pull,push`)).json().token);
    assert.deepEqual(anonymousToken.access, [{ type: 'repository', name: `default/${privateNS}/${repo}`, actions: [] }]);
  });

  it('a user without write rights cannot push', async () => {
    const denied = await push(privateNS, creds('reader'), 'v3');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /unauthorized|denied|401|403/i);
    const token = decodeJwt((await tokenFor(`repository:${privateNS}/${repo}:pull,push`, basic('reader', PASSWORD))).json().token);
    assert.deepEqual(token.access, [{ type: 'repository', name: `default/${privateNS}/${repo}`, actions: ['pull'] }]);
  });

  it("a hostile tenant's administrator gets nothing of another tenant's private images", async () => {
    // This host is the default tenant's: a password is checked against that tenant's users.
    const asDefaultUser = await tokenFor('', basic('mallory', PASSWORD));
    assert.equal(asDefaultUser.status, 401, describeResponse(asDefaultUser));
    // Its own tenant's API key is valid, but a login with it to another tenant's host is refused.
    const key = (
      await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'evil', username: 'mallory', password: b64(PASSWORD), description: 'registry', expire: '1h' },
      })
    ).json().spec.apiKey;
    const login = await tokenFor('', basic('mallory', key));
    assert.equal(login.status, 401, describeResponse(login));
    const token = await tokenFor(`repository:${privateNS}/${repo}:pull,push,delete`, basic('mallory', key));
    assert.equal(token.status, 200, describeResponse(token));
    assert.deepEqual(decodeJwt(token.json().token).access, [{ type: 'repository', name: `default/${privateNS}/${repo}`, actions: [] }]);
    // Names that try to leave the tenant's part of the engine are not names.
    const escaping = decodeJwt((await tokenFor(`repository:../default/${privateNS}/${repo}:pull`, basic('mallory', key))).json().token);
    assert.deepEqual(escaping.access, []);
    const pulled = await pull(privateNS, creds('mallory', key));
    assert.notEqual(pulled.code, 0);
    assert.match(pulled.stderr, /unauthorized|authentication required|401/i);
    const pushed = await push(privateNS, creds('mallory', key), 'owned');
    assert.notEqual(pushed.code, 0);
    // Its own tenant is addressed by its host (<tenant>.<--registry-domain-suffix>), as in TKE.
    const evilHost = { Host: `evil.registry.test:${s.port}`, Authorization: basic('mallory', key) };
    const made = await s.request('POST', `${REGISTRY}/namespaces`, {
      token: key,
      body: { metadata: { generateName: 'rns-' }, spec: { name: privateNS, displayName: 'evil', visibility: 'Private' } },
    });
    assert.equal(made.status, 201, describeResponse(made));
    assert.equal(made.json().spec.tenantID, 'evil');
    const own = await s.request('GET', `/registry/auth?service=tke-registry&scope=${encodeURIComponent(`repository:${privateNS}/${repo}:pull,push`)}`, {
      token: null,
      headers: evilHost,
    });
    assert.equal(own.status, 200, describeResponse(own));
    assert.deepEqual(decodeJwt(own.json().token).access, [{ type: 'repository', name: `evil/${privateNS}/${repo}`, actions: ['pull', 'push'] }]);
    // That token opens the same name in its tenant only: through the default tenant's host it is refused.
    const inOwnTenant = await s.request('GET', `/v2/${privateNS}/${repo}/manifests/v1`, {
      token: own.json().token,
      headers: { Host: `evil.registry.test:${s.port}` },
    });
    assert.equal(inOwnTenant.status, 404, describeResponse(inOwnTenant));
    assert.match(inOwnTenant.json().errors[0].code, /^(NAME|MANIFEST)_UNKNOWN$/);
    const inDefault = await s.request('GET', `/v2/${privateNS}/${repo}/manifests/v1`, { token: own.json().token });
    assert.equal(inDefault.status, 401, describeResponse(inDefault));
    // A token this server did not sign opens nothing, whatever it claims.
    const forged = await s.request('GET', `/v2/${privateNS}/${repo}/manifests/v1`, { token: token.json().token.replace(/\.[^.]+$/, '.AAAA') });
    assert.equal(forged.status, 401, describeResponse(forged));
  });

  it('kubectl get repositories shows the tags and pulls', async () => {
    const table = parseTable((await s.kubectlOK(['get', 'repositories.registry.tkestack.io', '-n', privateObj])).stdout);
    const row = table.rows.find(r => r['NAME IN REGISTRY'] === repo);
    assert.ok(row, JSON.stringify(table));
    assert.equal(row.TAGS, 'v1,v2');
    assert.equal(row.PULLS, '2');
  });

  it("deleting a tag's manifest removes the tags that name it", async () => {
    const token = await tokenFor(`repository:${publicNS}/${repo}:pull,delete`, basic('pusher', PASSWORD));
    assert.deepEqual(decodeJwt(token.json().token).access, [{ type: 'repository', name: `default/${publicNS}/${repo}`, actions: ['pull', 'delete'] }]);
    const del = await s.request('DELETE', `/v2/${publicNS}/${repo}/manifests/${manifestDigest}`, { token: token.json().token });
    assert.equal(del.status, 202, describeResponse(del));
    await waitFor('the tag gone from the repository and the namespace count', async () => {
      const r = await repository(publicObj, publicNS);
      return r?.status?.tags?.length === 0 && (await namespace(publicObj)).status.repoCount === 0 ? true : undefined;
    });
    const gone = await s.request('GET', `/v2/${publicNS}/${repo}/manifests/v1`, { token: token.json().token });
    assert.equal(gone.status, 404, describeResponse(gone));
  });

  it("answers bad registry input with errors, never with the engine's secrets", async () => {
    const catalog = await s.request('GET', '/v2/_catalog', { token: null });
    assert.equal(catalog.status, 404, describeResponse(catalog));
    const badName = await s.request('GET', '/v2/UPPER/case/manifests/v1', { token: null });
    assert.equal(badName.json().errors[0].code, 'NAME_INVALID');
    const notification = await s.request('POST', '/registry/notification', { token: null, body: { events: [] } });
    assert.equal(notification.status, 401, describeResponse(notification));
  });

  const enginePid = () => Number(readFileSync(path.join(s.dataDir, 'registry', 'engine.pid'), 'utf8'));

  it('restarts the engine when it dies', async () => {
    const pid = enginePid();
    process.kill(pid, 'SIGKILL');
    await waitFor('a new engine', () => (enginePid() !== pid && processAlive(enginePid()) ? true : undefined), 20_000);
    const pulled = await pull(privateNS, creds('reader', readerKey));
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(pulled.digest, manifestDigest);
  });

  it('after a kill -9 of the server, its next start stops the engine left behind', async () => {
    const pid = enginePid();
    await s.kill9();
    assert.ok(processAlive(pid), 'the engine outlives a server killed with -9');
    await s.restart();
    await waitFor('the left-behind engine gone', () => (processAlive(pid) ? undefined : true), 15_000);
    const pulled = await pull(publicNS, undefined);
    assert.notEqual(pulled.code, 0, 'the manifest was deleted above');
    assert.match(pulled.stderr, /manifest unknown|not found/i);
  });

  it('stops the engine with the server: no orphan', async () => {
    const pid = enginePid();
    assert.ok(processAlive(pid), 'the engine runs while the server does');
    assert.equal(await s.stop(), 0);
    await waitFor('the engine gone', () => (processAlive(pid) ? undefined : true), 15_000);
  });
});

describe('e2e: image registry without an engine', function () {
  this.timeout(120_000);
  let s: TestServer;
  before(async function () {
    this.timeout(180_000);
    s = await startServer({ args: ['--registry-engine-binary', '/nonexistent/docker-registry'] });
  });
  after(async () => {
    await s?.stop();
  });

  it('starts, and /v2/ says why it cannot serve', async () => {
    const r = await s.request('GET', '/v2/', { token: null });
    assert.equal(r.status, 503, describeResponse(r));
    assert.equal(r.json().errors[0].code, 'UNAVAILABLE');
    assert.match(r.json().errors[0].message, /docker-registry/);
  });
});
