// e2e: access into a member cluster. The real control plane of hack/kube (etcd, kube-apiserver,
// kube-controller-manager) is imported into a standalone tke-apiserver as an Imported cluster with
// a ClusterCredential, and reached the ways TKE clients do: the X-TKE-ClusterName header on
// Kubernetes paths (TKE manual 7.1 §1.3, §2.1, verbatim without the gateway's /platform prefix),
// clusters/<name>/proxy, apiresources, apply and drain. What the proxy did is checked on
// kube-apiserver itself; who may do it is checked against users, policies and another tenant,
// with a member that records what it is asked standing in for one that must not be contacted.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCA, issueServingCertificate } from '../../pkg/server/certs.ts';
import { KUBE_START_TIMEOUT_MS, kubeControlPlane, type KubeControlPlane } from '../support/kube.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { describeResponse, openWatch, watchReader, type HttpResponse, type WatchEvent } from '../support/http.ts';
import { uniqueName } from '../support/fixtures.ts';
import { waitFor } from '../support/wait.ts';

const PLATFORM = '/apis/platform.tkestack.io/v1';
const AUTH = '/apis/auth.tkestack.io/v1';
const PASSWORD = 'Passw0rd123';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const SSR = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
const ssrBody = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };

describe('e2e: member clusters (X-TKE-ClusterName, clusters/proxy, apiresources, apply, drain)', function () {
  this.timeout(120_000);
  let kube: KubeControlPlane;
  let s: TestServer;
  let cls: string;
  /** The member's own name for the credential's identity (KUBE_TOKEN). */
  let credentialUser: string;
  const ns = uniqueName('proxied');

  function expectStatus(res: HttpResponse, code: number, why = ''): any {
    assert.equal(res.status, code, `${why ? why + ': ' : ''}${describeResponse(res)}`);
    return res.body ? res.json() : undefined;
  }
  const inCluster = (name: string, token?: string, headers: Record<string, string> = {}) => ({ token, headers: { 'X-TKE-ClusterName': name, ...headers } });

  async function importCluster(port: number, credential: Record<string, unknown>, annotations?: Record<string, string>): Promise<string> {
    const cc = expectStatus(
      await s.request('POST', `${PLATFORM}/clustercredentials`, {
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'ClusterCredential',
          metadata: { generateName: 'cc-', ...(annotations ? { annotations } : {}) },
          tenantID: 'default',
          ...credential,
        },
      }),
      201,
      'credential',
    );
    const cluster = expectStatus(
      await s.request('POST', `${PLATFORM}/clusters`, {
        body: {
          apiVersion: 'platform.tkestack.io/v1',
          kind: 'Cluster',
          metadata: { generateName: 'cls-' },
          spec: { tenantID: 'default', displayName: 'member', type: 'Imported', clusterCredentialRef: { name: cc.metadata.name } },
          status: { addresses: [{ type: 'Real', host: '127.0.0.1', port }] },
        },
      }),
      201,
      'cluster',
    );
    return cluster.metadata.name;
  }

  async function userWithKey(username: string, tenant = 'default'): Promise<string> {
    expectStatus(
      await s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { generateName: 'usr-' }, spec: { username, displayName: username, hashedPassword: b64(PASSWORD), tenantID: tenant } },
      }),
      201,
      `user ${username}`,
    );
    const key = expectStatus(
      await s.request('POST', `${AUTH}/apikeys/default/password`, { token: null, body: { tenantID: tenant, username, password: b64(PASSWORD), expire: '1h' } }),
      201,
      `login ${username}`,
    );
    return key.spec.apiKey;
  }

  async function grant(username: string, actions: string[], resources: string[]): Promise<void> {
    const pol = expectStatus(
      await s.request('POST', `${AUTH}/policies`, {
        body: {
          metadata: { generateName: 'pol-default-' },
          spec: { tenantID: 'default', displayName: `allow ${actions.join(',')}`, scope: 'platform', statement: { actions, resources, effect: 'allow' } },
        },
      }),
      201,
    );
    expectStatus(await s.request('POST', `${AUTH}/policies/${pol.metadata.name}/binding`, { body: { users: [{ name: username }] } }), 201);
  }

  /** A watch through tke-apiserver with the headers a TKE client sends. */
  function watch(path: string, headers: Record<string, string>, onEvent: (ev: WatchEvent) => void) {
    const reader = watchReader(onEvent);
    const req = https.request(
      {
        host: '127.0.0.1',
        port: s.port,
        path,
        method: 'GET',
        ca: s.caPEM,
        checkServerIdentity: () => undefined,
        agent: false,
        headers: { Authorization: `Bearer ${s.token}`, Accept: 'application/json', ...headers },
      },
      res => {
        reader.setStatus(res.statusCode ?? 0);
        res.setEncoding('utf8');
        res.on('data', (c: string) => reader.feed(c));
        res.on('error', () => undefined);
      },
    );
    req.on('error', () => undefined);
    req.end();
    return { reader, close: () => req.destroy() };
  }

  before(async function () {
    this.timeout(KUBE_START_TIMEOUT_MS);
    kube = await kubeControlPlane();
    s = await startServer();
    const port = Number(new URL(kube.env.KUBE_SERVER).port);
    cls = await importCluster(port, { caCert: b64(kube.kubeCAPEM), token: kube.env.KUBE_TOKEN });
    const direct = await kube.kube('POST', SSR, { body: ssrBody });
    credentialUser = expectStatus(direct, 201, 'whoami on kube-apiserver').status.userInfo.username;
  });

  after(async () => {
    // Deleting the clusters takes TKE's kube-system/tke mark out of the shared member again, so
    // suites after this one can import it.
    if (s) {
      const names: string[] = (await s.request('GET', `${PLATFORM}/clusters`)).json().items.map((c: any) => c.metadata.name);
      for (const name of names) await s.request('DELETE', `${PLATFORM}/clusters/${name}`);
      await waitFor('the imported clusters to be gone', async () => (await s.request('GET', `${PLATFORM}/clusters`)).json().items.length === 0, 30_000);
    }
    await s?.stop();
  });

  describe('the X-TKE-ClusterName header on Kubernetes paths', () => {
    it("lists the member's namespaces (manual 7.1 §1.3, without the gateway prefix)", async () => {
      const list = expectStatus(await s.request('GET', '/api/v1/namespaces', inCluster(cls)), 200);
      assert.equal(list.kind, 'NamespaceList');
      const names = list.items.map((n: any) => n.metadata.name);
      assert.ok(names.includes('kube-system') && names.includes('default'), names.join(','));
    });

    it('creates a namespace and a configmap that are really in kube-apiserver, and patches it as §2.1 does', async () => {
      expectStatus(
        await s.request('POST', '/api/v1/namespaces', { ...inCluster(cls), body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } }),
        201,
      );
      expectStatus(
        await s.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
          ...inCluster(cls),
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'via-header' }, data: { a: '1' } },
        }),
        201,
      );
      const onMember = JSON.parse((await kube.kubectlOK(['get', 'configmap', '-n', ns, 'via-header', '-o', 'json'])).stdout);
      assert.deepEqual(onMember.data, { a: '1' });

      const patched = await s.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/via-header`, {
        ...inCluster(cls, undefined, { 'Content-Type': 'application/strategic-merge-patch+json' }),
        body: JSON.stringify({ data: { b: '2' } }),
      });
      expectStatus(patched, 200);
      const after = JSON.parse((await kube.kubectlOK(['get', 'configmap', '-n', ns, 'via-header', '-o', 'json'])).stdout);
      assert.deepEqual(after.data, { a: '1', b: '2' });
    });

    it("passes the member's own refusals back as they are (a 404 Status stays one)", async () => {
      const r = await s.request('GET', `/api/v1/namespaces/${ns}/configmaps/none-such`, inCluster(cls));
      const status = expectStatus(r, 404);
      assert.match(String(r.headers['content-type']), /application\/json/);
      assert.equal(status.kind, 'Status');
      assert.equal(status.reason, 'NotFound');
      assert.deepEqual([status.details.name, status.details.kind], ['none-such', 'configmaps']);
    });

    it('streams a watch: an object created on the member arrives as an event', async () => {
      const seen: WatchEvent[] = [];
      const w = watch(`/api/v1/namespaces/${ns}/configmaps?watch=true`, { 'X-TKE-ClusterName': cls }, ev => seen.push(ev));
      try {
        await waitFor('the watch to open', async () => w.reader.status() === 200, 10_000);
        await kube.kubectlOK(['create', 'configmap', 'watched', '-n', ns, '--from-literal=k=v']);
        await waitFor('the ADDED event through the proxy', async () => seen.some(e => e.type === 'ADDED' && e.object?.metadata?.name === 'watched'), 15_000);
      } finally {
        w.close();
      }
    });

    it("leaves TKE's own groups to this server, header or not", async () => {
      const list = expectStatus(await s.request('GET', `${PLATFORM}/clusters`, inCluster(cls)), 200);
      assert.equal(list.kind, 'ClusterList');
    });

    it("never passes a client's Impersonate-* or Authorization on: the member sees the credential", async () => {
      const r = await s.request('POST', SSR, {
        ...inCluster(cls, undefined, { 'Impersonate-User': 'system:admin', 'Impersonate-Group': 'system:masters' }),
        body: ssrBody,
      });
      const review = expectStatus(r, 201);
      assert.equal(review.status.userInfo.username, credentialUser);
      assert.ok(!(review.status.userInfo.groups ?? []).includes('system:masters'), JSON.stringify(review.status.userInfo));
    });
  });

  describe('clusters/<name>/proxy', () => {
    it("takes the member path in ?path= (TKE's ClusterProxy) or after /proxy/", async () => {
      const byQuery = expectStatus(await s.request('GET', `${PLATFORM}/clusters/${cls}/proxy?path=/api/v1/namespaces/${ns}/configmaps`), 200);
      assert.ok(byQuery.items.some((c: any) => c.metadata.name === 'via-header'));
      const bySuffix = expectStatus(await s.request('GET', `${PLATFORM}/clusters/${cls}/proxy/api/v1/namespaces/${ns}/configmaps/via-header`), 200);
      assert.equal(bySuffix.data.a, '1');
      expectStatus(
        await s.request('POST', `${PLATFORM}/clusters/${cls}/proxy?path=/api/v1/namespaces/${ns}/configmaps`, {
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'via-proxy' } },
        }),
        201,
      );
      await kube.kubectlOK(['get', 'configmap', '-n', ns, 'via-proxy']);
      expectStatus(await s.request('DELETE', `${PLATFORM}/clusters/${cls}/proxy/api/v1/namespaces/${ns}/configmaps/via-proxy`), 200);
      const gone = await kube.kubectl(['get', 'configmap', '-n', ns, 'via-proxy']);
      assert.notEqual(gone.code, 0, 'deleted through the proxy');
      expectStatus(await s.request('GET', `${PLATFORM}/clusters/${cls}/proxy`), 400, 'no path');
      expectStatus(await s.request('GET', `${PLATFORM}/clusters/no-such-cluster/proxy?path=/api/v1/namespaces`), 404);
    });

    it('is listed by discovery with apiresources, apply and drain', async () => {
      const list = expectStatus(await s.request('GET', PLATFORM), 200);
      const names = list.resources.map((r: any) => r.name);
      for (const sub of ['clusters/proxy', 'clusters/apiresources', 'clusters/apply', 'clusters/drain'])
        assert.ok(names.includes(sub), `${sub} in ${names.join(',')}`);
    });
  });

  describe('clusters/<name>/apiresources', () => {
    it("lists the member's core and apps resources as a ClusterGroupAPIResourceItemsList", async () => {
      const list = expectStatus(await s.request('GET', `${PLATFORM}/clusters/${cls}/apiresources`), 200);
      assert.equal(list.kind, 'ClusterGroupAPIResourceItemsList');
      const core = list.items.find((i: any) => i.groupVersion === 'v1');
      const apps = list.items.find((i: any) => i.groupVersion === 'apps/v1');
      assert.ok(core && apps, list.items.map((i: any) => i.groupVersion).join(','));
      const configmaps = core.resources.find((r: any) => r.name === 'configmaps');
      assert.deepEqual([configmaps.kind, configmaps.namespaced, configmaps.version], ['ConfigMap', true, 'v1']);
      const deployments = apps.resources.find((r: any) => r.name === 'deployments');
      assert.deepEqual([deployments.kind, deployments.group], ['Deployment', 'apps']);
      assert.ok(deployments.verbs.includes('create'));
    });
  });

  describe('clusters/<name>/apply', () => {
    const manifest = (value: string) =>
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: applied-one',
        `  namespace: ${ns}`,
        'data:',
        `  value: "${value}"`,
        '---',
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: applied-two',
        `  namespace: ${ns}`,
        'data:',
        `  value: "${value}"`,
        '',
      ].join('\n');
    const apply = (body: string, query = '') =>
      s.request('POST', `${PLATFORM}/clusters/${cls}/apply${query}`, { headers: { 'Content-Type': 'application/yaml' }, body });
    const memberValue = async (name: string) => JSON.parse((await kube.kubectlOK(['get', 'configmap', '-n', ns, name, '-o', 'json'])).stdout).data.value;

    it('creates every document of a YAML manifest, then updates them', async () => {
      const created = expectStatus(await apply(manifest('first')), 200);
      assert.equal(created.status, 'Success');
      assert.deepEqual(created.message.split('\n'), ['ConfigMap applied-one created', 'ConfigMap applied-two created']);
      assert.equal(await memberValue('applied-one'), 'first');

      const updated = expectStatus(await apply(manifest('second')), 200);
      assert.deepEqual(updated.message.split('\n'), ['ConfigMap applied-one configured', 'ConfigMap applied-two configured']);
      assert.equal(await memberValue('applied-two'), 'second');
    });

    it('takes JSON too, and refuses to touch what exists with ?notUpdate=true', async () => {
      const json = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied-one', namespace: ns }, data: { value: 'third' } });
      const refused = expectStatus(await apply(json, '?notUpdate=true'), 409);
      assert.equal(refused.reason, 'AlreadyExists');
      assert.equal(await memberValue('applied-one'), 'second');
      expectStatus(await apply(json), 200);
      assert.equal(await memberValue('applied-one'), 'third');
      expectStatus(await apply(''), 400, 'nothing to apply');
    });
  });

  describe('clusters/<name>/drain', () => {
    it("cordons the node and evicts its pods (TKE's drain/<node>)", async () => {
      const node = uniqueName('node');
      // Made directly on kube-apiserver: kubectl create would first fetch the aggregated OpenAPI,
      // which needs the control plane's own tke-apiserver, and that is not what this test is about.
      expectStatus(await kube.kube('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } }), 201, 'node');
      expectStatus(
        await kube.kube('POST', `/api/v1/namespaces/${ns}/pods`, {
          body: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'evictee', namespace: ns },
            spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox' }] },
          },
        }),
        201,
        'pod',
      );
      const drained = expectStatus(await s.request('POST', `${PLATFORM}/clusters/${cls}/drain/${node}`), 201);
      assert.equal(drained.kind, 'Node');
      assert.equal(drained.spec.unschedulable, true);
      const onMember = JSON.parse((await kube.kubectlOK(['get', 'node', node, '-o', 'json'])).stdout);
      assert.equal(onMember.spec.unschedulable, true);
      const pod = await kube.kubectl(['get', 'pod', '-n', ns, 'evictee', '-o', 'json']);
      assert.ok(pod.code !== 0 || JSON.parse(pod.stdout).metadata.deletionTimestamp, `the pod is evicted: ${pod.stdout}`);
      expectStatus(await s.request('POST', `${PLATFORM}/clusters/${cls}/drain?path=${uniqueName('absent')}`), 404);
    });
  });

  describe('who may reach a member', () => {
    let bob: string;
    let mallory: string;
    // A member that records the paths it is asked for (the cluster controller's probes are its
    // business; what the test sends through the proxy must never arrive).
    let trap: https.Server;
    const asked: string[] = [];
    const askedHeaders: Array<Record<string, unknown>> = [];
    const proxiedAsked = () =>
      asked.filter(
        p =>
          p === '/api' || p.startsWith('/apis/apps') || p === '/api/v1/namespaces' || p.startsWith(`/api/v1/namespaces/${ns}`) || p.startsWith('/api/v1/nodes'),
      );
    let trapped: string;

    before(async () => {
      bob = await userWithKey('bob');
      expectStatus(
        await s.request('POST', `${AUTH}/identityproviders`, {
          body: { metadata: { name: 'other' }, spec: { name: 'other', type: 'local', administrators: ['mallory'], config: '' } },
        }),
        201,
      );
      mallory = await userWithKey('mallory', 'other');
      const ca = await createCA('trap');
      const serving = await issueServingCertificate(ca, { commonName: 'trap', dnsNames: [], ipAddresses: ['127.0.0.1'] });
      trap = https.createServer({ cert: serving.certPEM, key: serving.keyPEM }, (req, res) => {
        asked.push(req.url ?? '');
        askedHeaders.push(req.headers);
        res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"kind":"Status","apiVersion":"v1","status":"Failure","code":503}');
      });
      await new Promise<void>(resolve => trap.listen(0, '127.0.0.1', resolve));
      trapped = await importCluster((trap.address() as AddressInfo).port, { caCert: b64(ca.certPEM), token: 'trap-token' });
    });
    after(() => new Promise<void>(resolve => trap?.close(() => resolve())));

    it('a user without a policy gets 403, and the member is not contacted', async () => {
      expectStatus(await s.request('GET', '/api/v1/namespaces', inCluster(trapped, bob)), 403);
      expectStatus(await s.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { ...inCluster(trapped, bob), body: { metadata: { name: 'x' } } }), 403);
      expectStatus(await s.request('GET', `${PLATFORM}/clusters/${trapped}/proxy?path=/api/v1/namespaces`, { token: bob }), 403);
      expectStatus(
        await s.request('POST', `${PLATFORM}/clusters/${trapped}/apply`, {
          token: bob,
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: ns } },
        }),
        403,
      );
      expectStatus(
        await s.request('POST', `${PLATFORM}/clusters/${cls}/proxy?path=/api/v1/namespaces/${ns}/configmaps`, {
          token: bob,
          body: { metadata: { name: 'bobs' } },
        }),
        403,
      );
      assert.notEqual((await kube.kubectl(['get', 'configmap', '-n', ns, 'bobs'])).code, 0, 'nothing written for bob');
      assert.deepEqual(proxiedAsked(), []);
    });

    it('an administrator of another tenant does not find the cluster (404), and the member is not contacted', async () => {
      for (const r of [
        await s.request('GET', '/api/v1/namespaces', inCluster(trapped, mallory)),
        // Discovery needs no policy; the cluster of another tenant is still not there.
        await s.request('GET', '/api', inCluster(trapped, mallory)),
        await s.request('GET', '/apis/apps/v1', inCluster(trapped, mallory)),
        await s.request('GET', `${PLATFORM}/clusters/${trapped}/proxy?path=/api/v1/namespaces`, { token: mallory }),
        await s.request('GET', `${PLATFORM}/clusters/${trapped}/apiresources`, { token: mallory }),
        await s.request('POST', `${PLATFORM}/clusters/${trapped}/drain/n1`, { token: mallory }),
      ])
        assert.ok(r.status === 404 || r.status === 403, describeResponse(r));
      const header = await s.request('GET', '/api/v1/namespaces', inCluster(trapped, mallory));
      assert.equal(header.json().reason, 'NotFound', describeResponse(header));
      assert.deepEqual(proxiedAsked(), []);
    });

    it('a user with a policy reaches the member, as the credential', async () => {
      await grant('bob', ['*'], ['*']);
      await waitFor("bob's policy to apply", async () => (await s.request('GET', '/api/v1/namespaces', inCluster(cls, bob))).status === 200);
      const review = expectStatus(await s.request('POST', SSR, { ...inCluster(cls, bob), body: ssrBody }), 201);
      assert.equal(review.status.userInfo.username, credentialUser);
      const identityHeaders = {
        Cookie: 'session=bobs',
        'Impersonate-User': 'system:admin',
        'Impersonate-Group': 'system:masters',
        'X-Remote-User': 'admin',
        'X-Remote-Group': 'system:masters',
      };
      const answer = await s.request('GET', '/api/v1/namespaces', inCluster(trapped, bob, identityHeaders));
      expectStatus(answer, 503, "the member's own answer, as it is");
      assert.equal(answer.json().code, 503);
      assert.deepEqual(proxiedAsked(), ['/api/v1/namespaces'], 'now the member is asked');
      const sent = askedHeaders[asked.indexOf('/api/v1/namespaces')];
      assert.equal(sent.authorization, 'Bearer trap-token', "the credential's token, not bob's key");
      for (const h of Object.keys(sent)) assert.ok(!/^(cookie|impersonate-|x-remote-)/.test(h), `${h} passed on to the member`);
    });

    it('policies name the cluster: cluster:<cls>/... statements decide inside that cluster and no other', async () => {
      const carol = await userWithKey('carol');
      await grant('carol', ['*'], [`cluster:${trapped}/*`]);
      await waitFor(
        "carol's policy to apply",
        async () => (await s.request('GET', `/api/v1/namespaces/${ns}/configmaps`, inCluster(trapped, carol))).status === 503,
      );
      const elsewhere = await s.request('GET', `/api/v1/namespaces/${ns}/configmaps`, inCluster(cls, carol));
      expectStatus(elsewhere, 403, 'a statement about one cluster grants nothing in another');
      assert.match(elsewhere.json().message, new RegExp(`in cluster "${cls}"`));
      await grant('carol', ['listConfigmaps'], [`cluster:${cls}/namespace:${ns}/configmap:*`]);
      await waitFor(
        "carol's second policy to apply",
        async () => (await s.request('GET', `/api/v1/namespaces/${ns}/configmaps`, inCluster(cls, carol))).status === 200,
      );
      expectStatus(await s.request('GET', '/api/v1/namespaces', inCluster(cls, carol)), 403, 'only configmaps of that namespace');
      expectStatus(await s.request('GET', '/api/v1/namespaces/kube-system/configmaps', inCluster(cls, carol)), 403, 'only that namespace');
    });

    it('the caller is impersonated only where the credential opts in', async () => {
      const port = Number(new URL(kube.env.KUBE_SERVER).port);
      const asCaller = await importCluster(
        port,
        { caCert: b64(kube.kubeCAPEM), token: kube.env.KUBE_TOKEN },
        { 'platform.tkestack.io/impersonate-caller': 'true' },
      );
      const review = expectStatus(await s.request('POST', SSR, { ...inCluster(asCaller, bob), body: ssrBody }), 201);
      assert.equal(review.status.userInfo.username, 'bob');
      assert.ok(!(review.status.userInfo.groups ?? []).some((g: string) => g === 'system:masters'), JSON.stringify(review.status.userInfo));
    });
  });

  describe('a graceful stop', () => {
    it('ends a stream through the proxy instead of waiting out the drain for it', async () => {
      const other = await startServer();
      try {
        const cc = expectStatus(
          await other.request('POST', `${PLATFORM}/clustercredentials`, {
            body: {
              apiVersion: 'platform.tkestack.io/v1',
              kind: 'ClusterCredential',
              metadata: { generateName: 'cc-' },
              tenantID: 'default',
              caCert: b64(kube.kubeCAPEM),
              token: kube.env.KUBE_TOKEN,
            },
          }),
          201,
          'credential',
        );
        const member = expectStatus(
          await other.request('POST', `${PLATFORM}/clusters`, {
            body: {
              apiVersion: 'platform.tkestack.io/v1',
              kind: 'Cluster',
              metadata: { generateName: 'cls-' },
              spec: { tenantID: 'default', displayName: 'member', type: 'Imported', clusterCredentialRef: { name: cc.metadata.name } },
              status: { addresses: [{ type: 'Real', host: '127.0.0.1', port: Number(new URL(kube.env.KUBE_SERVER).port) }] },
            },
          }),
          201,
          'cluster',
        ).metadata.name;
        const watch = openWatch(
          { port: other.port, caPEM: other.caPEM, token: other.token },
          `${PLATFORM}/clusters/${member}/proxy?path=${encodeURIComponent('/api/v1/namespaces?watch=true')}`,
        );
        await waitFor('the proxied watch to be streaming', async () => watch.events.length > 0, 15_000);
        const began = Date.now();
        await other.stop();
        const took = Date.now() - began;
        await watch.done;
        assert.ok(took < 5_000, `the server took ${took} ms to stop with a proxied watch open (the drain allows 10 s)`);
      } finally {
        if (other.alive()) await other.stop();
      }
    });
  });

  describe('what is recorded', () => {
    it("the audit trail has the proxied writes and refusals, and neither it nor the log holds the credential's token", async () => {
      const events = expectStatus(await s.request('GET', `${AUTH}/auditevents`), 200);
      const text = JSON.stringify(events);
      assert.ok(
        events.items.some((e: any) => e.spec?.username === 'bob' && e.spec?.resource === 'configmaps' && e.spec?.decision === 'deny'),
        "bob's refused configmap write is audited",
      );
      for (const secret of [kube.env.KUBE_TOKEN, 'trap-token']) {
        assert.ok(!text.includes(secret), 'token in the audit trail');
        assert.ok(!s.logs().includes(secret), 'token in the server log');
      }
    });
  });
});
