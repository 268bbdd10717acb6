// Content negotiation: which media type a client asked for (JSON, YAML, Table,
// aggregated discovery) and how a request body is decoded.
import { isMap, isScalar, isSeq, parse as parseYaml, parseDocument, stringify as stringifyYaml } from 'yaml';
import { errors } from '../rest/errors.ts';

export interface MediaRange {
  type: string;
  params: Record<string, string>;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*/*', params: {} }];
  return header.split(',').map(part => {
    const [type, ...rawParams] = part.trim().split(';');
    const params: Record<string, string> = {};
    for (const p of rawParams) {
      const eq = p.indexOf('=');
      if (eq > 0) params[p.slice(0, eq).trim()] = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
    }
    return { type: type.trim().toLowerCase(), params };
  }).filter(r => r.type);
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
      r.type === 'application/json' || r.type === 'application/*' || r.type === '*/*' ? 'json'
        : r.type === 'application/yaml' ? 'yaml' : undefined;
    if (!encoding) continue;
    if (r.params.as) {
      const match = conversions.find(c => c.as === r.params.as && c.g === r.params.g && c.v === r.params.v);
      if (!match) continue;
      return { encoding, as: match.as, contentType: `application/${encoding};as=${match.as};g=${match.g};v=${match.v}` };
    }
    return { encoding, contentType: encoding === 'yaml' ? 'application/yaml' : 'application/json' };
  }
  throw errors.notAcceptable(`only the following media types are accepted: application/json, application/yaml${conversions.map(c => `, application/json;as=${c.as};v=${c.v};g=${c.g}`).join('')}`);
}

export function encode(value: unknown, encoding: Encoding): string {
  return encoding === 'yaml' ? stringifyYaml(value) : JSON.stringify(value);
}

/** Decodes a create/update body: JSON or YAML by Content-Type. */
export function decodeBody(contentType: string | undefined, body: Buffer, opts: { rejectDuplicateKeys?: boolean } = {}): unknown {
  const type = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  const text = body.toString('utf8');
  if (type === 'application/json' || type === '') {
    let value: unknown;
    try { value = JSON.parse(text); } catch (err) {
      throw errors.badRequest(`error decoding JSON: ${(err as Error).message}`);
    }
    // JSON.parse keeps the last of two equal keys; fieldValidation=Strict must refuse them instead.
    if (opts.rejectDuplicateKeys) {
      const dup = firstDuplicateKey(parseDocument(text, { uniqueKeys: false }).contents, '');
      if (dup) throw errors.badRequest(`strict decoding error: json: duplicate field "${dup}"`);
    }
    return value;
  }
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') {
    try { return parseYaml(text, { strict: true, uniqueKeys: true }); } catch (err) {
      throw errors.badRequest(`error decoding YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw errors.unsupportedMediaType(type);
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
