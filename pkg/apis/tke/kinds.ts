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

/** TKE's Validate*Update: these spec fields are fixed once the object exists ("disallowed change the ..."). */
export function requireUnchanged(obj: KubeObject, old: KubeObject, specFields: string[]): FieldError[] {
  return specFields
    .filter(n => specString(obj, n) !== specString(old, n))
    .map(n => field.invalid(`spec.${n}`, specString(obj, n), `disallowed change the ${n === 'tenantID' ? 'tenant' : n}`));
}

/** Sets status.phase, moving lastTransitionTime only when the phase really changes. */
export function withPhase(status: Record<string, unknown> | undefined, phase: string, now: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const next: Record<string, unknown> = { ...(status ?? {}), ...extra, phase };
  if (status?.phase !== phase || !status?.lastTransitionTime) next.lastTransitionTime = now;
  return next;
}
