// The deploy manifests in hack/deploy parse and say what the README promises (no cluster needed).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const deployDir = path.join(root, 'hack', 'deploy');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: any;
}

function loadAll(): Array<Obj & { file: string }> {
  const out: Array<Obj & { file: string }> = [];
  for (const f of readdirSync(deployDir)
    .filter(f => /\.ya?ml$/.test(f))
    .sort()) {
    const docs = YAML.parseAllDocuments(readFileSync(path.join(deployDir, f), 'utf8'));
    for (const d of docs) {
      assert.deepEqual(d.errors.map(String), [], `${f}: YAML errors`);
      const o = d.toJS();
      if (o === null || o === undefined) continue;
      out.push({ ...o, file: f });
    }
  }
  return out;
}

describe('unit: hack/deploy manifests', function () {
  const objs = loadAll();
  const find = (kind: string, name: string) => {
    const o = objs.find(x => x.kind === kind && x.metadata?.name === name);
    assert.ok(o, `${kind}/${name} not found in hack/deploy (have: ${objs.map(x => `${x.kind}/${x.metadata?.name}`).join(', ')})`);
    return o!;
  };

  it('every document is a Kubernetes object with apiVersion, kind and name', function () {
    assert.ok(objs.length >= 10, `only ${objs.length} objects`);
    for (const o of objs) {
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${o.file}: incomplete object ${JSON.stringify(o).slice(0, 200)}`);
    }
    const keys = objs.map(o => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    assert.equal(new Set(keys).size, keys.length, 'duplicate objects');
  });

  it('has the namespace, the ServiceAccount and both RBAC bindings', function () {
    assert.equal(find('Namespace', 'tke').apiVersion, 'v1');
    const sa = find('ServiceAccount', 'tke-apiserver');
    assert.equal(sa.metadata.namespace, 'tke');
    const crb = objs.find(o => o.kind === 'ClusterRoleBinding' && o.roleRef?.name === 'system:auth-delegator');
    assert.ok(crb, 'ClusterRoleBinding to system:auth-delegator');
    assert.equal(crb!.roleRef.kind, 'ClusterRole');
    assert.deepEqual(crb!.subjects, [{ kind: 'ServiceAccount', name: 'tke-apiserver', namespace: 'tke' }]);
    const rb = objs.find(o => o.kind === 'RoleBinding' && o.roleRef?.name === 'extension-apiserver-authentication-reader');
    assert.ok(rb, 'RoleBinding to extension-apiserver-authentication-reader');
    assert.equal(rb!.metadata.namespace, 'kube-system');
    assert.equal(rb!.roleRef.kind, 'Role');
    assert.deepEqual(rb!.subjects, [{ kind: 'ServiceAccount', name: 'tke-apiserver', namespace: 'tke' }]);
  });

  it('has the TLS and database Secrets (placeholders)', function () {
    const tls = find('Secret', 'tke-apiserver-serving');
    assert.equal(tls.type, 'kubernetes.io/tls');
    assert.ok('tls.crt' in tls.data && 'tls.key' in tls.data);
    const db = find('Secret', 'tke-apiserver-database');
    assert.match(db.stringData?.DATABASE_URL ?? '', /^postgres(ql)?:\/\//);
  });

  it('the Deployment runs the server with the requestheader, TLS and database flags and the probes', function () {
    const d = find('Deployment', 'tke-apiserver');
    assert.equal(d.apiVersion, 'apps/v1');
    assert.equal(d.metadata.namespace, 'tke');
    const pod = d.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'tke-apiserver');
    assert.deepEqual(
      d.spec.selector.matchLabels,
      Object.fromEntries(Object.entries(d.spec.template.metadata.labels).filter(([k]) => k in d.spec.selector.matchLabels)),
    );
    const c = pod.containers.find((x: any) => x.name === 'tke-apiserver');
    assert.ok(c);
    assert.equal(c.image, 'tke-apiserver:latest');
    const args: string[] = c.args;
    const flag = (name: string) =>
      args
        .find(a => a === `--${name}` || a.startsWith(`--${name}=`))
        ?.split('=')
        .slice(1)
        .join('=');
    assert.equal(flag('secure-port'), '9443');
    assert.equal(flag('bind-address'), '0.0.0.0');
    assert.equal(flag('data-dir'), '/var/lib/tke-apiserver');
    assert.equal(flag('database-url'), '$(DATABASE_URL)');
    const env = c.env.find((e: any) => e.name === 'DATABASE_URL');
    assert.deepEqual(env.valueFrom.secretKeyRef, { name: 'tke-apiserver-database', key: 'DATABASE_URL' });
    assert.equal(flag('requestheader-allowed-names'), 'front-proxy-client');
    assert.equal(flag('requestheader-username-headers'), 'X-Remote-User');
    const caFile = flag('requestheader-client-ca-file');
    assert.ok(caFile, 'no --requestheader-client-ca-file');
    const mountFor = (file: string) => c.volumeMounts.find((m: any) => file.startsWith(m.mountPath + '/'));
    const caMount = mountFor(caFile!);
    assert.ok(caMount, `${caFile} is not on a mounted volume`);
    // The volume is filled from kube-system/extension-apiserver-authentication by an init container.
    const init = pod.initContainers?.find((x: any) => x.volumeMounts?.some((m: any) => m.name === caMount.name));
    assert.ok(init, 'no init container fills the requestheader volume');
    assert.match(init.command.join(' '), /extension-apiserver-authentication/);
    assert.match(init.command.join(' '), /requestheader-client-ca-file/);
    for (const f of ['tls-cert-file', 'tls-private-key-file']) {
      const file = flag(f);
      assert.ok(file, `no --${f}`);
      const m = mountFor(file!);
      assert.ok(m, `${file} is not mounted`);
      const vol = pod.volumes.find((v: any) => v.name === m.name);
      assert.equal(vol?.secret?.secretName, 'tke-apiserver-serving');
    }
    for (const m of c.volumeMounts)
      assert.ok(
        pod.volumes.some((v: any) => v.name === m.name),
        `volume ${m.name} not declared`,
      );
    const port = c.ports.find((p: any) => p.containerPort === 9443);
    assert.ok(port, 'container port 9443');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.readinessProbe.httpGet.scheme, 'HTTPS');
    assert.ok([9443, port.name].includes(c.readinessProbe.httpGet.port));
    assert.equal(c.livenessProbe.httpGet.path, '/livez');
    assert.equal(c.livenessProbe.httpGet.scheme, 'HTTPS');
  });

  it('the Service maps 443 to the secure port of the Deployment pods', function () {
    const svc = find('Service', 'tke-apiserver');
    assert.equal(svc.metadata.namespace, 'tke');
    const d = find('Deployment', 'tke-apiserver');
    for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(d.spec.template.metadata.labels[k], v, `selector ${k}`);
    const p = svc.spec.ports.find((x: any) => x.port === 443);
    assert.ok(p, 'port 443');
    const c = d.spec.template.spec.containers[0];
    assert.ok(
      c.ports.some((cp: any) => cp.containerPort === p.targetPort || cp.name === p.targetPort),
      `targetPort ${p.targetPort} is not a container port`,
    );
  });

  it('registers an APIService for each of the four groups', function () {
    const groups = ['platform.tkestack.io', 'business.tkestack.io', 'auth.tkestack.io', 'registry.tkestack.io'];
    const apiservices = objs.filter(o => o.kind === 'APIService');
    assert.deepEqual(apiservices.map(a => a.metadata.name).sort(), groups.map(g => `v1.${g}`).sort());
    for (const g of groups) {
      const a = find('APIService', `v1.${g}`);
      assert.equal(a.apiVersion, 'apiregistration.k8s.io/v1');
      assert.equal(a.spec.group, g);
      assert.equal(a.spec.version, 'v1');
      assert.deepEqual(a.spec.service, { namespace: 'tke', name: 'tke-apiserver', port: 443 });
      assert.ok(Number.isInteger(a.spec.groupPriorityMinimum) && a.spec.groupPriorityMinimum > 0 && a.spec.groupPriorityMinimum <= 20000);
      assert.ok(Number.isInteger(a.spec.versionPriority) && a.spec.versionPriority > 0 && a.spec.versionPriority <= 1000);
      assert.ok('caBundle' in a.spec, 'caBundle placeholder');
      assert.notEqual(a.spec.insecureSkipTLSVerify, true);
    }
  });

  it('the Dockerfile builds a production image that runs the compiled server on 9443', function () {
    const df = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const stages = df.split(/^(?=FROM )/m).filter(s => s.startsWith('FROM '));
    assert.equal(stages.length, 2, 'a build stage and the image');
    const [build, image] = stages;
    assert.match(build, /^FROM node:20-slim AS build$/m);
    assert.match(build, /^RUN npm run build$/m);
    assert.match(image, /^FROM node:20-slim$/m);
    assert.match(image, /npm ci --omit=dev/);
    assert.match(image, /^COPY --from=build \/app\/dist \.\/dist$/m);
    assert.match(image, /^ENTRYPOINT \["node", "dist\/cmd\/tke-apiserver\/main\.js"\]$/m);
    const instructions = image
      .split('\n')
      .filter(l => !l.startsWith('#'))
      .join('\n');
    assert.doesNotMatch(instructions, /tsx|bin\.js/, 'the image runs no TypeScript');
    assert.match(df, /"--data-dir", "\/var\/lib\/tke-apiserver"/);
    assert.match(df, /"--secure-port", "9443"/);
    assert.match(df, /"--bind-address", "0\.0\.0\.0"/);
  });
});
