// Robustness: (a) two replicas on one database under concurrent writers with watchers that must
// see every change once, in order; (b) kill -9 during a write storm loses no acknowledged write
// and leaves nothing half-written; (c) front-proxy authentication; (d) a deterministic fuzz that
// must never produce a 5xx or kill the server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { startServer, type TestServer } from '../support/server.ts';
import { type HttpResponse, type WatchEvent, openWatch, describeResponse, isReady } from '../support/http.ts';
import { uniqueName, projectObject, clusterObject, namespaceObject, paths } from '../support/fixtures.ts';
import { waitFor, sleep } from '../support/wait.ts';

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof prng>;

const rvOf = (o: any): bigint => {
  const rv = o?.metadata?.resourceVersion;
  assert.match(String(rv), /^\d+$/, `resourceVersion must be a decimal number (DESIGN: database-wide strictly increasing): ${JSON.stringify(o?.metadata)}`);
  return BigInt(rv);
};

/** A raw watch that reconnects from the last seen resourceVersion if the server ends the stream. */
class Watcher {
  readonly events: WatchEvent[] = [];
  reconnects = 0;
  errors: string[] = [];
  lastRV: bigint;
  private current?: ReturnType<typeof openWatch>;
  private stopped = false;
  readonly finished: Promise<void>;

  constructor(
    readonly label: string,
    readonly server: TestServer,
    fromRV: string,
    readonly bookmarks = false,
  ) {
    this.lastRV = BigInt(fromRV);
    this.finished = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const url = `${paths.projects}?watch=true&resourceVersion=${this.lastRV}${this.bookmarks ? '&allowWatchBookmarks=true' : ''}`;
      this.current = openWatch(this.server, url, ev => {
        if (ev.type === 'BOOKMARK') {
          const rv = BigInt(ev.object?.metadata?.resourceVersion ?? '0');
          if (rv < this.lastRV) this.errors.push(`${this.label}: BOOKMARK rv ${rv} < last ${this.lastRV}`);
          else this.lastRV = rv;
          return;
        }
        if (ev.type === 'ERROR') {
          this.errors.push(`${this.label}: ERROR event ${JSON.stringify(ev.object)}`);
          return;
        }
        this.events.push(ev);
        try {
          this.lastRV = rvOf(ev.object);
        } catch (e) {
          this.errors.push(String(e));
        }
      });
      await this.current.done;
      if (this.stopped) break;
      if (this.current.status() !== 200) {
        this.errors.push(`${this.label}: watch refused: HTTP ${this.current.status()} ${this.current.errorBody().slice(0, 500)}`);
        await sleep(100);
      }
      this.reconnects++;
      if (this.reconnects > 50) {
        this.errors.push(`${this.label}: too many reconnects`);
        break;
      }
    }
  }

  async stop() {
    this.stopped = true;
    this.current?.close();
    await this.finished;
  }

  /** name -> object from replaying the events. */
  state(): Map<string, any> {
    const m = new Map<string, any>();
    for (const ev of this.events) {
      const n = ev.object?.metadata?.name;
      if (ev.type === 'DELETED') m.delete(n);
      else m.set(n, ev.object);
    }
    return m;
  }
}

async function listProjects(server: TestServer, selector = ''): Promise<{ rv: string; items: any[] }> {
  const res = await server.request('GET', `${paths.projects}${selector ? `?labelSelector=${encodeURIComponent(selector)}` : ''}`);
  assert.equal(res.status, 200, describeResponse(res));
  const l = res.json();
  return { rv: l.metadata.resourceVersion, items: l.items };
}

describe('e2e: robustness', function () {
  this.timeout(600_000);

  describe('(a) two servers on one database, 8 writers, 3 watchers', function () {
    let a: TestServer;
    let b: TestServer;
    before(async function () {
      this.timeout(240_000);
      a = await startServer();
      // Same database and data dir (PKI, admin token): a second stateless replica.
      b = await startServer({ databaseUrl: a.databaseUrl, dataDir: a.dataDir });
    });
    after(async function () {
      await Promise.all([a?.stop().catch(() => undefined), b?.stop().catch(() => undefined)]);
    });

    it('every watcher sees every change exactly once, in strictly increasing resourceVersion, and ends equal to a fresh list', async function () {
      const WRITERS = 8;
      const OPS = Number(process.env.TKE_ROBUSTNESS_OPS ?? 300);
      const start = await listProjects(a);
      assert.equal((await b.request('GET', paths.projects)).status, 200, 'second replica serves with the shared admin token');

      const watchers = [new Watcher('w0@A', a, start.rv), new Watcher('w1@B', b, start.rv, true), new Watcher('w2@A', a, start.rv, true)];

      interface Ack {
        rv: bigint;
        name: string;
        displayName: string;
        type: 'ADDED' | 'MODIFIED';
        writer: number;
      }
      const acks: Ack[] = [];
      const pool: string[] = [];
      const failures: string[] = [];
      let unknownOutcome = 0;
      let putConflicts = 0;
      let throttled = 0;

      const writer = async (i: number) => {
        const srv = i % 2 === 0 ? a : b;
        const rng = prng(1000 + i);
        let created = 0;
        for (let k = 0; k < OPS; k++) {
          const displayName = `w${i}-op${k}`;
          let res: HttpResponse;
          let type: Ack['type'];
          let name: string;
          let kind: 'create' | 'patch' | 'put';
          if (created < 3 || pool.length === 0 || rng.chance(0.3)) {
            name = `w${i}-${created++}`;
            kind = 'create';
            type = 'ADDED';
            try {
              res = await srv.request('POST', paths.projects, { body: projectObject(name, { displayName, labels: { writer: String(i) } }) });
            } catch (err) {
              unknownOutcome++;
              failures.push(`network error on create ${name} via ${srv.port}: ${err}`);
              continue;
            }
            if (res.status === 201) pool.push(name);
          } else {
            name = rng.pick(pool);
            type = 'MODIFIED';
            if (rng.chance(0.25)) {
              kind = 'put';
              const cur = await srv.request('GET', paths.project(name)).catch(() => undefined);
              if (!cur || cur.status !== 200) {
                failures.push(`GET ${name} before PUT: ${cur ? describeResponse(cur) : 'network error'}`);
                continue;
              }
              const obj = cur.json();
              obj.spec.displayName = displayName;
              try {
                res = await srv.request('PUT', paths.project(name), { body: obj });
              } catch (err) {
                unknownOutcome++;
                failures.push(`network error on PUT ${name}: ${err}`);
                continue;
              }
              if (res.status === 409) {
                putConflicts++;
                continue;
              }
            } else {
              kind = 'patch';
              try {
                res = await srv.request('PATCH', paths.project(name), {
                  headers: { 'Content-Type': 'application/merge-patch+json' },
                  body: { spec: { displayName } },
                });
              } catch (err) {
                unknownOutcome++;
                failures.push(`network error on PATCH ${name}: ${err}`);
                continue;
              }
            }
          }
          if (res.status === 429) {
            throttled++;
            await sleep(20);
            continue;
          }
          if (res.status < 200 || res.status >= 300) {
            failures.push(`${kind} ${name} via :${srv.port} -> ${describeResponse(res)}`);
            continue;
          }
          const obj = res.json();
          acks.push({ rv: rvOf(obj), name, displayName: obj.spec?.displayName, type, writer: i });
          if (obj.spec?.displayName !== displayName) failures.push(`${kind} ${name}: response displayName ${obj.spec?.displayName} != ${displayName}`);
        }
      };

      const t0 = Date.now();
      await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i)));
      const elapsed = Date.now() - t0;

      try {
        assert.deepEqual(failures, [], `write failures (${failures.length}):\n${failures.slice(0, 20).join('\n')}`);

        // Acknowledged resourceVersions are unique database-wide.
        const ackRVs = new Map<bigint, Ack>();
        for (const ack of acks) {
          assert.ok(
            !ackRVs.has(ack.rv),
            `two acknowledged writes share resourceVersion ${ack.rv}: ${JSON.stringify(ackRVs.get(ack.rv), (_k, v) => (typeof v === 'bigint' ? String(v) : v))} and ${ack.name}`,
          );
          ackRVs.set(ack.rv, ack);
        }
        const maxAck = acks.reduce((m, x) => (x.rv > m ? x.rv : m), 0n);

        // Wait until each watcher has caught up with the last acknowledged write.
        for (const w of watchers) {
          await waitFor(
            `${w.label} to reach rv ${maxAck} (at ${w.lastRV}, ${w.events.length} events, errors: ${w.errors.join('; ')})`,
            () => w.lastRV >= maxAck,
            60_000,
            50,
          );
        }

        // The final state of every watcher equals a fresh list from either server (poll: controllers may still write).
        const fresh = async (srv: TestServer) => new Map((await listProjects(srv)).items.map(o => [o.metadata.name as string, o]));
        const same = (m1: Map<string, any>, m2: Map<string, any>) =>
          m1.size === m2.size && [...m1].every(([n, o]) => m2.get(n)?.metadata?.resourceVersion === o.metadata.resourceVersion);
        for (const w of watchers) {
          for (const srv of [a, b]) {
            let last = new Map<string, any>();
            await waitFor(
              `${w.label} state == list from :${srv.port}`,
              async () => {
                last = await fresh(srv);
                return same(w.state(), last);
              },
              30_000,
              100,
            ).catch(err => {
              const ws = w.state();
              const diff = [...new Set([...ws.keys(), ...last.keys()])]
                .filter(n => ws.get(n)?.metadata?.resourceVersion !== last.get(n)?.metadata?.resourceVersion)
                .slice(0, 10)
                .map(n => `${n}: watch rv ${ws.get(n)?.metadata?.resourceVersion} list rv ${last.get(n)?.metadata?.resourceVersion}`);
              throw new Error(`${err.message}\n${diff.join('\n')}`);
            });
          }
        }

        for (const w of watchers) {
          assert.deepEqual(w.errors, [], `${w.label} errors`);
          // Strictly increasing resourceVersions, each change once.
          const rvs = w.events.map(e => rvOf(e.object));
          for (let i = 1; i < rvs.length; i++) {
            assert.ok(rvs[i] > rvs[i - 1], `${w.label}: event ${i} rv ${rvs[i]} after ${rvs[i - 1]} (not strictly increasing)`);
          }
          const seen = new Map<bigint, WatchEvent>(w.events.map(e => [rvOf(e.object), e]));
          const missing: string[] = [];
          for (const ack of acks) {
            const ev = seen.get(ack.rv);
            if (!ev) {
              missing.push(`${ack.type} ${ack.name} rv ${ack.rv}`);
              continue;
            }
            assert.equal(ev.object.metadata.name, ack.name, `${w.label}: rv ${ack.rv} carries ${ev.object.metadata.name}, acked for ${ack.name}`);
            assert.equal(ev.type, ack.type, `${w.label}: rv ${ack.rv} (${ack.name}) event type`);
            assert.equal(ev.object.spec?.displayName, ack.displayName, `${w.label}: rv ${ack.rv} (${ack.name}) must carry the committed object`);
          }
          assert.deepEqual(missing.slice(0, 20), [], `${w.label} missed ${missing.length} of ${acks.length} acknowledged changes`);
        }
        // All watchers saw the same sequence (extra events, e.g. from controllers, must be the same for everyone).
        const seq = (w: Watcher) => w.events.map(e => `${e.type}:${e.object.metadata.name}:${e.object.metadata.resourceVersion}`);
        assert.deepEqual(seq(watchers[1]), seq(watchers[0]), 'w1@B and w0@A saw different sequences');
        assert.deepEqual(seq(watchers[2]), seq(watchers[0]), 'w2@A and w0@A saw different sequences');
        const extras = watchers[0].events.length - acks.length;
        assert.ok(extras >= 0, 'fewer events than acknowledged writes');
        console.log(
          `      ${acks.length} acknowledged writes in ${elapsed} ms (${Math.round(acks.length / (elapsed / 1000))}/s), ` +
            `${putConflicts} PUT conflicts, ${throttled} throttled, ${unknownOutcome} unknown outcomes, ${extras} events not from these writers, ` +
            `reconnects ${watchers.map(w => w.reconnects).join('/')}`,
        );
      } finally {
        await Promise.all(watchers.map(w => w.stop()));
      }
    });
  });

  describe('(b) kill -9 during a write storm', function () {
    let s: TestServer;
    before(async function () {
      this.timeout(180_000);
      s = await startServer();
    });
    after(async function () {
      await s?.stop().catch(() => undefined);
    });

    it('every acknowledged write survives, nothing is half-written, resourceVersions keep increasing', async function () {
      const run = uniqueName('storm');
      const before = await listProjects(s);
      const attempted = new Map<string, Set<number>>();
      const acked = new Map<string, Array<{ ver: number; rv: bigint }>>();
      let total = 0;
      let stop = false;
      let networkErrors = 0;
      const serverErrors: string[] = [];

      const writer = async (i: number) => {
        const mine: Array<{ name: string; ver: number }> = [];
        let n = 0;
        const rng = prng(77 + i);
        while (!stop) {
          let name: string;
          let ver: number;
          let res: HttpResponse;
          try {
            if (mine.length === 0 || rng.chance(0.4)) {
              name = `${run}-${i}-${n++}`;
              ver = 0;
              attempted.set(name, new Set([0]));
              res = await s.request('POST', paths.projects, {
                body: projectObject(name, { labels: { storm: run, ver: 'v0' }, displayName: `${name}-v0` }),
                timeoutMs: 10_000,
              });
              if (res.status === 201) mine.push({ name, ver: 0 });
            } else {
              const t = rng.pick(mine);
              name = t.name;
              ver = t.ver + 1;
              attempted.get(name)!.add(ver);
              res = await s.request('PATCH', paths.project(name), {
                headers: { 'Content-Type': 'application/merge-patch+json' },
                body: { metadata: { labels: { ver: `v${ver}` } }, spec: { displayName: `${name}-v${ver}` } },
                timeoutMs: 10_000,
              });
              if (res.status === 200) t.ver = ver;
            }
          } catch {
            networkErrors++;
            if (stop) break;
            await sleep(20);
            continue;
          }
          if (res.status >= 500 && !stop) serverErrors.push(describeResponse(res));
          if (res.status >= 200 && res.status < 300) {
            const obj = res.json();
            const list = acked.get(name) ?? [];
            list.push({ ver, rv: rvOf(obj) });
            acked.set(name, list);
            total++;
          }
        }
      };

      const writers = Array.from({ length: 6 }, (_, i) => writer(i));
      await waitFor('200 acknowledged writes', () => total >= 200, 60_000, 5);
      await s.kill9();
      await sleep(100);
      stop = true;
      await Promise.all(writers);
      assert.deepEqual(serverErrors, [], 'server errors before the kill');

      await s.restart();
      const after = await listProjects(s, `storm=${run}`);
      const live = new Map(after.items.map(o => [o.metadata.name as string, o]));
      const problems: string[] = [];
      let maxAck = 0n;
      for (const [name, acks] of acked) {
        const o = live.get(name);
        const lastAck = acks.reduce((m, x) => (x.ver > m.ver ? x : m));
        for (const x of acks) if (x.rv > maxAck) maxAck = x.rv;
        if (!o) {
          problems.push(`${name}: acknowledged (v${lastAck.ver} rv ${lastAck.rv}) but missing after restart`);
          continue;
        }
        const rv = rvOf(o);
        if (rv < lastAck.rv) problems.push(`${name}: rv ${rv} older than acknowledged rv ${lastAck.rv}`);
        const ver = Number(String(o.metadata.labels?.ver ?? '').slice(1));
        if (o.spec?.displayName !== `${name}-v${ver}`)
          problems.push(`${name}: half-written: label ver=${o.metadata.labels?.ver} displayName=${o.spec?.displayName}`);
        if (ver < lastAck.ver) problems.push(`${name}: at v${ver}, but v${lastAck.ver} was acknowledged`);
        if (!attempted.get(name)?.has(ver)) problems.push(`${name}: v${ver} was never written`);
        const sameRV = acks.find(x => x.rv === rv);
        if (sameRV && sameRV.ver !== ver) problems.push(`${name}: rv ${rv} was acknowledged as v${sameRV.ver} but holds v${ver}`);
        if (!o.metadata.uid || !o.metadata.creationTimestamp || o.spec?.tenantID === undefined)
          problems.push(`${name}: incomplete object ${JSON.stringify(o.metadata)}`);
      }
      for (const name of live.keys()) {
        if (!attempted.has(name)) problems.push(`${name}: exists but was never written`);
      }
      assert.deepEqual(problems.slice(0, 30), [], `${problems.length} problems after kill -9 (acked ${total}, network errors ${networkErrors})`);

      // The change log replays every acknowledged write once, in order, after the crash.
      const ackRVs = new Set<string>();
      for (const acks of acked.values()) for (const x of acks) ackRVs.add(String(x.rv));
      const seen: string[] = [];
      const w = openWatch(s, `${paths.projects}?watch=true&resourceVersion=${before.rv}&labelSelector=${encodeURIComponent(`storm=${run}`)}`, ev => {
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') seen.push(ev.object.metadata.resourceVersion);
      });
      try {
        await waitFor(
          `replayed watch to reach rv ${maxAck} (${seen.length} events, status ${w.status()} ${w.errorBody()})`,
          () => seen.length > 0 && BigInt(seen[seen.length - 1]) >= maxAck,
          30_000,
        );
      } finally {
        w.close();
      }
      const seenSet = new Set(seen);
      assert.equal(seenSet.size, seen.length, 'duplicate events in the replay');
      const missing = [...ackRVs].filter(rv => !seenSet.has(rv));
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} acknowledged writes missing from the replayed watch`);
      for (let i = 1; i < seen.length; i++) assert.ok(BigInt(seen[i]) > BigInt(seen[i - 1]), `replay not increasing at ${i}`);

      // New writes get larger resourceVersions than anything acknowledged before the crash.
      const res = await s.request('POST', paths.projects, { body: projectObject(`${run}-after`) });
      assert.equal(res.status, 201, describeResponse(res));
      assert.ok(rvOf(res.json()) > maxAck, `post-restart rv ${res.json().metadata.resourceVersion} <= ${maxAck}`);
      console.log(`      ${total} acknowledged writes before kill -9, ${networkErrors} network errors, ${live.size} objects after restart`);
    });
  });

  describe('(c) front-proxy authentication', function () {
    let s: TestServer;
    let dir: string;
    const certs: Record<string, { cert: string; key: string }> = {};

    function openssl(args: string[]) {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    }
    function makeCA(name: string) {
      openssl([
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
    }
    function makeClient(ca: string, cn: string, file: string) {
      openssl([
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        `/CN=${cn}`,
        '-keyout',
        `${file}.key`,
        '-out',
        `${file}.csr`,
      ]);
      const ext = path.join(dir, `${file}.ext`);
      execFileSync('sh', ['-c', `printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=clientAuth\\n' > '${ext}'`]);
      openssl([
        'x509',
        '-req',
        '-in',
        `${file}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-days',
        '2',
        '-out',
        `${file}.crt`,
        '-extfile',
        ext,
      ]);
      certs[file] = { cert: readFileSync(path.join(dir, `${file}.crt`), 'utf8'), key: readFileSync(path.join(dir, `${file}.key`), 'utf8') };
    }

    before(async function () {
      this.timeout(180_000);
      dir = mkdtempSync(path.join(os.tmpdir(), 'tke-e2e-fp-'));
      makeCA('front-proxy-ca');
      makeCA('other-ca');
      makeClient('front-proxy-ca', 'front-proxy-client', 'proxy');
      makeClient('front-proxy-ca', 'mallory', 'wrong-cn');
      makeClient('other-ca', 'front-proxy-client', 'wrong-ca');
      s = await startServer({
        args: [
          '--requestheader-client-ca-file',
          path.join(dir, 'front-proxy-ca.crt'),
          '--requestheader-allowed-names',
          'front-proxy-client',
          '--requestheader-username-headers',
          'X-Remote-User',
          '--requestheader-group-headers',
          'X-Remote-Group',
          '--requestheader-extra-headers-prefix',
          'X-Remote-Extra-',
        ],
      });
    });
    after(async function () {
      await s?.stop().catch(() => undefined);
    });

    const headers = { 'X-Remote-User': 'alice', 'X-Remote-Group': 'tke-devs', 'X-Remote-Extra-Scopes': 'view' };

    /** Who does the server think this is? SelfSubjectReview if served, else the outcome of a list. */
    async function whoAmI(opts: { cert?: { cert: string; key: string }; token?: string | null; headers?: Record<string, string> }) {
      const ssr = await s.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
        token: opts.token ?? null,
        headers: opts.headers,
        cert: opts.cert?.cert,
        key: opts.cert?.key,
      });
      const list = await s.request('GET', paths.projects, { token: opts.token ?? null, headers: opts.headers, cert: opts.cert?.cert, key: opts.cert?.key });
      return { ssr, list };
    }

    it('a client certificate from the requestheader CA with an allowed CN + X-Remote-User is that user', async function () {
      const { ssr, list } = await whoAmI({ cert: certs.proxy, headers });
      assert.notEqual(list.status, 401, `front-proxy request was not authenticated: ${describeResponse(list)}`);
      if (ssr.status === 404) {
        // No SelfSubjectReview: an authenticated user is either allowed (200) or forbidden by name (403).
        assert.ok(list.status === 200 || list.status === 403, describeResponse(list));
        if (list.status === 403) assert.match(list.json().message, /"alice"/, describeResponse(list));
        console.log(`      (selfsubjectreviews not served: identity checked through GET projects -> ${list.status})`);
        return;
      }
      assert.equal(ssr.status, 201, describeResponse(ssr));
      const ui = ssr.json().status?.userInfo;
      assert.equal(ui?.username, 'alice', describeResponse(ssr));
      assert.ok(ui?.groups?.includes('tke-devs'), describeResponse(ssr));
      assert.deepEqual(ui?.extra?.scopes, ['view'], describeResponse(ssr));
    });

    it('front-proxy groups are used for authorization (system:masters may list)', async function () {
      const res = await s.request('GET', paths.projects, {
        token: null,
        cert: certs.proxy.cert,
        key: certs.proxy.key,
        headers: { 'X-Remote-User': 'root', 'X-Remote-Group': 'system:masters' },
      });
      assert.equal(res.status, 200, describeResponse(res));
      const w = await s.request('POST', paths.projects, {
        token: null,
        cert: certs.proxy.cert,
        key: certs.proxy.key,
        headers: { 'X-Remote-User': 'root', 'X-Remote-Group': 'system:masters' },
        body: projectObject(uniqueName('fp')),
      });
      assert.equal(w.status, 201, describeResponse(w));
      const mf = w.json().metadata.managedFields ?? [];
      assert.ok(Array.isArray(mf));
    });

    it('the same headers without a certificate are 401', async function () {
      const { ssr, list } = await whoAmI({ headers });
      assert.equal(list.status, 401, describeResponse(list));
      assert.equal(list.json().reason, 'Unauthorized');
      assert.equal(ssr.status, ssr.status === 404 ? 404 : 401, describeResponse(ssr));
    });

    it('a certificate with a CN that is not allowed is 401', async function () {
      const { list } = await whoAmI({ cert: certs['wrong-cn'], headers });
      assert.equal(list.status, 401, describeResponse(list));
    });

    it('a certificate from another CA is 401', async function () {
      const { list } = await whoAmI({ cert: certs['wrong-ca'], headers });
      assert.equal(list.status, 401, describeResponse(list));
    });

    it('a valid front-proxy certificate without X-Remote-User is 401', async function () {
      const { list } = await whoAmI({ cert: certs.proxy, headers: {} });
      assert.equal(list.status, 401, describeResponse(list));
    });

    it('X-Remote-User next to the admin bearer token does not impersonate', async function () {
      const { ssr, list } = await whoAmI({ token: s.token, headers });
      assert.equal(list.status, 200, describeResponse(list));
      if (ssr.status !== 404) {
        assert.equal(ssr.status, 201, describeResponse(ssr));
        assert.notEqual(ssr.json().status?.userInfo?.username, 'alice', describeResponse(ssr));
      }
    });
  });

  describe('(d) fuzz: 2,000 deterministic mutations', function () {
    let s: TestServer;
    const SEED = Number(process.env.TKE_FUZZ_SEED ?? 20240601);
    const COUNT = Number(process.env.TKE_FUZZ_COUNT ?? 2000);
    const prj = 'fuzz-prj';
    const cls = 'fuzz-cls';
    const ns = 'fuzz-ns';

    before(async function () {
      this.timeout(180_000);
      s = await startServer();
      for (const [p, body] of [
        [paths.clusters, clusterObject(cls)],
        [paths.projects, projectObject(prj, { clusters: { [cls]: { hard: { 'requests.cpu': '10' } } } })],
        [paths.namespaces(prj), namespaceObject(prj, ns, cls)],
      ] as const) {
        const res = await s.request('POST', p, { body });
        assert.ok(res.status === 201, `seed ${p}: ${describeResponse(res)}`);
      }
    });
    after(async function () {
      await s?.stop().catch(() => undefined);
    });

    interface FuzzRequest {
      method: string;
      path: string;
      headers: Record<string, string>;
      body?: Buffer;
      token: string | null | 'bad';
    }

    const weirdStrings = [
      '',
      ' ',
      'A',
      'UPPER',
      'a'.repeat(254),
      'a'.repeat(10_000),
      '..',
      '.',
      '/',
      'a/b',
      '%2F',
      'ü',
      '💥',
      '\u0000',
      '\\',
      '"',
      "'",
      '<script>',
      '${x}',
      '-',
      'a-',
      '-a',
      '1',
      '0',
      'null',
      'true',
      'default',
      'kube-system',
      '*',
      '?',
      '#',
      'a b',
      'a\nb',
    ];
    const weirdValues = (rng: Rng): unknown =>
      rng.pick<() => unknown>([
        () => null,
        () => true,
        () => false,
        () => 0,
        () => -1,
        () => 1.5,
        () => 1e308,
        () => -0,
        () => 2 ** 53 + 1,
        () => rng.pick(weirdStrings),
        () => [],
        () => {},
        () => [rng.pick(weirdStrings)],
        () => ({ [rng.pick(weirdStrings)]: rng.pick(weirdStrings) }),
        () => {
          let v: unknown = 'deep';
          for (let i = 0; i < 200; i++) v = { a: v };
          return v;
        },
        () => {
          let v: unknown = 1;
          for (let i = 0; i < 500; i++) v = [v];
          return v;
        },
        () => Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i])),
        () => ({ 'requests.cpu': rng.pick(['1', '-1', 'abc', '1e1000', '100Ti', '0.0000001', '']) }),
        () => ({ [rng.pick(['a', cls, 'b'])]: { hard: { [rng.pick(['requests.cpu', 'bad key', 'cpu'])]: rng.pick(['1', 'x', '-5']) } } }),
        () => new Date(rng.int(2 ** 40)).toISOString(),
        () => rng.pick(['2024-13-45T99:99:99Z', 'not-a-date', '0001-01-01T00:00:00Z']),
      ])();

    const metaMutations: Array<(o: any, rng: Rng) => void> = [
      (o, rng) => {
        o.metadata.name = rng.pick(weirdStrings);
      },
      (o, rng) => {
        delete o.metadata.name;
        o.metadata.generateName = rng.pick(weirdStrings);
      },
      (o, rng) => {
        o.metadata.resourceVersion = rng.pick(['abc', '-1', '0', '99999999999999999999999', '', '1']);
      },
      (o, rng) => {
        o.metadata.labels = { [rng.pick(weirdStrings)]: rng.pick(weirdStrings) };
      },
      (o, rng) => {
        o.metadata.annotations = { [rng.pick(weirdStrings)]: rng.pick(weirdStrings) };
      },
      (o, rng) => {
        o.metadata.finalizers = [rng.pick(weirdStrings), rng.pick(weirdStrings)];
      },
      (o, rng) => {
        o.metadata.ownerReferences = [{ apiVersion: rng.pick(weirdStrings), kind: 'X', name: 'y', uid: rng.pick(weirdStrings) }];
      },
      (o, rng) => {
        o.metadata.managedFields = [
          { manager: rng.pick(weirdStrings), operation: rng.pick(['Apply', 'Update', 'X']), fieldsType: 'FieldsV1', fieldsV1: weirdValues(rng) },
        ];
      },
      (o, rng) => {
        o.metadata.deletionTimestamp = weirdValues(rng);
      },
      (o, rng) => {
        o.metadata.creationTimestamp = weirdValues(rng);
      },
      (o, rng) => {
        o.metadata.uid = rng.pick(weirdStrings);
      },
      (o, rng) => {
        o.metadata.namespace = rng.pick(weirdStrings);
      },
      (o, rng) => {
        o.metadata = weirdValues(rng);
      },
      (o, rng) => {
        o.apiVersion = rng.pick(['v1', 'business.tkestack.io/v2', 'platform.tkestack.io/v1', '', 'x/y/z']);
      },
      (o, rng) => {
        o.kind = rng.pick(['Cluster', 'Project', 'Namespace', '', 'Status', 'List']);
      },
      o => {
        o.items = [JSON.parse(JSON.stringify(o))];
        o.kind = 'List';
      },
    ];

    /** Mutates a random leaf/branch of the object. */
    function mutateAnywhere(o: any, rng: Rng): void {
      let cur = o;
      for (let depth = 0; depth < 4; depth++) {
        if (cur === null || typeof cur !== 'object') break;
        const keys = Object.keys(cur);
        if (keys.length === 0) break;
        const k = rng.pick(keys);
        if (rng.chance(0.4) || cur[k] === null || typeof cur[k] !== 'object') {
          const op = rng.int(4);
          if (op === 0) delete cur[k];
          else if (op === 1) cur[k] = weirdValues(rng);
          else if (op === 2) cur[rng.pick(weirdStrings) || 'x'] = weirdValues(rng);
          else cur[k] = Array.isArray(cur[k]) ? { a: cur[k] } : [cur[k]];
          return;
        }
        cur = cur[k];
      }
    }

    function baseObject(kind: 'project' | 'cluster' | 'namespace', name: string): any {
      if (kind === 'cluster') return clusterObject(name);
      if (kind === 'namespace') return namespaceObject(prj, name, cls);
      return projectObject(name, { clusters: { [cls]: { hard: { 'requests.cpu': '1' } } } });
    }

    function generate(rng: Rng, i: number): FuzzRequest {
      const kind = rng.pick(['project', 'cluster', 'namespace'] as const);
      const name = rng.chance(0.3)
        ? { project: prj, cluster: cls, namespace: ns }[kind]
        : rng.chance(0.8)
          ? `fz-${i}`
          : encodeURIComponent(rng.pick(weirdStrings)) || 'x';
      const collection = {
        project: paths.projects,
        cluster: paths.clusters,
        namespace: paths.namespaces(rng.chance(0.8) ? prj : encodeURIComponent(rng.pick(weirdStrings)) || 'y'),
      }[kind];
      const sub = rng.pick(['', '', '', '', '/status', '/finalize', '/bogus', '/status/extra']);
      let p = rng.pick([
        collection,
        collection,
        `${collection}/${name}${sub}`,
        `${collection}/${name}${sub}`,
        `${collection}/${name}${sub}`,
        '/apis',
        '/apis/business.tkestack.io',
        '/apis/business.tkestack.io/v1',
        '/api',
        '/version',
        '/openapi/v2',
        '/openapi/v3',
        '/openapi/v3/apis/business.tkestack.io/v1',
        '/readyz?verbose',
        '/livez',
        '/metrics',
        `/apis/business.tkestack.io/v1/watch/projects/${name}`,
        `/apis/business.tkestack.io/v1/namespaces//namespaces`,
        `/apis/business.tkestack.io/v1/namespaces/${prj}/projects`,
        `/apis/platform.tkestack.io/v1/namespaces/x/clusters`,
        `/apis//v1/projects`,
        `/apis/business.tkestack.io/v1/projects/${name}/../../clusters`,
        `/${'a/'.repeat(100)}`,
        `/apis/business.tkestack.io/v1/projects/${'x'.repeat(5000)}`,
        '/apis/%ZZ',
        '/apis/business.tkestack.io/v1/projects?%',
      ]);
      const q: string[] = [];
      const qn = rng.int(4);
      for (let j = 0; j < qn; j++) {
        q.push(
          rng.pick([
            'watch=true',
            'watch=1',
            'watch=maybe',
            'limit=-1',
            'limit=abc',
            'limit=0',
            'limit=2',
            'limit=99999999999999999999',
            'continue=abc',
            'continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJ4In0',
            `resourceVersion=${rng.pick(['0', '1', 'abc', '-5', '99999999999'])}`,
            'resourceVersionMatch=Exact',
            'resourceVersionMatch=NotOlderThan',
            'resourceVersionMatch=Bogus',
            'labelSelector=a%20in%20(',
            'labelSelector=a%3Db',
            'labelSelector=!!!',
            `fieldSelector=${rng.pick(['metadata.name%3Dx', 'spec.tenantID%3D%3Dx', 'spec.bogus%3D1', 'metadata.name', '%3D%3D'])}`,
            'timeoutSeconds=-5',
            'timeoutSeconds=abc',
            'timeoutSeconds=1',
            'allowWatchBookmarks=true',
            'sendInitialEvents=true',
            'dryRun=All',
            'dryRun=Bogus',
            'fieldValidation=Strict',
            'fieldValidation=Warn',
            'fieldValidation=Bogus',
            'fieldManager=' + 'm'.repeat(200),
            'fieldManager=fz',
            'force=true',
            'force=maybe',
            'propagationPolicy=Foreground',
            'propagationPolicy=Bogus',
            'gracePeriodSeconds=-1',
            'gracePeriodSeconds=abc',
            'includeObject=Object',
            'includeObject=Bogus',
            'pretty=true',
            'orphanDependents=true',
            '%',
            '=',
            '&&',
          ]),
        );
      }
      const watching = q.some(x => /^watch=(true|1)$/.test(x));
      if (watching && !q.some(x => x.startsWith('timeoutSeconds='))) q.push('timeoutSeconds=1');
      if (q.length) p += (p.includes('?') ? '&' : '?') + q.join('&');

      const method = rng.pick(['GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'BREW']);
      const headers: Record<string, string> = {};
      if (rng.chance(0.2)) {
        headers.Accept = rng.pick([
          'application/json;as=Table;v=v1;g=meta.k8s.io',
          'application/json;as=Table;v=v1beta1;g=meta.k8s.io',
          'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io',
          'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io',
          'application/vnd.kubernetes.protobuf',
          'application/yaml',
          '*/*',
          'text/html',
          'garbage/;;;',
          '',
          'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
          'application/json;as=Table;v=v9;g=meta.k8s.io',
        ]);
      }
      let body: Buffer | undefined;
      if (method !== 'GET' && method !== 'HEAD' && (rng.chance(0.9) || method !== 'DELETE')) {
        let obj: any = baseObject(kind, name);
        const nMut = 1 + rng.int(3);
        for (let j = 0; j < nMut; j++) {
          if (obj === null || typeof obj !== 'object') break;
          if (obj.metadata === null || typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) obj.metadata = {};
          if (rng.chance(0.5)) rng.pick(metaMutations)(obj, rng);
          else mutateAnywhere(obj, rng);
        }
        let contentType = 'application/json';
        if (method === 'PATCH') {
          const pt = rng.pick(['json', 'merge', 'strategic', 'apply', 'bogus'] as const);
          contentType = {
            json: 'application/json-patch+json',
            merge: 'application/merge-patch+json',
            strategic: 'application/strategic-merge-patch+json',
            apply: 'application/apply-patch+yaml',
            bogus: 'application/json',
          }[pt];
          if (pt === 'json') {
            obj = Array.from({ length: 1 + rng.int(3) }, () => ({
              op: rng.pick(['add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus']),
              path: rng.pick([
                '/spec/displayName',
                '/metadata/name',
                '/metadata/labels/a',
                '/metadata/labels~1x',
                '/spec/members/-',
                '/spec/members/99',
                '/',
                '',
                'spec',
                '/spec/~2',
                '/status/phase',
                '/metadata/resourceVersion',
              ]),
              from: rng.pick(['/spec/displayName', '/nope', undefined]),
              value: weirdValues(rng),
            }));
          } else if (pt === 'strategic' && rng.chance(0.5)) {
            obj = {
              metadata: { finalizers: ['a'], '$deleteFromPrimitiveList/finalizers': weirdValues(rng), '$setElementOrder/finalizers': weirdValues(rng) },
              spec: { $patch: rng.pick(['replace', 'delete', 'bogus']), $retainKeys: weirdValues(rng) },
            };
          } else if (pt === 'apply' && rng.chance(0.5)) {
            body = Buffer.from(
              rng.pick(['a: [b', 'apiVersion: v1\nkind: X\n', ': : :', '---\n---\n', 'metadata: !!binary AAA', 'x: &a [*a]', '- 1\n- 2', '{}']),
            );
          }
        } else if (method === 'DELETE') {
          obj = {
            kind: 'DeleteOptions',
            apiVersion: 'v1',
            ...rng.pick([
              { propagationPolicy: 'Bogus' },
              { gracePeriodSeconds: 'x' },
              { preconditions: { uid: rng.pick(weirdStrings), resourceVersion: rng.pick(weirdStrings) } },
              { dryRun: ['All'] },
              { dryRun: 'All' },
              {},
            ]),
          };
        }
        if (!body) {
          const encoding = rng.pick(['json', 'json', 'json', 'json', 'truncated', 'yaml', 'bytes', 'empty', 'nonobject']);
          const json = JSON.stringify(obj) ?? 'null';
          if (encoding === 'truncated') body = Buffer.from(json.slice(0, rng.int(json.length)));
          else if (encoding === 'yaml') {
            body = Buffer.from(json);
            contentType = rng.pick(['application/yaml', contentType]);
          } else if (encoding === 'bytes') body = Buffer.from(Array.from({ length: rng.int(200) }, () => rng.int(256)));
          else if (encoding === 'empty') body = Buffer.alloc(0);
          else if (encoding === 'nonobject') body = Buffer.from(JSON.stringify(rng.pick([[], 1, 'x', null, true])));
          else body = Buffer.from(json);
        }
        headers['Content-Type'] = rng.chance(0.1)
          ? rng.pick(['text/plain', '', 'application/json; charset=utf-16', 'application/json;;', 'multipart/form-data'])
          : contentType;
      }
      const token = rng.chance(0.05) ? (rng.chance(0.5) ? null : 'bad') : s.token;
      return { method, path: p, headers, body, token };
    }

    /** Sends one request; resolves with the status once headers arrive (streams are cut after a moment). */
    function send(r: FuzzRequest, agent: https.Agent): Promise<{ status: number; body: string; error?: string }> {
      return new Promise(resolve => {
        let done = false;
        const finish = (v: { status: number; body: string; error?: string }) => {
          if (!done) {
            done = true;
            resolve(v);
          }
        };
        const headers: Record<string, string> = { ...r.headers };
        if (r.token === 'bad') headers.Authorization = 'Bearer bad-token';
        else if (r.token) headers.Authorization = `Bearer ${r.token}`;
        if (r.body) headers['Content-Length'] = String(r.body.length);
        let req: ReturnType<typeof https.request>;
        try {
          req = https.request(
            {
              host: '127.0.0.1',
              port: s.port,
              method: r.method,
              path: r.path,
              headers,
              ca: s.caPEM,
              checkServerIdentity: () => undefined,
              agent,
              timeout: 15_000,
            },
            res => {
              const status = res.statusCode ?? 0;
              const chunks: Buffer[] = [];
              let size = 0;
              const cut = setTimeout(() => {
                res.destroy();
                finish({ status, body: Buffer.concat(chunks).toString() });
              }, 1500);
              res.on('data', (c: Buffer) => {
                size += c.length;
                if (size < 65_536) chunks.push(c);
              });
              res.on('end', () => {
                clearTimeout(cut);
                finish({ status, body: Buffer.concat(chunks).toString() });
              });
              res.on('error', () => {
                clearTimeout(cut);
                finish({ status, body: Buffer.concat(chunks).toString() });
              });
              res.on('close', () => {
                clearTimeout(cut);
                finish({ status, body: Buffer.concat(chunks).toString() });
              });
            },
          );
        } catch (err) {
          // Node refuses some requests client-side (e.g. invalid header characters): not the server's concern.
          finish({ status: -1, body: '', error: `client refused: ${err}` });
          return;
        }
        req.on('timeout', () => {
          req.destroy(new Error('no response within 15s'));
        });
        req.on('error', err => finish({ status: 0, body: '', error: String(err) }));
        if (r.body) req.end(r.body);
        else req.end();
      });
    }

    it(`never answers 5xx or crashes (seed ${SEED})`, async function () {
      const rng = prng(SEED);
      const requests = Array.from({ length: COUNT }, (_, i) => generate(rng, i));
      let agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      const bad: string[] = [];
      const crashes: Array<{ sig: string; count: number; example: string }> = [];
      const MAX_RESTARTS = 10;
      let abortedAt = -1;
      const statusCounts = new Map<number, number>();
      const t0 = Date.now();
      // One request at a time, so a crash is attributed to exactly one request. After a crash the
      // server is restarted and the fuzz goes on, so one run reports every crasher.
      // TKE_FUZZ_SKIP: a regexp of paths to leave out while a known crasher is being fixed (debugging only).
      const skip = process.env.TKE_FUZZ_SKIP ? new RegExp(process.env.TKE_FUZZ_SKIP) : undefined;
      for (let i = 0; i < requests.length; i++) {
        const r = requests[i];
        if (skip?.test(r.path)) continue;
        const res = await send(r, agent);
        statusCounts.set(res.status, (statusCounts.get(res.status) ?? 0) + 1);
        const desc = () => `#${i} ${r.method} ${r.path.slice(0, 200)} [${r.headers['Content-Type'] ?? ''}] body=${r.body?.toString('utf8', 0, 300) ?? ''}`;
        // The one 5xx Kubernetes itself answers to a well-formed request: a read at a resourceVersion
        // from the future is 504 Timeout with cause ResourceVersionTooLarge (HEAD has no body to check).
        const tooLargeRV = res.status === 504 && (r.method === 'HEAD' || /ResourceVersionTooLarge/.test(res.body));
        if (res.status >= 500 && !tooLargeRV) bad.push(`${desc()}\n   -> ${res.status} ${res.body.slice(0, 500)}`);
        else if (res.status === 0) {
          await waitFor('the server to exit or answer', async () => !s.alive() || (await isReady(s.port)) === 200, 5_000).catch(() => undefined);
          if (!s.alive()) {
            const out = s.logs();
            const tail = out.slice(out.lastIndexOf('"msg":"serving"') + 16).trim();
            // Group crashes by the first stack frame of the fatal error.
            const sig = (tail.match(/^\s*at .*$/m)?.[0] ?? tail.slice(0, 200)).trim();
            const prev = crashes.find(c => c.sig === sig);
            if (prev) prev.count++;
            else crashes.push({ sig, count: 1, example: `${desc()}\n   -> server process died:\n${tail.slice(-1500)}` });
            if (crashes.reduce((n, c) => n + c.count, 0) >= MAX_RESTARTS) {
              abortedAt = i;
              break;
            }
            agent.destroy();
            await s.restart();
            agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
          } else {
            bad.push(`${desc()}\n   -> connection error: ${res.error}`);
          }
        }
      }
      agent.destroy();
      const summary = [...statusCounts]
        .sort((x, y) => x[0] - y[0])
        .map(([k, v]) => `${k}:${v}`)
        .join(' ');
      console.log(
        `      ${abortedAt >= 0 ? abortedAt : COUNT} requests in ${Date.now() - t0} ms; statuses: ${summary}; crashes: ${crashes.reduce((n, c) => n + c.count, 0)}; 5xx/connection errors: ${bad.length}`,
      );
      if (crashes.length || bad.length) {
        assert.fail(
          [
            abortedAt >= 0 ? `fuzz aborted at request #${abortedAt} after ${MAX_RESTARTS} crashes` : '',
            ...crashes.map(c => `CRASH x${c.count} at ${c.sig}\n  first: ${c.example}`),
            ...bad.slice(0, 25).map(b => `5xx/ERROR ${b}`),
            bad.length > 25 ? `... and ${bad.length - 25} more 5xx/errors` : '',
          ]
            .filter(Boolean)
            .join('\n\n'),
        );
      }
      assert.ok(s.alive(), 'the server died during the fuzz');
      assert.equal(await isReady(s.port), 200, 'the server is not ready after the fuzz');
      assert.deepEqual(bad.slice(0, 25), [], `${bad.length} of ${COUNT} requests got a 5xx or a connection error (statuses ${summary})`);
      // And it still works normally.
      const ok = await s.request('POST', paths.projects, { body: projectObject(uniqueName('after-fuzz')) });
      assert.equal(ok.status, 201, describeResponse(ok));
    });
  });
});
