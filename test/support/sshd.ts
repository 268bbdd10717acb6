// A real OpenSSH server (Debian's openssh-server) for tests: its own config, host key and pid
// file in a temp dir, listening on a free loopback port, with a throwaway local user that logs in
// by password or by key, and root by the same key (what a privileged preflight check needs; the
// key lives in the temp dir, not in /root/.ssh). stop() kills sshd and removes the user. Needs
// root (it creates a user) and the openssh-server package (.ci/run installs it).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './process.ts';
import { waitFor } from './wait.ts';

export const sshdBin = '/usr/sbin/sshd';

export interface TestSSHD {
  host: string;
  port: number;
  username: string;
  password: string;
  /** An OpenSSH private key (PEM) authorized for the user and for root. */
  privateKey: string;
  stop(): Promise<void>;
}

export function sshdAvailable(): boolean {
  return existsSync(sshdBin) && process.getuid?.() === 0;
}

export async function startSSHD(): Promise<TestSSHD> {
  if (!existsSync(sshdBin)) throw new Error('sshd is not installed: apt-get install -y openssh-server');
  if (process.getuid?.() !== 0) throw new Error('the sshd tests create a local user and need root');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tke-sshd-'));
  const username = `tkessh${randomBytes(3).toString('hex')}`;
  const password = `Pw-${randomBytes(9).toString('base64url')}`;
  const port = await freePort();
  let child: ChildProcess | undefined;
  let userMade = false;
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise(r => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    if (userMade) {
      try {
        execFileSync('userdel', ['-r', username], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    execFileSync('useradd', ['-m', '-s', '/bin/bash', username], { stdio: 'pipe' });
    userMade = true;
    execFileSync('chpasswd', [], { input: `${username}:${password}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'user_key')]);
    // sshd reads a user's authorized keys as that user: the directory must be readable to it.
    chmodSync(dir, 0o755);
    const keys = path.join(dir, 'authorized_keys');
    mkdirSync(keys, { mode: 0o755 });
    for (const user of [username, 'root']) writeFileSync(path.join(keys, user), readFileSync(path.join(dir, 'user_key.pub')), { mode: 0o644 });
    // sshd's privilege separation needs this directory; a container may not have it.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const conf = path.join(dir, 'sshd_config');
    writeFileSync(
      conf,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(dir, 'host_key')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        // Passwords are checked against /etc/shadow directly: no PAM stack to depend on.
        'UsePAM no',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys', '%u')}`,
        'PermitRootLogin prohibit-password',
        `AllowUsers ${username} root`,
        'StrictModes no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    child = spawn(sshdBin, ['-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', d => {
      log = (log + d).slice(-4000);
    });
    await waitFor(
      `sshd on 127.0.0.1:${port}`,
      () => {
        if (child!.exitCode !== null) throw new Error(`sshd exited: ${log}`);
        return new Promise<boolean>(resolve => {
          const s = net.connect(port, '127.0.0.1');
          s.once('data', () => {
            s.destroy();
            resolve(true);
          });
          s.once('error', () => resolve(false));
        });
      },
      15_000,
      100,
    );
    return { host: '127.0.0.1', port, username, password, privateKey: readFileSync(path.join(dir, 'user_key'), 'utf8'), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
