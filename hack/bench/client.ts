// An HTTPS client for one API server under test, authenticated the way that server's admin is:
// our bootstrap admin's bearer token, or kube-apiserver's client certificate. The same client
// code drives both peers of the benchmark, so neither is measured with a faster client.
import type { ClientRequest, IncomingMessage } from 'node:http';
import https from 'node:https';

export interface Target {
  port: number;
  /** PEM of the CA that signed the server's certificate. */
  ca: string;
  /** Bearer token, or a client certificate and key (PEM). */
  token?: string;
  cert?: string;
  key?: string;
}

export interface Response {
  status: number;
  body: string;
}

export interface Client {
  request(method: string, path: string, body?: unknown): Promise<Response>;
  /** Opens a long-running GET (a watch) on a connection of its own; resolves once the headers are in. */
  stream(path: string, onData: (chunk: Buffer) => void): Promise<ClientRequest>;
}

export function makeClient(target: Target, maxSockets: number): Client {
  const tls = { ca: target.ca, cert: target.cert, key: target.key };
  const agent = new https.Agent({ keepAlive: true, maxSockets, ...tls });
  // Watches hold their connection for good: they must not queue behind, or starve, the requests.
  const streamAgent = new https.Agent({ keepAlive: false, maxSockets: Infinity, ...tls });
  const auth: Record<string, string> = target.token ? { Authorization: `Bearer ${target.token}` } : {};
  return {
    request(method, path, body) {
      return new Promise((ok, fail) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const headers = { ...auth, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) };
        const req = https.request({ host: '127.0.0.1', port: target.port, path, method, agent, headers }, res => {
          const chunks: Buffer[] = [];
          res.on('data', c => chunks.push(c));
          res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', fail);
        req.end(data);
      });
    },
    stream(path, onData) {
      return new Promise((ok, fail) => {
        const req = https.request({ host: '127.0.0.1', port: target.port, path, agent: streamAgent, headers: auth }, (res: IncomingMessage) => {
          if ((res.statusCode ?? 0) >= 300) {
            fail(new Error(`GET ${path}: HTTP ${res.statusCode}`));
            req.destroy();
            return;
          }
          res.on('data', onData);
          ok(req);
        });
        // Once the watch is open, this only catches the error of its ending by destroy().
        req.on('error', err => fail(err));
        req.end();
      });
    },
  };
}

export async function expectOk(p: Promise<Response>): Promise<string> {
  const r = await p;
  if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  return r.body;
}

/** Runs `total` operations with `parallel` in flight; returns operations per second. */
export async function rate(total: number, parallel: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export const round = (n: number): number => Math.round(n * 10) / 10;
