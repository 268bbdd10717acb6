// Kubernetes Events from the server's controllers, after client-go's EventRecorder and its
// EventCorrelator: a controller says what it did to an object and why (`kubectl describe` shows
// it), and the recorder turns that into core/v1 Events written through a sink (this server's own
// storage, or the kube-apiserver it is aggregated into).
//
// What the recorder promises a controller, as client-go does:
//  - recording never blocks and never throws: events go to a bounded queue written by one worker,
//    and whatever cannot be written (a full queue, a failing sink) is dropped and counted;
//  - a repeat of the same event (object, type, reason, message) bumps `count` and `lastTimestamp`
//    of the stored Event instead of making another one;
//  - more than `similarMessages` different messages of one object, type and reason within
//    `similarWindowMs` are combined into one Event, "(combined from similar events): ...";
//  - an object producing events faster than a token bucket allows (25 at once, then one per five
//    minutes) loses the excess, so one object in a fast failure loop cannot flood the store;
//  - memory is bounded: the caches are LRUs of `maxEntries` keys.
// And of its own: a message never carries a credential (bearer tokens, URL passwords, key or
// password assignments are masked), and is cut at 1024 bytes (what events.k8s.io/v1 allows of a note).
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../api/meta/v1/types.ts';

export type EventType = 'Normal' | 'Warning';

/** A core/v1 Event as the recorder writes it; `tenantID` keeps a tenant's events to its own users. */
export interface CoreEvent extends KubeObject {
  involvedObject: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string; resourceVersion?: string };
  reason: string;
  message: string;
  type: EventType;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string; host?: string };
  reportingComponent: string;
  reportingInstance: string;
  tenantID?: string;
}

/** Where Events go: create returns what was stored (its name and resourceVersion), update replaces it. */
export interface EventSink {
  create(event: CoreEvent): Promise<CoreEvent>;
  update(event: CoreEvent): Promise<CoreEvent>;
  /** Whether an update failed because the Event is gone (swept by its TTL): it is then made again. */
  isNotFound(err: unknown): boolean;
}

export interface EventRecorderOptions {
  /** The controller (source.component / reportingComponent) when a call names none. */
  component: string;
  /** reportingInstance and source.host: which replica recorded it. */
  host?: string;
  /** Told about what could not be recorded (a failing sink); never asked to decide anything. */
  onDropped?: (why: string, err?: unknown) => void;
  /** The tenant an object belongs to, stored on its Events so that only that tenant's users see them. */
  tenantOf?: (obj: KubeObject) => string | undefined;
  maxEntries?: number;
  maxQueue?: number;
  similarMessages?: number;
  similarWindowMs?: number;
  burst?: number;
  refillEveryMs?: number;
  now?: () => number;
}

/** What a controller is given: record an event about an object. */
export interface EventRecorder {
  event(obj: KubeObject, type: EventType, reason: string, message: string, component?: string): void;
}

/** How one controller records events about one kind: `record(obj, type, reason, message)`. */
export type RecordEvent = (obj: KubeObject, type: EventType, reason: string, message: string) => void;

/**
 * The recorder as a controller of one kind uses it. Objects read from the storage (an informer's
 * cache) carry no apiVersion and kind, which an Event's involvedObject needs: they are given here.
 */
export function eventsAbout(recorder: EventRecorder, kind: { apiVersion: string; kind: string }, component: string): RecordEvent {
  return (obj, type, reason, message) =>
    recorder.event({ ...obj, apiVersion: obj.apiVersion || kind.apiVersion, kind: obj.kind || kind.kind }, type, reason, message, component);
}

/** A map that forgets its least recently used keys beyond `max`. */
class LRU<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
}

interface Pending {
  key: string;
  event: CoreEvent;
}

const maxMessageBytes = 1024;
const combinedPrefix = '(combined from similar events): ';

/** Masks what looks like a credential: a message may quote an error that quoted a request. */
export function redactSecrets(message: string): string {
  return message
    .replace(/(bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi, '$1[redacted]')
    .replace(/(\/\/[^/\s:@]+:)[^@\s/]+@/g, '$1[redacted]@')
    .replace(/\b(password|passwd|token|secret|apikey|api_key|private[_-]?key)(\s*[=:]\s*)("?)[^\s",;&]+/gi, '$1$2$3[redacted]')
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted private key]');
}

function truncate(message: string): string {
  if (Buffer.byteLength(message) <= maxMessageBytes) return message;
  let cut = message.slice(0, maxMessageBytes - 3);
  while (Buffer.byteLength(cut) > maxMessageBytes - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/**
 * The recorder. `flush()` resolves once everything queued so far is written (tests, shutdown);
 * `dropped` counts what was lost and why, for whoever wants to know.
 */
export class QueuedEventRecorder implements EventRecorder {
  readonly dropped = { queueFull: 0, spam: 0, sinkFailed: 0 };
  private readonly stored: LRU<CoreEvent>;
  private readonly similar: LRU<{ messages: Set<string>; since: number }>;
  private readonly buckets: LRU<{ tokens: number; at: number }>;
  private readonly queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private readonly o: Required<Omit<EventRecorderOptions, 'host' | 'onDropped' | 'tenantOf'>> & Pick<EventRecorderOptions, 'host' | 'onDropped' | 'tenantOf'>;
  private stopped = false;

  constructor(
    private readonly sink: EventSink,
    opts: EventRecorderOptions,
  ) {
    this.o = {
      maxEntries: 4096,
      maxQueue: 1000,
      similarMessages: 10,
      similarWindowMs: 10 * 60_000,
      burst: 25,
      refillEveryMs: 5 * 60_000,
      now: Date.now,
      ...opts,
    };
    this.stored = new LRU(this.o.maxEntries);
    this.similar = new LRU(this.o.maxEntries);
    this.buckets = new LRU(this.o.maxEntries);
  }

  event(obj: KubeObject, type: EventType, reason: string, message: string, component = this.o.component): void {
    try {
      if (this.stopped) return;
      const meta = obj.metadata ?? {};
      if (!meta.name) return;
      const involvedObject = {
        apiVersion: obj.apiVersion ?? '',
        kind: obj.kind ?? '',
        name: meta.name,
        ...(meta.namespace ? { namespace: meta.namespace } : {}),
        ...(meta.uid ? { uid: meta.uid } : {}),
        ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
      };
      const objectKey = [component, involvedObject.apiVersion, involvedObject.kind, meta.namespace ?? '', meta.name, meta.uid ?? ''].join('\u0000');
      if (!this.allow(objectKey)) {
        this.dropped.spam++;
        return;
      }
      let text = truncate(redactSecrets(message));
      const similarKey = `${objectKey}\u0000${type}\u0000${reason}`;
      const now = this.o.now();
      let group = this.similar.get(similarKey);
      if (!group || now - group.since > this.o.similarWindowMs) {
        group = { messages: new Set(), since: now };
        this.similar.set(similarKey, group);
      }
      if (group.messages.size < this.o.similarMessages) group.messages.add(text);
      else if (!group.messages.has(text)) text = truncate(combinedPrefix + text);
      // Combined events share one key, so they bump one Event whose message is the latest.
      const key = text.startsWith(combinedPrefix) ? `${similarKey}\u0000combined` : `${similarKey}\u0000${text}`;
      const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const event: CoreEvent = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: eventName(meta.name, now, key), namespace: meta.namespace || 'default' },
        involvedObject,
        reason,
        message: text,
        type,
        count: 1,
        firstTimestamp: at,
        lastTimestamp: at,
        source: { component, ...(this.o.host ? { host: this.o.host } : {}) },
        reportingComponent: component,
        reportingInstance: this.o.host ?? component,
      };
      const tenant = this.o.tenantOf?.(obj);
      if (tenant) event.tenantID = tenant;
      if (this.queue.length >= this.o.maxQueue) {
        this.dropped.queueFull++;
        this.o.onDropped?.('the event queue is full');
        return;
      }
      this.queue.push({ key, event });
      this.running ??= this.drain().finally(() => {
        this.running = undefined;
      });
    } catch (err) {
      this.o.onDropped?.('the event could not be prepared', err);
    }
  }

  /** Resolves once every event queued before the call is written or dropped. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Nothing more is queued; what is queued is still written. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.flush();
  }

  /** client-go's spam filter: a token bucket per object and component. */
  private allow(key: string): boolean {
    const now = this.o.now();
    const b = this.buckets.get(key) ?? { tokens: this.o.burst, at: now };
    const refilled = Math.min(this.o.burst, b.tokens + Math.floor((now - b.at) / this.o.refillEveryMs));
    const at = refilled > b.tokens ? now : b.at;
    if (refilled < 1) {
      this.buckets.set(key, { tokens: refilled, at });
      return false;
    }
    this.buckets.set(key, { tokens: refilled - 1, at });
    return true;
  }

  private async drain(): Promise<void> {
    // Yield first: the controller that recorded goes on before anything is written.
    await Promise.resolve();
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      try {
        await this.write(next);
      } catch (err) {
        this.dropped.sinkFailed++;
        this.o.onDropped?.('the event could not be written', err);
      }
    }
  }

  private async write({ key, event }: Pending): Promise<void> {
    const previous = this.stored.get(key);
    if (previous) {
      const repeated: CoreEvent = {
        ...previous,
        count: (previous.count ?? 1) + 1,
        lastTimestamp: event.lastTimestamp,
        message: event.message,
        involvedObject: event.involvedObject,
      };
      try {
        this.stored.set(key, await this.sink.update(repeated));
        return;
      } catch (err) {
        // Gone (past its TTL) or changed by someone else: it starts over as a new Event.
        this.stored.delete(key);
        if (!this.sink.isNotFound(err)) throw err;
      }
    }
    this.stored.set(key, await this.sink.create(event));
  }
}

/**
 * client-go names an Event `<object>.<hex nanoseconds>`; the key's hash is added so two events
 * about one object in the same millisecond do not collide.
 */
function eventName(objectName: string, nowMs: number, key: string): string {
  const suffix = `${(BigInt(nowMs) * 1_000_000n).toString(16)}${createHash('sha256').update(key).digest('hex').slice(0, 6)}`;
  return `${objectName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}
