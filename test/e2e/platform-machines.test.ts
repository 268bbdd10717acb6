// e2e: machines.platform.tkestack.io against a real OpenSSH server. The controller logs in by
// password, by key, as root, through a jump host; runs the host phases and TKE's preflight checks;
// reports a refused login, an unreachable port and an unprivileged user as Failed without leaking
// the credential; lets machines go on delete, reachable or not; and the manual's section 7.1
// §3.1-3.3 requests work as written. Every machine needs an IP no other machine has, so each
// reaches the one sshd through a TCP forwarder on an address of its own in 127.0.0.0/8.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import YAML from 'yaml';
import { clusterObject, paths, uniqueName } from '../support/fixtures.ts';
import { describeResponse, type HttpResponse } from '../support/http.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { startSSHD, type TestSSHD } from '../support/sshd.ts';
import { waitFor } from '../support/wait.ts';

const MACHINES = '/apis/platform.tkestack.io/v1/machines';
const AUTH = '/apis/auth.tkestack.io/v1';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const PREFLIGHT_CHECKS = ['IsPrivilegedUser', 'CPUArch', 'KernelVersion', 'NumCPU', 'Memory', 'PortsFree', 'HostnameUnique', 'TimeSync', 'Swap', 'IPForward'];
const HOST_PHASES = ['EnsureSysctl', 'EnsureDisableSwap', 'EnsureManifestDir', 'EnsurePreflight'];

describe('e2e: platform machines over SSH', function () {
  this.timeout(60_000);
  let s: TestServer;
  let sshd: TestSSHD;
  let sudoers: string | undefined;
  /** The forwarder of each machine address, so a test can make a machine unreachable. */
  const forwarders = new Map<string, net.Server>();

  before(async function () {
    this.timeout(180_000);
    [sshd, s] = await Promise.all([startSSHD(), startServer()]);
  });
  after(async function () {
    this.timeout(60_000);
    // The machines' cleanup undoes what the phases wrote on this host (the sysctl file).
    if (s?.alive()) {
      const left = (await s.request('GET', MACHINES)).json().items ?? [];
      await Promise.all(left.map((m: any) => deleteAndWaitGone(m.metadata.name).catch(() => undefined)));
    }
    for (const f of forwarders.values()) f.close();
    if (sudoers) rmSync(sudoers, { force: true });
    await s?.stop().catch(() => undefined);
    await sshd?.stop();
  });

  function expectStatus(res: HttpResponse, code: number, why = ''): any {
    assert.equal(res.status, code, `${why} ${describeResponse(res)}`);
    return res.body ? res.json() : undefined;
  }

  /** The sshd, reached at an address of its own (a machine's IP is unique on the platform). */
  async function sshdAlias(): Promise<{ ip: string; port: number }> {
    const ip = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
    const server = net.createServer(client => {
      const upstream = net.connect(sshd.port, sshd.host);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(0, ip, ok);
    });
    forwarders.set(ip, server);
    return { ip, port: (server.address() as net.AddressInfo).port };
  }

  async function newCluster(): Promise<string> {
    const name = uniqueName('cls');
    expectStatus(await s.request('POST', paths.clusters, { body: clusterObject(name) }), 201, 'create cluster');
    return name;
  }

  async function createMachine(spec: Record<string, unknown>, token?: string): Promise<any> {
    const res = await s.request('POST', MACHINES, {
      token,
      body: {
        apiVersion: 'platform.tkestack.io/v1',
        kind: 'Machine',
        metadata: { generateName: 'mc-' },
        spec: { tenantID: 'default', type: 'Baremetal', ...spec },
      },
    });
    return expectStatus(res, 201, 'create machine');
  }

  async function waitPhase(name: string, phase: string, timeoutMs = 30_000): Promise<any> {
    let last: any;
    try {
      return await waitFor(
        `machine ${name} to be ${phase}`,
        async () => {
          last = expectStatus(await s.request('GET', `${MACHINES}/${name}`), 200);
          return last.status?.phase === phase ? last : undefined;
        },
        timeoutMs,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast seen: ${JSON.stringify(last?.status, null, 1)}`);
    }
  }

  const condition = (m: any, type: string) => (m.status.conditions ?? []).find((c: any) => c.type === type);

  function assertHostChecked(m: any): void {
    for (const type of [...HOST_PHASES, ...PREFLIGHT_CHECKS.map(c => `Preflight/${c}`)]) {
      const c = condition(m, type);
      assert.equal(c?.status, 'True', `${type}: ${JSON.stringify(c)}`);
      assert.ok(c.lastProbeTime && c.lastTransitionTime, `${type} has its times`);
    }
    const info = m.status.machineInfo;
    assert.match(info.kernelVersion, /^\d+\.\d+/);
    assert.equal(info.operatingSystem, 'linux');
    assert.ok(['amd64', 'arm64'].includes(info.architecture), info.architecture);
    assert.ok(info.osImage && info.machineID !== '', JSON.stringify(info));
    assert.deepEqual(m.status.addresses.find((a: any) => a.type === 'InternalIP')?.address, m.spec.ip);
    assert.ok(m.status.addresses.find((a: any) => a.type === 'Hostname')?.address);
    const pending = condition(m, 'NodeProvisioning');
    assert.equal(pending?.status, 'False');
    assert.match(pending.message, /not run: EnsureCopyFiles.*EnsureKubeadm.*EnsureJoinPhaseKubeletStart/);
    assert.match(m.status.message, /not enabled/);
  }

  async function deleteAndWaitGone(name: string): Promise<void> {
    const r = await s.request('DELETE', `${MACHINES}/${name}`);
    assert.ok([200, 202].includes(r.status), describeResponse(r));
    await waitFor(`machine ${name} to be gone`, async () => (await s.request('GET', `${MACHINES}/${name}`)).status === 404, 40_000, 200);
  }

  const keyMachines: string[] = [];

  it('a user without root rights fails as NotPrivileged, and goes Running by password once it may sudo (retried with backoff)', async function () {
    this.timeout(60_000);
    const at = await sshdAlias();
    const m = await createMachine({ clusterName: await newCluster(), ...at, username: sshd.username, password: b64(sshd.password) });
    assert.match(m.metadata.name, /^mc-/);
    assert.deepEqual(m.spec.finalizers, ['machine']);
    const failed = await waitPhase(m.metadata.name, 'Failed');
    assert.equal(failed.status.reason, 'NotPrivileged', JSON.stringify(failed.status));
    assert.match(failed.status.message, /is not root and cannot run sudo without a password/);
    assert.equal(condition(failed, 'EnsureSysctl')?.status, 'False');

    sudoers = `/etc/sudoers.d/${sshd.username}`;
    writeFileSync(sudoers, `${sshd.username} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
    const running = await waitPhase(m.metadata.name, 'Running', 30_000);
    assertHostChecked(running);
    assert.match(condition(running, 'Preflight/IsPrivilegedUser').message, /passwordless sudo/);
    assert.equal(running.status.reason, undefined);
    keyMachines.push(m.metadata.name);
  });

  it('goes Running by private key, and as root by key', async () => {
    const asUser = await createMachine({ clusterName: await newCluster(), ...(await sshdAlias()), username: sshd.username, privateKey: b64(sshd.privateKey) });
    const asRoot = await createMachine({ clusterName: await newCluster(), ...(await sshdAlias()), username: 'root', privateKey: b64(sshd.privateKey) });
    assertHostChecked(await waitPhase(asUser.metadata.name, 'Running'));
    const root = await waitPhase(asRoot.metadata.name, 'Running');
    assertHostChecked(root);
    assert.match(condition(root, 'Preflight/IsPrivilegedUser').message, /is root/);
    keyMachines.push(asUser.metadata.name, asRoot.metadata.name);
  });

  it('a second machine with the same hostname in one cluster fails preflight on that check alone', async () => {
    const first = expectStatus(await s.request('GET', `${MACHINES}/${keyMachines[0]}`), 200);
    const twin = await createMachine({ clusterName: first.spec.clusterName, ...(await sshdAlias()), username: 'root', privateKey: b64(sshd.privateKey) });
    const failed = await waitPhase(twin.metadata.name, 'Failed');
    assert.equal(failed.status.reason, 'PreflightFailed');
    assert.equal(condition(failed, 'EnsurePreflight')?.status, 'False');
    assert.equal(condition(failed, 'Preflight/HostnameUnique')?.status, 'False');
    assert.match(condition(failed, 'Preflight/HostnameUnique').message, new RegExp(`already the hostname of machine ${first.metadata.name}`));
    assert.equal(condition(failed, 'Preflight/Memory')?.status, 'True', 'the other checks still pass');
    await deleteAndWaitGone(twin.metadata.name);
  });

  it('a wrong password is Failed (authentication failed) and the password is nowhere to be read', async () => {
    const wrong = `Wrong-${uniqueName('pw')}`;
    const m = await createMachine({ clusterName: await newCluster(), ...(await sshdAlias()), username: sshd.username, password: b64(wrong) });
    const failed = await waitPhase(m.metadata.name, 'Failed');
    assert.equal(failed.status.reason, 'AuthenticationFailed');
    assert.match(failed.status.message, /authentication failed/);
    const yaml = (await s.kubectlOK(['get', 'machine', m.metadata.name, '-o', 'yaml'])).stdout;
    assert.match(yaml, /authentication failed/);
    // The admin may write the machine, so (as for every secret field of this server) it reads back
    // the base64 it wrote in spec.password; a reader gets the mask (tested below). Nowhere else.
    const shown = YAML.parse(yaml);
    assert.equal(shown.spec.password, b64(wrong));
    delete shown.spec.password;
    const elsewhere = JSON.stringify(shown);
    assert.ok(!yaml.includes(wrong), 'the password in plain text is not in kubectl get -o yaml');
    assert.ok(!elsewhere.includes(wrong) && !elsewhere.includes(b64(wrong)), `the password is in kubectl get -o yaml outside spec.password: ${yaml}`);
    assert.match(s.logs(), new RegExp(`"machine":"${m.metadata.name}".*"reason":"AuthenticationFailed"`), 'the failure is logged (without the password)');
    for (const secret of [wrong, b64(wrong), sshd.password, b64(sshd.password), sshd.privateKey.split('\n')[1]!, b64(sshd.privateKey)]) {
      assert.ok(!s.logs().includes(secret), 'no password or key is in the server log');
    }
    // A refused login is not retried in a loop: the status stays as it was written.
    const before = failed.metadata.resourceVersion;
    await new Promise(r => setTimeout(r, 6_000));
    assert.equal(expectStatus(await s.request('GET', `${MACHINES}/${m.metadata.name}`), 200).metadata.resourceVersion, before);
    await deleteAndWaitGone(m.metadata.name);
  });

  it('an unreachable port is Failed with a clear reason, and its deletion is not blocked', async () => {
    const closed = net.createServer();
    await new Promise<void>(ok => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise(ok => closed.close(ok));
    const m = await createMachine({ clusterName: await newCluster(), ip: '127.0.0.1', port, username: 'root', password: b64('unused-secret') });
    const failed = await waitPhase(m.metadata.name, 'Failed');
    assert.equal(failed.status.reason, 'Unreachable');
    assert.match(failed.status.message, new RegExp(`root@127\\.0\\.0\\.1:${port}: cannot connect: .*ECONNREFUSED`));
    await deleteAndWaitGone(m.metadata.name);
  });

  it('reaches a machine through a jump host (spec.proxy)', async () => {
    const m = await createMachine({
      clusterName: await newCluster(),
      ip: '127.0.0.1',
      port: sshd.port,
      username: 'root',
      privateKey: b64(sshd.privateKey),
      proxy: { type: 'SSHJumpServer', ip: '127.0.0.1', port: sshd.port, username: sshd.username, password: b64(sshd.password) },
    });
    assertHostChecked(await waitPhase(m.metadata.name, 'Running'));
    await deleteAndWaitGone(m.metadata.name);
  });

  it('a wrong jump host password fails as the jump host refusing the login', async () => {
    const m = await createMachine({
      clusterName: await newCluster(),
      ip: '127.0.0.1',
      port: sshd.port,
      username: 'root',
      privateKey: b64(sshd.privateKey),
      proxy: { ip: '127.0.0.1', port: sshd.port, username: sshd.username, password: b64('not-the-password') },
    });
    const failed = await waitPhase(m.metadata.name, 'Failed');
    assert.equal(failed.status.reason, 'AuthenticationFailed');
    assert.match(failed.status.message, new RegExp(`${sshd.username}@127\\.0\\.0\\.1:${sshd.port}: authentication failed`));
    await deleteAndWaitGone(m.metadata.name);
  });

  it('deleting a running machine cleans it up and removes it; one no longer reachable goes too', async () => {
    const [reachable, unreachable] = [keyMachines.pop()!, keyMachines.pop()!];
    await deleteAndWaitGone(reachable);
    assert.match(s.logs(), new RegExp(`"machine":"${reachable}".*machine cleaned up`));
    const ip = expectStatus(await s.request('GET', `${MACHINES}/${unreachable}`), 200).spec.ip;
    await new Promise(ok => forwarders.get(ip)!.close(ok));
    await deleteAndWaitGone(unreachable);
    assert.match(s.logs(), new RegExp(`"machine":"${unreachable}".*ECONNREFUSED.*not cleaned up; deleting it anyway`));
  });

  it("the manual's 7.1 §3.1-3.3: POST, GET, DELETE a machine; kubectl shows IP, cluster and phase", async () => {
    const clusterName = await newCluster();
    const at = await sshdAlias();
    // §3.1 as written, its Chinese placeholders filled in (root logs in to this sshd by key only, so the user is the test user).
    const body = `
{
    "kind": "Machine",
    "apiVersion": "platform.tkestack.io/v1",
    "metadata": {
        "generateName": "mc-"
    },
    "spec": {
        "finalizers": [
            "machine"
        ],
        "tenantID": "default",
        "clusterName": "${clusterName}",
        "type": "Baremetal",
        "ip": "${at.ip}",
        "port": ${at.port},
        "username": "${sshd.username}",
        "password": "${b64(sshd.password)}"
    }
}`;
    const created = expectStatus(await s.request('POST', MACHINES, { headers: { 'Content-Type': 'application/json' }, body }), 201, '§3.1');
    assert.equal(created.kind, 'Machine');
    const name = created.metadata.name;
    assert.match(name, /^mc-/);
    // §3.2
    const got = expectStatus(await s.request('GET', `${MACHINES}/${name}`), 200, '§3.2');
    assert.equal(got.spec.clusterName, clusterName);
    assert.equal(got.spec.port, at.port);
    await waitPhase(name, 'Running');
    const table = (await s.kubectlOK(['get', 'machines'])).stdout;
    const [header, ...rows] = table.trim().split('\n');
    assert.match(header!, /^NAME\s+IP\s+CLUSTER\s+PHASE/);
    assert.ok(
      rows.some(r => new RegExp(`^${name}\\s+${at.ip.replace(/\./g, '\\.')}\\s+${clusterName}\\s+Running`).test(r)),
      table,
    );
    // §3.3
    const del = await s.request('DELETE', `${MACHINES}/${name}`);
    assert.ok([200, 202].includes(del.status), describeResponse(del));
    await waitFor(`machine ${name} to be gone`, async () => (await s.request('GET', `${MACHINES}/${name}`)).status === 404, 40_000, 200);
  });

  describe('a hostile tenant', () => {
    const PASSWORD = 'Passw0rd123';
    let mallory: string;
    let evilTenant: string;
    let reader: string;
    const readerName = uniqueName('rita');
    let victim: any;

    async function userWithKey(username: string, tenant: string): Promise<string> {
      expectStatus(
        await s.request('POST', `${AUTH}/localidentities`, {
          body: { metadata: { generateName: 'usr-' }, spec: { username, displayName: username, hashedPassword: b64(PASSWORD), tenantID: tenant } },
        }),
        201,
      );
      const key = expectStatus(
        await s.request('POST', `${AUTH}/apikeys/default/password`, {
          token: null,
          body: { tenantID: tenant, username, password: b64(PASSWORD), expire: '1h' },
        }),
        201,
        `login ${username}`,
      );
      return key.spec.apiKey;
    }

    before(async () => {
      evilTenant = uniqueName('evil').replace(/-/g, '');
      expectStatus(
        await s.request('POST', `${AUTH}/identityproviders`, {
          body: { metadata: { name: evilTenant }, spec: { name: evilTenant, type: 'local', administrators: ['mallory'], config: '' } },
        }),
        201,
      );
      mallory = await userWithKey('mallory', evilTenant);
      victim = await createMachine({ clusterName: await newCluster(), ...(await sshdAlias()), username: sshd.username, password: b64(sshd.password) });
      reader = await userWithKey(readerName, 'default');
    });

    it("cannot create a machine in another tenant's cluster, nor read or list that tenant's machines", async () => {
      for (const tenantID of [evilTenant, 'default']) {
        const r = await s.request('POST', MACHINES, {
          token: mallory,
          body: {
            metadata: { generateName: 'mc-' },
            spec: { tenantID, clusterName: victim.spec.clusterName, type: 'Baremetal', ip: '198.51.100.7', port: 22, username: 'root', password: b64('x') },
          },
        });
        assert.ok([403, 404, 422].includes(r.status), `tenant ${tenantID}: ${describeResponse(r)}`);
      }
      const list = await s.request('GET', MACHINES, { token: mallory });
      if (list.status === 200) assert.ok(!list.body.includes(victim.metadata.name), list.body);
      const get = await s.request('GET', `${MACHINES}/${victim.metadata.name}`, { token: mallory });
      assert.ok([403, 404].includes(get.status), describeResponse(get));
      assert.ok(!get.body.includes(b64(sshd.password)));
    });

    it("a reader of the machine's own tenant sees the password masked", async () => {
      const pol = expectStatus(
        await s.request('POST', `${AUTH}/policies`, {
          body: {
            metadata: { generateName: 'pol-default-' },
            spec: { tenantID: 'default', displayName: 'read', scope: 'platform', statement: { actions: ['get*', 'list*'], resources: ['*'], effect: 'allow' } },
          },
        }),
        201,
      );
      expectStatus(await s.request('POST', `${AUTH}/policies/${pol.metadata.name}/binding`, { body: { users: [{ name: readerName }] } }), 201);
      const got = await waitFor('the reader to read machines', async () => {
        const r = await s.request('GET', `${MACHINES}/${victim.metadata.name}`, { token: reader });
        return r.status === 200 ? r : undefined;
      });
      assert.equal(got.json().spec.password, '******');
      assert.ok(!got.body.includes(b64(sshd.password)), got.body);
      assert.ok(!(await s.request('GET', MACHINES, { token: reader })).body.includes(b64(sshd.password)));
    });
  });
});
