// The CustomResourceDefinition a platform team would write instead of this server: a kind of ours
// served by kube-apiserver from etcd, with the OpenAPI v3 schema generated from the same TypeBox
// schema our server validates with, so that both peers of the benchmark check the same shape.
//
// CRDs take only structural schemas: every node typed, no `$ref`, no `additionalProperties`
// beside `properties`, nothing but types inside `allOf`/`anyOf`, `metadata` left to the server,
// and only the keywords of apiextensions' JSONSchemaProps (it is posted with
// fieldValidation=Strict, so a keyword the conversion lets through by mistake fails loudly).
import { DefinitionSet, isObject, refTarget, type JsonSchema } from '../../pkg/openapi/schema.ts';
import type { ResourceDefinition } from '../../pkg/rest/resource.ts';

// JSONSchemaProps fields that can appear in a structural schema's nodes. The rest of what our
// schemas carry (x-kubernetes-patch-*, $id, examples, ...) has no CRD spelling and is dropped.
const kept = new Set([
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
]);

const maxDepth = 64;

class Structural {
  constructor(private readonly definitions: ReadonlyMap<string, JsonSchema>) {}

  /** A `$ref` replaced by its definition; a documented reference (`allOf: [$ref]`) keeps its own description and default. */
  private resolve(node: JsonSchema, depth: number): JsonSchema {
    if (depth > maxDepth) throw new Error('crd: schema nests too deep (a recursive type has no structural spelling)');
    const ref = node['$ref'];
    if (typeof ref === 'string') {
      const name = refTarget(ref);
      const target = name === undefined ? undefined : this.definitions.get(name);
      if (!target) throw new Error(`crd: unresolved reference ${ref}`);
      const { $ref: _, ...own } = node;
      return this.resolve({ ...target, ...own }, depth + 1);
    }
    const allOf = node['allOf'];
    if (Array.isArray(allOf) && allOf.length === 1 && isObject(allOf[0])) {
      const { allOf: _, ...own } = node;
      return this.resolve({ ...this.resolve(allOf[0], depth + 1), ...own }, depth + 1);
    }
    return node;
  }

  convert(raw: JsonSchema, depth = 0): JsonSchema {
    const node = this.resolve(raw, depth);
    const out: JsonSchema = {};
    for (const [key, value] of Object.entries(node)) if (kept.has(key)) out[key] = value;

    if ('const' in node) out['enum'] = [node['const']];
    const type = node['type'];
    if (Array.isArray(type)) {
      const types = type.filter(t => t !== 'null');
      if (types.length !== 1) throw new Error(`crd: a node of several types (${type.join(', ')}) is not structural`);
      out['type'] = types[0];
      if (type.includes('null')) out['nullable'] = true;
    }

    for (const junctor of ['anyOf', 'oneOf'] as const) {
      const branches = node[junctor];
      if (!Array.isArray(branches)) continue;
      Object.assign(out, this.union(branches, junctor));
    }
    if (Array.isArray(node['allOf'])) throw new Error('crd: allOf of several schemas has no structural spelling here');

    const props = node['properties'];
    if (isObject(props)) {
      const converted: JsonSchema = {};
      for (const [name, sub] of Object.entries(props)) if (isObject(sub)) converted[name] = this.convert(sub, depth + 1);
      out['properties'] = converted;
    }
    const additional = node['additionalProperties'];
    if (!isObject(props)) {
      // A map: its values' schema; a free-form object (`{}` or `true`) keeps whatever it is given.
      if (isObject(additional) && Object.keys(additional).length > 0) out['additionalProperties'] = this.convert(additional, depth + 1);
      else if (out['type'] === 'object' || additional === true || isObject(additional)) out['x-kubernetes-preserve-unknown-fields'] = true;
    }
    const items = node['items'];
    if (isObject(items)) out['items'] = this.convert(items, depth + 1);
    else if (out['type'] === 'array') out['items'] = { 'x-kubernetes-preserve-unknown-fields': true };

    if (out['type'] === undefined && out['x-kubernetes-int-or-string'] !== true && out['x-kubernetes-preserve-unknown-fields'] !== true) {
      if (isObject(props) || additional !== undefined) out['type'] = 'object';
      else throw new Error(`crd: untyped node ${JSON.stringify(node).slice(0, 200)}`);
    }
    return out;
  }

  /** The unions our schemas use: literals (an enum) and number-or-string (Quantity, IntOrString). */
  private union(branches: unknown[], junctor: string): JsonSchema {
    if (branches.every(b => isObject(b) && 'const' in b)) {
      const values = branches.map(b => (b as JsonSchema)['const']);
      const types = [...new Set(branches.map(b => (b as JsonSchema)['type']).filter(t => typeof t === 'string'))];
      return { enum: values, ...(types.length === 1 ? { type: types[0] } : {}) };
    }
    const types = branches.map(b => (isObject(b) ? b['type'] : undefined));
    if (types.length === 2 && types.includes('string') && (types.includes('number') || types.includes('integer'))) {
      // Kubernetes' only structural number-or-string is int-or-string (as controller-gen writes
      // resource.Quantity): a fractional JSON number such as 0.5 is refused where our server
      // takes it; a string ("500m") is what clients send.
      const pattern = branches.map(b => (isObject(b) ? b['pattern'] : undefined)).find(p => typeof p === 'string');
      return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }], ...(pattern ? { pattern } : {}) };
    }
    throw new Error(`crd: ${junctor} of ${JSON.stringify(types)} has no structural spelling here`);
  }
}

/** The structural OpenAPI v3 schema of a kind, for a CRD's `versions[].schema.openAPIV3Schema`. */
export function structuralSchema(schema: unknown): JsonSchema {
  const set = new DefinitionSet();
  const root = set.inline(schema);
  const out = new Structural(set.definitions).convert(root);
  const props = out['properties'];
  // The server owns metadata: a CRD may restrict only name and generateName there.
  if (isObject(props) && 'metadata' in props) props['metadata'] = { type: 'object' };
  return out;
}

/** A CRD serving `def` (group, names, scope, status subresource) with its schema. */
export function customResourceDefinition(def: ResourceDefinition): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.resource}.${def.group}` },
    spec: {
      group: def.group,
      scope: def.namespaced ? 'Namespaced' : 'Cluster',
      names: { plural: def.resource, singular: def.singular, kind: def.kind, listKind: def.listKind, shortNames: def.shortNames, categories: def.categories },
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: structuralSchema(def.schema) },
          ...(def.subresources.status ? { subresources: { status: {} } } : {}),
        },
      ],
    },
  };
}
