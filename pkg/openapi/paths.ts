// The REST operations of a resource, as Kubernetes describes them in OpenAPI: one path per
// collection/item/subresource, operation ids like `listBusinessTkestackIoV1Project`, and the
// `x-kubernetes-action` / `x-kubernetes-group-version-kind` extensions clients key on (kubectl
// decides whether the server validates fields by finding `fieldValidation` among the parameters
// of a PATCH operation carrying the kind's GVK, so every PATCH lists it on the operation itself).
import { allVerbs, type ResourceDefinition, type Verb } from '../rest/resource.ts';
import { componentRef, type Dialect } from './convert.ts';
import { metaNames } from './meta.ts';
import type { JsonSchema } from './schema.ts';

interface Param {
  name: string;
  in: 'query' | 'path';
  type: 'string' | 'integer' | 'boolean';
  description: string;
  required?: boolean;
}

type Method = 'get' | 'put' | 'post' | 'patch' | 'delete';
type Action = 'list' | 'post' | 'deletecollection' | 'get' | 'put' | 'patch' | 'delete';

interface Operation {
  method: Method;
  operationId: string;
  description: string;
  action: Action;
  gvk: { group: string; version: string; kind: string };
  params: Param[];
  /** Definition name of the request body. */
  body?: string;
  /** Status code -> definition name of the response body. */
  responses: Array<[code: string, definition: string]>;
  patch?: boolean;
  list?: boolean;
}

interface PathItem {
  path: string;
  params: Param[];
  operations: Operation[];
}

const q = (name: string, type: Param['type'], description: string): Param => ({ name, in: 'query', type, description });

const params = {
  pretty: q('pretty', 'string', "If 'true', then the output is pretty printed."),
  dryRun: q(
    'dryRun',
    'string',
    'When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed',
  ),
  fieldManager: q(
    'fieldManager',
    'string',
    'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.',
  ),
  fieldValidation: q(
    'fieldValidation',
    'string',
    'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: silently drops unknown fields. - Warn: sends a warning via the standard warning response header for each unknown field. This is the default. - Strict: fails the request with a BadRequest error if any unknown fields would be dropped.',
  ),
  force: q(
    'force',
    'boolean',
    'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.',
  ),
  allowWatchBookmarks: q(
    'allowWatchBookmarks',
    'boolean',
    'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not implement bookmarks may ignore this flag.',
  ),
  continue: q(
    'continue',
    'string',
    'The continue option should be set when retrieving more results from the server. Its value is the continue token of the previous list response; an expired token yields 410 ResourceExpired.',
  ),
  fieldSelector: q('fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  labelSelector: q('labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  limit: q(
    'limit',
    'integer',
    'limit is a maximum number of responses to return for a list call. If more items exist, the server sets the `continue` field on the list metadata.',
  ),
  resourceVersion: q(
    'resourceVersion',
    'string',
    'resourceVersion sets a constraint on what resource versions a request may be served from. Defaults to unset.',
  ),
  resourceVersionMatch: q(
    'resourceVersionMatch',
    'string',
    'resourceVersionMatch determines how resourceVersion is applied to list calls (Exact or NotOlderThan).',
  ),
  sendInitialEvents: q(
    'sendInitialEvents',
    'boolean',
    '`sendInitialEvents=true` may be set together with `watch=true`: the watch stream begins with synthetic events for the current state of all objects, then a bookmark.',
  ),
  timeoutSeconds: q(
    'timeoutSeconds',
    'integer',
    'Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.',
  ),
  watch: q(
    'watch',
    'boolean',
    'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.',
  ),
  gracePeriodSeconds: q(
    'gracePeriodSeconds',
    'integer',
    'The duration in seconds before the object should be deleted. The value zero indicates delete immediately.',
  ),
  orphanDependents: q('orphanDependents', 'boolean', 'Deprecated: please use the PropagationPolicy. Should the dependent objects be orphaned.'),
  propagationPolicy: q('propagationPolicy', 'string', "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."),
  name: (kind: string): Param => ({ name: 'name', in: 'path', type: 'string', required: true, description: `name of the ${kind}` }),
  namespace: {
    name: 'namespace',
    in: 'path',
    type: 'string',
    required: true,
    description: 'object name and auth scope, such as for teams and projects',
  } satisfies Param,
};

const listParams = [
  params.allowWatchBookmarks,
  params.continue,
  params.fieldSelector,
  params.labelSelector,
  params.limit,
  params.resourceVersion,
  params.resourceVersionMatch,
  params.sendInitialEvents,
  params.timeoutSeconds,
  params.watch,
];
const writeParams = [params.dryRun, params.fieldManager, params.fieldValidation];
const deleteParams = [params.dryRun, params.gracePeriodSeconds, params.orphanDependents, params.propagationPolicy];

/** `business.tkestack.io` -> `BusinessTkestackIo`; Kubernetes drops the `.k8s.io` suffix of its own groups. */
export function groupIdentifier(group: string): string {
  if (group === '') return 'Core';
  return group
    .replace(/\.k8s\.io$/, '')
    .split(/[.-]/)
    .filter(Boolean)
    .map(p => p[0]!.toUpperCase() + p.slice(1))
    .join('');
}

function pascal(s: string): string {
  return s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map(p => p[0]!.toUpperCase() + p.slice(1))
    .join('');
}

export function groupVersionPrefix(group: string, version: string): string {
  return group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
}

/** Definition names the operations of `def` need, resolved by the document builder. */
export interface ResourceNames {
  kind: string;
  list: string;
  /** Definition name of a custom subresource's kind, when the document has one. */
  kindOf(kind: string): string | undefined;
}

export function resourcePaths(def: ResourceDefinition, names: ResourceNames): PathItem[] {
  const verbs = new Set<Verb>(def.verbs ?? allVerbs);
  const gv = groupVersionPrefix(def.group, def.version);
  const id = `${groupIdentifier(def.group)}${pascal(def.version)}`;
  const ns = def.namespaced ? 'Namespaced' : '';
  const gvk = { group: def.group, version: def.version, kind: def.kind };
  const base = def.namespaced ? `${gv}/namespaces/{namespace}/${def.resource}` : `${gv}/${def.resource}`;
  const scope = def.namespaced ? [params.namespace] : [];
  const items: PathItem[] = [];
  const kind = def.kind;

  const collection: Operation[] = [];
  if (verbs.has('list') || verbs.has('watch')) {
    collection.push({
      method: 'get',
      operationId: `list${id}${ns}${kind}`,
      description: `list or watch objects of kind ${kind}`,
      action: 'list',
      gvk,
      params: listParams,
      responses: [['200', names.list]],
      list: true,
    });
  }
  if (verbs.has('create')) {
    collection.push({
      method: 'post',
      operationId: `create${id}${ns}${kind}`,
      description: `create a ${kind}`,
      action: 'post',
      gvk,
      params: writeParams,
      body: names.kind,
      responses: [
        ['200', names.kind],
        ['201', names.kind],
        ['202', names.kind],
      ],
    });
  }
  if (verbs.has('deletecollection')) {
    collection.push({
      method: 'delete',
      operationId: `delete${id}Collection${ns}${kind}`,
      description: `delete collection of ${kind}`,
      action: 'deletecollection',
      gvk,
      params: [...listParams.filter(p => p.name !== 'watch' && p.name !== 'allowWatchBookmarks'), ...deleteParams],
      body: metaNames.deleteOptions,
      responses: [['200', metaNames.status]],
    });
  }
  if (collection.length) items.push({ path: base, params: [...scope, params.pretty], operations: collection });

  if (def.namespaced && (verbs.has('list') || verbs.has('watch'))) {
    items.push({
      path: `${gv}/${def.resource}`,
      params: [params.pretty],
      operations: [
        {
          method: 'get',
          operationId: `list${id}${kind}ForAllNamespaces`,
          description: `list or watch objects of kind ${kind}`,
          action: 'list',
          gvk,
          params: listParams,
          responses: [['200', names.list]],
          list: true,
        },
      ],
    });
  }

  const item: Operation[] = [];
  const itemParams = [params.name(kind), ...scope, params.pretty];
  if (verbs.has('get')) {
    item.push({
      method: 'get',
      operationId: `read${id}${ns}${kind}`,
      description: `read the specified ${kind}`,
      action: 'get',
      gvk,
      params: [],
      responses: [['200', names.kind]],
    });
  }
  if (verbs.has('update')) {
    item.push({
      method: 'put',
      operationId: `replace${id}${ns}${kind}`,
      description: `replace the specified ${kind}`,
      action: 'put',
      gvk,
      params: writeParams,
      body: names.kind,
      responses: [
        ['200', names.kind],
        ['201', names.kind],
      ],
    });
  }
  if (verbs.has('patch')) {
    item.push({
      method: 'patch',
      operationId: `patch${id}${ns}${kind}`,
      description: `partially update the specified ${kind}`,
      action: 'patch',
      gvk,
      params: [...writeParams, params.force],
      body: metaNames.patch,
      responses: [
        ['200', names.kind],
        ['201', names.kind],
      ],
      patch: true,
    });
  }
  if (verbs.has('delete')) {
    item.push({
      method: 'delete',
      operationId: `delete${id}${ns}${kind}`,
      description: `delete a ${kind}`,
      action: 'delete',
      gvk,
      params: deleteParams,
      body: metaNames.deleteOptions,
      responses: [
        ['200', metaNames.status],
        ['202', metaNames.status],
      ],
    });
  }
  if (item.length) items.push({ path: `${base}/{name}`, params: itemParams, operations: item });

  if (def.subresources.status) {
    const status: Operation[] = [
      {
        method: 'get',
        operationId: `read${id}${ns}${kind}Status`,
        description: `read status of the specified ${kind}`,
        action: 'get',
        gvk,
        params: [],
        responses: [['200', names.kind]],
      },
      {
        method: 'put',
        operationId: `replace${id}${ns}${kind}Status`,
        description: `replace status of the specified ${kind}`,
        action: 'put',
        gvk,
        params: writeParams,
        body: names.kind,
        responses: [
          ['200', names.kind],
          ['201', names.kind],
        ],
      },
      {
        method: 'patch',
        operationId: `patch${id}${ns}${kind}Status`,
        description: `partially update status of the specified ${kind}`,
        action: 'patch',
        gvk,
        params: [...writeParams, params.force],
        body: metaNames.patch,
        responses: [
          ['200', names.kind],
          ['201', names.kind],
        ],
        patch: true,
      },
    ];
    items.push({ path: `${base}/{name}/status`, params: itemParams, operations: status });
  }
  if (def.subresources.finalize) {
    items.push({
      path: `${base}/{name}/finalize`,
      params: itemParams,
      operations: [
        {
          method: 'put',
          operationId: `replace${id}${ns}${kind}Finalize`,
          description: `replace finalize of the specified ${kind}`,
          action: 'put',
          gvk,
          params: writeParams,
          body: names.kind,
          responses: [
            ['200', names.kind],
            ['201', names.kind],
          ],
        },
      ],
    });
  }
  for (const [sub, custom] of Object.entries(def.subresources.custom ?? {})) {
    const subKind = names.kindOf(custom.kind);
    const subGvk = { group: def.group, version: def.version, kind: custom.kind };
    const ops: Operation[] = [];
    const suffix = pascal(sub);
    const responses: Operation['responses'] = subKind ? [['200', subKind]] : [];
    for (const verb of custom.verbs) {
      if (verb === 'get')
        ops.push({
          method: 'get',
          operationId: `read${id}${ns}${kind}${suffix}`,
          description: `read ${sub} of the specified ${kind}`,
          action: 'get',
          gvk: subGvk,
          params: [],
          responses,
        });
      if (verb === 'create')
        ops.push({
          method: 'post',
          operationId: `create${id}${ns}${kind}${suffix}`,
          description: `create ${sub} of a ${kind}`,
          action: 'post',
          gvk: subGvk,
          params: writeParams,
          ...(subKind ? { body: subKind } : {}),
          responses,
        });
      if (verb === 'update')
        ops.push({
          method: 'put',
          operationId: `replace${id}${ns}${kind}${suffix}`,
          description: `replace ${sub} of the specified ${kind}`,
          action: 'put',
          gvk: subGvk,
          params: writeParams,
          ...(subKind ? { body: subKind } : {}),
          responses,
        });
    }
    if (ops.length) items.push({ path: `${base}/{name}/${sub}`, params: itemParams, operations: ops });
  }
  return items;
}

// --- rendering ----------------------------------------------------------------------------------

const responseTypes = ['application/json', 'application/yaml'];
const patchTypes = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

function renderParam(p: Param, dialect: Dialect): JsonSchema {
  const base: JsonSchema = { name: p.name, in: p.in, description: p.description };
  if (p.required) base['required'] = true;
  const unique = p.in === 'query' ? { uniqueItems: true } : {};
  if (dialect === 'v2') return { ...base, type: p.type, ...unique };
  return { ...base, schema: { type: p.type, ...unique } };
}

function tag(def: { group: string; version: string }): string {
  const g = groupIdentifier(def.group);
  return `${g[0]!.toLowerCase()}${g.slice(1)}_${def.version}`;
}

function renderOperation(op: Operation, dialect: Dialect): JsonSchema {
  const out: JsonSchema = {
    description: op.description,
    operationId: op.operationId,
    tags: [tag(op.gvk)],
  };
  const parameters = op.params.map(p => renderParam(p, dialect));
  const okResponses: JsonSchema = {};
  for (const [code, def] of op.responses) {
    const schema = { $ref: componentRef(dialect, def) };
    const description = code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK';
    if (dialect === 'v2') {
      okResponses[code] = { description, schema };
    } else {
      const types = op.list ? [...responseTypes, 'application/json;stream=watch'] : responseTypes;
      okResponses[code] = { description, content: Object.fromEntries(types.map(t => [t, { schema }])) };
    }
  }
  if (op.responses.length === 0) okResponses['200'] = { description: 'OK' };
  okResponses['401'] = { description: 'Unauthorized' };
  if (dialect === 'v2') {
    if (op.body) parameters.unshift({ name: 'body', in: 'body', required: op.method !== 'delete', schema: { $ref: componentRef(dialect, op.body) } });
    out['consumes'] = op.patch ? patchTypes : ['*/*'];
    out['produces'] = op.list ? [...responseTypes, 'application/json;stream=watch'] : responseTypes;
    out['schemes'] = ['https'];
  } else if (op.body) {
    const schema = { $ref: componentRef(dialect, op.body) };
    out['requestBody'] = {
      content: Object.fromEntries((op.patch ? patchTypes : ['*/*']).map(t => [t, { schema }])),
      ...(op.method !== 'delete' ? { required: true } : {}),
    };
  }
  out['parameters'] = parameters;
  out['responses'] = okResponses;
  out['x-kubernetes-action'] = op.action;
  out['x-kubernetes-group-version-kind'] = op.gvk;
  return out;
}

/** The `paths` entries of `items` in `dialect`. */
export function renderPaths(items: PathItem[], dialect: Dialect): JsonSchema {
  const out: JsonSchema = {};
  for (const item of items) {
    const rendered: JsonSchema = { parameters: item.params.map(p => renderParam(p, dialect)) };
    for (const op of item.operations) rendered[op.method] = renderOperation(op, dialect);
    out[item.path] = rendered;
  }
  return out;
}

/** Every definition name the operations reference. */
export function referencedDefinitions(items: PathItem[]): Set<string> {
  const out = new Set<string>();
  for (const item of items) {
    for (const op of item.operations) {
      if (op.body) out.add(op.body);
      for (const [, def] of op.responses) out.add(def);
    }
  }
  return out;
}
