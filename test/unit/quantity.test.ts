import assert from 'node:assert/strict';
import { Quantity, QuantityError, canonicalQuantity, sumQuantities } from '../../pkg/apis/business/quantity.ts';
import { isIntegerResource, quotaResourceNameProblems, validateResourceList } from '../../pkg/apis/business/resourcenames.ts';

const q = (s: string | number) => Quantity.parse(s);

describe('unit: resource.Quantity', function () {
  describe('canonical form, as Kubernetes writes it', function () {
    const cases: Array<[string | number, string]> = [
      ['0', '0'],
      ['0m', '0'],
      ['0Gi', '0'],
      ['-0', '0'],
      ['1', '1'],
      ['500m', '500m'],
      ['1500m', '1500m'],
      ['1.5', '1500m'],
      ['0.5', '500m'],
      ['.5', '500m'],
      ['1000m', '1'],
      ['1000', '1k'],
      ['1500', '1500'],
      ['2000000', '2M'],
      ['1.5k', '1500'],
      ['2Gi', '2Gi'],
      ['100Ki', '100Ki'],
      ['1024', '1024'],
      ['1024Ki', '1Mi'],
      ['1536Ki', '1536Ki'],
      ['0.5Gi', '512Mi'],
      ['1.5Ki', '1536'],
      ['0.5Ki', '512'],
      ['1Ei', '1Ei'],
      ['2048Ei', '2048Ei'],
      ['1e3', '1e3'],
      ['1E3', '1e3'],
      ['1e0', '1'],
      ['1.5e3', '1500'],
      ['1e-3', '1e-3'],
      ['12e6', '12e6'],
      ['1n', '1n'],
      ['0.1n', '1n'],
      ['1u', '1u'],
      ['1000u', '1m'],
      ['1e-10', '1e-9'],
      ['-500m', '-500m'],
      ['+2', '2'],
      ['1E', '1E'],
      ['1000E', '1000E'],
      ['5G', '5G'],
      [1.5, '1500m'],
      [2, '2'],
      [0.1, '100m'],
      [1e3, '1k'],
    ];
    for (const [input, want] of cases) {
      it(`${JSON.stringify(input)} -> ${want}`, function () {
        assert.equal(q(input).toString(), want);
        assert.equal(JSON.stringify({ v: q(input) }), JSON.stringify({ v: want }));
      });
    }
  });

  describe('exact arithmetic', function () {
    it('0.1 + 0.2 cpu is exactly 300m', function () {
      assert.equal(q('0.1').add(q('0.2')).toString(), '300m');
      assert.equal(q('0.1').add(q('0.2')).cmp(q('300m')), 0);
      assert.equal(q(0.1).add(q(0.2)).cmp(q('0.3')), 0);
    });
    it('ten times 100m is 1, and 1 - 999m is 1m', function () {
      assert.equal(sumQuantities(Array.from({ length: 10 }, () => q('100m'))).toString(), '1');
      assert.equal(q('1').sub(q('999m')).toString(), '1m');
    });
    it('adding mixes units without rounding', function () {
      assert.equal(q('1Gi').add(q('512Mi')).toString(), '1536Mi');
      assert.equal(q('1Gi').add(q('1')).toString(), '1073741825');
      assert.equal(q('1e3').add(q('500m')).toString(), '1000500e-3');
      assert.equal(q('1k').add(q('1e3')).toString(), '2k');
    });
    it('the sum takes the format of the first non-zero addend', function () {
      assert.equal(Quantity.zero().add(q('1Gi')).toString(), '1Gi');
      assert.equal(sumQuantities([q('1Gi'), q('1Gi')]).toString(), '2Gi');
      assert.equal(sumQuantities([]).toString(), '0');
    });
    it('compares across formats', function () {
      assert.equal(q('1Ki').cmp(q('1024')), 0);
      assert.equal(q('1k').cmp(q('1Ki')), -1);
      assert.equal(q('2').cmp(q('1999m')), 1);
      assert.equal(q('1e3').cmp(q('1k')), 0);
    });
    it('handles values far beyond 2^53 exactly', function () {
      const big = q('9007199254740993');
      assert.equal(big.add(q('1')).toString(), '9007199254740994');
      assert.equal(q('8Ei').add(q('8Ei')).toString(), '16Ei');
    });
    it('knows whole numbers and signs', function () {
      assert.ok(q('3').isInteger());
      assert.ok(!q('1500m').isInteger());
      assert.ok(q('-1').isNegative());
      assert.ok(q('0').isZero());
    });
  });

  describe('invalid quantities', function () {
    for (const bad of ['', ' 1', '1 ', 'abc', '1.2.3', '1Kb', '1KiB', '1e', '1e1.5', 'e3', '--1', '1m1', '0x10', 'Infinity', 'NaN', '1e999', '1i', '1mi']) {
      it(`${JSON.stringify(bad)} is refused`, function () {
        assert.throws(() => q(bad), QuantityError);
        assert.equal(Quantity.isValid(bad), false);
      });
    }
    it('non-finite numbers and other types are refused', function () {
      assert.throws(() => q(Number.NaN), QuantityError);
      assert.throws(() => q(Number.POSITIVE_INFINITY), QuantityError);
      assert.equal(Quantity.isValid(null), false);
      assert.equal(Quantity.isValid({}), false);
    });
    it('canonicalQuantity leaves what does not parse alone', function () {
      assert.equal(canonicalQuantity('1.5'), '1500m');
      assert.equal(canonicalQuantity('bogus'), 'bogus');
      assert.deepEqual(canonicalQuantity({ a: 1 }), { a: 1 });
    });
  });
});

describe('unit: quota resource names', function () {
  it('accepts standard, hugepages, qualified and object-count names', function () {
    for (const n of [
      'requests.cpu',
      'limits.memory',
      'pods',
      'hugepages-2Mi',
      'requests.hugepages-1Gi',
      'nvidia.com/gpu',
      'count/deployments.apps',
      'count/pods',
    ]) {
      assert.deepEqual(quotaResourceNameProblems(n), [], n);
    }
  });
  it('refuses unknown bare names and malformed qualified names', function () {
    for (const n of ['gpu', 'requests.gpus', 'Bad Name', '/x', 'a/', 'UPPER.com/x', '']) {
      assert.notDeepEqual(quotaResourceNameProblems(n), [], n);
    }
  });
  it('object counts, pods and extended resources are whole numbers; cpu and memory are not', function () {
    assert.ok(isIntegerResource('count/deployments.apps'));
    assert.ok(isIntegerResource('pods'));
    assert.ok(isIntegerResource('nvidia.com/gpu'));
    assert.ok(!isIntegerResource('requests.cpu'));
    assert.ok(!isIntegerResource('memory'));
    assert.ok(!isIntegerResource('kubernetes.io/something'));
  });
  it('validateResourceList reports each bad entry at its path', function () {
    const problems = validateResourceList({ 'requests.cpu': 'lots', pods: '1500m', 'count/pods': '-1', 'requests.memory': '1Gi', weird: '1' }, 'spec.hard');
    const fields = problems.map(p => p.field).sort();
    assert.deepEqual(fields, ['spec.hard[count/pods]', 'spec.hard[pods]', 'spec.hard[requests.cpu]', 'spec.hard[weird]']);
    assert.ok(problems.every(p => p.reason === 'FieldValueInvalid'));
  });
});
