// The audit trail: one row per write and per refused request, written in batches off the
// request path (a slow audit insert must not slow requests down), read back newest first.
import type pg from 'pg';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { authGroupName } from './state.ts';

export interface AuditRecord {
  tenantID: string;
  username: string;
  groups: string[];
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  action: string;
  tkeResource: string;
  decision: 'allow' | 'deny';
  reason: string;
  code: number;
}

/** Longest text kept in an audit column: what a caller sends is bounded before it is stored. */
const maxText = 1024;
const columns = [
  'tenant_id',
  'username',
  'groups',
  'verb',
  'api_group',
  'resource',
  'subresource',
  'namespace',
  'name',
  'action',
  'tke_resource',
  'decision',
  'reason',
  'code',
];
const maxBatch = 500;
const maxQueued = 50_000;

export interface AuditRetention {
  /** Events older than this many days are dropped; 0 = no age limit. */
  maxAgeDays: number;
  /** At most this many events are kept, the newest; 0 = no count limit. */
  maxEvents: number;
}

export class AuditLog {
  private queue: AuditRecord[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: (msg: string, fields?: object) => void = () => {},
    private readonly retention: AuditRetention = { maxAgeDays: 30, maxEvents: 1_000_000 },
  ) {}

  /** Drops what the retention no longer keeps (run on a schedule, by one replica or several: it is idempotent). */
  async prune(): Promise<number> {
    let dropped = 0;
    if (this.retention.maxAgeDays > 0) {
      const r = await this.pool.query(`DELETE FROM auth_audit_events WHERE at < now() - make_interval(days => $1)`, [this.retention.maxAgeDays]);
      dropped += r.rowCount ?? 0;
    }
    if (this.retention.maxEvents > 0) {
      // ids grow with time: everything below the id of the newest maxEvents-th row goes.
      const r = await this.pool.query(`DELETE FROM auth_audit_events WHERE id < (SELECT id FROM auth_audit_events ORDER BY id DESC OFFSET $1 LIMIT 1)`, [
        this.retention.maxEvents - 1,
      ]);
      dropped += r.rowCount ?? 0;
    }
    return dropped;
  }

  record(r: AuditRecord): void {
    if (this.queue.length >= maxQueued) {
      this.log('audit queue full; dropping record', { username: r.username, verb: r.verb });
      return;
    }
    this.queue.push(r);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, 20);
  }

  /** Writes everything queued so far (tests and shutdown call it to read their own writes). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const pool = this.pool;
    this.flushing = (async () => {
      while (this.queue.length) {
        const batch = this.queue.splice(0, maxBatch);
        const params: unknown[] = [];
        const rows = batch.map(r => {
          const cut = (v: string) => (v.length > maxText ? `${v.slice(0, maxText)}…` : v);
          const values = [
            cut(r.tenantID),
            cut(r.username),
            r.groups.slice(0, 64).map(cut),
            r.verb,
            cut(r.apiGroup),
            cut(r.resource),
            cut(r.subresource),
            cut(r.namespace),
            cut(r.name),
            cut(r.action),
            cut(r.tkeResource),
            r.decision,
            cut(r.reason),
            r.code,
          ];
          const start = params.length;
          params.push(...values);
          return `(${values.map((_, i) => `$${start + i + 1}`).join(',')})`;
        });
        try {
          await pool.query(`INSERT INTO auth_audit_events (${columns.join(',')}) VALUES ${rows.join(',')}`, params);
        } catch (err) {
          this.log('audit insert failed', { error: (err as Error).message, records: batch.length });
        }
      }
    })().finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  /** Newest first; `tenant` undefined = every tenant (platform masters). */
  async read(tenant: string | undefined, limit = 500): Promise<KubeObject[]> {
    await this.flush();
    const res = await this.pool.query<Record<string, unknown>>(
      `SELECT id, at, ${columns.join(',')} FROM auth_audit_events WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id DESC LIMIT $2`,
      [tenant ?? null, limit],
    );
    return res.rows.map(r => ({
      apiVersion: `${authGroupName}/v1`,
      kind: 'AuditEvent',
      metadata: { name: `audit-${String(r.id)}`, creationTimestamp: (r.at as Date).toISOString().replace(/\.\d{3}Z$/, 'Z') },
      spec: {
        tenantID: r.tenant_id,
        username: r.username,
        groups: r.groups,
        verb: r.verb,
        apiGroup: r.api_group,
        resource: r.resource,
        subresource: r.subresource,
        namespace: r.namespace,
        name: r.name,
        action: r.action,
        tkeResource: r.tke_resource,
        decision: r.decision,
        reason: r.reason,
        code: r.code,
        time: (r.at as Date).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    }));
  }
}
