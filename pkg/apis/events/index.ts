// Events about this server's objects, served as Kubernetes serves them so `kubectl describe` and
// `kubectl get events` work against a standalone server: core/v1 `events` is the stored kind (it is
// what kubectl describe reads: GET /api/v1/events?fieldSelector=involvedObject.uid=...,
// involvedObject.name=...,involvedObject.namespace=...,involvedObject.kind=...), and
// events.k8s.io/v1 `events` is a read-only view of the same objects, as kube-apiserver converts
// one stored Event to both.
//
// Each Event keeps the tenant of the object it is about (`tenantID`): the authorizer's tenant
// filter then shows a tenant's users their tenant's Events only, and a tenant's user who writes one
// writes it into its own tenant (TenantIsolation admission), so one tenant can neither read nor
// plant another's. Events are removed `eventTTLSeconds` after they were last seen, like
// kube-apiserver's --event-ttl, by a periodic sweep.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import type { ObjectOf, RequestContext } from '../../rest/resource.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import type { RegistryStore } from '../../rest/store.ts';
import type { APIGroupInstaller } from '../../server/group.ts';
import { age } from '../../server/table.ts';
import { StorageError, type Store } from '../../storage/interface.ts';
import { defaultTopLevelTenant } from '../tke/tenant.ts';
import { CoreEvent, CoreEventList, Event, EventList } from './schema.ts';

export const coreEventsKey = { group: '', resource: 'events' } as const;
export const eventsGroupName = 'events.k8s.io';

const involvedFields = ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'];

type StoredEvent = ObjectOf<typeof CoreEvent>;

/**
 * A core/v1 Event read from storage: it passed the CoreEvent schema when it was written (the
 * generic store validates every write), so it is taken to be of its type here, and only here.
 */
const asEvent = (obj: KubeObject) => obj as StoredEvent;

/** When an Event was last seen: what its TTL and LAST SEEN count from. */
export function lastSeen(e: StoredEvent): string | undefined {
  return e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
}

function validateEvent(e: StoredEvent): FieldError[] {
  const out: FieldError[] = [];
  // Required by the schema, which is checked after this.
  const involved = e.involvedObject ?? {};
  if (!involved.name) out.push(field.required('involvedObject.name'));
  if (!involved.kind) out.push(field.required('involvedObject.kind'));
  // As kube's ValidateEvent: an Event about a namespaced object lives in that object's namespace.
  if (involved.namespace && involved.namespace !== e.metadata.namespace) {
    out.push(field.invalid('involvedObject.namespace', involved.namespace, 'does not match event.namespace'));
  }
  if (e.type && e.type !== 'Normal' && e.type !== 'Warning') out.push(field.notSupported('type', e.type, ['Normal', 'Warning']));
  if ((e.reason ?? '').length > 128) out.push(field.tooLong('reason', 128));
  if (Buffer.byteLength(e.message ?? '') > 4096) out.push(field.tooLong('message', 4096));
  return out;
}

function describeObject(e: StoredEvent): string {
  const o = e.involvedObject ?? {};
  return `${(o.kind ?? '').toLowerCase()}${o.apiVersion?.includes('/') ? `.${o.apiVersion.split('/')[0]}` : ''}/${o.name ?? ''}`;
}

export const coreEvents: OpenAPIResource<typeof CoreEvent> = {
  group: '',
  version: 'v1',
  kind: 'Event',
  listKind: 'EventList',
  resource: 'events',
  singular: 'event',
  namespaced: true,
  shortNames: ['ev'],
  categories: [],
  schema: CoreEvent,
  listSchema: CoreEventList,
  subresources: {},
  strategy: {
    defaults(e) {
      defaultTopLevelTenant(e);
      e.count ??= 1;
    },
    validate: validateEvent,
    validateUpdate: validateEvent,
    generationFromSpec: false,
    omitAge: true,
    columns: [
      { name: 'Last Seen', type: 'string', format: '', description: 'The time at which the most recent occurrence of this event was recorded.', priority: 0 },
      { name: 'Type', type: 'string', format: '', description: 'Type of this event (Normal, Warning).', priority: 0 },
      { name: 'Reason', type: 'string', format: '', description: 'Why the action was taken.', priority: 0 },
      { name: 'Object', type: 'string', format: '', description: 'The object this event is about.', priority: 0 },
      { name: 'Message', type: 'string', format: '', description: 'A human-readable description of the status of this operation.', priority: 0 },
      { name: 'Source', type: 'string', format: '', description: 'The component reporting this event.', priority: 1 },
      { name: 'First Seen', type: 'string', format: '', description: 'The time at which the event was first recorded.', priority: 1 },
      { name: 'Count', type: 'integer', format: '', description: 'The number of times this event has occurred.', priority: 1 },
    ],
    row(e) {
      const source = e.source?.component ?? e.reportingComponent ?? '';
      return [
        age(lastSeen(e)),
        e.type ?? '',
        e.reason ?? '',
        describeObject(e),
        e.message ?? '',
        e.source?.host ? `${source}, ${e.source.host}` : source,
        age(e.firstTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp),
        e.series?.count ?? e.count ?? 1,
      ];
    },
    fieldSelectors: {
      ...fieldsAt(...involvedFields.map(f => `involvedObject.${f}`), 'reason', 'type', 'reportingComponent', 'source.component', 'tenantID'),
      // kube's selector names the component as `source`.
      source: obj => obj.source?.component,
    },
  },
};

/** A stored core/v1 Event as events.k8s.io/v1 shows it (kube's conversion between the two). */
export function toEventsV1(obj: KubeObject): KubeObject {
  const e = asEvent(obj);
  const count = e.series?.count ?? e.count ?? 1;
  return {
    apiVersion: `${eventsGroupName}/v1`,
    kind: 'Event',
    metadata: e.metadata,
    eventTime: e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp,
    ...(count > 1 ? { series: { count, lastObservedTime: lastSeen(e) } } : {}),
    reportingController: e.reportingComponent ?? e.source?.component ?? '',
    reportingInstance: e.reportingInstance ?? e.source?.host ?? '',
    action: e.action ?? '',
    reason: e.reason ?? '',
    regarding: e.involvedObject,
    note: e.message ?? '',
    type: e.type ?? '',
    ...(e.related ? { related: e.related } : {}),
    ...(e.source ? { deprecatedSource: e.source } : {}),
    ...(e.firstTimestamp ? { deprecatedFirstTimestamp: e.firstTimestamp } : {}),
    ...(e.lastTimestamp ? { deprecatedLastTimestamp: e.lastTimestamp } : {}),
    ...(e.count !== undefined ? { deprecatedCount: e.count } : {}),
    ...(e.tenantID ? { tenantID: e.tenantID } : {}),
  };
}

/** events.k8s.io field names as the stored core/v1 Event has them. */
function coreFieldSelector(selector: string | undefined): string | undefined {
  return selector?.replace(/(^|,)(\s*!?)regarding\./g, '$1$2involvedObject.').replace(/(^|,)(\s*)reportingController(?=\s*!?=)/g, '$1$2reportingComponent');
}

function eventsV1(coreStore: () => RegistryStore): OpenAPIResource<typeof Event> {
  return {
    group: eventsGroupName,
    version: 'v1',
    kind: 'Event',
    listKind: 'EventList',
    resource: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: [],
    categories: [],
    schema: Event,
    listSchema: EventList,
    subresources: {},
    verbs: ['get', 'list'],
    strategy: {
      omitAge: true,
      columns: coreEvents.strategy.columns,
      row: e =>
        coreEvents.strategy.row!({
          ...e,
          involvedObject: e.regarding ?? {},
          message: e.note,
          count: e.series?.count ?? e.deprecatedCount,
          source: e.deprecatedSource ?? { component: e.reportingController },
          firstTimestamp: e.deprecatedFirstTimestamp ?? e.eventTime,
          lastTimestamp: e.series?.lastObservedTime ?? e.deprecatedLastTimestamp,
        }),
    },
    handlers: {
      async get(ctx: RequestContext, name: string) {
        return toEventsV1(await coreStore().get(ctx, name));
      },
      async list(ctx: RequestContext, q) {
        const list = await coreStore().list(ctx, { labelSelector: q.labelSelector, fieldSelector: coreFieldSelector(q.fieldSelector) });
        return { items: list.items.map(toEventsV1), resourceVersion: list.metadata.resourceVersion };
      },
    },
  };
}

/** Removes Events last seen more than `ttlSeconds` ago; returns how many. */
export async function sweepExpiredEvents(storage: Store, ttlSeconds: number, now = Date.now()): Promise<number> {
  const cutoff = now - ttlSeconds * 1000;
  const expired = (await storage.list(coreEventsKey, { filter: e => Date.parse(lastSeen(asEvent(e)) ?? '') < cutoff })).items;
  let removed = 0;
  for (const e of expired) {
    const key = { ...coreEventsKey, namespace: e.metadata.namespace ?? '', name: e.metadata.name! };
    try {
      // Only the version read: an Event seen again meanwhile has a new lastTimestamp and stays.
      await storage.transact(tx => tx.delete(key, e.metadata.resourceVersion));
      removed++;
    } catch (err) {
      if (!(err instanceof StorageError && (err.code === 'NotFound' || err.code === 'Conflict'))) throw err;
    }
  }
  return removed;
}

export const eventsGroup: APIGroupInstaller = {
  name: 'events',
  build(ctx) {
    let timer: NodeJS.Timeout | undefined;
    // Often enough that an Event outlives its TTL by at most a quarter of it (and a minute at most).
    const periodMs = Math.min(60_000, Math.max(1000, ctx.eventTTLSeconds * 250));
    const log = ctx.logger.child({ controller: 'event-ttl' });
    return {
      resources: [coreEvents, eventsV1(() => ctx.store('', 'events'))],
      controllers: () => [
        {
          name: 'event-ttl',
          async start() {
            const sweep = () =>
              void sweepExpiredEvents(ctx.storage, ctx.eventTTLSeconds)
                .then(n => {
                  if (n) log.debug({ removed: n }, 'removed expired events');
                })
                .catch(err => log.warn({ err }, 'removing expired events failed; tried again later'));
            timer = setInterval(sweep, periodMs).unref();
            sweep();
          },
          stop() {
            clearInterval(timer);
          },
        },
      ],
    };
  },
};
