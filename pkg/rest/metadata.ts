// The forms of metav1 values the store writes and reads: timestamps and resource versions.
import { errors } from './errors.ts';

export function parseRevision(rv: string): bigint {
  if (!/^\d{1,19}$/.test(rv)) throw errors.badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
  return BigInt(rv);
}

export function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}
