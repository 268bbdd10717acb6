// Processes and files the tests start or make: every child (servers, background kubectl) is
// killed and every temp dir removed when the test process exits, whatever happened.
// TKE_TEST_KEEP=1 keeps the temp dirs.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const serverBin = path.join(repoRoot, 'cmd', 'tke-apiserver', 'bin.js');

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHandlerInstalled = false;

/** Registers a child to be killed when the test process exits. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  installExitHandler();
  return child;
}

function killAllNow(): void {
  for (const child of children) {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
  if (!process.env.TKE_TEST_KEEP) {
    for (const dir of tempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
    tempDirs.clear();
  }
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllNow();
      process.exit(130);
    });
  }
}

/** Kills every server and kubectl started through track() (for root after-hooks). */
export function killAllChildren(): void {
  killAllNow();
}

/** A fresh temp dir, removed when the test process exits. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  installExitHandler();
  return dir;
}

/** Writes `content` into a fresh temp file and returns its path. */
export function tempFile(name: string, content: string | Buffer): string {
  const dir = makeTempDir('tke-e2e-f-');
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr && typeof addr === 'object') {
        const port = addr.port;
        srv.close(() => resolve(port));
      } else {
        srv.close(() => reject(new Error('no port')));
      }
    });
  });
}
