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
import { type ClusterCondition, ClusterPhase, KubeVendor, PlatformFinalizer } from '../../../api/platform/v1/cluster.ts';
import { eventsAbout } from '../../controller/events.ts';
import type { Controller } from '../../controller/informer.ts';
import { timestamp } from '../../rest/metadata.ts';
import type { GroupContext } from '../../server/group.ts';
import {
  CacheIndex,
  controllerContext,
  deleteIgnoringNotFound,
  InformerController,
  removeSpecFinalizer,
  selfKey,
  writeStatus,
} from '../business/controllers/reconcile.ts';
import { withCondition, withPhase } from '../tke/kinds.ts';
import { ClusterType, credentialRefOf } from './cluster.ts';
import { describeMemberCall, isMemberNotFound, kubeConfigFor, memberConnection, withMemberTimeout, type MemberFailureKind } from './member.ts';
import { platformGroupName as group } from './names.ts';
import { asCluster, asMachine, readClusterCredential, type StoredCluster, type StoredClusterCredential } from './stored.ts';

export const markNamespace = 'kube-system';
export const markName = 'tke';
/** On the mark: which TKE cluster made it, so that only that cluster's deletion removes it. */
export const markClusterUIDAnnotation = 'platform.tkestack.io/cluster-uid';

const healthCheck = 'HealthCheck';

class ProbeFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
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

const probeReasons: Record<MemberFailureKind, string> = {
  Timeout: 'Timeout',
  Unreachable: 'Unreachable',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  Error: 'HealthCheckFail',
};

/** Why a probe failed, in the cluster's reason words. */
function describeProbeError(err: unknown): ProbeFailure {
  if (err instanceof ProbeFailure) return err;
  const failure = describeMemberCall(err);
  return new ProbeFailure(probeReasons[failure.kind], failure.message);
}

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
  const byCredential = new CacheIndex(c => credentialRefOf(asCluster(c)));
  let clusterCache: Map<string, KubeObject>;
  const log = ctx.logger.child({ controller: 'clusters.platform.tkestack.io' });
  const recordEvent = eventsAbout(ctx.eventRecorder, { apiVersion: `${group}/v1`, kind: 'Cluster' }, 'cluster-controller');

  const controller: InformerController = new InformerController(
    `clusters.${group}`,
    ctx.storage,
    async key => {
      clearTimeout(timers.get(key));
      timers.delete(key);
      const cached = clusterCache.get(key);
      if (!cached) return;
      const cluster = asCluster(cached);
      if (cluster.metadata.deletionTimestamp) return finalize(cluster);
      if (cluster.spec?.type !== ClusterType.Imported) return;
      try {
        await probe(cluster);
      } finally {
        const jitter = 0.8 + Math.random() * 0.4;
        timers.set(key, setTimeout(() => controller.enqueue(key), periodMs * jitter).unref());
      }
    },
    { logger: ctx.logger },
  );
  clusterCache = controller.watch(
    { group, resource: 'clusters' },
    (c, old) => (!old || !isDeepStrictEqual(reconcileInput(c), reconcileInput(old)) ? [selfKey(c)] : []),
    byCredential,
  ).cache;
  // A changed credential (a rotated token, a fixed CA) is tried at once.
  controller.watch({ group, resource: 'clustercredentials' }, cc => byCredential.get(cc.metadata.name!).map(selfKey));

  async function credentialOf(cluster: StoredCluster): Promise<StoredClusterCredential | undefined> {
    const name = credentialRefOf(cluster);
    return name ? readClusterCredential(ctx.storage, name) : undefined;
  }

  async function probe(cluster: StoredCluster): Promise<void> {
    const now = timestamp();
    const credential = await credentialOf(cluster);
    const conn = memberConnection(cluster, credential);
    let status: Record<string, unknown>;
    try {
      if (!conn) throw new ProbeFailure('CredentialNotFound', `cluster credential "${credentialRefOf(cluster)}" does not exist`);
      const kc = kubeConfigFor(conn);
      const version = await withMemberTimeout(kc.makeApiClient(VersionApi).getCode(), 'GET /version');
      if (cluster.status?.phase !== ClusterPhase.Running) await ensureMark(kc, cluster);
      if (credential && !credential.clusterName) await claimCredential(credential, cluster);
      status = withPhase(cluster.status, ClusterPhase.Running, now, {
        version: version.gitVersion.replace(/^v/, ''),
        kubeVendor: kubeVendorOf(version.gitVersion),
        conditions: withCondition(conditionsOf(cluster), { type: healthCheck, status: 'True' }, now),
      });
      delete status.reason;
      delete status.message;
      if (cluster.status?.phase !== ClusterPhase.Running) {
        log.info({ cluster: cluster.metadata.name, version: version.gitVersion }, 'cluster is running');
        const again = cluster.status?.phase === ClusterPhase.Failed;
        recordEvent(
          cluster,
          'Normal',
          again ? 'Recovered' : 'Running',
          `${again ? 'the cluster answers again' : 'the cluster answers'}: Kubernetes ${version.gitVersion}`,
        );
      }
    } catch (err) {
      const failure = describeProbeError(err);
      if (cluster.status?.phase !== ClusterPhase.Failed)
        log.warn({ cluster: cluster.metadata.name, reason: failure.reason, message: failure.message }, 'cluster probe failed');
      // Every failed probe: repeats are counted on one Event (count, lastTimestamp), not added.
      recordEvent(cluster, 'Warning', failure.reason, `probe failed: ${failure.message}`);
      status = withPhase(cluster.status, ClusterPhase.Failed, now, {
        reason: failure.reason,
        message: failure.message,
        conditions: withCondition(conditionsOf(cluster), { type: healthCheck, status: 'False', reason: failure.reason, message: failure.message }, now),
      });
    }
    await writeStatus(clusters, cluster, status);
  }

  /** TKE's mark: created on import; one made for another TKE cluster means this one is a duplicate. */
  async function ensureMark(kc: KubeConfig, cluster: StoredCluster): Promise<void> {
    const core = kc.makeApiClient(CoreV1Api);
    const uid = cluster.metadata.uid!;
    try {
      const mark = await withMemberTimeout(core.readNamespacedConfigMap({ name: markName, namespace: markNamespace }), 'GET the mark');
      const owner = mark.metadata?.annotations?.[markClusterUIDAnnotation];
      if (owner === uid) return;
      throw new ProbeFailure(
        'AlreadyImported',
        `can't import the same cluster twice: ${markNamespace}/${markName} marks it as imported already (delete that ConfigMap in the cluster to import it again)`,
      );
    } catch (err) {
      if (!isMemberNotFound(err)) throw err;
    }
    await withMemberTimeout(
      core.createNamespacedConfigMap({
        namespace: markNamespace,
        body: {
          metadata: {
            name: markName,
            namespace: markNamespace,
            annotations: { [markClusterUIDAnnotation]: uid, 'platform.tkestack.io/cluster-name': cluster.metadata.name! },
          },
        },
      }),
      'create the mark',
    );
  }

  /** A credential made for an import belongs to the cluster that uses it first (TKE sets clusterName). */
  async function claimCredential(credential: StoredClusterCredential, cluster: StoredCluster): Promise<void> {
    await credentials.update(controllerContext(''), credential.metadata.name!, { ...credential, clusterName: cluster.metadata.name }, {});
  }

  async function finalize(cluster: StoredCluster): Promise<void> {
    const name = cluster.metadata.name!;
    if (cluster.status?.phase !== ClusterPhase.Terminating) {
      await writeStatus(clusters, cluster, withPhase(cluster.status, ClusterPhase.Terminating, timestamp()));
      return; // the informer brings the cluster back, Terminating, with its new resourceVersion
    }
    if (cluster.spec?.type === ClusterType.Imported) await removeMark(cluster);
    for (const m of (await machines.list(controllerContext(''), {})).items.map(asMachine)) {
      if (m.spec?.clusterName === name) await deleteIgnoringNotFound(machines, m);
    }
    const credential = await credentialOf(cluster);
    if (credential && credential.clusterName === name) await deleteIgnoringNotFound(credentials, credential);
    await removeSpecFinalizer(clusters, cluster, PlatformFinalizer.Cluster);
  }

  /** Best effort: a member that is gone or unreachable must not keep its cluster object forever. */
  async function removeMark(cluster: StoredCluster): Promise<void> {
    const conn = memberConnection(cluster, await credentialOf(cluster));
    if (!conn) return;
    const core = kubeConfigFor(conn).makeApiClient(CoreV1Api);
    try {
      const mark = await withMemberTimeout(core.readNamespacedConfigMap({ name: markName, namespace: markNamespace }), 'GET the mark');
      if (mark.metadata?.annotations?.[markClusterUIDAnnotation] !== cluster.metadata.uid) return;
      await withMemberTimeout(core.deleteNamespacedConfigMap({ name: markName, namespace: markNamespace }), 'delete the mark');
    } catch (err) {
      if (!isMemberNotFound(err))
        log.warn({ cluster: cluster.metadata.name, message: describeProbeError(err).message }, 'the mark could not be removed from the cluster');
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

const conditionsOf = (cluster: StoredCluster): ClusterCondition[] => cluster.status?.conditions ?? [];
