// Chart archives in PostgreSQL (migrations/030): one row per (chart group, chart, version),
// shared by every replica. Metadata is kept beside the bytes so that the index is made without
// reading any archive.
import type pg from 'pg';
import { archiveFileName, type ChartArchive, type ChartMetadata } from './archive.ts';

export interface StoredChartVersion {
  name: string;
  version: string;
  fileName: string;
  digest: string;
  size: number;
  metadata: ChartMetadata;
  createdMs: number;
}

interface Row {
  name: string;
  version: string;
  file_name: string;
  digest: string;
  size: number;
  metadata: ChartMetadata;
  created_ms: string;
}

const fromRow = (r: Row): StoredChartVersion => ({
  name: r.name,
  version: r.version,
  fileName: r.file_name,
  digest: r.digest,
  size: r.size,
  metadata: r.metadata,
  createdMs: Number(r.created_ms),
});

const columns = 'name, version, file_name, digest, size, metadata, created_ms';

export class ChartArchives {
  constructor(private readonly sql: pg.Pool) {}

  /** Stores a version; false when it exists and `replace` is not set. */
  async put(groupUID: string, chart: ChartArchive, content: Buffer, replace: boolean, createdMs = Date.now()): Promise<boolean> {
    const { name, version } = chart.metadata;
    const values = [groupUID, name, version, archiveFileName(name, version), chart.digest, chart.size, JSON.stringify(chart.metadata), content, createdMs];
    const insert = `INSERT INTO registry_chart_archives (chart_group_uid, name, version, file_name, digest, size, metadata, content, created_ms)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;
    const result = await this.sql.query(
      replace
        ? `${insert} ON CONFLICT (chart_group_uid, name, version) DO UPDATE SET file_name = EXCLUDED.file_name, digest = EXCLUDED.digest,
           size = EXCLUDED.size, metadata = EXCLUDED.metadata, content = EXCLUDED.content, created_ms = EXCLUDED.created_ms`
        : `${insert} ON CONFLICT DO NOTHING`,
      values,
    );
    return (result.rowCount ?? 0) > 0;
  }

  async list(groupUID: string, name?: string): Promise<StoredChartVersion[]> {
    const rows = await this.sql.query<Row>(
      `SELECT ${columns} FROM registry_chart_archives WHERE chart_group_uid = $1 AND ($2::text IS NULL OR name = $2) ORDER BY name, created_ms`,
      [groupUID, name ?? null],
    );
    return rows.rows.map(fromRow);
  }

  async byFileName(groupUID: string, fileName: string): Promise<(StoredChartVersion & { content: Buffer }) | undefined> {
    const rows = await this.sql.query<Row & { content: Buffer }>(
      `SELECT ${columns}, content FROM registry_chart_archives WHERE chart_group_uid = $1 AND file_name = $2`,
      [groupUID, fileName],
    );
    const row = rows.rows[0];
    return row ? { ...fromRow(row), content: row.content } : undefined;
  }

  async content(groupUID: string, name: string, version: string): Promise<Buffer | undefined> {
    const rows = await this.sql.query<{ content: Buffer }>(
      'SELECT content FROM registry_chart_archives WHERE chart_group_uid = $1 AND name = $2 AND version = $3',
      [groupUID, name, version],
    );
    return rows.rows[0]?.content;
  }

  async delete(groupUID: string, name: string, version: string): Promise<boolean> {
    const result = await this.sql.query('DELETE FROM registry_chart_archives WHERE chart_group_uid = $1 AND name = $2 AND version = $3', [
      groupUID,
      name,
      version,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * Drops archives no Chart lists any more (their chart group or Chart was deleted): `live` holds
   * every existing (chart group uid, chart name). Only rows older than `olderThanMs`, so that an
   * upload whose Chart is being written at this moment keeps its archive.
   */
  async forgetAllExcept(live: Array<{ groupUID: string; name: string }>, olderThanMs: number): Promise<number> {
    const result = await this.sql.query(
      `DELETE FROM registry_chart_archives a WHERE a.created_ms < $3 AND NOT EXISTS (
         SELECT 1 FROM unnest($1::text[], $2::text[]) AS live(uid, name) WHERE live.uid = a.chart_group_uid AND live.name = a.name)`,
      [live.map(l => l.groupUID), live.map(l => l.name), olderThanMs],
    );
    return result.rowCount ?? 0;
  }
}
