// What a chart archive (.tgz) holds, read the way Helm's loader reads it: one top-level
// directory with a Chart.yaml naming the chart and its SemVer version. The archive comes from
// whoever uploads or from a remote repository, so it is unpacked in memory under a size cap and
// any entry that would escape the chart's directory makes the whole archive invalid.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import YAML from 'yaml';
import { readTar, TarError } from './tar.ts';

/** Largest archive accepted (upload or import). */
export const maxArchiveBytes = 10 * 1024 * 1024;
/** Largest unpacked size: charts are text, so a far larger ratio means a decompression bomb. */
const maxUnpackedBytes = 64 * 1024 * 1024;
/** Files of the chart shown by charts/version (values, README, other text files), in total. */
const maxShownBytes = 1024 * 1024;

export class ChartArchiveError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface ChartMetadata {
  name: string;
  version: string;
  apiVersion?: string;
  appVersion?: string;
  description?: string;
  icon?: string;
  [field: string]: unknown;
}

export interface ChartArchive {
  metadata: ChartMetadata;
  /** sha256 of the archive bytes, as a Helm index's `digest`. */
  digest: string;
  size: number;
  /** The chart's files by path below its directory (Chart.yaml, values.yaml, templates/...). */
  files: Map<string, Buffer>;
}

// Helm: chart names are lower-case letters, digits and dashes; older charts use dots and
// underscores too. Nothing that could act as a path.
const chartNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
// SemVer 2, with the leading "v" Helm tolerates.
const semverPattern = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export const isChartName = (s: string) => chartNamePattern.test(s) && s !== '.' && s !== '..';
export const isChartVersion = (s: string) => semverPattern.test(s) && s.length <= 128;

/** The archive's file name in a repository: `<name>-<version>.tgz`. */
export const archiveFileName = (name: string, version: string) => `${name}-${version}.tgz`;

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function unzip(archive: Buffer): Buffer {
  try {
    return gunzipSync(archive, { maxOutputLength: maxUnpackedBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new ChartArchiveError(`chart archive unpacks to more than ${maxUnpackedBytes} bytes`, 413);
    }
    throw new ChartArchiveError('chart archive is not gzip data: a chart is uploaded as the .tgz `helm package` makes');
  }
}

/** A path inside the archive, or an error when it is absolute or climbs out. */
function safePath(path: string): string[] {
  const parts = path.split('/').filter(p => p !== '' && p !== '.');
  if (path.startsWith('/') || path.includes('\\') || path.includes('\0') || parts.some(p => p === '..') || parts.length === 0) {
    throw new ChartArchiveError(`chart archive has an unsafe file name ${JSON.stringify(path.slice(0, 200))}`);
  }
  return parts;
}

export function readChartArchive(archive: Buffer): ChartArchive {
  if (archive.length === 0) throw new ChartArchiveError('no chart archive in the request');
  if (archive.length > maxArchiveBytes) throw new ChartArchiveError(`chart archive is larger than ${maxArchiveBytes} bytes`, 413);
  let entries: ReturnType<typeof readTar>;
  try {
    entries = readTar(unzip(archive));
  } catch (err) {
    if (err instanceof TarError) throw new ChartArchiveError(`chart archive is not a valid tar.gz: ${err.message}`);
    throw err;
  }
  const files = new Map<string, Buffer>();
  let top: string | undefined;
  for (const e of entries) {
    const parts = safePath(e.path);
    if (e.type === '1' || e.type === '2')
      throw new ChartArchiveError(`chart archive holds a link ${JSON.stringify(e.path.slice(0, 200))}: charts hold files only`);
    if (e.type !== '0' && e.type !== '7') continue;
    top ??= parts[0];
    if (parts[0] !== top) throw new ChartArchiveError('chart archive must hold exactly one top-level chart directory');
    if (parts.length > 1) files.set(parts.slice(1).join('/'), e.data);
  }
  const chartYAML = files.get('Chart.yaml');
  if (!chartYAML) throw new ChartArchiveError('not a chart: the archive has no Chart.yaml in its top-level directory');
  let doc: unknown;
  try {
    doc = YAML.parse(chartYAML.toString('utf8'), { maxAliasCount: 100 });
  } catch {
    throw new ChartArchiveError('not a chart: Chart.yaml is not valid YAML');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ChartArchiveError('not a chart: Chart.yaml is not a mapping');
  const metadata = doc as Record<string, unknown>;
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  const version = typeof metadata.version === 'string' || typeof metadata.version === 'number' ? String(metadata.version) : '';
  if (!isChartName(name))
    throw new ChartArchiveError(`not a chart: Chart.yaml name ${JSON.stringify(name.slice(0, 100))} must be letters, digits, '-', '.' or '_'`);
  if (!isChartVersion(version))
    throw new ChartArchiveError(`not a chart: Chart.yaml version ${JSON.stringify(version.slice(0, 100))} is not a SemVer 2 version`);
  for (const field of ['appVersion', 'description', 'icon', 'apiVersion'] as const) {
    if (metadata[field] !== undefined && typeof metadata[field] !== 'string') metadata[field] = String(metadata[field]);
  }
  return { metadata: { ...metadata, name, version } as ChartMetadata, digest: sha256(archive), size: archive.length, files };
}

/** TKE's ChartInfo spec: values.yaml, the README and the chart's other text files, bounded in size. */
export function chartInfoFiles(chart: ChartArchive): { values: string; readme: string; rawFiles: Record<string, string> } {
  const rawFiles: Record<string, string> = {};
  let budget = maxShownBytes;
  for (const [path, data] of [...chart.files.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (data.length > budget || data.includes(0)) continue;
    rawFiles[path] = data.toString('utf8');
    budget -= data.length;
  }
  const readme = [...chart.files.keys()].find(p => /^readme(\.md|\.txt)?$/i.test(p));
  return { values: chart.files.get('values.yaml')?.toString('utf8') ?? '', readme: readme ? chart.files.get(readme)!.toString('utf8') : '', rawFiles };
}
