// The EventRecorder's promises to the controllers that use it: repeats are counted on one Event,
// many different messages of one reason are combined, a flooding object is cut off, memory stays
// bounded, a failing sink never reaches the caller, and no credential is written.
import assert from 'node:assert/strict';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { QueuedEventRecorder, redactSecrets, type CoreEvent, type EventSink } from '../../pkg/controller/events.ts';

class MemorySink implements EventSink {
  readonly events = new Map<string, CoreEvent>();
  creates = 0;
  updates = 0;
  fail = false;
  async create(event: CoreEvent) {
    if (this.fail) throw new Error('sink down');
    this.creates++;
    assert.ok(!this.events.has(event.metadata.name!), `event name ${event.metadata.name} reused`);
    const stored = { ...event, metadata: { ...event.metadata, resourceVersion: '1' } };
    this.events.set(event.metadata.name!, stored);
    return stored;
  }
  async update(event: CoreEvent) {
    if (this.fail) throw new Error('sink down');
    if (!this.events.has(event.metadata.name!)) throw Object.assign(new Error('gone'), { code: 404 });
    this.updates++;
    this.events.set(event.metadata.name!, event);
    return event;
  }
  isNotFound(err: unknown) {
    return (err as { code?: number }).code === 404;
  }
  all() {
    return [...this.events.values()];
  }
}

const cluster = (name = 'cls-a', tenantID = 'default'): KubeObject => ({
  apiVersion: 'platform.tkestack.io/v1',
  kind: 'Cluster',
  metadata: { name, uid: `uid-${name}`, resourceVersion: '7' },
  spec: { tenantID },
});

function recorder(sink: EventSink, now: { t: number }, extra: Partial<ConstructorParameters<typeof QueuedEventRecorder>[1]> = {}) {
  return new QueuedEventRecorder(sink, { component: 'test-controller', host: 'h1', now: () => now.t, tenantOf: o => String(o.spec?.tenantID), ...extra });
}

describe('EventRecorder', function () {
  it('records one Event per distinct event, with the reference, source and tenant of the object', async function () {
    const sink = new MemorySink();
    const r = recorder(sink, { t: Date.parse('2026-01-01T00:00:00Z') });
    r.event(cluster(), 'Warning', 'Unreachable', 'probe failed: connection refused');
    await r.flush();
    const [e] = sink.all();
    assert.equal(sink.all().length, 1);
    assert.deepEqual(e.involvedObject, { apiVersion: 'platform.tkestack.io/v1', kind: 'Cluster', name: 'cls-a', uid: 'uid-cls-a', resourceVersion: '7' });
    assert.equal(e.metadata.namespace, 'default', 'a cluster-scoped object\'s events go to "default", as client-go puts them');
    assert.match(e.metadata.name!, /^cls-a\.[0-9a-f]+$/);
    assert.equal(e.type, 'Warning');
    assert.equal(e.reason, 'Unreachable');
    assert.equal(e.count, 1);
    assert.equal(e.firstTimestamp, '2026-01-01T00:00:00Z');
    assert.deepEqual(e.source, { component: 'test-controller', host: 'h1' });
    assert.equal(e.tenantID, 'default');
  });

  it('counts a repeat on the stored Event: count and lastTimestamp move, firstTimestamp stays', async function () {
    const sink = new MemorySink();
    const now = { t: Date.parse('2026-01-01T00:00:00Z') };
    const r = recorder(sink, now);
    for (let i = 0; i < 5; i++) {
      r.event(cluster(), 'Warning', 'Unreachable', 'probe failed: connection refused');
      now.t += 60_000;
    }
    r.event(cluster(), 'Warning', 'Forbidden', 'probe failed: the cluster answered 403');
    await r.flush();
    const events = sink.all();
    assert.equal(events.length, 2, JSON.stringify(events));
    const unreachable = events.find(e => e.reason === 'Unreachable')!;
    assert.equal(unreachable.count, 5);
    assert.equal(unreachable.firstTimestamp, '2026-01-01T00:00:00Z');
    assert.equal(unreachable.lastTimestamp, '2026-01-01T00:04:00Z');
    assert.equal(sink.creates, 2);
    assert.equal(sink.updates, 4);
  });

  it('keeps events of different objects apart', async function () {
    const sink = new MemorySink();
    const r = recorder(sink, { t: Date.now() });
    r.event(cluster('cls-a'), 'Warning', 'Unreachable', 'x');
    r.event(cluster('cls-b'), 'Warning', 'Unreachable', 'x');
    await r.flush();
    assert.deepEqual(
      sink
        .all()
        .map(e => e.involvedObject.name)
        .sort(),
      ['cls-a', 'cls-b'],
    );
  });

  it('combines more than 10 different messages of one reason into one Event, as client-go does', async function () {
    const sink = new MemorySink();
    const r = recorder(sink, { t: Date.now() });
    for (let i = 0; i < 15; i++) r.event(cluster(), 'Warning', 'PreflightFailed', `check ${i} failed`);
    await r.flush();
    const events = sink.all();
    assert.equal(events.length, 11, events.map(e => e.message).join('\n'));
    const combined = events.filter(e => e.message.startsWith('(combined from similar events): '));
    assert.equal(combined.length, 1);
    assert.equal(combined[0].count, 5);
    assert.equal(combined[0].message, '(combined from similar events): check 14 failed');
  });

  it('starts a new Event when the stored one is gone (swept by its TTL)', async function () {
    const sink = new MemorySink();
    const r = recorder(sink, { t: Date.now() });
    r.event(cluster(), 'Warning', 'Unreachable', 'x');
    await r.flush();
    sink.events.clear();
    r.event(cluster(), 'Warning', 'Unreachable', 'x');
    await r.flush();
    assert.equal(sink.all().length, 1);
    assert.equal(sink.all()[0].count, 1);
  });

  it('drops what an object produces beyond its token bucket, and refills it with time', async function () {
    const sink = new MemorySink();
    const now = { t: Date.now() };
    const r = recorder(sink, now, { burst: 3, refillEveryMs: 1000 });
    for (let i = 0; i < 5; i++) r.event(cluster(), 'Warning', 'Unreachable', 'x');
    await r.flush();
    assert.equal(sink.all()[0].count, 3);
    assert.equal(r.dropped.spam, 2);
    now.t += 1000;
    r.event(cluster(), 'Warning', 'Unreachable', 'x');
    await r.flush();
    assert.equal(sink.all()[0].count, 4);
  });

  it('never blocks or throws: a failing sink and a full queue lose events, counted', async function () {
    const sink = new MemorySink();
    sink.fail = true;
    const dropped: string[] = [];
    const r = recorder(sink, { t: Date.now() }, { maxQueue: 2, onDropped: why => dropped.push(why) });
    for (let i = 0; i < 5; i++) r.event(cluster(`c${i}`), 'Warning', 'Unreachable', 'x');
    assert.equal(r.dropped.queueFull, 3, 'queued synchronously: the third call finds the queue full');
    await r.flush();
    assert.equal(r.dropped.sinkFailed, 2);
    assert.ok(dropped.includes('the event could not be written'), dropped.join(', '));
    r.event({ metadata: {} } as KubeObject, 'Normal', 'R', 'an object without a name is ignored');
    await r.flush();
  });

  it('keeps its caches bounded by maxEntries', async function () {
    const sink = new MemorySink();
    const r = recorder(sink, { t: Date.now() }, { maxEntries: 10 });
    for (let i = 0; i < 100; i++) r.event(cluster(`c${i}`), 'Normal', 'Running', 'ok');
    await r.flush();
    for (const cache of ['stored', 'similar', 'buckets'] as const) {
      assert.ok((r as unknown as Record<string, { size: number }>)[cache].size <= 10, `${cache} holds more than 10 keys`);
    }
    // The first object's Event was forgotten: a repeat makes a new Event rather than growing memory.
    r.event(cluster('c0'), 'Normal', 'Running', 'ok');
    await r.flush();
    assert.equal(sink.creates, 101);
  });

  it('never writes a credential, and cuts long messages', async function () {
    const sink = new MemorySink();
    const r = recorder(sink, { t: Date.now() });
    r.event(
      cluster(),
      'Warning',
      'Unauthorized',
      'GET https://admin:hunter2@10.0.0.1:6443/version with Authorization: Bearer eyJhbGciOi.abc.def failed; token=s3cr3t password: pa55',
    );
    r.event(cluster('long'), 'Warning', 'Big', 'x'.repeat(5000));
    await r.flush();
    const e = sink.all().find(x => x.reason === 'Unauthorized')!;
    for (const secret of ['hunter2', 'eyJhbGciOi', 's3cr3t', 'pa55']) assert.ok(!e.message.includes(secret), e.message);
    assert.ok(e.message.includes('10.0.0.1:6443'), 'what is not a credential stays: ' + e.message);
    assert.ok(Buffer.byteLength(sink.all().find(x => x.reason === 'Big')!.message) <= 1024);
    assert.equal(redactSecrets('-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----'), '[redacted private key]');
  });
});
