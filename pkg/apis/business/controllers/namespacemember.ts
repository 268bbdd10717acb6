// What a business namespace is in its member cluster, as TKE's namespace controller keeps it:
// the Kubernetes namespace spec.namespace labelled with the project and the business namespace,
// a ResourceQuota of the same name with hard = spec.hard, and (this server's addition) a
// RoleBinding that lets the holders of the namespace's certificate work in it. A namespace that
// carries another project's label belongs to that project: it is never relabelled, given a quota
// or deleted from here.
import { CoreV1Api, RbacAuthorizationV1Api, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import type { StoredNamespace } from '../stored.ts';
import { Quantity } from '../quantity.ts';
import { describeMemberCall, isMemberNotFound, withMemberTimeout, type MemberFailureKind } from '../../platform/member.ts';

export const projectLabel = 'tkestack.io/projectName';
export const namespaceLabel = 'tkestack.io/namespaceName';
/** The RoleBinding in the member namespace for the namespace's certificates (see certificate.ts). */
export const certificateRoleBinding = 'tke-business-namespace';
/** What a namespace certificate may do in its member namespace: Kubernetes' aggregated `edit` role. */
const certificateClusterRole = 'edit';

/**
 * The group a namespace certificate carries (one of its organizations) and the member's RoleBinding
 * names: one business namespace of one project, so a certificate issued before a move to another
 * project, or for a namespace of the same name elsewhere, grants nothing here.
 */
export const certificateGroup = (project: string, name: string) => `business.tkestack.io:namespace:${project}/${name}`;

/** A member's refusal or silence, with TKE's reason words, for status.reason/message. */
export class MemberFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const namespaceReasons: Record<MemberFailureKind, string> = {
  Timeout: 'ConnectClusterError',
  Unreachable: 'ConnectClusterError',
  Unauthorized: 'ClusterRefused',
  Forbidden: 'ClusterRefused',
  Error: 'ClusterError',
};

/** Why a call to the member failed, in the namespace's reason words. */
export function describeMemberError(err: unknown): MemberFailure {
  if (err instanceof MemberFailure) return err;
  const failure = describeMemberCall(err);
  return new MemberFailure(namespaceReasons[failure.kind], failure.message);
}

async function readOrUndefined<T>(p: Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await withMemberTimeout(p, what);
  } catch (err) {
    if (isMemberNotFound(err)) return undefined;
    throw err;
  }
}

/** Same resources and equal quantities: the member writes "1000m" back as "1". */
function sameResourceList(a: Record<string, string | number>, b: Record<string, string | number>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.join('\n') !== kb.join('\n')) return false;
  return ka.every(k => {
    try {
      return Quantity.parse(a[k]).cmp(Quantity.parse(b[k])) === 0;
    } catch {
      return a[k] === b[k];
    }
  });
}

export interface MemberState {
  /** The ResourceQuota's status.used, once the member's quota controller has measured it. */
  used?: Record<string, string>;
}

/**
 * Makes the member match the business namespace `ns`: creates or adopts the Kubernetes namespace,
 * sets the quota and the certificate RoleBinding, and reads back what the quota measured.
 * `previousProject` is the project an NsEmigration moved `ns` out of: its label is taken over.
 * Throws MemberFailure('ConflictProject') for a namespace of another project, untouched.
 */
export async function ensureInMember(kc: KubeConfig, ns: StoredNamespace, previousProject: string): Promise<MemberState> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = ns.spec?.namespace ?? '';
  const project = ns.metadata.namespace!;
  const labels = { [projectLabel]: project, [namespaceLabel]: ns.metadata.name! };
  const existing = await readOrUndefined(core.readNamespace({ name }), `GET namespace ${name}`);
  if (!existing) {
    await withMemberTimeout(core.createNamespace({ body: { metadata: { name, labels } } }), `create namespace ${name}`);
  } else {
    const owner = existing.metadata?.labels?.[projectLabel];
    if (owner !== undefined && owner !== project && !(previousProject && owner === previousProject)) {
      throw new MemberFailure(
        'ConflictProject',
        `namespace "${name}" in the cluster already belongs to another project (${owner}) and cannot be attributed to project ${project}`,
      );
    }
    if (existing.status?.phase === 'Terminating') {
      throw new MemberFailure('NamespaceNotActive', `namespace "${name}" in the cluster is being deleted; it is created again once it is gone`);
    }
    if (existing.metadata?.labels?.[projectLabel] !== project || existing.metadata?.labels?.[namespaceLabel] !== ns.metadata.name) {
      const relabelled: V1Namespace = { ...existing, metadata: { ...existing.metadata, labels: { ...(existing.metadata?.labels ?? {}), ...labels } } };
      // The read resourceVersion guards the label check above against a concurrent claim.
      await withMemberTimeout(core.replaceNamespace({ name, body: relabelled }), `label namespace ${name}`);
    }
  }
  const used = await ensureQuota(core, ns);
  await ensureCertificateBinding(kc, ns);
  return { used };
}

async function ensureQuota(core: CoreV1Api, ns: StoredNamespace): Promise<Record<string, string> | undefined> {
  const name = ns.spec?.namespace ?? '';
  const hard = Object.fromEntries(Object.entries(ns.spec?.hard ?? {}).map(([r, v]) => [r, String(v)]));
  const quota = await readOrUndefined(core.readNamespacedResourceQuota({ name, namespace: name }), `GET resourcequota ${name}/${name}`);
  if (!quota) {
    await withMemberTimeout(
      core.createNamespacedResourceQuota({ namespace: name, body: { metadata: { name, namespace: name }, spec: { hard } } }),
      `create resourcequota ${name}/${name}`,
    );
    return undefined;
  }
  if (!sameResourceList(quota.spec?.hard ?? {}, hard)) {
    await withMemberTimeout(
      core.replaceNamespacedResourceQuota({ name, namespace: name, body: { ...quota, spec: { ...quota.spec, hard } } }),
      `update resourcequota ${name}/${name}`,
    );
    // What was measured was measured against the old limits; the next check reads the new status.
  }
  const used = quota.status?.used;
  // Until the member's quota controller has counted every limited resource, nothing is known yet.
  return used && Object.keys(hard).every(r => r in used)
    ? Object.fromEntries(
        Object.keys(used)
          .sort()
          .map(r => [r, String(used[r])]),
      )
    : undefined;
}

async function ensureCertificateBinding(kc: KubeConfig, ns: StoredNamespace): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const namespace = ns.spec?.namespace ?? '';
  const subjects = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: certificateGroup(ns.metadata.namespace!, ns.metadata.name!) }];
  const roleRef = { kind: 'ClusterRole', apiGroup: 'rbac.authorization.k8s.io', name: certificateClusterRole };
  const existing = await readOrUndefined(
    rbac.readNamespacedRoleBinding({ name: certificateRoleBinding, namespace }),
    `GET rolebinding ${namespace}/${certificateRoleBinding}`,
  );
  if (!existing) {
    await withMemberTimeout(
      rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name: certificateRoleBinding, namespace }, roleRef, subjects } }),
      `create rolebinding ${namespace}/${certificateRoleBinding}`,
    );
    return;
  }
  if (existing.roleRef.name === roleRef.name && JSON.stringify(existing.subjects ?? []) === JSON.stringify(subjects)) return;
  if (existing.roleRef.name !== roleRef.name) {
    // roleRef is immutable in Kubernetes: a binding pointing elsewhere is replaced whole.
    await withMemberTimeout(
      rbac.deleteNamespacedRoleBinding({ name: certificateRoleBinding, namespace }),
      `delete rolebinding ${namespace}/${certificateRoleBinding}`,
    );
    await withMemberTimeout(
      rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name: certificateRoleBinding, namespace }, roleRef, subjects } }),
      `create rolebinding ${namespace}/${certificateRoleBinding}`,
    );
    return;
  }
  await withMemberTimeout(
    rbac.replaceNamespacedRoleBinding({ name: certificateRoleBinding, namespace, body: { ...existing, subjects } }),
    `update rolebinding ${namespace}/${certificateRoleBinding}`,
  );
}

/**
 * Deletes the Kubernetes namespace (its quota and binding go with it) when it carries this
 * project's label; one of another project, or never labelled by TKE, is left alone.
 * Returns what was done, for the log.
 */
export async function releaseInMember(kc: KubeConfig, ns: StoredNamespace): Promise<'deleted' | 'absent' | 'not-ours'> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = ns.spec?.namespace ?? '';
  const existing = await readOrUndefined(core.readNamespace({ name }), `GET namespace ${name}`);
  if (!existing) return 'absent';
  if (existing.metadata?.labels?.[projectLabel] !== ns.metadata.namespace) return 'not-ours';
  if (existing.status?.phase === 'Terminating') return 'deleted';
  try {
    // The uid precondition: a namespace recreated by someone else since the read is not deleted.
    await withMemberTimeout(
      core.deleteNamespace({ name, propagationPolicy: 'Background', body: { preconditions: { uid: existing.metadata!.uid } } }),
      `delete namespace ${name}`,
    );
  } catch (err) {
    if (!isMemberNotFound(err)) throw err;
  }
  return 'deleted';
}
