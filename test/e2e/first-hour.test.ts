// e2e: the first hour of a new user, as the README walks it: start the server, `kubectl get tke`,
// look at what the server computes, import a cluster that cannot be reached and `kubectl
// describe` it. And what that relies on: Events kept to their tenant, swept after --event-ttl, and
// a start-up that says what it is doing.
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, type HttpResponse } from '../support/http.ts';
import { describeRun, type KubectlResult } from '../support/kubectl.ts';
import { clusterObject, paths, projectObject, uniqueName } from '../support/fixtures.ts';
import { parseTables } from '../support/tables.ts';
import { waitFor } from '../support/wait.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const PLATFORM = '/apis/platform.tkestack.io/v1';
const EVENTS = '/api/v1/events';
const PASSWORD = Buffer.from('Passw0rd123').toString('base64');
const TTL_SECONDS = 6;

/** What the README says `kubectl get tke` shows: what a platform team manages day to day. */
const tkeCategory = [
  'clusters.platform.tkestack.io',
  'machines.platform.tkestack.io',
  'projects.business.tkestack.io',
  'namespaces.business.tkestack.io',
  'users.auth.tkestack.io',
  'groups.auth.tkestack.io',
  'identityproviders.auth.tkestack.io',
  'apikeys.auth.tkestack.io',
  'namespaces.registry.tkestack.io',
  'repositories.registry.tkestack.io',
  'chartgroups.registry.tkestack.io',
];

describe('e2e: the first hour (README: kubectl get tke, describe, events)', function () {
  this.timeout(180_000);
  let s: TestServer;

  before(async function () {
    // As `npm start` runs it, with a short event TTL and frequent probes so the test need not wait.
    s = await startServer({ args: ['--print-kubectl', `--event-ttl=${TTL_SECONDS}s`, '--cluster-health-check-period=2'] });
  });
  after(async () => {
    await s?.stop();
  });

  const expectStatus = (res: HttpResponse, code: number, why = ''): any => {
    assert.equal(res.status, code, `${why} ${describeResponse(res)}`);
    return res.body ? res.json() : undefined;
  };

  /** An Imported cluster whose kube-apiserver is 127.0.0.1:1 (nothing listens), in `tenant`. */
  async function unreachableCluster(tenant: string, token?: string): Promise<string> {
    const name = uniqueName('cls');
    expectStatus(
      await s.request('POST', `${PLATFORM}/clustercredentials`, {
        token,
        body: { apiVersion: 'platform.tkestack.io/v1', kind: 'ClusterCredential', metadata: { name: `cc-${name}` }, tenantID: tenant, token: 'any-token' },
      }),
      201,
    );
    expectStatus(
      await s.request('POST', `${PLATFORM}/clusters`, {
        token,
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'Cluster',
          metadata: { name },
          spec: { tenantID: tenant, displayName: name, type: 'Imported', clusterCredentialRef: { name: `cc-${name}` } },
          status: { addresses: [{ type: 'Real', host: '127.0.0.1', port: 1 }] },
        },
      }),
      201,
    );
    return name;
  }

  const eventsAbout = async (name: string, token?: string) =>
    expectStatus(await s.request('GET', `${EVENTS}?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`, { token }), 200).items as any[];

  it('start-up says what it does and how long each step took', async function () {
    // The controllers start once the server answers, which is when startServer returns.
    await waitFor('the controllers to be started', () => s.logs().includes('starting the controllers: done in'), 10_000);
    const logs = s.logs();
    for (const line of [
      'opening the database and applying migrations...',
      /applied \d+ database migrations/,
      /opening the database and applying migrations: done in \d+\.\ds/,
      'first start: making the certificates, the admin credentials and the default tenant',
      /seeding the default tenant \(policies, categories\) and preparing the API groups: done in \d+\.\ds/,
      /compiling the schemas of \d+ kinds: done in/,
      /serving \(started in \d+\.\ds\)/,
      /starting the controllers: done in/,
      'kubectl get tke',
    ]) {
      assert.ok(typeof line === 'string' ? logs.includes(line) : line.test(logs), `start-up output lacks ${line}\n${logs.slice(-6000)}`);
    }
  });

  it('kubectl get tke on a fresh server is short, and every AGE is known', async function () {
    const r = await s.kubectlOK(['get', 'tke']);
    const lines = r.stdout.split('\n').filter(l => l.trim());
    assert.ok(lines.length > 1 && lines.length < 40, `${lines.length} lines:\n${r.stdout}`);
    assert.ok(r.stdout.includes('identityprovider.auth.tkestack.io/default'), r.stdout);
    assert.ok(!r.stdout.includes('<unknown>'), r.stdout);
    for (const t of parseTables(r.stdout))
      assert.ok(
        t.rows.every(row => /^\d+[smhdy]/.test(row.AGE)),
        JSON.stringify(t),
      );
  });

  it('the tke category is exactly what the README lists; seeded and internal kinds are reachable by name only', async function () {
    const r = await s.kubectlOK(['api-resources', '--categories=tke', '-o', 'name']);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), [...tkeCategory].sort(), r.stdout);
    const all = await s.kubectlOK(['api-resources', '--categories=all', '-o', 'name']);
    for (const internal of [
      'rules',
      'policies',
      'categories',
      'apisigningkeys',
      'auditevents',
      'configmaps',
      'clustercredentials',
      'clusteraddontypes',
      'events',
    ]) {
      assert.ok(!all.stdout.split('\n').some(n => n.startsWith(`${internal}.`)), `${internal} in category all:\n${all.stdout}`);
    }
    const rules = await s.kubectlOK(['get', 'rules', '-o', 'name']);
    assert.ok(rules.stdout.split('\n').length > 100, 'rules are still there, by name');
  });

  it('every computed object has a real creationTimestamp: rules, users, groups, clusteraddontypes', async function () {
    expectStatus(
      await s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { generateName: 'usr-' }, spec: { username: uniqueName('ann'), displayName: 'Ann', hashedPassword: PASSWORD, tenantID: 'default' } },
      }),
      201,
    );
    expectStatus(
      await s.request('POST', `${AUTH}/localgroups`, {
        body: { metadata: { generateName: 'grp-default-' }, spec: { displayName: 'devs', tenantID: 'default' } },
      }),
      201,
    );
    for (const kind of ['rules', 'users', 'groups', 'clusteraddontypes']) {
      const args = ['get', kind, '-o', 'json'];
      const r = await s.kubectlOK(args);
      const items = JSON.parse(r.stdout).items as any[];
      assert.ok(items.length > 0, describeRun(args, r));
      const missing = items.filter(i => !(Date.parse(i.metadata?.creationTimestamp) > 0));
      assert.deepEqual(
        missing.map(i => i.metadata?.name),
        [],
        `${kind} without a creationTimestamp`,
      );
    }
    const users = await s.kubectlOK(['get', 'users']);
    assert.ok(!users.stdout.includes('<unknown>'), users.stdout);
    assert.match(users.stdout.split('\n')[0], /USERNAME\s+DISPLAY NAME\s+AGE/);
  });

  it('kubectl get clusters shows type, version, phase and nodes; -o wide adds the tenant and the message', async function () {
    const name = await unreachableCluster('default');
    await waitFor(`${name} to fail`, async () => (await s.request('GET', `${PLATFORM}/clusters/${name}`)).json().status?.phase === 'Failed', 30_000, 200);
    const t = parseTables((await s.kubectlOK(['get', 'cluster', name])).stdout)[0];
    assert.deepEqual(t.columns, ['NAME', 'DISPLAY NAME', 'TYPE', 'VERSION', 'PHASE', 'NODES', 'AGE']);
    assert.equal(t.rows[0].PHASE, 'Failed');
    const wide = parseTables((await s.kubectlOK(['get', 'cluster', name, '-o', 'wide'])).stdout)[0];
    assert.deepEqual(wide.columns, ['NAME', 'DISPLAY NAME', 'TYPE', 'VERSION', 'PHASE', 'NODES', 'TENANT', 'MESSAGE', 'AGE']);
    assert.match(wide.rows[0].MESSAGE, /cannot reach the cluster's kube-apiserver/);
  });

  it("kubectl describe of a cluster that cannot be reached shows the controller's Warning and why", async function () {
    const name = await unreachableCluster('default');
    const args = ['describe', 'cluster', name];
    const described: KubectlResult = await waitFor(
      `a Warning event in kubectl describe cluster ${name}`,
      async () => {
        const r = await s.kubectlOK(args);
        return /Warning\s+Unreachable\s+\S+.*\s+cluster-controller\s+probe failed: cannot reach the cluster's kube-apiserver/.test(r.stdout) ? r : undefined;
      },
      30_000,
      500,
    );
    assert.ok(!/Events:\s+<none>/.test(described.stdout), describeRun(args, described));
    // Repeated probes count on one Event rather than adding one each.
    const events: any[] = await waitFor(
      'a repeated probe failure',
      async () => {
        const items = await eventsAbout(name);
        return items.length === 1 && items[0].count > 1 ? items : undefined;
      },
      30_000,
      500,
    );
    assert.equal(events[0].involvedObject.kind, 'Cluster');
    assert.equal(events[0].involvedObject.apiVersion, 'platform.tkestack.io/v1');
    assert.equal(events[0].metadata.namespace, 'default');
    assert.ok(!JSON.stringify(events[0]).includes('any-token'), 'the credential never reaches an event');
    // kubectl get events, and the events.k8s.io view of the same Event.
    const table = await s.kubectlOK(['get', 'events', '--field-selector', `involvedObject.name=${name}`]);
    assert.match(table.stdout, new RegExp(`Warning\\s+Unreachable\\s+cluster.platform.tkestack.io/${name}`), table.stdout);
    const v1 = expectStatus(await s.request('GET', `/apis/events.k8s.io/v1/events?fieldSelector=${encodeURIComponent(`regarding.name=${name}`)}`), 200);
    assert.equal(v1.items.length, 1, JSON.stringify(v1));
    assert.equal(v1.items[0].regarding.name, name);
    assert.equal(v1.items[0].reportingController, 'cluster-controller');
    assert.ok(v1.items[0].series.count > 1);
  });

  it("kubectl describe of a project shows it Active from its creation, then the project controller's quota change", async function () {
    const name = uniqueName('prj');
    const cluster = uniqueName('cls-bm');
    expectStatus(await s.request('POST', paths.clusters, { body: clusterObject(cluster) }), 201);
    expectStatus(await s.request('POST', paths.projects, { body: projectObject(name, { clusters: { [cluster]: { hard: { 'requests.cpu': '1' } } } }) }), 201);
    const args = ['describe', 'project', name];
    // Nothing draws on a new project: the create makes it Active, no controller has to.
    const first = await s.kubectlOK(args);
    assert.match(first.stdout, /Phase:\s+Active/, describeRun(args, first));
    const patched = await s.request('PATCH', paths.project(name), {
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: { spec: { clusters: { [cluster]: { hard: { 'requests.cpu': '2' } } } } },
    });
    expectStatus(patched, 200);
    const described: KubectlResult = await waitFor(
      `a QuotaChanged event in kubectl describe project ${name}`,
      async () => {
        const r = await s.kubectlOK(args);
        return /Normal\s+QuotaChanged\s+\S+.*project-controller\s+quota now: .*requests\.cpu/.test(r.stdout) ? r : undefined;
      },
      30_000,
      500,
    );
    assert.match(described.stdout, /Active/, describeRun(args, described));
  });

  it("kubectl describe of a machine whose login fails shows the machine controller's Warning, without the password", async function () {
    const cluster = await unreachableCluster('default');
    const machine = expectStatus(
      await s.request('POST', `${PLATFORM}/machines`, {
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'Machine',
          metadata: { generateName: 'mc-' },
          spec: {
            tenantID: 'default',
            type: 'Baremetal',
            clusterName: cluster,
            ip: '127.0.0.1',
            port: 1,
            username: 'root',
            password: Buffer.from('Secr3tPassw0rd').toString('base64'),
          },
        },
      }),
      201,
    );
    const name = machine.metadata.name as string;
    const described: KubectlResult = await waitFor(
      `a Warning event in kubectl describe machine ${name}`,
      async () => {
        const r = await s.kubectlOK(['describe', 'machine', name]);
        return /Warning\s+\S+\s+\S+.*\s+machine-controller\s+\S+ failed: /.test(r.stdout) ? r : undefined;
      },
      30_000,
      500,
    );
    assert.ok(!described.stdout.includes('Secr3tPassw0rd'), described.stdout);
    const [event] = await eventsAbout(name);
    assert.equal(event.involvedObject.kind, 'Machine');
    assert.ok(!JSON.stringify(event).includes('Secr3tPassw0rd'));
  });

  it("a tenant administrator sees the events of its own tenant's objects only, and cannot plant one in another tenant", async function () {
    expectStatus(
      await s.request('POST', `${AUTH}/identityproviders`, {
        body: { metadata: { name: 'evil' }, spec: { name: 'evil', type: 'local', administrators: ['mallory'], config: '' } },
      }),
      201,
    );
    expectStatus(
      await s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { generateName: 'usr-' }, spec: { username: 'mallory', displayName: 'Mallory', hashedPassword: PASSWORD, tenantID: 'evil' } },
      }),
      201,
    );
    const key = expectStatus(
      await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'evil', username: 'mallory', password: PASSWORD, expire: '1h' },
      }),
      201,
    );
    const mallory = key.spec.apiKey as string;

    const victim = await unreachableCluster('default');
    const own = await unreachableCluster('evil', mallory);
    await waitFor('events of both clusters', async () => (await eventsAbout(victim)).length > 0 && (await eventsAbout(own)).length > 0, 30_000, 300);
    const victimEvent = (await eventsAbout(victim))[0];

    // Her own cluster's events: yes; the other tenant's: not in lists (either version), not by field selector, not by name.
    const listed = expectStatus(await s.request('GET', EVENTS, { token: mallory }), 200).items as any[];
    assert.ok(
      listed.some(e => e.involvedObject.name === own),
      "she sees her own cluster's events",
    );
    assert.deepEqual(
      listed.filter(e => e.tenantID !== 'evil').map(e => e.involvedObject.name),
      [],
      "only her tenant's events",
    );
    assert.deepEqual(await eventsAbout(victim, mallory), [], "the victim's name matches nothing for her");
    expectStatus(await s.request('GET', `/api/v1/namespaces/default/events/${victimEvent.metadata.name}`, { token: mallory }), 404);
    const v1 = expectStatus(await s.request('GET', '/apis/events.k8s.io/v1/events', { token: mallory }), 200).items as any[];
    assert.ok(v1.every(e => e.regarding.name !== victim) && v1.some(e => e.regarding.name === own), JSON.stringify(v1.map(e => e.regarding.name)));
    expectStatus(
      await s.request('PATCH', `/api/v1/namespaces/default/events/${victimEvent.metadata.name}`, {
        token: mallory,
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { message: 'all is well' },
      }),
      404,
    );

    // An event she writes about the victim's cluster, naming the default tenant, lands in her own tenant.
    const planted = expectStatus(
      await s.request('POST', '/api/v1/namespaces/default/events', {
        token: mallory,
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: uniqueName('planted') },
          tenantID: 'default',
          involvedObject: { kind: 'Cluster', apiVersion: 'platform.tkestack.io/v1', name: victim, uid: victimEvent.involvedObject.uid },
          reason: 'Recovered',
          message: 'all is well',
          type: 'Normal',
        },
      }),
      201,
    );
    assert.equal(planted.tenantID, 'evil');
    // So the default tenant's own administrator (a tenant user, not a platform master) never sees it.
    expectStatus(
      await s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { generateName: 'usr-' }, spec: { username: 'admin', displayName: 'Admin', hashedPassword: PASSWORD, tenantID: 'default' } },
      }),
      201,
    );
    const admin = expectStatus(
      await s.request('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: { tenantID: 'default', username: 'admin', password: PASSWORD, expire: '1h' },
      }),
      201,
    ).spec.apiKey as string;
    const victimsView = await eventsAbout(victim, admin);
    assert.ok(
      victimsView.some(e => e.metadata.name === victimEvent.metadata.name),
      "the default tenant's admin sees its cluster's events",
    );
    assert.deepEqual(
      victimsView.filter(e => e.message === 'all is well'),
      [],
      'but not the one planted by another tenant',
    );
    assert.ok((await eventsAbout(own, admin)).length === 0, "nor the other tenant's");
  });

  it('events last seen longer ago than --event-ttl are swept; fresh ones stay until then', async function () {
    const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const make = async (name: string, lastSeenSecondsAgo: number) =>
      expectStatus(
        await s.request('POST', '/api/v1/namespaces/default/events', {
          body: {
            apiVersion: 'v1',
            kind: 'Event',
            metadata: { name },
            involvedObject: { kind: 'Project', apiVersion: 'business.tkestack.io/v1', name: 'prj-ttl' },
            reason: 'Test',
            message: name,
            type: 'Normal',
            count: 1,
            firstTimestamp: at(3600),
            lastTimestamp: at(lastSeenSecondsAgo),
          },
        }),
        201,
      );
    const stale = uniqueName('stale');
    const fresh = uniqueName('fresh');
    await make(stale, 3600);
    await make(fresh, 0);
    await waitFor(`${stale} to be swept`, async () => (await s.request('GET', `/api/v1/namespaces/default/events/${stale}`)).status === 404, 10_000, 200);
    expectStatus(await s.request('GET', `/api/v1/namespaces/default/events/${fresh}`), 200, 'last seen within the TTL');
    await waitFor(
      `${fresh} to be swept once its TTL passed`,
      async () => (await s.request('GET', `/api/v1/namespaces/default/events/${fresh}`)).status === 404,
      (TTL_SECONDS + 10) * 1000,
      250,
    );
  });
});
