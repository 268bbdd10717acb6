// Schema migrations: numbered SQL files applied in order, each at most once per database.
// Several server replicas may start at the same moment against one database, so the whole
// run happens under a session advisory lock; whoever comes second finds the work done.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';
import { inTransaction } from './postgres/transaction.ts';

export type Logger = (msg: string, fields?: object) => void;

/** Distinct from every lock key the store uses (those use other class ids). */
const MIGRATION_LOCK_CLASS = 0x746b65; // "tke"
const MIGRATION_LOCK_KEY = 1;

export const defaultMigrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/**
 * The migrations of the storage (`defaultMigrationsDir`) and of every extra directory (an API
 * group's own tables), in one order: versions are unique across all of them.
 */
export async function loadMigrations(extraDirs: string[] = []): Promise<Migration[]> {
  const files: Array<{ dir: string; file: string }> = [];
  for (const dir of [defaultMigrationsDir, ...extraDirs]) {
    for (const file of await readdir(dir)) if (/^\d+_.*\.sql$/.test(file)) files.push({ dir, file });
  }
  const migrations: Migration[] = [];
  for (const { dir, file } of files) {
    const sql = await readFile(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number.parseInt(file, 10),
      name: file,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version === migrations[i - 1].version) {
      throw new Error(`two migrations share version ${migrations[i].version}: ${migrations[i - 1].name}, ${migrations[i].name}`);
    }
  }
  return migrations;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Applies every migration not yet recorded in `schema_migrations`, each in its own
 * transaction. Returns the names of the migrations it applied.
 */
export async function migrate(db: pg.Pool | string, opts: { dirs?: string[]; log?: Logger; progress?: Logger } = {}): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const progress = opts.progress ?? (() => {});
  const migrations = await loadMigrations(opts.dirs);
  const owned = typeof db === 'string' ? new pg.Client({ connectionString: db }) : undefined;
  const client = owned ?? (await (db as pg.Pool).connect());
  if (owned) await owned.connect();
  const applied: string[] = [];
  let broken: Error | undefined;
  try {
    // Session-level (not transaction-level) because each migration commits on its own.
    await client.query('SELECT pg_advisory_lock($1, $2)', [MIGRATION_LOCK_CLASS, MIGRATION_LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const done = new Map<number, AppliedRow>();
      for (const row of (await client.query<AppliedRow>('SELECT version, name, checksum FROM schema_migrations')).rows) {
        done.set(row.version, row);
      }
      const pending = migrations.filter(m => !done.has(m.version));
      const began = Date.now();
      if (pending.length)
        progress(`applying ${pending.length} database migration${pending.length === 1 ? '' : 's'}`, {
          from: pending[0].name,
          to: pending[pending.length - 1].name,
        });
      for (const m of migrations) {
        const prev = done.get(m.version);
        if (prev) {
          // An edited migration is never re-run: the database already holds its old effect.
          if (prev.checksum !== m.checksum) log('migration changed after it was applied', { migration: m.name, applied: prev.name });
          continue;
        }
        try {
          // On the session that holds the migration lock, one transaction per migration.
          await inTransaction(
            client,
            async () => {
              await client.query(m.sql);
              await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
            },
            {
              onRollbackError: err => {
                broken = err;
              },
            },
          );
        } catch (err) {
          throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.name);
        log('applied migration', { migration: m.name });
      }
      if (pending.length) progress(`applied ${applied.length} database migration${applied.length === 1 ? '' : 's'}`, { durationMs: Date.now() - began });
      else progress('the database schema is up to date', { migrations: migrations.length });
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [MIGRATION_LOCK_CLASS, MIGRATION_LOCK_KEY]).catch((err: Error) => {
        broken = err;
      });
    }
  } finally {
    if (owned) await owned.end().catch(() => {});
    else (client as pg.PoolClient).release(broken);
  }
  return applied;
}
