// Normalized JSON Schema -> the schema dialects of Swagger 2.0 and OpenAPI 3.0, in the shapes
// Kubernetes itself publishes (kubectl's explain, client-side apply and edit read them).
import { isObject, refTarget, type JsonSchema } from './schema.ts';
import { unionConsts, unionTypes } from './walk.ts';
import { metaNames } from './meta.ts';

export type Dialect = 'v2' | 'v3';

export function componentRef(dialect: Dialect, name: string): string {
  const escaped = name.replace(/~/g, '~0').replace(/\//g, '~1');
  return dialect === 'v2' ? `#/definitions/${escaped}` : `#/components/schemas/${escaped}`;
}

/** Tells the document builder which well-known definitions the converted schemas point to. */
export interface ConvertContext {
  dialect: Dialect;
  /** Called with every definition name a converted schema references. */
  referenced(name: string): void;
}

// Keywords neither dialect has (JSON Schema 2019+/draft-7 only); dropped, not translated.
const unsupported = new Set([
  '$schema',
  '$id',
  '$defs',
  'definitions',
  '$comment',
  'examples',
  'contains',
  'propertyNames',
  'if',
  'then',
  'else',
  'dependentSchemas',
  'dependentRequired',
  'unevaluatedProperties',
  'unevaluatedItems',
  'patternProperties',
  'additionalItems',
  'const',
]);

// A timestamp written inline (as ObjectMeta's are) carries nothing but these.
const timeKeywords = new Set(['type', 'format', 'description']);

function isInlineTime(node: JsonSchema): boolean {
  return node['type'] === 'string' && node['format'] === 'date-time' && Object.keys(node).every(k => timeKeywords.has(k));
}

/** A reference with a description (and default) of its own, the way each dialect spells it. */
function describedRef(ctx: ConvertContext, name: string, extras: JsonSchema): JsonSchema {
  ctx.referenced(name);
  const ref = componentRef(ctx.dialect, name);
  if (Object.keys(extras).length === 0) return { $ref: ref };
  // Swagger 2.0 readers take a sibling description next to $ref (Kubernetes' v2 does this);
  // OpenAPI 3.0 ignores $ref siblings, hence allOf.
  if (ctx.dialect === 'v2') return extras['description'] === undefined ? { $ref: ref } : { $ref: ref, description: extras['description'] };
  return { allOf: [{ $ref: ref }], ...extras };
}

/** Converts one normalized schema node. `definitionName` is set when converting that definition's own body. */
export function convertSchema(node: JsonSchema, ctx: ConvertContext, definitionName?: string): JsonSchema {
  const ref = node['$ref'];
  if (typeof ref === 'string') {
    const name = refTarget(ref);
    if (name === undefined) return { $ref: ref };
    const extras: JsonSchema = {};
    if (typeof node['description'] === 'string') extras['description'] = node['description'];
    return describedRef(ctx, name, extras);
  }
  if (definitionName !== metaNames.time && isInlineTime(node)) {
    return describedRef(ctx, metaNames.time, typeof node['description'] === 'string' ? { description: node['description'] } : {});
  }

  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (unsupported.has(key)) continue;
    switch (key) {
      case 'properties': {
        if (!isObject(value)) break;
        const props: JsonSchema = {};
        for (const [name, sub] of Object.entries(value)) if (isObject(sub)) props[name] = convertSchema(sub, ctx);
        out[key] = props;
        break;
      }
      case 'items':
      case 'additionalProperties':
      case 'not':
        out[key] = isObject(value) ? convertSchema(value, ctx) : value;
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        if (Array.isArray(value)) out[key] = value.map(v => (isObject(v) ? convertSchema(v, ctx) : v));
        break;
      case 'nullable':
        if (ctx.dialect === 'v3') out[key] = value;
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        // Draft-6+ numeric form -> the boolean form both OpenAPI dialects use.
        if (typeof value === 'number') {
          out[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = value;
          out[key] = true;
        } else {
          out[key] = value;
        }
        break;
      case 'type':
        if (Array.isArray(value)) {
          const types = value.filter(t => t !== 'null');
          if (types.length === 1) out[key] = types[0];
          if (ctx.dialect === 'v3' && value.includes('null')) out['nullable'] = true;
        } else {
          out[key] = value;
        }
        break;
      default:
        out[key] = value;
    }
  }

  if ('const' in node) {
    out['enum'] = [node['const']];
  }

  // `allOf: [$ref]` with a description is the normalized spelling of a documented reference.
  const allOf = node['allOf'];
  if (Array.isArray(allOf) && allOf.length === 1 && isObject(allOf[0]) && typeof allOf[0]['$ref'] === 'string') {
    const name = refTarget(allOf[0]['$ref']);
    if (name !== undefined) {
      const extras: JsonSchema = { ...out };
      delete extras['allOf'];
      return describedRef(ctx, name, extras);
    }
  }

  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = node[key];
    if (!Array.isArray(branches)) continue;
    // A union of literals is an enum.
    const consts = unionConsts(branches);
    if (consts) {
      delete out[key];
      out['enum'] = consts;
      const types = [...new Set(unionTypes(branches))];
      if (types.length === 1 && out['type'] === undefined) out['type'] = types[0];
      continue;
    }
    if (ctx.dialect === 'v2') {
      // Swagger 2.0 has no unions: Kubernetes publishes IntOrString and Quantity as strings.
      delete out[key];
      const types = unionTypes(branches);
      if (node['x-kubernetes-int-or-string'] === true) {
        out['type'] = 'string';
        out['format'] = 'int-or-string';
      } else if (types.length === branches.length && types.length > 0 && out['type'] === undefined) {
        out['type'] = types.includes('string') ? 'string' : types[0];
      }
    }
  }
  return out;
}
