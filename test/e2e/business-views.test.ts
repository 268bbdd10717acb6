// What people and consoles see of business.tkestack.io: kubectl columns for projects and
// namespaces, the portal (membership and administrator), and namespaces/certificate, whose
// kubeconfig is used for real against a replica standing for the cluster: the cluster's credential
// holds the server CA as the cluster CA, which the replica trusts for client certificates.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startServer, type TestServer } from '../support/server.ts';
import { type HttpResponse, describeResponse } from '../support/http.ts';
import { describeRun } from '../support/kubectl.ts';
import { uniqueName, clusterObject, paths } from '../support/fixtures.ts';
import { parseTable } from '../support/tables.ts';
import { tempFile } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';

const portalPath = '/apis/business.tkestack.io/v1/portal';

describe('e2e: business.tkestack.io views: kubectl columns, portal, namespace certificates', function () {
  this.timeout(120_000);
  let server: TestServer;
  let replica: TestServer | undefined;
  const cls = uniqueName('cls');
  const parent = uniqueName('team');
  const child = uniqueName('squad');
  const other = uniqueName('other');
  const ns = uniqueName('web');

  async function expectStatus(p: Promise<HttpResponse>, code: number): Promise<any> {
    const res = await p;
    assert.equal(res.status, code, describeResponse(res));
    return res.json();
  }
  const post = (p: string, body: unknown) => expectStatus(server.request('POST', p, { body }), 201);
  const projectBody = (name: string, members: string[], cpu: string, parentName?: string) => ({
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: { name },
    spec: {
      tenantID: 'default',
      displayName: `Display ${name}`,
      members,
      ...(parentName ? { parentProjectName: parentName } : {}),
      clusters: { [cls]: { hard: { 'requests.cpu': cpu } } },
    },
  });

  before(async function () {
    this.timeout(180_000);
    server = await startServer();
    // Certificates for a cluster's namespaces are signed with the cluster's CA from its credential.
    const pem = (file: string) => Buffer.from(readFileSync(path.join(server.dataDir, 'pki', file), 'utf8')).toString('base64');
    await post('/apis/platform.tkestack.io/v1/clustercredentials', {
      apiVersion: 'platform.tkestack.io/v1',
      kind: 'ClusterCredential',
      metadata: { name: `${cls}-cred` },
      tenantID: 'default',
      caCert: pem('ca.crt'),
      caKey: pem('ca.key'),
    });
    const clusterBody = clusterObject(cls);
    await post(paths.clusters, { ...clusterBody, spec: { ...clusterBody.spec, clusterCredentialRef: { name: `${cls}-cred` } } });
    await post(paths.projects, projectBody(parent, ['admin', 'alice'], '4'));
    await post(paths.projects, projectBody(child, ['alice'], '1', parent));
    await post(paths.projects, projectBody(other, ['bob'], '1'));
    await post(paths.namespaces(parent), {
      apiVersion: 'business.tkestack.io/v1',
      kind: 'Namespace',
      metadata: { name: ns, namespace: parent },
      spec: { tenantID: 'default', clusterName: cls, namespace: ns, hard: { 'requests.cpu': '1500m' } },
    });
    await waitFor(
      `${parent} accounted`,
      async () => (await server.request('GET', paths.project(parent))).json().status?.clusters?.[cls]?.used?.['requests.cpu'] === '2500m',
      10_000,
    );
    // alice, a member of two projects and nothing more, asks for the namespace certificates below.
    await post('/apis/auth.tkestack.io/v1/localidentities', {
      metadata: { generateName: 'usr-' },
      spec: { username: 'alice', hashedPassword: Buffer.from('Passw0rd123').toString('base64') },
    });
    const key = await expectStatus(
      server.request('POST', '/apis/auth.tkestack.io/v1/apikeys/default/password', {
        token: null,
        body: { tenantID: 'default', username: 'alice', password: Buffer.from('Passw0rd123').toString('base64') },
      }),
      201,
    );
    alice = key.spec.apiKey;
    // TKE's PlatformLogin: what lets a user open the console (its portal) at all.
    await post('/apis/auth.tkestack.io/v1/policies/pol-default-viewer/binding', { users: [{ name: 'alice' }] });
  });
  let alice: string;
  after(async function () {
    await replica?.stop();
    if (server) await server.stop();
  });

  const kubectlOK = (args: string[]) => server.kubectlOK(args);

  it('kubectl get projects shows display name, clusters, quota use, phase and age; -o wide adds the parent', async function () {
    const t = parseTable((await kubectlOK(['get', 'projects', child, parent])).stdout);
    assert.deepEqual(t.columns, ['NAME', 'DISPLAY NAME', 'CLUSTERS', 'QUOTA', 'PHASE', 'AGE']);
    const row = t.rows.find(r => r.NAME === child)!;
    assert.equal(row['DISPLAY NAME'], `Display ${child}`);
    assert.equal(row.CLUSTERS, cls);
    assert.equal(row.PHASE, 'Active');
    assert.ok(t.rows.find(r => r.NAME === parent)!.QUOTA.startsWith(`${cls}: requests.cpu 2500m/4`), JSON.stringify(t.rows));
    const wide = parseTable((await kubectlOK(['get', 'project', child, '-o', 'wide'])).stdout);
    assert.deepEqual(wide.columns, ['NAME', 'DISPLAY NAME', 'CLUSTERS', 'QUOTA', 'PHASE', 'PARENT', 'TENANT', 'MEMBERS', 'AGE']);
    assert.equal(wide.rows[0].PARENT, parent);
  });

  it("kubectl get namespaces.business.tkestack.io -A lists every project's namespaces with cluster, Kubernetes namespace and phase", async function () {
    // A Baremetal cluster is not provisioned by this server: its namespaces stay Pending, saying so.
    await waitFor(
      `${ns} explained`,
      async () => (await server.request('GET', paths.namespace(parent, ns))).json().status?.reason === 'ClusterNotManaged',
      10_000,
    );
    const t = parseTable((await kubectlOK(['get', 'namespaces.business.tkestack.io', '-A'])).stdout);
    assert.deepEqual(t.columns, ['NAMESPACE', 'NAME', 'CLUSTER', 'KUBERNETES NAMESPACE', 'PHASE', 'AGE']);
    const row = t.rows.find(r => r.NAME === ns);
    assert.ok(row, JSON.stringify(t.rows));
    assert.equal(row.NAMESPACE, parent);
    assert.equal(row.CLUSTER, cls);
    assert.equal(row['KUBERNETES NAMESPACE'], ns);
    assert.equal(row.PHASE, 'Pending');
  });

  it("the portal tells a platform administrator that it is one and shows the tenant's projects", async function () {
    const portal = await expectStatus(server.request('GET', portalPath), 200);
    assert.equal(portal.kind, 'Portal');
    assert.equal(portal.administrator, true);
    for (const p of [parent, child, other]) assert.equal(portal.projects[p], `Display ${p}`);
    assert.deepEqual(portal.extension[child], { phase: 'Active', parent });
    const r = await kubectlOK(['get', '--raw', portalPath]);
    assert.equal(JSON.parse(r.stdout).administrator, true);
  });

  it("namespaces/certificate issues a client certificate signed by the cluster's CA, valid for validDays, with a working kubeconfig", async function () {
    replica = await startServer({
      databaseUrl: server.databaseUrl,
      dataDir: server.dataDir,
      args: ['--client-ca-file', path.join(server.dataDir, 'pki', 'ca.crt')],
    });
    // The cluster's advertised address is where the kubeconfig points: here, the replica.
    const cluster = await expectStatus(server.request('GET', paths.cluster(cls)), 200);
    cluster.status = { ...(cluster.status ?? {}), addresses: [{ type: 'Advertise', host: '127.0.0.1', port: replica.port }] };
    await expectStatus(server.request('PUT', `${paths.cluster(cls)}/status`, { body: cluster }), 200);

    const bad = await server.request('GET', `${paths.namespace(parent, ns)}/certificate?validDays=forever`);
    assert.equal(bad.status, 400, describeResponse(bad));
    const before = Date.now();
    const out = await expectStatus(server.request('GET', `${paths.namespace(parent, ns)}/certificate?validDays=7`, { token: alice }), 200);
    const cert = out.status.certificate;
    const certPEM = Buffer.from(cert.certPem, 'base64').toString('utf8');
    const caPEM = Buffer.from(cert.caCertPem, 'base64').toString('utf8');
    assert.equal(caPEM.trim(), server.caPEM.trim());
    const x509 = new X509Certificate(certPEM);
    assert.ok(x509.verify(new X509Certificate(caPEM).publicKey), "signed by the cluster CA (its credential's caCert, here the server CA)");
    const days = (Date.parse(x509.validTo) - before) / 86_400_000;
    assert.ok(days > 6.9 && days < 7.1, `valid for ${days} days`);
    assert.match(x509.subject, /CN=alice/);
    for (const o of [`cluster:${cls}`, `project:${parent}`, `namespace:${ns}`, 'tenant:default']) assert.ok(x509.subject.includes(`O=${o}`), x509.subject);
    assert.equal(cert.apiServer, `https://127.0.0.1:${replica.port}`);
    // Issuing a certificate reads the namespace; it changes nothing stored.
    assert.equal((await server.request('GET', paths.namespace(parent, ns))).json().status.certificate, undefined);

    const kubeconfig = out.metadata.annotations['business.tkestack.io/kubeconfig'];
    assert.equal(YAML.parse(kubeconfig).clusters[0].cluster.server, `https://127.0.0.1:${replica.port}`);
    const file = tempFile('ns.kubeconfig', kubeconfig);
    // The certificate's identity is "alice" in the groups of its organizations: the portal shows
    // it only the projects alice is a member of.
    const args = ['--kubeconfig', file, 'get', '--raw', portalPath];
    const r = await server.kubectl(args);
    assert.equal(r.code, 0, describeRun(args, r));
    const portal = JSON.parse(r.stdout);
    assert.equal(portal.administrator, false);
    assert.deepEqual(Object.keys(portal.projects).sort(), [parent, child].sort());
  });

  it('a Platform listing the user makes it an administrator', async function () {
    assert.ok(replica, 'needs the replica of the previous test');
    const file = tempFile(
      'ns2.kubeconfig',
      (await expectStatus(server.request('GET', `${paths.namespace(parent, ns)}/certificate`, { token: alice }), 200)).metadata.annotations[
        'business.tkestack.io/kubeconfig'
      ],
    );
    await post('/apis/business.tkestack.io/v1/platforms', {
      apiVersion: 'business.tkestack.io/v1',
      kind: 'Platform',
      metadata: { name: uniqueName('plat') },
      spec: { tenantID: 'default', administrators: ['alice'] },
    });
    const r = await server.kubectl(['--kubeconfig', file, 'get', '--raw', portalPath]);
    assert.equal(r.code, 0, describeRun(['get', '--raw', portalPath], r));
    const portal = JSON.parse(r.stdout);
    assert.equal(portal.administrator, true);
    assert.ok(Object.keys(portal.projects).includes(other));
  });
});
