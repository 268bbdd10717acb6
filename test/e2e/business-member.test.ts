// e2e: business namespaces in a real member cluster. A standalone tke-apiserver imports the run's
// kube-apiserver (hack/kube/up.sh, with kube-controller-manager and its quota controller) through a
// TCP relay the test can cut, as one Imported cluster shared by the whole suite. kubectl on both
// sides: business objects on tke-apiserver, namespaces, quotas and configmaps on the member.
// Covered: the namespace and its quota made (and adopted) in the member, usage measured there
// coming back into the namespace and its project, a namespace of another project refused and left
// alone, unreachable -> Failed -> Available, deletion (only of what carries the project's label,
// and through a project's deletion), namespace certificates the member accepts (and a 400 where
// the cluster's CA key is unknown), NsEmigrations relabelling the member namespace, and a hostile
// tenant admin.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { KUBE_START_TIMEOUT_MS, kubeControlPlane, type KubeControlPlane } from '../support/kube.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, type HttpResponse } from '../support/http.ts';
import { describeRun } from '../support/kubectl.ts';
import { parseTable } from '../support/tables.ts';
import { paths, toYAML, uniqueName } from '../support/fixtures.ts';
import { tempFile } from '../support/process.ts';
import { waitFor } from '../support/wait.ts';
import { Relay } from '../support/relay.ts';

const PLATFORM = '/apis/platform.tkestack.io/v1';
const BUSINESS = '/apis/business.tkestack.io/v1';
const AUTH = '/apis/auth.tkestack.io/v1';
const PASSWORD = 'Passw0rd123';
const PROJECT_LABEL = 'tkestack.io/projectName';
const NAMESPACE_LABEL = 'tkestack.io/namespaceName';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('e2e: business namespaces in a member cluster (business.tkestack.io against a real kube-apiserver)', function () {
  this.timeout(90_000);
  let kube: KubeControlPlane;
  let s: TestServer;
  let relay: Relay;
  const cls = uniqueName('cls-mem');
  const cred = `${cls}-cred`;
  const projects: string[] = [];
  /** Clusters a test made besides the shared one: deleted first in `after`, so nothing waits on them. */
  const extraClusters: string[] = [];
  const memberNamespaces: string[] = [];

  const expectStatus = (res: HttpResponse, code: number, why = ''): any => {
    assert.equal(res.status, code, `${why} ${describeResponse(res)}`);
    return res.body?.length ? res.json() : undefined;
  };
  const get = async (p: string, token?: string) => expectStatus(await s.request('GET', p, { token }), 200);

  const projectBody = (name: string, hard: Record<string, string>, cluster = cls) => ({
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: { name },
    spec: { tenantID: 'default', displayName: name, members: ['admin'], clusters: { [cluster]: { hard } } },
  });
  const namespaceBody = (project: string, name: string, hard: Record<string, string>, k8s = name, cluster = cls) => ({
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Namespace',
    metadata: { name, namespace: project },
    spec: { tenantID: 'default', clusterName: cluster, namespace: k8s, hard },
  });
  const projectHard = { 'requests.cpu': '8', 'count/configmaps': '100' };
  const nsHard = { 'requests.cpu': '1', 'count/configmaps': '10' };

  async function newProject(hard: Record<string, string> = projectHard, cluster = cls): Promise<string> {
    const name = uniqueName('prj');
    expectStatus(await s.request('POST', paths.projects, { body: projectBody(name, hard, cluster) }), 201);
    projects.push(name);
    return name;
  }
  /** Created with kubectl apply on tke-apiserver, as a user would. */
  async function newNamespace(project: string, hard: Record<string, string> = nsHard, k8s?: string): Promise<{ name: string; k8s: string }> {
    const name = uniqueName('ns');
    const target = k8s ?? name;
    memberNamespaces.push(target);
    await s.kubectlOK(['apply', '-f', '-'], { input: toYAML(namespaceBody(project, name, hard, target)) });
    return { name, k8s: target };
  }
  async function waitNamespace(project: string, name: string, what: string, ok: (ns: any) => boolean, timeoutMs = 30_000): Promise<any> {
    let last: any;
    return waitFor(
      `${project}/${name} ${what}`,
      async () => {
        const r = await s.request('GET', paths.namespace(project, name));
        last = r.status === 200 ? r.json() : r.status;
        return r.status === 200 && ok(last) ? last : undefined;
      },
      timeoutMs,
      200,
    ).catch(err => {
      throw new Error(`${err.message}; last: ${JSON.stringify(last?.status ?? last)}`);
    });
  }
  const waitAvailable = (project: string, name: string) => waitNamespace(project, name, 'Available', ns => ns.status?.phase === 'Available');

  /** The member's namespace as kubectl shows it, or undefined when there is none. */
  async function memberNamespace(name: string): Promise<any> {
    const r = await kube.kubectl(['get', 'namespace', name, '-o', 'json']);
    if (r.code !== 0 && /NotFound|not found/.test(r.stderr)) return undefined;
    assert.equal(r.code, 0, describeRun(['get', 'namespace', name], r));
    return JSON.parse(r.stdout);
  }
  async function memberQuota(name: string): Promise<any> {
    const r = await kube.kubectl(['get', 'resourcequota', name, '-n', name, '-o', 'json']);
    if (r.code !== 0 && /NotFound|not found/.test(r.stderr)) return undefined;
    assert.equal(r.code, 0, describeRun(['get', 'resourcequota', name], r));
    return JSON.parse(r.stdout);
  }
  /**
   * The configmaps in a member namespace once it has settled: the member's root CA publisher
   * puts kube-root-ca.crt into every namespace some time after it is made, and the quota counts it.
   */
  async function settledConfigMapCount(k8s: string): Promise<number> {
    const names = async () =>
      JSON.parse((await kube.kubectlOK(['get', 'configmaps', '-n', k8s, '-o', 'json'])).stdout).items.map((cm: any) => cm.metadata.name);
    await waitFor(`kube-root-ca.crt in ${k8s}`, async () => (await names()).includes('kube-root-ca.crt'), 30_000, 250);
    return (await names()).length;
  }
  /** Gone, or on its way (the member's namespace controller empties it first). */
  async function memberNamespaceDeleted(name: string): Promise<boolean> {
    const ns = await memberNamespace(name);
    return !ns || ns.status?.phase === 'Terminating';
  }

  before(async function () {
    this.timeout(KUBE_START_TIMEOUT_MS);
    kube = await kubeControlPlane();
    relay = new Relay(Number(new URL(kube.env.KUBE_SERVER).port));
    await relay.open();
    s = await startServer({ args: ['--cluster-health-check-period=1'] });
    // up.sh keeps the member's CA key next to its certificate: what lets TKE sign certificates for it.
    const caKey = readFileSync(path.join(path.dirname(kube.env.KUBE_CA_FILE), 'ca.key'), 'utf8');
    expectStatus(
      await s.request('POST', `${PLATFORM}/clustercredentials`, {
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'ClusterCredential',
          metadata: { name: cred },
          tenantID: 'default',
          caCert: b64(kube.kubeCAPEM),
          caKey: b64(caKey),
          token: kube.env.KUBE_TOKEN,
        },
      }),
      201,
    );
    expectStatus(
      await s.request('POST', `${PLATFORM}/clusters`, {
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'Cluster',
          metadata: { name: cls },
          spec: { tenantID: 'default', displayName: cls, type: 'Imported', clusterCredentialRef: { name: cred } },
          status: { addresses: [{ type: 'Real', host: '127.0.0.1', port: relay.port }] },
        },
      }),
      201,
    );
    await waitFor(`${cls} Running`, async () => (await get(paths.cluster(cls))).status?.phase === 'Running', 30_000, 200);
  });

  after(async function () {
    this.timeout(120_000);
    if (s) {
      // Projects first: their namespaces are released in the member while the cluster is there.
      await relay?.open();
      for (const c of extraClusters) await s.request('DELETE', paths.cluster(c));
      for (const p of projects) await s.request('DELETE', paths.project(p));
      await waitFor(
        "the suite's projects to be gone",
        async () => {
          for (const p of projects) if ((await s.request('GET', paths.project(p))).status !== 404) return false;
          return true;
        },
        60_000,
        250,
      ).catch(err => console.error(String(err)));
      await s.request('DELETE', paths.cluster(cls));
      await waitFor(
        `${cls} to be gone (and its mark in the member)`,
        async () => (await s.request('GET', paths.cluster(cls))).status === 404,
        30_000,
        250,
      ).catch(err => console.error(String(err)));
    }
    if (kube && memberNamespaces.length) await kube.kubectl(['delete', 'namespace', '--ignore-not-found', '--wait=false', ...new Set(memberNamespaces)]);
    await relay?.cut();
    await s?.stop();
  });

  it('creates the Kubernetes namespace, labelled, and a ResourceQuota with hard = spec.hard, then the namespace is Available', async () => {
    const prj = await newProject();
    const { name, k8s } = await newNamespace(prj);
    const available = await waitAvailable(prj, name);
    assert.equal(available.status.reason, undefined);
    assert.equal(available.status.resourceQuotaName, k8s);
    const ns = await memberNamespace(k8s);
    assert.equal(ns.metadata.labels[PROJECT_LABEL], prj);
    assert.equal(ns.metadata.labels[NAMESPACE_LABEL], name);
    const quota = await memberQuota(k8s);
    assert.deepEqual(quota.spec.hard, nsHard);
    const row = parseTable((await s.kubectlOK(['get', 'namespaces.business.tkestack.io', name, '-n', prj])).stdout).rows[0];
    assert.equal(row?.PHASE, 'Available');

    // A changed spec.hard (count/<resource> included) is the member's quota a moment later.
    await s.kubectlOK([
      'patch',
      'namespaces.business.tkestack.io',
      name,
      '-n',
      prj,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { hard: { 'requests.cpu': '2', 'count/configmaps': '5' } } }),
    ]);
    await waitFor(
      `${k8s}'s quota updated`,
      async () => {
        const q = await memberQuota(k8s);
        return q?.spec.hard['count/configmaps'] === '5' && q.spec.hard['requests.cpu'] === '2';
      },
      20_000,
      200,
    );
  });

  it("brings the usage the member measures into the namespace's status.used and the project's status.clusters[].used", async () => {
    const prj = await newProject();
    const { name, k8s } = await newNamespace(prj);
    await waitAvailable(prj, name);
    for (const cm of ['one', 'two']) await kube.kubectlOK(['create', 'configmap', cm, '-n', k8s, '--from-literal', `k=${cm}`]);
    const count = await settledConfigMapCount(k8s);
    assert.equal(count, 3, 'one, two and kube-root-ca.crt');
    await waitFor(
      `the member's quota to count ${count} configmaps`,
      async () => (await memberQuota(k8s))?.status?.used?.['count/configmaps'] === String(count),
      30_000,
      250,
    );
    const measured = await waitNamespace(prj, name, `used count/configmaps=${count}`, ns => ns.status?.used?.['count/configmaps'] === String(count));
    assert.equal(measured.status.used['requests.cpu'], '0', 'nothing requests cpu there');
    const project = await waitFor(
      `${prj}'s used from the member`,
      async () => {
        const p = await get(paths.project(prj));
        return p.status?.clusters?.[cls]?.used?.['count/configmaps'] === String(count) && p;
      },
      20_000,
      200,
    );
    assert.equal(project.status.clusters[cls].used['requests.cpu'], '0');

    // And it follows the member: one more configmap is one more in both.
    await kube.kubectlOK(['create', 'configmap', 'three', '-n', k8s]);
    await waitFor(
      `${prj}'s used to follow`,
      async () => (await get(paths.project(prj))).status?.clusters?.[cls]?.used?.['count/configmaps'] === String(count + 1),
      30_000,
      250,
    );
    // The quota is the business namespace's: changed in the member, it is put back.
    await kube.kubectlOK(['patch', 'resourcequota', k8s, '-n', k8s, '--type=merge', '-p', '{"spec":{"hard":{"count/configmaps":"50"}}}']);
    await waitFor(
      'the controller to put the quota back to spec.hard',
      async () => (await memberQuota(k8s))?.spec.hard['count/configmaps'] === nsHard['count/configmaps'],
      20_000,
      250,
    );
  });

  it('adopts an unlabelled namespace, and refuses one of another project: Failed with the reason, the namespace untouched', async () => {
    const prj = await newProject();
    const plain = uniqueName('plain');
    memberNamespaces.push(plain);
    await kube.kubectlOK(['create', 'namespace', plain]);
    const adopted = await newNamespace(prj, nsHard, plain);
    await waitAvailable(prj, adopted.name);
    assert.equal((await memberNamespace(plain)).metadata.labels[PROJECT_LABEL], prj);

    const foreign = uniqueName('foreign');
    memberNamespaces.push(foreign);
    await kube.kubectlOK(['create', 'namespace', foreign]);
    await kube.kubectlOK(['label', 'namespace', foreign, `${PROJECT_LABEL}=someone-else`, `${NAMESPACE_LABEL}=theirs`]);
    const claim = await newNamespace(prj, nsHard, foreign);
    const failed = await waitNamespace(prj, claim.name, 'Failed', ns => ns.status?.phase === 'Failed');
    assert.equal(failed.status.reason, 'ConflictProject', JSON.stringify(failed.status));
    assert.match(failed.status.message, /belongs to another project \(someone-else\)/);
    const untouched = await memberNamespace(foreign);
    assert.deepEqual(untouched.metadata.labels, { [PROJECT_LABEL]: 'someone-else', [NAMESPACE_LABEL]: 'theirs', 'kubernetes.io/metadata.name': foreign });
    assert.equal(await memberQuota(foreign), undefined, 'no quota put into it');

    // Deleting the refused claim leaves the other project's namespace where it is.
    await s.kubectlOK(['delete', 'namespaces.business.tkestack.io', claim.name, '-n', prj, '--wait=true', '--timeout=30s']);
    assert.equal((await memberNamespace(foreign))?.status.phase, 'Active');
  });

  it("deleting a namespace deletes the Kubernetes namespace only if it carries the project's label, and the project's usage is recalculated", async () => {
    const prj = await newProject();
    const kept = await newNamespace(prj);
    const gone = await newNamespace(prj);
    const relabelled = await newNamespace(prj);
    await Promise.all([kept, gone, relabelled].map(n => waitAvailable(prj, n.name)));
    await kube.kubectlOK(['create', 'configmap', 'extra', '-n', gone.k8s]);
    const [keptCount, goneCount, relabelledCount] = [
      await settledConfigMapCount(kept.k8s),
      await settledConfigMapCount(gone.k8s),
      await settledConfigMapCount(relabelled.k8s),
    ];
    await waitFor(
      `${prj} used = all three`,
      async () => (await get(paths.project(prj))).status?.clusters?.[cls]?.used?.['count/configmaps'] === String(keptCount + goneCount + relabelledCount),
      30_000,
      250,
    );

    await s.kubectlOK(['delete', 'namespaces.business.tkestack.io', gone.name, '-n', prj, '--wait=true', '--timeout=30s']);
    await waitFor(`${gone.k8s} deleted in the member`, () => memberNamespaceDeleted(gone.k8s), 20_000, 250);
    assert.ok(await memberNamespace(kept.k8s), 'the others stay');

    // Someone hands the member namespace to another project: it is no longer this project's to delete.
    await kube.kubectlOK(['label', 'namespace', relabelled.k8s, `${PROJECT_LABEL}=other-project`, '--overwrite']);
    await s.kubectlOK(['delete', 'namespaces.business.tkestack.io', relabelled.name, '-n', prj, '--wait=true', '--timeout=30s']);
    const stays = await memberNamespace(relabelled.k8s);
    assert.equal(stays?.status.phase, 'Active', 'a namespace whose label does not match is not deleted');
    assert.equal(stays.metadata.labels[PROJECT_LABEL], 'other-project');

    await waitFor(
      `${prj} used = the one left`,
      async () => (await get(paths.project(prj))).status?.clusters?.[cls]?.used?.['count/configmaps'] === String(keptCount),
      30_000,
      250,
    );
  });

  it('deleting a project deletes its namespaces in the member', async () => {
    const prj = await newProject();
    const a = await newNamespace(prj);
    await waitAvailable(prj, a.name);
    await s.kubectlOK(['delete', 'project', prj, '--wait=true', '--timeout=60s']);
    assert.equal((await s.request('GET', paths.project(prj))).status, 404);
    await waitFor(`${a.k8s} deleted in the member`, () => memberNamespaceDeleted(a.k8s), 20_000, 250);
  });

  it('an unreachable cluster makes its namespaces Failed, and Available again when it is back', async () => {
    const prj = await newProject();
    const { name } = await newNamespace(prj);
    await waitNamespace(prj, name, 'Available and measured', ns => ns.status?.phase === 'Available' && ns.status?.used);
    await relay.cut();
    try {
      const failed = await waitNamespace(prj, name, 'Failed', ns => ns.status?.phase === 'Failed');
      assert.match(failed.status.message, /cannot reach/, JSON.stringify(failed.status));
      assert.ok(failed.status.used, 'the last measured use is kept');
    } finally {
      await relay.open();
    }
    const back = await waitAvailable(prj, name);
    assert.equal(back.status.message, undefined);
    assert.equal(back.status.reason, undefined);
  });

  it("namespaces/certificate is signed with the member's CA and its kubeconfig works with kubectl in that namespace, and nowhere else", async () => {
    const prj = await newProject();
    const { name, k8s } = await newNamespace(prj);
    await waitAvailable(prj, name);
    const out = await get(`${paths.namespace(prj, name)}/certificate?validDays=1`);
    const cert = new X509Certificate(Buffer.from(out.status.certificate.certPem, 'base64'));
    assert.ok(cert.verify(new X509Certificate(kube.kubeCAPEM).publicKey), "signed by the member cluster's CA");
    assert.equal(Buffer.from(out.status.certificate.caCertPem, 'base64').toString().trim(), kube.kubeCAPEM.trim());
    const kubeconfig = out.metadata.annotations['business.tkestack.io/kubeconfig'];
    assert.equal(YAML.parse(kubeconfig).clusters[0].cluster.server, `https://127.0.0.1:${relay.port}`);
    const file = tempFile('member-ns.kubeconfig', kubeconfig);

    const opts = { kubeconfig: file };
    await kube.kubectlOK(['create', 'configmap', 'by-cert', '--from-literal', 'a=b'], opts);
    const list = await kube.kubectlOK(['get', 'configmaps', '-o', 'name'], opts);
    assert.match(list.stdout, /configmap\/by-cert/);
    assert.ok(JSON.parse((await kube.kubectlOK(['get', 'configmap', 'by-cert', '-n', k8s, '-o', 'json'])).stdout), 'it is in the namespace');
    for (const args of [
      ['get', 'configmaps', '-n', 'default'],
      ['get', 'namespaces'],
      ['delete', 'resourcequota', k8s],
    ]) {
      const r = await kube.kubectl(args, opts);
      assert.notEqual(r.code, 0, describeRun(args, r));
      assert.match(r.stderr, /forbidden/i, describeRun(args, r));
    }
  });

  it('an Imported cluster without caKey gets a 400 for certificates; its namespace is Failed and goes once the cluster goes', async () => {
    const dead = uniqueName('cls-dead');
    extraClusters.push(dead);
    expectStatus(
      await s.request('POST', `${PLATFORM}/clustercredentials`, {
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'ClusterCredential',
          metadata: { name: `${dead}-cred` },
          tenantID: 'default',
          caCert: b64(kube.kubeCAPEM),
          token: 'not-used',
        },
      }),
      201,
    );
    expectStatus(
      await s.request('POST', `${PLATFORM}/clusters`, {
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'Cluster',
          metadata: { name: dead },
          spec: { tenantID: 'default', displayName: dead, type: 'Imported', clusterCredentialRef: { name: `${dead}-cred` } },
          status: { addresses: [{ type: 'Real', host: '127.0.0.1', port: 9 }] },
        },
      }),
      201,
    );
    const prj = await newProject({ 'requests.cpu': '1' }, dead);
    const name = uniqueName('ns');
    expectStatus(await s.request('POST', paths.namespaces(prj), { body: namespaceBody(prj, name, { 'requests.cpu': '1' }, name, dead) }), 201);
    const failed = await waitNamespace(prj, name, 'Failed', ns => ns.status?.phase === 'Failed');
    assert.equal(failed.status.reason, 'ClusterNotRunning', JSON.stringify(failed.status));
    assert.equal(failed.status.used, undefined, 'nothing measured, nothing pretended');

    const refused = await s.request('GET', `${paths.namespace(prj, name)}/certificate`);
    const st = expectStatus(refused, 400, 'no CA key for the cluster');
    assert.equal(st.kind, 'Status');
    assert.match(st.message, new RegExp(`cluster "${dead}".*no caKey`));
    assert.doesNotMatch(refused.body.toString(), /BEGIN/);
    // Neither the member's token nor its CA key is ever in the server's log.
    const caKeyBody = readFileSync(path.join(path.dirname(kube.env.KUBE_CA_FILE), 'ca.key'), 'utf8').split('\n')[1];
    assert.doesNotMatch(s.logs(), new RegExp(kube.env.KUBE_TOKEN.slice(-16)));
    assert.ok(!s.logs().includes(caKeyBody), 'no CA key in the log');

    // Its deletion waits for a cluster that can be cleaned up ...
    expectStatus(await s.request('DELETE', paths.namespace(prj, name)), 202, 'the namespace finalizer is pending');
    const waiting = await waitNamespace(
      prj,
      name,
      'Terminating',
      ns => ns.status?.phase === 'Terminating' && /once it is Running again/.test(ns.status?.message ?? ''),
    );
    assert.ok(waiting);
    // ... and a cluster that is gone has nothing left to clean up.
    expectStatus(await s.request('DELETE', paths.cluster(dead)), 202);
    await waitFor(`${prj}/${name} to be gone`, async () => (await s.request('GET', paths.namespace(prj, name))).status === 404, 30_000, 250);
  });

  it("an NsEmigration moves the member namespace's labels, quota and usage to the new project", async () => {
    const from = await newProject();
    const to = await newProject();
    const { name, k8s } = await newNamespace(from);
    await waitAvailable(from, name);
    await kube.kubectlOK(['create', 'configmap', 'moving', '-n', k8s]);
    expectStatus(
      await s.request('POST', `${BUSINESS}/namespaces/${from}/nsemigrations`, {
        body: {
          apiVersion: 'business.tkestack.io/v1',
          kind: 'NsEmigration',
          metadata: { generateName: 'mv-', namespace: from },
          spec: { tenantID: 'default', namespace: name, destination: to },
        },
      }),
      201,
    );
    await waitFor(`${k8s} relabelled for ${to}`, async () => (await memberNamespace(k8s))?.metadata.labels[PROJECT_LABEL] === to, 20_000, 250);
    const moved = await waitAvailable(to, name);
    assert.equal(moved.metadata.annotations['business.tkestack.io/emigrated-from'], from);
    assert.deepEqual((await memberQuota(k8s)).spec.hard, nsHard, 'the quota moved with it');
    const count = await settledConfigMapCount(k8s);
    await waitFor(
      `the member's quota to count ${count} configmaps`,
      async () => (await memberQuota(k8s))?.status?.used?.['count/configmaps'] === String(count),
      30_000,
      250,
    );
    await waitFor(`${to} used`, async () => (await get(paths.project(to))).status?.clusters?.[cls]?.used?.['count/configmaps'] === String(count), 20_000, 250);
    await waitFor(`${from} used`, async () => (await get(paths.project(from))).status?.clusters?.[cls]?.used?.['count/configmaps'] === '0', 20_000, 250);
    // The certificate binding follows: a certificate for the moved namespace works there.
    const binding = JSON.parse((await kube.kubectlOK(['get', 'rolebinding', 'tke-business-namespace', '-n', k8s, '-o', 'json'])).stdout);
    assert.deepEqual(
      binding.subjects.map((x: any) => x.name),
      [`business.tkestack.io:namespace:${to}/${name}`],
    );
  });

  describe('a hostile tenant admin', function () {
    let token: string;
    let tenant: string;
    let own: string;
    let victimProject: string;
    let victim: { name: string; k8s: string };

    before(async () => {
      tenant = uniqueName('ten');
      expectStatus(
        await s.request('POST', `${AUTH}/identityproviders`, {
          body: { metadata: { name: tenant }, spec: { name: tenant, type: 'local', administrators: ['mallory'], config: '' } },
        }),
        201,
      );
      expectStatus(
        await s.request('POST', `${AUTH}/localidentities`, {
          body: { metadata: { generateName: 'usr-' }, spec: { username: 'mallory', displayName: 'mallory', hashedPassword: b64(PASSWORD), tenantID: tenant } },
        }),
        201,
      );
      token = expectStatus(
        await s.request('POST', `${AUTH}/apikeys/default/password`, {
          token: null,
          body: { tenantID: tenant, username: 'mallory', password: b64(PASSWORD), expire: '1h' },
        }),
        201,
      ).spec.apiKey;
      victimProject = await newProject();
      victim = await newNamespace(victimProject);
      await waitAvailable(victimProject, victim.name);
      own = uniqueName('mal');
      expectStatus(
        await s.request('POST', paths.projects, {
          token,
          body: {
            apiVersion: 'business.tkestack.io/v1',
            kind: 'Project',
            metadata: { name: own },
            spec: { tenantID: tenant, displayName: own, members: ['mallory'] },
          },
        }),
        201,
        'mallory may make projects in her own tenant',
      );
      projects.push(own);
    });

    it("cannot give her project another tenant's cluster, nor put a namespace into it", async () => {
      const withCluster = await s.request('POST', paths.projects, {
        token,
        body: {
          apiVersion: 'business.tkestack.io/v1',
          kind: 'Project',
          metadata: { name: uniqueName('mal') },
          spec: { tenantID: tenant, displayName: 'x', members: ['mallory'], clusters: { [cls]: { hard: projectHard } } },
        },
      });
      const refused = expectStatus(withCluster, 422, "another tenant's cluster");
      assert.ok(
        refused.details.causes.some((c: any) => c.field === `spec.clusters[${cls}]`),
        JSON.stringify(refused),
      );
      const into = await s.request('POST', paths.namespaces(own), {
        token,
        body: {
          apiVersion: 'business.tkestack.io/v1',
          kind: 'Namespace',
          metadata: { name: uniqueName('grab'), namespace: own },
          spec: { tenantID: tenant, clusterName: cls, namespace: victim.k8s, hard: {} },
        },
      });
      const st = expectStatus(into, 422, "a namespace in another tenant's cluster");
      assert.ok(
        st.details.causes.some((c: any) => c.field === 'spec.clusterName'),
        JSON.stringify(st),
      );
      assert.equal((await memberNamespace(victim.k8s)).metadata.labels[PROJECT_LABEL], victimProject, "the victim's namespace is still the victim's");
    });

    it("cannot take the victim's namespace with an NsEmigration, get its certificate, or delete it", async () => {
      const denied = (r: HttpResponse, ...codes: number[]) => assert.ok(codes.includes(r.status), describeResponse(r));
      denied(
        await s.request('POST', `${BUSINESS}/namespaces/${victimProject}/nsemigrations`, {
          token,
          body: {
            apiVersion: 'business.tkestack.io/v1',
            kind: 'NsEmigration',
            metadata: { generateName: 'mv-', namespace: victimProject },
            spec: { tenantID: tenant, namespace: victim.name, destination: own },
          },
        }),
        403,
        404,
        422,
      );
      // From her own project, naming the victim's: there is no such namespace in her project.
      denied(
        await s.request('POST', `${BUSINESS}/namespaces/${own}/nsemigrations`, {
          token,
          body: {
            apiVersion: 'business.tkestack.io/v1',
            kind: 'NsEmigration',
            metadata: { generateName: 'mv-', namespace: own },
            spec: { tenantID: tenant, namespace: victim.name, destination: victimProject },
          },
        }),
        422,
      );
      const certificate = await s.request('GET', `${paths.namespace(victimProject, victim.name)}/certificate`, { token });
      denied(certificate, 403, 404);
      assert.doesNotMatch(certificate.body.toString(), /BEGIN|certPem/);
      denied(await s.request('DELETE', paths.namespace(victimProject, victim.name), { token }), 403, 404);
      assert.equal((await get(paths.namespace(victimProject, victim.name))).status.phase, 'Available');
      const member = await memberNamespace(victim.k8s);
      assert.equal(member?.status.phase, 'Active');
      assert.equal(member.metadata.labels[PROJECT_LABEL], victimProject);
    });
  });
});
