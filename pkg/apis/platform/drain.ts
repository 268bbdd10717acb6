// POST clusters/<name>/drain/<node> (or ?path=<node>, TKE's DrainREST wire form): cordons the
// node and evicts its pods, answering 201 with the node. <node> is a node name, or the name of a
// Machine of the cluster, whose node is named after its IP (TKE's default) or carries that IP
// among its addresses. As `kubectl drain`, mirror pods and DaemonSet pods stay (the kubelet and
// the DaemonSet controller would put them straight back) and evictions respect disruption
// budgets: a refused eviction ends the drain with the member's answer.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors } from '../../rest/errors.ts';
import type { GroupContext } from '../../server/group.ts';
import type { MemberClient } from './proxy.ts';
import { readMachine } from './stored.ts';

const mirrorAnnotation = 'kubernetes.io/config.mirror';
const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

/** The node a drain names: a node of that name, else the node of the cluster's machine of that name. */
async function resolveNode(client: MemberClient, ctx: GroupContext, name: string): Promise<{ status: number; body: any }> {
  await client.authorize('GET', nodePath(name));
  const direct = await client.json('GET', nodePath(name));
  if (direct.status !== 404) return direct;
  const machine = await readMachine(ctx.storage, name);
  const ip = machine?.spec?.clusterName === client.cluster ? (machine.spec.ip ?? '') : '';
  if (!ip) return direct;
  await client.authorize('GET', nodePath(ip));
  const byIP = await client.json('GET', nodePath(ip));
  if (byIP.status !== 404) return byIP;
  await client.authorize('GET', '/api/v1/nodes');
  const nodes = await client.json('GET', '/api/v1/nodes');
  if (nodes.status !== 200) return nodes;
  const node = ((nodes.body?.items ?? []) as KubeObject[]).find(n => ((n.status?.addresses ?? []) as Array<{ address?: string }>).some(a => a.address === ip));
  return node ? { status: 200, body: node } : direct;
}

function staysOnNode(pod: KubeObject): boolean {
  if (pod.metadata.annotations?.[mirrorAnnotation] !== undefined) return true;
  return (pod.metadata.ownerReferences ?? []).some(o => o.controller && o.kind === 'DaemonSet');
}

export async function drainNode(client: MemberClient, ctx: GroupContext, name: string): Promise<{ status: number; body: unknown }> {
  if (!name) throw errors.badRequest('the node to drain is named in the path: drain/<node>');
  const found = await resolveNode(client, ctx, name);
  if (found.status !== 200) return found;
  const nodeName = (found.body as KubeObject).metadata.name!;

  await client.authorize('PATCH', nodePath(nodeName));
  const cordoned = await client.json('PATCH', nodePath(nodeName), { spec: { unschedulable: true } }, 'application/merge-patch+json');
  if (cordoned.status !== 200) return cordoned;

  const podsPath = `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${nodeName}`)}`;
  await client.authorize('GET', podsPath);
  const pods = await client.json('GET', podsPath);
  if (pods.status !== 200) return pods;
  for (const pod of (pods.body?.items ?? []) as KubeObject[]) {
    if (staysOnNode(pod)) continue;
    const { name: podName, namespace } = pod.metadata;
    const evictionPath = `/api/v1/namespaces/${encodeURIComponent(namespace!)}/pods/${encodeURIComponent(podName!)}/eviction`;
    await client.authorize('POST', evictionPath);
    const evicted = await client.json('POST', evictionPath, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: podName, namespace } });
    // Gone already is as good as evicted.
    if (evicted.status >= 300 && evicted.status !== 404) return evicted;
  }
  return { status: 201, body: cordoned.body };
}
