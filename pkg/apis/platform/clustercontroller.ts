// The cluster controller, as TKE's for imported clusters: it probes each member's kube-apiserver
// through the cluster's credential (GET /version with @kubernetes/client-node), records the
// version, vendor and a HealthCheck condition, and moves the phase Initializing -> Running,
// Running -> Failed when the member cannot be reached or refuses the credential, and back when it
// answers again. The first successful probe marks the member with TKE's kube-system/tke ConfigMap
// (a member already marked by another cluster is refused, so one cluster is not imported twice).
// Probes repeat every --cluster-health-check-period, moved at random by up to a fifth of it, with
// at most `workers` probes at once. On delete (the `cluster` spec finalizer) it removes the mark,
// the cluster's machines and its credential, then lets the cluster go.
import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, VersionApi, type KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { ClusterPhase, KubeVendor, PlatformFinalizer } from '../../../api/platform/v1/cluster.ts';
import { eventsAbout } from '../../controller/events.ts';
import type { Controller } from '../../controller/informer.ts';
import { timestamp } from '../../rest/store.ts';
import type { GroupContext } from '../../server/group.ts';
import { CacheIndex, controllerContext, deleteIgnoringNotFound, InformerController, removeSpecFinalizer, selfKey, writeStatus } from '../business/controllers/reconcile.ts';
import { specString, withPhase } from '../tke/kinds.ts';
import { ClusterType, credentialRefOf } from './cluster.ts';
import { kubeConfigFor, memberConnection } from './member.ts';
import { platformGroupName as group } from './names.ts';

export const markNamespace = 'kube-system';
export const markName = 'tke';
/** On the mark: which TKE cluster made it, so that only that cluster's deletion removes it. */
export const markClusterUIDAnnotation = 'platform.tkestack.io/cluster-uid';

const healthCheck = 'HealthCheck';
const probeTimeoutMs = 10_000;

class ProbeFailure extends Error {
  constructor(readonly reason: string, message: string) { super(message); }
}

/** TKE's GetKubeVendor: the vendor as the member's gitVersion tells it. */
export function kubeVendorOf(gitVersion: string): string {
  const v = gitVersion.toLowerCase();
  if (v.includes('eks')) return KubeVendor.EKS;
  if (v.includes('gke')) return KubeVendor.GKE;
  if (v.includes('tke')) return KubeVendor.TKE;
  if (v.includes('iks')) return KubeVendor.IKS;
  if (v.includes('icp')) return KubeVendor.ICP;
  return KubeVendor.Other;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new ProbeFailure('Timeout', `${what}: no answer within ${probeTimeoutMs / 1000}s`)), probeTimeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The member's answer in words for status.message: its HTTP code, or why no connection was made. */
function describeProbeError(err: unknown): ProbeFailure {
  if (err instanceof ProbeFailure) return err;
  const e = err as { code?: unknown; body?: unknown; message?: string; cause?: { code?: string; message?: string } };
  if (typeof e.code === 'number') {
    const reason = e.code === 401 ? 'Unauthorized' : e.code === 403 ? 'Forbidden' : 'HealthCheckFail';
    let detail = '';
    try { detail = JSON.parse(String(e.body)).message ?? ''; } catch { detail = ''; }
    return new ProbeFailure(reason, `the cluster answered ${e.code}${detail ? `: ${detail}` : ''}`);
  }
  const cause = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
  return new ProbeFailure('Unreachable', `cannot reach the cluster's kube-apiserver: ${cause}`);
}

const isNotFound = (err: unknown) => (err as { code?: unknown }).code === 404;

/**
 * What makes a cluster worth reconciling now: not the status the controller writes itself, except
 * the move to Terminating, after which the finalizer is removed.
 */
function reconcileInput(c: KubeObject): unknown {
  return [c.spec, c.metadata.deletionTimestamp, c.status?.addresses, c.status?.phase === ClusterPhase.Terminating];
}

export function clusterController(ctx: GroupContext): Controller {
  const clusters = ctx.store(group, 'clusters');
  const credentials = ctx.store(group, 'clustercredentials');
  const machines = ctx.store(group, 'machines');
  const periodMs = ctx.clusterHealthCheckPeriodSeconds * 1000;
  const timers = new Map<string, NodeJS.Timeout>();
  const byCredential = new CacheIndex(c => credentialRefOf(c));
  let clusterCache: Map<string, KubeObject>;
  const log = ctx.logger.child({ controller: 'clusters.platform.tkestack.io' });
  const recordEvent = eventsAbout(ctx.eventRecorder, { apiVersion: `${group}/v1`, kind: 'Cluster' }, 'cluster-controller');

  const controller: InformerController = new InformerController(`clusters.${group}`, ctx.storage, async (key) => {
    clearTimeout(timers.get(key));
    timers.delete(key);
    const cluster = clusterCache.get(key);
    if (!cluster) return;
    if (cluster.metadata.deletionTimestamp) return finalize(cluster);
    if (specString(cluster, 'type') !== ClusterType.Imported) return;
    try {
      await probe(cluster);
    } finally {
      const jitter = 0.8 + Math.random() * 0.4;
      timers.set(key, setTimeout(() => controller.enqueue(key), periodMs * jitter).unref());
    }
  }, { logger: ctx.logger });
  clusterCache = controller.watch({ group, resource: 'clusters' },
    (c, old) => (!old || !isDeepStrictEqual(reconcileInput(c), reconcileInput(old)) ? [selfKey(c)] : []), byCredential).cache;
  // A changed credential (a rotated token, a fixed CA) is tried at once.
  controller.watch({ group, resource: 'clustercredentials' }, cc => byCredential.get(cc.metadata.name!).map(selfKey));

  async function credentialOf(cluster: KubeObject): Promise<KubeObject | undefined> {
    const name = credentialRefOf(cluster);
    return name ? ctx.storage.get({ group, resource: 'clustercredentials', namespace: '', name }) : undefined;
  }

  async function probe(cluster: KubeObject): Promise<void> {
    const now = timestamp();
    const credential = await credentialOf(cluster);
    const conn = memberConnection(cluster, credential);
    let status: Record<string, unknown>;
    try {
      if (!conn) throw new ProbeFailure('CredentialNotFound', `cluster credential "${credentialRefOf(cluster)}" does not exist`);
      const kc = kubeConfigFor(conn);
      const version = await withTimeout(kc.makeApiClient(VersionApi).getCode(), 'GET /version');
      if (cluster.status?.phase !== ClusterPhase.Running) await ensureMark(kc, cluster);
      if (credential && !credential.clusterName) await claimCredential(credential, cluster);
      status = withPhase(cluster.status, ClusterPhase.Running, now, {
        version: version.gitVersion.replace(/^v/, ''),
        kubeVendor: kubeVendorOf(version.gitVersion),
        conditions: withCondition(cluster, { type: healthCheck, status: 'True', lastProbeTime: now, reason: '', message: '' }),
      });
      delete status.reason;
      delete status.message;
      if (cluster.status?.phase !== ClusterPhase.Running) {
        log.info({ cluster: cluster.metadata.name, version: version.gitVersion }, 'cluster is running');
        const again = cluster.status?.phase === ClusterPhase.Failed;
        recordEvent(cluster, 'Normal', again ? 'Recovered' : 'Running', `${again ? 'the cluster answers again' : 'the cluster answers'}: Kubernetes ${version.gitVersion}`);
      }
    } catch (err) {
      const failure = describeProbeError(err);
      if (cluster.status?.phase !== ClusterPhase.Failed) log.warn({ cluster: cluster.metadata.name, reason: failure.reason, message: failure.message }, 'cluster probe failed');
      // Every failed probe: repeats are counted on one Event (count, lastTimestamp), not added.
      recordEvent(cluster, 'Warning', failure.reason, `probe failed: ${failure.message}`);
      status = withPhase(cluster.status, ClusterPhase.Failed, now, {
        reason: failure.reason,
        message: failure.message,
        conditions: withCondition(cluster, { type: healthCheck, status: 'False', lastProbeTime: now, reason: failure.reason, message: failure.message }),
      });
    }
    await writeStatus(clusters, cluster, status);
  }

  /** TKE's mark: created on import; one made for another TKE cluster means this one is a duplicate. */
  async function ensureMark(kc: KubeConfig, cluster: KubeObject): Promise<void> {
    const core = kc.makeApiClient(CoreV1Api);
    const uid = cluster.metadata.uid!;
    try {
      const mark = await withTimeout(core.readNamespacedConfigMap({ name: markName, namespace: markNamespace }), 'GET the mark');
      const owner = mark.metadata?.annotations?.[markClusterUIDAnnotation];
      if (owner === uid) return;
      throw new ProbeFailure('AlreadyImported', `can't import the same cluster twice: ${markNamespace}/${markName} marks it as imported already (delete that ConfigMap in the cluster to import it again)`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await withTimeout(core.createNamespacedConfigMap({
      namespace: markNamespace,
      body: { metadata: { name: markName, namespace: markNamespace, annotations: { [markClusterUIDAnnotation]: uid, 'platform.tkestack.io/cluster-name': cluster.metadata.name! } } },
    }), 'create the mark');
  }

  /** A credential made for an import belongs to the cluster that uses it first (TKE sets clusterName). */
  async function claimCredential(credential: KubeObject, cluster: KubeObject): Promise<void> {
    await credentials.update(controllerContext(''), credential.metadata.name!, { ...credential, clusterName: cluster.metadata.name }, {});
  }

  async function finalize(cluster: KubeObject): Promise<void> {
    const name = cluster.metadata.name!;
    if (cluster.status?.phase !== ClusterPhase.Terminating) {
      await writeStatus(clusters, cluster, withPhase(cluster.status, ClusterPhase.Terminating, timestamp()));
      return; // the informer brings the cluster back, Terminating, with its new resourceVersion
    }
    if (specString(cluster, 'type') === ClusterType.Imported) await removeMark(cluster);
    for (const m of (await machines.list(controllerContext(''), {})).items as KubeObject[]) {
      if (specString(m, 'clusterName') === name) await deleteIgnoringNotFound(machines, m);
    }
    const credential = await credentialOf(cluster);
    if (credential && credential.clusterName === name) await deleteIgnoringNotFound(credentials, credential);
    await removeSpecFinalizer(clusters, cluster, PlatformFinalizer.Cluster);
  }

  /** Best effort: a member that is gone or unreachable must not keep its cluster object forever. */
  async function removeMark(cluster: KubeObject): Promise<void> {
    const conn = memberConnection(cluster, await credentialOf(cluster));
    if (!conn) return;
    const core = kubeConfigFor(conn).makeApiClient(CoreV1Api);
    try {
      const mark = await withTimeout(core.readNamespacedConfigMap({ name: markName, namespace: markNamespace }), 'GET the mark');
      if (mark.metadata?.annotations?.[markClusterUIDAnnotation] !== cluster.metadata.uid) return;
      await withTimeout(core.deleteNamespacedConfigMap({ name: markName, namespace: markNamespace }), 'delete the mark');
    } catch (err) {
      if (!isNotFound(err)) log.warn({ cluster: cluster.metadata.name, message: describeProbeError(err).message }, 'the mark could not be removed from the cluster');
    }
  }

  return {
    name: controller.name,
    start: () => controller.start(),
    stop() {
      controller.stop();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}

function withCondition(cluster: KubeObject, next: { type: string; status: string; lastProbeTime: string; reason: string; message: string }): unknown[] {
  const conditions = (Array.isArray(cluster.status?.conditions) ? cluster.status.conditions : []) as Array<Record<string, unknown>>;
  const old = conditions.find(c => c.type === next.type);
  const condition: Record<string, unknown> = { ...next, lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : next.lastProbeTime };
  if (!condition.reason) delete condition.reason;
  if (!condition.message) delete condition.message;
  return [...conditions.filter(c => c.type !== next.type), condition];
}
