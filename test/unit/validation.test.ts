import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { Project } from '../../api/business/v1/project.ts';
import { Namespace } from '../../api/business/v1/namespace.ts';
import { Cluster } from '../../api/platform/v1/cluster.ts';
import type { FieldError } from '../../pkg/rest/errors.ts';
import { compileKind } from '../../pkg/rest/validation.ts';
import { isQualifiedName, nameIsDNSLabel, validateObjectMeta, validateObjectMetaUpdate } from '../../pkg/rest/objectmeta.ts';

type Obj = Record<string, any>;

const byField = (errs: FieldError[], f: string) => errs.filter(e => e.field === f);

describe('compileKind', () => {
  const project = compileKind(Project);
  const cluster = compileKind(Cluster);
  const namespace = compileKind(Namespace);

  describe('unknownFields', () => {
    it('finds undeclared fields at any depth, through arrays and maps', () => {
      const obj: Obj = {
        apiVersion: 'platform.tkestack.io/v1',
        kind: 'Cluster',
        metadata: { name: 'cls-1', bogus: 1, labels: { any: 'key' } },
        spec: {
          foo: 'x',
          machines: [
            { ip: '10.0.0.1', port: 22, username: 'root' },
            { ip: '10.0.0.2', sshPort: 22, proxy: { type: 'SOCKS5', extra: true } },
          ],
          dockerExtraArgs: { 'any-flag': 'v' },
          features: { upgrade: { strategy: { maxUnready: '10%', surprise: 1 } } },
        },
        status: { conditions: [{ type: 'Ready', status: 'True', why: 'x' }], resource: { capacity: { cpu: '4' } } },
        top: true,
      };
      assert.deepEqual(cluster.unknownFields(obj).sort(), [
        'metadata.bogus',
        'spec.features.upgrade.strategy.surprise',
        'spec.foo',
        'spec.machines[1].proxy.extra',
        'spec.machines[1].sshPort',
        'status.conditions[0].why',
        'top',
      ]);
    });

    it('treats map keys as known and checks the map values', () => {
      const obj: Obj = { spec: { clusters: { 'cls-1': { hard: { cpu: '1', 'requests.memory': '1Gi' } }, 'cls-2': { hard: {}, soft: {} } } } };
      assert.deepEqual(project.unknownFields(obj), ['spec.clusters[cls-2].soft']);
    });

    it('accepts any keys under free-form fields', () => {
      const obj: Obj = { metadata: { name: 'a', managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': { 'f:displayName': {} } } }] } };
      assert.deepEqual(project.unknownFields(obj), []);
    });

    it('reports nothing for a well-formed object', () => {
      const obj: Obj = {
        apiVersion: 'business.tkestack.io/v1',
        kind: 'Namespace',
        metadata: { name: 'cls-1-dev', namespace: 'prj-1' },
        spec: { tenantID: 'default', clusterName: 'cls-1', namespace: 'dev', hard: { cpu: '2' } },
        status: { phase: 'Available', used: { cpu: '500m' }, certificate: { apiServer: 'https://x' } },
      };
      assert.deepEqual(namespace.unknownFields(obj), []);
    });
  });

  describe('applyDefaults', () => {
    it('applies TKE defaults into absent spec and status', () => {
      const obj: Obj = { metadata: { name: 'p' } };
      project.applyDefaults(obj);
      assert.deepEqual(obj.spec, { members: [] });
      assert.deepEqual(obj.status, { phase: 'Pending' });
    });

    it('walks into nested defaulted objects (cluster features.upgrade)', () => {
      const obj: Obj = { spec: { type: 'Baremetal' } };
      cluster.applyDefaults(obj);
      assert.deepEqual(obj.spec.features, { containerRuntime: 'docker', upgrade: { mode: 'Auto', strategy: { maxUnready: 0 } } });
      assert.equal(obj.status.phase, 'Initializing');
    });

    it('keeps values the client set and defaults Go zero strings', () => {
      const obj: Obj = {
        spec: { members: ['alice'], features: { containerRuntime: 'containerd', upgrade: { mode: '', strategy: { maxUnready: '20%' } } } },
        status: { phase: 'Running' },
      };
      cluster.applyDefaults(obj);
      assert.equal(obj.spec.features.containerRuntime, 'containerd');
      assert.equal(obj.spec.features.upgrade.mode, 'Auto');
      assert.equal(obj.spec.features.upgrade.strategy.maxUnready, '20%');
      assert.equal(obj.status.phase, 'Running');
      const p: Obj = { spec: { members: ['alice'] } };
      project.applyDefaults(p);
      assert.deepEqual(p.spec.members, ['alice']);
    });

    it('drops null fields (Go decodes null as the zero value), then defaults them', () => {
      const obj: Obj = { metadata: { name: 'p', creationTimestamp: null }, spec: { members: null, displayName: 'x' }, status: { lastTransitionTime: null } };
      project.applyDefaults(obj);
      assert.deepEqual(obj.metadata, { name: 'p' });
      assert.deepEqual(obj.spec, { members: [], displayName: 'x' });
      assert.deepEqual(obj.status, { phase: 'Pending' });
    });

    it('defaults inside array items and map values', () => {
      const Kind = Type.Object({
        list: Type.Optional(Type.Array(Type.Object({ mode: Type.Optional(Type.String({ default: 'on' })) }))),
        map: Type.Optional(Type.Record(Type.String(), Type.Object({ n: Type.Optional(Type.Integer({ default: 3 })) }))),
      });
      const obj: Obj = { list: [{}, { mode: 'off' }], map: { a: {}, b: { n: 1 } } };
      compileKind(Kind).applyDefaults(obj);
      assert.deepEqual(obj, { list: [{ mode: 'on' }, { mode: 'off' }], map: { a: { n: 3 }, b: { n: 1 } } });
    });

    it('does not share default values between objects', () => {
      const a: Obj = {};
      const b: Obj = {};
      project.applyDefaults(a);
      project.applyDefaults(b);
      a.spec.members.push('x');
      assert.deepEqual(b.spec.members, []);
    });
  });

  describe('validate', () => {
    it('accepts a valid object, including numeric quantities and null timestamps', () => {
      const obj: Obj = {
        apiVersion: 'business.tkestack.io/v1',
        kind: 'Project',
        metadata: { name: 'prj-1', creationTimestamp: null },
        spec: { tenantID: 'default', displayName: 'P', members: ['a'], clusters: { 'cls-1': { hard: { cpu: '2', memory: '4Gi', pods: 10 } } } },
        status: { phase: 'Active', lastTransitionTime: null, clusters: { 'cls-1': { used: { cpu: '500m' } } } },
      };
      assert.deepEqual(project.validate(obj), []);
      assert.equal(obj.metadata.creationTimestamp, null, 'validate must not modify its input');
    });

    it('renders map keys, array indexes and struct fields as Kubernetes field paths', () => {
      const obj: Obj = {
        metadata: { name: 'p' },
        spec: { members: ['a', 7], clusters: { 'cls-1': { hard: { cpu: 'lots', memory: true } } } },
      };
      const errs = project.validate(obj);
      const cpu = byField(errs, 'spec.clusters[cls-1].hard[cpu]');
      assert.equal(cpu.length, 1, JSON.stringify(errs));
      assert.equal(cpu[0]!.reason, 'FieldValueInvalid');
      assert.match(cpu[0]!.message, /^Invalid value: "lots": spec\.clusters\[cls-1\]\.hard\[cpu\] in body should match/);
      const memory = byField(errs, 'spec.clusters[cls-1].hard[memory]');
      assert.equal(memory[0]?.reason, 'FieldValueTypeInvalid');
      const member = byField(errs, 'spec.members[1]');
      assert.equal(member[0]?.reason, 'FieldValueTypeInvalid');
      assert.equal(member[0]?.message, 'Invalid value: "integer": spec.members[1] in body must be of type string: "integer"');
      assert.equal(errs.length, 3, JSON.stringify(errs));
    });

    it('maps enum, required and format failures to their Kubernetes reasons', () => {
      const obj: Obj = {
        metadata: { name: 'c' },
        spec: { machines: [{ ip: '1.1.1.1', port: 22, password: 'not base64!' }] },
        status: {
          phase: 'Exploded',
          conditions: [{ status: 'True', lastProbeTime: 'yesterday' }],
          addresses: [{ type: 'Advertise', host: 'h', port: 6443 }],
        },
      };
      const errs = cluster.validate(obj);
      assert.deepEqual(
        byField(errs, 'status.phase').map(e => e.reason),
        ['FieldValueNotSupported'],
      );
      assert.match(byField(errs, 'status.phase')[0]!.message, /supported values: "Initializing", "Waiting"/);
      assert.deepEqual(
        byField(errs, 'status.conditions[0].type').map(e => e.reason),
        ['FieldValueRequired'],
      );
      assert.deepEqual(
        byField(errs, 'status.conditions[0].lastProbeTime').map(e => e.reason),
        ['FieldValueInvalid'],
      );
      assert.deepEqual(
        byField(errs, 'spec.machines[0].password').map(e => e.reason),
        ['FieldValueInvalid'],
      );
      assert.equal(errs.length, 4, JSON.stringify(errs));
    });

    it('reports a wrong type of a whole section once, at its path', () => {
      const errs = project.validate({ metadata: { name: 'p' }, spec: 'nope' });
      assert.deepEqual(
        errs.map(e => [e.field, e.reason]),
        [['spec', 'FieldValueTypeInvalid']],
      );
    });

    it('names the allowed literals of a union', () => {
      const Kind = Type.Object({ mode: Type.Union([Type.Literal('A'), Type.Literal('B')]) });
      const errs = compileKind(Kind).validate({ mode: 'C' });
      assert.deepEqual(errs, [{ field: 'mode', reason: 'FieldValueNotSupported', message: 'Unsupported value: "C": supported values: "A", "B"' }]);
    });

    it('accepts int-or-string values and rejects others', () => {
      const base = { metadata: { name: 'c' } };
      assert.deepEqual(cluster.validate({ ...base, spec: { features: { upgrade: { strategy: { maxUnready: '25%' } } } } }), []);
      assert.deepEqual(cluster.validate({ ...base, spec: { features: { upgrade: { strategy: { maxUnready: 1 } } } } }), []);
      const errs = cluster.validate({ ...base, spec: { features: { upgrade: { strategy: { maxUnready: [1] } } } } });
      assert.deepEqual(
        errs.map(e => [e.field, e.reason]),
        [['spec.features.upgrade.strategy.maxUnready', 'FieldValueTypeInvalid']],
      );
    });

    it('two kinds sharing meta schemas compile side by side', () => {
      assert.doesNotThrow(() => {
        compileKind(Project);
        compileKind(Namespace);
        compileKind(Cluster);
      });
    });
  });
});

describe('validateObjectMeta', () => {
  const cluster = { namespaced: false };
  const namespaced = { namespaced: true };

  it('accepts a well-formed meta', () => {
    assert.deepEqual(
      validateObjectMeta(
        {
          name: 'prj-1.example',
          labels: { 'app.kubernetes.io/name': 'x', plain: '' },
          annotations: { 'tkestack.io/Display': 'anything at all' },
          finalizers: ['kubernetes', 'tkestack.io/project'],
          ownerReferences: [{ apiVersion: 'business.tkestack.io/v1', kind: 'Project', name: 'p', uid: 'u', controller: true }],
        },
        cluster,
      ),
      [],
    );
  });

  it('requires a name unless generateName is set', () => {
    assert.deepEqual(
      validateObjectMeta({}, cluster).map(e => [e.field, e.reason]),
      [['metadata.name', 'FieldValueRequired']],
    );
    assert.deepEqual(
      validateObjectMeta(undefined, cluster).map(e => e.field),
      ['metadata.name'],
    );
    assert.deepEqual(validateObjectMeta({ generateName: 'prj-' }, cluster), []);
    assert.deepEqual(
      validateObjectMeta({ generateName: 'Prj-' }, cluster).map(e => e.field),
      ['metadata.generateName'],
    );
  });

  it('rejects names that are not DNS-1123 subdomains', () => {
    for (const bad of ['Upper', 'under_score', '-lead', 'trail-', 'a..b', 'x'.repeat(254)]) {
      const errs = validateObjectMeta({ name: bad }, cluster);
      assert.ok(errs.length > 0, bad);
      assert.ok(
        errs.every(e => e.field === 'metadata.name' && e.reason === 'FieldValueInvalid'),
        bad,
      );
    }
    assert.match(validateObjectMeta({ name: 'Bad' }, cluster)[0]!.message, /^Invalid value: "Bad": a lowercase RFC 1123 subdomain/);
    assert.deepEqual(validateObjectMeta({ name: 'x'.repeat(253) }, cluster), []);
  });

  it("uses the kind's name rule when given", () => {
    const opts = { namespaced: false, nameValidator: nameIsDNSLabel };
    assert.deepEqual(
      validateObjectMeta({ name: 'a.b' }, opts).map(e => e.field),
      ['metadata.name'],
    );
    assert.deepEqual(validateObjectMeta({ name: 'ab' }, opts), []);
  });

  it('requires a namespace for namespaced kinds and forbids it otherwise', () => {
    assert.deepEqual(
      validateObjectMeta({ name: 'n' }, namespaced).map(e => [e.field, e.reason]),
      [['metadata.namespace', 'FieldValueRequired']],
    );
    assert.deepEqual(validateObjectMeta({ name: 'n', namespace: 'prj-1' }, namespaced), []);
    assert.deepEqual(
      validateObjectMeta({ name: 'n', namespace: 'Prj_1' }, namespaced).map(e => e.field),
      ['metadata.namespace'],
    );
    assert.deepEqual(
      validateObjectMeta({ name: 'n', namespace: 'prj-1' }, cluster).map(e => [e.field, e.reason]),
      [['metadata.namespace', 'FieldValueForbidden']],
    );
  });

  it('validates label keys and values like Kubernetes', () => {
    const cases: Array<[Record<string, string>, number]> = [
      [{ 'bad key': 'v' }, 1],
      [{ '/name': 'v' }, 1],
      [{ 'Example.com/name': 'v' }, 1],
      [{ 'a/b/c': 'v' }, 1],
      [{ [`${'k'.repeat(64)}`]: 'v' }, 1],
      [{ key: 'bad value' }, 1],
      [{ key: 'v'.repeat(64) }, 1],
      [{ key: '-v' }, 1],
    ];
    for (const [labels, n] of cases) {
      const errs = validateObjectMeta({ name: 'x', labels }, cluster);
      assert.equal(errs.length, n, `${JSON.stringify(labels)}: ${JSON.stringify(errs)}`);
      assert.equal(errs[0]!.field, 'metadata.labels');
      assert.equal(errs[0]!.reason, 'FieldValueInvalid');
    }
    assert.deepEqual(validateObjectMeta({ name: 'x', labels: { 'example.com/My_Name-1.2': 'My_Value-1.2' } }, cluster), []);
  });

  it('validates annotation keys and the total annotation size', () => {
    assert.deepEqual(
      validateObjectMeta({ name: 'x', annotations: { 'not valid': '' } }, cluster).map(e => e.field),
      ['metadata.annotations'],
    );
    const big = { a: 'x'.repeat(200 * 1024), b: 'y'.repeat(57 * 1024) };
    const errs = validateObjectMeta({ name: 'x', annotations: big }, cluster);
    assert.deepEqual(
      errs.map(e => [e.field, e.reason]),
      [['metadata.annotations', 'FieldValueTooLong']],
    );
  });

  it('requires finalizers to be qualified names', () => {
    const errs = validateObjectMeta({ name: 'x', finalizers: ['ok', 'tkestack.io/ok', 'not ok'] }, cluster);
    assert.deepEqual(
      errs.map(e => e.field),
      ['metadata.finalizers'],
    );
    assert.match(errs[0]!.message, /"not ok"/);
  });

  it('checks owner references and managed fields', () => {
    const refs = [
      { apiVersion: 'v1', kind: 'A', name: 'a', uid: '1', controller: true },
      { apiVersion: 'v1', kind: 'B', name: 'b', uid: '2', controller: true },
      { apiVersion: '', kind: '', name: '', uid: '' },
    ];
    const fields = validateObjectMeta({ name: 'x', ownerReferences: refs }, cluster)
      .map(e => e.field)
      .sort();
    assert.deepEqual(fields, [
      'metadata.ownerReferences',
      'metadata.ownerReferences.apiVersion',
      'metadata.ownerReferences.kind',
      'metadata.ownerReferences.name',
      'metadata.ownerReferences.uid',
    ]);
    const mf = validateObjectMeta({ name: 'x', managedFields: [{ manager: 'k', operation: 'Patch', fieldsType: 'FieldsV2' }] }, cluster);
    assert.deepEqual(
      mf.map(e => [e.field, e.reason]),
      [
        ['metadata.managedFields[0].operation', 'FieldValueNotSupported'],
        ['metadata.managedFields[0].fieldsType', 'FieldValueNotSupported'],
      ],
    );
  });

  it('rejects a negative generation', () => {
    assert.deepEqual(
      validateObjectMeta({ name: 'x', generation: -1 }, cluster).map(e => e.field),
      ['metadata.generation'],
    );
  });

  it('on update, keeps identity immutable and refuses new finalizers while terminating', () => {
    const old = { name: 'a', uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z', deletionTimestamp: '2024-01-02T00:00:00Z', finalizers: ['f1'] };
    assert.deepEqual(validateObjectMetaUpdate({ ...old }, old), []);
    const errs = validateObjectMetaUpdate({ ...old, name: 'b', uid: 'u2', finalizers: ['f1', 'f2'] }, old);
    assert.deepEqual(
      errs.map(e => [e.field, e.reason]),
      [
        ['metadata.name', 'FieldValueInvalid'],
        ['metadata.uid', 'FieldValueInvalid'],
        ['metadata.finalizers', 'FieldValueForbidden'],
      ],
    );
  });
});

describe('isQualifiedName', () => {
  it('matches Kubernetes messages', () => {
    assert.deepEqual(isQualifiedName('good'), []);
    assert.deepEqual(isQualifiedName('prefix.io/good'), []);
    assert.deepEqual(isQualifiedName('/x'), ['prefix part must be non-empty']);
    assert.equal(isQualifiedName('x/').includes('name part must be non-empty'), true);
    assert.match(isQualifiedName('a b')[0]!, /^name part must consist of alphanumeric characters/);
  });
});
