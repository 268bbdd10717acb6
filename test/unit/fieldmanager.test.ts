import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { objectSchema } from '../../api/meta/v1/schema.ts';
import type { KubeObject, ManagedFieldsEntry } from '../../api/meta/v1/types.ts';
import { LAST_APPLIED_ANNOTATION, serverSideApply, stripManagedFields, updateManagedFields } from '../../pkg/rest/fieldmanager.ts';
import { FieldSet, fromFieldsV1, pathString, pe, toFieldsV1 } from '../../pkg/rest/fieldmanager/fieldpath.ts';
import { fieldSet } from '../../pkg/rest/fieldmanager/typed.ts';
import { StatusError } from '../../pkg/rest/errors.ts';

const GV = 'business.tkestack.io/v1';
const T0 = '2024-01-01T00:00:00Z';
const T1 = '2024-01-02T00:00:00Z';
const T2 = '2024-01-03T00:00:00Z';

const Spec = Type.Object({
  displayName: Type.Optional(Type.String()),
  tenantID: Type.Optional(Type.String()),
  members: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' })),
  clusters: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        zone: Type.Optional(Type.String()),
        value: Type.Optional(Type.String()),
      }),
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    ),
  ),
  zoned: Type.Optional(
    Type.Array(Type.Object({ name: Type.String(), zone: Type.String(), n: Type.Optional(Type.Integer()) }), {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['zone', 'name'],
    }),
  ),
  tags: Type.Optional(Type.Array(Type.String())),
  quota: Type.Optional(Type.Record(Type.String(), Type.String())),
  nested: Type.Optional(Type.Object({ a: Type.Optional(Type.String()), b: Type.Optional(Type.String()) })),
});
const schema = objectSchema({
  id: 'io.test.Project',
  description: 'test kind',
  properties: { spec: Type.Optional(Spec), status: Type.Optional(Type.Object({ phase: Type.Optional(Type.String()) })) },
});

function project(spec: Record<string, unknown>, metadata: KubeObject['metadata'] = {}): KubeObject {
  return { apiVersion: GV, kind: 'Project', metadata: { name: 'p1', ...metadata }, spec };
}

function entry(obj: KubeObject, manager: string, operation = 'Update'): ManagedFieldsEntry | undefined {
  return obj.metadata.managedFields?.find(e => e.manager === manager && e.operation === operation);
}

function created(spec: Record<string, unknown>, manager = 'creator', metadata: KubeObject['metadata'] = {}): KubeObject {
  const obj = project(spec, { uid: 'u1', resourceVersion: '1', creationTimestamp: T0, ...metadata });
  return updateManagedFields(undefined, obj, manager, 'Update', GV, undefined, T0, { schema });
}

function apply(live: KubeObject | undefined, config: KubeObject, manager: string, force = false, now = T1, options = {}): KubeObject {
  return serverSideApply(live, config, manager, force, schema, GV, now, { kind: 'Project', ...options });
}

function conflictOf(fn: () => unknown): StatusError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StatusError, String(e));
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'Conflict');
    return e;
  }
  assert.fail('expected a conflict');
}

describe('fieldmanager: field sets and fieldsV1', () => {
  it('encodes an object in Kubernetes fieldsV1 form', () => {
    const obj = project({ displayName: 'D', members: ['alice'], clusters: [{ name: 'a', value: '1' }], nested: {} }, { labels: { app: 'x' } });
    assert.deepEqual(toFieldsV1(fieldSet(obj, schema)), {
      'f:apiVersion': {},
      'f:kind': {},
      'f:metadata': { 'f:labels': { 'f:app': {} }, 'f:name': {} },
      'f:spec': {
        'f:clusters': { 'k:{"name":"a"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
        'f:displayName': {},
        'f:members': { 'v:"alice"': {} },
        'f:nested': {},
      },
    });
  });

  it('writes keys with sorted fields, members before children and "." first', () => {
    const obj = project({ zoned: [{ zone: 'z1', name: 'b', n: 1 }] });
    const v1 = toFieldsV1(fieldSet(obj, schema));
    const zoned = (v1['f:spec'] as Record<string, Record<string, unknown>>)['f:zoned'];
    assert.deepEqual(Object.keys(zoned), ['k:{"name":"b","zone":"z1"}']);
    assert.deepEqual(Object.keys(zoned['k:{"name":"b","zone":"z1"}'] as object), ['.', 'f:n', 'f:name', 'f:zone']);
    const set = FieldSet.of([[pe.field('b')], [pe.index(2)], [pe.value('x')], [pe.key([['k', 'v']])], [pe.field('a'), pe.field('z')]]);
    assert.deepEqual(Object.keys(set.toFieldsV1()), ['f:a', 'f:b', 'k:{"k":"v"}', 'v:"x"', 'i:2']);
  });

  it('round-trips fieldsV1 and escapes like Go', () => {
    const json = { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:members': { 'v:"\\u003cb\\u003e"': {} } } };
    const set = fromFieldsV1(json);
    assert.deepEqual(set.toFieldsV1(), json);
    assert.ok(set.has(['f:metadata', 'f:labels']));
    assert.ok(set.has(['f:metadata', 'f:labels', 'f:app']));
    assert.ok(!set.has(['f:metadata']));
    assert.equal(pe.value('<b>'), 'v:"\\u003cb\\u003e"');
    assert.throws(() => fromFieldsV1({ 'x:bad': {} }));
    assert.throws(() => fromFieldsV1({ 'f:a': 'no' }));
  });

  it('supports set algebra', () => {
    const a = FieldSet.of([['f:a'], ['f:b', 'f:c'], ['f:b', 'f:d']]);
    const b = FieldSet.of([['f:b', 'f:c'], ['f:e']]);
    assert.deepEqual(a.union(b).paths(), [['f:a'], ['f:b', 'f:c'], ['f:b', 'f:d'], ['f:e']]);
    assert.deepEqual(a.intersection(b).paths(), [['f:b', 'f:c']]);
    assert.deepEqual(a.difference(b).paths(), [['f:a'], ['f:b', 'f:d']]);
    assert.deepEqual(a.recursiveDifference(FieldSet.of([['f:b']])).paths(), [['f:a']]);
    assert.ok(a.difference(a).empty());
  });

  it('prints paths the way Kubernetes does', () => {
    assert.equal(pathString(['f:spec', 'k:{"name":"a"}', 'f:value']), '.spec[name="a"].value');
    assert.equal(pathString(['f:spec', 'f:members', 'v:"alice"']), '.spec.members[="alice"]');
    assert.equal(pathString(['f:spec', 'k:{"n":1,"zone":"z"}']), '.spec[n=1,zone="z"]');
    assert.equal(pathString(['f:list', 'i:3']), '.list[3]');
  });
});

describe('fieldmanager: Update ownership', () => {
  it('records a create as one Update entry, without system metadata', () => {
    const obj = created({ displayName: 'D', members: ['alice'] }, 'kubectl-create', { labels: { app: 'x' } });
    assert.deepEqual(obj.metadata.managedFields, [
      {
        manager: 'kubectl-create',
        operation: 'Update',
        apiVersion: GV,
        time: T0,
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
          'f:spec': { 'f:displayName': {}, 'f:members': { '.': {}, 'v:"alice"': {} } },
        },
      },
    ]);
  });

  it('moves changed fields to the updating manager and drops emptied entries', () => {
    const a = created({ displayName: 'D', tenantID: 't1' }, 'a');
    const b = updateManagedFields(a, { ...a, spec: { displayName: 'E', tenantID: 't1' } }, 'b', 'Update', GV, undefined, T1, { schema });
    assert.deepEqual(entry(b, 'a')?.fieldsV1, { 'f:spec': { 'f:tenantID': {} } });
    assert.deepEqual(entry(b, 'b')?.fieldsV1, { 'f:spec': { 'f:displayName': {} } });
    assert.equal(entry(b, 'b')?.time, T1);
    const c = updateManagedFields(b, { ...b, spec: { displayName: 'E', tenantID: 't2' } }, 'b', 'Update', GV, undefined, T2, { schema });
    assert.equal(entry(c, 'a'), undefined, 'an entry with nothing left is dropped');
    assert.deepEqual(entry(c, 'b')?.fieldsV1, { 'f:spec': { 'f:displayName': {}, 'f:tenantID': {} } });
    assert.equal(c.metadata.managedFields?.length, 1);
  });

  it('removes deleted fields from every owner', () => {
    const a = created({ displayName: 'D', tenantID: 't1' }, 'a');
    const b = updateManagedFields(a, { ...a, spec: { tenantID: 't1' } }, 'b', 'Update', GV, undefined, T1, { schema });
    assert.deepEqual(entry(b, 'a')?.fieldsV1, { 'f:spec': { 'f:tenantID': {} } });
    assert.equal(entry(b, 'b'), undefined, 'a pure removal gives the remover nothing');
  });

  it('leaves managedFields alone when nothing changed', () => {
    const a = created({ displayName: 'D' }, 'a');
    const b = updateManagedFields(a, structuredClone(a), 'b', 'Update', GV, undefined, T1, { schema });
    assert.deepEqual(b.metadata.managedFields, a.metadata.managedFields);
  });

  it('keeps one entry per manager, operation, apiVersion and subresource', () => {
    const a = created({ displayName: 'D' }, 'a');
    const b = updateManagedFields(a, { ...a, spec: { displayName: 'E' } }, 'a', 'Update', 'business.tkestack.io/v2', undefined, T1, { schema });
    const c = updateManagedFields(b, { ...b, status: { phase: 'Active' } }, 'a', 'Update', GV, 'status', T2, { schema });
    const mf = c.metadata.managedFields ?? [];
    assert.deepEqual(
      mf.map(e => [e.manager, e.apiVersion, e.subresource ?? '']),
      [
        ['a', 'business.tkestack.io/v2', ''],
        ['a', GV, 'status'],
      ],
    );
    assert.deepEqual(mf[1].fieldsV1, { 'f:status': { 'f:phase': {} } });
  });

  it('does not start tracking an existing untracked object on Update', () => {
    const old = project({ displayName: 'D' }, { uid: 'u' });
    const out = updateManagedFields(old, { ...old, spec: { displayName: 'E' } }, 'b', 'Update', GV, undefined, T1, { schema });
    assert.equal(out.metadata.managedFields, undefined);
  });

  it('lets a client reset managedFields with [{}] but not through a subresource', () => {
    const a = created({ displayName: 'D' }, 'a');
    const reset = updateManagedFields(a, { ...a, metadata: { ...a.metadata, managedFields: [{}] } }, 'b', 'Update', GV, undefined, T1, { schema });
    assert.equal(reset.metadata.managedFields, undefined);
    const sub = updateManagedFields(a, { ...a, metadata: { ...a.metadata, managedFields: [{}] } }, 'b', 'Update', GV, 'status', T1, { schema });
    assert.deepEqual(sub.metadata.managedFields, a.metadata.managedFields);
  });

  it('does not track reset fields', () => {
    const a = created({ displayName: 'D' }, 'a');
    const b = updateManagedFields(a, { ...a, status: { phase: 'X' } }, 'b', 'Update', GV, undefined, T1, { schema, resetFields: ['status'] });
    assert.equal(entry(b, 'b'), undefined);
  });

  it('folds the oldest of more than ten Update managers into ancient-changes', () => {
    let obj = created({ displayName: 'm0' }, 'm0');
    for (let i = 1; i <= 11; i++) {
      const t = `2024-02-${String(i).padStart(2, '0')}T00:00:00Z`;
      obj = updateManagedFields(obj, { ...obj, spec: { ...obj.spec, [`f${i}`]: 'x' } }, `m${i}`, 'Update', GV, undefined, t, { schema });
    }
    const mf = obj.metadata.managedFields ?? [];
    assert.equal(mf.filter(e => e.operation === 'Update').length, 10);
    const ancient = mf.find(e => e.manager === 'ancient-changes');
    assert.ok(ancient);
    assert.deepEqual(ancient.fieldsV1, { 'f:spec': { 'f:displayName': {}, 'f:f1': {}, 'f:f2': {} } });
  });

  it('stripManagedFields returns a copy without managedFields', () => {
    const a = created({ displayName: 'D' }, 'a');
    const s = stripManagedFields(a);
    assert.equal(s.metadata.managedFields, undefined);
    assert.ok(a.metadata.managedFields, 'the input is untouched');
  });
});

describe('fieldmanager: server-side apply', () => {
  it('creates from nothing and records exactly the applied fields', () => {
    const out = apply(undefined, project({ displayName: 'D', members: ['alice'] }, { labels: { app: 'x' } }), 'mgr');
    assert.deepEqual(out.spec, { displayName: 'D', members: ['alice'] });
    assert.deepEqual(out.metadata.managedFields, [
      {
        manager: 'mgr',
        operation: 'Apply',
        apiVersion: GV,
        time: T1,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:displayName': {}, 'f:members': { 'v:"alice"': {} } } },
      },
    ]);
  });

  it('ignores managedFields in the applied body', () => {
    const cfg = project({ displayName: 'D' }, { managedFields: [{ manager: 'evil', operation: 'Apply', fieldsV1: { 'f:spec': {} } }] });
    const out = apply(undefined, cfg, 'mgr');
    assert.deepEqual(
      out.metadata.managedFields?.map(e => e.manager),
      ['mgr'],
    );
  });

  it('removes fields the applier stops applying, unless someone else owns them', () => {
    const first = apply(undefined, project({ displayName: 'D', tenantID: 't', quota: { cpu: '1', mem: '2' } }, { labels: { app: 'x', tier: 'web' } }), 'mgr');
    const second = apply(first, project({ displayName: 'D', tenantID: 't' }, { labels: { app: 'x' } }), 'other', false, T1);
    assert.deepEqual(second.spec, first.spec, 'a second applier adds ownership, changes nothing');
    const third = apply(second, project({ displayName: 'D' }), 'mgr', false, T2);
    assert.deepEqual(third.spec, { displayName: 'D', tenantID: 't' }, 'quota went: only mgr owned it; tenantID is co-owned');
    assert.deepEqual(third.metadata.labels, { app: 'x' }, 'the label only mgr applied is removed');
    assert.deepEqual(entry(third, 'mgr', 'Apply')?.fieldsV1, { 'f:spec': { 'f:displayName': {} } });
    assert.deepEqual(entry(third, 'other', 'Apply')?.fieldsV1, {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': { 'f:displayName': {}, 'f:tenantID': {} },
    });
  });

  it('removes a field an Update manager co-owns only when no one still owns it', () => {
    const first = apply(undefined, project({ displayName: 'D', tenantID: 't' }), 'mgr');
    const updated = updateManagedFields(first, { ...first, spec: { displayName: 'D', tenantID: 't2' } }, 'editor', 'Update', GV, undefined, T1, { schema });
    const out = apply(updated, project({ displayName: 'D' }), 'mgr', false, T2);
    assert.equal(out.spec?.tenantID, 't2', 'the editor took tenantID, so dropping it from the config does not delete it');
  });

  it('conflicts with an Update manager that owns a field the config changes', () => {
    const live = created({ displayName: 'D', tenantID: 't' }, 'kubectl-client-side-apply');
    const before = structuredClone(live);
    const e = conflictOf(() => apply(live, project({ displayName: 'E' }), 'mgr'));
    assert.equal(e.message, `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using ${GV}: .spec.displayName`);
    assert.deepEqual(e.status.details?.causes, [
      { reason: 'FieldManagerConflict', message: `conflict with "kubectl-client-side-apply" using ${GV}`, field: '.spec.displayName' },
    ]);
    assert.deepEqual(live, before, 'live is untouched');
  });

  it('shares ownership when the applied value equals the live one', () => {
    const live = created({ displayName: 'D' }, 'editor');
    const out = apply(live, project({ displayName: 'D' }), 'mgr');
    assert.deepEqual(entry(out, 'editor')?.fieldsV1, { 'f:spec': { 'f:displayName': {} } });
    assert.deepEqual(entry(out, 'mgr', 'Apply')?.fieldsV1, { 'f:spec': { 'f:displayName': {} } });
  });

  it('takes the field over with force', () => {
    const live = created({ displayName: 'D', tenantID: 't' }, 'editor');
    const out = apply(live, project({ displayName: 'E' }), 'mgr', true);
    assert.equal(out.spec?.displayName, 'E');
    assert.deepEqual(entry(out, 'editor')?.fieldsV1, { 'f:spec': { 'f:tenantID': {} } });
    assert.deepEqual(entry(out, 'mgr', 'Apply')?.fieldsV1, { 'f:spec': { 'f:displayName': {} } });
  });

  it('lists every conflict, grouped by manager', () => {
    let live = apply(undefined, project({ displayName: 'D', tenantID: 't' }), 'alpha');
    live = updateManagedFields(live, { ...live, spec: { ...live.spec, tags: ['x'] } }, 'beta', 'Update', GV, undefined, T1, { schema });
    const e = conflictOf(() => apply(live, project({ displayName: 'E', tenantID: 'u', tags: ['y'] }), 'mgr', false, T2));
    assert.equal(
      e.message,
      [
        'Apply failed with 3 conflicts: conflicts with "alpha":',
        '- .spec.displayName',
        '- .spec.tenantID',
        `conflicts with "beta" using ${GV}:`,
        '- .spec.tags',
      ].join('\n'),
    );
    assert.deepEqual(
      e.status.details?.causes?.map(c => [c.message, c.field]),
      [
        ['conflict with "alpha"', '.spec.displayName'],
        ['conflict with "alpha"', '.spec.tenantID'],
        [`conflict with "beta" using ${GV}`, '.spec.tags'],
      ],
    );
  });

  it("merges list-type=map lists by key and prunes only the applier's items", () => {
    const a = apply(undefined, project({ clusters: [{ name: 'a', value: '1' }] }), 'ma');
    const b = apply(a, project({ clusters: [{ name: 'b', value: '2' }] }), 'mb', false, T1);
    assert.deepEqual(b.spec?.clusters, [
      { name: 'a', value: '1' },
      { name: 'b', value: '2' },
    ]);
    assert.deepEqual(entry(b, 'mb', 'Apply')?.fieldsV1, { 'f:spec': { 'f:clusters': { 'k:{"name":"b"}': { '.': {}, 'f:name': {}, 'f:value': {} } } } });
    const c = apply(b, project({ clusters: [{ name: 'a', zone: 'z' }] }), 'ma', false, T2);
    assert.deepEqual(
      c.spec?.clusters,
      [
        { name: 'a', zone: 'z' },
        { name: 'b', value: '2' },
      ],
      'a.value is pruned, b is kept',
    );
    const d = apply(c, project({}), 'ma', false, T2);
    assert.deepEqual(d.spec?.clusters, [{ name: 'b', value: '2' }]);
    const e = conflictOf(() => apply(d, project({ clusters: [{ name: 'b', value: '3' }] }), 'ma', false, T2));
    assert.equal(e.message, 'Apply failed with 1 conflict: conflict with "mb": .spec.clusters[name="b"].value');
  });

  it('merges list-type=map lists with compound keys', () => {
    const a = apply(
      undefined,
      project({
        zoned: [
          { zone: 'z1', name: 'a', n: 1 },
          { zone: 'z2', name: 'a', n: 2 },
        ],
      }),
      'm',
    );
    const b = apply(a, project({ zoned: [{ zone: 'z2', name: 'a', n: 5 }] }), 'm', false, T1);
    assert.deepEqual(b.spec?.zoned, [{ zone: 'z2', name: 'a', n: 5 }]);
  });

  it('merges sets by value', () => {
    const a = apply(undefined, project({ members: ['alice'] }), 'ma');
    const b = apply(a, project({ members: ['bob'] }), 'mb', false, T1);
    assert.deepEqual(b.spec?.members, ['alice', 'bob']);
    const c = apply(b, project({ members: [] }), 'ma', false, T2);
    assert.deepEqual(c.spec?.members, ['bob']);
  });

  it('treats lists without a list type as atomic', () => {
    const a = apply(undefined, project({ tags: ['x', 'y'] }), 'ma');
    assert.deepEqual(entry(a, 'ma', 'Apply')?.fieldsV1, { 'f:spec': { 'f:tags': {} } });
    const e = conflictOf(() => apply(a, project({ tags: ['z'] }), 'mb'));
    assert.match(e.message, /conflict with "ma": \.spec\.tags$/);
    const b = apply(a, project({ tags: ['z'] }), 'mb', true);
    assert.deepEqual(b.spec?.tags, ['z']);
    assert.equal(entry(b, 'ma', 'Apply'), undefined);
  });

  it('attributes an untracked object to before-first-apply', () => {
    const live = project({ displayName: 'D' }, { uid: 'u', resourceVersion: '3' });
    const e = conflictOf(() => apply(live, project({ displayName: 'E' }), 'mgr'));
    assert.equal(e.message, `Apply failed with 1 conflict: conflict with "before-first-apply" using ${GV}: .spec.displayName`);
    const out = apply(live, project({ tenantID: 't' }), 'mgr');
    assert.deepEqual(out.spec, { displayName: 'D', tenantID: 't' });
    assert.deepEqual(entry(out, 'before-first-apply')?.fieldsV1, { 'f:spec': { 'f:displayName': {} } });
    assert.equal(out.metadata.uid, 'u');
    assert.equal(out.metadata.resourceVersion, '3');
  });

  it('claims and clears a field set to null', () => {
    const a = created({ displayName: 'D', tenantID: 't' }, 'editor');
    const out = apply(a, project({ tenantID: null }), 'mgr', true);
    assert.deepEqual(out.spec, { displayName: 'D' });
    assert.deepEqual(entry(out, 'mgr', 'Apply')?.fieldsV1, { 'f:spec': { 'f:tenantID': {} } });
  });

  it('keeps the time of an apply that changes nothing', () => {
    const a = apply(undefined, project({ displayName: 'D' }), 'mgr', false, T1);
    const b = apply(a, project({ displayName: 'D' }), 'mgr', false, T2);
    assert.equal(entry(b, 'mgr', 'Apply')?.time, T1);
    assert.deepEqual(b, a);
    // Stored objects may lack apiVersion/kind; that alone is not a change.
    const { apiVersion: _v, kind: _k, ...stored } = a;
    const c = apply(stored as KubeObject, project({ displayName: 'D' }), 'mgr', false, T2);
    assert.equal(entry(c, 'mgr', 'Apply')?.time, T1);
  });

  it('does not record reset fields', () => {
    const out = apply(undefined, { ...project({ displayName: 'D' }), status: { phase: 'X' } }, 'mgr', false, T1, { resetFields: ['status'] });
    assert.deepEqual(entry(out, 'mgr', 'Apply')?.fieldsV1, { 'f:spec': { 'f:displayName': {} } });
  });

  it('refuses a wrong apiVersion or kind, a missing manager and malformed lists with 400', () => {
    const bad = (fn: () => unknown, re: RegExp): void => {
      assert.throws(fn, (e: unknown) => e instanceof StatusError && e.code === 400 && re.test(e.message));
    };
    bad(
      () => apply(undefined, { ...project({}), apiVersion: 'business.tkestack.io/v2' }, 'mgr'),
      /^invalid object type: business\.tkestack\.io\/v2, Kind=Project$/,
    );
    bad(() => apply(undefined, { ...project({}), kind: 'Other' }, 'mgr'), /invalid object type/);
    bad(() => apply(undefined, project({}), ''), /fieldManager/);
    bad(
      () => apply(undefined, project({ clusters: [{ name: 'a' }, { name: 'a' }] }), 'mgr'),
      /failed to create typed patch object .*\.spec\.clusters: duplicate entries for key \[name="a"\]/,
    );
    bad(() => apply(undefined, project({ clusters: [{ value: 'x' }] }), 'mgr'), /omits key field "name"/);
    bad(() => apply(undefined, project({ members: [{ a: 1 }] }), 'mgr'), /map type/);
    bad(() => apply(undefined, project(JSON.parse('{"nested":{"__proto__":{"a":"x"}}}') as Record<string, unknown>), 'mgr'), /__proto__/);
  });

  it('lets kubectl take over fields from client-side apply that match last-applied', () => {
    const last = JSON.stringify({ apiVersion: GV, kind: 'Project', metadata: { name: 'p1' }, spec: { displayName: 'D', tenantID: 't' } });
    const live = created({ displayName: 'D', tenantID: 'changed-by-hand' }, 'kubectl-client-side-apply', { annotations: { [LAST_APPLIED_ANNOTATION]: last } });
    const e = conflictOf(() => apply(live, project({ displayName: 'E', tenantID: 'u' }), 'kubectl'));
    assert.equal(
      e.message,
      `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using ${GV}: .spec.tenantID`,
      'only the field that drifted from last-applied conflicts',
    );
    conflictOf(() => apply(live, project({ displayName: 'E' }), 'someone-else'));
    const out = apply(live, project({ displayName: 'E' }), 'kubectl');
    assert.equal(out.spec?.displayName, 'E');
    assert.deepEqual(JSON.parse(out.metadata.annotations?.[LAST_APPLIED_ANNOTATION] ?? '{}'), {
      apiVersion: GV,
      kind: 'Project',
      metadata: { name: 'p1' },
      spec: { displayName: 'E' },
    });
  });

  it('never mutates its inputs', () => {
    const live = created({ displayName: 'D', clusters: [{ name: 'a' }] }, 'editor');
    const cfg = project({ clusters: [{ name: 'b' }] });
    const [l, c] = [structuredClone(live), structuredClone(cfg)];
    apply(live, cfg, 'mgr');
    assert.deepEqual(live, l);
    assert.deepEqual(cfg, c);
  });
});
