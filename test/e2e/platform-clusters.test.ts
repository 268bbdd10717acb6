// e2e: the platform group against a real member cluster. A standalone tke-apiserver imports the
// run's kube-apiserver (hack/kube/up.sh) through a ClusterCredential, reached through a TCP relay
// the test can cut: the cluster goes Running with the member's version, marks the member with
// kube-system/tke, goes Failed when the member is cut off and Running when it is back, and its
// deletion removes what it made. TKE's validation of clusters and credentials, and a tenant
// admin who tries to use another tenant's credential, are checked on the same server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KUBE_START_TIMEOUT_MS, kubeControlPlane, type KubeControlPlane } from '../support/kube.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, type HttpResponse } from '../support/http.ts';
import { parseTable } from '../support/tables.ts';
import { uniqueName } from '../support/fixtures.ts';
import { waitFor } from '../support/wait.ts';
import { Relay } from '../support/relay.ts';

const PLATFORM = '/apis/platform.tkestack.io/v1';
const AUTH = '/apis/auth.tkestack.io/v1';
const PASSWORD = 'Passw0rd123';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('e2e: imported clusters (platform.tkestack.io against a real kube-apiserver)', function () {
  this.timeout(120_000);
  let kube: KubeControlPlane;
  let s: TestServer;
  let relay: Relay;
  let caCert: string;

  before(async function () {
    this.timeout(KUBE_START_TIMEOUT_MS);
    kube = await kubeControlPlane();
    caCert = b64(readFileSync(kube.env.KUBE_CA_FILE, 'utf8'));
    relay = new Relay(Number(new URL(kube.env.KUBE_SERVER).port));
    await relay.open();
    s = await startServer({ args: ['--cluster-health-check-period=1'] });
  });
  after(async () => {
    await relay?.cut();
    await s?.stop();
  });

  const expectStatus = (res: HttpResponse, code: number, why = ''): any => {
    assert.equal(res.status, code, `${why} ${describeResponse(res)}`);
    return res.body ? res.json() : undefined;
  };
  const credential = (name: string, extra: Record<string, unknown> = {}) =>
    s.request('POST', `${PLATFORM}/clustercredentials`, {
      body: {
        apiVersion: 'platform.tkestack.io/v1',
        kind: 'ClusterCredential',
        metadata: { name },
        tenantID: 'default',
        caCert,
        token: kube.env.KUBE_TOKEN,
        ...extra,
      },
    });
  const cluster = (
    name: string,
    credentialName: string | undefined,
    opts: { port?: number; tenant?: string; type?: string; addresses?: unknown[]; token?: string } = {},
  ) =>
    s.request('POST', `${PLATFORM}/clusters`, {
      token: opts.token,
      body: {
        apiVersion: 'platform.tkestack.io/v1',
        kind: 'Cluster',
        metadata: { name },
        spec: {
          tenantID: opts.tenant ?? 'default',
          displayName: name,
          type: opts.type ?? 'Imported',
          ...(credentialName ? { clusterCredentialRef: { name: credentialName } } : {}),
        },
        status: { addresses: opts.addresses ?? [{ type: 'Real', host: '127.0.0.1', port: opts.port ?? relay.port }] },
      },
    });
  const getCluster = async (name: string) => expectStatus(await s.request('GET', `${PLATFORM}/clusters/${name}`), 200);
  const waitPhase = async (name: string, phase: string, timeoutMs = 30_000) => {
    let last: any;
    await waitFor(
      `cluster ${name} to be ${phase}`,
      async () => {
        last = await getCluster(name);
        return last.status?.phase === phase;
      },
      timeoutMs,
    ).catch(err => {
      throw new Error(`${err.message}; last status: ${JSON.stringify(last?.status)}`);
    });
    return last;
  };
  const memberMark = async () => {
    const r = await kube.kubectl(['get', 'configmap', 'tke', '-n', 'kube-system', '-o', 'json']);
    return r.code === 0 ? JSON.parse(r.stdout) : undefined;
  };

  describe('import', function () {
    const name = uniqueName('cls-imp');
    const cred = `${name}-cred`;
    let uid: string;

    it("goes Running with the member's version, a HealthCheck condition and TKE's mark in the member", async () => {
      expectStatus(await credential(cred), 201);
      const made = expectStatus(await cluster(name, cred), 201);
      uid = made.metadata.uid;
      assert.deepEqual(made.spec.finalizers, ['cluster']);
      assert.equal(made.spec.dnsDomain, 'cluster.local');
      assert.equal(made.status.addresses[0].port, relay.port, 'the addresses given on create are kept');
      const running = await waitPhase(name, 'Running');
      const version = expectStatus(await kube.kube('GET', '/version'), 200);
      assert.equal(running.status.version, version.gitVersion.replace(/^v/, ''));
      assert.equal(running.status.kubeVendor, 'Other');
      const hc = running.status.conditions.find((c: any) => c.type === 'HealthCheck');
      assert.equal(hc?.status, 'True', JSON.stringify(running.status));
      const mark = await memberMark();
      assert.ok(mark, 'kube-system/tke exists in the member');
      assert.equal(mark.metadata.annotations['platform.tkestack.io/cluster-uid'], uid);
      const cc = expectStatus(await s.request('GET', `${PLATFORM}/clustercredentials/${cred}`), 200);
      assert.equal(cc.clusterName, name, 'the credential now belongs to the cluster');
    });

    it('kubectl get clusters shows the probed version and the phase', async () => {
      const r = await s.kubectlOK(['get', 'clusters', name]);
      const [row] = parseTable(r.stdout).rows;
      const version = expectStatus(await kube.kube('GET', '/version'), 200).gitVersion.replace(/^v/, '');
      assert.equal(row!.TYPE, 'Imported', r.stdout);
      assert.equal(row!.VERSION, version, r.stdout);
      assert.equal(row!.PHASE, 'Running', r.stdout);
    });

    it('goes Failed with the reason when the member cannot be reached, and Running again when it can', async () => {
      await relay.cut();
      const failed = await waitPhase(name, 'Failed');
      assert.equal(failed.status.reason, 'Unreachable', JSON.stringify(failed.status));
      assert.match(failed.status.message, /cannot reach/);
      assert.equal(failed.status.conditions.find((c: any) => c.type === 'HealthCheck')?.status, 'False');
      await relay.open();
      const back = await waitPhase(name, 'Running');
      assert.equal(back.status.reason, undefined);
      assert.equal(back.status.message, undefined);
    });

    it("a second import of the same member is Failed (the mark), and its deletion leaves the first cluster's mark", async () => {
      const other = uniqueName('cls-dup');
      expectStatus(await credential(`${other}-cred`), 201);
      expectStatus(await cluster(other, `${other}-cred`), 201);
      const failed = await waitPhase(other, 'Failed');
      assert.equal(failed.status.reason, 'AlreadyImported', JSON.stringify(failed.status));
      expectStatus(await s.request('DELETE', `${PLATFORM}/clusters/${other}`), 202, 'delete waits for the cluster finalizer');
      await waitFor(`${other} to be gone`, async () => (await s.request('GET', `${PLATFORM}/clusters/${other}`)).status === 404, 30_000);
      assert.equal((await memberMark())?.metadata.annotations['platform.tkestack.io/cluster-uid'], uid);
    });

    it('a credential the member refuses makes the cluster Failed as Unauthorized', async () => {
      const bad = uniqueName('cls-bad');
      expectStatus(await credential(`${bad}-cred`, { token: 'not-a-valid-token' }), 201);
      expectStatus(await cluster(bad, `${bad}-cred`), 201);
      const failed = await waitPhase(bad, 'Failed');
      assert.equal(failed.status.reason, 'Unauthorized', JSON.stringify(failed.status));
      assert.doesNotMatch(JSON.stringify(failed), /not-a-valid-token/);
      assert.doesNotMatch(s.logs(), /not-a-valid-token/);
      expectStatus(await s.request('DELETE', `${PLATFORM}/clusters/${bad}`), 202, 'delete waits for the cluster finalizer');
    });

    it('deleting the cluster removes the mark from the member and the credential, then the cluster', async () => {
      expectStatus(await s.request('DELETE', `${PLATFORM}/clusters/${name}`), 202, 'delete waits for the cluster finalizer');
      await waitFor(`${name} to be gone`, async () => (await s.request('GET', `${PLATFORM}/clusters/${name}`)).status === 404, 30_000);
      assert.equal(await memberMark(), undefined, 'kube-system/tke is removed from the member');
      expectStatus(await s.request('GET', `${PLATFORM}/clustercredentials/${cred}`), 404);
    });
  });

  describe("TKE's validation", function () {
    it('an unknown type is 422 naming spec.type; Imported needs addresses and a credential', async () => {
      const bad = expectStatus(await cluster(uniqueName('cls-x'), undefined, { type: 'Eks' }), 422);
      assert.equal(bad.details.causes[0].field, 'spec.type');
      assert.match(bad.details.causes[0].message, /supported values: "Baremetal", "Imported"/);
      const noAddr = expectStatus(await cluster(uniqueName('cls-x'), 'whatever', { addresses: [] }), 422);
      assert.ok(
        noAddr.details.causes.some((c: any) => c.field === 'status.addresses'),
        JSON.stringify(noAddr),
      );
      const badPort = expectStatus(await cluster(uniqueName('cls-x'), 'whatever', { addresses: [{ type: 'Real', host: '127.0.0.1', port: 70000 }] }), 422);
      assert.ok(
        badPort.details.causes.some((c: any) => c.field === 'status.addresses[0].port'),
        JSON.stringify(badPort),
      );
      const noCred = expectStatus(await cluster(uniqueName('cls-x'), undefined), 422);
      assert.ok(
        noCred.details.causes.some((c: any) => c.field === 'spec.clusterCredentialRef.name'),
        JSON.stringify(noCred),
      );
      const missing = expectStatus(await cluster(uniqueName('cls-x'), uniqueName('no-such-cred')), 422);
      assert.equal(missing.details.causes[0].field, 'spec.clusterCredentialRef.name');
      const halfCert = expectStatus(await credential(uniqueName('cc-x'), { token: undefined, clientKey: b64('key') }), 422);
      assert.equal(halfCert.details.causes[0].field, 'clientCert');
    });

    it('the type of a cluster cannot change', async () => {
      const name = uniqueName('cls-bm');
      expectStatus(await cluster(name, undefined, { type: 'Baremetal' }), 201);
      const r = await s.request('PATCH', `${PLATFORM}/clusters/${name}`, {
        headers: { 'Content-Type': 'application/merge-patch+json' },
        body: { spec: { type: 'Imported' } },
      });
      const st = expectStatus(r, 422);
      assert.ok(
        st.details.causes.some((c: any) => c.field === 'spec.type'),
        JSON.stringify(st),
      );
      expectStatus(await s.request('DELETE', `${PLATFORM}/clusters/${name}`), 202, 'delete waits for the cluster finalizer');
      await waitFor(`${name} to be gone`, async () => (await s.request('GET', `${PLATFORM}/clusters/${name}`)).status === 404, 30_000);
    });
  });

  describe('a hostile tenant admin', function () {
    it("cannot import a cluster with another tenant's credential, nor read its token", async () => {
      const tenant = uniqueName('ten');
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
      const key = expectStatus(
        await s.request('POST', `${AUTH}/apikeys/default/password`, {
          token: null,
          body: { tenantID: tenant, username: 'mallory', password: b64(PASSWORD), expire: '1h' },
        }),
        201,
      );
      const token = key.spec.apiKey;

      const victim = uniqueName('cc-victim');
      expectStatus(await credential(victim), 201);
      const r = await cluster(uniqueName('cls-steal'), victim, { tenant, token });
      const st = expectStatus(r, 422, "naming another tenant's credential");
      assert.match(st.details.causes[0].message, /no such cluster credential in the tenant/);
      const read = await s.request('GET', `${PLATFORM}/clustercredentials/${victim}`, { token });
      assert.ok(read.status === 403 || read.status === 404, describeResponse(read));
      const list = await s.request('GET', `${PLATFORM}/clustercredentials`, { token });
      assert.doesNotMatch(list.body.toString(), new RegExp(kube.env.KUBE_TOKEN.slice(-16)), 'no token of another tenant in a list');
    });
  });
});
