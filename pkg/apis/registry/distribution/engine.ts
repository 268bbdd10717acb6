// The embedded registry engine: Debian's docker-registry (distribution 2.8) as a child process,
// its storage in <data-dir>/registry/storage, listening on a loopback port only this server
// proxies to. It is started on the first registry request (a server whose registry nobody uses
// runs no engine), restarted when it dies, and stopped with its whole process group on shutdown.
// After a kill -9 of this server the engine would outlive it: the next start kills it by its
// pid file before starting a new one.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { writeFileAtomic } from '../../../server/certs.ts';

export const tokenIssuer = 'tke-apiserver';
export const tokenService = 'tke-registry';
export const notificationPath = '/registry/notification';
export const notificationSecretHeader = 'X-TKE-Registry-Notification-Secret';
/** Requests the engine makes of itself are not pulls (TKE's notification handler's rule). */
export const ownUserAgent = 'tke-registry-client';

const systemCABundle = '/etc/ssl/certs/ca-certificates.crt';
const startTimeoutMs = 20_000;
const maxRestartDelayMs = 30_000;
/** An engine that ran this long before dying is restarted at once, not after a growing delay. */
const stableRunMs = 60_000;

export interface EngineConfig {
  binary: string;
  /** <data-dir>/registry */
  dir: string;
  tokenCertFile: string;
  notificationSecret: string;
  /** Where the engine posts its events: this server's URL plus notificationPath. */
  notificationURL(): string;
  /** Certificates the engine trusts when it posts (this server's CA). */
  trustedCAPEM: string;
  logger: Logger;
}

/** The engine's configuration (distribution's config.yml). */
export function engineConfigYAML(c: {
  port: number;
  dir: string;
  tokenCertFile: string;
  notificationURL: string;
  notificationSecret: string;
  httpSecret: string;
  realm: string;
}): string {
  return YAML.stringify({
    version: 0.1,
    log: { level: 'warn', formatter: 'text', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: join(c.dir, 'storage') },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: {
      addr: `127.0.0.1:${c.port}`,
      // Locations as paths, so the proxy can hand them to clients under its own address.
      relativeurls: true,
      secret: c.httpSecret,
      draintimeout: '10s',
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
    auth: { token: { realm: c.realm, service: tokenService, issuer: tokenIssuer, rootcertbundle: c.tokenCertFile } },
    notifications: {
      endpoints: [
        {
          name: 'tke-apiserver',
          url: c.notificationURL,
          headers: { [notificationSecretHeader]: [c.notificationSecret] },
          timeout: '5s',
          threshold: 5,
          backoff: '1s',
          ignoredmediatypes: ['application/octet-stream'],
        },
      ],
    },
    health: { storagedriver: { enabled: false } },
  });
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The engine this data dir's pid file names, if that process is still a docker-registry of this data dir. */
function leftoverEngine(pidFile: string, configFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1 || !processAlive(pid)) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(configFile) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

/** Where the running engine's base URL is kept, for the workers that do not run it. */
export function engineAddressFile(dir: string): string {
  return join(dir, 'engine.url');
}

/** Kills the engine a previous server process on this data dir left running (it was killed with -9). */
export function stopLeftoverEngine(dir: string, logger: Logger): void {
  rmSync(engineAddressFile(dir), { force: true });
  const leftover = leftoverEngine(join(dir, 'engine.pid'), join(dir, 'config.yml'));
  if (!leftover) return;
  logger.warn({ pid: leftover }, 'stopping a registry engine left running by a previous server process');
  killGroup(leftover, 'SIGKILL');
}

export class EmbeddedEngine {
  private child: ChildProcess | undefined;
  private port = 0;
  private starting: Promise<void> | undefined;
  private stopped = false;
  private restartDelayMs = 500;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly killOnExit = () => {
    if (this.child?.pid) killGroup(this.child.pid, 'SIGKILL');
  };

  constructor(private readonly config: EngineConfig) {}

  static available(binary: string): boolean {
    return existsSync(binary);
  }

  /** The engine's base URL once it answers; starts it on first call. */
  async url(): Promise<string> {
    if (this.stopped) throw new Error('the registry engine is stopped (the server is shutting down)');
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      this.starting ??= this.start().finally(() => {
        this.starting = undefined;
      });
    }
    if (this.starting) await this.starting;
    return `http://127.0.0.1:${this.port}`;
  }

  /** The pid of the running engine (tests check it is gone after shutdown). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private get pidFile(): string {
    return join(this.config.dir, 'engine.pid');
  }
  private get configFile(): string {
    return join(this.config.dir, 'config.yml');
  }

  private async start(): Promise<void> {
    const { dir, logger } = this.config;
    await mkdir(join(dir, 'storage'), { recursive: true, mode: 0o700 });
    stopLeftoverEngine(dir, logger);
    this.port = await freeLoopbackPort();
    // Upload state is signed with this secret: kept across restarts so uploads in progress survive one.
    const httpSecretFile = join(dir, 'http.secret');
    if (!existsSync(httpSecretFile)) await writeFileAtomic(httpSecretFile, randomBytes(32).toString('hex'), 0o600);
    const caBundle = join(dir, 'trusted-ca.pem');
    const system = existsSync(systemCABundle) ? await readFile(systemCABundle, 'utf8') : '';
    await writeFile(caBundle, `${this.config.trustedCAPEM.trim()}\n${system}`, { mode: 0o644 });
    const notificationURL = this.config.notificationURL();
    await writeFile(
      this.configFile,
      engineConfigYAML({
        port: this.port,
        dir,
        tokenCertFile: this.config.tokenCertFile,
        notificationURL,
        notificationSecret: this.config.notificationSecret,
        httpSecret: (await readFile(httpSecretFile, 'utf8')).trim(),
        realm: `${new URL(notificationURL).origin}/registry/auth`,
      }),
      { mode: 0o600 },
    );

    const child = spawn(this.config.binary, ['serve', this.configFile], {
      // Its own process group, so that stopping it stops whatever it starts too.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Go reads the roots it trusts (for posting notifications to this server) from SSL_CERT_FILE.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SSL_CERT_FILE: caBundle, OTEL_TRACES_EXPORTER: 'none' },
    });
    this.child = child;
    process.once('exit', this.killOnExit);
    const startedAt = Date.now();
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        for (const line of d.split('\n')) if (line.trim()) logger.debug({ engine: line.slice(0, 2000) }, 'registry engine');
      });
    }
    const spawned = new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', fail);
    });
    child.once('exit', (code, signal) => {
      process.off('exit', this.killOnExit);
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      logger.warn({ code, signal }, 'the registry engine exited; restarting it');
      if (Date.now() - startedAt > stableRunMs) this.restartDelayMs = 500;
      const delay = this.restartDelayMs;
      this.restartDelayMs = Math.min(this.restartDelayMs * 2, maxRestartDelayMs);
      this.restartTimer = setTimeout(() => {
        void this.url().catch(err => logger.error({ err }, 'the registry engine did not restart'));
      }, delay);
      this.restartTimer.unref();
    });
    await spawned;
    await writeFile(this.pidFile, String(child.pid));
    await this.waitAnswering(child);
    // Other workers of this server (--workers) proxy to the address written here.
    await writeFileAtomic(engineAddressFile(dir), `http://127.0.0.1:${this.port}`, 0o600);
    logger.info({ pid: child.pid, port: this.port }, 'registry engine started');
  }

  private async waitAnswering(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the registry engine exited at start (code ${child.exitCode}, signal ${child.signalCode})`);
      const status = await new Promise<number>(ok => {
        const req = http.get({ host: '127.0.0.1', port: this.port, path: '/v2/', timeout: 1000 }, res => {
          res.resume();
          ok(res.statusCode ?? 0);
        });
        req.on('error', () => ok(0));
        req.on('timeout', () => {
          req.destroy();
          ok(0);
        });
      });
      if (status === 401 || status === 200) return;
      if (Date.now() > deadline) {
        killGroup(child.pid!, 'SIGKILL');
        throw new Error(`the registry engine did not answer within ${startTimeoutMs / 1000}s`);
      }
      await new Promise(r => setTimeout(r, 100));
    }
  }

  /**
   * Stops the engine: SIGTERM to its group (it finishes requests in flight within its drain
   * timeout), SIGKILL if it is still there after that; and SIGKILL when this process exits first.
   */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child?.pid) return;
    killGroup(child.pid, 'SIGTERM');
    const force = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 12_000);
    force.unref();
    child.once('exit', () => {
      clearTimeout(force);
      void rm(this.pidFile, { force: true });
      void rm(engineAddressFile(this.config.dir), { force: true });
    });
  }
}
