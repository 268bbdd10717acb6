import { specFinalizers } from '../../pkg/apis/tke/finalizers.ts';
import assert from 'node:assert/strict';
import { Type, type TSchema } from '@sinclair/typebox';
import { Time } from '../../api/meta/v1/schema.ts';
import { Namespace } from '../../api/business/v1/namespace.ts';
import { Project, ProjectList } from '../../api/business/v1/project.ts';
import { Cluster } from '../../api/platform/v1/cluster.ts';
import { buildOpenAPIV2, buildOpenAPIV3, buildOpenAPIV3Set, documentETag, type OpenAPIResource } from '../../pkg/openapi/builder.ts';
import { TimeDefinition } from '../../pkg/openapi/meta.ts';
import { openAPIProvider } from '../../pkg/openapi/provider.ts';
import type { KubeObject } from '../../api/meta/v1/types.ts';

type Obj = Record<string, any>;

function resource(over: Partial<OpenAPIResource> & Pick<OpenAPIResource, 'group' | 'kind' | 'resource' | 'schema'>): OpenAPIResource {
  return {
    version: 'v1',
    listKind: `${over.kind}List`,
    singular: over.kind.toLowerCase(),
    namespaced: false,
    shortNames: [],
    categories: [],
    subresources: {},
    strategy: {},
    ...over,
  };
}

const projects = resource({
  group: 'business.tkestack.io',
  kind: 'Project',
  resource: 'projects',
  schema: Project,
  listSchema: ProjectList,
  subresources: { status: true, finalize: specFinalizers },
});
const namespaces = resource({
  group: 'business.tkestack.io',
  kind: 'Namespace',
  resource: 'namespaces',
  schema: Namespace,
  namespaced: true,
  subresources: {
    status: true,
    finalize: specFinalizers,
    custom: { certificate: { verbs: ['get'], kind: 'Namespace', handle: async ({ parent }) => parent as KubeObject } },
  },
});
const clusters = resource({
  group: 'platform.tkestack.io',
  kind: 'Cluster',
  resource: 'clusters',
  schema: Cluster,
  subresources: { status: true, finalize: specFinalizers },
  verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
});
const defs = [projects, namespaces, clusters];
const info = { title: 'test', version: 'v0.0.1' };

/** Every `$ref` in `doc`, with whether it resolves inside `doc`. */
function refs(doc: unknown): Array<{ ref: string; ok: boolean }> {
  const out: Array<{ ref: string; ok: boolean }> = [];
  const resolve = (ref: string): boolean => {
    if (!ref.startsWith('#/')) return false;
    let cur: unknown = doc;
    for (const raw of ref.slice(2).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (typeof cur !== 'object' || cur === null || !(key in cur)) return false;
      cur = (cur as Obj)[key];
    }
    return true;
  };
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push({ ref: x, ok: resolve(x) });
      else walk(x);
    }
  };
  walk(doc);
  return out;
}

function keysAnywhere(doc: unknown, wanted: string): number {
  let n = 0;
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === wanted) n++;
      walk(x);
    }
  };
  walk(doc);
  return n;
}

const gvkOf = (schema: Obj) => schema['x-kubernetes-group-version-kind'] as Array<{ group: string; version: string; kind: string }> | undefined;

describe('OpenAPI v3', () => {
  const doc = buildOpenAPIV3(defs, 'business.tkestack.io/v1', info)! as Obj;
  const schemas = doc.components.schemas as Record<string, Obj>;

  it('is an OpenAPI 3.0 document for the group-version only', () => {
    assert.equal(doc.openapi, '3.0.0');
    assert.ok(Object.keys(doc.paths).every(p => p.startsWith('/apis/business.tkestack.io/v1/')));
    assert.ok(!Object.values(schemas).some(s => gvkOf(s)?.some(g => g.kind === 'Cluster')));
  });

  it('has Project and ProjectList with x-kubernetes-group-version-kind', () => {
    const project = Object.values(schemas).find(s => gvkOf(s)?.some(g => g.group === 'business.tkestack.io' && g.version === 'v1' && g.kind === 'Project'));
    assert.ok(project, Object.keys(schemas).join(', '));
    assert.ok(project.properties.spec);
    assert.ok(project.properties.status);
    assert.deepEqual(gvkOf(schemas['io.tkestack.tke.api.business.v1.Project']!), [{ group: 'business.tkestack.io', version: 'v1', kind: 'Project' }]);
    const list = schemas['io.tkestack.tke.api.business.v1.ProjectList']!;
    assert.deepEqual(gvkOf(list), [{ group: 'business.tkestack.io', version: 'v1', kind: 'ProjectList' }]);
    assert.equal(list.description, 'ProjectList is the whole list of all projects which owned by a tenant.');
    assert.deepEqual(list.properties.items.items, { $ref: '#/components/schemas/io.tkestack.tke.api.business.v1.Project' });
    // Without a listSchema the builder writes the standard list shape.
    assert.deepEqual(gvkOf(schemas['io.tkestack.tke.api.business.v1.NamespaceList']!), [
      { group: 'business.tkestack.io', version: 'v1', kind: 'NamespaceList' },
    ]);
  });

  it('every $ref resolves inside the document', () => {
    const all = refs(doc);
    assert.ok(all.length > 50);
    assert.deepEqual(
      all.filter(r => !r.ok),
      [],
    );
    assert.ok(all.every(r => r.ref.startsWith('#/components/schemas/')));
  });

  it('publishes the meta types once, under the Kubernetes names', () => {
    for (const name of ['ObjectMeta', 'ListMeta', 'Status', 'ManagedFieldsEntry', 'OwnerReference', 'Time', 'DeleteOptions', 'Patch']) {
      assert.ok(schemas[`io.k8s.apimachinery.pkg.apis.meta.v1.${name}`], name);
    }
    const meta = schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']!;
    assert.deepEqual(meta.properties.creationTimestamp, { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time' });
    assert.deepEqual(meta.properties.ownerReferences.items, { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference' });
    assert.equal(meta.properties.ownerReferences['x-kubernetes-patch-merge-key'], 'uid');
    assert.deepEqual(schemas['io.tkestack.tke.api.business.v1.Project']!.properties.metadata, {
      $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
    });
  });

  it('keeps field docs for kubectl explain (spec.clusters is a map of HardQuantity)', () => {
    const spec = schemas['io.tkestack.tke.api.business.v1.ProjectSpec']!;
    assert.equal(spec.properties.clusters.type, 'object');
    assert.match(spec.properties.clusters.description, /^Clusters represents clusters that can be used/);
    assert.deepEqual(spec.properties.clusters.additionalProperties, { $ref: '#/components/schemas/io.tkestack.tke.api.business.v1.HardQuantity' });
    const hard = schemas['io.tkestack.tke.api.business.v1.HardQuantity']!;
    assert.deepEqual(hard.properties.hard.additionalProperties, { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity' });
    const project = schemas['io.tkestack.tke.api.business.v1.Project']!;
    assert.deepEqual(project.properties.spec.allOf, [{ $ref: '#/components/schemas/io.tkestack.tke.api.business.v1.ProjectSpec' }]);
    assert.equal(project.properties.spec.description, 'Spec defines the desired identities of project in this set.');
    const status = schemas['io.tkestack.tke.api.business.v1.ProjectStatus']!;
    assert.deepEqual(status.properties.phase.enum, ['Active', 'Pending', 'Terminating', 'Failed']);
    assert.deepEqual(status.properties.lastTransitionTime.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time' }]);
  });

  it('uses no keyword OpenAPI 3.0 lacks', () => {
    for (const k of ['$id', 'patternProperties', 'const', '$schema', '$defs']) assert.equal(keysAnywhere(doc, k), 0, k);
  });

  it('describes the REST operations with GVK and action, fieldValidation on every PATCH', () => {
    const item = doc.paths['/apis/business.tkestack.io/v1/projects/{name}'];
    assert.deepEqual(
      Object.keys(item)
        .filter(k => k !== 'parameters')
        .sort(),
      ['delete', 'get', 'patch', 'put'],
    );
    assert.equal(item.get.operationId, 'readBusinessTkestackIoV1Project');
    assert.equal(item.get['x-kubernetes-action'], 'get');
    assert.deepEqual(item.patch['x-kubernetes-group-version-kind'], { group: 'business.tkestack.io', version: 'v1', kind: 'Project' });
    assert.ok(Object.keys(item.patch.requestBody.content).includes('application/strategic-merge-patch+json'));
    const collection = doc.paths['/apis/business.tkestack.io/v1/projects'];
    assert.equal(collection.get['x-kubernetes-action'], 'list');
    assert.equal(collection.get.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/io.tkestack.tke.api.business.v1.ProjectList');
    assert.ok(collection.get.parameters.some((p: Obj) => p.name === 'watch'));
    assert.equal(collection.post['x-kubernetes-action'], 'post');
    assert.ok(doc.paths['/apis/business.tkestack.io/v1/projects/{name}/status'].patch);
    assert.ok(doc.paths['/apis/business.tkestack.io/v1/projects/{name}/finalize'].put);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Obj>)) {
      if (!ops.patch) continue;
      assert.ok(
        ops.patch.parameters.some((p: Obj) => p.name === 'fieldValidation' && p.in === 'query'),
        path,
      );
      assert.ok(ops.patch['x-kubernetes-group-version-kind'], path);
    }
    const ids = Object.values(doc.paths as Record<string, Obj>).flatMap(ops =>
      Object.entries(ops)
        .filter(([k]) => k !== 'parameters')
        .map(([, op]) => op.operationId as string),
    );
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  });

  it('scopes namespaced kinds by namespace, with a list across namespaces and custom subresources', () => {
    const item = doc.paths['/apis/business.tkestack.io/v1/namespaces/{namespace}/namespaces/{name}'];
    assert.deepEqual(
      item.parameters.map((p: Obj) => p.name),
      ['name', 'namespace', 'pretty'],
    );
    assert.equal(item.get.operationId, 'readBusinessTkestackIoV1NamespacedNamespace');
    assert.equal(doc.paths['/apis/business.tkestack.io/v1/namespaces'].get.operationId, 'listBusinessTkestackIoV1NamespaceForAllNamespaces');
    const cert = doc.paths['/apis/business.tkestack.io/v1/namespaces/{namespace}/namespaces/{name}/certificate'];
    assert.equal(cert.get.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/io.tkestack.tke.api.business.v1.Namespace');
  });

  it('carries patch strategies and list types of the Go tags', () => {
    const platform = buildOpenAPIV3(defs, { group: 'platform.tkestack.io', version: 'v1' }, info)! as Obj;
    const status = platform.components.schemas['io.tkestack.tke.api.platform.v1.ClusterStatus'];
    assert.equal(status.properties.conditions['x-kubernetes-patch-merge-key'], 'type');
    assert.equal(status.properties.conditions['x-kubernetes-patch-strategy'], 'merge');
    assert.equal(status.properties.conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(status.properties.conditions['x-kubernetes-list-map-keys'], ['type']);
    assert.equal(status.properties.addresses['x-kubernetes-patch-merge-key'], 'type');
    assert.deepEqual(
      refs(platform).filter(r => !r.ok),
      [],
    );
    // verbs narrowed: no deletecollection
    assert.equal(platform.paths['/apis/platform.tkestack.io/v1/clusters'].delete, undefined);
    const strategy = platform.components.schemas['io.tkestack.tke.api.platform.v1.UpgradeStrategy'];
    assert.deepEqual(strategy.properties.maxUnready.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }]);
    assert.equal(strategy.properties.maxUnready.default, 0);
  });

  it('returns undefined for a group-version nobody serves', () => {
    assert.equal(buildOpenAPIV3(defs, 'auth.tkestack.io/v1', info), undefined);
  });
});

describe('OpenAPI v3 index', () => {
  it('points at each group-version document by content hash', () => {
    const set = buildOpenAPIV3Set(defs, info);
    assert.deepEqual(Object.keys(set.index.paths), ['apis/business.tkestack.io/v1', 'apis/platform.tkestack.io/v1']);
    const entry = set.index.paths['apis/business.tkestack.io/v1']!;
    const doc = set.documents.get('apis/business.tkestack.io/v1')!;
    assert.equal(entry.serverRelativeURL, `/openapi/v3/apis/business.tkestack.io/v1?hash=${documentETag(doc.document)}`);
    assert.match(doc.etag, /^[0-9A-F]{128}$/);
  });

  it('the provider serves the same documents, built once', () => {
    const p = openAPIProvider(defs, '0.1.0');
    assert.equal(p.v3('business.tkestack.io', 'v1'), p.v3('business.tkestack.io', 'v1'));
    assert.equal(p.v3('nope.io', 'v1'), undefined);
    assert.ok(p.v3Index().paths['apis/platform.tkestack.io/v1']);
    assert.equal((p.v2() as Obj).info.version, 'v0.1.0');
  });
});

describe('OpenAPI v2', () => {
  const doc = buildOpenAPIV2(defs, info) as Obj;
  const definitions = doc.definitions as Record<string, Obj>;

  it('is Swagger 2.0 with every kind and its GVK', () => {
    assert.equal(doc.swagger, '2.0');
    for (const [group, kind] of [
      ['platform.tkestack.io', 'Cluster'],
      ['business.tkestack.io', 'Project'],
      ['business.tkestack.io', 'NamespaceList'],
    ] as const) {
      assert.ok(
        Object.values(definitions).some(s => gvkOf(s)?.some(g => g.group === group && g.kind === kind)),
        kind,
      );
    }
  });

  it('every $ref resolves and points into definitions', () => {
    const all = refs(doc);
    assert.deepEqual(
      all.filter(r => !r.ok),
      [],
    );
    assert.ok(all.every(r => r.ref.startsWith('#/definitions/')));
  });

  it('spells unions and documented references the Swagger 2.0 way', () => {
    assert.equal(keysAnywhere(doc, 'anyOf'), 0);
    assert.equal(keysAnywhere(doc, 'oneOf'), 0);
    assert.equal(keysAnywhere(doc, 'nullable'), 0);
    assert.deepEqual(
      {
        type: definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString']!.type,
        format: definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString']!.format,
      },
      { type: 'string', format: 'int-or-string' },
    );
    assert.equal(definitions['io.k8s.apimachinery.pkg.api.resource.Quantity']!.type, 'string');
    const spec = definitions['io.tkestack.tke.api.business.v1.Project']!.properties.spec;
    assert.deepEqual(spec, {
      $ref: '#/definitions/io.tkestack.tke.api.business.v1.ProjectSpec',
      description: 'Spec defines the desired identities of project in this set.',
    });
  });

  it('has body and query parameters on the operations', () => {
    const patch = doc.paths['/apis/platform.tkestack.io/v1/clusters/{name}'].patch;
    assert.ok(patch.consumes.includes('application/apply-patch+yaml'));
    assert.deepEqual(patch.parameters[0], {
      name: 'body',
      in: 'body',
      required: true,
      schema: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' },
    });
    assert.ok(patch.parameters.some((p: Obj) => p.name === 'fieldValidation' && p.type === 'string'));
  });
});

describe('definition naming', () => {
  it('names a kind without $id by the reversed group domain', () => {
    const Widget = Type.Object({ spec: Type.Optional(Type.Object({ size: Type.Optional(Type.Integer()) })) });
    const doc = buildOpenAPIV3(
      [resource({ group: 'example.tkestack.io', kind: 'Widget', resource: 'widgets', schema: Widget })],
      'example.tkestack.io/v1',
      info,
    )! as Obj;
    assert.ok(doc.components.schemas['io.tkestack.example.v1.Widget']);
    assert.ok(doc.components.schemas['io.tkestack.example.v1.WidgetList']);
  });

  it('accepts two equal schemas under one $id (meta/v1 Time declared in api/ and in pkg/openapi)', () => {
    const Stamped = Type.Object({ at: Type.Optional(Time), seen: Type.Optional(TimeDefinition) });
    const doc = buildOpenAPIV3([resource({ group: 'a.example.io', kind: 'Stamped', resource: 'stampeds', schema: Stamped })], 'a.example.io/v1', info)! as Obj;
    assert.equal(doc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.Time'].format, 'date-time');
  });

  it('refuses two different schemas under one $id', () => {
    const a: TSchema = Type.Object({ x: Type.String() }, { $id: 'com.example.Same' });
    const b: TSchema = Type.Object({ y: Type.String() }, { $id: 'com.example.Same' });
    const defsWithClash = [
      resource({ group: 'a.example.io', kind: 'A', resource: 'as', schema: Type.Object({ a: a }) }),
      resource({ group: 'a.example.io', kind: 'B', resource: 'bs', schema: Type.Object({ b: b }) }),
    ];
    assert.throws(() => buildOpenAPIV3(defsWithClash, 'a.example.io/v1', info), /declared twice/);
  });
});
