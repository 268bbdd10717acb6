// e2e: tenants backed by a real OpenLDAP (slapd) and a real OpenID provider (oidc-provider).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT } from 'jose';
import { startLDAP, slapdAvailable, type TestLDAP } from '../support/ldap.ts';
import { startOIDC, type TestOIDC } from '../support/oidc.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse } from '../support/http.ts';
import { paths } from '../support/fixtures.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('e2e: LDAP and OIDC tenants', function () {
  this.timeout(180_000);
  let s: TestServer;

  before(async function () {
    s = await startServer();
  });
  after(async () => {
    await s?.stop().catch(() => undefined);
  });

  describe('LDAP (slapd)', () => {
    let ldap: TestLDAP;
    before(async function () {
      // .ci/run installs slapd; a machine without it cannot run this part at all.
      if (!slapdAvailable()) throw new Error('slapd is not installed: apt-get install -y slapd ldap-utils');
      ldap = await startLDAP(
        [
          { uid: 'jane', cn: 'Jane Doe', password: 'JanePassw0rd' },
          { uid: 'john', cn: 'John Roe', password: 'JohnPassw0rd' },
        ],
        [
          { cn: 'admins', members: ['jane'] },
          { cn: 'readers', members: ['john'] },
        ],
      );
      // Manual 8.3.1 c: the ldap identity provider, its config a JSON string.
      const idp = await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name: 'ldap-test' }, spec: { name: 'ldap-test', type: 'ldap', administrators: ['jane'], config: JSON.stringify(ldap.config()) } },
      });
      assert.equal(idp.status, 201, describeResponse(idp));
    });
    after(async () => {
      await ldap?.stop();
    });

    const login = (username: string, password: string) =>
      s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'ldap-test', username, password: b64(password), expire: '1h' },
      });

    it('does not serve the bind password back', async () => {
      const r = await s.request('GET', `${AUTH}/identityproviders/ldap-test`);
      assert.equal(r.status, 200);
      assert.ok(!r.body.includes(ldap.bindPW), 'bindPW hidden');
    });

    it('a directory user logs in with its directory password and gets an API key', async () => {
      assert.equal((await login('jane', 'wrong-password')).status, 401);
      assert.equal((await login('nobody', 'JanePassw0rd')).status, 401);
      const r = await login('jane', 'JanePassw0rd');
      assert.equal(r.status, 201, describeResponse(r));
      const token = r.json().spec.apiKey;
      // jane is an administrator of the ldap-test tenant: everything inside it, nothing outside.
      const pols = await s.request('GET', `${AUTH}/policies`, { token });
      assert.equal(pols.status, 200, describeResponse(pols));
      assert.ok(pols.json().items.length > 0 && pols.json().items.every((p: any) => p.spec.tenantID === 'ldap-test'));
      assert.equal((await s.request('GET', `${AUTH}/policies/pol-default-administrator`, { token })).status, 404);
    });

    it('users and groups are read live from the directory', async () => {
      const users = await s.request('GET', `${AUTH}/users?fieldSelector=spec.tenantID=ldap-test`);
      assert.equal(users.status, 200, describeResponse(users));
      const names = users
        .json()
        .items.map((u: any) => u.spec.name)
        .sort();
      assert.deepEqual(names, ['jane', 'john']);
      const groups = await s.request('GET', `${AUTH}/groups?fieldSelector=spec.tenantID=ldap-test`);
      assert.equal(groups.status, 200, describeResponse(groups));
      const admins = groups.json().items.find((g: any) => g.metadata.name === 'admins');
      assert.deepEqual(
        admins.status.users.map((u: any) => u.name),
        ['jane'],
      );
    });

    it('policies bound to a directory group reach its members', async () => {
      const r = await login('john', 'JohnPassw0rd');
      assert.equal(r.status, 201, describeResponse(r));
      const token = r.json().spec.apiKey;
      assert.equal((await s.request('GET', paths.projects, { token })).status, 403);
      const bind = await s.request('POST', `${AUTH}/policies/pol-ldap-test-readonlyaccess/binding`, { body: { groups: [{ id: 'readers', name: 'readers' }] } });
      assert.equal(bind.status, 201, describeResponse(bind));
      assert.equal((await s.request('GET', paths.projects, { token })).status, 200);
      assert.equal((await s.request('DELETE', paths.project('anything'), { token })).status, 403);
    });
  });

  describe('OIDC (oidc-provider)', () => {
    let oidc: TestOIDC;
    before(async () => {
      oidc = await startOIDC();
      const config = { issuer: oidc.issuer, clientID: oidc.clientID, usernameClaim: 'name', groupsClaim: 'groups' };
      const idp = await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name: 'oidc-test' }, spec: { name: 'oidc-test', type: 'oidc', administrators: ['alice'], config: JSON.stringify(config) } },
      });
      assert.equal(idp.status, 201, describeResponse(idp));
      const bind = await s.request('POST', `${AUTH}/policies/pol-oidc-test-readonlyaccess/binding`, { body: { groups: [{ id: 'devs', name: 'devs' }] } });
      assert.equal(bind.status, 201, describeResponse(bind));
    });
    after(async () => {
      await oidc?.stop();
    });

    it("accepts ID tokens, mapping the provider's claims to user and groups", async () => {
      const alice = await oidc.idToken('sub-alice', { name: 'alice', groups: [] });
      const pols = await s.request('GET', `${AUTH}/policies`, { token: alice });
      assert.equal(pols.status, 200, describeResponse(pols));
      assert.ok(pols.json().items.every((p: any) => p.spec.tenantID === 'oidc-test'));
      const bob = await oidc.idToken('sub-bob', { name: 'bob', groups: ['devs'] });
      assert.equal((await s.request('GET', paths.projects, { token: bob })).status, 200, 'devs may read');
      const w = await s.request('DELETE', paths.project('anything'), { token: bob });
      assert.equal(w.status, 403, describeResponse(w));
      assert.match(w.json().message, /User "bob"/);
      const carol = await oidc.idToken('sub-carol', { name: 'carol', groups: ['others'] });
      assert.equal((await s.request('GET', paths.projects, { token: carol })).status, 403);
    });

    it('refuses expired tokens, tokens for another audience, foreign signatures and alg none', async () => {
      const expired = await oidc.idToken('sub-alice', { name: 'alice' }, { expiresInSeconds: -60 });
      assert.equal((await s.request('GET', `${AUTH}/policies`, { token: expired })).status, 401);
      const otherAud = await oidc.idToken('sub-alice', { name: 'alice' }, { audience: 'other-app' });
      assert.equal((await s.request('GET', `${AUTH}/policies`, { token: otherAud })).status, 401);
      const good = await oidc.idToken('sub-alice', { name: 'alice' });
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const foreign = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
      const forged = await new SignJWT(decodeJwt(good)).setProtectedHeader(decodeProtectedHeader(good) as { alg: string }).sign(foreign);
      assert.equal((await s.request('GET', `${AUTH}/policies`, { token: forged })).status, 401);
      const [, payload] = good.split('.');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
      assert.equal((await s.request('GET', `${AUTH}/policies`, { token: none })).status, 401);
      const unknownIssuer = await new SignJWT({ ...decodeJwt(good), iss: 'http://127.0.0.1:1' }).setProtectedHeader({ alg: 'RS256' }).sign(foreign);
      assert.equal((await s.request('GET', `${AUTH}/policies`, { token: unknownIssuer })).status, 401);
    });
  });

  describe('front-proxy headers', () => {
    it('forged X-Remote-User headers without a proxy certificate do not authenticate', async () => {
      const r = await s.request('GET', paths.projects, { token: null, headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' } });
      assert.equal(r.status, 401, describeResponse(r));
      const withKey = await s.request('GET', `${AUTH}/apikeys`, {
        token: 'not-a-key',
        headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' },
      });
      assert.equal(withKey.status, 401, describeResponse(withKey));
    });
  });
});
