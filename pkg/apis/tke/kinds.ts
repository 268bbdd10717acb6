// Rules TKE's kinds share across groups, as TKE's Go validation and registry code applies them.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import { allVerbs, type Verb } from '../../rest/resource.ts';

/** TKE serves most kinds without deletecollection (+genclient:skipVerbs=deleteCollection). */
export const verbsWithoutDeleteCollection: Verb[] = allVerbs.filter(v => v !== 'deletecollection');

/** A string field of spec ('' when unset). */
export function specString(obj: KubeObject, name: string): string {
  const v = obj.spec?.[name];
  return typeof v === 'string' ? v : '';
}

/** Kubernetes' IsValidPortNum (1-65535); an optional port may be unset. */
export function validatePort(path: string, port: unknown, optional = false): FieldError[] {
  if (optional && port === undefined) return [];
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535
    ? []
    : [field.invalid(path, port, 'must be between 1 and 65535, inclusive')];
}

/** TKE's Validate*Update: these spec fields are fixed once the object exists ("disallowed change the ..."). */
export function requireUnchanged(obj: KubeObject, old: KubeObject, specFields: string[]): FieldError[] {
  return specFields
    .filter(n => specString(obj, n) !== specString(old, n))
    .map(n => field.invalid(`spec.${n}`, specString(obj, n), `disallowed change the ${n === 'tenantID' ? 'tenant' : n}`));
}

/** Sets status.phase, moving lastTransitionTime only when the phase really changes. */
export function withPhase(
  status: Record<string, unknown> | undefined,
  phase: string,
  now: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const next: Record<string, unknown> = { ...(status ?? {}), ...extra, phase };
  if (status?.phase !== phase || !status?.lastTransitionTime) next.lastTransitionTime = now;
  return next;
}

/** A condition as TKE's kinds carry them in status.conditions. */
export interface Condition {
  type: string;
  status: string;
  lastProbeTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/**
 * Sets the condition of `next.type` in place (or adds it), probed `now`; lastTransitionTime
 * moves only when its status changes.
 */
export function withCondition<C extends Condition>(conditions: readonly C[], next: Omit<C, 'lastProbeTime' | 'lastTransitionTime'>, now: string): C[] {
  const old = conditions.find(c => c.type === next.type);
  const condition = { ...next, lastProbeTime: now, lastTransitionTime: old && old.status === next.status ? (old.lastTransitionTime ?? now) : now } as C;
  return old ? conditions.map(c => (c.type === next.type ? condition : c)) : [...conditions, condition];
}
