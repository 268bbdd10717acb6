// The machine controller, as TKE's machine controller with its baremetal provider: it logs in to
// the machine over SSH (password or key, through a jump host when there is one) and runs the
// ordered phases of machinephases.ts, resuming at the first phase whose condition is not True.
// Progress is written after every phase. A machine goes Running once every phase this server runs
// has passed; a failed login or phase makes it Failed with a reason and a message that never carry
// a credential. Unreachable machines and failed phases are tried again with backoff; a refused
// login is not (it cannot succeed until someone changes the machine's spec). On delete it cleans
// up over SSH within a bounded time, then removes the `machine` finalizer, reachable or not.
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { PlatformFinalizer } from '../../../api/platform/v1/cluster.ts';
import { MachinePhase, type MachineCondition } from '../../../api/platform/v1/machine.ts';
import { eventsAbout } from '../../controller/events.ts';
import type { Controller } from '../../controller/informer.ts';
import { timestamp } from '../../rest/metadata.ts';
import type { GroupContext } from '../../server/group.ts';
import { controllerContext, InformerController, removeSpecFinalizer, selfKey, writeStatus } from '../business/controllers/reconcile.ts';
import { specFinalizers } from '../tke/finalizers.ts';
import { withCondition } from '../tke/kinds.ts';
import { cleanupScript, machinePhases, PhaseFailure, type PhaseContext, type PhaseOutcome, type ProvisioningOptions } from './machinephases.ts';
import { platformGroupName as group } from './names.ts';
import { SSHError, SSHSession, type SSHTarget } from './ssh.ts';
import { asMachine, readCluster, type StoredCluster, type StoredMachine } from './stored.ts';

const loginTimeoutMs = 15_000;
/** Deleting never waits on a machine longer than this. */
const cleanupTimeoutMs = 15_000;
const firstRetryMs = 5_000;
const maxRetryMs = 5 * 60_000;
/** The condition that says which phases this server left for node provisioning. */
export const provisioningCondition = 'NodeProvisioning';
export const preflightCheckCondition = (check: string) => `Preflight/${check}`;

type Conditions = MachineCondition[];
type Status = NonNullable<StoredMachine['status']>;

const decode = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined);

/** Where and how to log in, with the credentials decoded from their base64 (TKE's []byte). */
export function sshTargetOf(machine: StoredMachine): SSHTarget {
  const spec = machine.spec ?? {};
  const { proxy } = spec;
  return {
    host: spec.ip ?? '',
    port: spec.port ?? 22,
    username: spec.username || 'root',
    password: decode(spec.password),
    privateKey: decode(spec.privateKey),
    passphrase: decode(spec.passPhrase),
    proxy: proxy && {
      host: proxy.ip ?? '',
      port: proxy.port ?? 22,
      username: proxy.username || 'root',
      password: decode(proxy.password),
      privateKey: decode(proxy.privateKey),
      passphrase: decode(proxy.passPhrase),
    },
  };
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** What makes a machine worth reconciling: what it asks for, not the status this controller writes. */
const reconcileInput = (m: KubeObject) => [m.spec, m.metadata.deletionTimestamp];

export function machineController(ctx: GroupContext, provisioning: ProvisioningOptions = { enabled: false }): Controller {
  const machines = ctx.store(group, 'machines');
  const log = ctx.logger.child({ controller: 'machines.platform.tkestack.io' });
  const recordEvent = eventsAbout(ctx.eventRecorder, { apiVersion: `${group}/v1`, kind: 'Machine' }, 'machine-controller');
  const phases = machinePhases.filter(p => provisioning.enabled || !p.provisioning);
  const pendingElsewhere = machinePhases.filter(p => !phases.includes(p)).map(p => p.name);
  const retries = new Map<string, { timer?: NodeJS.Timeout; attempts: number }>();
  let cache: Map<string, KubeObject>;

  const controller: InformerController = new InformerController(
    `machines.${group}`,
    ctx.storage,
    async key => {
      clearTimeout(retries.get(key)?.timer);
      const cached = cache.get(key);
      if (!cached) {
        retries.delete(key);
        return;
      }
      const machine = asMachine(cached);
      if (machine.metadata.deletionTimestamp) {
        retries.delete(key);
        return finalize(machine);
      }
      const retry = await run(machine);
      if (!retry) {
        retries.delete(key);
        return;
      }
      const attempts = (retries.get(key)?.attempts ?? 0) + 1;
      const delay = Math.min(maxRetryMs, firstRetryMs * 2 ** (attempts - 1));
      retries.set(key, { attempts, timer: setTimeout(() => controller.enqueue(key), delay).unref() });
    },
    { logger: ctx.logger },
  );
  cache = controller.watch({ group, resource: 'machines' }, (m, old) =>
    !old || !isDeepStrictEqual(reconcileInput(m), reconcileInput(old)) ? [selfKey(m)] : [],
  ).cache;

  /** Writes the status and returns the machine as it now is (spec as cached: unmasked). */
  async function save(machine: StoredMachine, status: Status): Promise<StoredMachine> {
    if (isDeepStrictEqual(machine.status ?? {}, status)) return machine;
    const { object } = await machines.update(
      controllerContext('', 'status'),
      machine.metadata.name!,
      { metadata: { name: machine.metadata.name, resourceVersion: machine.metadata.resourceVersion }, status },
      {},
    );
    const saved = asMachine(object);
    return { ...machine, metadata: saved.metadata, status: saved.status };
  }

  /** Runs the phases not yet passed; says whether to try again later. */
  async function run(machine: StoredMachine): Promise<boolean> {
    const name = machine.metadata.name!;
    const conditionOf = (type: string) => machine.status?.conditions?.find(c => c.type === type);
    const start = phases.findIndex(p => conditionOf(p.name)?.status !== 'True');
    let status: Status = { ...(machine.status ?? {}) };
    let conditions: Conditions = [...(status.conditions ?? [])];
    if (start === -1) {
      await writeStatus(machines, machine, runningStatus(status, conditions, timestamp()));
      return false;
    }
    const fail = async (phase: string, reason: string, message: string, outcome?: PhaseOutcome) => {
      const now = timestamp();
      conditions = withCondition(conditions, { type: phase, status: 'False', reason, message }, now);
      conditions = recordChecks(conditions, outcome, now);
      if (machine.status?.phase !== MachinePhase.Failed || machine.status?.reason !== reason)
        log.warn({ machine: name, phase, reason, message }, 'machine phase failed');
      // Login refused, a preflight check failed, the cluster gone: each retry counts on one Event.
      recordEvent(machine, 'Warning', reason, `${phase} failed: ${message}`);
      machine = await save(machine, withOutcome({ ...status, phase: MachinePhase.Failed, reason, message, conditions }, outcome));
    };

    const clusterName = machine.spec?.clusterName ?? '';
    const cluster = await readCluster(ctx.storage, clusterName);
    if (!cluster) {
      await fail(phases[start]!.name, 'ClusterNotFound', `cluster ${clusterName} does not exist`);
      return true;
    }
    let session: SSHSession;
    try {
      session = await SSHSession.open(sshTargetOf(machine), loginTimeoutMs);
    } catch (err) {
      if (!(err instanceof SSHError)) throw err;
      const refused = err.reason === 'AuthenticationFailed' || err.reason === 'InvalidKey';
      await fail(phases[start]!.name, err.reason, err.message);
      return !refused;
    }
    try {
      const pc = phaseContext(session, machine, cluster);
      for (const phase of phases.slice(start)) {
        let outcome: PhaseOutcome;
        try {
          outcome = await phase.run(pc);
        } catch (err) {
          if (err instanceof PhaseFailure) {
            await fail(phase.name, err.reason, err.message, err.outcome);
            return true;
          }
          if (err instanceof SSHError) {
            await fail(phase.name, err.reason, err.message);
            return true;
          }
          throw err;
        }
        const now = timestamp();
        conditions = withCondition(conditions, { type: phase.name, status: 'True', reason: 'Succeeded', message: outcome.message ?? '' }, now);
        conditions = recordChecks(conditions, outcome, now);
        status = withOutcome({ ...status, phase: MachinePhase.Initializing, conditions }, outcome);
        delete status.reason;
        delete status.message;
        log.info({ machine: name, phase: phase.name }, 'machine phase done');
        machine = await save(machine, status);
      }
    } finally {
      session.close();
    }
    const running = runningStatus(status, conditions, timestamp());
    if (machine.status?.phase !== MachinePhase.Running) {
      log.info({ machine: name }, 'machine is running');
      recordEvent(machine, 'Normal', 'Running', `the machine passed ${phases.map(p => p.name).join(', ')}`);
    }
    await save(machine, running);
    return false;
  }

  function runningStatus(status: Status, conditions: Conditions, now: string): Status {
    const next: Status = { ...status, phase: MachinePhase.Running };
    delete next.reason;
    if (pendingElsewhere.length) {
      const message = `node provisioning is not enabled on this server; not run: ${pendingElsewhere.join(', ')}`;
      next.message = `host prepared and checked (${phases.map(p => p.name).join(', ')}); ${message}`;
      next.conditions = withCondition(conditions, { type: provisioningCondition, status: 'False', reason: 'ProvisioningDisabled', message }, now);
      // An unchanged pending list is not news: keep the probe time so that nothing is rewritten.
      const old = conditions.find(c => c.type === provisioningCondition);
      if (old?.message === message) next.conditions = conditions;
    } else {
      delete next.message;
      next.conditions = conditions;
    }
    return next;
  }

  function phaseContext(session: SSHSession, machine: StoredMachine, cluster: StoredCluster): PhaseContext {
    let asRoot: Promise<(script: string) => string> | undefined;
    const user = session.target.username;
    // Whether to go through sudo is learned once per session: root runs scripts as they are.
    const howToRunAsRoot = async () => {
      const probe = await session.exec('[ "$(id -u)" = 0 ] && echo root || { sudo -n true >/dev/null 2>&1 && echo sudo; } || echo none', 20_000);
      const how = probe.stdout.trim();
      if (how === 'root') return (script: string) => `sh -c ${quote(script)}`;
      if (how === 'sudo') return (script: string) => `sudo -n sh -c ${quote(script)}`;
      throw new PhaseFailure('NotPrivileged', `${user} is not root and cannot run sudo without a password: TKE needs root on the machine`);
    };
    const clusterName = machine.spec?.clusterName;
    return {
      session,
      machine,
      cluster,
      provisioning,
      peers: [...cache.values()]
        .map(asMachine)
        .filter(m => m.metadata.name !== machine.metadata.name && m.spec?.clusterName === clusterName && !m.metadata.deletionTimestamp),
      now: () => Date.now(),
      async privileged(script, timeoutMs) {
        asRoot ??= howToRunAsRoot();
        return session.exec((await asRoot)(script), timeoutMs);
      },
    };
  }

  async function finalize(machine: StoredMachine): Promise<void> {
    const name = machine.metadata.name!;
    if (!(specFinalizers.get(machine) ?? []).includes(PlatformFinalizer.Machine)) return;
    if (machine.status?.phase !== MachinePhase.Terminating) {
      machine = await save(machine, { ...(machine.status ?? {}), phase: MachinePhase.Terminating, reason: 'Deleting', message: 'cleaning up the machine' });
    }
    const conditions = machine.status?.conditions ?? [];
    const touched = conditions.some(c => c.status === 'True' && phases.some(p => p.name === c.type) && c.type !== 'EnsurePreflight');
    if (touched) {
      const provisioned = conditions.some(c => c.status === 'True' && machinePhases.find(p => p.name === c.type)?.provisioning);
      try {
        await cleanUp(machine, provisioned);
        log.info({ machine: name }, 'machine cleaned up');
      } catch (err) {
        // An unreachable or refusing machine must not keep its object forever: it goes anyway.
        log.warn({ machine: name, message: err instanceof Error ? err.message : String(err) }, 'machine not cleaned up; deleting it anyway');
      }
    }
    await removeSpecFinalizer(machines, machine, PlatformFinalizer.Machine);
  }

  async function cleanUp(machine: StoredMachine, provisioned: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let session: SSHSession | undefined;
    let abandoned = false;
    const work = (async () => {
      const opened = await SSHSession.open(sshTargetOf(machine), cleanupTimeoutMs);
      if (abandoned) {
        opened.close();
        return;
      }
      session = opened;
      const r = await opened.exec(
        `[ "$(id -u)" = 0 ] && sh -c ${quote(cleanupScript(provisioned))} || sudo -n sh -c ${quote(cleanupScript(provisioned))}`,
        cleanupTimeoutMs,
      );
      if (r.code !== 0) throw new Error(`cleanup exited ${r.code}`);
    })();
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`no cleanup within ${cleanupTimeoutMs / 1000}s`)), cleanupTimeoutMs);
    });
    try {
      await Promise.race([work, timeout]);
    } finally {
      abandoned = true;
      clearTimeout(timer);
      session?.close();
      work.catch(() => undefined);
    }
  }

  return controller;
}

/** Each preflight check as its own condition `Preflight/<check>`. */
function recordChecks(conditions: Conditions, outcome: PhaseOutcome | undefined, now: string): Conditions {
  for (const c of outcome?.checks ?? []) {
    conditions = withCondition(
      conditions,
      { type: preflightCheckCondition(c.name), status: c.ok ? 'True' : 'False', reason: c.ok ? 'Passed' : 'CheckFailed', message: c.message },
      now,
    );
  }
  return conditions;
}

function withOutcome(status: Status, outcome: PhaseOutcome | undefined): Status {
  return {
    ...status,
    ...(outcome?.machineInfo ? { machineInfo: outcome.machineInfo } : {}),
    ...(outcome?.addresses ? { addresses: outcome.addresses } : {}),
  };
}
