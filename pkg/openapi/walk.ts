// Reading a schema: the one place that follows `$ref`, looks through `allOf`/`anyOf`/`oneOf`,
// finds the schema of a property, a map value or a list item, and decides list and map
// semantics from the `x-kubernetes-*` extensions. Validation, patching and field ownership all
// walk schemas through here, so they agree on what a field is and how a list merges.
//
// Two trees are walked: the normalized one (DefinitionSet: shared types hoisted into
// definitions and reached by `$ref`), walked by a SchemaWalker that holds those definitions,
// and TypeBox's own, which embeds shared types by value and has no `$ref` to follow
// (`embedded` below). For a walker, a `$ref` node and the definition it names are the same node.
import { isObject, refTarget, type JsonSchema } from './schema.ts';

/**
 * The union reading of a schema node: every property any `allOf`/`anyOf`/`oneOf` member
 * declares, what a map's values are, what an array's items are. Shared by unknown-field
 * detection, defaulting and error-path rendering so they agree on what "a field" is.
 */
export interface SchemaView {
  properties?: Record<string, JsonSchema>;
  /** Schema of a map's values, or true/false for free-form/closed objects. */
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  hasDefault: boolean;
  default?: unknown;
  nullable: boolean;
  preserveUnknownFields: boolean;
}

/**
 * The reading of a schema node for one value: for a union, the branch that fits the value.
 * `object` covers both structs (declared properties) and maps (additionalProperties); `rest`
 * is the schema of undeclared keys, undefined when they are untyped. `unknown` means the
 * schema says nothing and the value decides. `schema` is the node with `$ref` and `allOf`
 * resolved, where the list and map extensions are read.
 */
export type SchemaShape =
  | { kind: 'object'; properties: Record<string, JsonSchema>; rest: JsonSchema | undefined; atomic: boolean; required: ReadonlySet<string>; schema: JsonSchema }
  | { kind: 'array'; items: JsonSchema | undefined; schema: JsonSchema }
  | { kind: 'scalar' }
  | { kind: 'unknown' };

/** A list's merge semantics (x-kubernetes-list-type, or what the patch strategy implies). */
export interface ListInfo {
  type: 'atomic' | 'set' | 'map';
  keys: string[];
}

/** Strategic-merge metadata of a field, read from the OpenAPI extensions. */
export interface PatchMeta {
  strategy: 'merge' | 'replace' | '';
  retainKeys: boolean;
  mergeKey: string;
}

const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);

function typeOf(schema: JsonSchema): unknown {
  const type = schema['type'];
  if (Array.isArray(type)) return type.find(t => t !== 'null') ?? type[0];
  return type;
}

function valueFits(shape: SchemaShape, value: unknown): boolean {
  switch (shape.kind) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'scalar':
      return !isObject(value) && !Array.isArray(value);
    case 'unknown':
      return true;
  }
}

function schemaList(value: unknown): JsonSchema[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

export class SchemaWalker {
  private readonly views = new WeakMap<JsonSchema, SchemaView>();
  /**
   * The shapes of nodes that are no union, which the value does not decide, and the `allOf`
   * foldings, so that each of them is worked out once per node: every write classifies every
   * field of its object, for its managed fields, its defaults and its validation.
   */
  private readonly shapes = new WeakMap<JsonSchema, SchemaShape>();
  private readonly folded = new WeakMap<JsonSchema, JsonSchema>();

  constructor(private readonly definitions: ReadonlyMap<string, JsonSchema> = new Map()) {}

  /** The node a `$ref` names (followed through chains of references); any other node as it is. */
  deref(node: JsonSchema): JsonSchema {
    let current = node;
    for (let hops = 0; hops < 64; hops++) {
      const ref = current['$ref'];
      if (typeof ref !== 'string') return current;
      const name = refTarget(ref);
      const target = name === undefined ? undefined : this.definitions.get(name);
      if (!target) return current;
      current = target;
    }
    return current;
  }

  // --- the union reading ------------------------------------------------------------------------

  view(node: JsonSchema): SchemaView {
    const cached = this.views.get(node);
    if (cached) return cached;
    const view: SchemaView = { hasDefault: false, nullable: false, preserveUnknownFields: false };
    this.views.set(node, view);
    this.mergeView(view, node, 0, true);
    return view;
  }

  // The outermost node wins for default/nullable (a field's own `default` overrides its type's,
  // and only allOf members, never anyOf/oneOf branches, contribute one);
  // properties are unioned across allOf and across anyOf/oneOf branches, since a field declared
  // by any branch is a field the API knows.
  private mergeView(view: SchemaView, raw: JsonSchema, depth: number, outer: boolean): void {
    if (depth > 32) return;
    const node = this.deref(raw);
    for (const n of raw === node ? [node] : [raw, node]) {
      if (outer && !view.hasDefault && 'default' in n) {
        view.hasDefault = true;
        view.default = n['default'];
      }
      if (outer && n['nullable'] === true) view.nullable = true;
      if (n['x-kubernetes-preserve-unknown-fields'] === true) view.preserveUnknownFields = true;
    }
    const props = node['properties'];
    if (isObject(props)) {
      view.properties ??= {};
      for (const [k, v] of Object.entries(props)) if (isObject(v) && !(k in view.properties)) view.properties[k] = v;
    }
    const additional = node['additionalProperties'];
    if (view.additionalProperties === undefined || view.additionalProperties === false) {
      if (isObject(additional)) view.additionalProperties = additional;
      else if (typeof additional === 'boolean') view.additionalProperties = additional;
    }
    const items = node['items'];
    if (view.items === undefined && isObject(items)) view.items = items;
    for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
      for (const sub of schemaList(node[key])) this.mergeView(view, sub, depth + 1, outer && key === 'allOf');
    }
  }

  /** The schema of `key` inside an object described by `node` (union reading), and whether `key` is a map key. */
  child(node: JsonSchema, key: string): { schema?: JsonSchema; mapKey: boolean } {
    const view = this.view(node);
    const prop = view.properties?.[key];
    if (prop) return { schema: prop, mapKey: false };
    if (isObject(view.additionalProperties)) return { schema: view.additionalProperties, mapKey: true };
    return { mapKey: false };
  }

  /**
   * Whether the node declares a struct or map (`object`) or a list (`array`), looking through
   * `$ref` and `allOf` (a field with its own description or default wraps its type in allOf);
   * undefined for scalars, unions and free-form values, whose JSON type the schema leaves open.
   */
  container(node: JsonSchema, depth = 0): 'object' | 'array' | undefined {
    const n = this.deref(node);
    const type = n['type'];
    if (type === 'object') return 'object';
    if (type === 'array') return 'array';
    if (type !== undefined || depth > 8) return undefined;
    for (const sub of schemaList(n['allOf'])) {
      const found = this.container(sub, depth + 1);
      if (found) return found;
    }
    return undefined;
  }

  /**
   * The JSON type of a plain scalar field ('string', 'integer', 'number', 'boolean'), as a Go field
   * of that type decodes only it; undefined for containers, unions (int-or-string, enums of
   * consts) and fields of any type.
   */
  scalar(node: JsonSchema, depth = 0): 'string' | 'integer' | 'number' | 'boolean' | undefined {
    const n = this.deref(node);
    if (n['x-kubernetes-int-or-string'] || n['anyOf'] || n['oneOf']) return undefined;
    const type = n['type'];
    if (type === 'string' || type === 'integer' || type === 'number' || type === 'boolean') return type;
    if (type !== undefined || depth > 8) return undefined;
    for (const sub of schemaList(n['allOf'])) {
      const found = this.scalar(sub, depth + 1);
      if (found) return found;
    }
    return undefined;
  }

  // --- the reading for one value ----------------------------------------------------------------

  /** `allOf` members folded into one node: the outer node's keywords first, members' properties and `required` added. */
  private mergeAllOf(schema: JsonSchema): JsonSchema {
    const out: JsonSchema = { ...schema };
    delete out['allOf'];
    const properties: Record<string, unknown> = { ...(isObject(schema['properties']) ? schema['properties'] : {}) };
    const required = new Set<unknown>(Array.isArray(schema['required']) ? schema['required'] : []);
    for (const part of schemaList(schema['allOf'])) {
      const p = this.deref(part);
      const r = p['allOf'] ? this.mergeAllOf(p) : p;
      for (const [k, v] of Object.entries(r)) {
        if (k === 'properties' || k === 'required') continue;
        if (out[k] === undefined) out[k] = v;
      }
      if (isObject(r['properties'])) Object.assign(properties, r['properties']);
      if (Array.isArray(r['required'])) for (const q of r['required']) required.add(q);
    }
    if (Object.keys(properties).length) out['properties'] = properties;
    if (required.size) out['required'] = [...required];
    return out;
  }

  /** Classifies a schema node; for unions the branch that fits `value` wins. */
  shape(schema: JsonSchema | undefined, value?: unknown): SchemaShape {
    if (!isObject(schema)) return { kind: 'unknown' };
    const known = this.shapes.get(schema);
    if (known) return known;
    const node = this.deref(schema);
    const allOf = node['allOf'];
    if (Array.isArray(allOf) && allOf.length) {
      let folded = this.folded.get(node);
      if (!folded) {
        folded = this.mergeAllOf(node);
        this.folded.set(node, folded);
      }
      return this.shape(folded, value);
    }
    const branches = node['anyOf'] ?? node['oneOf'];
    if (Array.isArray(branches) && branches.length) {
      const shapes = branches.map(b => this.shape(b as JsonSchema | undefined, value));
      if (value !== undefined) {
        const fit = shapes.find(s => s.kind !== 'unknown' && valueFits(s, value));
        if (fit) return fit;
      }
      return shapes.find(s => s.kind === 'object' || s.kind === 'array') ?? shapes[0] ?? { kind: 'unknown' };
    }
    const shape = this.plainShape(node);
    this.shapes.set(schema, shape);
    return shape;
  }

  /** The shape of a node that is neither a reference, nor an `allOf`, nor a union. */
  private plainShape(node: JsonSchema): SchemaShape {
    if (node['x-kubernetes-int-or-string']) return { kind: 'scalar' };
    const t = typeOf(node);
    const properties = node['properties'];
    const additional = node['additionalProperties'];
    const patterns = node['patternProperties'];
    if (t === 'object' || (t === undefined && (properties || additional !== undefined || patterns))) {
      let rest: JsonSchema | undefined;
      if (isObject(additional)) rest = additional;
      else if (isObject(patterns)) rest = Object.values(patterns)[0] as JsonSchema | undefined;
      return {
        kind: 'object',
        properties: isObject(properties) ? (properties as Record<string, JsonSchema>) : {},
        rest,
        atomic: node['x-kubernetes-map-type'] === 'atomic',
        required: new Set(Array.isArray(node['required']) ? (node['required'] as string[]) : []),
        schema: node,
      };
    }
    const items = node['items'];
    if (t === 'array' || (t === undefined && items)) {
      return { kind: 'array', items: isObject(items) ? items : undefined, schema: node };
    }
    if (SCALAR_TYPES.has(t as string)) return { kind: 'scalar' };
    return { kind: 'unknown' };
  }

  // --- list and map semantics -------------------------------------------------------------------

  /** The strategic-merge strategy and merge key a field declares. */
  patchMeta(schema: JsonSchema | undefined): PatchMeta {
    const node = isObject(schema) ? this.deref(schema) : undefined;
    const raw = node?.['x-kubernetes-patch-strategy'];
    const parts =
      typeof raw === 'string'
        ? raw
            .split(',')
            .map(s => s.trim())
            .filter(Boolean)
        : [];
    const strategy = parts.includes('merge') ? 'merge' : parts.includes('replace') ? 'replace' : '';
    const mk = node?.['x-kubernetes-patch-merge-key'];
    return { strategy, retainKeys: parts.includes('retainKeys'), mergeKey: typeof mk === 'string' ? mk : '' };
  }

  /** How a list merges and what identifies its items, as structured-merge-diff reads the schema. */
  listInfo(schema: JsonSchema | undefined): ListInfo {
    if (!isObject(schema)) return { type: 'atomic', keys: [] };
    const node = this.deref(schema);
    const lt = node['x-kubernetes-list-type'];
    const { strategy, mergeKey } = this.patchMeta(node);
    if (lt === 'map') {
      const declared = node['x-kubernetes-list-map-keys'];
      const keys = Array.isArray(declared) ? (declared as string[]) : mergeKey ? [mergeKey] : [];
      return keys.length ? { type: 'map', keys } : { type: 'set', keys: [] };
    }
    if (lt === 'set') return { type: 'set', keys: [] };
    if (lt === 'atomic') return { type: 'atomic', keys: [] };
    // Without a list type, Kubernetes derives the semantics from the strategic-merge tags.
    if (strategy === 'merge') return mergeKey ? { type: 'map', keys: [mergeKey] } : { type: 'set', keys: [] };
    return { type: 'atomic', keys: [] };
  }

  /** The list semantics of an array shape; anything else is atomic. */
  listOf(shape: SchemaShape): ListInfo {
    return shape.kind === 'array' ? this.listInfo(shape.schema) : { type: 'atomic', keys: [] };
  }
}

/** The walker of schemas that embed their shared types by value (TypeBox's output): no `$ref` to follow. */
export const embedded = new SchemaWalker();

/** Schema of `key` inside an object shape (declared property first, then the map's value schema). */
export function fieldSchema(shape: SchemaShape, key: string): JsonSchema | undefined {
  if (shape.kind !== 'object') return undefined;
  return Object.hasOwn(shape.properties, key) ? shape.properties[key] : shape.rest;
}

/** Whether `key` is a declared struct field (as opposed to a map key). */
export function isNamedField(shape: SchemaShape, key: string): boolean {
  return shape.kind === 'object' && Object.hasOwn(shape.properties, key);
}

/** The values of a union whose every branch is a `const` (a union of literals: an enum); undefined otherwise. */
export function unionConsts(branches: unknown): unknown[] | undefined {
  if (!Array.isArray(branches)) return undefined;
  const values: unknown[] = [];
  for (const b of branches) {
    if (!isObject(b) || !('const' in b)) return undefined;
    values.push(b['const']);
  }
  return values;
}

/** The `type`s a union's branches declare (as strings), in branch order. */
export function unionTypes(branches: unknown): string[] {
  if (!Array.isArray(branches)) return [];
  return branches.flatMap(b => (isObject(b) && typeof b['type'] === 'string' ? [b['type']] : []));
}

/** Schema of an array shape's items. */
export function itemSchema(shape: SchemaShape): JsonSchema | undefined {
  return shape.kind === 'array' ? shape.items : undefined;
}
