// The recorder's kube-apiserver sink (aggregated mode, --events-kubeconfig) against a stand-in
// HTTPS server: the requests kube-apiserver gets, what it is not sent (this server's tenant), and
// a vanished Event seen as one. The local sink is covered end to end (test/e2e/first-hour.test.ts).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { kubeEventSink } from '../../pkg/apis/events/sinks.ts';
import { QueuedEventRecorder } from '../../pkg/controller/events.ts';
import { ensureServingCertificates } from '../../pkg/server/certs.ts';
import { makeTempDir } from '../support/process.ts';

interface Seen {
  method: string;
  path: string;
  auth?: string;
  body: any;
}

describe('events: the kube-apiserver sink', function () {
  let server: https.Server;
  let kubeconfig: string;
  const seen: Seen[] = [];
  const stored = new Map<string, any>();

  before(async function () {
    const dir = makeTempDir('tke-events-sink-');
    const certs = await ensureServingCertificates(dir, { bindAddress: '127.0.0.1' });
    server = https.createServer({ cert: certs.certPEM, key: certs.keyPEM }, (req, res) => {
      let text = '';
      req.on('data', c => {
        text += c;
      });
      req.on('end', () => {
        const body = text ? JSON.parse(text) : undefined;
        seen.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body });
        const name = body?.metadata?.name;
        const answer = (code: number, obj: unknown) => {
          res.writeHead(code, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(obj));
        };
        if (req.method === 'POST') {
          stored.set(name, { ...body, metadata: { ...body.metadata, resourceVersion: '1' } });
          return answer(201, stored.get(name));
        }
        if (req.method === 'PUT' && stored.has(name)) {
          stored.set(name, body);
          return answer(200, body);
        }
        answer(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      });
    });
    await new Promise<void>(ok => server.listen(0, '127.0.0.1', ok));
    kubeconfig = path.join(dir, 'kube.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'kube',
        clusters: [
          {
            name: 'kube',
            cluster: {
              server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
              'certificate-authority-data': Buffer.from(certs.caPEM).toString('base64'),
            },
          },
        ],
        users: [{ name: 'recorder', user: { token: 'recorder-token' } }],
        contexts: [{ name: 'kube', context: { cluster: 'kube', user: 'recorder' } }],
      }),
    );
  });
  after(() => {
    server?.close();
  });

  it("creates, then updates, the Event in its object's namespace, without this server's tenant", async function () {
    const recorder = new QueuedEventRecorder(kubeEventSink(kubeconfig), { component: 'cluster-controller', tenantOf: () => 'default' });
    const cluster = { apiVersion: 'platform.tkestack.io/v1', kind: 'Cluster', metadata: { name: 'prod', uid: 'u1' }, spec: {} };
    recorder.event(cluster, 'Warning', 'Unreachable', 'probe failed');
    recorder.event(cluster, 'Warning', 'Unreachable', 'probe failed');
    await recorder.flush();
    assert.deepEqual(
      seen.map(s => `${s.method} ${s.path.replace(/[^/]+$/, n => (n === 'events' ? n : 'NAME'))}`),
      ['POST /api/v1/namespaces/default/events', 'PUT /api/v1/namespaces/default/events/NAME'],
    );
    assert.ok(seen.every(s => s.auth === 'Bearer recorder-token'));
    assert.ok(
      seen.every(s => !('tenantID' in s.body)),
      'kube-apiserver is not told the tenant',
    );
    assert.equal(seen[1].body.count, 2);
    assert.equal(seen[1].body.metadata.resourceVersion, '1', 'the update is of the version kube-apiserver answered');
    assert.equal(recorder.dropped.sinkFailed, 0);

    // An Event kube-apiserver no longer has (its --event-ttl) is made again.
    stored.clear();
    seen.length = 0;
    recorder.event(cluster, 'Warning', 'Unreachable', 'probe failed');
    await recorder.flush();
    assert.deepEqual(
      seen.map(s => s.method),
      ['PUT', 'POST'],
    );
    assert.equal(seen[1].body.count, 1);
  });
});
