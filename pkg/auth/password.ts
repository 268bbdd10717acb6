// Passwords of local identities: the manual's rules, salted scrypt hashes (node:crypto), and a
// throttle on wrong guesses per (tenant, user) so guessing one account does not slow others.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scryptParams: ScryptOptions = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const keyLength = 32;
const prefix = 'scrypt';

function scrypt(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((ok, fail) => scryptCb(password, salt, keyLength, scryptParams, (err, key) => (err ? fail(err) : ok(key))));
}

/** `scrypt$N$r$p$salt$hash`, base64 parts: self-describing so parameters can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt);
  return [prefix, scryptParams.N, scryptParams.r, scryptParams.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parts = (stored ?? '').split('$');
  if (parts.length !== 6 || parts[0] !== prefix) {
    // Still spend the time a real check takes, so an unknown user is not told apart by speed.
    await scrypt(password, Buffer.alloc(16));
    return false;
  }
  const [, n, r, p, salt, hash] = parts;
  const want = Buffer.from(hash, 'base64');
  const got = await new Promise<Buffer>((ok, fail) => scryptCb(password, Buffer.from(salt, 'base64'), want.length,
    { N: Number(n), r: Number(r), p: Number(p), maxmem: scryptParams.maxmem }, (err, key) => (err ? fail(err) : ok(key))));
  return got.length === want.length && timingSafeEqual(got, want);
}

export function isHashed(value: string | undefined): boolean {
  return !!value && value.startsWith(`${prefix}$`);
}

/**
 * TKE clients send passwords base64-encoded. A value that is not strict base64 of printable
 * text is taken as the password itself, so hand-written requests work too.
 */
export function decodePassword(value: string): string {
  if (/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value) && value.length >= 4) {
    const text = Buffer.from(value, 'base64').toString('utf8');
    if (/^[\x21-\x7e]+$/.test(text) && Buffer.from(text, 'utf8').toString('base64') === value) return text;
  }
  return value;
}

/** Manual 4.2.6.2: 3-32 characters, lower-case letters, digits and '-', starting and ending with a letter or digit. */
export function validateUsername(name: string): string | undefined {
  if (name.length < 3 || name.length > 32) return 'must be 3 to 32 characters long';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) return 'must consist of lower case letters, digits and "-", and start and end with a letter or digit';
  return undefined;
}

/** Manual 4.2.6.2: 10-16 characters including upper-case and lower-case letters and digits. */
export function validatePassword(password: string): string | undefined {
  if (password.length < 10 || password.length > 16) return 'must be 10 to 16 characters long';
  if (!/[A-Z]/.test(password) || !/[a-z]/.test(password) || !/[0-9]/.test(password)) return 'must contain upper-case and lower-case letters and digits';
  return undefined;
}

export interface ThrottleOptions {
  /** Failures allowed before the account is locked out (default 5). */
  freeFailures?: number;
  /** First lock-out; doubles with every further failure up to maxDelayMs (default 1 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxEntries?: number;
  now?: () => number;
}

interface Entry { failures: number; lockedUntil: number; touched: number }

/**
 * Per-(tenant, user) lock-out after repeated wrong passwords: exponential, bounded, reset by a
 * success. Kept per process, so each replica throttles what it sees.
 */
export class PasswordThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly free: number;
  private readonly base: number;
  private readonly max: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: ThrottleOptions = {}) {
    this.free = opts.freeFailures ?? 5;
    this.base = opts.baseDelayMs ?? 1000;
    this.max = opts.maxDelayMs ?? 15 * 60_000;
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  private key(tenant: string, username: string): string {
    return `${tenant}\u0000${username}`;
  }

  /** Seconds the caller must wait before another attempt, or 0. */
  retryAfter(tenant: string, username: string): number {
    const e = this.entries.get(this.key(tenant, username));
    if (!e) return 0;
    const wait = e.lockedUntil - this.now();
    return wait > 0 ? Math.ceil(wait / 1000) : 0;
  }

  failure(tenant: string, username: string): void {
    const k = this.key(tenant, username);
    const now = this.now();
    const e = this.entries.get(k) ?? { failures: 0, lockedUntil: 0, touched: now };
    e.failures++;
    e.touched = now;
    if (e.failures >= this.free) e.lockedUntil = now + Math.min(this.max, this.base * 2 ** (e.failures - this.free));
    this.entries.delete(k);
    this.entries.set(k, e);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  success(tenant: string, username: string): void {
    this.entries.delete(this.key(tenant, username));
  }
}
