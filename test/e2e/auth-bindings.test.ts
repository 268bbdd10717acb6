// e2e: every binding and view subresource of auth.tkestack.io that TKE's rest.go lists, writes of
// bindings going through the generic store (managedFields, dryRun), rules as a view of what the
// authorizer enforces, and tenant-partitioned names that never reveal another tenant's objects.
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse } from '../support/http.ts';
import { paths, projectObject, uniqueName } from '../support/fixtures.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const PASSWORD = 'Passw0rd123';

describe('e2e: auth binding subresources', function () {
  this.timeout(180_000);
  let s: TestServer;
  let project: string;

  before(async function () {
    s = await startServer();
    project = uniqueName('prj');
    const p = await s.request('POST', paths.projects, { body: projectObject(project) });
    assert.equal(p.status, 201, describeResponse(p));
  });
  after(async () => {
    await s?.stop().catch(() => undefined);
  });

  async function createUser(username: string, tenant = 'default'): Promise<string> {
    const res = await s.request('POST', `${AUTH}/localidentities`, {
      body: { metadata: { generateName: 'usr-' }, spec: { username, displayName: username, hashedPassword: b64(PASSWORD), tenantID: tenant } },
    });
    assert.equal(res.status, 201, describeResponse(res));
    return res.json().metadata.name;
  }

  async function keyFor(username: string, tenant = 'default'): Promise<string> {
    const res = await s.request('POST', `${AUTH}/apikeys/default/password`, {
      token: null,
      body: { tenantID: tenant, username, password: b64(PASSWORD), expire: '1h' },
    });
    assert.equal(res.status, 201, describeResponse(res));
    return res.json().spec.apiKey;
  }

  async function get(path: string, headers?: Record<string, string>, token?: string) {
    const r = await s.request('GET', path, { headers, token });
    assert.equal(r.status, 200, `${path}: ${describeResponse(r)}`);
    return r.json();
  }

  const names = (list: any) => list.items.map((i: any) => i.metadata.name).sort();

  describe('policies/projectbinding, projectunbinding, projectusers, projectgroups, roles', () => {
    const policy = 'pol-default-project-viewer';
    const hdr = () => ({ 'X-TKE-ProjectName': project });

    it("binds a project policy in the header's project and lists its users and groups", async () => {
      const bind = await s.request('POST', `${AUTH}/policies/${policy}/projectbinding?fieldManager=binder`, {
        headers: hdr(),
        body: { apiVersion: 'auth.tkestack.io/v1', kind: 'Binding', users: [{ id: 'pbu', name: 'pbu' }], groups: [{ id: 'pbg', name: 'pbg' }] },
      });
      assert.equal(bind.status, 201, describeResponse(bind));
      assert.equal(bind.json().kind, 'ProjectPolicyBinding');
      assert.equal(bind.json().metadata.name, `${project}-${policy}`);
      assert.ok(
        bind.json().metadata.managedFields.some((m: any) => m.manager === 'binder'),
        "written through the store: managedFields name the request's fieldManager",
      );
      const users = await get(`${AUTH}/policies/${policy}/projectusers`, hdr());
      assert.equal(users.kind, 'UserList');
      assert.deepEqual(names(users), ['pbu']);
      const groups = await get(`${AUTH}/policies/${policy}/projectgroups`, hdr());
      assert.equal(groups.kind, 'GroupList');
      assert.deepEqual(names(groups), ['pbg']);
      const members = await get(`${AUTH}/projects/${project}`);
      assert.equal(members.members.pbu, 'pbu');

      const unbind = await s.request('POST', `${AUTH}/policies/${policy}/projectunbinding`, { headers: hdr(), body: { users: [{ id: 'pbu', name: 'pbu' }] } });
      assert.equal(unbind.status, 201, describeResponse(unbind));
      assert.deepEqual(names(await get(`${AUTH}/policies/${policy}/projectusers`, hdr())), []);
    });

    it('refuses a missing header, a platform policy, and an invisible project', async () => {
      const noHeader = await s.request('POST', `${AUTH}/policies/${policy}/projectbinding`, { body: { users: [{ id: 'x', name: 'x' }] } });
      assert.equal(noHeader.status, 400, describeResponse(noHeader));
      const platform = await s.request('POST', `${AUTH}/policies/pol-default-viewer/projectbinding`, {
        headers: hdr(),
        body: { users: [{ id: 'x', name: 'x' }] },
      });
      assert.equal(platform.status, 400, describeResponse(platform));
      const asPlatform = await s.request('POST', `${AUTH}/policies/${policy}/binding`, { body: { users: [{ id: 'x', name: 'x' }] } });
      assert.equal(asPlatform.status, 400, 'TKE: a project policy is bound with projectbinding');
      const missing = await s.request('POST', `${AUTH}/policies/${policy}/projectbinding`, {
        headers: { 'X-TKE-ProjectName': 'prj-nonexistent' },
        body: { users: [{ id: 'x', name: 'x' }] },
      });
      assert.equal(missing.status, 404, describeResponse(missing));
    });

    it('policies/roles lists the roles holding the policy, per project domain', async () => {
      const role = await s.request('POST', `${AUTH}/roles`, { body: { spec: { displayName: 'r1', tenantID: 'default', policies: ['pol-default-viewer'] } } });
      assert.equal(role.status, 201, describeResponse(role));
      const roles = await get(`${AUTH}/policies/pol-default-viewer/roles`);
      assert.equal(roles.kind, 'RoleList');
      assert.ok(names(roles).includes(role.json().metadata.name));
      assert.ok(
        !names(await get(`${AUTH}/policies/pol-default-viewer/roles`, hdr())).includes(role.json().metadata.name),
        'a platform role is not in the project domain',
      );
    });
  });

  describe('binding writes go through the store', () => {
    it('dryRun=All binds nothing, yet answers what would be stored', async () => {
      const pol = await s.request('POST', `${AUTH}/policies`, {
        body: { spec: { displayName: 'dry', tenantID: 'default', statement: { actions: ['get*'], resources: ['*'], effect: 'allow' } } },
      });
      assert.equal(pol.status, 201, describeResponse(pol));
      const name = pol.json().metadata.name;
      const rv = pol.json().metadata.resourceVersion;
      const dry = await s.request('POST', `${AUTH}/policies/${name}/binding?dryRun=All`, { body: { users: [{ id: 'dryuser', name: 'dryuser' }] } });
      assert.equal(dry.status, 201, describeResponse(dry));
      assert.ok(
        dry.json().status.users.some((u: any) => u.name === 'dryuser'),
        'the answer shows the binding',
      );
      const after = await get(`${AUTH}/policies/${name}`);
      assert.equal(after.metadata.resourceVersion, rv, 'nothing was written');
      assert.ok(!(after.status.users ?? []).some((u: any) => u.name === 'dryuser'));

      const dryProject = await s.request('POST', `${AUTH}/projects/${project}/binding?dryRun=All`, {
        body: { policies: ['pol-default-project-member'], users: [{ id: 'dryp', name: 'dryp' }] },
      });
      assert.equal(dryProject.status, 201, describeResponse(dryProject));
      assert.equal(dryProject.json().kind, 'ProjectPolicyBindingList', 'TKE answers the bindings written');
      assert.deepEqual(
        dryProject.json().items.map((b: any) => b.metadata.name),
        [`${project}-pol-default-project-member`],
      );
      assert.ok(
        dryProject.json().items[0].spec.users.some((u: any) => u.id === 'dryp'),
        'the answer shows the would-be member',
      );
      assert.equal((await get(`${AUTH}/projects/${project}`)).members.dryp, undefined, 'no member was added');
      assert.equal((await s.request('GET', `${AUTH}/projectpolicybindings/${project}-pol-default-project-member`)).status, 404, 'no binding was created');

      const dryRole = await s.request('POST', `${AUTH}/roles`, { body: { spec: { displayName: 'dryrole', tenantID: 'default' } } });
      const roleName = dryRole.json().metadata.name;
      const pb = await s.request('POST', `${AUTH}/roles/${roleName}/policybinding?dryRun=All`, { body: { policies: ['pol-default-viewer'] } });
      assert.equal(pb.status, 201, describeResponse(pb));
      assert.deepEqual(pb.json().spec.policies, ['pol-default-viewer']);
      assert.deepEqual((await get(`${AUTH}/roles/${roleName}`)).spec.policies ?? [], []);
    });

    it('a real binding records the field manager and is visible to the authorizer', async () => {
      await createUser('boundviewer');
      const t = await keyFor('boundviewer');
      assert.equal((await s.request('GET', paths.clusters, { token: t })).status, 403);
      const pol = await s.request('POST', `${AUTH}/policies?fieldManager=creator`, {
        body: { spec: { displayName: 'clusters', tenantID: 'default', statement: { actions: ['*Cluster*'], resources: ['*'], effect: 'allow' } } },
      });
      assert.equal(pol.status, 201, describeResponse(pol));
      const b = await s.request('POST', `${AUTH}/policies/${pol.json().metadata.name}/binding?fieldManager=console`, {
        body: { users: [{ id: 'boundviewer', name: 'boundviewer' }] },
      });
      assert.equal(b.status, 201, describeResponse(b));
      assert.ok(b.json().metadata.managedFields, JSON.stringify(b.json().metadata));
      assert.ok(b.json().metadata.managedFields.some((m: any) => m.manager === 'console' && m.subresource === 'status'));
      assert.equal((await s.request('GET', paths.clusters, { token: t })).status, 200);
    });
  });

  describe('views of users, groups, local identities and projects', () => {
    let gname: string;
    let liName: string;
    before(async () => {
      liName = await createUser('viewme');
      const g = await s.request('POST', `${AUTH}/localgroups`, { body: { spec: { displayName: 'viewers', tenantID: 'default' } } });
      assert.equal(g.status, 201, describeResponse(g));
      gname = g.json().metadata.name;
      assert.equal((await s.request('POST', `${AUTH}/localgroups/${gname}/binding`, { body: { users: [{ id: liName, name: 'viewme' }] } })).status, 201);
      assert.equal((await s.request('POST', `${AUTH}/policies/pol-default-viewer/binding`, { body: { groups: [{ id: gname, name: gname }] } })).status, 201);
      const role = await s.request('POST', `${AUTH}/roles`, {
        body: { spec: { displayName: 'grouprole', tenantID: 'default', policies: ['pol-default-viewer'] } },
      });
      assert.equal(
        (await s.request('POST', `${AUTH}/roles/${role.json().metadata.name}/binding`, { body: { groups: [{ id: gname, name: gname }] } })).status,
        201,
      );
      const pb = await s.request('POST', `${AUTH}/projects/${project}/binding`, {
        body: { policies: ['pol-default-project-owner'], users: [{ id: liName, name: 'viewme' }] },
      });
      assert.equal(pb.status, 201, describeResponse(pb));
    });

    it('policies/users and localgroups/users show the full users the bindings name', async () => {
      const li = await s.request('POST', `${AUTH}/localidentities`, {
        body: {
          metadata: { generateName: 'usr-' },
          spec: { username: 'fullview', displayName: 'Full View', email: 'fv@example.org', hashedPassword: b64(PASSWORD) },
        },
      });
      assert.equal(li.status, 201, describeResponse(li));
      const id = li.json().metadata.name;
      const pol = await s.request('POST', `${AUTH}/policies`, {
        body: { spec: { displayName: 'fullview-pol', tenantID: 'default', statement: { actions: ['getCluster'], resources: ['*'], effect: 'allow' } } },
      });
      assert.equal(pol.status, 201, describeResponse(pol));
      const polName = pol.json().metadata.name;
      const bind = await s.request('POST', `${AUTH}/policies/${polName}/binding`, { body: { users: [{ id }, { id: 'ghost', name: 'ghost' }] } });
      assert.equal(bind.status, 201, describeResponse(bind));
      const users = await get(`${AUTH}/policies/${polName}/users`);
      const full = users.items.find((u: any) => u.metadata.name === id);
      assert.equal(full.spec.name, 'fullview');
      assert.equal(full.spec.displayName, 'Full View');
      assert.equal(full.spec.email, 'fv@example.org');
      const ghost = users.items.find((u: any) => u.metadata.name === 'ghost');
      assert.deepEqual(ghost.spec, { id: 'ghost', name: 'ghost', tenantID: 'default' }, 'an unknown subject is shown as the binding names it');
    });

    it('localidentities/groups lists the local groups of the identity', async () => {
      const groups = await get(`${AUTH}/localidentities/${liName}/groups`);
      assert.equal(groups.kind, 'GroupList');
      assert.deepEqual(names(groups), [gname]);
    });

    it('groups/policies and groups/roles, and localgroups/roles', async () => {
      const pols = await get(`${AUTH}/groups/${gname}/policies`);
      assert.equal(pols.kind, 'PolicyList');
      assert.ok(names(pols).includes('pol-default-viewer'));
      const roles = await get(`${AUTH}/groups/${gname}/roles`);
      assert.equal(roles.kind, 'RoleList');
      assert.equal(roles.items.length, 1);
      assert.deepEqual(names(await get(`${AUTH}/localgroups/${gname}/roles`)), names(roles));
      assert.equal((await s.request('GET', `${AUTH}/groups/grp-none/policies`)).status, 404);
    });

    it("users/projects answers TKE's ProjectBelongs", async () => {
      const belongs = await get(`${AUTH}/users/viewme/projects`);
      assert.equal(belongs.kind, 'ProjectBelongs');
      assert.equal(belongs.tenantID, 'default');
      assert.deepEqual(belongs.managedProjects[project], ['pol-default-project-owner']);
      assert.ok(belongs.memberdProjects[project].includes('pol-default-project-owner'));
    });

    it('projects/users and projects/groups list members with their policies, and POST sets them', async () => {
      const users = await get(`${AUTH}/projects/${project}/users`);
      assert.equal(users.kind, 'UserList');
      const me = users.items.find((u: any) => u.metadata.name === liName);
      assert.ok(me, JSON.stringify(users));
      assert.deepEqual(JSON.parse(me.spec.extra.policies), { 'pol-default-project-owner': 'ProjectAdmin' });

      const set = await s.request('POST', `${AUTH}/projects/${project}/groups`, {
        body: { policies: ['pol-default-project-viewer'], groups: [{ id: gname, name: gname }] },
      });
      assert.equal(set.status, 201, describeResponse(set));
      assert.equal(set.json().kind, 'ProjectPolicyBindingList');
      const groups = await get(`${AUTH}/projects/${project}/groups`);
      assert.equal(groups.kind, 'GroupList');
      assert.deepEqual(JSON.parse(groups.items.find((g: any) => g.metadata.name === gname).spec.extra.policies), {
        'pol-default-project-viewer': 'ProjectViewer',
      });

      const reset = await s.request('POST', `${AUTH}/projects/${project}/users`, {
        body: { policies: ['pol-default-project-member'], users: [{ id: liName, name: 'viewme' }] },
      });
      assert.equal(reset.status, 201, describeResponse(reset));
      const after = (await get(`${AUTH}/projects/${project}/users`)).items.find((u: any) => u.metadata.name === liName);
      assert.deepEqual(Object.keys(JSON.parse(after.spec.extra.policies)), ['pol-default-project-member'], 'the owner policy was unbound');
    });

    it('apikeys/token issues a key for the caller', async () => {
      const t = await keyFor('viewme');
      const r = await s.request('POST', `${AUTH}/apikeys/default/token`, {
        token: t,
        body: { apiVersion: 'auth.tkestack.io/v1', kind: 'APIKeyReq', description: 'via token', expire: '1h' },
      });
      assert.equal(r.status, 201, describeResponse(r));
      assert.equal(r.json().kind, 'APIKey');
      assert.equal(r.json().spec.username, 'viewme');
      assert.ok(r.json().spec.apiKey);
      assert.equal((await s.request('POST', `${AUTH}/apikeys/default/token`, { token: null, body: {} })).status, 401);
    });

    it('finalize subresources of the stored kinds answer PUT', async () => {
      const pol = await get(`${AUTH}/policies/pol-default-viewer`);
      const r = await s.request('PUT', `${AUTH}/policies/pol-default-viewer/finalize`, { body: { ...pol, spec: { ...pol.spec, finalizers: [] } } });
      assert.equal(r.status, 200, describeResponse(r));
    });

    it("the bindings' status subresource owns TKE's `Status` field, and the main resource keeps it", async () => {
      const created = await s.request('POST', `${AUTH}/custompolicybindings`, {
        body: { metadata: { generateName: 'cpb-default-' }, spec: { policyID: 'pol-default-viewer', users: [{ id: 'st', name: 'st' }] } },
      });
      assert.equal(created.status, 201, describeResponse(created));
      const name = created.json().metadata.name;
      const path = `${AUTH}/custompolicybindings/${name}`;
      const patched = await s.request('PATCH', `${path}/status`, {
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { Status: { phase: 'Terminating' }, spec: { users: [] } },
      });
      assert.equal(patched.status, 200, describeResponse(patched));
      assert.equal(patched.json().Status.phase, 'Terminating');
      assert.deepEqual(patched.json().spec.users, [{ id: 'st', name: 'st' }], 'the status subresource leaves spec alone');
      const viaMain = await s.request('PATCH', path, {
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { Status: { phase: 'Active' }, spec: { domain: 'd1' } },
      });
      assert.equal(viaMain.status, 200, describeResponse(viaMain));
      assert.equal(viaMain.json().spec.domain, 'd1');
      assert.equal(viaMain.json().Status.phase, 'Terminating', 'the main resource cannot change Status');
      assert.equal((await get(`${path}/status`)).Status.phase, 'Terminating');
      const ppb = await s.request('GET', `${AUTH}/projectpolicybindings/${project}-pol-default-project-viewer/status`);
      assert.equal(ppb.status, 200, describeResponse(ppb));
      assert.equal(ppb.json().Status.phase, 'Active');
    });
  });

  describe('rules', () => {
    it('lists casbin rules computed from policies and bindings, and cannot be written', async () => {
      await s.request('POST', `${AUTH}/policies/pol-default-viewer/binding`, { body: { users: [{ id: 'ruleuser', name: 'ruleuser' }] } });
      const rules = await get(`${AUTH}/rules`);
      assert.equal(rules.kind, 'RuleList');
      const specs = rules.items.map((r: any) => r.spec);
      assert.ok(
        specs.some((r: any) => r.ptype === 'g' && r.v0 === 'default##user##ruleuser' && r.v1 === 'pol-default-viewer' && r.v2 === '*'),
        'the binding is a g rule',
      );
      assert.ok(
        specs.some((r: any) => r.ptype === 'p' && r.v0 === 'pol-default-viewer'),
        "the policy's statement is p rules",
      );
      assert.ok(
        specs.some((r: any) => r.ptype === 'g' && r.v1 === 'pol-default-project-member' && r.v2 === project),
        'project bindings are g rules in the project domain',
      );
      const one = await get(`${AUTH}/rules/${rules.items[0].metadata.name}`);
      assert.deepEqual(one.spec, rules.items[0].spec);
      const w = await s.request('POST', `${AUTH}/rules`, { body: { metadata: { name: 'x' }, spec: { ptype: 'p' } } });
      assert.equal(w.status, 405, describeResponse(w));
      await s.request('POST', `${AUTH}/policies/pol-default-viewer/unbinding`, { body: { users: [{ id: 'ruleuser', name: 'ruleuser' }] } });
      const gone = (await get(`${AUTH}/rules`)).items.map((r: any) => r.spec);
      assert.ok(!gone.some((r: any) => r.v0 === 'default##user##ruleuser'), 'an unbinding removes the rule');
    });
  });

  describe('tenant-partitioned names', () => {
    let tokenC: string;
    before(async () => {
      const idp = await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name: 'tenant-c' }, spec: { name: 'tenant-c', type: 'local', administrators: ['cboss'], config: '' } },
      });
      assert.equal(idp.status, 201, describeResponse(idp));
      await createUser('cboss', 'tenant-c');
      tokenC = await keyFor('cboss', 'tenant-c');
    });

    const policyBody = (name?: string) => ({
      metadata: name ? { name } : {},
      spec: { displayName: 'x', statement: { actions: ['get*'], resources: ['*'], effect: 'allow' } },
    });

    it('generated names carry the tenant', async () => {
      const r = await s.request('POST', `${AUTH}/policies`, { token: tokenC, body: policyBody() });
      assert.equal(r.status, 201, describeResponse(r));
      assert.match(r.json().metadata.name, /^pol-tenant-c-/);
      assert.equal(r.json().spec.tenantID, 'tenant-c');
      const g = await s.request('POST', `${AUTH}/localgroups`, { token: tokenC, body: { metadata: { generateName: 'grp-' }, spec: { displayName: 'g' } } });
      assert.match(g.json().metadata.name, /^grp-tenant-c-/);
    });

    it('a name taken in another tenant is refused exactly like a free one: 422, never 409', async () => {
      const taken = await s.request('POST', `${AUTH}/policies`, { body: policyBody('pol-default-custom-taken') });
      assert.equal(taken.status, 201, describeResponse(taken));
      const onTaken = await s.request('POST', `${AUTH}/policies`, { token: tokenC, body: policyBody('pol-default-custom-taken') });
      const onFree = await s.request('POST', `${AUTH}/policies`, { token: tokenC, body: policyBody('pol-default-custom-free') });
      assert.equal(onTaken.status, 422, describeResponse(onTaken));
      assert.equal(onFree.status, 422, describeResponse(onFree));
      assert.equal(
        onTaken.json().message.replaceAll('taken', 'X'),
        onFree.json().message.replaceAll('free', 'X'),
        'the same answer, whether the name exists or not',
      );
      const seeded = await s.request('POST', `${AUTH}/policies`, { token: tokenC, body: policyBody('pol-default-administrator') });
      assert.equal(seeded.status, 422, describeResponse(seeded));
    });

    it("names inside the own partition work; a 409 there can only be the tenant's own object", async () => {
      const mine = await s.request('POST', `${AUTH}/policies`, { token: tokenC, body: policyBody('pol-tenant-c-mine') });
      assert.equal(mine.status, 201, describeResponse(mine));
      const again = await s.request('POST', `${AUTH}/policies`, { token: tokenC, body: policyBody('pol-tenant-c-mine') });
      assert.equal(again.status, 409, describeResponse(again));
    });

    it("a master may not put another tenant's object into a tenant's partition, nor create overlapping tenant IDs", async () => {
      const r = await s.request('POST', `${AUTH}/policies`, {
        body: { ...policyBody('pol-tenant-c-squatter'), spec: { ...policyBody().spec, tenantID: 'default' } },
      });
      assert.equal(r.status, 422, describeResponse(r));
      const idp = await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name: 'tenant-c-x' }, spec: { name: 'tenant-c-x', type: 'local', administrators: ['x'], config: '' } },
      });
      assert.equal(idp.status, 422, describeResponse(idp));
    });

    it('a tenant sees only its own rules', async () => {
      const rules = await get(`${AUTH}/rules`, undefined, tokenC);
      assert.ok(rules.items.length > 0);
      assert.ok(rules.items.every((r: any) => r.metadata.labels['auth.tkestack.io/tenant'] === 'tenant-c'));
    });
  });
});
