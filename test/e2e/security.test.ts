// e2e: the attacks a hostile tenant administrator (or a user with a narrow policy) tried, each
// performed against the real server and now failing to get in: reserved `system:` groups from
// tenant-controlled sources, context headers against a deny, create by apply, re-parenting and
// top-level quotas, revocation, secrets for readers, dry runs with effects, cross-tenant oracles,
// and the anonymous traffic a login endpoint takes.
import assert from 'node:assert/strict';
import https from 'node:https';
import pg from 'pg';
import { startLDAP, slapdAvailable, type TestLDAP } from '../support/ldap.ts';
import { startOIDC, type TestOIDC } from '../support/oidc.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, openWatch, type HttpResponse } from '../support/http.ts';
import { clusterObject, paths, uniqueName } from '../support/fixtures.ts';
import { tempFile } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const BUSINESS = '/apis/business.tkestack.io/v1';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const PASSWORD = 'Passw0rd123';
const MERGE = { 'Content-Type': 'application/merge-patch+json' };
const APPLY = { 'Content-Type': 'application/apply-patch+yaml' };

describe('e2e: security (a hostile tenant)', function () {
  this.timeout(180_000);
  let s: TestServer;

  before(async function () {
    s = await startServer();
  });
  after(async () => {
    await s?.stop().catch(() => undefined);
  });

  function expectStatus(res: HttpResponse, code: number, why = ''): any {
    assert.equal(res.status, code, `${why} ${describeResponse(res)}`);
    return res.body ? res.json() : undefined;
  }

  async function createUser(
    username: string,
    opts: { tenant?: string; token?: string; groups?: string[]; extra?: Record<string, string> } = {},
  ): Promise<HttpResponse> {
    return s.request('POST', `${AUTH}/localidentities`, {
      token: opts.token,
      body: {
        metadata: { generateName: 'usr-' },
        spec: { username, displayName: username, hashedPassword: b64(PASSWORD), tenantID: opts.tenant ?? 'default', groups: opts.groups, extra: opts.extra },
      },
    });
  }

  async function login(username: string, tenant = 'default', query = ''): Promise<HttpResponse> {
    return s.request('POST', `${AUTH}/apikeys/default/password${query}`, {
      token: null,
      body: { tenantID: tenant, username, password: b64(PASSWORD), expire: '1h' },
    });
  }

  async function keyFor(username: string, tenant = 'default'): Promise<{ token: string; name: string }> {
    const key = expectStatus(await login(username, tenant), 201, `login ${username}@${tenant}`);
    return { token: key.spec.apiKey, name: key.metadata.name };
  }

  async function userWithKey(username: string, tenant = 'default'): Promise<{ token: string; id: string; key: string }> {
    const id = expectStatus(await createUser(username, { tenant }), 201).metadata.name;
    const { token, name } = await keyFor(username, tenant);
    return { token, id, key: name };
  }

  async function tenant(name: string, admin: string): Promise<string> {
    expectStatus(
      await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name }, spec: { name, type: 'local', administrators: [admin], config: '' } },
      }),
      201,
    );
    return (await userWithKey(admin, name)).token;
  }

  /** A policy of the default tenant with one statement, bound to `username`. */
  async function grant(username: string, actions: string[], resources: string[], effect = 'allow'): Promise<void> {
    const pol = expectStatus(
      await s.request('POST', `${AUTH}/policies`, {
        body: {
          metadata: { generateName: 'pol-default-' },
          spec: { tenantID: 'default', displayName: `${effect} ${actions.join(',')}`, scope: 'platform', statement: { actions, resources, effect } },
        },
      }),
      201,
    );
    expectStatus(await s.request('POST', `${AUTH}/policies/${pol.metadata.name}/binding`, { body: { users: [{ name: username }] } }), 201);
  }

  // ---- 1 ------------------------------------------------------------------------------------------
  describe('no system: groups from tenant-controlled sources', () => {
    let mallory: string;
    before(async () => {
      mallory = await tenant('evil', 'mallory');
    });

    it('a tenant admin cannot give a local identity a system: group (422), not even padded or by patch', async () => {
      for (const groups of [['system:masters'], [' system:masters'], ['devs', 'System:Masters']]) {
        const r = await createUser(uniqueName('sneak'), { tenant: 'evil', token: mallory, groups });
        const st = expectStatus(r, 422, JSON.stringify(groups));
        assert.ok(
          st.details.causes.some((c: any) => /^spec\.groups\[\d\]$/.test(c.field)),
          describeResponse(r),
        );
      }
      const plain = expectStatus(await createUser('plainuser', { tenant: 'evil', token: mallory, groups: ['devs'] }), 201);
      const patched = await s.request('PATCH', `${AUTH}/localidentities/${plain.metadata.name}`, {
        token: mallory,
        headers: MERGE,
        body: { spec: { groups: ['devs', 'system:masters'] } },
      });
      expectStatus(patched, 422);
    });

    it('not even a platform master stores one in a local identity', async () => {
      expectStatus(await createUser('oldtimer', { groups: ['system:masters'] }), 422);
    });

    describe('through an OIDC issuer the tenant admin points its provider at', () => {
      let oidc: TestOIDC;
      let rex: string;
      before(async () => {
        oidc = await startOIDC();
        rex = await tenant('rogue', 'rex');
        const r = await s.request('PATCH', `${AUTH}/identityproviders/rogue`, {
          token: rex,
          headers: MERGE,
          body: {
            spec: {
              type: 'oidc',
              administrators: ['rex', 'eve'],
              config: JSON.stringify({ issuer: oidc.issuer, clientID: oidc.clientID, usernameClaim: 'name' }),
            },
          },
        });
        expectStatus(r, 200, 'a tenant admin may change its own provider');
      });
      after(async () => {
        await oidc?.stop();
      });

      it('its groups claim cannot carry system:masters: the token works, as a tenant user only', async () => {
        const token = await oidc.idToken('eve-sub', { name: 'eve', groups: ['system:masters', ' system:masters', 'operators'] });
        const list = expectStatus(await s.request('GET', paths.projects, { token }), 200, 'eve administers her tenant');
        assert.ok(
          list.items.every((p: any) => p.spec.tenantID === 'rogue'),
          "no other tenant's projects",
        );
        expectStatus(await s.request('GET', '/metrics', { token }), 403, '/metrics is for platform masters');
        expectStatus(
          await s.request('PATCH', `${AUTH}/identityproviders/evil`, { token, headers: MERGE, body: { spec: { administrators: ['eve'] } } }),
          404,
          "another tenant's administrators",
        );
        const review = expectStatus(
          await s.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
            body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
          }),
          201,
        );
        assert.equal(review.status.authenticated, true);
        assert.deepEqual(
          review.status.user.groups.filter((g: string) => g.trim().startsWith('system:') && g !== 'system:authenticated'),
          [],
          'member clusters get no system: group either',
        );
        assert.ok(review.status.user.groups.includes('operators'));
      });

      it('its tokens cannot name a system: user', async () => {
        const token = await oidc.idToken('svc-sub', { name: 'system:kube-controller-manager' });
        expectStatus(await s.request('GET', paths.projects, { token }), 401);
      });

      it('a second tenant cannot claim the same issuer and client', async () => {
        const r = await s.request('POST', `${AUTH}/identityproviders`, {
          body: {
            metadata: { name: 'copycat' },
            spec: { name: 'copycat', type: 'oidc', administrators: [], config: JSON.stringify({ issuer: oidc.issuer, clientID: oidc.clientID }) },
          },
        });
        expectStatus(r, 422);
      });

      it('keys made while the tenant was local stop when it moves to another provider', async () => {
        expectStatus(await s.request('GET', paths.projects, { token: rex }), 401);
      });
    });

    describe('through LDAP group names', () => {
      let ldap: TestLDAP;
      before(async function () {
        if (!slapdAvailable()) throw new Error('slapd is not installed: apt-get install -y slapd ldap-utils');
        ldap = await startLDAP(
          [{ uid: 'larry', cn: 'Larry', password: PASSWORD }],
          [
            { cn: 'system:masters', members: ['larry'] },
            { cn: 'staff', members: ['larry'] },
          ],
        );
        expectStatus(
          await s.request('POST', `${AUTH}/identityproviders`, {
            body: { metadata: { name: 'dirco' }, spec: { name: 'dirco', type: 'ldap', administrators: [], config: JSON.stringify(ldap.config()) } },
          }),
          201,
        );
      });
      after(async () => {
        await ldap?.stop();
      });

      it('a directory group named system:masters is dropped', async () => {
        const { token } = await keyFor('larry', 'dirco');
        expectStatus(await s.request('GET', '/metrics', { token }), 403);
        expectStatus(await s.request('GET', paths.projects, { token }), 403, 'no policy: larry is a plain user of dirco');
        const review = expectStatus(await s.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { body: { spec: { token } } }), 201);
        assert.ok(review.status.user.groups.includes('staff'), JSON.stringify(review.status));
        assert.ok(!review.status.user.groups.includes('system:masters'), JSON.stringify(review.status));
      });

      it('the bind password written back masked is kept for the same directory only', async () => {
        const idp = expectStatus(await s.request('GET', `${AUTH}/identityproviders/dirco`), 200);
        const config = JSON.parse(idp.spec.config);
        assert.equal(config.bindPW, '******');
        const moved = await s.request('PUT', `${AUTH}/identityproviders/dirco`, {
          body: { ...idp, spec: { ...idp.spec, config: JSON.stringify({ ...config, host: '127.0.0.1:1' }) } },
        });
        expectStatus(moved, 422, 'the stored bind password is not sent to a new host');
        const plain = await s.request('PUT', `${AUTH}/identityproviders/dirco`, {
          body: { ...idp, spec: { ...idp.spec, config: JSON.stringify({ ...config, insecureNoSSL: !config.insecureNoSSL }) } },
        });
        if (!config.insecureNoSSL) expectStatus(plain, 422, 'nor over a connection without TLS');
        const same = await s.request('PUT', `${AUTH}/identityproviders/dirco`, { body: { ...idp, spec: { ...idp.spec, displayName: 'Directory Co' } } });
        expectStatus(same, 200);
        await keyFor('larry', 'dirco'); // the directory still takes the kept bind password
      });
    });
  });

  // ---- 2 ------------------------------------------------------------------------------------------
  describe('context headers cannot defeat a deny', () => {
    it('X-TKE-ClusterName and X-TKE-ProjectName change nothing a deny on project:* decides', async () => {
      const prj = uniqueName('prj');
      expectStatus(await s.request('POST', paths.projects, { body: { metadata: { name: prj }, spec: { tenantID: 'default', displayName: 'denied' } } }), 201);
      const { token } = await userWithKey('dana');
      await grant('dana', ['*'], ['*']);
      await grant('dana', ['*'], ['project:*'], 'deny');
      await waitFor('the deny to apply', async () => (await s.request('GET', paths.project(prj), { token })).status === 403);
      const contexts: Array<Record<string, string>> = [{ 'X-TKE-ClusterName': 'anything' }, { 'X-TKE-ClusterName': 'cls-1', 'X-TKE-ProjectName': prj }];
      for (const headers of contexts) {
        expectStatus(await s.request('GET', paths.project(prj), { token, headers }), 403, JSON.stringify(headers));
        expectStatus(await s.request('PATCH', paths.project(prj), { token, headers: { ...headers, ...MERGE }, body: { spec: { displayName: 'x' } } }), 403);
      }
      expectStatus(await s.request('GET', paths.clusters, { token, headers: { 'X-TKE-ClusterName': 'anything' } }), 200, 'what is allowed stays allowed');
    });
  });

  // ---- 3 ------------------------------------------------------------------------------------------
  describe('an apply that creates needs create', () => {
    it('a user allowed get and update only cannot create a cluster by server-side apply; it can update one', async () => {
      const { token } = await userWithKey('gus');
      await grant('gus', ['getCluster', 'listClusters', 'updateCluster'], ['*']);
      const name = uniqueName('cls');
      const body = JSON.stringify(clusterObject(name));
      const created = await s.request('PATCH', `${paths.cluster(name)}?fieldManager=gus`, { token, headers: APPLY, body });
      expectStatus(created, 403);
      expectStatus(await s.request('GET', paths.cluster(name)), 404, 'nothing was created');
      expectStatus(await s.request('POST', paths.clusters, { body: clusterObject(name) }), 201);
      const updated = await s.request('PATCH', `${paths.cluster(name)}?fieldManager=gus&force=true`, {
        token,
        headers: APPLY,
        body: JSON.stringify({ ...clusterObject(name), spec: { ...clusterObject(name).spec, displayName: 'by gus' } }),
      });
      expectStatus(updated, 200);
    });
  });

  // ---- 4 + 9 --------------------------------------------------------------------------------------
  describe('projects: members, parents and quotas', () => {
    const cls = uniqueName('cls');
    const pool = uniqueName('prj-pool');
    const other = uniqueName('prj-other');
    const own = uniqueName('prj-own');
    let olga: string;
    const project = (name: string, members: string[], cpu: string, parent?: string) => ({
      metadata: { name },
      spec: {
        tenantID: 'default',
        displayName: name,
        members,
        ...(parent ? { parentProjectName: parent } : {}),
        clusters: { [cls]: { hard: { 'requests.cpu': cpu } } },
      },
    });
    before(async () => {
      expectStatus(await s.request('POST', paths.clusters, { body: clusterObject(cls) }), 201);
      ({ token: olga } = await userWithKey('olga'));
      for (const p of [project(pool, ['admin'], '100'), project(other, ['admin'], '10'), project(own, ['olga'], '5')]) {
        expectStatus(await s.request('POST', paths.projects, { body: p }), 201);
      }
    });

    it('a user in spec.members owns its project as TKE binds it (project-owner), nothing more', async () => {
      const got = await waitFor('olga to see her project', async () => {
        const r = await s.request('GET', paths.project(own), { token: olga });
        return r.status === 200 ? r.json() : undefined;
      });
      expectStatus(
        await s.request('PATCH', paths.project(own), {
          token: olga,
          headers: MERGE,
          body: { metadata: { resourceVersion: got.metadata.resourceVersion }, spec: { displayName: "Olga's" } },
        }),
        200,
      );
      expectStatus(await s.request('GET', paths.project(other), { token: olga }), 403);
      const users = expectStatus(await s.request('GET', `${AUTH}/projects/${own}/users`), 200);
      assert.ok(
        users.items.some((u: any) => u.spec.name === 'olga' && /project-owner/.test(u.spec.extra.policies)),
        JSON.stringify(users),
      );
    });

    it('a removed member loses the project', async () => {
      const { token: max } = await userWithKey('max');
      const name = uniqueName('prj-team');
      expectStatus(await s.request('POST', paths.projects, { body: project(name, ['max'], '1') }), 201);
      await waitFor('max to see the project', async () => (await s.request('GET', paths.project(name), { token: max })).status === 200);
      expectStatus(await s.request('PATCH', paths.project(name), { headers: MERGE, body: { spec: { members: ['admin'] } } }), 200);
      await waitFor('max to lose the project', async () => (await s.request('GET', paths.project(name), { token: max })).status === 403);
    });

    it('a new project keeps the users of an owner binding that was there before it, and adds its members', async () => {
      const { token: wendy } = await userWithKey('wendy');
      const name = uniqueName('prj-left');
      const bindingName = `${name}-pol-default-project-owner`;
      expectStatus(
        await s.request('POST', `${AUTH}/projectpolicybindings`, {
          body: {
            apiVersion: 'auth.tkestack.io/v1',
            kind: 'ProjectPolicyBinding',
            metadata: { name: bindingName },
            spec: { tenantID: 'default', projectID: name, policyID: 'pol-default-project-owner', users: [{ id: 'olga', name: 'olga' }], groups: [] },
          },
        }),
        201,
      );
      expectStatus(await s.request('POST', paths.projects, { body: project(name, ['wendy'], '1') }), 201);
      const binding = expectStatus(await s.request('GET', `${AUTH}/projectpolicybindings/${bindingName}`), 200);
      assert.deepEqual(
        binding.spec.users.map((u: { name: string }) => u.name),
        ['olga', 'wendy'],
      );
      await waitFor('wendy to see the project', async () => (await s.request('GET', paths.project(name), { token: wendy })).status === 200);
    });

    it('an owner cannot name a parent it has no rights on, nor draw on its quota', async () => {
      const before = expectStatus(await s.request('GET', paths.project(other)), 200);
      const r = await s.request('PATCH', paths.project(own), { token: olga, headers: MERGE, body: { spec: { parentProjectName: other } } });
      expectStatus(r, 403);
      const after = expectStatus(await s.request('GET', paths.project(own)), 200);
      assert.equal(after.spec.parentProjectName ?? '', '', 'the parent is unchanged');
      const otherAfter = await waitFor('other settled', async () => expectStatus(await s.request('GET', paths.project(other)), 200));
      assert.deepEqual(otherAfter.status?.clusters?.[cls]?.used ?? {}, before.status?.clusters?.[cls]?.used ?? {}, 'nothing drawn from the other project');
    });

    it('an owner cannot raise its own top-level quota; a platform administrator can', async () => {
      expectStatus(
        await s.request('PATCH', paths.project(own), {
          token: olga,
          headers: MERGE,
          body: { spec: { clusters: { [cls]: { hard: { 'requests.cpu': '1000' } } } } },
        }),
        403,
      );
      const cur = expectStatus(await s.request('GET', paths.project(own)), 200);
      assert.equal(cur.spec.clusters[cls].hard['requests.cpu'], '5');
      expectStatus(
        await s.request('PATCH', paths.project(own), { headers: MERGE, body: { spec: { clusters: { [cls]: { hard: { 'requests.cpu': '6' } } } } } }),
        200,
      );
    });

    it('with rights on the parent, re-parenting works', async () => {
      const child = uniqueName('prj-child');
      expectStatus(await s.request('POST', paths.projects, { body: project(child, ['olga'], '1') }), 201);
      expectStatus(await s.request('PATCH', paths.project(child), { headers: MERGE, body: { spec: { parentProjectName: pool } } }), 200);
    });

    it('spec.extra.policies of a local identity are bound on create, by whom may bind them', async () => {
      const created = expectStatus(await createUser('nina', { extra: { policies: 'pol-default-platform' } }), 201);
      assert.equal(created.spec.extra?.policies, undefined, 'taken out of the stored object, as TKE does');
      const { token } = await keyFor('nina');
      await waitFor('nina to be a platform user', async () => (await s.request('GET', paths.clusters, { token })).status === 200);
      const { token: otto } = await userWithKey('otto');
      await grant('otto', ['createLocalidentity'], ['*']);
      const r = await createUser('sneaky', { token: otto, extra: { policies: 'pol-default-administrator' } });
      expectStatus(r, 403, 'binding a policy needs the right to bind it');
      const users = expectStatus(await s.request('GET', `${AUTH}/users`), 200);
      assert.ok(!users.items.some((u: any) => u.spec.name === 'sneaky'), 'and nothing was created');
    });

    it("Platform administrators are the tenant's administrators, set by those who may set them", async () => {
      const { token: pam } = await userWithKey('pam');
      expectStatus(await s.request('POST', `${AUTH}/policies/pol-default-viewer/binding`, { body: { users: [{ name: 'pam' }] } }), 201);
      const portalBefore = expectStatus(await s.request('GET', `${BUSINESS}/portal`, { token: pam }), 200);
      assert.equal(portalBefore.administrator, false);
      expectStatus(
        await s.request('POST', `${BUSINESS}/platforms`, {
          body: { metadata: { generateName: 'plat-' }, spec: { tenantID: 'default', administrators: ['pam'] } },
        }),
        201,
      );
      await waitFor('pam to administer the tenant', async () => (await s.request('GET', `${AUTH}/policies`, { token: pam })).status === 200);
      const portal = expectStatus(await s.request('GET', `${BUSINESS}/portal`, { token: pam }), 200);
      assert.equal(portal.administrator, true, 'the portal and the authorizer agree');
      const { token: pete } = await userWithKey('pete');
      await grant('pete', ['*Platform*', '*Platforms*'], ['*']);
      const r = await s.request('POST', `${BUSINESS}/platforms`, {
        token: pete,
        body: { metadata: { generateName: 'plat-' }, spec: { tenantID: 'default', administrators: ['pete'] } },
      });
      expectStatus(r, 403, 'writing platforms does not make one an administrator');
      expectStatus(await s.request('GET', `${AUTH}/policies`, { token: pete }), 403);
    });
  });

  // ---- 5 ------------------------------------------------------------------------------------------
  describe('revocation sticks', () => {
    it('a key disabled by an administrator cannot be re-enabled by its owner', async () => {
      const { token, key } = await userWithKey('hank');
      expectStatus(await s.request('PATCH', `${AUTH}/apikeys/${key}/status`, { headers: MERGE, body: { status: { disabled: true } } }), 200);
      expectStatus(await s.request('GET', `${AUTH}/apikeys`, { token }), 401);
      const { token: second } = await keyFor('hank');
      expectStatus(await s.request('PATCH', `${AUTH}/apikeys/${key}/status`, { token: second, headers: MERGE, body: { status: { disabled: false } } }), 403);
      const put = await s.request('PATCH', `${AUTH}/apikeys/${key}`, { token: second, headers: MERGE, body: { status: { disabled: false } } });
      assert.ok(put.status === 200 || put.status === 403, describeResponse(put));
      expectStatus(await s.request('GET', `${AUTH}/apikeys`, { token }), 401, 'still disabled');
    });

    it('a deleted key stays dead: re-creating its object by apply fails, even for a master', async () => {
      const { token, key } = await userWithKey('kurt');
      const obj = expectStatus(await s.request('GET', `${AUTH}/apikeys/${key}`), 200);
      expectStatus(await s.request('DELETE', `${AUTH}/apikeys/${key}`, { token }), 200);
      const body = JSON.stringify({ apiVersion: 'auth.tkestack.io/v1', kind: 'APIKey', metadata: { name: key }, spec: obj.spec, status: { disabled: false } });
      const byOwner = await s.request('PATCH', `${AUTH}/apikeys/${key}?fieldManager=kurt`, { token, headers: APPLY, body });
      assert.ok(byOwner.status === 401, describeResponse(byOwner));
      const { token: fresh } = await keyFor('kurt');
      const again = await s.request('PATCH', `${AUTH}/apikeys/${key}?fieldManager=kurt`, { token: fresh, headers: APPLY, body });
      assert.ok(again.status === 403 || again.status === 405, describeResponse(again));
      const byMaster = await s.request('PATCH', `${AUTH}/apikeys/${key}?fieldManager=admin`, { headers: APPLY, body });
      expectStatus(byMaster, 405);
      expectStatus(await s.request('GET', `${AUTH}/apikeys`, { token }), 401);
    });

    it("a new user under a deleted user's name does not inherit its keys", async () => {
      const { token, id } = await userWithKey('ivy');
      expectStatus(await s.request('DELETE', `${AUTH}/localidentities/${id}`), 200);
      expectStatus(await createUser('ivy'), 201);
      await waitFor('the old key to be refused', async () => (await s.request('GET', `${AUTH}/apikeys`, { token })).status === 401);
      await new Promise(r => setTimeout(r, 1600));
      expectStatus(await s.request('GET', `${AUTH}/apikeys`, { token }), 401, 'for good');
      await keyFor('ivy'); // the new ivy logs in with keys of her own
    });

    it('keys are issued to tenant identities only, not to anyone named like one', async () => {
      const r = await s.request('POST', `${AUTH}/apikeys`, { body: { apiVersion: 'auth.tkestack.io/v1', kind: 'APIKeyReq', expire: '1h' } });
      expectStatus(r, 400, 'the bootstrap admin is no tenant identity');
    });
  });

  // ---- 6 ------------------------------------------------------------------------------------------
  describe('secrets are not for readers', () => {
    const cls = uniqueName('cls');
    const secrets = ['s3cret-Passw0rd', 'LS0tLS1CRUdJTiBLRVktLS0tLQ==', 'pass-phrase'];
    let reader: string;
    const withMachines = (name: string) => ({
      ...clusterObject(name),
      spec: {
        ...clusterObject(name).spec,
        type: 'Baremetal',
        machines: [
          {
            ip: '10.0.0.1',
            port: 22,
            username: 'root',
            password: b64(secrets[0]),
            privateKey: secrets[1],
            passPhrase: b64(secrets[2]),
            proxy: { ip: '10.0.0.254', port: 22, password: b64('proxy-secret') },
          },
        ],
      },
    });
    const leaks = (text: string) => [...secrets.map(b64), secrets[1], b64('proxy-secret')].filter(v => text.includes(v));

    before(async () => {
      const applied = await s.kubectl(['apply', '-f', tempFile('cluster.json', JSON.stringify(withMachines(cls)))]);
      assert.equal(applied.code, 0, applied.stderr);
      ({ token: reader } = await userWithKey('rita'));
      await grant('rita', ['get*', 'list*', 'watch*'], ['*']);
      await waitFor('rita to read clusters', async () => (await s.request('GET', paths.cluster(cls), { token: reader })).status === 200);
    });

    it("a reader gets masks in GET, LIST, Table includeObject and kubectl's last-applied copy", async () => {
      const got = await s.request('GET', paths.cluster(cls), { token: reader });
      assert.deepEqual(leaks(got.body), [], got.body);
      const m = got.json().spec.machines[0];
      assert.equal(m.password, '******');
      assert.equal(m.privateKey, '******');
      assert.equal(m.proxy.password, '******');
      assert.equal(m.ip, '10.0.0.1', 'the rest is readable');
      assert.ok(got.json().metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'].includes('******'));
      const list = await s.request('GET', paths.clusters, { token: reader });
      assert.deepEqual(leaks(list.body), []);
      const table = await s.request('GET', `${paths.clusters}?includeObject=Object`, {
        token: reader,
        headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
      });
      expectStatus(table, 200);
      assert.deepEqual(leaks(table.body), []);
      assert.ok(table.body.includes('******'));
    });

    it('a reader gets masks in a watch', async () => {
      const w = openWatch({ ...s, token: reader }, `${paths.clusters}?watch=true&fieldSelector=metadata.name=${cls}`);
      try {
        await waitFor('the initial event', () => w.events.length > 0);
        expectStatus(await s.request('PATCH', paths.cluster(cls), { headers: MERGE, body: { spec: { displayName: 'touched' } } }), 200);
        await waitFor('the modification', () => w.events.some(e => e.type === 'MODIFIED'));
        assert.deepEqual(leaks(JSON.stringify(w.events)), []);
      } finally {
        w.close();
      }
    });

    it('who may write the secrets sees them, and writing back the mask keeps them for the same machine only', async () => {
      const full = expectStatus(await s.request('GET', paths.cluster(cls)), 200);
      assert.equal(full.spec.machines[0].password, b64(secrets[0]));
      const masked = await s.request('GET', paths.cluster(cls), { token: reader });
      const back = masked.json();
      delete back.metadata.annotations;
      const kept = await s.request('PUT', paths.cluster(cls), { body: { ...back, spec: { ...back.spec, displayName: 'written back' } } });
      expectStatus(kept, 200);
      const after = expectStatus(await s.request('GET', paths.cluster(cls)), 200);
      assert.equal(after.spec.machines[0].password, b64(secrets[0]), 'the stored password is kept');
      assert.equal(after.spec.machines[0].proxy.password, b64('proxy-secret'));
      const moved = structuredClone(after);
      moved.spec.machines[0].ip = '203.0.113.66';
      moved.spec.machines[0].password = '******';
      expectStatus(await s.request('PUT', paths.cluster(cls), { body: moved }), 422, 'the mask does not follow the machine to a new address');
    });

    it("a changed import address does not keep the chart group's stored password", async () => {
      const name = uniqueName('cg');
      expectStatus(
        await s.request('POST', '/apis/registry.tkestack.io/v1/chartgroups', {
          body: {
            metadata: { name },
            spec: {
              name,
              tenantID: 'default',
              displayName: 'import',
              visibility: 'Public',
              type: 'Imported',
              importedInfo: { addr: 'https://charts.example.com', username: 'u', password: 'import-secret' },
            },
          },
        }),
        201,
      );
      const pool = new pg.Pool({ connectionString: s.databaseUrl });
      try {
        const stored = async () =>
          (await pool.query(`SELECT obj FROM objects WHERE resource = 'chartgroups' AND name = $1`, [name])).rows[0].obj.spec.importedInfo;
        assert.ok((await stored()).password, 'sealed and stored');
        const first = await waitFor('the chart group to settle', async () => {
          const r = expectStatus(await s.request('GET', `/apis/registry.tkestack.io/v1/chartgroups/${name}`), 200);
          return r.status?.phase === 'Available' ? r : undefined;
        });
        expectStatus(
          await s.request('PUT', `/apis/registry.tkestack.io/v1/chartgroups/${name}`, {
            body: { ...first, spec: { ...first.spec, displayName: 'same repo' } },
          }),
          200,
        );
        assert.ok((await stored()).password, 'kept for the same repository');
        const cur = expectStatus(await s.request('GET', `/apis/registry.tkestack.io/v1/chartgroups/${name}`), 200);
        expectStatus(
          await s.request('PUT', `/apis/registry.tkestack.io/v1/chartgroups/${name}`, {
            body: { ...cur, spec: { ...cur.spec, importedInfo: { ...cur.spec.importedInfo, addr: 'https://evil.example.com' } } },
          }),
          200,
        );
        assert.equal((await stored()).password, undefined, 'not kept for another repository');
      } finally {
        await pool.end();
      }
    });
  });

  // ---- 7 ------------------------------------------------------------------------------------------
  describe('dry run changes nothing', () => {
    it('apikeys/default/password and apikeys with dryRun=All answer without a key and store none', async () => {
      const { token } = await userWithKey('dryden');
      const count = async () => expectStatus(await s.request('GET', `${AUTH}/apikeys`, { token }), 200).items.length;
      const before = await count();
      const dry = expectStatus(await login('dryden', 'default', '?dryRun=All'), 201);
      assert.equal(dry.spec.apiKey, undefined, 'no working key');
      const mine = expectStatus(
        await s.request('POST', `${AUTH}/apikeys?dryRun=All`, { token, body: { apiVersion: 'auth.tkestack.io/v1', kind: 'APIKeyReq', expire: '1h' } }),
        201,
      );
      assert.equal(mine.spec.apiKey, undefined);
      await new Promise(r => setTimeout(r, 300));
      assert.equal(await count(), before, 'nothing stored');
    });
  });

  // ---- 8 ------------------------------------------------------------------------------------------
  describe('no cross-tenant oracles, no shared objects writable by tenants', () => {
    let mallory: string;
    before(async () => {
      mallory = (await keyFor('mallory', 'evil')).token;
    });

    it("a tenant admin's TokenReview and SubjectAccessReview answer only about its own tenant", async () => {
      const { token: victim } = await userWithKey('victor');
      await grant('victor', ['*'], ['*']);
      const tr = expectStatus(
        await s.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { token: mallory, body: { spec: { token: victim } } }),
        201,
      );
      assert.equal(tr.status.authenticated, false, JSON.stringify(tr.status));
      assert.equal(tr.status.user, undefined);
      const sar = expectStatus(
        await s.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          token: mallory,
          body: {
            spec: {
              user: 'victor',
              extra: { tenantid: ['default'] },
              resourceAttributes: { verb: 'get', group: 'business.tkestack.io', resource: 'projects' },
            },
          },
        }),
        201,
      );
      assert.equal(sar.status.allowed, false, JSON.stringify(sar.status));
      await waitFor("victor's grant", async () => (await s.request('GET', paths.projects, { token: victim })).status === 200);
      const master = expectStatus(
        await s.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          body: {
            spec: {
              user: 'victor',
              extra: { tenantid: ['default'] },
              resourceAttributes: { verb: 'get', group: 'business.tkestack.io', resource: 'projects' },
            },
          },
        }),
        201,
      );
      assert.equal(master.status.allowed, true, 'a platform master still gets answers');
    });

    it('shared categories are changed by platform masters only', async () => {
      const cats = expectStatus(await s.request('GET', `${AUTH}/categories`, { token: mallory }), 200);
      assert.ok(cats.items.length > 0);
      const name = cats.items[0].metadata.name;
      expectStatus(
        await s.request('PATCH', `${AUTH}/categories/${name}`, { token: mallory, headers: MERGE, body: { metadata: { labels: { pwned: 'yes' } } } }),
        403,
      );
      expectStatus(await s.request('DELETE', `${AUTH}/categories/${name}`, { token: mallory }), 403);
      const cat = expectStatus(await s.request('GET', `${AUTH}/categories/${name}`), 200);
      assert.equal(cat.metadata.labels?.pwned, undefined);
    });
  });

  // ---- 12 -----------------------------------------------------------------------------------------
  describe('bounded side effects of anonymous traffic', () => {
    /** A login from another loopback address: the server sees it as another source. */
    function loginFrom(source: string, username: string, password: string, tenantID = 'default'): Promise<number> {
      const body = JSON.stringify({ tenantID, username, password: b64(password) });
      return new Promise((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port: s.port,
            localAddress: source,
            method: 'POST',
            path: `${AUTH}/apikeys/default/password`,
            headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
            ca: s.caPEM,
            checkServerIdentity: () => undefined,
            agent: false,
          },
          res => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    }

    it('huge and made-up names are refused before anything is written', async () => {
      const pool = new pg.Pool({ connectionString: s.databaseUrl });
      try {
        const rows = async () => (await pool.query('SELECT count(*)::int AS n FROM auth_login_failures')).rows[0].n;
        const before = await rows();
        expectStatus(
          await s.request('POST', `${AUTH}/apikeys/default/password`, {
            token: null,
            body: { tenantID: 'default', username: 'x'.repeat(8192), password: b64('whatever') },
          }),
          401,
        );
        expectStatus(
          await s.request('POST', `${AUTH}/apikeys/default/password`, {
            token: null,
            body: { tenantID: uniqueName('no-such-tenant'), username: 'someone', password: b64('whatever') },
          }),
          401,
        );
        assert.equal(await rows(), before, 'no throttle row for either');
      } finally {
        await pool.end();
      }
    });

    it('an unreachable directory answers 503 with no stack trace, and costs nobody an attempt', async () => {
      const closed = {
        host: '127.0.0.1:1',
        insecureNoSSL: true,
        bindDN: 'cn=admin,dc=example,dc=org',
        bindPW: 'x',
        userSearch: { baseDN: 'dc=example,dc=org', username: 'uid' },
      };
      expectStatus(
        await s.request('POST', `${AUTH}/identityproviders`, {
          body: { metadata: { name: 'downco' }, spec: { name: 'downco', type: 'ldap', administrators: [], config: JSON.stringify(closed) } },
        }),
        201,
      );
      for (let i = 0; i < 8; i++) {
        const r = await s.request('POST', `${AUTH}/apikeys/default/password`, {
          token: null,
          body: { tenantID: 'downco', username: 'someone', password: b64(PASSWORD) },
        });
        const st = expectStatus(r, 503, `attempt ${i}`);
        assert.equal(st.reason, 'ServiceUnavailable');
        assert.ok(!r.body.includes('127.0.0.1:1') && !/at \w+ \(/.test(r.body), 'neither where the directory is nor a stack');
      }
      expectStatus(await s.request('GET', `${AUTH}/users?fieldSelector=spec.tenantID=downco`), 503);
      assert.ok(!/"level":50.*downco|request failed/.test(s.logs()), 'nothing logged at error level');
    });

    it("guesses from one address lock out that address, not the user's own machine", async () => {
      await createUser('ursula');
      assert.equal(await loginFrom('127.0.0.3', 'ursula', PASSWORD), 201, 'the user logs in from home');
      const attacker: number[] = [];
      for (let i = 0; i < 8; i++) attacker.push(await loginFrom('127.0.0.2', 'ursula', 'Wrong-guess-1'));
      assert.ok(attacker.includes(429), `the guessing address is throttled: ${attacker}`);
      assert.equal(await loginFrom('127.0.0.2', 'ursula', PASSWORD), 429, 'even with the right password, from there');
      assert.equal(await loginFrom('127.0.0.3', 'ursula', PASSWORD), 201, 'home still works');
    });
  });
});
