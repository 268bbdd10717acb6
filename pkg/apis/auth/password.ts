// Passwords of local identities: the manual's rules, salted scrypt hashes (node:crypto), and a
// throttle on wrong guesses per (tenant, user), shared by all replicas, so guessing one account does
// not slow others.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type pg from 'pg';

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
  const got = await new Promise<Buffer>((ok, fail) =>
    scryptCb(password, Buffer.from(salt, 'base64'), want.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: scryptParams.maxmem }, (err, key) =>
      err ? fail(err) : ok(key),
    ),
  );
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
  /** Failures from one source allowed before that source is locked out for the user (default 5). */
  freeFailures?: number;
  /** Failures from sources the user never logged in from, together, before they are all locked out (default 50). */
  accountFreeFailures?: number;
  /** First lock-out; doubles with every further failure up to maxDelayMs (default 1 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Failures older than this are forgotten (default 1 h). */
  windowMs?: number;
  /** A source the user logged in from within this time is familiar (default 30 days). */
  familiarMs?: number;
  now?: () => number;
}

/** The row counting the guesses of all unfamiliar sources of an account. */
const anySource = '*';
/** Longest user name and source a login may name: checked before anything is written. */
export const maxLoginNameLength = 256;

/**
 * Lock-out after repeated wrong passwords, per (tenant, user, source): exponential, bounded,
 * reset by a success, forgotten after a quiet window. Guesses from one address lock out that
 * address only, so nobody can lock a user out of the machines the user logs in from. Guesses
 * from addresses the user has never logged in from also count together, with a higher allowance,
 * against a distributed attack; familiar addresses are never held to that count.
 *
 * The counts live in PostgreSQL so every replica sees the same ones. An attempt is counted as a
 * failure before the password is even checked (and forgiven by success()): parallel guesses
 * cannot all slip through before the first is counted.
 */
export class PasswordThrottle {
  private readonly free: number;
  private readonly accountFree: number;
  private readonly base: number;
  private readonly max: number;
  private readonly window: number;
  private readonly familiar: number;
  private readonly now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    opts: ThrottleOptions = {},
  ) {
    this.free = opts.freeFailures ?? 5;
    this.accountFree = opts.accountFreeFailures ?? 50;
    this.base = opts.baseDelayMs ?? 1000;
    this.max = opts.maxDelayMs ?? 15 * 60_000;
    this.window = opts.windowMs ?? 3_600_000;
    this.familiar = opts.familiarMs ?? 30 * 24 * 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Reserves one attempt: 0 when the password may be checked now (the attempt already counts as
   * a failure), else the seconds to wait.
   */
  async attempt(tenant: string, username: string, source: string): Promise<number> {
    const now = this.now();
    const wait = await this.reserve(tenant, username, source, this.free, now);
    if (wait > 0) return wait;
    const seen = await this.pool.query<{ last_success_ms: string }>(
      'SELECT last_success_ms FROM auth_login_failures WHERE tenant_id = $1 AND username = $2 AND source = $3',
      [tenant, username, source],
    );
    const lastSuccess = Number(seen.rows[0]?.last_success_ms ?? 0);
    if (lastSuccess > 0 && lastSuccess >= now - this.familiar) return 0;
    return this.reserve(tenant, username, anySource, this.accountFree, now);
  }

  private async reserve(tenant: string, username: string, source: string, free: number, now: number): Promise<number> {
    await this.pool.query('INSERT INTO auth_login_failures (tenant_id, username, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
      tenant,
      username,
      source,
    ]);
    // The row lock serializes concurrent attempts, and PostgreSQL re-checks the WHERE clause
    // against the row a concurrent attempt just locked: only one can take the last free try.
    const counted = await this.pool.query(
      `UPDATE auth_login_failures SET
         failures = (CASE WHEN updated_ms < $4 - $8 THEN 0 ELSE failures END) + 1,
         locked_until_ms = CASE WHEN (CASE WHEN updated_ms < $4 - $8 THEN 0 ELSE failures END) + 1 >= $5
           THEN $4 + least($7::float8, $6 * power(2, least(30, (CASE WHEN updated_ms < $4 - $8 THEN 0 ELSE failures END) + 1 - $5)))::bigint
           ELSE 0 END,
         updated_ms = $4
       WHERE tenant_id = $1 AND username = $2 AND source = $3 AND locked_until_ms <= $4`,
      [tenant, username, source, now, free, this.base, this.max, this.window],
    );
    if (counted.rowCount) return 0;
    const locked = await this.pool.query<{ locked_until_ms: string }>(
      'SELECT locked_until_ms FROM auth_login_failures WHERE tenant_id = $1 AND username = $2 AND source = $3',
      [tenant, username, source],
    );
    const wait = Number(locked.rows[0]?.locked_until_ms ?? 0) - now;
    return wait > 0 ? Math.ceil(wait / 1000) : 1;
  }

  /** The password was right: this source's failures are forgiven and the source becomes familiar. */
  async success(tenant: string, username: string, source: string): Promise<void> {
    await this.pool.query(
      `UPDATE auth_login_failures SET failures = 0, locked_until_ms = 0, updated_ms = $4, last_success_ms = $4
       WHERE tenant_id = $1 AND username = $2 AND source = $3`,
      [tenant, username, source, this.now()],
    );
  }

  /** The attempt could not be checked (the directory was down): it does not count against the source. */
  async release(tenant: string, username: string, source: string): Promise<void> {
    await this.pool.query('UPDATE auth_login_failures SET failures = greatest(failures - 1, 0) WHERE tenant_id = $1 AND username = $2 AND source = $3', [
      tenant,
      username,
      source,
    ]);
  }

  /** Drops counts nobody has added to within the window, that lock nothing and that make no source familiar. */
  async forgetStale(): Promise<void> {
    const now = this.now();
    await this.pool.query('DELETE FROM auth_login_failures WHERE updated_ms < $1 AND locked_until_ms < $2 AND (last_success_ms = 0 OR last_success_ms < $3)', [
      now - this.window,
      now,
      now - this.familiar,
    ]);
  }
}
