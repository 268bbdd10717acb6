// e2e: tke-apiserver aggregated into a real kube-apiserver (etcd, kube-apiserver,
// kube-controller-manager built from Go modules, started by hack/kube/up.sh), driven by the real
// kubectl against kube.kubeconfig: discovery, OpenAPI, every verb and watch through the
// aggregator, who the server sees, delegated authorization (RBAC) for kube users and TKE
// policies for TKE users coming through the cluster's token webhook, and the ID tokens of
// tke-apiserver's OIDC issuer accepted by kube-apiserver's --oidc-issuer-url.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KUBE_START_TIMEOUT_MS, kubeControlPlane, type KubeControlPlane, type KubeKubectlOptions } from '../support/kube.ts';
import { describeResponse, parseJSONStream } from '../support/http.ts';
import { describeRun, followOutput, type KubectlResult } from '../support/kubectl.ts';
import { clusterObject, namespaceObject, projectObject, toYAML, uniqueName, GROUPS } from '../support/fixtures.ts';
import { parseTable } from '../support/tables.ts';
import { waitFor } from '../support/wait.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const PASSWORD = 'Passw0rd123';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const AGGREGATED_DISCOVERY = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

describe('e2e: aggregated into a real kube-apiserver (hack/kube/up.sh)', function () {
  this.timeout(120_000);
  let kube: KubeControlPlane;

  before(async function () {
    this.timeout(KUBE_START_TIMEOUT_MS);
    kube = await kubeControlPlane();
  });

  const kubectlOK = (args: string[], opts?: KubeKubectlOptions) => kube.kubectlOK(args, opts);
  const json = (r: KubectlResult) => JSON.parse(r.stdout);
  const refused = (args: string[], r: KubectlResult, what: RegExp) => {
    assert.notEqual(r.code, 0, describeRun(args, r));
    assert.match(r.stderr, what, describeRun(args, r));
  };

  describe('discovery and OpenAPI through the aggregator', function () {
    it('registers the four groups with APIService objects that are Available', async function () {
      const r = await kubectlOK(['get', 'apiservices', '-o', 'json']);
      for (const g of Object.values(GROUPS)) {
        const svc = json(r).items.find((a: any) => a.metadata.name === `v1.${g}`);
        assert.ok(svc, `no APIService v1.${g}`);
        const available = svc.status?.conditions?.find((c: any) => c.type === 'Available');
        assert.equal(available?.status, 'True', JSON.stringify(svc.status));
        assert.deepEqual(svc.spec.service.namespace + '/' + svc.spec.service.name, 'tke/tke-apiserver');
      }
    });

    it('kubectl api-resources lists the resources of the four groups', async function () {
      const args = ['api-resources'];
      const r = await kubectlOK(args);
      const rows = parseTable(r.stdout).rows;
      const row = (name: string, apiVersion: string) => rows.find(x => x.NAME === name && x.APIVERSION === apiVersion);
      for (const [name, apiVersion, kind] of [
        ['clusters', 'platform.tkestack.io/v1', 'Cluster'],
        ['projects', 'business.tkestack.io/v1', 'Project'],
        ['namespaces', 'business.tkestack.io/v1', 'Namespace'],
        ['localidentities', 'auth.tkestack.io/v1', 'LocalIdentity'],
        ['repositories', 'registry.tkestack.io/v1', 'Repository'],
      ]) {
        assert.equal(row(name, apiVersion)?.KIND, kind, `${name} ${apiVersion}\n${describeRun(args, r)}`);
      }
      assert.equal(row('namespaces', 'business.tkestack.io/v1')?.NAMESPACED, 'true');
      assert.equal(row('clusters', 'platform.tkestack.io/v1')?.NAMESPACED, 'false');
      const tke = await kubectlOK(['api-resources', '--categories=tke', '-o', 'name']);
      assert.ok(tke.stdout.split('\n').includes('projects.business.tkestack.io'), tke.stdout);
    });

    it("kube-apiserver's aggregated discovery (v2) carries the four groups with their resources", async function () {
      const res = await kube.kube('GET', '/apis', { headers: { Accept: AGGREGATED_DISCOVERY } });
      assert.equal(res.status, 200, describeResponse(res));
      assert.match(String(res.headers['content-type']), /g=apidiscovery\.k8s\.io;\s*v=v2;\s*as=APIGroupDiscoveryList/);
      const doc = res.json();
      assert.equal(doc.kind, 'APIGroupDiscoveryList');
      const groups = new Map<string, any>(doc.items.map((g: any) => [g.metadata.name, g]));
      for (const g of Object.values(GROUPS)) assert.ok(groups.has(g), `${g} missing from ${[...groups.keys()].join(',')}`);
      const business = groups.get(GROUPS.business).versions.find((v: any) => v.version === 'v1');
      const projects = business.resources.find((x: any) => x.resource === 'projects');
      assert.equal(projects?.responseKind?.kind, 'Project', JSON.stringify(projects));
      assert.equal(projects.scope, 'Cluster');
      for (const verb of ['get', 'list', 'watch', 'create', 'patch', 'delete']) assert.ok(projects.verbs.includes(verb), `${verb}: ${projects.verbs}`);
      const names = groups.get(GROUPS.platform).versions[0].resources.map((x: any) => x.resource);
      assert.ok(names.includes('clusters'), names.join(','));
    });

    it('kubectl explain reads the aggregated OpenAPI v3', async function () {
      const index = await kubectlOK(['get', '--raw', '/openapi/v3']);
      const paths = Object.keys(json(index).paths);
      for (const g of Object.values(GROUPS)) assert.ok(paths.includes(`apis/${g}/v1`), `apis/${g}/v1 not in ${paths.join(',')}`);
      const args = ['explain', 'projects.spec'];
      const r = await kubectlOK(args);
      assert.match(r.stdout, /GROUP:\s+business\.tkestack\.io/, describeRun(args, r));
      assert.match(r.stdout, /KIND:\s+Project/, describeRun(args, r));
      for (const f of ['tenantID', 'displayName', 'members']) assert.match(r.stdout, new RegExp(`^\\s+${f}\\s`, 'm'), describeRun(args, r));
      const c = await kubectlOK(['explain', 'clusters.spec.type', '--api-version=platform.tkestack.io/v1']);
      assert.match(c.stdout, /FIELD:\s+type\s+<string>/, c.stdout);
    });
  });

  describe('objects through kube-apiserver: apply, server-side apply, patch, get, watch, delete', function () {
    interface Kind {
      resource: string;
      namespace?: string;
      make(name: string, label: string): any;
    }

    async function lifecycle(kind: Kind) {
      const name = kind.resource.startsWith('localidentities') ? `usr-default-${uniqueName('e2e')}` : uniqueName('agg');
      const label = uniqueName('run');
      const ns = kind.namespace ? ['-n', kind.namespace] : [];
      const watch = kube.spawnKubectl(['get', kind.resource, ...ns, '-w', '--output-watch-events', '-o', 'json', '-l', `run=${label}`]);
      const output = followOutput(watch);
      const events = () => parseJSONStream(output.stdout) as Array<{ type: string; object: any }>;
      const saw = (type: string, pred: (o: any) => boolean = () => true) =>
        events().some(e => e.type === type && e.object?.metadata?.name === name && pred(e.object));
      const ctx = () => `\n--- kubectl get -w stdout\n${output.stdout.slice(-3000)}\n--- stderr\n${output.stderr}`;
      try {
        // Client-side apply (three-way merge with the last-applied annotation).
        const manifest = kind.make(name, label);
        let r = await kubectlOK(['apply', '-f', '-'], { input: toYAML(manifest) });
        assert.match(r.stdout, / created$/m, r.stdout);
        const created = json(await kubectlOK(['get', kind.resource, ...ns, name, '-o', 'json']));
        assert.ok(created.metadata.uid && created.metadata.resourceVersion, JSON.stringify(created.metadata));
        assert.ok(created.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], 'no last-applied annotation');
        await waitFor(`ADDED ${name}${ctx()}`, () => saw('ADDED'), 30_000);

        // Server-side apply of the same file with one more field. (kubectl hands the client-side
        // apply's fields over to the server-side manager, so the file must stay complete.)
        const full = { ...manifest, metadata: { ...manifest.metadata, annotations: { 'e2e.tkestack.io/ssa': 'applied' } } };
        r = await kubectlOK(['apply', '--server-side', '--field-manager=e2e-ssa', '-f', '-'], { input: toYAML(full) });
        assert.match(r.stdout, /serverside-applied/, r.stdout);
        const applied = json(await kubectlOK(['get', kind.resource, ...ns, name, '-o', 'json', '--show-managed-fields']));
        assert.equal(applied.metadata.annotations['e2e.tkestack.io/ssa'], 'applied');
        assert.ok(
          applied.metadata.managedFields.some((m: any) => m.manager === 'e2e-ssa' && m.operation === 'Apply'),
          JSON.stringify(applied.metadata.managedFields),
        );
        assert.equal(applied.metadata.labels?.run, label, JSON.stringify(applied.metadata));
        assert.deepEqual(applied.spec, { ...applied.spec, ...manifest.spec }, 'the applied spec is kept');

        // Patch.
        r = await kubectlOK(['patch', kind.resource, ...ns, name, '--type=merge', '-p', JSON.stringify({ metadata: { labels: { patched: 'true-ish' } } })]);
        assert.match(r.stdout, / patched$/m, r.stdout);
        await waitFor(`MODIFIED ${name} with the patched label${ctx()}`, () => saw('MODIFIED', o => o.metadata.labels?.patched === 'true-ish'), 30_000);
        const listed = json(await kubectlOK(['get', kind.resource, ...ns, '-l', `run=${label},patched=true-ish`, '-o', 'json']));
        assert.deepEqual(
          listed.items.map((o: any) => o.metadata.name),
          [name],
        );

        // Delete (kubectl waits until the object is gone, finalizers included).
        r = await kubectlOK(['delete', kind.resource, ...ns, name, '--timeout=60s']);
        assert.match(r.stdout, / deleted/, r.stdout);
        await waitFor(`DELETED ${name}${ctx()}`, () => saw('DELETED'), 60_000);
        const gone = await kube.kubectl(['get', kind.resource, ...ns, name]);
        refused(['get', kind.resource, name], gone, /NotFound|not found/);
      } finally {
        watch.kill('SIGKILL');
      }
    }

    it('projects', async function () {
      await lifecycle({ resource: 'projects.business.tkestack.io', make: (n, run) => projectObject(n, { labels: { run } }) });
    });

    it('clusters', async function () {
      await lifecycle({ resource: 'clusters.platform.tkestack.io', make: (n, run) => clusterObject(n, { labels: { run } }) });
    });

    it('business namespaces (namespaced by project)', async function () {
      const cls = uniqueName('cls');
      const prj = uniqueName('prj');
      await kubectlOK(['apply', '-f', '-'], {
        input: toYAML(clusterObject(cls), projectObject(prj, { clusters: { [cls]: { hard: { 'requests.cpu': '4', 'requests.memory': '8Gi' } } } })),
      });
      await lifecycle({ resource: 'namespaces.business.tkestack.io', namespace: prj, make: (n, run) => namespaceObject(prj, n, cls, { labels: { run } }) });
    });

    it('local identities', async function () {
      await lifecycle({
        resource: 'localidentities.auth.tkestack.io',
        make: (n, run) => ({
          apiVersion: 'auth.tkestack.io/v1',
          kind: 'LocalIdentity',
          metadata: { name: n, labels: { run } },
          spec: { tenantID: 'default', username: n.replace(/^usr-default-/, ''), displayName: 'Aggregated', email: 'agg@example.com' },
        }),
      });
    });
  });

  describe('who tke-apiserver sees', function () {
    const createGroup = async (opts: KubeKubectlOptions) => {
      const obj = {
        apiVersion: 'auth.tkestack.io/v1',
        kind: 'LocalGroup',
        metadata: { generateName: 'grp-default-' },
        spec: { tenantID: 'default', displayName: 'seen' },
      };
      return json(await kubectlOK(['create', '-f', '-', '-o', 'json'], { ...opts, input: JSON.stringify(obj) }));
    };

    it("is the kube user that kube-apiserver authenticated, not the front proxy's certificate", async function () {
      // LocalGroup's spec.username defaults to whoever created it.
      const byAdmin = await createGroup({});
      assert.equal(byAdmin.spec.username, 'kubernetes-admin', "kube.kubeconfig's client certificate (CN=kubernetes-admin)");
      const bySA = await createGroup({ token: kube.env.KUBE_TOKEN });
      assert.equal(bySA.spec.username, 'system:serviceaccount:kube-system:tke-member-import');
    });
  });

  describe("kube users: kube-apiserver's RBAC decides (delegated SubjectAccessReview)", function () {
    const id = uniqueName('rbac');
    let noRBAC: string;
    let reader: string;

    before(async function () {
      await kubectlOK(['-n', 'default', 'create', 'serviceaccount', `none-${id}`]);
      await kubectlOK(['-n', 'default', 'create', 'serviceaccount', `reader-${id}`]);
      await kubectlOK(['create', 'clusterrole', `projects-reader-${id}`, '--verb=get,list', '--resource=projects.business.tkestack.io']);
      await kubectlOK([
        'create',
        'clusterrolebinding',
        `projects-reader-${id}`,
        `--clusterrole=projects-reader-${id}`,
        `--serviceaccount=default:reader-${id}`,
      ]);
      noRBAC = (await kubectlOK(['-n', 'default', 'create', 'token', `none-${id}`])).stdout.trim();
      reader = (await kubectlOK(['-n', 'default', 'create', 'token', `reader-${id}`])).stdout.trim();
      await kubectlOK(['apply', '-f', '-'], { input: toYAML(projectObject(`prj-${id}`)) });
    });

    it('a service account without RBAC gets 403 on projects', async function () {
      for (const args of [
        ['get', 'projects'],
        ['get', 'project', `prj-${id}`],
      ]) {
        const r = await kube.kubectl(args, { token: noRBAC });
        refused(
          args,
          r,
          new RegExp(`Forbidden.*User "system:serviceaccount:default:none-${id}" cannot (list|get) resource "projects" in API group "business.tkestack.io"`),
        );
      }
    });

    it('a service account bound to get and list on projects can read them and cannot create one', async function () {
      const got = json(await kubectlOK(['get', 'project', `prj-${id}`, '-o', 'json'], { token: reader }));
      assert.equal(got.metadata.name, `prj-${id}`);
      const list = await kubectlOK(['get', 'projects', '-o', 'name'], { token: reader });
      assert.ok(list.stdout.split('\n').includes(`project.business.tkestack.io/prj-${id}`), list.stdout);
      const args = ['create', '-f', '-'];
      const r = await kube.kubectl(args, { token: reader, input: toYAML(projectObject(uniqueName('prj'))) });
      refused(args, r, new RegExp(`Forbidden.*User "system:serviceaccount:default:reader-${id}" cannot create resource "projects"`));
    });

    it('tke-apiserver itself asks kube-apiserver about front-proxy users, and keeps TKE policies for TKE users', async function () {
      // Straight to tke-apiserver with the front proxy's certificate, as kube-apiserver's aggregator
      // calls it: the decision must be kube-apiserver's RBAC, not an assumption that the proxy checked.
      const pki = path.join(kube.dir, 'pki');
      const cert = readFileSync(path.join(pki, 'front-proxy-client.crt'), 'utf8');
      const key = readFileSync(path.join(pki, 'front-proxy-client.key'), 'utf8');
      const as = (user: string, extra: Record<string, string> = {}) => ({
        token: null,
        cert,
        key,
        headers: { 'X-Remote-User': user, 'X-Remote-Group': 'system:serviceaccounts', ...extra },
      });
      const readerName = `system:serviceaccount:default:reader-${id}`;
      const get = await kube.tke('GET', `/apis/business.tkestack.io/v1/projects/prj-${id}`, as(readerName));
      assert.equal(get.status, 200, describeResponse(get));
      const create = await kube.tke('POST', '/apis/business.tkestack.io/v1/projects', { ...as(readerName), body: projectObject(uniqueName('prj')) });
      assert.equal(create.status, 403, describeResponse(create));
      const none = await kube.tke('GET', '/apis/business.tkestack.io/v1/projects', as(`system:serviceaccount:default:none-${id}`));
      assert.equal(none.status, 403, describeResponse(none));
      // The same name with a TKE tenant is a TKE user: TKE policies (none for it) decide.
      const tkeUser = await kube.tke('GET', `/apis/business.tkestack.io/v1/projects/prj-${id}`, as(readerName, { 'X-Remote-Extra-Tenantid': 'default' }));
      assert.ok(tkeUser.status === 403 || tkeUser.status === 404, describeResponse(tkeUser));
    });
  });

  describe('TKE users through kube-apiserver: its token webhook and TKE policies', function () {
    const username = uniqueName('tkeuser');
    let key: string;

    before(async function () {
      const made = await kube.tke('POST', `${AUTH}/localidentities`, {
        body: {
          metadata: { generateName: 'usr-default-' },
          spec: { username, displayName: username, email: `${username}@example.com`, hashedPassword: b64(PASSWORD), tenantID: 'default' },
        },
      });
      assert.equal(made.status, 201, describeResponse(made));
      const login = await kube.tke('POST', `${AUTH}/apikeys/default/password`, {
        token: null,
        body: {
          apiVersion: 'auth.tkestack.io/v1',
          kind: 'APIKeyReqPassword',
          tenantID: 'default',
          username,
          password: b64(PASSWORD),
          description: 'aggregation e2e',
          expire: '1h',
        },
      });
      assert.equal(login.status, 201, describeResponse(login));
      key = login.json().spec.apiKey;
      assert.ok(key);
    });

    it('kubectl auth whoami against kube-apiserver shows the TKE user; a tampered key is 401', async function () {
      const who = json(await kubectlOK(['auth', 'whoami', '-o', 'json'], { token: key }));
      assert.equal(who.status.userInfo.username, username, JSON.stringify(who));
      assert.deepEqual(who.status.userInfo.extra?.tenantid, ['default'], JSON.stringify(who));
      const tampered = key.slice(0, -4) + (key.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA');
      for (const args of [
        ['auth', 'whoami'],
        ['get', 'projects'],
      ]) {
        const r = await kube.kubectl(args, { token: tampered });
        refused(args, r, /Unauthorized/);
      }
    });

    it("an ID token of tke-apiserver's OIDC issuer is accepted by kube-apiserver (--oidc-issuer-url), a forged one is not", async function () {
      const form = new URLSearchParams({ grant_type: 'password', client_id: 'kubernetes', username, password: PASSWORD, scope: 'openid groups' });
      const issued = await kube.tke('POST', '/oidc/token', {
        token: null,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      assert.equal(issued.status, 200, describeResponse(issued));
      const idToken = issued.json().id_token;
      // kube-apiserver verifies the token itself against the issuer's JWKS: the oidc: prefix says
      // it came in through --oidc-issuer-url, not through the token webhook.
      let who: any;
      await waitFor(
        'kube-apiserver to accept the ID token',
        async () => {
          const r = await kube.kubectl(['auth', 'whoami', '-o', 'json'], { token: idToken });
          if (r.code === 0) who = json(r);
          return r.code === 0;
        },
        30_000,
        500,
      );
      assert.equal(who.status.userInfo.username, `oidc:${username}`, JSON.stringify(who));
      const [h, p] = idToken.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, name: 'admin', groups: ['system:masters'] })).toString('base64url')}.${idToken.split('.')[2]}`;
      refused(['auth', 'whoami'], await kube.kubectl(['auth', 'whoami'], { token: forged }), /Unauthorized/);
    });

    it('is decided by TKE policies: 403 without one, 200 once pol-default-viewer is bound', async function () {
      const args = ['get', '--raw', '/apis/business.tkestack.io/v1/portal'];
      const before = await kube.kubectl(args, { token: key });
      refused(args, before, new RegExp(`Forbidden.*User "${username}" cannot list resource "portal".*listPortal`));

      const bound = await kube.tke('POST', `${AUTH}/policies/pol-default-viewer/binding`, { body: { users: [{ id: username, name: username }] } });
      assert.equal(bound.status, 201, describeResponse(bound));
      // kube-apiserver remembers a refusal for a second (up.sh's unauthorizedTTL).
      let last: KubectlResult | undefined;
      await waitFor(
        'the portal through kube-apiserver after the binding',
        async () => {
          last = await kube.kubectl(args, { token: key });
          return last.code === 0;
        },
        30_000,
        500,
      ).catch(err => {
        throw new Error(`${(err as Error).message}\n${last ? describeRun(args, last) : ''}`);
      });
      const portal = JSON.parse(last!.stdout);
      assert.equal(portal.kind, 'Portal', last!.stdout);

      // PlatformLogin allows the portal and nothing else.
      const projects = await kube.kubectl(['get', 'projects'], { token: key });
      refused(['get', 'projects'], projects, /Forbidden.*listProjects/);
    });
  });
});
