// What the HTTP layer refuses before anything reaches storage: strings PostgreSQL cannot hold,
// invalid UTF-8, bodies nested past what later code can walk, structs given as scalars; and
// that validating an object with 100,000 labels stays fast and its error answer bounded.
import assert from 'node:assert/strict';
import { OptionsError, parseOptions } from '../../cmd/tke-apiserver/options.ts';
import { Project } from '../../api/business/v1/project.ts';
import { errors, field, StatusError } from '../../pkg/rest/errors.ts';
import { compileKind } from '../../pkg/rest/validation.ts';
import { validateObjectMeta } from '../../pkg/rest/objectmeta.ts';
import { checkPatchText, decodeBody, maxNestingDepth } from '../../pkg/server/negotiate.ts';
import { parseRequestInfo } from '../../pkg/server/requestinfo.ts';

function refused(fn: () => unknown, code = 400): StatusError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StatusError, `expected a StatusError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail('expected the input to be refused');
}

const json = (text: string) => Buffer.from(text);

describe('unit: input hardening', function () {
  describe('decodeBody', function () {
    it('refuses a NUL in any value or key, naming where it is', function () {
      for (const [body, path] of [
        ['{"spec":{"displayName":"a\\u0000b"}}', 'spec.displayName'],
        ['{"metadata":{"labels":{"a/b":"\\u0000"}}}', 'metadata.labels[a/b]'],
        ['{"spec":{"members":["x","y\\u0000"]}}', 'spec.members[1]'],
        ['{"spec":{"k\\u0000":1}}', 'spec'],
        ['"\\u0000"', ''],
      ] as const) {
        const err = refused(() => decodeBody('application/json', json(body)));
        assert.equal(err.reason, 'BadRequest');
        assert.match(err.message, /NUL/);
        assert.equal(err.status.details?.causes?.[0]?.field, path, body);
      }
    });

    it('refuses lone surrogates but keeps well-formed pairs', function () {
      for (const s of ['\\ud800', '\\udfff', 'a\\udc00\\ud800b', '\\ud83d']) {
        const err = refused(() => decodeBody('application/json', json(`{"a":"${s}"}`)));
        assert.match(err.message, /surrogate/);
      }
      assert.deepEqual(decodeBody('application/json', json('{"a":"\\ud83d\\udca5"}')), { a: '\u{1F4A5}' });
    });

    it('refuses invalid UTF-8 instead of storing U+FFFD', function () {
      for (const bytes of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
        const body = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]);
        assert.match(refused(() => decodeBody('application/json', body)).message, /UTF-8/);
        assert.match(refused(() => decodeBody('application/yaml', body)).message, /UTF-8/);
      }
      assert.deepEqual(decodeBody('application/json', Buffer.from('{"a":"ü日本"}')), { a: 'ü日本' });
    });

    it('applies the same rules to YAML escapes', function () {
      for (const yaml of ['a: "x\\0y"', 'a: "\\x00"', '"k\\0": v', 'a: "\\ud800"']) {
        refused(() => decodeBody('application/yaml', Buffer.from(yaml)));
      }
      assert.deepEqual(decodeBody('application/yaml', Buffer.from('a: "\\u00fc"')), { a: 'ü' });
    });

    it(`refuses nesting deeper than ${maxNestingDepth} levels without overflowing the stack`, function () {
      const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
      assert.doesNotThrow(() => decodeBody('application/json', json(nested(maxNestingDepth))));
      assert.match(refused(() => decodeBody('application/json', json(nested(maxNestingDepth + 1)))).message, /nested/);
      assert.match(refused(() => decodeBody('application/json', json(nested(1_000_000)))).message, /nested/);
    });
  });

  describe('checkPatchText', function () {
    it('finds NUL and lone surrogates in JSON and apply patches, escaped or not', function () {
      refused(() => checkPatchText('application/merge-patch+json', '{"a":"\\u0000"}'));
      refused(() => checkPatchText('application/json-patch+json', '[{"op":"add","path":"/a","value":"\\udc00"}]'));
      refused(() => checkPatchText('application/apply-patch+yaml', 'a: "\\0"'));
      refused(() => checkPatchText('application/apply-patch+yaml', 'a: b\u0000'));
    });

    it('leaves clean and unparsable patches to the patch code', function () {
      assert.doesNotThrow(() => checkPatchText('application/merge-patch+json', '{"a":"\\n\\"ok\\""}'));
      assert.doesNotThrow(() => checkPatchText('application/merge-patch+json', '{"a": \\'));
      assert.doesNotThrow(() => checkPatchText('application/apply-patch+yaml', 'a: [b'));
    });
  });

  describe('shapeError (typed decoding)', function () {
    const kind = compileKind(Project);

    it('names a struct, map or list given as something else', function () {
      assert.equal(kind.shapeError({ metadata: 'x' }), 'metadata: expected an object, got string');
      assert.equal(kind.shapeError({ metadata: { name: 'a' }, spec: 'x' }), 'spec: expected an object, got string');
      assert.equal(kind.shapeError({ metadata: { labels: ['a'] } }), 'metadata.labels: expected an object, got array');
      assert.equal(kind.shapeError({ metadata: { finalizers: 'x' } }), 'metadata.finalizers: expected a list, got string');
      assert.equal(kind.shapeError({ spec: { members: { a: 1 } } }), 'spec.members: expected a list, got object');
    });

    it('names a plain scalar of the wrong type, as Go does not decode it either', function () {
      assert.equal(kind.shapeError({ spec: { displayName: 5 } }), 'spec.displayName: expected a string, got integer');
      assert.equal(kind.shapeError({ spec: { members: ['a', true] } }), 'spec.members[1]: expected a string, got boolean');
      assert.equal(kind.shapeError({ metadata: { generation: 'x' } }), 'metadata.generation: expected an integer, got string');
      assert.equal(kind.shapeError({ metadata: { generation: 1.5 } }), 'metadata.generation: expected an integer, got number');
      assert.equal(kind.shapeError({ status: { locked: 'yes' } }), 'status.locked: expected a boolean, got string');
    });

    it('accepts well-shaped objects and nulls (absent fields to Go)', function () {
      assert.equal(kind.shapeError({ metadata: { name: 'a', labels: { a: 'b' } }, spec: { tenantID: 'd', members: ['x'] } }), undefined);
      assert.equal(kind.shapeError({ metadata: null, spec: { members: null } }), undefined);
      // A quantity is int-or-string: either decodes, and what the string says is validate()'s.
      assert.equal(kind.shapeError({ spec: { clusters: { c: { hard: { cpu: 1, memory: '1Gi' } } } } }), undefined);
    });
  });

  describe('parseRequestInfo', function () {
    it('refuses a NUL in the path or a query parameter', function () {
      refused(() => parseRequestInfo('GET', new URL('https://x/apis/business.tkestack.io/v1/projects/a%00b')));
      refused(() => parseRequestInfo('GET', new URL('https://x/apis/business.tkestack.io/v1/namespaces/a%00/namespaces')));
      refused(() => parseRequestInfo('GET', new URL('https://x/apis/business.tkestack.io/v1/projects?continue=%00')));
      refused(() => parseRequestInfo('GET', new URL('https://x/apis/business.tkestack.io/v1/projects?a%00=1')));
      assert.equal(parseRequestInfo('GET', new URL('https://x/apis/business.tkestack.io/v1/projects/a%C3%BC')).name, 'aü');
    });
  });

  describe('--max-requests-inflight and --max-mutating-requests-inflight', function () {
    it("default to kube-apiserver's 400 and 200, take 0 for no limit, and refuse what is not a count", function () {
      const d = parseOptions([], {});
      assert.equal(d.maxRequestsInflight, 400);
      assert.equal(d.maxMutatingRequestsInflight, 200);
      const o = parseOptions(['--max-requests-inflight=0', '--max-mutating-requests-inflight', '3'], {});
      assert.equal(o.maxRequestsInflight, 0);
      assert.equal(o.maxMutatingRequestsInflight, 3);
      for (const bad of ['-1', 'many', '1.5']) {
        assert.throws(() => parseOptions([`--max-requests-inflight=${bad}`], {}), OptionsError);
      }
    });
  });

  describe('100,000 labels', function () {
    const labels = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`l${i}`, `v${i}`]));

    it('validate in well under two seconds', function () {
      const kind = compileKind(Project);
      const meta = { name: 'x', labels };
      const check = () => {
        assert.deepEqual(validateObjectMeta(meta, { namespaced: false }), []);
        assert.deepEqual(kind.validate({ apiVersion: 'business.tkestack.io/v1', kind: 'Project', metadata: meta, spec: {} }), []);
        assert.equal(kind.shapeError({ metadata: meta }), undefined);
      };
      check();
      // The best of three runs: what the code costs, not what the machine was busy with.
      const ms = Math.min(
        ...[0, 1, 2].map(() => {
          const t0 = performance.now();
          check();
          return performance.now() - t0;
        }),
      );
      console.log(`      100k labels validated in ${Math.round(ms)} ms`);
      assert.ok(ms < 2000, `took ${Math.round(ms)} ms`);
    });

    it('when all invalid, make an Invalid error of at most 100 causes', function () {
      const bad = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`-l${i}`, 'v']));
      const t0 = performance.now();
      const err = errors.invalid('business.tkestack.io', 'Project', 'x', validateObjectMeta({ name: 'x', labels: bad }, { namespaced: false }));
      const ms = performance.now() - t0;
      assert.equal(err.code, 422);
      assert.equal(err.status.details?.causes?.length, 100);
      assert.match(err.message, /, and 99900 more errors$/);
      assert.ok(err.message.length < 100_000, `${err.message.length} characters`);
      assert.ok(ms < 5000, `took ${Math.round(ms)} ms`);
    });

    it('a few causes are all reported', function () {
      const err = errors.invalid('g', 'K', 'n', [field.required('a'), field.required('b')]);
      assert.equal(err.status.details?.causes?.length, 2);
      assert.doesNotMatch(err.message, /more errors/);
    });
  });
});
