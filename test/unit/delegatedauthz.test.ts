// The delegated authorizer's own logic, against a local HTTPS endpoint that answers
// SubjectAccessReviews: what it sends, what it caches, what it does when the answer does not come,
// how it reads kubeconfigs, and which users the composition sends where. The real kube-apiserver
// behind it is exercised by test/e2e/aggregation.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { UserInfo } from '../../pkg/rest/resource.ts';
import type { AuthorizationAttributes, Authorizer } from '../../pkg/server/authz.ts';
import { createCA, issueClientCertificate, issueServingCertificate } from '../../pkg/server/certs.ts';
import { DelegatedAuthorizer, delegateFrontProxyUsers, loadKubeconfig } from '../../pkg/server/delegatedauthz.ts';

interface Seen {
  auth?: string;
  clientCN?: string;
  body: any;
}

const user: UserInfo = {
  username: 'system:serviceaccount:default:reader',
  uid: 'u-1',
  groups: ['system:serviceaccounts', 'system:authenticated'],
  extra: { 'authentication.kubernetes.io/pod-name': ['p'] },
};
const getProject = (u: UserInfo = user, name = 'prj-1'): AuthorizationAttributes => ({
  user: u,
  verb: 'get',
  isResourceRequest: true,
  path: `/apis/business.tkestack.io/v1/projects/${name}`,
  apiGroup: 'business.tkestack.io',
  apiVersion: 'v1',
  resource: 'projects',
  subresource: '',
  namespace: '',
  name,
});

describe('delegated authorization (SubjectAccessReview to kube-apiserver)', function () {
  let dir: string;
  let server: https.Server;
  let url: string;
  let caPEM: string;
  let client: { certPEM: string; keyPEM: string };
  const seen: Seen[] = [];
  let answer: (body: any) => { code: number; status?: Record<string, unknown> } = () => ({ code: 201, status: { allowed: true } });

  before(async function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tke-delegated-'));
    const ca = await createCA('test-kube-ca');
    caPEM = ca.certPEM;
    const serving = await issueServingCertificate(ca, { commonName: 'kube-apiserver', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    client = await issueClientCertificate(ca, { commonName: 'tke-apiserver' });
    server = https.createServer({ key: serving.keyPEM, cert: serving.certPEM, ca: caPEM, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        text += d;
      });
      req.on('end', () => {
        const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
        const body = JSON.parse(text);
        const cn = peer?.subject?.CN;
        seen.push({ auth: req.headers.authorization, clientCN: Array.isArray(cn) ? cn[0] : cn, body });
        assert.equal(req.url, '/apis/authorization.k8s.io/v1/subjectaccessreviews');
        const a = answer(body);
        res.writeHead(a.code, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ...body, status: a.status }));
      });
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen.length = 0;
    answer = () => ({ code: 201, status: { allowed: true } });
  });

  it('sends the user, groups, extra and resource attributes, and follows the answer', async function () {
    answer = body => ({ code: 201, status: body.spec.resourceAttributes?.verb === 'create' ? { allowed: false, reason: 'RBAC: no' } : { allowed: true } });
    const authz = new DelegatedAuthorizer({ server: url, caPEM, token: 'sa-token' });
    try {
      assert.deepEqual(await authz.authorize(getProject()), { allowed: true });
      const denied = await authz.authorize({ ...getProject(), verb: 'create', name: '' });
      assert.equal(denied.allowed, false);
      assert.equal(denied.reason, 'RBAC: no');
      assert.equal(seen[0].auth, 'Bearer sa-token');
      assert.deepEqual(seen[0].body.spec, {
        user: user.username,
        uid: 'u-1',
        groups: user.groups,
        extra: user.extra,
        resourceAttributes: { namespace: '', verb: 'get', group: 'business.tkestack.io', version: 'v1', resource: 'projects', subresource: '', name: 'prj-1' },
      });
      assert.equal(seen[0].body.apiVersion, 'authorization.k8s.io/v1');
      const nonResource = await authz.authorize({ ...getProject(), isResourceRequest: false, path: '/openapi/v3', resource: '', name: '' });
      assert.equal(nonResource.allowed, true);
      assert.deepEqual(seen[2].body.spec.nonResourceAttributes, { path: '/openapi/v3', verb: 'get' });
    } finally {
      authz.close();
    }
  });

  it('a denied flag wins over allowed', async function () {
    answer = () => ({ code: 201, status: { allowed: true, denied: true } });
    const authz = new DelegatedAuthorizer({ server: url, caPEM, token: 't' });
    try {
      assert.equal((await authz.authorize(getProject())).allowed, false);
    } finally {
      authz.close();
    }
  });

  it('remembers answers for their TTL, per distinct request', async function () {
    const authz = new DelegatedAuthorizer({ server: url, caPEM, token: 't' }, { allowTTLms: 300, denyTTLms: 300 });
    try {
      await authz.authorize(getProject());
      await authz.authorize(getProject());
      assert.equal(seen.length, 1, 'the second identical request is answered from the cache');
      await authz.authorize(getProject(user, 'prj-2'));
      assert.equal(seen.length, 2, 'another object is another question');
      await new Promise(r => setTimeout(r, 350));
      await authz.authorize(getProject());
      assert.equal(seen.length, 3, 'asked again once the answer expired');
    } finally {
      authz.close();
    }
  });

  it('refuses, without remembering, when kube-apiserver does not answer properly', async function () {
    answer = () => ({ code: 500 });
    const authz = new DelegatedAuthorizer({ server: url, caPEM, token: 't' });
    try {
      const d = await authz.authorize(getProject());
      assert.equal(d.allowed, false);
      assert.match(d.reason ?? '', /delegated authorization failed: .*HTTP 500/);
      answer = () => ({ code: 201, status: { allowed: true } });
      assert.equal((await authz.authorize(getProject())).allowed, true, 'the failure was not cached');
    } finally {
      authz.close();
    }
    const unreachable = new DelegatedAuthorizer({ server: 'https://127.0.0.1:1', caPEM, token: 't' }, { timeoutMs: 2000 });
    try {
      assert.equal((await unreachable.authorize(getProject())).allowed, false);
    } finally {
      unreachable.close();
    }
  });

  it('does not trust a kube-apiserver whose certificate its CA did not sign', async function () {
    const other = await createCA('other-ca');
    const authz = new DelegatedAuthorizer({ server: url, caPEM: other.certPEM, token: 't' });
    try {
      const d = await authz.authorize(getProject());
      assert.equal(d.allowed, false);
      assert.equal(seen.length, 0);
    } finally {
      authz.close();
    }
  });

  it('allows system:masters and the health probes without asking', async function () {
    const authz = new DelegatedAuthorizer({ server: url, caPEM, token: 't' });
    try {
      assert.equal((await authz.authorize(getProject({ username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] }))).allowed, true);
      assert.equal((await authz.authorize({ ...getProject(), isResourceRequest: false, path: '/readyz', resource: '', name: '' })).allowed, true);
      assert.equal(seen.length, 0);
    } finally {
      authz.close();
    }
  });

  it('reads kubeconfigs: embedded data, relative files, a client certificate, a token file re-read on use', async function () {
    writeFileSync(path.join(dir, 'ca.crt'), caPEM);
    writeFileSync(path.join(dir, 'client.crt'), client.certPEM);
    writeFileSync(path.join(dir, 'client.key'), client.keyPEM);
    const kubeconfig = (u: Record<string, string>, cluster: Record<string, string> = { 'certificate-authority': 'ca.crt' }) => {
      const file = path.join(dir, `kc-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(
        file,
        YAML.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          'current-context': 'b',
          clusters: [
            { name: 'other', cluster: { server: 'https://example.invalid' } },
            { name: 'kube', cluster: { server: url, ...cluster } },
          ],
          users: [{ name: 'me', user: u }],
          contexts: [
            { name: 'a', context: { cluster: 'other', user: 'me' } },
            { name: 'b', context: { cluster: 'kube', user: 'me' } },
          ],
        }),
      );
      return file;
    };

    const byCert = new DelegatedAuthorizer(await loadKubeconfig(kubeconfig({ 'client-certificate': 'client.crt', 'client-key': 'client.key' })));
    try {
      assert.equal((await byCert.authorize(getProject())).allowed, true);
      assert.equal(seen.at(-1)?.clientCN, 'tke-apiserver');
      assert.equal(seen.at(-1)?.auth, undefined);
    } finally {
      byCert.close();
    }

    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const cfg = await loadKubeconfig(kubeconfig({ tokenFile: 'token' }, { 'certificate-authority-data': Buffer.from(caPEM).toString('base64') }));
    const byFile = new DelegatedAuthorizer(cfg, { allowTTLms: 0 });
    try {
      await byFile.authorize(getProject());
      assert.equal(seen.at(-1)?.auth, 'Bearer first');
      writeFileSync(tokenFile, 'rotated\n');
      await byFile.authorize(getProject());
      assert.equal(seen.at(-1)?.auth, 'Bearer rotated');
    } finally {
      byFile.close();
    }

    await assert.rejects(loadKubeconfig(kubeconfig({})), /no client certificate, token or tokenFile/);
    await assert.rejects(loadKubeconfig(kubeconfig({ 'client-certificate': 'client.crt' })), /needs its key/);
    await assert.rejects(loadKubeconfig(kubeconfig({ token: 't' }, { server: 'http://127.0.0.1:8080' })), /only https/);
  });

  it('sends front-proxy users without a TKE tenant to the delegated authorizer, everyone else to the local one', async function () {
    const calls: string[] = [];
    const named = (name: string): Authorizer => ({
      async authorize() {
        calls.push(name);
        return { allowed: true };
      },
    });
    const viaProxy = new Set<UserInfo>();
    const authz = delegateFrontProxyUsers(
      named('delegated'),
      named('local'),
      u => viaProxy.has(u),
      u => !!u.extra?.tenantid?.length,
    );
    const kubeUser: UserInfo = { username: 'sa', groups: [] };
    const tkeUser: UserInfo = { username: 'alice', groups: [], extra: { tenantid: ['default'] } };
    const direct: UserInfo = { username: 'sa', groups: [] };
    viaProxy.add(kubeUser);
    viaProxy.add(tkeUser);
    for (const u of [kubeUser, tkeUser, direct]) await authz.authorize(getProject(u));
    assert.deepEqual(calls, ['delegated', 'local', 'local']);
  });
});
