// The real kubectl binary against a server: with its own HOME and cache, so runs never share
// discovery caches or pick up the developer's kubeconfig.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { track } from './process.ts';

export const kubectlBin = process.env.KUBECTL ?? '/usr/bin/kubectl';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}
export interface KubectlOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  cwd?: string;
}

/** Short description of a kubectl run for assertion messages. */
export function describeRun(args: string[], r: KubectlResult): string {
  const cut = (s: string) => (s.length > 3000 ? s.slice(0, 3000) + '…' : s);
  return `kubectl ${args.join(' ')} -> exit ${r.code}\n--- stdout\n${cut(r.stdout)}\n--- stderr\n${cut(r.stderr)}`;
}

/** A kubectl for one kubeconfig and HOME. */
export interface Kubectl {
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** kubectl that must exit 0; the assertion message carries its whole output. */
  kubectlOK(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Starts kubectl in the background (e.g. `get -w`); killed at exit. */
  spawnKubectl(args: string[], opts?: KubectlOptions): ChildProcess;
}

/** A started process's output so far, growing as it arrives: for tests that read it while it runs. */
export interface Output {
  stdout: string;
  stderr: string;
}

export function followOutput(p: ChildProcess): Output {
  const out: Output = { stdout: '', stderr: '' };
  p.stdout?.setEncoding('utf8');
  p.stderr?.setEncoding('utf8');
  p.stdout?.on('data', (d: string) => {
    out.stdout += d;
  });
  p.stderr?.on('data', (d: string) => {
    out.stderr += d;
  });
  return out;
}

/** Feeds a started kubectl its input and collects its output, killing it after opts.timeoutMs (60 s). */
export function collectKubectl(p: ChildProcess, opts: KubectlOptions = {}): Promise<KubectlResult> {
  return new Promise(resolve => {
    const out = followOutput(p);
    const limit = opts.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      out.stderr += `\n[harness] kubectl killed after ${limit}ms`;
      p.kill('SIGKILL');
    }, limit);
    p.on('error', err => {
      out.stderr += String(err);
    });
    p.on('close', code => {
      clearTimeout(timer);
      resolve({ code, stdout: out.stdout, stderr: out.stderr });
    });
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    else p.stdin!.end();
  });
}

export function kubectlFor(kubeconfig: string, home: string): Kubectl {
  const k: Kubectl = {
    kubectl(kargs, kopts = {}) {
      return collectKubectl(k.spawnKubectl(kargs, kopts), kopts);
    },

    async kubectlOK(kargs, kopts = {}) {
      const r = await k.kubectl(kargs, kopts);
      assert.equal(r.code, 0, describeRun(kargs, r));
      return r;
    },

    spawnKubectl(kargs, kopts = {}) {
      const p = spawn(kubectlBin, ['--kubeconfig', kubeconfig, ...kargs], {
        cwd: kopts.cwd ?? home,
        env: {
          ...process.env,
          HOME: home,
          KUBECACHEDIR: path.join(home, '.kube', 'cache'),
          KUBECONFIG: kubeconfig,
          KUBECTL_INTERACTIVE_DELETE: '',
          ...(kopts.env ?? {}),
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      return track(p);
    },
  };
  return k;
}
