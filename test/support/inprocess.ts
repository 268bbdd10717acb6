// The server in the test process: assembled as main.ts assembles it (cmd/tke-apiserver/server.ts),
// on a fresh database of the run's real PostgreSQL, its request handler driven by supertest. No
// child process, no TLS, no port of its own: a server is ready as soon as its groups are built, and
// several of them can run side by side in one mocha process, also on one database as replicas do.
//
// For what a process adds (kubectl, TLS and client certificates, restarts, kill -9, signals), use
// server.ts. Set TKE_TEST_LOG=1 to see the servers' logs on stderr.
import http from 'node:http';
import { pino } from 'pino';
import supertest from 'supertest';
import { parseOptions } from '../../cmd/tke-apiserver/options.ts';
import { assembleServer, type AssembledServer } from '../../cmd/tke-apiserver/server.ts';
import type { APIServer } from '../../pkg/server/apiserver.ts';
import type { PostgresStore } from '../../pkg/storage/postgres.ts';
import {
  describeResponse,
  encodeRequest,
  httpResponse,
  watchReader,
  type HttpResponse,
  type RawWatch,
  type RequestOptions,
  type Requester,
  type WatchEvent,
} from './http.ts';
import { createTestDatabase } from './postgres.ts';
import { makeTempDir } from './process.ts';

/** What the OIDC issuer and other absolute links name: the server has no port of its own here. */
export const inProcessURL = 'https://127.0.0.1';

export interface InProcessOptions {
  /** Use this database instead of a fresh one (a second replica of another server). */
  databaseUrl?: string;
  /** Use this data dir (a replica sharing the CA, the bootstrap token and the encryption key). */
  dataDir?: string;
  /** Flags as tke-apiserver takes them (--data-dir and --database-url are set from the above). */
  args?: string[];
}

export interface TestUser {
  username: string;
  /** The LocalIdentity's object name. */
  name: string;
  /** An API key of the user, from a password login. */
  token: string;
  /** A supertest agent sending that key. */
  agent: supertest.Agent;
}

export interface InProcessServer extends Requester {
  url: string;
  dataDir: string;
  databaseUrl: string;
  /** The bootstrap admin's token (system:masters): every request's default credential. */
  token: string;
  handler: AssembledServer['handler'];
  apiserver: APIServer;
  storage: PostgresStore;
  /** supertest, as the bootstrap admin. */
  agent: supertest.Agent;
  /** supertest, with another bearer token (an API key, an ID token). */
  as(token: string): supertest.Agent;
  /** supertest with no credential at all. */
  anonymous(): supertest.Agent;
  /** Creates a local user of `tenant` and logs it in: its API key and an agent using it. */
  user(username: string, opts?: { tenant?: string; password?: string; groups?: string[] }): Promise<TestUser>;
  /**
   * The same contract as TestServer.request (JSON by default, `token: null` for none), answered by
   * the handler through supertest: tests that need no process move here unchanged.
   */
  request(method: string, urlPath: string, opts?: RequestOptions): Promise<HttpResponse>;
  /** A watch read as it streams; `token` as in request(). */
  openWatch(urlPath: string, opts?: { token?: string | null; onEvent?: (ev: WatchEvent) => void }): RawWatch;
  stop(): Promise<void>;
}

export const testPassword = 'Passw0rd123';

type Parser = Parameters<supertest.Test['parse']>[0];
/** superagent hands a parser the Node response stream, whatever its typings say. */
const streamParser = (fn: (res: http.IncomingMessage, done: (err: Error | null, body: string) => void) => void): Parser => fn as unknown as Parser;

/** Reads any response whole, as text, whatever its type: tests assert on the bytes the server sent. */
const rawText = streamParser((res, done) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks).toString('utf8')));
  res.on('error', err => done(err, ''));
});

export async function startInProcess(opts: InProcessOptions = {}): Promise<InProcessServer> {
  const dataDir = opts.dataDir ?? makeTempDir('tke-inproc-');
  const databaseUrl = opts.databaseUrl ?? (await createTestDatabase());
  const options = parseOptions(['--data-dir', dataDir, '--database-url', databaseUrl, ...(opts.args ?? [])], {});
  const logger = pino({ level: process.env.TKE_TEST_LOG ? 'debug' : 'silent', base: { component: 'tke-apiserver', inprocess: true } }, pino.destination(2));
  const assembled = await assembleServer({ ...options, databaseUrl }, { logger, externalURL: inProcessURL });
  await assembled.startControllers();

  // One listener for all of this server's agents: supertest opens it on 127.0.0.1 for the
  // requests in flight and closes it after the last one, so a stopped server holds no port.
  const listener = http.createServer(assembled.handler);
  const withToken = (token: string | undefined) => {
    const agent = supertest.agent(listener);
    if (token) agent.set('Authorization', `Bearer ${token}`);
    return agent;
  };
  const watches = new Set<() => void>();

  const server: InProcessServer = {
    url: inProcessURL,
    dataDir,
    databaseUrl,
    token: assembled.adminToken,
    handler: assembled.handler,
    apiserver: assembled.apiserver,
    storage: assembled.storage,
    agent: withToken(assembled.adminToken),
    as: token => withToken(token),
    anonymous: () => withToken(undefined),

    async user(username, uopts = {}) {
      const tenant = uopts.tenant ?? 'default';
      const password = uopts.password ?? testPassword;
      const b64 = Buffer.from(password).toString('base64');
      const made = await server.request('POST', '/apis/auth.tkestack.io/v1/localidentities', {
        body: { metadata: { generateName: 'usr-' }, spec: { username, displayName: username, hashedPassword: b64, tenantID: tenant, groups: uopts.groups } },
      });
      if (made.status !== 201) throw new Error(`creating user ${username}: ${describeResponse(made)}`);
      const login = await server.request('POST', '/apis/auth.tkestack.io/v1/apikeys/default/password', {
        token: null,
        body: { tenantID: tenant, username, password: b64, expire: '1h' },
      });
      if (login.status !== 201) throw new Error(`logging in ${username}: ${describeResponse(login)}`);
      const token = login.json().spec.apiKey as string;
      return { username, name: made.json().metadata.name, token, agent: withToken(token) };
    },

    async request(method, urlPath, ropts = {}) {
      const { headers, payload } = encodeRequest({ ...ropts, defaultToken: assembled.adminToken });
      // superagent sets the length of what it sends itself; a second Content-Length header would be a malformed request.
      delete headers['Content-Length'];
      const test = new supertest.Test(listener, method, urlPath)
        .set(headers)
        .timeout(ropts.timeoutMs ?? 30_000)
        .buffer(true)
        .parse(rawText)
        // The bytes are the test's: superagent would otherwise JSON-encode a Buffer sent as JSON.
        .serialize(body => body);
      const res = await (payload ? test.send(payload) : test);
      return httpResponse(res.status, res.headers as HttpResponse['headers'], typeof res.body === 'string' ? res.body : '');
    },

    openWatch(urlPath, wopts = {}) {
      const reader = watchReader(wopts.onEvent);
      const { headers } = encodeRequest({ token: wopts.token, defaultToken: assembled.adminToken });
      let closed = false;
      let finish!: () => void;
      const done = new Promise<void>(resolve => {
        finish = resolve;
      });
      const test = new supertest.Test(listener, 'GET', urlPath)
        .set(headers)
        .buffer(true)
        .parse(
          streamParser((res, cb) => {
            reader.setStatus(res.statusCode ?? 0);
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => reader.feed(chunk));
            res.on('end', () => {
              reader.end();
              cb(null, '');
              finish();
            });
            res.on('close', () => finish());
          }),
        );
      test.then(
        () => finish(),
        (err: Error) => {
          if (!closed) reader.addError(String(err));
          finish();
        },
      );
      const close = () => {
        if (closed) return;
        closed = true;
        test.abort();
        finish();
      };
      watches.add(close);
      void done.then(() => watches.delete(close));
      return { events: reader.events, done, status: reader.status, errorBody: reader.errorBody, close };
    },

    async stop() {
      for (const close of [...watches]) close();
      await assembled.stop();
    },
  };
  return server;
}

/**
 * One in-process server for a describe block: built before its tests, stopped after them.
 * `use` receives it so the block's tests can refer to it by a plain variable.
 */
export function useInProcessServer(use: (server: InProcessServer) => void, opts: InProcessOptions = {}): void {
  let started: InProcessServer | undefined;
  before(async function () {
    this.timeout(120_000);
    started = await startInProcess(opts);
    use(started);
  });
  after(async function () {
    await started?.stop();
  });
}
