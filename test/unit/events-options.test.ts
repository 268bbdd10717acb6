// --event-ttl takes a Go duration, as kube-apiserver's flag does; --events-kubeconfig is a path.
import assert from 'node:assert/strict';
import { OptionsError, parseOptions } from '../../cmd/tke-apiserver/options.ts';

describe('options: --event-ttl and --events-kubeconfig', function () {
  it('keeps events an hour by default, in this server', function () {
    const o = parseOptions([]);
    assert.equal(o.eventTTLSeconds, 3600);
    assert.equal(o.eventsKubeconfig, undefined);
  });

  it('reads Go durations', function () {
    for (const [given, seconds] of [
      ['90s', 90],
      ['10m', 600],
      ['1h30m', 5400],
      ['1.5h', 5400],
      ['1h0m0s', 3600],
      ['2500ms', 2],
    ] as const) {
      assert.equal(parseOptions([`--event-ttl=${given}`]).eventTTLSeconds, seconds, given);
    }
    assert.equal(parseOptions(['--events-kubeconfig', '/etc/kube/events.kubeconfig']).eventsKubeconfig, '/etc/kube/events.kubeconfig');
  });

  it('refuses what is not a duration, or less than a second', function () {
    for (const bad of ['60', 'abc', '1d', '-1h', '500ms', '0s', '1h 30m']) {
      assert.throws(() => parseOptions(['--event-ttl', bad]), OptionsError, bad);
    }
  });
});
