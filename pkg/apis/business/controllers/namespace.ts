// The business namespace controller, as TKE's (pkg/business/controller/namespace): it makes the
// Kubernetes namespace, its ResourceQuota and its certificate RoleBinding exist in the member
// cluster (namespacemember.ts), and a health loop — every --cluster-health-check-period, like the
// cluster probes — copies the quota's status.used back and keeps the phase true:
//   Pending   -> Available  the namespace and quota exist in the member;
//   Available -> Failed     the member cannot be reached or refuses, the namespace there belongs to
//                           another project, or it is being deleted there; Failed -> Available
//                           when that is over (the loop keeps checking a Failed namespace).
// The project's status.clusters[].used follows status.used (controllers/project.ts).
//
// Clusters this server cannot act in are said so, never pretended to be served:
//   - a cluster that is not Imported (a Baremetal cluster this server does not provision): Pending,
//     reason ClusterNotManaged — nothing is created anywhere, and no status.used is reported (the
//     project counts the namespace's whole grant); the namespace's quota stays reserved;
//   - an Imported cluster that is not Running (the cluster controller's verdict: unreachable, a
//     refused credential, a second import of an imported member): Failed with the cluster's
//     message, Pending while it is still being probed;
//   - an Imported cluster without an address or credential, or a cluster that is gone: Failed.
// On delete (the `namespace` spec finalizer): Terminating, then the Kubernetes namespace is deleted
// if it carries this project's label, then the finalizer goes. While the member cannot be reached
// (or its cluster is not Running) the namespace stays Terminating, saying why, and is tried again
// each period — deleting the cluster lets it go; a cluster that is deleted, not Imported or
// without a credential has nothing of it to clean up, so it goes at once.
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { BusinessFinalizer } from '../../../../api/business/v1/types.ts';
import { NamespacePhase } from '../../../../api/business/v1/namespace.ts';
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import type { Informer } from '../../../controller/informer.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { timestamp } from '../../../rest/metadata.ts';
import type { Store } from '../../../storage/interface.ts';
import { ClusterPhase } from '../../../../api/platform/v1/cluster.ts';
import { ClusterType } from '../../platform/cluster.ts';
import { kubeConfigFor, memberConnection } from '../../platform/member.ts';
import { platformGroupName } from '../../platform/names.ts';
import { asCluster, readClusterCredential, type StoredCluster } from '../../platform/stored.ts';
import { withPhase } from '../../tke/kinds.ts';
import { emigratedFromAnnotation } from '../namespace.ts';
import { asNamespace, businessGroup, isDeleting, type StoredNamespace } from '../stored.ts';
import { describeMemberError, ensureInMember, releaseInMember } from './namespacemember.ts';
import { CacheIndex, InformerController, removeSpecFinalizer, selfKey, writeStatus } from './reconcile.ts';

export interface NamespaceControllerOptions {
  storage: Store;
  store: RegistryStore;
  logger: Logger;
  /** How often the member is checked for each namespace (the cluster health check period). */
  healthCheckPeriodMs: number;
}

/** Where a namespace's cluster stands for this server: a member it can call, or why not. */
type Member = { kc: KubeConfig } | { phase: string; reason: string; message: string };

/** What makes a namespace worth reconciling now: not the status the controller writes itself. */
function namespaceInput(ns: KubeObject): unknown {
  return [ns.spec, ns.metadata.deletionTimestamp, ns.metadata.annotations?.[emigratedFromAnnotation], ns.status?.phase === NamespacePhase.Terminating];
}

/** What of a cluster decides how its namespaces are reached (not its probe times). */
function clusterInput(c: StoredCluster): unknown {
  return [c.spec?.type, c.spec?.clusterCredentialRef?.name ?? '', c.status?.addresses, c.status?.phase];
}

export function namespaceController(opts: NamespaceControllerOptions): InformerController {
  const { storage, store, healthCheckPeriodMs } = opts;
  const log = opts.logger.child({ controller: `namespaces.${businessGroup}` });
  const timers = new Map<string, NodeJS.Timeout>();
  const byCluster = new CacheIndex(ns => asNamespace(ns).spec?.clusterName ?? '');
  const clustersByCredential = new CacheIndex(c => asCluster(c).spec?.clusterCredentialRef?.name ?? '');
  let namespaces: Informer;
  let clusters: Informer;

  const controller = new InformerController(
    `namespaces.${businessGroup}`,
    storage,
    async key => {
      clearTimeout(timers.get(key));
      timers.delete(key);
      const cached = namespaces.cache.get(key);
      if (!cached) return;
      const ns = asNamespace(cached);
      const checkAgain = await (isDeleting(ns) ? release(ns) : ensure(ns));
      if (checkAgain) {
        const jitter = 0.8 + Math.random() * 0.4;
        timers.set(key, setTimeout(() => controller.enqueue(key), healthCheckPeriodMs * jitter).unref());
      }
    },
    { logger: opts.logger },
  );

  namespaces = controller.watch(
    { group: businessGroup, resource: 'namespaces' },
    (ns, old) => (!old || !isDeepStrictEqual(namespaceInput(ns), namespaceInput(old)) ? [selfKey(ns)] : []),
    byCluster,
  );
  const namespacesOf = (cluster: string) => byCluster.get(cluster).map(selfKey);
  clusters = controller.watch(
    { group: platformGroupName, resource: 'clusters' },
    (c, old) => (!old || !isDeepStrictEqual(clusterInput(asCluster(c)), clusterInput(asCluster(old))) ? namespacesOf(c.metadata.name!) : []),
    clustersByCredential,
  );
  // A credential added or fixed later is used at once.
  controller.watch({ group: platformGroupName, resource: 'clustercredentials' }, cc =>
    clustersByCredential.get(cc.metadata.name!).flatMap(c => namespacesOf(c.metadata.name!)),
  );

  async function memberOf(clusterName: string): Promise<Member> {
    const cached = clusters.cache.get(clusterName);
    if (!cached) return { phase: NamespacePhase.Failed, reason: 'ClusterNotFound', message: `cluster "${clusterName}" does not exist` };
    const cluster = asCluster(cached);
    const type = cluster.spec?.type ?? '';
    if (type !== ClusterType.Imported) {
      return {
        phase: NamespacePhase.Pending,
        reason: 'ClusterNotManaged',
        message: `cluster "${clusterName}" is of type ${type || '(none)'}, which this server does not provision: the namespace is not created in any cluster; its quota stays reserved in the project`,
      };
    }
    // Only through a cluster the cluster controller found Running: one Failed as a second import
    // of a member already imported must not act there, and one that cannot be reached is said so.
    const clusterPhase = cluster.status?.phase;
    if (clusterPhase !== ClusterPhase.Running) {
      const why = cluster.status?.message ? `: ${cluster.status.message}` : '';
      return clusterPhase === ClusterPhase.Failed
        ? { phase: NamespacePhase.Failed, reason: 'ClusterNotRunning', message: `cluster "${clusterName}" is Failed${why}` }
        : {
            phase: NamespacePhase.Pending,
            reason: 'ClusterNotRunning',
            message: `waiting for cluster "${clusterName}" to be Running (it is ${clusterPhase ?? 'new'})`,
          };
    }
    const credentialName = cluster.spec?.clusterCredentialRef?.name ?? '';
    const credential = credentialName ? await readClusterCredential(storage, credentialName) : undefined;
    const conn = memberConnection(cluster, credential);
    if (!conn) {
      const why = !credential ? `its cluster credential "${credentialName}" does not exist` : 'it has no address';
      return { phase: NamespacePhase.Failed, reason: 'CredentialNotFound', message: `cluster "${clusterName}" cannot be reached: ${why}` };
    }
    return { kc: kubeConfigFor(conn) };
  }

  /** Returns whether to check again after a period. */
  async function ensure(ns: StoredNamespace): Promise<boolean> {
    const now = timestamp();
    const base = { cachedSpecHard: structuredClone(ns.spec?.hard ?? {}), resourceQuotaName: ns.spec?.namespace ?? '' };
    const member = await memberOf(ns.spec?.clusterName ?? '');
    if (!('kc' in member)) {
      const status = withPhase(ns.status, member.phase, now, { ...base, reason: member.reason, message: member.message });
      // Nothing exists in a cluster this server does not provision; anywhere else the last
      // measured use stays, as the workloads presumably do.
      if (member.reason === 'ClusterNotManaged') delete status.used;
      await writeStatus(store, ns, status);
      return false;
    }
    let status: Record<string, unknown>;
    try {
      const { used } = await ensureInMember(member.kc, ns, ns.metadata.annotations?.[emigratedFromAnnotation] ?? '');
      status = withPhase(ns.status, NamespacePhase.Available, now, { ...base, ...(used ? { used } : {}) });
      delete status.reason;
      delete status.message;
      if (ns.status?.phase !== NamespacePhase.Available)
        log.info({ namespace: selfKey(ns), cluster: ns.spec?.clusterName ?? '' }, 'namespace is available in its cluster');
    } catch (err) {
      const failure = describeMemberError(err);
      if (ns.status?.phase !== NamespacePhase.Failed || ns.status?.reason !== failure.reason) {
        log.warn(
          { namespace: selfKey(ns), cluster: ns.spec?.clusterName ?? '', reason: failure.reason, message: failure.message },
          'namespace is not available in its cluster',
        );
      }
      // The last measured use is kept: the workloads are presumably still there.
      status = withPhase(ns.status, NamespacePhase.Failed, now, { ...base, reason: failure.reason, message: failure.message });
    }
    await writeStatus(store, ns, status);
    return true;
  }

  /** Returns whether to try again after a period (the member could not be reached). */
  async function release(ns: StoredNamespace): Promise<boolean> {
    if (ns.status?.phase !== NamespacePhase.Terminating) {
      const status = withPhase(ns.status, NamespacePhase.Terminating, timestamp());
      delete status.reason;
      delete status.message;
      await writeStatus(store, ns, status);
      return false; // the informer brings it back, Terminating
    }
    const member = await memberOf(ns.spec?.clusterName ?? '');
    if (!('kc' in member) && member.reason === 'ClusterNotRunning') {
      await writeStatus(store, ns, {
        ...ns.status,
        reason: member.reason,
        message: `the namespace is deleted in the cluster once it is Running again; ${member.message}`,
      });
      return true;
    }
    if ('kc' in member) {
      try {
        const done = await releaseInMember(member.kc, ns);
        log.info(
          { namespace: selfKey(ns), cluster: ns.spec?.clusterName ?? '', kubernetesNamespace: ns.spec?.namespace ?? '', done },
          'released the namespace in its cluster',
        );
      } catch (err) {
        const failure = describeMemberError(err);
        await writeStatus(store, ns, { ...ns.status, reason: failure.reason, message: `deleting the namespace in the cluster: ${failure.message}` });
        return true;
      }
    }
    await removeSpecFinalizer(store, ns, BusinessFinalizer.Namespace);
    return false;
  }

  const stop = controller.stop.bind(controller);
  controller.stop = () => {
    stop();
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
  };
  return controller;
}
