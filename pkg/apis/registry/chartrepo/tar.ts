// A reader of tar archives held in memory (ustar, with the pax and GNU long-name extensions that
// `helm package` and GNU tar write). Every length comes from the archive, so every one is checked
// against the buffer before it is used: a hostile archive yields an error, never a bad read.

export interface TarEntry {
  /** The entry's path as stored (pax or GNU long name when present). */
  path: string;
  /** '0' regular file, '5' directory, others as tar defines them. */
  type: string;
  data: Buffer;
}

export class TarError extends Error {}

const block = 512;

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function numberField(buf: Buffer, start: number, length: number): number {
  const field = buf.subarray(start, start + length);
  // GNU base-256: the high bit of the first byte set. Sizes that large are refused anyway.
  if (field[0] & 0x80) throw new TarError('tar entry too large');
  const text = cString(buf, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError('tar header has a malformed number');
  return parseInt(text, 8);
}

function checksumOK(header: Buffer): boolean {
  const stored = numberField(header, 148, 8);
  let sum = 0;
  for (let i = 0; i < block; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum === stored;
}

/** pax extended header records: "<length> <key>=<value>\n". */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number(data.subarray(at, space).toString('ascii'));
    if (!Number.isInteger(length) || length <= space - at || at + length > data.length) throw new TarError('malformed pax header');
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  while (offset + block <= archive.length) {
    const header = archive.subarray(offset, offset + block);
    if (header.every(b => b === 0)) break;
    if (!checksumOK(header)) throw new TarError('not a tar archive (bad header checksum)');
    const size = numberField(header, 124, 12);
    const type = String.fromCharCode(header[156] || 0x30);
    const start = offset + block;
    if (start + size > archive.length) throw new TarError('tar archive is truncated');
    const data = archive.subarray(start, start + size);
    offset = start + Math.ceil(size / block) * block;
    if (type === 'x') {
      pax = paxRecords(data);
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L') {
      longName = cString(data, 0, data.length);
      continue;
    }
    const magic = cString(header, 257, 6);
    const prefix = magic.startsWith('ustar') ? cString(header, 345, 155) : '';
    const name = cString(header, 0, 100);
    const path = pax.path ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    entries.push({ path, type: type === '\0' ? '0' : type, data });
    longName = undefined;
    pax = {};
  }
  return entries;
}
