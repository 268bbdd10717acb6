// Small rules several business kinds share.
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { field, type FieldError } from '../rest/errors.ts';
import { projectClusters, type WireResourceList } from './objects.ts';
import { canonicalQuantity } from './quantity.ts';

/** Rewrites every parseable quantity in place in the canonical form Kubernetes would return. */
export function canonicalizeResourceList(list: WireResourceList | undefined): void {
  if (!list || typeof list !== 'object') return;
  for (const [k, v] of Object.entries(list)) list[k] = canonicalQuantity(v) as string | number;
}

/** spec fields that may not change after create (TKE: "disallowed change the ..."). */
export function requireUnchanged(obj: KubeObject, old: KubeObject, specFields: string[]): FieldError[] {
  return specFields
    .filter(f => (obj.spec?.[f] ?? '') !== (old.spec?.[f] ?? ''))
    .map(f => field.invalid(`spec.${f}`, obj.spec?.[f] ?? '', `disallowed change the ${f}`));
}

/** "c1: requests.cpu 3/10, requests.memory 1Gi/8Gi; c2: ..." from spec hard and status used. */
export function describeQuotaUse(project: KubeObject): string {
  const used = (project.status?.clusters ?? {}) as Record<string, { used?: Record<string, string> } | undefined>;
  const parts: string[] = [];
  for (const [cluster, hard] of projectClusters(project)) {
    const resources = Object.entries(hard).map(([r, limit]) => `${r} ${used[cluster]?.used?.[r] ?? '0'}/${limit}`);
    if (resources.length) parts.push(`${cluster}: ${resources.join(', ')}`);
  }
  return parts.join('; ');
}

/** Sets status.phase, moving lastTransitionTime only when the phase really changes. */
export function withPhase(status: Record<string, unknown> | undefined, phase: string, now: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const next: Record<string, unknown> = { ...(status ?? {}), ...extra, phase };
  if (status?.phase !== phase || !status?.lastTransitionTime) next.lastTransitionTime = now;
  return next;
}
