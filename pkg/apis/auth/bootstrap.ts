// The bootstrap admin: a random bearer token made at first start, kept in <data-dir>/admin.token
// and known to the database only by its SHA-256, so a database dump does not hand out admin.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { LRUCache } from 'lru-cache';
import type { UserInfo } from '../../rest/resource.ts';
import type { TokenAuthenticator } from '../../server/authn.ts';
import { mapError } from '../../storage/postgres.ts';

export const BOOTSTRAP_ADMIN_USERNAME = 'admin';
export const BOOTSTRAP_ADMIN_GROUPS = ['system:masters', 'system:authenticated'];
export const ADMIN_TOKEN_FILE = 'admin.token';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Returns the admin token of this data dir, creating it (0600) at first start, and makes sure
 * the database accepts it. Idempotent; safe for several processes on one database.
 */
export async function ensureBootstrapAdmin(pool: pg.Pool, dataDir: string): Promise<{ token: string }> {
  const token = await readOrCreateToken(path.join(dataDir, ADMIN_TOKEN_FILE));
  // Insert-if-absent rather than replace: other data dirs' tokens on this database stay valid.
  await pool.query(
    `INSERT INTO bootstrap_tokens (token_sha256, username, groups) VALUES ($1, $2, $3)
     ON CONFLICT (token_sha256) DO NOTHING`,
    [hashToken(token), BOOTSTRAP_ADMIN_USERNAME, BOOTSTRAP_ADMIN_GROUPS],
  );
  return { token };
}

async function readOrCreateToken(file: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await readTokenFile(file);
    if (existing) return existing;
    const token = randomBytes(32).toString('base64url');
    try {
      // Exclusive create: if another process got there first, we read and use its token.
      const fh = await open(file, existing === '' ? 'w' : 'wx', 0o600);
      try {
        await fh.writeFile(token + '\n', 'utf8');
      } finally {
        await fh.close();
      }
      return token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`could not read or create ${file}`);
}

/** undefined = no file; '' = an empty file (overwritten with a fresh token). */
async function readTokenFile(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // An operator may have copied the file in with looser permissions; it is a credential.
  await chmod(file, 0o600).catch(() => {});
  return text.trim();
}

export interface BootstrapTokenAuthenticatorOptions {
  /** How long a valid token is remembered (default 10 s). */
  ttlMs?: number;
  /** How long an unknown token is remembered, sparing the database from retries (default 2 s). */
  negativeTtlMs?: number;
  /** Cache size bound, so a flood of random tokens cannot grow memory (default 10000). */
  maxEntries?: number;
}

interface TokenRow {
  token_sha256: string;
  username: string;
  groups: string[] | null;
}

/** Accepts any token recorded in bootstrap_tokens (by any server sharing this database). */
export function bootstrapTokenAuthenticator(pool: pg.Pool, opts: BootstrapTokenAuthenticatorOptions = {}): TokenAuthenticator {
  const ttl = opts.ttlMs ?? 10_000;
  const negativeTtl = opts.negativeTtlMs ?? 2_000;
  // Keyed by the token's SHA-256: the token itself is never held. Concurrent lookups of one token
  // share one query (lru-cache's fetch), and an unknown token is remembered briefly too. A failed
  // query is not cached: whether the token is valid is then unknown, and the client is to retry
  // (503 with Retry-After, from a StorageError 'Unavailable'), not to be told its token is wrong.
  const cache = new LRUCache<string, { user?: UserInfo }>({
    max: opts.maxEntries ?? 10_000,
    ttl,
    fetchMethod: async (key, _stale, { options }) => {
      let res: pg.QueryResult<TokenRow>;
      try {
        res = await pool.query<TokenRow>('SELECT token_sha256, username, groups FROM bootstrap_tokens WHERE token_sha256 = $1', [key]);
      } catch (err) {
        throw mapError(err);
      }
      const row = res.rows[0];
      const user =
        row && timingSafeEqual(Buffer.from(row.token_sha256, 'hex'), Buffer.from(key, 'hex'))
          ? { username: row.username, groups: [...(row.groups ?? [])] }
          : undefined;
      if (!user) options.ttl = negativeTtl;
      return { user };
    },
  });

  return {
    async authenticateToken(token: string): Promise<UserInfo | undefined> {
      if (!token) return undefined;
      const key = createHash('sha256').update(token, 'utf8').digest('hex');
      const user = (await cache.fetch(key))?.user;
      return user ? { ...user, groups: [...user.groups] } : undefined;
    },
  };
}
