// Content negotiation: which media type a client asked for (JSON, YAML, Table,
// aggregated discovery) and how a request body is decoded.
import { isMap, isScalar, isSeq, parse as parseYaml, parseDocument, stringify as stringifyYaml } from 'yaml';
import { errors, type StatusError } from '../rest/errors.ts';

export interface MediaRange {
  type: string;
  params: Record<string, string>;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*/*', params: {} }];
  return header
    .split(',')
    .map(part => {
      const [type, ...rawParams] = part.trim().split(';');
      const params: Record<string, string> = {};
      for (const p of rawParams) {
        const eq = p.indexOf('=');
        if (eq > 0)
          params[p.slice(0, eq).trim()] = p
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, '');
      }
      return { type: type.trim().toLowerCase(), params };
    })
    .filter(r => r.type);
}

export type Encoding = 'json' | 'yaml';

export interface Negotiated {
  encoding: Encoding;
  /** Set when the client asked for a server-side transformation, e.g. Table or PartialObjectMetadata. */
  as?: string;
  contentType: string;
}

/**
 * Picks the first acceptable media range. `conversions` lists the `as=` targets this
 * endpoint can produce (group/version/kind of the transformed object).
 */
export function negotiate(accept: string | undefined, conversions: Array<{ as: string; g: string; v: string }> = []): Negotiated {
  for (const r of parseAccept(accept)) {
    const encoding: Encoding | undefined =
      r.type === 'application/json' || r.type === 'application/*' || r.type === '*/*' ? 'json' : r.type === 'application/yaml' ? 'yaml' : undefined;
    if (!encoding) continue;
    if (r.params.as) {
      const match = conversions.find(c => c.as === r.params.as && c.g === r.params.g && c.v === r.params.v);
      if (!match) continue;
      return { encoding, as: match.as, contentType: `application/${encoding};as=${match.as};g=${match.g};v=${match.v}` };
    }
    return { encoding, contentType: encoding === 'yaml' ? 'application/yaml' : 'application/json' };
  }
  throw errors.notAcceptable(
    `only the following media types are accepted: application/json, application/yaml${conversions.map(c => `, application/json;as=${c.as};v=${c.v};g=${c.g}`).join('')}`,
  );
}

export function encode(value: unknown, encoding: Encoding): string {
  // Cached objects share equal parts (storage/watchcache/share.ts): written out as JSON would,
  // not as YAML anchors and aliases, which clients bound (and Kubernetes never sends).
  return encoding === 'yaml' ? stringifyYaml(value, { aliasDuplicateObjects: false }) : JSON.stringify(value);
}

/** Decodes a create/update body: JSON or YAML by Content-Type. */
export function decodeBody(contentType: string | undefined, body: Buffer, opts: { rejectDuplicateKeys?: boolean } = {}): unknown {
  const type = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  if (type === 'application/json' || type === '') {
    const text = decodeText(body);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw errors.badRequest(`error decoding JSON: ${(err as Error).message}`);
    }
    // JSON.parse keeps the last of two equal keys; fieldValidation=Strict must refuse them instead.
    if (opts.rejectDuplicateKeys) {
      const dup = firstDuplicateKey(parseDocument(text, { uniqueKeys: false }).contents, '');
      if (dup) throw errors.badRequest(`strict decoding error: json: duplicate field "${dup}"`);
    }
    checkDecoded(value);
    return value;
  }
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') {
    const text = decodeText(body);
    let value: unknown;
    try {
      value = parseYaml(text, { strict: true, uniqueKeys: true });
    } catch (err) {
      throw errors.badRequest(`error decoding YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    checkDecoded(value);
    return value;
  }
  throw errors.unsupportedMediaType(type);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A body as text. Invalid UTF-8 is refused rather than replaced with U+FFFD, so what is stored
 * is what the client sent.
 */
export function decodeText(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw errors.badRequest('the request body is not valid UTF-8');
  }
}

/**
 * Checks a patch body before it is applied: the same string rules as decodeBody. Only the
 * strings matter here; a body that does not parse is left for the patch code to report.
 */
export function checkPatchText(patchType: string, text: string): void {
  // Without an escape, a NUL or a lone surrogate can only be in the text itself.
  if (!text.includes('\\')) {
    if (text.includes('\0') || !isWellFormed(text)) checkDecoded(text);
    return;
  }
  let value: unknown;
  try {
    value = patchType === 'application/apply-patch+yaml' ? parseYaml(text, { strict: true, uniqueKeys: true }) : JSON.parse(text);
  } catch {
    return;
  }
  checkDecoded(value);
}

/** Deeper than any object kube's decoders accept, and below what the recursive code after decoding can walk. */
export const maxNestingDepth = 1000;

function isWellFormed(s: string): boolean {
  // String.prototype.isWellFormed (Node 20) is not in the ES2022 lib typings.
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

function badString(s: string): string | undefined {
  if (s.includes('\0')) return 'must not contain the NUL character (\\u0000)';
  if (!isWellFormed(s)) return 'must be valid Unicode: a lone UTF-16 surrogate cannot be stored';
  return undefined;
}

function pathOf(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${key}]`;
}

function shown(s: string): string {
  // A 2 MB value is not echoed back whole.
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

/**
 * Refuses, before anything is stored, what PostgreSQL cannot hold or what later code cannot
 * walk: NUL characters and lone surrogates in any key or string (text and jsonb reject them,
 * which would surface as a 500 at the first write), and nesting deeper than maxNestingDepth.
 * Iterative, so a deeply nested body cannot overflow the stack here.
 */
export function checkDecoded(value: unknown): void {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: '', depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const why = badString(v);
      if (why) throw invalidString(path, `Invalid value: ${shown(v)}: ${why}`);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxNestingDepth) {
      throw errors.badRequest(`the request body is nested more than ${maxNestingDepth} levels deep${path ? ` at ${path}` : ''}`);
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: pathOf(path, i), depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(v)) {
      const why = badString(key);
      if (why) throw invalidString(path, `Invalid key ${shown(key)}: ${why}`);
      stack.push({ v: (v as Record<string, unknown>)[key], path: pathOf(path, key), depth: depth + 1 });
    }
  }
}

function invalidString(path: string, message: string): StatusError {
  return errors.badRequest(`the request body is invalid: ${path ? `${path}: ` : ''}${message}`, [{ reason: 'FieldValueInvalid', message, field: path }]);
}

/** The path of the first key that occurs twice in one object, e.g. `spec.displayName`. */
function firstDuplicateKey(node: unknown, path: string): string | undefined {
  if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = firstDuplicateKey(item, `${path}[${i}]`);
      if (found) return found;
    }
  } else if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const keyPath = path ? `${path}.${key}` : key;
      if (seen.has(key)) return keyPath;
      seen.add(key);
      const found = firstDuplicateKey(pair.value, keyPath);
      if (found) return found;
    }
  }
  return undefined;
}
