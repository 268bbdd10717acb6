// The Helm repository index (index.yaml) of a chart group, made from its stored versions the
// way chartmuseum makes it: every Chart.yaml field, plus the archive's digest, its URL relative
// to the repository, and when it was stored; each chart's versions newest first.
import YAML from 'yaml';
import type { StoredChartVersion } from './archives.ts';

type Version = [number, number, number, string];

function parseVersion(v: string): Version {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([^+]*))?/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] ?? ''] : [0, 0, 0, v];
}

/** SemVer precedence, greatest first (a pre-release sorts below its release). */
export function newestFirst(a: string, b: string): number {
  const [x, y] = [parseVersion(a), parseVersion(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (y[i] as number) - (x[i] as number);
  if (x[3] === y[3]) return 0;
  if (!x[3]) return -1;
  if (!y[3]) return 1;
  return y[3].localeCompare(x[3], 'en', { numeric: true });
}

const rfc3339 = (ms: number) => new Date(ms).toISOString();

export function indexDocument(versions: StoredChartVersion[], generatedMs = Date.now()): string {
  const entries: Record<string, unknown[]> = {};
  const byName = new Map<string, StoredChartVersion[]>();
  for (const v of versions) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
  for (const name of [...byName.keys()].sort()) {
    entries[name] = byName
      .get(name)!
      .sort((a, b) => newestFirst(a.version, b.version))
      .map(v => ({
        ...v.metadata,
        name: v.name,
        version: v.version,
        digest: v.digest,
        urls: [`charts/${v.fileName}`],
        created: rfc3339(v.createdMs),
      }));
  }
  return YAML.stringify({ apiVersion: 'v1', entries, generated: rfc3339(generatedMs), serverInfo: {} }, { lineWidth: 0, aliasDuplicateObjects: false });
}
