// Where the EventRecorder writes: this server's own core/v1 events (standalone), or the
// kube-apiserver it is aggregated into (--events-kubeconfig), where `kubectl describe` through
// the cluster looks for them.
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { CoreEvent, EventSink } from '../../controller/events.ts';
import { StatusError } from '../../rest/errors.ts';
import type { RequestContext } from '../../rest/resource.ts';
import type { RegistryStore } from '../../rest/store.ts';

const recorderUser = { username: 'system:serviceaccount:tke:tke-event-recorder', groups: ['system:masters', 'system:authenticated'] };

function asRecorder(namespace: string): RequestContext {
  return { user: recorderUser, namespace, dryRun: false, subresource: '' };
}

/** Into this server's storage, through the events kind's store (validation, admission, watches). */
export function localEventSink(events: () => RegistryStore): EventSink {
  return {
    async create(event) {
      return (await events().create(asRecorder(event.metadata.namespace!), event, { fieldManager: event.reportingComponent })).object as CoreEvent;
    },
    async update(event) {
      return (await events().update(asRecorder(event.metadata.namespace!), event.metadata.name!, event, { fieldManager: event.reportingComponent }))
        .object as CoreEvent;
    },
    isNotFound: err => err instanceof StatusError && err.status.code === 404,
  };
}

/** Into a kube-apiserver, as the client-go recorder of any controller would. */
export function kubeEventSink(kubeconfigPath: string, timeoutMs = 10_000): EventSink {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${kubeconfigPath}: no cluster server`);
  const send = async (method: 'POST' | 'PUT', event: CoreEvent): Promise<CoreEvent> => {
    // The tenant is this server's notion; kube-apiserver keeps Events to its own RBAC.
    const { tenantID: _tenant, ...body } = event;
    const base = `${server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(event.metadata.namespace!)}/events`;
    const url = new URL(method === 'POST' ? base : `${base}/${encodeURIComponent(event.metadata.name!)}`);
    const opts: https.RequestOptions = { method, timeout: timeoutMs, headers: { 'Content-Type': 'application/json', Accept: 'application/json' } };
    await kc.applyToHTTPSOptions(opts);
    const text = JSON.stringify(body);
    return new Promise<CoreEvent>((resolve, reject) => {
      const req = https.request(url, opts, res => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const answer = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200 || res.statusCode === 201) {
            try {
              resolve(JSON.parse(answer) as CoreEvent);
            } catch {
              reject(new Error(`${method} ${url.pathname}: the answer is not JSON`));
            }
            return;
          }
          reject(Object.assign(new Error(`${method} ${url.pathname}: HTTP ${res.statusCode}: ${answer.slice(0, 300)}`), { code: res.statusCode }));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(text);
    });
  };
  return {
    create: event => send('POST', event),
    update: event => send('PUT', event),
    isNotFound: err => (err as { code?: unknown }).code === 404,
  };
}
