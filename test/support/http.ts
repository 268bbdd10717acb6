// Raw HTTPS to a server the tests started as a process: requests, newline-delimited watch
// streams, and what the tests say about responses when an assertion fails.
import https from 'node:https';
import { waitFor } from './wait.ts';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

export interface RequestOptions {
  /** String/Buffer sent as is; anything else is JSON-encoded. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Bearer token; default the admin token; null or '' sends no Authorization header. */
  token?: string | null;
  timeoutMs?: number;
  /** Client certificate for mTLS (front-proxy tests). */
  cert?: string;
  key?: string;
}

/** Anything tests send requests to the same way: a server process, or one in the test process. */
export interface Requester {
  request(method: string, urlPath: string, opts?: RequestOptions): Promise<HttpResponse>;
}

/** Short description of a raw response for assertion messages. */
export function describeResponse(res: HttpResponse): string {
  return `HTTP ${res.status}: ${res.body.length > 2000 ? res.body.slice(0, 2000) + '…' : res.body}`;
}

/** The request body and headers as the tests mean them: JSON unless told otherwise, the token as a bearer. */
export function encodeRequest(opts: RequestOptions & { defaultToken?: string }): { headers: Record<string, string>; payload?: Buffer } {
  let payload: Buffer | undefined;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const lower = new Set(Object.keys(headers).map(h => h.toLowerCase()));
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string') payload = Buffer.from(opts.body);
    else if (Buffer.isBuffer(opts.body)) payload = opts.body;
    else payload = Buffer.from(JSON.stringify(opts.body));
    if (!lower.has('content-type')) headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(payload.length);
  }
  if (!lower.has('accept')) headers['Accept'] = 'application/json';
  const token = opts.token === undefined ? opts.defaultToken : opts.token;
  if (token && !lower.has('authorization')) headers['Authorization'] = `Bearer ${token}`;
  return { headers, payload };
}

export function httpResponse(status: number, headers: HttpResponse['headers'], body: string): HttpResponse {
  return {
    status,
    headers,
    body,
    json() {
      try {
        return JSON.parse(body);
      } catch {
        throw new Error(`response is not JSON (HTTP ${status}): ${body.slice(0, 500)}`);
      }
    },
  };
}

interface HttpsTarget {
  port: number;
  caPEM?: string;
}

export function httpsRequest(
  target: HttpsTarget,
  method: string,
  urlPath: string,
  opts: RequestOptions & { defaultToken?: string; agent?: https.Agent } = {},
): Promise<HttpResponse> {
  const { headers, payload } = encodeRequest(opts);
  return new Promise((resolve, reject) => {
    let settled = false;
    let responded = false;
    const req = https.request(
      {
        host: '127.0.0.1',
        port: target.port,
        method,
        path: urlPath,
        headers,
        ca: target.caPEM,
        rejectUnauthorized: !!target.caPEM,
        // The serving cert is for localhost/127.0.0.1; do not let SNI/hostname checks depend on how we dial.
        checkServerIdentity: () => undefined,
        cert: opts.cert,
        key: opts.key,
        agent: opts.agent ?? (opts.cert ? false : undefined),
        timeout: opts.timeoutMs ?? 30_000,
      },
      res => {
        responded = true;
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('error', err => {
          if (settled) return;
          settled = true;
          reject(
            new Error(
              `${method} ${urlPath}: response failed after HTTP ${res.statusCode} (${err.message}); body so far: ${Buffer.concat(chunks).toString('utf8').slice(0, 500)}`,
            ),
          );
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve(httpResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8')));
        });
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error(`${method} ${urlPath}: no response within ${opts.timeoutMs ?? 30_000}ms`));
    });
    req.on('error', err => {
      // A server may answer (e.g. 413) and close before it read the whole body: keep the answer.
      if (responded) return;
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    if (payload) req.end(payload);
    else req.end();
  });
}

export async function isReady(port: number, caPEM?: string, token?: string): Promise<number> {
  try {
    const res = await httpsRequest({ port, caPEM }, 'GET', '/readyz', { token, timeoutMs: 2000, agent: new https.Agent({ keepAlive: false }) });
    return res.status;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Watches over raw HTTP (newline-delimited JSON events).

export interface WatchEvent {
  type: string;
  object: any;
}

export interface RawWatch {
  events: WatchEvent[];
  /** Resolves when the stream ends (server closed it or close() was called). */
  done: Promise<void>;
  /** The HTTP status of the watch response (0 until headers arrive). */
  status(): number;
  /** Error body when the watch was refused. */
  errorBody(): string;
  close(): void;
}

/**
 * Reads a watch response as it arrives: events while the status is 200, the error body otherwise.
 * `feed` is given each chunk; `end` the end of the stream.
 */
export function watchReader(onEvent?: (ev: WatchEvent) => void) {
  const events: WatchEvent[] = [];
  let status = 0;
  let errBody = '';
  let buf = '';
  const emit = (line: string) => {
    let ev: WatchEvent;
    try {
      ev = JSON.parse(line);
    } catch {
      ev = { type: 'UNPARSEABLE', object: line };
    }
    events.push(ev);
    onEvent?.(ev);
  };
  return {
    events,
    status: () => status,
    errorBody: () => errBody,
    setStatus(s: number) {
      status = s;
    },
    addError(s: string) {
      errBody += s;
    },
    feed(chunk: string) {
      if (status !== 200) {
        errBody += chunk;
        return;
      }
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) emit(line);
      }
    },
    end() {
      const line = buf.trim();
      buf = '';
      if (line && status === 200) emit(line);
    },
  };
}

export function openWatch(server: { port: number; caPEM?: string; token: string }, urlPath: string, onEvent?: (ev: WatchEvent) => void): RawWatch {
  const reader = watchReader(onEvent);
  let req: ReturnType<typeof https.request> | undefined;
  let closed = false;
  const done = new Promise<void>(resolve => {
    req = https.request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'GET',
        path: urlPath,
        headers: { Authorization: `Bearer ${server.token}`, Accept: 'application/json' },
        ca: server.caPEM,
        checkServerIdentity: () => undefined,
        agent: false,
      },
      res => {
        reader.setStatus(res.statusCode ?? 0);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => reader.feed(chunk));
        res.on('end', () => {
          reader.end();
          resolve();
        });
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      },
    );
    req.on('error', err => {
      if (!closed) reader.addError(String(err));
      resolve();
    });
    req.end();
  });
  return {
    events: reader.events,
    done,
    status: reader.status,
    errorBody: reader.errorBody,
    close() {
      closed = true;
      req?.destroy();
    },
  };
}

/** Parses concatenated JSON values (as `kubectl get -w -o json` prints them); ignores a trailing partial one. */
export function parseJSONStream(text: string): any[] {
  const out: any[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      continue;
    }
    if (ch === '{' || ch === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push(JSON.parse(text.slice(start, i + 1)));
        start = -1;
      }
    }
  }
  return out;
}

/**
 * Waits until an object stops changing (two reads 250 ms apart give the same resourceVersion):
 * the server's controllers update new objects (e.g. status.phase), which would race tests that
 * compare resourceVersions. Returns the settled object.
 */
export async function waitSettled(server: Requester, urlPath: string, timeoutMs = 10_000): Promise<any> {
  let last = '';
  let obj: any;
  await waitFor(
    `${urlPath} to stop changing`,
    async () => {
      const res = await server.request('GET', urlPath);
      if (res.status !== 200) throw new Error(describeResponse(res));
      obj = res.json();
      const rv = obj.metadata.resourceVersion as string;
      const same = rv === last;
      last = rv;
      return same;
    },
    timeoutMs,
    250,
  );
  return obj;
}
