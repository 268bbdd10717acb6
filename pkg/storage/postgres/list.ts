// Lists: pages of a prefix read at one revision, from the objects table when nothing under the
// prefix changed since, else reconstructed from the change log; continue tokens carry that
// revision from page to page.
import type pg from 'pg';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { StorageError, type KeyPrefix, type ListOptions, type ListResult } from '../interface.ts';
import type { ObjectCodec } from './codec.ts';
import type { ObjRow } from './sql.ts';

// ---------------------------------------------------------------------------------------------
// Continue tokens

interface ContinueToken {
  v: 1;
  /** The revision of the first page, decimal. */
  rv: string;
  /** group, resource, namespace of the prefix the list was made for. */
  p: [string, string, string];
  /** The last key returned: namespace, name. */
  k: [string, string];
}

export function encodeContinue(prefix: KeyPrefix, rv: bigint, last: [string, string]): string {
  const t: ContinueToken = { v: 1, rv: rv.toString(), p: [prefix.group, prefix.resource, prefix.namespace ?? ''], k: last };
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function isStringPair(v: unknown): v is [string, string] {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string';
}

export function decodeContinue(token: string, prefix: KeyPrefix): { rv: bigint; after: [string, string] } {
  const invalid = (why: string) => new StorageError('InvalidContinue', `invalid continue token: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not base64-encoded JSON');
  }
  if (!parsed || typeof parsed !== 'object') throw invalid('not an object');
  const t = parsed as Partial<Record<keyof ContinueToken, unknown>>;
  if (t.v !== 1 || typeof t.rv !== 'string' || !/^\d{1,19}$/.test(t.rv)) throw invalid('bad version or revision');
  if (!Array.isArray(t.p) || t.p.length !== 3 || !isStringPair(t.k)) throw invalid('bad key');
  // Key strings go into SQL parameters: ones PostgreSQL cannot hold would fail the query instead.
  if (t.k.some(s => s.length > 1024 || s.includes('\0') || !(s as unknown as { isWellFormed(): boolean }).isWellFormed())) throw invalid('bad key');
  if (t.p[0] !== prefix.group || t.p[1] !== prefix.resource || t.p[2] !== (prefix.namespace ?? '')) {
    throw invalid('it belongs to another list');
  }
  return { rv: BigInt(t.rv), after: t.k };
}

// ---------------------------------------------------------------------------------------------
// One page

export interface PageRequest {
  prefix: KeyPrefix;
  opts: ListOptions;
  /** The revision to read at; undefined = the newest. */
  wanted: bigint | undefined;
  /** The last key of the previous page. */
  start: [string, string] | undefined;
}

/**
 * Reads one page on `client`, which must be in a REPEATABLE READ transaction: every query of the
 * page (there may be several chunks) then reads one snapshot. Returns the current revision
 * instead of a page when `wanted` lies in the future.
 */
export async function readPage(client: pg.PoolClient, codec: ObjectCodec, req: PageRequest, noteCompacted: (rv: bigint) => void): Promise<ListResult | bigint> {
  const { prefix, opts, wanted, start } = req;
  const limit = opts.limit && opts.limit > 0 ? Math.floor(opts.limit) : 0;
  const st = (await client.query<{ current: string; compacted: string }>('SELECT r.rv::text AS current, c.rv::text AS compacted FROM revision r, compaction c'))
    .rows[0];
  const current = BigInt(st.current);
  const compacted = BigInt(st.compacted);
  noteCompacted(compacted);
  const rv = wanted ?? current;
  if (rv > current) return current;
  if (rv < compacted) {
    throw new StorageError('Expired', `too old resource version: ${rv} (compacted to ${compacted})`);
  }

  const base: string[] = [prefix.group, prefix.resource];
  let where = 'grp = $1 AND resource = $2';
  if (prefix.namespace) {
    base.push(prefix.namespace);
    where += ` AND namespace = $${base.length}`;
  }

  // The current table is the state at rv exactly when nothing in this prefix changed since.
  let fromObjects = rv >= current;
  if (!fromObjects) {
    const changed = await client.query(`SELECT 1 FROM changes WHERE ${where} AND rv > $${base.length + 1} LIMIT 1`, [...base, rv.toString()]);
    fromObjects = changed.rowCount === 0;
  }

  /**
   * Reads the state at rv of the keys after `after`, at most n of them. `bound` is set when
   * more keys may follow the chunk: the next chunk starts after it.
   */
  const fetchChunk = async (after: [string, string] | undefined, n: number): Promise<{ rows: ObjRow[]; bound?: [string, string] }> => {
    const params: string[] = [...base];
    let cond = where;
    if (after) {
      params.push(after[0], after[1]);
      cond += ` AND (namespace, name) > ($${params.length - 1}, $${params.length})`;
    }
    const lim = n > 0 ? `LIMIT ${n}` : '';
    if (fromObjects) {
      const rows = (await client.query<ObjRow>(`SELECT namespace, name, obj FROM objects WHERE ${cond} ORDER BY namespace, name ${lim}`, params)).rows;
      return { rows, bound: n > 0 && rows.length === n ? [rows[n - 1].namespace, rows[n - 1].name] : undefined };
    }
    // A row of `objects` at or below rv has not been written since, so it is its state at
    // rv. Every other key was written after rv (updated, deleted or created): its state at
    // rv is its newest change at or below rv, unless that is a deletion or there is none.
    // Every key that existed at rv is still in `objects` or was deleted after rv, so the
    // n-th of those keys bounds the chunk: only the keys written after rv inside that
    // range touch the change log, however much else changed since.
    params.push(rv.toString());
    const rvParam = `$${params.length}`;
    let bound: [string, string] | undefined;
    if (n > 0) {
      const row = (
        await client.query<{ namespace: string; name: string }>(
          `SELECT namespace, name FROM (
           (SELECT namespace, name FROM objects WHERE ${cond} ORDER BY namespace, name LIMIT ${n})
           UNION
           (SELECT DISTINCT namespace, name FROM changes WHERE ${cond} AND rv > ${rvParam} AND type = 'DELETED' ORDER BY namespace, name LIMIT ${n})
         ) k ORDER BY namespace, name OFFSET ${n - 1} LIMIT 1`,
          params,
        )
      ).rows[0];
      if (row) {
        bound = [row.namespace, row.name];
        params.push(row.namespace, row.name);
        cond += ` AND (namespace, name) <= ($${params.length - 1}, $${params.length})`;
      }
    }
    const rows = (
      await client.query<ObjRow>(
        `SELECT namespace, name, obj FROM (
         SELECT namespace, name, obj FROM objects WHERE ${cond} AND rv <= ${rvParam}
         UNION ALL
         SELECT k.namespace, k.name, s.obj
         FROM (SELECT DISTINCT namespace, name FROM changes WHERE ${cond} AND rv > ${rvParam}) k
         CROSS JOIN LATERAL (
           -- The newest change of the key at or below rv, as one backward step of the
           -- (grp, resource, namespace, name, rv) index: written as a row comparison so no
           -- other index can serve it (with stale statistics the planner would otherwise
           -- walk the per-resource index backwards through every later change, per key).
           SELECT c.grp, c.resource, c.namespace, c.name, c.type, c.obj FROM changes c
           WHERE (c.grp, c.resource, c.namespace, c.name, c.rv) <= ($1, $2, k.namespace, k.name, ${rvParam}::bigint)
           ORDER BY c.grp DESC, c.resource DESC, c.namespace DESC, c.name DESC, c.rv DESC LIMIT 1
         ) s
         -- A key created after rv has no such change: the step lands on an earlier key.
         WHERE s.grp = $1 AND s.resource = $2 AND s.namespace = k.namespace AND s.name = k.name AND s.type <> 'DELETED'
       ) u ORDER BY namespace, name`,
        params,
      )
    ).rows;
    return { rows, bound };
  };

  const items: KubeObject[] = [];
  let after = start;
  let lastReturned: [string, string] | undefined;
  let more = false;
  // A chunk is every row read at once, before the filter: a page of 10 big objects must not
  // read 100 of them. A chunk that was not enough means a sparse filter: the next is larger.
  let chunk = limit ? Math.min(limit + 1, 5000) : 0;
  scan: for (;;) {
    const { rows, bound } = await fetchChunk(after, chunk);
    if (chunk) chunk = Math.min(chunk * 2, 5000);
    for (const row of rows) {
      after = [row.namespace, row.name];
      const obj = codec.decode(prefix, row.obj);
      if (opts.filter && !opts.filter(obj)) continue;
      if (limit && items.length >= limit) {
        more = true;
        break scan;
      }
      items.push(obj);
      lastReturned = after;
    }
    if (!bound) break;
    after = bound;
    if (items.length >= limit) {
      // Keys remain but none of them was examined: the next page may turn out empty,
      // which clients handle, and it bounds the work a sparse filter can cause here.
      more = true;
      break;
    }
  }

  const result: ListResult = { items, rv };
  if (more && lastReturned) {
    result.continue = encodeContinue(prefix, rv, lastReturned);
    if (!opts.filter && fromObjects) {
      const c = await client.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM objects WHERE ${where} AND (namespace, name) > ($${base.length + 1}, $${base.length + 2})`,
        [...base, lastReturned[0], lastReturned[1]],
      );
      result.remainingItemCount = Number(c.rows[0].n);
    }
  }
  return result;
}
