// The audit trail: one row per write and per refused request, written in batches off the
// request path (a slow audit insert must not slow requests down), read back newest first.
import type pg from 'pg';
import type { KubeObject } from '../../api/meta/v1/types.ts';
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

const columns = ['tenant_id', 'username', 'groups', 'verb', 'api_group', 'resource', 'subresource', 'namespace', 'name', 'action', 'tke_resource', 'decision', 'reason', 'code'];
const maxBatch = 500;
const maxQueued = 50_000;

export class AuditLog {
  private queue: AuditRecord[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pool: pg.Pool, private readonly log: (msg: string, fields?: object) => void = () => {}) {}

  record(r: AuditRecord): void {
    if (this.queue.length >= maxQueued) { this.log('audit queue full; dropping record', { username: r.username, verb: r.verb }); return; }
    this.queue.push(r);
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, 20);
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
          const values = [r.tenantID, r.username, r.groups, r.verb, r.apiGroup, r.resource, r.subresource, r.namespace, r.name, r.action, r.tkeResource, r.decision, r.reason, r.code];
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
    })().finally(() => { this.flushing = undefined; });
    await this.flushing;
  }

  /** Newest first; `tenant` undefined = every tenant (platform masters). */
  async read(tenant: string | undefined, limit = 500): Promise<KubeObject[]> {
    await this.flush();
    const res = await this.pool.query<Record<string, unknown>>(
      `SELECT id, at, ${columns.join(',')} FROM auth_audit_events WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id DESC LIMIT $2`,
      [tenant ?? null, limit]);
    return res.rows.map(r => ({
      apiVersion: `${authGroupName}/v1`, kind: 'AuditEvent',
      metadata: { name: `audit-${String(r.id)}`, creationTimestamp: (r.at as Date).toISOString().replace(/\.\d{3}Z$/, 'Z') },
      spec: {
        tenantID: r.tenant_id, username: r.username, groups: r.groups, verb: r.verb, apiGroup: r.api_group, resource: r.resource,
        subresource: r.subresource, namespace: r.namespace, name: r.name, action: r.action, tkeResource: r.tke_resource,
        decision: r.decision, reason: r.reason, code: r.code, time: (r.at as Date).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    }));
  }
}
