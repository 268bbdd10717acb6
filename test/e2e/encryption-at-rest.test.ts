// e2e: secret fields are encrypted in PostgreSQL (read straight from the objects table), served
// as before through the API, and a server given the wrong encryption key refuses to start rather
// than mixing keys; a rotated key file (new key first, old one after) reads old values and seals
// new writes with the new key.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse } from '../support/http.ts';
import { clusterObject, paths, uniqueName } from '../support/fixtures.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const sshPassword = b64('Ssh-Passw0rd-At-Rest');
const sshKey = b64('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n');
const bindPW = 'Bind-Secret-At-Rest-1';

describe('e2e: secrets encrypted at rest', function () {
  this.timeout(180_000);
  let root: string;
  let dataDir: string;
  let s: TestServer | undefined;
  let db: pg.Pool;
  const cluster = uniqueName('cls');

  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'tke-enc-'));
    dataDir = path.join(root, 'data');
    s = await startServer({ dataDir });
    db = new pg.Pool({ connectionString: s.databaseUrl, max: 2 });
    db.on('error', () => undefined);
  });
  after(async () => {
    await s?.stop().catch(() => undefined);
    await db?.end().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  async function row(group: string, resource: string, name: string): Promise<any> {
    const r = await db.query('SELECT obj FROM objects WHERE grp = $1 AND resource = $2 AND name = $3', [group, resource, name]);
    assert.equal(r.rowCount, 1, `${resource}/${name} is stored`);
    return r.rows[0].obj;
  }

  it('seals the SSH credentials of cluster machines and serves them to an authorized reader', async () => {
    const obj = clusterObject(cluster);
    obj.spec.machines = [
      {
        ip: '10.0.0.1',
        port: 22,
        username: 'root',
        password: sshPassword,
        privateKey: sshKey,
        proxy: { type: 'SSHJumpServer', ip: '10.0.0.9', password: sshPassword },
      },
    ];
    const created = await s!.request('POST', paths.clusters, { body: obj });
    assert.equal(created.status, 201, describeResponse(created));
    assert.equal(created.json().spec.machines[0].password, sshPassword);

    const stored = await row('platform.tkestack.io', 'clusters', cluster);
    const text = JSON.stringify(stored);
    assert.ok(!text.includes(sshPassword) && !text.includes(sshKey), 'no plain secret in the row');
    assert.match(stored.spec.machines[0].password, /^enc:aesgcm:v1:key-/);
    assert.match(stored.spec.machines[0].proxy.password, /^enc:aesgcm:v1:key-/);
    assert.equal(stored.spec.machines[0].ip, '10.0.0.1', 'the rest of the row stays readable');

    const got = await s!.kubectlOK(['get', 'cluster', cluster, '-o', 'jsonpath={.spec.machines[0].privateKey}']);
    assert.equal(got.stdout, sshKey);
    const listed = await s!.request('GET', `${paths.clusters}?fieldSelector=metadata.name=${cluster}`);
    assert.equal(listed.json().items[0].spec.machines[0].password, sshPassword);
  });

  it('a value that merely looks sealed is stored as any other and cannot poison reads', async () => {
    const tricky = 'enc:aesgcm:v1:nobody:AAAA';
    const name = uniqueName('rcg');
    const created = await s!.request('POST', '/apis/registry.tkestack.io/v1/chartgroups', {
      body: {
        metadata: { name },
        spec: { name: uniqueName('imp'), type: 'Imported', importedInfo: { addr: 'https://charts.example.org', username: 'u', password: tricky } },
      },
    });
    assert.equal(created.status, 201, describeResponse(created));
    const stored = await row('registry.tkestack.io', 'chartgroups', name);
    assert.notEqual(stored.spec.importedInfo.password, tricky);
    assert.match(stored.spec.importedInfo.password, /^enc:aesgcm:v1:key-/, 'sealed like any other value');
    const got = await s!.request('GET', `/apis/registry.tkestack.io/v1/chartgroups/${name}`);
    assert.equal(got.status, 200, describeResponse(got));
    assert.equal(got.json().spec.importedInfo.password, undefined, 'the import password is never served');
    assert.equal((await s!.request('GET', '/apis/registry.tkestack.io/v1/chartgroups')).status, 200);
  });

  it('seals the API signing key and the LDAP bind password, which are never served', async () => {
    const li = await s!.request('POST', `${AUTH}/localidentities`, {
      body: { metadata: { generateName: 'usr-' }, spec: { username: 'sealer', displayName: 'sealer', hashedPassword: b64('Passw0rd123') } },
    });
    assert.equal(li.status, 201, describeResponse(li));
    const key = await s!.request('POST', `${AUTH}/apikeys/default/password`, {
      token: null,
      body: { tenantID: 'default', username: 'sealer', password: b64('Passw0rd123'), expire: '1h' },
    });
    assert.equal(key.status, 201, describeResponse(key));
    const stored = await row('auth.tkestack.io', 'apisigningkeys', 'default');
    assert.match(stored.signingKey, /^enc:aesgcm:v1:key-/);
    assert.ok(!stored.signingKey.includes(b64('-----BEGIN PRIVATE KEY-----').slice(0, 20)));
    const served = await s!.request('GET', `${AUTH}/apisigningkeys/default`);
    assert.equal(served.status, 200);
    assert.equal(served.json().signingKey, undefined);
    const clusters = await s!.request('GET', paths.clusters, { token: key.json().spec.apiKey });
    assert.equal(clusters.status, 403, `the key signed with the sealed key still verifies: ${describeResponse(clusters)}`);

    const config = {
      host: '127.0.0.1:1',
      bindDN: 'cn=admin,dc=example,dc=org',
      bindPW,
      userSearch: { baseDN: 'ou=people,dc=example,dc=org', username: 'uid' },
    };
    const idp = await s!.request('POST', `${AUTH}/identityproviders`, {
      body: { metadata: { name: 'sealed-ldap' }, spec: { name: 'sealed-ldap', type: 'ldap', administrators: ['x'], config: JSON.stringify(config) } },
    });
    assert.equal(idp.status, 201, describeResponse(idp));
    assert.ok(!idp.body.includes(bindPW));
    const idpRow = await row('auth.tkestack.io', 'identityproviders', 'sealed-ldap');
    assert.ok(!JSON.stringify(idpRow).includes(bindPW));
    assert.match(idpRow.spec.config, /^enc:aesgcm:v1:/);
    const idpServed = await s!.request('GET', `${AUTH}/identityproviders/sealed-ldap`);
    assert.equal(JSON.parse(idpServed.json().spec.config).host, '127.0.0.1:1', 'the configuration is served opened, with the password masked');
    assert.equal(JSON.parse(idpServed.json().spec.config).bindPW, '******');
  });

  it('refuses to start with keys the database does not know, and rotates with the old key kept second', async () => {
    const { databaseUrl } = s!;
    await s!.stop();
    s = undefined;
    const defaultFile = path.join(dataDir, 'encryption.key');
    const original = readFileSync(defaultFile, 'utf8');
    const originalName = /^(key-[0-9a-f]+) /m.exec(original)![1];

    const stranger = path.join(root, 'stranger.key');
    writeFileSync(stranger, `stranger ${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    await assert.rejects(
      startServer({ dataDir, databaseUrl, args: ['--encryption-key-file', stranger], readyTimeoutMs: 60_000 }),
      /none of which this server was given/,
    );

    const impostor = path.join(root, 'impostor.key');
    writeFileSync(impostor, `${originalName} ${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    await assert.rejects(
      startServer({ dataDir, databaseUrl, args: ['--encryption-key-file', impostor], readyTimeoutMs: 60_000 }),
      /is not the key of that name this database was written with/,
    );

    const rotated = path.join(root, 'rotated.key');
    writeFileSync(rotated, `rotated ${randomBytes(32).toString('base64')}\n${original}`, { mode: 0o600 });
    s = await startServer({ dataDir, databaseUrl, args: ['--encryption-key-file', rotated] });
    const got = await s.request('GET', `${paths.clusters}/${cluster}`);
    assert.equal(got.status, 200, describeResponse(got));
    assert.equal(got.json().spec.machines[0].password, sshPassword, 'values sealed with the old key still open');
    assert.match((await row('platform.tkestack.io', 'clusters', cluster)).spec.machines[0].password, /^enc:aesgcm:v1:key-/, 'reading does not write');
    // Kubernetes' way to re-encrypt after a rotation: replace every object unchanged.
    const json = await s.kubectlOK(['get', 'cluster', cluster, '-o', 'json']);
    await s.kubectlOK(['replace', '-f', '-'], { input: json.stdout });
    const resealed = await row('platform.tkestack.io', 'clusters', cluster);
    assert.match(resealed.spec.machines[0].password, /^enc:aesgcm:v1:rotated:/, 'an unchanged replace seals with the new key');
    assert.match(resealed.spec.machines[0].proxy.password, /^enc:aesgcm:v1:rotated:/);
    const again = await s.request('GET', `${paths.clusters}/${cluster}`);
    assert.equal(again.json().spec.machines[0].password, sshPassword);

    // The signing key cannot be written by clients; the server re-seals it when it next uses it.
    const key = await s.request('POST', `${AUTH}/apikeys/default/password`, {
      token: null,
      body: { tenantID: 'default', username: 'sealer', password: b64('Passw0rd123'), expire: '1h' },
    });
    assert.equal(key.status, 201, describeResponse(key));
    assert.match((await row('auth.tkestack.io', 'apisigningkeys', 'default')).signingKey, /^enc:aesgcm:v1:rotated:/);
  });
});
