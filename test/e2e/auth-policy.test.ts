// e2e: local identities, API keys and TKE policies deciding real requests, tenant isolation,
// the member-cluster webhooks and the audit trail, against the real server.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importPKCS8, base64url } from 'jose';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse } from '../support/http.ts';
import { paths, projectObject, uniqueName } from '../support/fixtures.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const PASSWORD = 'Passw0rd123';

describe('e2e: auth policies and API keys', function () {
  this.timeout(180_000);
  let s: TestServer;

  before(async function () {
    s = await startServer();
  });
  after(async () => {
    await s?.stop().catch(() => undefined);
  });

  async function createUser(username: string, opts: { tenant?: string; token?: string; groups?: string[] } = {}): Promise<string> {
    const res = await s.request('POST', `${AUTH}/localidentities`, {
      token: opts.token,
      body: {
        metadata: { generateName: 'usr-' },
        spec: {
          username,
          displayName: username,
          email: `${username}@example.com`,
          hashedPassword: b64(PASSWORD),
          tenantID: opts.tenant ?? 'default',
          groups: opts.groups,
        },
      },
    });
    assert.equal(res.status, 201, describeResponse(res));
    assert.equal(res.json().spec.hashedPassword, undefined, 'the password hash is never returned');
    return res.json().metadata.name;
  }

  async function keyFor(username: string, tenant = 'default', expire = '1h'): Promise<{ token: string; name: string }> {
    const res = await s.request('POST', `${AUTH}/apikeys/default/password`, {
      token: null,
      body: { apiVersion: 'auth.tkestack.io/v1', kind: 'APIKeyReqPassword', tenantID: tenant, username, password: b64(PASSWORD), description: 'test', expire },
    });
    assert.equal(res.status, 201, describeResponse(res));
    const key = res.json();
    assert.ok(key.spec.apiKey, 'the key is returned once');
    return { token: key.spec.apiKey, name: key.metadata.name };
  }

  async function bind(policy: string, username: string, token?: string) {
    return s.request('POST', `${AUTH}/policies/${policy}/binding`, { token, body: { users: [{ id: username, name: username }] } });
  }

  describe('local identities', () => {
    it("refuses accounts and passwords outside the manual's rules without echoing the password", async () => {
      const weak = await s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { name: uniqueName('usr') }, spec: { username: 'weakling', hashedPassword: b64('short') } },
      });
      assert.equal(weak.status, 422, describeResponse(weak));
      assert.ok(!weak.body.includes('short') || !weak.body.includes(b64('short')), 'no password in the error');
      const badName = await s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { name: uniqueName('usr') }, spec: { username: 'Bad_Name', hashedPassword: b64(PASSWORD) } },
      });
      assert.equal(badName.status, 422, describeResponse(badName));
    });

    it('lists local users through users and hides hashes in lists', async () => {
      await createUser('lister');
      const users = await s.request('GET', `${AUTH}/users`);
      assert.equal(users.status, 200, describeResponse(users));
      assert.ok(users.json().items.some((u: any) => u.spec.name === 'lister'));
      const li = await s.request('GET', `${AUTH}/localidentities`);
      assert.ok(!li.body.includes('scrypt'), 'no hash in a list');
    });

    it('changes a password through localidentities/password, checking the old one', async () => {
      const id = await createUser('changer');
      const { token } = await keyFor('changer');
      const wrong = await s.request('POST', `${AUTH}/localidentities/${id}/password`, {
        token,
        body: { hashedPassword: b64('NewPassw0rd1'), originalPassword: b64('Wrong0ne1234') },
      });
      assert.equal(wrong.status, 400, describeResponse(wrong));
      const dry = await s.request('POST', `${AUTH}/localidentities/${id}/password?dryRun=All`, {
        token,
        body: { hashedPassword: b64('DryRunPassw0rd'), originalPassword: b64(PASSWORD) },
      });
      assert.equal(dry.status, 201, describeResponse(dry));
      const ok = await s.request('POST', `${AUTH}/localidentities/${id}/password?fieldManager=pw-changer`, {
        token,
        body: { hashedPassword: b64('NewPassw0rd1'), originalPassword: b64(PASSWORD) },
      });
      assert.equal(ok.status, 201, describeResponse(ok));
      assert.equal(ok.json().spec.hashedPassword, undefined, 'the hash is never returned');
      assert.ok(!ok.body.includes('scrypt'));
      assert.ok(
        ok.json().metadata.managedFields.some((m: any) => m.manager === 'pw-changer' && m.subresource === 'password'),
        'written through the store',
      );
      const dryLogin = await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'default', username: 'changer', password: b64('DryRunPassw0rd') },
      });
      assert.equal(dryLogin.status, 401, `a dry run changes nothing: ${describeResponse(dryLogin)}`);
      const login = await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'default', username: 'changer', password: b64('NewPassw0rd1') },
      });
      assert.equal(login.status, 201, describeResponse(login));
    });
  });

  describe('API keys', () => {
    let token: string;
    let keyName: string;
    before(async () => {
      await createUser('keyuser');
      ({ token, name: keyName } = await keyFor('keyuser'));
      assert.equal((await bind('pol-default-viewer', 'keyuser')).status, 201);
    });

    it('authenticate requests (manual 7.1 curl) and 403 names the action and resource', async () => {
      const res = await s.request('GET', paths.clusters, { token });
      assert.equal(res.status, 403, describeResponse(res));
      assert.equal(res.json().reason, 'Forbidden');
      assert.match(res.json().message, /keyuser/);
      assert.match(res.json().message, /listClusters/);
      assert.match(res.json().message, /cluster:\*/);
    });

    it('the tenant role (PlatformLogin) may log in and read its portal, nothing more', async () => {
      const portal = await s.request('GET', '/apis/business.tkestack.io/v1/portal', { token });
      assert.equal(portal.status, 200, describeResponse(portal));
      assert.equal((await s.request('GET', paths.projects, { token })).status, 403);
      assert.equal((await s.request('GET', `${AUTH}/policies`, { token })).status, 403);
    });

    it('an unauthenticated request is 401 and a garbage token is 401', async () => {
      assert.equal((await s.request('GET', paths.clusters, { token: null })).status, 401);
      assert.equal((await s.request('GET', paths.clusters, { token: 'garbage' })).status, 401);
    });

    it("a key made for oneself with apikeys works, and lists show only one's own keys without the token", async () => {
      const made = await s.request('POST', `${AUTH}/apikeys`, {
        token,
        body: { apiVersion: 'auth.tkestack.io/v1', kind: 'APIKeyReq', expire: '30m', description: 'mine' },
      });
      assert.equal(made.status, 201, describeResponse(made));
      const second = made.json().spec.apiKey;
      const list = await s.request('GET', `${AUTH}/apikeys`, { token: second });
      assert.equal(list.status, 200, describeResponse(list));
      const items = list.json().items;
      assert.ok(items.length >= 2 && items.every((k: any) => k.spec.username === 'keyuser'), describeResponse(list));
      assert.ok(items.every((k: any) => k.spec.apiKey === undefined));
      const exp = Date.parse(made.json().spec.expire_at) - Date.parse(made.json().spec.issue_at);
      assert.ok(Math.abs(exp - 30 * 60_000) < 2000, `expiry ${exp}`);
    });

    it('refuses alg none, a wrong signature and a foreign issuer', async () => {
      const [h, p] = token.split('.');
      const header = JSON.parse(Buffer.from(h, 'base64url').toString());
      const none = `${base64url.encode(JSON.stringify({ ...header, alg: 'none' }))}.${p}.`;
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: none })).status, 401);
      const flipped = token.slice(0, -4) + (token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA');
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: flipped })).status, 401);
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const foreignKey = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      const forged = await new SignJWT(claims).setProtectedHeader(header).sign(foreignKey);
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: forged })).status, 401, "our kid, someone else's key");
      const otherIssuer = await new SignJWT({ ...claims, iss: 'https://evil.example' }).setProtectedHeader(header).sign(foreignKey);
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: otherIssuer })).status, 401);
    });

    it('refuses an expired key', async () => {
      const { token: short } = await keyFor('keyuser', 'default', '1s');
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: short })).status, 200);
      await new Promise(r => setTimeout(r, 2100));
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: short })).status, 401);
    });

    it('refuses a disabled key at once and a deleted one too', async () => {
      const { token: t, name } = await keyFor('keyuser');
      const dis = await s.request('PATCH', `${AUTH}/apikeys/${name}/status`, {
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { status: { disabled: true } },
      });
      assert.equal(dis.status, 200, describeResponse(dis));
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: t })).status, 401, 'disabled');
      const { token: t2, name: n2 } = await keyFor('keyuser');
      assert.equal((await s.request('DELETE', `${AUTH}/apikeys/${n2}`, { token: t2 })).status, 200);
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: t2 })).status, 401, 'deleted');
      assert.equal((await s.request('GET', `${AUTH}/apikeys/${keyName}`, { token })).status, 200, 'other keys still work');
    });

    it("a deleted user's keys stop working", async () => {
      const id = await createUser('leaver');
      const { token: t } = await keyFor('leaver');
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: t })).status, 200);
      assert.equal((await s.request('DELETE', `${AUTH}/localidentities/${id}`)).status, 200);
      assert.equal((await s.request('GET', `${AUTH}/apikeys`, { token: t })).status, 401);
    });

    it('throttles 100 wrong passwords in a row while the right password works for others', async () => {
      await createUser('victim');
      await createUser('bystander');
      const statuses = new Map<number, number>();
      for (let i = 0; i < 100; i++) {
        const r = await s.request('POST', `${AUTH}/apikeys/default/password`, {
          token: null,
          body: { tenantID: 'default', username: 'victim', password: b64(`Wrong${i}Passw0rd`) },
        });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        assert.ok(r.status === 401 || r.status === 429, describeResponse(r));
        if (r.status === 429) assert.ok(Number(r.headers['retry-after']) >= 1);
      }
      assert.ok((statuses.get(429) ?? 0) >= 90, `most attempts throttled: ${JSON.stringify([...statuses])}`);
      const locked = await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'default', username: 'victim', password: b64(PASSWORD) },
      });
      assert.equal(locked.status, 429, 'even the right password waits while the account is locked');
      const other = await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'default', username: 'bystander', password: b64(PASSWORD) },
      });
      assert.equal(other.status, 201, describeResponse(other));
    });
  });

  describe('password throttle across replicas', () => {
    it('a replica on the same database sees the lock-out another replica counted', async () => {
      const replica = await startServer({ databaseUrl: s.databaseUrl, dataDir: s.dataDir });
      try {
        // Five wrong guesses spread over both replicas lock the account on both. The lock-out
        // lasts a second: a machine so slow that it ends before both replicas are asked tries
        // again, with another account (this one's count of failures is not back to zero yet).
        for (let round = 0; ; round++) {
          const username = `spread${round}`;
          await createUser(username);
          const attempt = (server: TestServer, password: string) =>
            server.request('POST', `${AUTH}/apikeys/default/password`, {
              token: null,
              body: { tenantID: 'default', username, password: b64(password) },
            });
          let lockedAt = 0;
          for (let i = 0; i < 5; i++) {
            lockedAt = Date.now();
            const r = await attempt(i % 2 ? replica : s, `Wrong${i}Passw0rd`);
            assert.equal(r.status, 401, describeResponse(r));
          }
          const answers = [await attempt(s, PASSWORD), await attempt(replica, PASSWORD)];
          if (answers.every(r => r.status === 429)) break;
          assert.ok(Date.now() - lockedAt > 900 && round < 3, `locked on both replicas: ${answers.map(describeResponse).join('; ')}`);
        }
      } finally {
        await replica.stop();
      }
    });
  });

  describe('policies', () => {
    let member: string;
    let viewer: string;
    let padmin: string;
    const prj1 = uniqueName('prj');
    const prj2 = uniqueName('prj');

    before(async () => {
      for (const p of [prj1, prj2]) assert.equal((await s.request('POST', paths.projects, { body: projectObject(p) })).status, 201);
      await createUser('member1');
      await createUser('viewer1');
      await createUser('padmin1');
      member = (await keyFor('member1')).token;
      viewer = (await keyFor('viewer1')).token;
      padmin = (await keyFor('padmin1')).token;
      const grant = async (policy: string, user: string, project: string) => {
        const r = await s.request('POST', `${AUTH}/projects/${project}/binding`, { body: { policies: [policy], users: [{ id: user, name: user }] } });
        assert.equal(r.status, 201, describeResponse(r));
      };
      await grant('pol-default-project-member', 'member1', prj1);
      await grant('pol-default-project-viewer', 'viewer1', prj1);
      await grant('pol-default-project-owner', 'padmin1', prj1);
    });

    const ns = (project: string) => ({
      apiVersion: 'business.tkestack.io/v1',
      kind: 'Namespace',
      metadata: { generateName: 'ns-', namespace: project },
      spec: { clusterName: 'cls-none', namespace: uniqueName('ns') },
    });

    it('a ProjectMember of prj-1 creates namespaces in prj-1, not in prj-2', async () => {
      const list = await s.request('GET', paths.namespaces(prj1), { token: member });
      assert.equal(list.status, 200, describeResponse(list));
      const denied = await s.request('POST', paths.namespaces(prj2), { token: member, body: ns(prj2) });
      assert.equal(denied.status, 403, describeResponse(denied));
      assert.match(denied.json().message, /createNamespace on project:[^ ]+\/namespace:\*/);
      const created = await s.request('POST', paths.namespaces(prj1), { token: member, body: ns(prj1) });
      // Authorization let it through: whatever the business rules say next is not a 403.
      assert.notEqual(created.status, 403, describeResponse(created));
      assert.notEqual(created.status, 401, describeResponse(created));
    });

    it('a ProjectViewer can only read', async () => {
      assert.equal((await s.request('GET', paths.project(prj1), { token: viewer })).status, 200);
      assert.equal((await s.request('GET', paths.namespaces(prj1), { token: viewer })).status, 200);
      const w = await s.request('POST', paths.namespaces(prj1), { token: viewer, body: ns(prj1) });
      assert.equal(w.status, 403, describeResponse(w));
      const p = await s.request('PATCH', paths.project(prj1), {
        token: viewer,
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { spec: { displayName: 'x' } },
      });
      assert.equal(p.status, 403, describeResponse(p));
    });

    it('a project admin manages members of its project but cannot grant platform policies', async () => {
      const add = await s.request('POST', `${AUTH}/projects/${prj1}/binding`, {
        token: padmin,
        body: { policies: ['pol-default-project-viewer'], users: [{ id: 'lister', name: 'lister' }] },
      });
      assert.equal(add.status, 201, describeResponse(add));
      assert.ok(add.json().items[0].spec.users.some((u: any) => u.id === 'lister'));
      const view = await s.request('GET', `${AUTH}/projects/${prj1}`, { token: padmin });
      assert.equal(view.json().members.lister, 'lister');
      const platform = await s.request('POST', `${AUTH}/projects/${prj1}/binding`, {
        token: padmin,
        body: { policies: ['pol-default-administrator'], users: [{ id: 'padmin1', name: 'padmin1' }] },
      });
      assert.equal(platform.status, 403, describeResponse(platform));
      const other = await s.request('POST', `${AUTH}/projects/${prj2}/binding`, {
        token: padmin,
        body: { policies: ['pol-default-project-viewer'], users: [{ id: 'padmin1', name: 'padmin1' }] },
      });
      assert.equal(other.status, 403, describeResponse(other));
    });

    it('a member cannot bind PlatformAdmin to itself', async () => {
      const r = await bind('pol-default-administrator', 'member1', member);
      assert.equal(r.status, 403, describeResponse(r));
      assert.match(r.json().message, /createPolicyBinding/);
      assert.equal((await s.request('GET', paths.clusters, { token: member })).status, 403, 'still no platform rights');
    });

    it("a custom policy with a deny statement wins over PlatformUser's allow", async () => {
      await createUser('denied1');
      const t = (await keyFor('denied1')).token;
      assert.equal((await bind('pol-default-platform', 'denied1')).status, 201);
      assert.equal((await s.request('GET', paths.clusters, { token: t })).status, 200);
      const pol = await s.request('POST', `${AUTH}/policies`, {
        body: {
          metadata: { generateName: 'pol-' },
          spec: { displayName: 'NoClusters', tenantID: 'default', statement: { actions: ['*Cluster*'], resources: ['*'], effect: 'deny' } },
        },
      });
      assert.equal(pol.status, 201, describeResponse(pol));
      assert.equal((await bind(pol.json().metadata.name, 'denied1')).status, 201);
      const r = await s.request('GET', paths.clusters, { token: t });
      assert.equal(r.status, 403, describeResponse(r));
      assert.equal((await s.request('GET', paths.projects, { token: t })).status, 200, 'other kinds still allowed');
    });

    it('platform roles: an administrator may do anything in its tenant, bindings included', async () => {
      await createUser('admin2');
      const t = (await keyFor('admin2')).token;
      assert.equal((await bind('pol-default-administrator', 'admin2')).status, 201);
      assert.equal((await s.request('GET', paths.clusters, { token: t })).status, 200);
      assert.equal((await bind('pol-default-viewer', 'admin2', t)).status, 201, 'an administrator may bind');
    });

    it('group bindings reach members of a local group', async () => {
      await createUser('grouped');
      const t = (await keyFor('grouped')).token;
      const g = await s.request('POST', `${AUTH}/localgroups`, {
        body: { metadata: { generateName: 'grp-' }, spec: { displayName: 'readers', tenantID: 'default' } },
      });
      assert.equal(g.status, 201, describeResponse(g));
      const gname = g.json().metadata.name;
      assert.equal((await s.request('POST', `${AUTH}/localgroups/${gname}/binding`, { body: { users: [{ id: 'grouped', name: 'grouped' }] } })).status, 201);
      assert.equal((await s.request('GET', paths.projects, { token: t })).status, 403);
      const up = await s.request('GET', `${AUTH}/users/grouped/policies`, { token: t });
      assert.equal(up.status, 403, 'users/policies (listUserPolicies) needs a policy too');
      const b = await s.request('POST', `${AUTH}/policies/pol-default-readonlyaccess/binding`, { body: { groups: [{ id: gname, name: gname }] } });
      assert.equal(b.status, 201, describeResponse(b));
      assert.equal((await s.request('GET', paths.projects, { token: t })).status, 200);
      const upAdmin = await s.request('GET', `${AUTH}/users/grouped/policies`);
      assert.equal(upAdmin.status, 200, describeResponse(upAdmin));
      assert.ok(upAdmin.json().items.some((p: any) => p.metadata.name === 'pol-default-readonlyaccess'));
    });
  });

  describe('tenant isolation', () => {
    let tokenB: string;
    let projectA: string;
    before(async () => {
      const idp = await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name: 'tenant-b' }, spec: { name: 'tenant-b', type: 'local', administrators: ['boss'], config: '' } },
      });
      assert.equal(idp.status, 201, describeResponse(idp));
      await createUser('boss', { tenant: 'tenant-b' });
      tokenB = (await keyFor('boss', 'tenant-b')).token;
      projectA = uniqueName('prj');
      assert.equal((await s.request('POST', paths.projects, { body: projectObject(projectA) })).status, 201);
    });

    it("seeds the new tenant with TKE's predefined policies", async () => {
      const r = await s.request('GET', `${AUTH}/policies/pol-tenant-b-administrator`, { token: tokenB });
      assert.equal(r.status, 200, describeResponse(r));
      assert.equal(r.json().spec.tenantID, 'tenant-b');
    });

    it("a tenant administrator lists only its tenant's objects", async () => {
      const list = await s.request('GET', paths.projects, { token: tokenB });
      assert.equal(list.status, 200, describeResponse(list));
      assert.ok(list.json().items.every((p: any) => p.spec.tenantID === 'tenant-b'));
      const pols = await s.request('GET', `${AUTH}/policies`, { token: tokenB });
      assert.ok(pols.json().items.length > 0 && pols.json().items.every((p: any) => p.spec.tenantID === 'tenant-b'));
    });

    it('cross-tenant reads and writes by name are 404, never 403', async () => {
      for (const [method, path] of [
        ['GET', paths.project(projectA)],
        ['DELETE', paths.project(projectA)],
        ['GET', `${AUTH}/policies/pol-default-administrator`],
        ['GET', `${AUTH}/identityproviders/default`],
        ['GET', paths.project('no-such-project')],
      ] as const) {
        const r = await s.request(method, path, { token: tokenB });
        assert.equal(r.status, 404, `${method} ${path}: ${describeResponse(r)}`);
      }
      const patch = await s.request('PATCH', paths.project(projectA), {
        token: tokenB,
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { spec: { displayName: 'mine' } },
      });
      assert.equal(patch.status, 404, describeResponse(patch));
      const bindOther = await s.request('POST', `${AUTH}/policies/pol-default-administrator/binding`, {
        token: tokenB,
        body: { users: [{ id: 'boss', name: 'boss' }] },
      });
      assert.equal(bindOther.status, 404, describeResponse(bindOther));
    });

    it('objects a tenant user creates land in its tenant; naming another tenant is refused', async () => {
      const p = projectObject(uniqueName('prj'));
      delete p.spec.tenantID;
      const made = await s.request('POST', paths.projects, { token: tokenB, body: p });
      assert.equal(made.status, 201, describeResponse(made));
      assert.equal(made.json().spec.tenantID, 'tenant-b');
      const other = projectObject(uniqueName('prj'));
      other.spec.tenantID = 'someone-else';
      assert.equal((await s.request('POST', paths.projects, { token: tokenB, body: other })).status, 403);
      assert.equal((await s.request('GET', paths.project(made.json().metadata.name))).status, 200, 'the platform admin sees every tenant');
    });

    it('watches are filtered by tenant', async () => {
      const r = await s.request('GET', `${paths.projects}?watch=true&timeoutSeconds=1`, { token: tokenB });
      assert.equal(r.status, 200, describeResponse(r));
      const events = r.body
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(l => JSON.parse(l));
      assert.ok(events.length > 0);
      assert.ok(
        events.every((e: any) => e.object.spec.tenantID === 'tenant-b'),
        r.body.slice(0, 500),
      );
    });
  });

  describe('member cluster webhooks', () => {
    let token: string;
    before(async () => {
      await createUser('kubeuser', { groups: ['devs'] });
      token = (await keyFor('kubeuser')).token;
      assert.equal((await bind('pol-default-readonlyaccess', 'kubeuser')).status, 201);
    });

    it('tokenreviews authenticate API keys for kube-apiserver', async () => {
      for (const apiVersion of ['authentication.k8s.io/v1', 'authentication.k8s.io/v1beta1']) {
        const r = await s.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { body: { apiVersion, kind: 'TokenReview', spec: { token } } });
        assert.equal(r.status, 201, describeResponse(r));
        const tr = r.json();
        assert.equal(tr.apiVersion, apiVersion);
        assert.equal(tr.kind, 'TokenReview');
        assert.equal(tr.status.authenticated, true);
        assert.equal(tr.status.user.username, 'kubeuser');
        assert.ok(tr.status.user.groups.includes('devs'));
        assert.deepEqual(tr.status.user.extra.tenantid, ['default']);
        assert.equal(tr.spec.token, undefined, 'the token is not echoed');
      }
      const bad = await s.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'nope' } },
      });
      assert.equal(bad.json().status.authenticated, false);
    });

    it('subjectaccessreviews answer with the TKE policies', async () => {
      const sar = (verb: string, resource: string) =>
        s.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              resourceAttributes: { namespace: 'default', verb, group: 'apps', version: 'v1', resource },
              user: 'kubeuser',
              groups: ['devs', 'system:authenticated'],
              extra: { tenantid: ['default'] },
            },
          },
        });
      const get = await sar('list', 'deployments');
      assert.equal(get.status, 201, describeResponse(get));
      assert.equal(get.json().status.allowed, true, describeResponse(get));
      const del = await sar('delete', 'deployments');
      assert.equal(del.json().status.allowed, false);
      assert.match(del.json().status.reason, /deleteDeployment/);
    });

    it('a user without a policy for it cannot call the webhooks', async () => {
      const r = await s.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        token,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      });
      assert.equal(r.status, 403, describeResponse(r));
    });
  });

  describe('audit', () => {
    it('records writes and denials and reads them back', async () => {
      await createUser('audited');
      const t = (await keyFor('audited')).token;
      assert.equal((await s.request('DELETE', paths.project('whatever'), { token: t })).status, 403);
      let events: any[] = [];
      for (let i = 0; i < 50; i++) {
        const r = await s.request('GET', `${AUTH}/auditevents`);
        assert.equal(r.status, 200, describeResponse(r));
        events = r.json().items;
        if (events.some(e => e.spec.username === 'audited' && e.spec.decision === 'deny')) break;
        await new Promise(res => setTimeout(res, 100));
      }
      const denial = events.find(e => e.spec.username === 'audited' && e.spec.decision === 'deny');
      assert.ok(denial, 'the denial is recorded');
      assert.equal(denial.spec.code, 403);
      assert.equal(denial.spec.action, 'deleteProject');
      const write = events.find(e => e.spec.username === 'admin' && e.spec.resource === 'localidentities' && e.spec.verb === 'create');
      assert.ok(write, 'the write is recorded');
      assert.equal(write.spec.code, 201);
      assert.ok(!JSON.stringify(events).includes(PASSWORD) && !JSON.stringify(events).includes(b64(PASSWORD)), 'no password in the audit trail');
    });
  });
});
