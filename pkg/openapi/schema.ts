// Turns the kinds' TypeBox schemas into plain JSON Schema with one definition per `$id`.
//
// TypeBox embeds shared schemas by value (ObjectMeta sits inside every kind, Quantity inside
// every ResourceList), so the same `$id` appears many times in one tree. Both consumers want
// it once: the validator (ajv rejects an `$id` that resolves to two different schemas) and the
// OpenAPI documents (definitions referenced with `$ref`). Normalizing here, once, keeps the
// two in agreement about what a schema means.

/**
 * A JSON Schema node: the one schema type. Normalized nodes (no TypeBox symbols, `$id`s hoisted
 * into definitions) and TypeBox's own (a TSchema is one) alike; walk.ts reads both.
 */
export type JsonSchema = { [keyword: string]: unknown };

/** Where normalized `$ref`s point; the validator hands ajv the definitions under this key. */
export const definitionsRefPrefix = '#/definitions/';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON pointer escaping of a definition name used inside a `$ref`. */
export function refTo(id: string): string {
  return definitionsRefPrefix + id.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The definition name a normalized `$ref` points to, or undefined for any other reference. */
export function refTarget(ref: string): string | undefined {
  if (!ref.startsWith(definitionsRefPrefix)) return undefined;
  return ref.slice(definitionsRefPrefix.length).replace(/~1/g, '/').replace(/~0/g, '~');
}

// Keywords whose value is a schema, a list of schemas, or a map of schemas. Everything else
// (default, enum, examples, x-kubernetes-*) is data and is copied, never walked.
const schemaKeywords = new Set(['items', 'additionalProperties', 'not', 'contains', 'propertyNames', 'if', 'then', 'else', 'additionalItems']);
const schemaListKeywords = new Set(['allOf', 'anyOf', 'oneOf']);
const schemaMapKeywords = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']);

// TypeBox spells `Record<string, X>` as a catch-all patternProperties; OpenAPI has no
// patternProperties, and a catch-all is exactly what additionalProperties means.
const catchAllPatterns = new Set(['^(.*)$', '^.*$', '.*', '^(.+)$']);

/** JSON with object keys sorted, so two schemas that say the same thing compare equal. */
function canonicalJSON(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJSON).join(',')}]`;
  if (isObject(value))
    return `{${Object.keys(value)
      .sort()
      .map(k => `${JSON.stringify(k)}:${canonicalJSON(value[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

function cloneData(value: unknown): unknown {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
}

/**
 * Collects every `$id`-carrying schema reachable from the inputs into one definitions map.
 * The same id from two different schemas is a programming error and throws at startup.
 */
export class DefinitionSet {
  readonly definitions = new Map<string, JsonSchema>();
  private readonly sources = new Map<string, unknown>();
  private readonly serialized = new Map<string, string>();

  /** Normalizes `schema`; a schema with an `$id` becomes a definition and is returned as a `$ref`. */
  add(schema: unknown): JsonSchema {
    return this.walk(schema);
  }

  /** Normalizes `schema` but keeps its top level inline (its `$id` is dropped, nested ones hoisted). */
  inline(schema: unknown): JsonSchema {
    if (!isObject(schema)) return {};
    return this.copyNode(schema);
  }

  /**
   * Registers `schema` under `name` (its `$id`, if any, is ignored) and returns a `$ref` to it.
   * Used for top-level kinds that carry no `$id` of their own.
   */
  addAs(name: string, schema: unknown): JsonSchema {
    if (!isObject(schema)) return {};
    this.register(name, schema);
    return { $ref: refTo(name) };
  }

  private walk(schema: unknown): JsonSchema {
    if (!isObject(schema)) return {};
    const id = schema['$id'];
    if (typeof id === 'string' && id !== '') {
      this.register(id, schema);
      return { $ref: refTo(id) };
    }
    return this.copyNode(schema);
  }

  private register(id: string, schema: Record<string, unknown>): void {
    const seen = this.sources.get(id);
    if (seen === schema) return;
    if (seen === undefined) {
      this.sources.set(id, schema);
      // Placeholder first, so a schema that reaches itself (Type.Recursive) terminates.
      this.definitions.set(id, {});
      const node = this.copyNode(schema);
      this.definitions.set(id, node);
      this.serialized.set(id, canonicalJSON(node));
      return;
    }
    // A second object with the same id: fine if it says the same thing (e.g. two copies of
    // one module), a bug otherwise.
    const other = canonicalJSON(new DefinitionSet().inline(schema));
    if (other !== this.serialized.get(id)) {
      throw new Error(`schema id ${JSON.stringify(id)} is declared twice with different content`);
    }
  }

  private copyNode(schema: Record<string, unknown>): JsonSchema {
    const out: JsonSchema = {};
    // Object.keys skips TypeBox's symbol-keyed markers (Kind, Optional, ...).
    for (const key of Object.keys(schema)) {
      const value = schema[key];
      if (key === '$id' || key === '$schema') continue;
      if (key === '$ref' && typeof value === 'string') {
        // Type.Ref(X) refers to X by its bare $id; local pointers stay as they are.
        out[key] = value.startsWith('#') ? value : refTo(value);
      } else if (schemaKeywords.has(key) && isObject(value)) {
        out[key] = this.walk(value);
      } else if (key === 'items' && Array.isArray(value)) {
        out[key] = value.map(v => this.walk(v));
      } else if (schemaListKeywords.has(key) && Array.isArray(value)) {
        out[key] = value.map(v => this.walk(v));
      } else if (schemaMapKeywords.has(key) && isObject(value)) {
        const map: JsonSchema = {};
        for (const name of Object.keys(value)) map[name] = this.walk(value[name]);
        out[key] = map;
      } else {
        out[key] = cloneData(value);
      }
    }
    const patterns = out['patternProperties'];
    if (isObject(patterns) && out['additionalProperties'] === undefined) {
      const keys = Object.keys(patterns);
      if (keys.length === 1 && catchAllPatterns.has(keys[0]!)) {
        out['additionalProperties'] = patterns[keys[0]!];
        delete out['patternProperties'];
      }
    }
    return out;
  }
}
