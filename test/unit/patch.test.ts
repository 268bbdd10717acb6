import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { objectSchema } from '../../api/meta/v1/schema.ts';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { applyPatch } from '../../pkg/rest/patch.ts';
import { StatusError } from '../../pkg/rest/errors.ts';

const Cluster = Type.Object({
  name: Type.String(),
  value: Type.Optional(Type.String()),
  extra: Type.Optional(Type.Record(Type.String(), Type.String())),
});

const Spec = Type.Object({
  displayName: Type.Optional(Type.String()),
  members: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' })),
  clusters: Type.Optional(
    Type.Array(Cluster, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      'x-kubernetes-patch-strategy': 'merge',
      'x-kubernetes-patch-merge-key': 'name',
    }),
  ),
  tags: Type.Optional(Type.Array(Type.String())),
  quota: Type.Optional(Type.Record(Type.String(), Type.String())),
  nested: Type.Optional(Type.Object({ a: Type.Optional(Type.String()), b: Type.Optional(Type.String()) })),
  replaced: Type.Optional(Type.Object({ a: Type.Optional(Type.String()), b: Type.Optional(Type.String()) }, { 'x-kubernetes-patch-strategy': 'replace' })),
  strategy: Type.Optional(
    Type.Object(
      {
        type: Type.Optional(Type.String()),
        rollingUpdate: Type.Optional(Type.Object({ maxSurge: Type.Optional(Type.Integer()) })),
        recreate: Type.Optional(Type.Object({ wait: Type.Optional(Type.Boolean()) })),
      },
      { 'x-kubernetes-patch-strategy': 'retainKeys' },
    ),
  ),
});

const schema = objectSchema({
  id: 'io.test.Project',
  description: 'test kind',
  properties: { spec: Type.Optional(Spec), status: Type.Optional(Type.Object({ phase: Type.Optional(Type.String()) })) },
});

function base(): KubeObject {
  return {
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: { name: 'p1', uid: 'u1', resourceVersion: '5', labels: { app: 'x', tier: 'web' } },
    spec: {
      displayName: 'Project One',
      members: ['alice', 'bob'],
      clusters: [
        { name: 'a', value: '1' },
        { name: 'b', value: '2' },
      ],
      tags: ['t1', 't2'],
      nested: { a: 'A', b: 'B' },
    },
  };
}

function expectStatus(fn: () => unknown, code: number, reason: string, message?: RegExp): StatusError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StatusError, `expected StatusError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.reason, reason);
    if (message) assert.match(e.status.message ?? '', message);
    return e;
  }
  assert.fail('expected an error');
}

const JSONP = 'application/json-patch+json';
const MERGE = 'application/merge-patch+json';
const SMP = 'application/strategic-merge-patch+json';

describe('patch: application/json-patch+json', () => {
  it('applies add, replace, remove, move, copy and passing tests', () => {
    const cur = base();
    const out = applyPatch(
      cur,
      JSONP,
      JSON.stringify([
        { op: 'test', path: '/spec/displayName', value: 'Project One' },
        { op: 'replace', path: '/spec/displayName', value: 'P1' },
        { op: 'add', path: '/metadata/labels/new', value: 'yes' },
        { op: 'remove', path: '/metadata/labels/tier' },
        { op: 'add', path: '/spec/members/-', value: 'carol' },
        { op: 'copy', from: '/spec/displayName', path: '/spec/nested/a' },
        { op: 'move', from: '/spec/nested/b', path: '/spec/nested/c' },
      ]),
      schema,
    );
    assert.equal(out.spec?.displayName, 'P1');
    assert.deepEqual(out.metadata.labels, { app: 'x', new: 'yes' });
    assert.deepEqual(out.spec?.members, ['alice', 'bob', 'carol']);
    assert.deepEqual(out.spec?.nested, { a: 'P1', c: 'B' });
    assert.deepEqual(cur, base(), 'current must not be mutated');
  });

  it('accepts a Buffer body and a content type with parameters', () => {
    const out = applyPatch(base(), `${JSONP}; charset=utf-8`, Buffer.from('[{"op":"replace","path":"/spec/displayName","value":"B"}]'), schema);
    assert.equal(out.spec?.displayName, 'B');
  });

  it('reports a failed test operation as 422 Invalid like Kubernetes', () => {
    const cur = base();
    const e = expectStatus(
      () => applyPatch(cur, JSONP, '[{"op":"test","path":"/spec/displayName","value":"nope"}]', schema),
      422,
      'Invalid',
      /the server rejected our request due to an error in our request/,
    );
    assert.match(e.status.details?.causes?.[0]?.message ?? '', /testing value \/spec\/displayName failed/);
    assert.deepEqual(cur, base());
  });

  it('reports operations on missing paths and unknown ops as 422', () => {
    expectStatus(() => applyPatch(base(), JSONP, '[{"op":"remove","path":"/spec/nothing"}]', schema), 422, 'Invalid');
    expectStatus(() => applyPatch(base(), JSONP, '[{"op":"replace","path":"/spec/nothing/deeper","value":1}]', schema), 422, 'Invalid');
    expectStatus(() => applyPatch(base(), JSONP, '[{"op":"frobnicate","path":"/spec"}]', schema), 422, 'Invalid', /.*/);
    expectStatus(() => applyPatch(base(), JSONP, '[{"op":"_get","path":"/spec","value":1}]', schema), 422, 'Invalid');
    expectStatus(() => applyPatch(base(), JSONP, '[{"op":"add","value":1}]', schema), 422, 'Invalid');
  });

  it('rejects malformed JSON and non-array bodies with 400', () => {
    expectStatus(() => applyPatch(base(), JSONP, '[{"op":', schema), 400, 'BadRequest', /error decoding patch/);
    expectStatus(() => applyPatch(base(), JSONP, '{"op":"add"}', schema), 400, 'BadRequest', /JSON array/);
    expectStatus(() => applyPatch(base(), JSONP, '', schema), 400, 'BadRequest');
  });

  it('refuses a patch that replaces the whole document with a non-object', () => {
    expectStatus(() => applyPatch(base(), JSONP, '[{"op":"replace","path":"","value":"x"}]', schema), 422, 'Invalid');
  });
});

describe('patch: application/merge-patch+json', () => {
  it('merges objects, deletes with null, replaces lists', () => {
    const cur = base();
    const out = applyPatch(
      cur,
      MERGE,
      JSON.stringify({
        metadata: { labels: { tier: null, env: 'prod' } },
        spec: { displayName: 'New', members: ['zed'], nested: { b: null }, quota: { cpu: '1', gone: null } },
      }),
      schema,
    );
    assert.deepEqual(out.metadata.labels, { app: 'x', env: 'prod' });
    assert.equal(out.spec?.displayName, 'New');
    assert.deepEqual(out.spec?.members, ['zed']);
    assert.deepEqual(out.spec?.nested, { a: 'A' });
    assert.deepEqual(out.spec?.quota, { cpu: '1' }, 'nulls inside new objects are dropped');
    assert.deepEqual(out.spec?.clusters, base().spec?.clusters);
    assert.deepEqual(cur, base());
  });

  it('rejects malformed JSON and non-object patches with 400', () => {
    expectStatus(() => applyPatch(base(), MERGE, '{"spec":', schema), 400, 'BadRequest', /error decoding patch/);
    expectStatus(() => applyPatch(base(), MERGE, '[1,2]', schema), 400, 'BadRequest', /must be a JSON object/);
    expectStatus(() => applyPatch(base(), MERGE, '"x"', schema), 400, 'BadRequest');
    expectStatus(() => applyPatch(base(), MERGE, 'null', schema), 400, 'BadRequest');
    expectStatus(() => applyPatch(base(), MERGE, '{"spec":{"__proto__":{"polluted":true}}}', schema), 400, 'BadRequest', /__proto__/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('rejects unsupported patch types with 415', () => {
    expectStatus(() => applyPatch(base(), 'application/xml', '{}', schema), 415, 'UnsupportedMediaType');
  });
});

describe('patch: application/strategic-merge-patch+json', () => {
  it('merges lists with a patch merge key by key and keeps other items', () => {
    const out = applyPatch(
      base(),
      SMP,
      JSON.stringify({
        spec: {
          clusters: [
            { name: 'b', value: '22' },
            { name: 'c', value: '3' },
          ],
        },
      }),
      schema,
    );
    assert.deepEqual(out.spec?.clusters, [
      { name: 'a', value: '1' },
      { name: 'b', value: '22' },
      { name: 'c', value: '3' },
    ]);
  });

  it('merges nested maps inside keyed items and deletes fields with null', () => {
    const cur = base();
    (cur.spec as { clusters: unknown[] }).clusters = [{ name: 'a', value: '1', extra: { x: '1', y: '2' } }];
    const out = applyPatch(
      cur,
      SMP,
      JSON.stringify({
        spec: { clusters: [{ name: 'a', value: null, extra: { y: null, z: '3' } }] },
      }),
      schema,
    );
    assert.deepEqual(out.spec?.clusters, [{ name: 'a', extra: { x: '1', z: '3' } }]);
  });

  it('handles $patch: delete list elements', () => {
    const out = applyPatch(base(), SMP, JSON.stringify({ spec: { clusters: [{ name: 'a', $patch: 'delete' }] } }), schema);
    assert.deepEqual(out.spec?.clusters, [{ name: 'b', value: '2' }]);
  });

  it('handles $patch: replace inside a list', () => {
    const out = applyPatch(base(), SMP, JSON.stringify({ spec: { clusters: [{ $patch: 'replace' }, { name: 'z', value: '9' }] } }), schema);
    assert.deepEqual(out.spec?.clusters, [{ name: 'z', value: '9' }]);
  });

  it('handles $patch: replace and $patch: delete on maps, and accepts $patch: merge', () => {
    let out = applyPatch(base(), SMP, JSON.stringify({ spec: { nested: { $patch: 'replace', b: 'only' } } }), schema);
    assert.deepEqual(out.spec?.nested, { b: 'only' });
    out = applyPatch(base(), SMP, JSON.stringify({ spec: { nested: { $patch: 'delete' } } }), schema);
    assert.deepEqual(out.spec?.nested, {});
    out = applyPatch(base(), SMP, JSON.stringify({ spec: { nested: { $patch: 'merge', b: 'bb' } } }), schema);
    assert.deepEqual(out.spec?.nested, { a: 'A', b: 'bb' });
    expectStatus(() => applyPatch(base(), SMP, JSON.stringify({ spec: { nested: { $patch: 'explode' } } }), schema), 400, 'BadRequest', /unknown patch type/);
  });

  it('replaces maps whose patch strategy is replace', () => {
    const cur = base();
    (cur.spec as Record<string, unknown>).replaced = { a: '1', b: '2' };
    const out = applyPatch(cur, SMP, JSON.stringify({ spec: { replaced: { b: '3' } } }), schema);
    assert.deepEqual(out.spec?.replaced, { b: '3' });
  });

  it('unions primitive lists with patch strategy merge and replaces other lists', () => {
    const out = applyPatch(base(), SMP, JSON.stringify({ spec: { members: ['bob', 'carol'], tags: ['t3'] } }), schema);
    assert.deepEqual(out.spec?.members, ['alice', 'bob', 'carol']);
    assert.deepEqual(out.spec?.tags, ['t3']);
  });

  it('handles $deleteFromPrimitiveList/<field>', () => {
    const out = applyPatch(base(), SMP, JSON.stringify({ spec: { '$deleteFromPrimitiveList/members': ['alice'] } }), schema);
    assert.deepEqual(out.spec?.members, ['bob']);
    assert.equal(
      Object.keys(out.spec ?? {}).some(k => k.startsWith('$')),
      false,
    );
  });

  it('orders merged lists by $setElementOrder/<field> without leaking the directive', () => {
    const out = applyPatch(
      base(),
      SMP,
      JSON.stringify({
        spec: {
          '$setElementOrder/clusters': [{ name: 'c' }, { name: 'b' }, { name: 'a' }],
          clusters: [{ name: 'c', value: '3' }],
          '$setElementOrder/members': ['bob', 'alice'],
        },
      }),
      schema,
    );
    assert.deepEqual(out.spec?.clusters, [
      { name: 'c', value: '3' },
      { name: 'b', value: '2' },
      { name: 'a', value: '1' },
    ]);
    assert.deepEqual(out.spec?.members, ['bob', 'alice']);
    assert.equal(JSON.stringify(out).includes('$setElementOrder'), false);
  });

  it('resolves directives inside values that are new to the object', () => {
    const cur = base();
    delete cur.spec;
    const out = applyPatch(
      cur,
      SMP,
      JSON.stringify({
        spec: {
          '$setElementOrder/clusters': [{ name: 'a' }],
          clusters: [{ name: 'a', value: '1', extra: { gone: null } }],
          nested: { $patch: 'replace', a: 'x' },
          quota: { cpu: null },
        },
      }),
      schema,
    );
    assert.deepEqual(out.spec, { clusters: [{ name: 'a', value: '1', extra: {} }], nested: { a: 'x' }, quota: {} });
  });

  it('applies $retainKeys by clearing keys not listed', () => {
    const cur = base();
    (cur.spec as Record<string, unknown>).strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } };
    const out = applyPatch(
      cur,
      SMP,
      JSON.stringify({
        spec: { strategy: { $retainKeys: ['type', 'recreate'], type: 'Recreate', recreate: { wait: true } } },
      }),
      schema,
    );
    assert.deepEqual(out.spec?.strategy, { type: 'Recreate', recreate: { wait: true } });
    expectStatus(
      () => applyPatch(cur, SMP, JSON.stringify({ spec: { strategy: { $retainKeys: ['type'], recreate: {} } } }), schema),
      400,
      'BadRequest',
      /retainKeys/,
    );
  });

  it('deletes with null and merges labels like kubectl label/annotate', () => {
    const out = applyPatch(base(), SMP, JSON.stringify({ metadata: { labels: { tier: null, env: 'dev' }, annotations: { note: 'hi' } } }), schema);
    assert.deepEqual(out.metadata.labels, { app: 'x', env: 'dev' });
    assert.deepEqual(out.metadata.annotations, { note: 'hi' });
  });

  it('applies a client-side kubectl apply patch', () => {
    const last =
      '{"apiVersion":"business.tkestack.io/v1","kind":"Project","metadata":{"name":"p1"},"spec":{"clusters":[{"name":"a","value":"1"},{"name":"c","value":"3"}],"displayName":"Applied"}}\n';
    const out = applyPatch(
      base(),
      SMP,
      JSON.stringify({
        metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': last } },
        spec: {
          '$setElementOrder/clusters': [{ name: 'a' }, { name: 'c' }],
          clusters: [
            { name: 'b', $patch: 'delete' },
            { name: 'c', value: '3' },
          ],
          displayName: 'Applied',
        },
      }),
      schema,
    );
    assert.equal(out.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], last);
    assert.deepEqual(out.spec?.clusters, [
      { name: 'a', value: '1' },
      { name: 'c', value: '3' },
    ]);
    assert.equal(out.spec?.displayName, 'Applied');
  });

  it('works without a schema (every list replaced)', () => {
    const out = applyPatch(base(), SMP, JSON.stringify({ spec: { members: ['x'] } }), undefined);
    assert.deepEqual(out.spec?.members, ['x']);
  });

  it('rejects bad bodies and bad directive formats with 400', () => {
    expectStatus(() => applyPatch(base(), SMP, '{', schema), 400, 'BadRequest', /error decoding patch/);
    expectStatus(() => applyPatch(base(), SMP, '[]', schema), 400, 'BadRequest', /must be a JSON object/);
    expectStatus(() => applyPatch(base(), SMP, JSON.stringify({ spec: { '$setElementOrder/clusters': 'x' } }), schema), 400, 'BadRequest', /setElementOrder/);
    expectStatus(
      () => applyPatch(base(), SMP, JSON.stringify({ spec: { '$deleteFromPrimitiveList/members': 'x' } }), schema),
      400,
      'BadRequest',
      /primitive list/,
    );
    expectStatus(() => applyPatch(base(), SMP, JSON.stringify({ spec: { clusters: [{ value: 'no key' }] } }), schema), 400, 'BadRequest', /merge key: name/);
  });

  it('never mutates the current object', () => {
    const cur = base();
    applyPatch(cur, SMP, JSON.stringify({ spec: { clusters: [{ name: 'a', value: 'z' }], members: ['q'] } }), schema);
    assert.deepEqual(cur, base());
  });
});
