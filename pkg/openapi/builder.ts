// Builds /openapi/v2 (one Swagger 2.0 document for every group) and /openapi/v3 (an index plus one
// OpenAPI 3.0 document per group-version) from ResourceDefinitions alone.
//
// Definition names: a kind's schema `$id` if it has one (the api/ schemas use the names TKE's
// own apiserver publishes, e.g. io.tkestack.tke.api.business.v1.Project), otherwise the
// Kubernetes convention of the reversed group domain (io.tkestack.business.v1.Project). Nested
// `$id`s become their own definitions; inline timestamps become references to meta/v1 Time.
import { createHash } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import { ListMeta, Status } from '../../api/meta/v1/types.ts';
import type { ResourceDefinition } from '../rest/resource.ts';
import { convertSchema, type ConvertContext, type Dialect } from './convert.ts';
import { DeleteOptions, Patch, TimeDefinition, metaNames } from './meta.ts';
import { groupVersionPrefix, referencedDefinitions, renderPaths, resourcePaths } from './paths.ts';
import { DefinitionSet, isObject, refTo, type JsonSchema } from './schema.ts';

export interface OpenAPIInfo {
  title: string;
  version: string;
}

/**
 * A ResourceDefinition, optionally with the schema of its XxxList kind (for the list's own
 * description); without one the builder writes the standard list shape.
 */
export type OpenAPIResource<S extends TSchema = TSchema> = ResourceDefinition<S> & { listSchema?: TSchema };

export interface GroupVersion {
  group: string;
  version: string;
}

type GVK = { group: string; version: string; kind: string };

const wellKnown: Record<string, unknown> = {
  [metaNames.time]: TimeDefinition,
  [metaNames.deleteOptions]: DeleteOptions,
  [metaNames.patch]: Patch,
  [metaNames.status]: Status,
  [metaNames.listMeta]: ListMeta,
};

function schemaId(schema: unknown): string | undefined {
  return isObject(schema) && typeof schema['$id'] === 'string' && schema['$id'] !== '' ? schema['$id'] : undefined;
}

/** `business.tkestack.io`, v1, Project -> `io.tkestack.business.v1.Project`. */
export function conventionalName(group: string, version: string, kind: string): string {
  const domain = group === '' ? ['io', 'k8s', 'api', 'core'] : group.split('.').reverse();
  return [...domain, version, kind].join('.');
}

function listNameFor(kindName: string, kind: string, listKind: string): string {
  return kindName.endsWith(`.${kind}`) ? `${kindName.slice(0, -kind.length)}${listKind}` : `${kindName}List`;
}

function standardList(def: OpenAPIResource, kindName: string): JsonSchema {
  return {
    type: 'object',
    description: `${def.listKind} is a list of ${def.kind} objects.`,
    required: ['items'],
    properties: {
      apiVersion: {
        type: 'string',
        description:
          'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
      },
      kind: {
        type: 'string',
        description:
          'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
      },
      metadata: {
        allOf: [ListMeta],
        description: 'Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
      },
      items: { type: 'array', description: `List of ${def.resource}.`, items: { $ref: refTo(kindName) } },
    },
  };
}

/** Everything one document holds: normalized definitions, their GVKs, and the paths. */
function assemble(defs: readonly OpenAPIResource[], dialect: Dialect): { definitions: JsonSchema; paths: JsonSchema } {
  const set = new DefinitionSet();
  const gvks = new Map<string, GVK[]>();
  const addGVK = (name: string, gvk: GVK) => {
    const list = gvks.get(name) ?? [];
    if (!list.some(g => g.group === gvk.group && g.version === gvk.version && g.kind === gvk.kind)) list.push(gvk);
    gvks.set(name, list);
  };

  const kindNames = new Map<string, Map<string, string>>(); // "group/version" -> kind -> definition name
  const resources: Array<{ def: OpenAPIResource; kind: string; list: string }> = [];
  for (const def of defs) {
    const kindName = schemaId(def.schema) ?? conventionalName(def.group, def.version, def.kind);
    set.addAs(kindName, def.schema);
    const listName = schemaId(def.listSchema) ?? listNameFor(kindName, def.kind, def.listKind);
    set.addAs(listName, def.listSchema ?? standardList(def, kindName));
    addGVK(kindName, { group: def.group, version: def.version, kind: def.kind });
    addGVK(listName, { group: def.group, version: def.version, kind: def.listKind });
    const gv = `${def.group}/${def.version}`;
    const byKind = kindNames.get(gv) ?? new Map<string, string>();
    byKind.set(def.kind, kindName);
    byKind.set(def.listKind, listName);
    kindNames.set(gv, byKind);
    resources.push({ def, kind: kindName, list: listName });
  }

  const items = resources.flatMap(({ def, kind, list }) =>
    resourcePaths(def, { kind, list, kindOf: k => kindNames.get(`${def.group}/${def.version}`)?.get(k) }),
  );
  for (const name of referencedDefinitions(items)) {
    if (!set.definitions.has(name) && wellKnown[name]) set.add(wellKnown[name]);
  }
  // Every group-version accepts DeleteOptions, as Kubernetes publishes it.
  for (const gv of kindNames.keys()) {
    const [group, version] = gv.split('/') as [string, string];
    addGVK(metaNames.deleteOptions, { group, version, kind: 'DeleteOptions' });
  }
  addGVK(metaNames.status, { group: '', version: 'v1', kind: 'Status' });

  // Convert until no new well-known definition is referenced (Time appears only on conversion).
  const converted = new Map<string, JsonSchema>();
  const pending = new Set<string>();
  const ctx: ConvertContext = {
    dialect,
    referenced: name => {
      if (!set.definitions.has(name) && !converted.has(name)) pending.add(name);
    },
  };
  for (;;) {
    for (const [name, schema] of set.definitions) {
      if (!converted.has(name)) converted.set(name, convertSchema(schema, ctx, name));
    }
    const missing = [...pending].filter(n => !set.definitions.has(n));
    pending.clear();
    const added = missing.filter(n => wellKnown[n] !== undefined);
    if (added.length === 0) break;
    for (const name of added) set.add(wellKnown[name]);
  }

  const definitions: JsonSchema = {};
  for (const name of [...converted.keys()].sort()) {
    const schema = converted.get(name)!;
    const gvk = gvks.get(name);
    definitions[name] = gvk ? { ...schema, 'x-kubernetes-group-version-kind': gvk } : schema;
  }
  const rendered = renderPaths(items, dialect);
  const paths: JsonSchema = {};
  for (const p of Object.keys(rendered).sort()) paths[p] = rendered[p];
  return { definitions, paths };
}

const bearer = { type: 'apiKey', name: 'authorization', in: 'header', description: 'Bearer Token authentication' };

/** The Swagger 2.0 document served at /openapi/v2, covering every definition. */
export function buildOpenAPIV2(defs: readonly OpenAPIResource[], info: OpenAPIInfo): JsonSchema {
  const { definitions, paths } = assemble(defs, 'v2');
  return {
    swagger: '2.0',
    info: { title: info.title, version: info.version },
    paths,
    definitions,
    securityDefinitions: { BearerToken: bearer },
    security: [{ BearerToken: [] }],
  };
}

function parseGroupVersion(gv: string | GroupVersion): GroupVersion {
  if (typeof gv !== 'string') return gv;
  const slash = gv.indexOf('/');
  return slash < 0 ? { group: '', version: gv } : { group: gv.slice(0, slash), version: gv.slice(slash + 1) };
}

/**
 * The OpenAPI 3.0 document of one group-version (/openapi/v3/apis/<group>/<version>), or
 * undefined when no definition serves it.
 */
export function buildOpenAPIV3(
  defs: readonly OpenAPIResource[],
  groupVersion: string | GroupVersion,
  info: OpenAPIInfo = { title: 'Kubernetes', version: 'unversioned' },
): JsonSchema | undefined {
  const { group, version } = parseGroupVersion(groupVersion);
  const mine = defs.filter(d => d.group === group && d.version === version);
  if (mine.length === 0) return undefined;
  const { definitions, paths } = assemble(mine, 'v3');
  return {
    openapi: '3.0.0',
    info: { title: info.title, version: info.version },
    paths,
    components: { schemas: definitions, securitySchemes: { BearerToken: bearer } },
    security: [{ BearerToken: [] }],
  };
}

/** Hash of a document's JSON, as Kubernetes computes the `?hash=` of its v3 index and the ETag. */
export function documentETag(doc: unknown): string {
  return createHash('sha512').update(JSON.stringify(doc)).digest('hex').toUpperCase();
}

/** `apis/<group>/<version>` (or `api/v1`): the key of a group-version in the /openapi/v3 index. */
export function openAPIV3Key(gv: GroupVersion): string {
  return groupVersionPrefix(gv.group, gv.version).slice(1);
}

export interface OpenAPIV3Set {
  /** The /openapi/v3 body: `{paths: {"apis/<g>/<v>": {serverRelativeURL}}}`. */
  index: { paths: Record<string, { serverRelativeURL: string }> };
  /** Documents by index key, with their hash. */
  documents: Map<string, { document: JsonSchema; etag: string }>;
}

/** Every group-version document and the index pointing at them by content hash. */
export function buildOpenAPIV3Set(defs: readonly OpenAPIResource[], info: OpenAPIInfo): OpenAPIV3Set {
  const gvs = new Map<string, GroupVersion>();
  for (const d of defs) gvs.set(openAPIV3Key(d), { group: d.group, version: d.version });
  const index: OpenAPIV3Set['index'] = { paths: {} };
  const documents: OpenAPIV3Set['documents'] = new Map();
  for (const key of [...gvs.keys()].sort()) {
    const document = buildOpenAPIV3(defs, gvs.get(key)!, info)!;
    const etag = documentETag(document);
    documents.set(key, { document, etag });
    index.paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${etag}` };
  }
  return { index, documents };
}
