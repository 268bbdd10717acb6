// --workers 2: two processes serve one port. What a client must not notice: a write made through
// one connection is read and watched through any other (whichever worker holds it), images pushed
// and pulled whichever worker a connection reaches (one engine, run by worker 1), a worker that
// dies is replaced while the other serves, and a stop leaves no process behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { httpsRequest, openWatch, type WatchEvent } from '../support/http.ts';
import { writeOCILayout } from '../support/oci.ts';
import { makeTempDir } from '../support/process.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { waitFor } from '../support/wait.ts';

/** The pids of a process's children that are node (the workers), from /proc. */
function workerPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('tke-apiserver')) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids.sort((a, b) => a - b);
}

describe('e2e: --workers 2', function () {
  this.timeout(180_000);
  let server: TestServer;
  const base = '/apis/business.tkestack.io/v1/projects';
  /** A new connection per request, so the port's round robin spreads them over both workers. */
  const fresh = (method: string, path: string, body?: unknown, token?: string | null) =>
    httpsRequest({ port: server.port, caPEM: server.caPEM }, method, path, {
      body,
      token,
      defaultToken: server.token,
      agent: new https.Agent({ keepAlive: false }),
    });
  const project = (name: string) => ({ apiVersion: 'business.tkestack.io/v1', kind: 'Project', metadata: { name }, spec: { displayName: name } });

  before(async () => {
    server = await startServer({ args: ['--workers', '2'] });
  });
  after(async () => {
    await server?.stop();
  });

  it('runs two worker processes', async () => {
    await waitFor('two workers', () => workerPids(server.process.pid!).length === 2, 30_000);
  });

  it('a write through one connection is read through every other at once', async () => {
    for (let i = 0; i < 12; i++) {
      const created = await fresh('POST', base, project(`wk-${i}`));
      assert.equal(created.status, 201, created.body);
      // Each read on its own connection: half of them reach the worker that did not write.
      for (let j = 0; j < 2; j++) {
        const got = await fresh('GET', `${base}/wk-${i}`);
        assert.equal(got.status, 200, `read ${j} of wk-${i}: ${got.body}`);
        assert.equal(got.json().metadata.resourceVersion, created.json().metadata.resourceVersion);
      }
      const list = await fresh('GET', base);
      assert.ok(
        list.json().items.some((p: { metadata: { name: string } }) => p.metadata.name === `wk-${i}`),
        `wk-${i} listed`,
      );
    }
  });

  it('a watch sees every write, whichever worker made it, in revision order', async () => {
    const rv = (await fresh('GET', base)).json().metadata.resourceVersion as string;
    const events: WatchEvent[] = [];
    const watch = openWatch(server, `${base}?watch=true&resourceVersion=${rv}`, ev => events.push(ev));
    try {
      for (let i = 0; i < 8; i++) assert.equal((await fresh('POST', base, project(`wk-watch-${i}`))).status, 201);
      await waitFor('eight ADDED events', () => events.filter(e => e.type === 'ADDED').length >= 8);
      const added = events.filter(e => e.type === 'ADDED').map(e => e.object.metadata.name);
      assert.deepEqual(
        added,
        Array.from({ length: 8 }, (_, i) => `wk-watch-${i}`),
      );
      const revisions = events.map(e => Number(e.object.metadata.resourceVersion));
      assert.deepEqual(
        revisions,
        [...revisions].sort((a, b) => a - b),
      );
    } finally {
      watch.close();
    }
  });

  it('an identity, its API key and its binding work at once through every worker', async () => {
    for (let i = 0; i < 3; i++) {
      const username = `keyuser${i}`;
      const password = 'Passw0rd123';
      const identity = await fresh('POST', '/apis/auth.tkestack.io/v1/localidentities', {
        metadata: { generateName: 'usr-' },
        spec: { username, displayName: username, hashedPassword: Buffer.from(password).toString('base64'), tenantID: 'default' },
      });
      assert.equal(identity.status, 201, identity.body);
      // Each step on a new connection, straight after the one before.
      const key = await fresh(
        'POST',
        '/apis/auth.tkestack.io/v1/apikeys/default/password',
        { tenantID: 'default', username, password: Buffer.from(password).toString('base64'), description: 'k', expire: '1h' },
        null,
      );
      assert.equal(key.status, 201, key.body);
      const apiKey = key.json().spec.apiKey as string;
      const bound = await fresh('POST', '/apis/auth.tkestack.io/v1/policies/pol-default-administrator/binding', { users: [{ id: username, name: username }] });
      assert.equal(bound.status, 201, bound.body);
      for (let j = 0; j < 4; j++) {
        const got = await fresh('GET', base, undefined, apiKey);
        assert.equal(got.status, 200, `${username}'s request ${j}: ${got.body}`);
      }
    }
  });

  it('one registry engine serves both workers: pushes and pulls over many connections agree', async () => {
    const work = makeTempDir('tke-workers-images-');
    const certDir = path.join(work, 'certs');
    mkdirSync(certDir);
    writeFileSync(path.join(certDir, 'ca.crt'), server.caPEM);
    const imageDir = path.join(work, 'image');
    const digest = writeOCILayout(imageDir, 'v1', 'hello from two workers\n');
    const password = 'Passw0rd123';
    const identity = await fresh('POST', '/apis/auth.tkestack.io/v1/localidentities', {
      metadata: { generateName: 'usr-' },
      spec: { username: 'pusher', displayName: 'pusher', hashedPassword: Buffer.from(password).toString('base64'), tenantID: 'default' },
    });
    assert.equal(identity.status, 201, identity.body);
    const bound = await fresh('POST', '/apis/auth.tkestack.io/v1/policies/pol-default-administrator/binding', { users: [{ id: 'pusher', name: 'pusher' }] });
    assert.equal(bound.status, 201, bound.body);
    const ns = await fresh('POST', '/apis/registry.tkestack.io/v1/namespaces', {
      metadata: { generateName: 'rns-' },
      spec: { name: 'team', displayName: 'team', visibility: 'Private' },
    });
    assert.equal(ns.status, 201, ns.body);
    const skopeo = (...args: string[]) =>
      new Promise<{ code: number; stderr: string }>(resolve => {
        execFile(
          'skopeo',
          ['--insecure-policy', ...args],
          {
            env: { PATH: process.env.PATH, HOME: work, XDG_RUNTIME_DIR: work, REGISTRY_AUTH_FILE: path.join(work, 'auth.json') },
            timeout: 60_000,
          },
          (err, _stdout, stderr) => resolve({ code: err ? 1 : 0, stderr }),
        );
      });
    const ref = (tag: string) => `docker://127.0.0.1:${server.port}/team/app:${tag}`;
    // Each skopeo run opens its own connections: over four pushes and pulls both workers take part.
    for (const tag of ['a', 'b']) {
      const pushed = await skopeo(
        'copy',
        '--retry-times',
        '0',
        '--dest-cert-dir',
        certDir,
        '--dest-creds',
        `pusher:${password}`,
        `oci:${imageDir}:v1`,
        ref(tag),
      );
      assert.equal(pushed.code, 0, pushed.stderr);
    }
    for (const tag of ['a', 'b']) {
      const out = path.join(work, `pulled-${tag}`);
      const pulled = await skopeo('copy', '--retry-times', '0', '--src-cert-dir', certDir, '--src-creds', `pusher:${password}`, ref(tag), `oci:${out}:v1`);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(JSON.parse(readFileSync(path.join(out, 'index.json'), 'utf8')).manifests[0].digest, digest);
    }
    // One engine: exactly one docker-registry process, a child of worker 1.
    const engines = readdirSync('/proc')
      .filter(p => /^\d+$/.test(p))
      .filter(p => {
        try {
          return (
            readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('/usr/bin/docker-registry') &&
            readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(server.dataDir)
          );
        } catch {
          return false;
        }
      });
    assert.equal(engines.length, 1, `docker-registry processes: ${engines.join(', ')}`);
  });

  it('a worker killed is started again, and the other serves meanwhile', async () => {
    const before = workerPids(server.process.pid!);
    assert.equal(before.length, 2);
    process.kill(before[1]!, 'SIGKILL');
    // Once the supervisor has seen it die, new connections reach the other worker (one handed to it
    // in the instant it died is lost with it, as with any crash).
    await waitFor('the supervisor to see the worker die', () => server.logs().includes('a worker exited; starting it again'));
    for (let i = 0; i < 6; i++) assert.equal((await fresh('GET', `${base}/wk-0`)).status, 200);
    await waitFor(
      'a new worker in place of the killed one',
      () => {
        const now = workerPids(server.process.pid!);
        return now.length === 2 && !now.includes(before[1]!);
      },
      60_000,
    );
    for (let i = 0; i < 6; i++) assert.equal((await fresh('GET', `${base}/wk-1`)).status, 200);
  });

  it('SIGTERM stops every worker and leaves no process behind', async () => {
    const workers = workerPids(server.process.pid!);
    const code = await server.stop('SIGTERM');
    assert.equal(code, 0);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), `worker ${pid} is gone`);
  });
});
