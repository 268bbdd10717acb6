// Secret fields (SSH passwords, private keys, remote credentials) as readers see them: masked,
// like Kubernetes keeps Secrets out of the `view` role. A client that writes back what it read
// sends the mask; the stored secret is kept then, but only while the fields naming where the
// secret is sent (host, port, URL) are unchanged: otherwise a writer could redirect a secret it
// never saw to a host of its own.
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { parseFieldPath, visitField, visitFieldPair } from '../storage/fieldpath.ts';
import { field, type FieldError } from './errors.ts';

export const secretMask = '******';

/** kubectl's client-side apply keeps the whole applied object, secrets included, in this annotation. */
const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

/** Replaces, in place, every secret value of `obj` with the mask, in kubectl's last-applied copy too. */
export function maskSecrets(obj: KubeObject, paths: string[]): void {
  const mask = (target: unknown) => {
    for (const p of paths) {
      visitField(target, parseFieldPath(p), (holder, f) => {
        if (typeof holder[f] === 'string' && holder[f] !== '') holder[f] = secretMask;
      });
    }
  };
  mask(obj);
  const annotations = obj.metadata?.annotations;
  const applied = annotations?.[lastAppliedAnnotation];
  if (annotations && applied !== undefined) {
    try {
      const copy = JSON.parse(applied) as unknown;
      mask(copy);
      annotations[lastAppliedAnnotation] = JSON.stringify(copy);
    } catch {
      // Not kubectl's JSON: there is no telling where secrets sit in it.
      annotations[lastAppliedAnnotation] = secretMask;
    }
  }
}

/**
 * Puts the stored secret back wherever `next` carries the mask, when `old` holds one at the same
 * place and the holder's `targets` fields (what says where the secret is sent, per holder path
 * like `spec.machines[]`) are unchanged. Returns a field error for every mask it cannot resolve,
 * among them every mask on create (`old` undefined): the mask is never stored as a secret.
 */
export function keepMaskedSecrets(next: KubeObject, old: KubeObject | undefined, paths: string[], targets: Record<string, string[]> = {}): FieldError[] {
  const problems: FieldError[] = [];
  for (const p of paths) {
    const steps = parseFieldPath(p);
    const holderPath = steps.slice(0, -1).join('.');
    visitFieldPair(next, old, steps, (holder, f, oldHolder) => {
      if (holder[f] !== secretMask) return;
      const stored = oldHolder?.[f];
      const sameTarget = (targets[holderPath] ?? []).every(t => isDeepStrictEqual(holder[t], oldHolder?.[t]));
      if (typeof stored === 'string' && stored !== '' && sameTarget) {
        holder[f] = stored;
        return;
      }
      problems.push(
        field.invalid(
          p,
          secretMask,
          stored === undefined || stored === ''
            ? 'a masked value stands for a stored secret, and there is none here: give the secret itself'
            : `the stored secret is kept only while ${(targets[holderPath] ?? []).join(', ')} stay the same: give the secret again`,
        ),
      );
    });
  }
  return problems;
}
