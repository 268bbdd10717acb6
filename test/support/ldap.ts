// A real OpenLDAP (Debian's slapd) for tests: a temporary slapd.conf + mdb database loaded with
// slapadd, served on a free loopback port, killed and removed by stop(). Needs the slapd and
// ldap-utils packages (.ci/run installs them).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './process.ts';
import { waitFor } from './wait.ts';

export const slapdBin = '/usr/sbin/slapd';
export const slapaddBin = '/usr/sbin/slapadd';

export interface LDAPUser {
  uid: string;
  cn: string;
  password: string;
  mail?: string;
}
export interface LDAPGroup {
  cn: string;
  members: string[];
}

export interface TestLDAP {
  host: string;
  baseDN: string;
  bindDN: string;
  bindPW: string;
  /** The manual 8.3.1 JSON config for an ldap identity provider pointing at this server. */
  config(): Record<string, unknown>;
  stop(): Promise<void>;
}

export function slapdAvailable(): boolean {
  return existsSync(slapdBin) && existsSync(slapaddBin);
}

export async function startLDAP(users: LDAPUser[], groups: LDAPGroup[]): Promise<TestLDAP> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tke-slapd-'));
  const dbDir = path.join(dir, 'db');
  mkdirSync(dbDir);
  const baseDN = 'dc=example,dc=org';
  const bindDN = `cn=admin,${baseDN}`;
  const bindPW = 'admin-secret';
  const conf = path.join(dir, 'slapd.conf');
  writeFileSync(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/nis.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      `pidfile ${path.join(dir, 'slapd.pid')}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'database mdb',
      `suffix "${baseDN}"`,
      `rootdn "${bindDN}"`,
      `rootpw ${bindPW}`,
      `directory ${dbDir}`,
      'maxsize 10485760',
      // Users may bind; only the admin reads passwords.
      'access to attrs=userPassword by self write by anonymous auth by * none',
      'access to * by * read',
      '',
    ].join('\n'),
  );
  const ldif: string[] = [
    `dn: ${baseDN}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
    `dn: ou=People,${baseDN}\nobjectClass: organizationalUnit\nou: People\n`,
    `dn: ou=Groups,${baseDN}\nobjectClass: organizationalUnit\nou: Groups\n`,
  ];
  const userDN = (uid: string) => `cn=${uid},ou=People,${baseDN}`;
  for (const u of users) {
    ldif.push(
      `dn: ${userDN(u.uid)}\nobjectClass: inetOrgPerson\ncn: ${u.uid}\nsn: ${u.cn}\ndisplayName: ${u.cn}\nmail: ${u.mail ?? `${u.uid}@example.org`}\nuserPassword: ${u.password}\n`,
    );
  }
  for (const g of groups) {
    ldif.push(`dn: cn=${g.cn},ou=Groups,${baseDN}\nobjectClass: groupOfNames\ncn: ${g.cn}\n${g.members.map(m => `member: ${userDN(m)}`).join('\n')}\n`);
  }
  const ldifFile = path.join(dir, 'data.ldif');
  writeFileSync(ldifFile, ldif.join('\n'));
  const add = spawnSync(slapaddBin, ['-f', conf, '-l', ldifFile], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`slapadd failed: ${add.stderr}`);

  const port = await freePort();
  let log = '';
  const proc: ChildProcess = spawn(slapdBin, ['-f', conf, '-h', `ldap://127.0.0.1:${port}/`, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', d => {
    log += d;
  });
  proc.stderr?.on('data', d => {
    log += d;
  });
  const kill = () => {
    try {
      proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', kill);
  await waitFor(
    `slapd on port ${port} (${log})`,
    () =>
      new Promise<boolean>(ok => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.end();
          ok(true);
        });
        c.on('error', () => ok(false));
      }),
    20_000,
    100,
  );

  return {
    host: `127.0.0.1:${port}`,
    baseDN,
    bindDN,
    bindPW,
    config: () => ({
      host: `127.0.0.1:${port}`,
      insecureNoSSL: true,
      bindDN,
      bindPW,
      usernamePrompt: 'User Name',
      userSearch: { baseDN: `ou=People,${baseDN}`, filter: '(objectClass=person)', username: 'cn', idAttr: 'DN', emailAttr: 'mail', nameAttr: 'displayName' },
      groupSearch: { baseDN: `ou=Groups,${baseDN}`, filter: '(objectClass=groupOfNames)', userAttr: 'DN', groupAttr: 'member', nameAttr: 'cn' },
    }),
    async stop() {
      process.removeListener('exit', kill);
      if (proc.exitCode === null) {
        const gone = new Promise(r => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([gone, new Promise(r => setTimeout(r, 3000))]);
        kill();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
