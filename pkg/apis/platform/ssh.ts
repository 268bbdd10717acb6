// SSH to a machine with ssh2: by password or private key (with its passphrase), through a jump
// host when the machine names one, with timeouts on connecting and on every command. What is run
// and what fails is reported without the credentials.
import { Client, type ConnectConfig } from 'ssh2';

export interface SSHTarget {
  host: string;
  port: number;
  username: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
  /** The jump host the machine is reached through (TKE's SSHJumpServer proxy). */
  proxy?: SSHTarget;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Why a session could not be opened, in words that name the machine and never a credential. */
export class SSHError extends Error {
  constructor(
    message: string,
    readonly reason: 'Unreachable' | 'AuthenticationFailed' | 'InvalidKey' | 'Timeout' | 'CommandFailed',
  ) {
    super(message);
  }
}

const maxOutput = 1024 * 1024;

function connectConfig(t: SSHTarget, timeoutMs: number): ConnectConfig {
  return {
    host: t.host,
    port: t.port,
    username: t.username,
    password: t.password,
    privateKey: t.privateKey,
    passphrase: t.passphrase,
    readyTimeout: timeoutMs,
    // TKE provisions machines it is told about by address and credential; there is no known_hosts
    // to check the host key against (as TKE's ssh package, it accepts the key it is shown).
    hostVerifier: () => true,
  };
}

function describeFailure(t: SSHTarget, err: Error & { level?: string }): SSHError {
  const where = `${t.username}@${t.host}:${t.port}`;
  if (err.level === 'client-authentication') return new SSHError(`ssh ${where}: authentication failed (wrong password or key)`, 'AuthenticationFailed');
  if (/timed out/i.test(err.message)) return new SSHError(`ssh ${where}: timed out connecting`, 'Timeout');
  return new SSHError(`ssh ${where}: cannot connect: ${err.message}`, 'Unreachable');
}

export class SSHSession {
  private constructor(
    private readonly client: Client,
    private readonly hops: Client[],
    readonly target: SSHTarget,
  ) {}

  /** Opens a session, through the proxy when there is one. */
  static async open(target: SSHTarget, timeoutMs = 15_000): Promise<SSHSession> {
    const hops: Client[] = [];
    try {
      let sock: NodeJS.ReadableStream | undefined;
      if (target.proxy) {
        const jump = await connect({ ...connectConfig(target.proxy, timeoutMs) }, target.proxy);
        hops.push(jump);
        sock = await new Promise((ok, fail) =>
          jump.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => (err ? fail(describeFailure(target, err)) : ok(stream))),
        );
      }
      const client = await connect({ ...connectConfig(target, timeoutMs), ...(sock ? { sock: sock as ConnectConfig['sock'] } : {}) }, target);
      return new SSHSession(client, hops, target);
    } catch (err) {
      for (const h of hops) h.end();
      throw err;
    }
  }

  /** Runs `command` (through `sh -c` on the machine); a non-zero exit is a result, not an error. */
  exec(command: string, timeoutMs = 60_000): Promise<ExecResult> {
    return new Promise((ok, fail) => {
      const timer = setTimeout(
        () => fail(new SSHError(`ssh ${this.target.host}: "${firstWord(command)}" timed out after ${timeoutMs} ms`, 'Timeout')),
        timeoutMs,
      );
      this.client.exec(command, (err, stream) => {
        if (err) {
          clearTimeout(timer);
          fail(new SSHError(`ssh ${this.target.host}: cannot run "${firstWord(command)}": ${err.message}`, 'CommandFailed'));
          return;
        }
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => {
          if (stdout.length < maxOutput) stdout += d.toString('utf8');
        });
        stream.stderr.on('data', (d: Buffer) => {
          if (stderr.length < maxOutput) stderr += d.toString('utf8');
        });
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          ok({ code: code ?? -1, stdout, stderr });
        });
      });
    });
  }

  close(): void {
    this.client.end();
    for (const h of this.hops) h.end();
  }
}

function connect(config: ConnectConfig, target: SSHTarget): Promise<Client> {
  return new Promise((ok, fail) => {
    const c = new Client();
    c.once('ready', () => ok(c));
    // A listener stays for the life of the client: an 'error' after 'ready' (a reset connection)
    // would otherwise be unhandled and end the server. Once settled, later errors end the session.
    c.on('error', (err: Error & { level?: string }) => fail(describeFailure(target, err)));
    try {
      c.connect(config);
    } catch (err) {
      // ssh2 parses the key synchronously; its message names the problem, never the key itself.
      fail(new SSHError(`ssh ${target.username}@${target.host}:${target.port}: the private key cannot be used: ${(err as Error).message}`, 'InvalidKey'));
    }
  });
}

function firstWord(command: string): string {
  return command.trim().split(/\s+/)[0] ?? '';
}
