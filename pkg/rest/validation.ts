// Schema-driven validation, defaulting and unknown-field detection for any kind (the ObjectMeta
// rules every kind shares are in objectmeta.ts). Knows no kind: everything comes from the schema.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { TSchema } from '@sinclair/typebox';
import { field, type FieldError } from './errors.ts';
import { DefinitionSet, isObject, type JsonSchema } from '../openapi/schema.ts';
import { SchemaWalker, unionConsts, unionTypes } from '../openapi/walk.ts';

export interface CompiledKind {
  /**
   * Schema errors as Kubernetes field errors (`spec.clusters[cls-1].hard[cpu]`). Null-valued
   * fields count as absent, as in Go decoding. Unknown fields are not errors here: see
   * unknownFields, which the fieldValidation mode turns into an error, a warning or nothing.
   */
  validate(obj: unknown): FieldError[];
  /** Paths of fields the schema does not declare, as Kubernetes prints them (`spec.foo`, `spec.machines[0].bar`). */
  unknownFields(obj: unknown): string[];
  /** Removes the fields unknownFields reports (structural pruning, as Kubernetes does) and returns their paths. */
  pruneUnknownFields(obj: unknown): string[];
  /**
   * The first place where the JSON type of a value cannot be what the schema declares (a struct,
   * map or list such as `"metadata": "x"`, or a plain scalar such as `"displayName": 5`), as Go's
   * decoder reports it before anything else runs; undefined when the types agree. Unions
   * (int-or-string) and the values inside them are left to validate().
   */
  shapeError(obj: unknown): string | undefined;
  /**
   * Fills schema `default`s in place, walking into objects, maps and arrays like structural-schema
   * defaulting; drops null-valued fields first (so a null field gets its default).
   */
  applyDefaults(obj: unknown): void;
}

// One ajv for every kind: compiled roots carry their definitions inline and no `$id`, so kinds
// sharing ObjectMeta or Quantity cannot collide in ajv's registry.
let sharedAjv: Ajv | undefined;
function ajv(): Ajv {
  if (!sharedAjv) {
    // strict off: schemas carry OpenAPI/Kubernetes vocabulary (x-kubernetes-*, nullable) ajv
    // does not know; verbose on: error paths need the failing data and schema.
    sharedAjv = new Ajv({ allErrors: true, strict: false, verbose: true, validateFormats: true });
    addFormats.default(sharedAjv);
  }
  return sharedAjv;
}

// Compiling a large kind takes ajv a few hundred milliseconds; a schema compiles once per process.
const compiledKinds = new WeakMap<object, CompiledKind>();

export function compileKind(schema: TSchema | JsonSchema): CompiledKind {
  let kind = compiledKinds.get(schema);
  if (!kind) {
    kind = compile(schema);
    compiledKinds.set(schema, kind);
  }
  return kind;
}

function compile(schema: TSchema | JsonSchema): CompiledKind {
  const set = new DefinitionSet();
  const root = set.inline(schema);
  const walker = new SchemaWalker(set.definitions);
  const compiled: ValidateFunction = ajv().compile({ ...root, definitions: Object.fromEntries(set.definitions) });
  return {
    validate: obj => {
      // Nulls are dropped from a copy; objects from the store have none (defaulting dropped
      // them), and copying a 100,000-label object costs more than validating it.
      let data = obj;
      if (containsNull(obj)) {
        data = structuredClone(obj);
        walkDefaults(data, root, walker, false);
      }
      if (compiled(data)) return [];
      return convertErrors(compiled.errors ?? [], data, root, walker);
    },
    unknownFields: obj => {
      const out: string[] = [];
      collectUnknown(obj, root, walker, '', out, false);
      return out;
    },
    pruneUnknownFields: obj => {
      const out: string[] = [];
      collectUnknown(obj, root, walker, '', out, true);
      return out;
    },
    applyDefaults: obj => walkDefaults(obj, root, walker, true),
    shapeError: obj => firstShapeError(obj, root, walker, ''),
  };
}

// --- shapes -----------------------------------------------------------------------------------

function firstShapeError(value: unknown, node: JsonSchema, walker: SchemaWalker, path: string): string | undefined {
  // null is an absent field to Go's decoder, whatever the field's type.
  if (value === null || value === undefined) return undefined;
  const want = walker.container(node);
  const got = jsonType(value);
  if (want === 'object' && got !== 'object') return `${path || 'body'}: expected an object, got ${got}`;
  if (want === 'array' && got !== 'array') return `${path || 'body'}: expected a list, got ${got}`;
  if (want === undefined) {
    // A scalar of the wrong JSON type would not decode into its Go field either; strategies are
    // typed by the schema and never see one.
    const scalar = walker.scalar(node);
    if (scalar === undefined) return undefined;
    const fits =
      scalar === 'integer' ? typeof value === 'number' && Number.isInteger(value) : scalar === 'number' ? typeof value === 'number' : typeof value === scalar;
    return fits ? undefined : `${path}: expected ${scalar === 'integer' ? 'an integer' : `a ${scalar}`}, got ${got}`;
  }
  const view = walker.view(node);
  if (view.preserveUnknownFields) return undefined;
  if (Array.isArray(value)) {
    if (!view.items) return undefined;
    for (let i = 0; i < value.length; i++) {
      const found = firstShapeError(value[i], view.items, walker, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const additional = view.additionalProperties;
  if (view.properties) {
    for (const [key, prop] of Object.entries(view.properties)) {
      if (!Object.hasOwn(value, key)) continue;
      const found = firstShapeError(value[key], prop, walker, childPath(path, key));
      if (found) return found;
    }
  }
  if (isObject(additional)) {
    // A map of scalars (labels, annotations) has nothing to find: skip the walk over its keys.
    const inner = walker.container(additional);
    const v = walker.view(additional);
    if (inner === undefined && !v.properties && !v.items && !isObject(v.additionalProperties)) return undefined;
    for (const key of Object.keys(value)) {
      if (view.properties && key in view.properties) continue;
      const found = firstShapeError(value[key], additional, walker, `${path}[${key}]`);
      if (found) return found;
    }
  }
  return undefined;
}

function containsNull(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null) return true;
    if (typeof v !== 'object' || v === undefined) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    for (const key in v) stack.push((v as Record<string, unknown>)[key]);
  }
  return false;
}

// --- defaulting -------------------------------------------------------------------------------

function walkDefaults(value: unknown, node: JsonSchema, walker: SchemaWalker, fill: boolean): void {
  const view = walker.view(node);
  if (Array.isArray(value)) {
    if (view.items) for (const item of value) walkDefaults(item, view.items, walker, fill);
    return;
  }
  if (!isObject(value)) return;
  if (view.properties) {
    for (const [key, propNode] of Object.entries(view.properties)) {
      const prop = walker.view(propNode);
      if (value[key] === null && !prop.nullable) delete value[key];
      if (fill && prop.hasDefault) {
        const current = value[key];
        // Go cannot tell an absent string from "", and TKE's SetDefaults_* test `== ""`; so a
        // field whose default is a non-empty string is defaulted when empty, too.
        const goZero = current === '' && typeof prop.default === 'string' && prop.default !== '';
        if (current === undefined || goZero) value[key] = structuredClone(prop.default);
      }
      if (value[key] !== undefined) walkDefaults(value[key], propNode, walker, fill);
    }
  }
  const additional = view.additionalProperties;
  if (isObject(additional)) {
    for (const key of Object.keys(value)) {
      if (view.properties && key in view.properties) continue;
      walkDefaults(value[key], additional, walker, fill);
    }
  }
}

// --- unknown fields ---------------------------------------------------------------------------

function childPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The path of `key` below `path`: `a.key` for a struct field, `a[key]` for a map entry. */
function keyPath(path: string, key: string, mapKey: boolean): string {
  return mapKey ? `${path}[${key}]` : childPath(path, key);
}

function collectUnknown(value: unknown, node: JsonSchema, walker: SchemaWalker, path: string, out: string[], prune: boolean): void {
  const view = walker.view(node);
  if (view.preserveUnknownFields) return;
  if (Array.isArray(value)) {
    if (view.items)
      value.forEach((item, i) => {
        collectUnknown(item, view.items!, walker, `${path}[${i}]`, out, prune);
      });
    return;
  }
  if (!isObject(value)) return;
  const additional = view.additionalProperties;
  // No declared properties and no value schema: a free-form object (Type.Unknown, RawExtension).
  if (!view.properties && !isObject(additional)) return;
  for (const key of Object.keys(value)) {
    const child = walker.child(node, key);
    if (child.schema) collectUnknown(value[key], child.schema, walker, keyPath(path, key, child.mapKey), out, prune);
    else if (additional !== true) {
      out.push(childPath(path, key));
      if (prune) delete value[key];
    }
  }
}

// --- ajv errors -> field errors ---------------------------------------------------------------

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Renders a JSON pointer into the object as a Kubernetes field path, using the schema to tell maps from structs. */
function renderPath(pointer: string, data: unknown, root: JsonSchema, walker: SchemaWalker): { path: string; node?: JsonSchema } {
  let path = '';
  let node: JsonSchema | undefined = root;
  let value: unknown = data;
  for (const seg of decodePointer(pointer)) {
    if (Array.isArray(value)) {
      path += `[${seg}]`;
      node = node ? walker.view(node).items : undefined;
      value = value[Number(seg)];
      continue;
    }
    const child: { schema?: JsonSchema; mapKey: boolean } = node ? walker.child(node, seg) : { mapKey: false };
    path = keyPath(path, seg, child.mapKey);
    node = child.schema;
    value = isObject(value) ? value[seg] : undefined;
  }
  return { path, node };
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function param(err: ErrorObject, name: string): unknown {
  return (err.params as Record<string, unknown>)[name];
}

function within(err: ErrorObject, group: ErrorObject): boolean {
  return (
    err !== group &&
    err.schemaPath.startsWith(group.schemaPath + '/') &&
    (err.instancePath === group.instancePath || err.instancePath.startsWith(group.instancePath + '/'))
  );
}

function convertErrors(errors: ErrorObject[], data: unknown, root: JsonSchema, walker: SchemaWalker): FieldError[] {
  // An anyOf/oneOf failure is reported once, for the field, not once per branch tried.
  const groups = errors.filter(e => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const err of errors) {
    if (groups.some(g => within(err, g))) continue;
    const { path } = renderPath(err.instancePath, data, root, walker);
    const fe = toFieldError(err, path);
    if (!fe) continue;
    const key = `${fe.field}\u0000${fe.reason}\u0000${fe.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(fe);
  }
  return out;
}

function toFieldError(err: ErrorObject, path: string): FieldError | undefined {
  const value: unknown = err.data;
  const where = path === '' ? 'body' : `${path} in body`;
  switch (err.keyword) {
    case 'type': {
      const actual = jsonType(value);
      return field.typeInvalid(path, `${JSON.stringify(actual)}: ${where} must be of type ${String(param(err, 'type'))}: ${JSON.stringify(actual)}`);
    }
    case 'required': {
      const missing = String(param(err, 'missingProperty'));
      return field.required(childPath(path, missing));
    }
    case 'enum': {
      const allowed = Array.isArray(err.schema) ? err.schema.map(v => String(v)) : [];
      return field.notSupported(path, value, allowed);
    }
    case 'const':
      return field.notSupported(path, value, [String(param(err, 'allowedValue'))]);
    case 'anyOf':
    case 'oneOf': {
      const consts = unionConsts(err.schema);
      if (consts?.length)
        return field.notSupported(
          path,
          value,
          consts.map(v => String(v)),
        );
      const types = unionTypes(err.schema);
      const stringBranch = Array.isArray(err.schema)
        ? err.schema.find((b): b is Record<string, unknown> => isObject(b) && b['type'] === 'string' && typeof b['pattern'] === 'string')
        : undefined;
      if (typeof value === 'string' && stringBranch) {
        return field.invalid(path, value, `${where} should match '${String(stringBranch['pattern'])}'`);
      }
      if (types.length > 0 && !types.includes(jsonType(value)) && !(jsonType(value) === 'integer' && types.includes('number'))) {
        return field.typeInvalid(
          path,
          `${JSON.stringify(jsonType(value))}: ${where} must be of type ${types.join(' or ')}: ${JSON.stringify(jsonType(value))}`,
        );
      }
      return field.invalid(path, value, `${where} must match ${err.keyword === 'anyOf' ? 'at least one schema (anyOf)' : 'exactly one schema (oneOf)'}`);
    }
    case 'pattern':
      return field.invalid(path, value, `${where} should match '${String(param(err, 'pattern'))}'`);
    case 'format':
      return field.invalid(path, value, `${where} must be of type ${String(param(err, 'format'))}: ${JSON.stringify(value)}`);
    case 'maxLength':
      return field.tooLong(path, Number(param(err, 'limit')));
    case 'additionalProperties':
      return field.forbidden(childPath(path, String(param(err, 'additionalProperty'))), 'field is not allowed');
    case 'if':
      return undefined;
    default:
      return field.invalid(path, value, `${where} ${err.message ?? 'is invalid'}`);
  }
}
