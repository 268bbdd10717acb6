// core/v1 Event and events.k8s.io/v1 Event, as Kubernetes defines them (k8s.io/api), plus the
// tenantID this server keeps on each Event so that a tenant's users see its Events only.
import { Type } from '@sinclair/typebox';
import { Field, ListOf, StringEnum, Time, TypeMeta } from '../../../api/meta/v1/schema.ts';
import { ObjectMeta } from '../../../api/meta/v1/types.ts';

const str = (description: string) => Type.Optional(Type.String({ description }));
const count = (description: string) => Type.Optional(Type.Integer({ format: 'int32', description }));
const time = (description: string) => Type.Optional(Field(Time, { description }));
const eventType = Type.Optional(
  StringEnum(['Normal', 'Warning'], { description: 'Type of this event (Normal, Warning), new types could be added in the future.' }),
);
const tenantID = str("The tenant of the object the event is about (set by the server): only that tenant's users see the event.");

export const ObjectReference = Type.Object(
  {
    apiVersion: str('API version of the referent.'),
    kind: str('Kind of the referent.'),
    name: str('Name of the referent.'),
    namespace: str('Namespace of the referent.'),
    uid: str('UID of the referent.'),
    resourceVersion: str('Specific resourceVersion to which this reference is made, if any.'),
    fieldPath: str('If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.'),
  },
  { $id: 'io.k8s.api.core.v1.ObjectReference', description: 'ObjectReference contains enough information to let you inspect or modify the referred object.' },
);

const EventSource = Type.Object(
  {
    component: str('Component from which the event is generated.'),
    host: str('Node name on which the event is generated.'),
  },
  { $id: 'io.k8s.api.core.v1.EventSource', description: 'EventSource contains information for an event.' },
);

const CoreEventSeries = Type.Object(
  {
    count: count('Number of occurrences in this series up to the last heartbeat time.'),
    lastObservedTime: Type.Optional(Type.String({ format: 'date-time', description: 'Time of the last occurrence observed.' })),
  },
  {
    $id: 'io.k8s.api.core.v1.EventSeries',
    description: 'EventSeries contain information on series of events, i.e. thing that was/is happening continuously for some time.',
  },
);

export const CoreEvent = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    involvedObject: Field(ObjectReference, { description: 'The object that this event is about.' }),
    reason: str("This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    message: str('A human-readable description of the status of this operation.'),
    source: Type.Optional(Field(EventSource, { description: 'The component reporting this event. Should be a short machine understandable string.' })),
    firstTimestamp: time('The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)'),
    lastTimestamp: time('The time at which the most recent occurrence of this event was recorded.'),
    count: count('The number of times this event has occurred.'),
    type: eventType,
    eventTime: Type.Optional(Type.String({ format: 'date-time', description: 'Time when this Event was first observed.' })),
    series: Type.Optional(Field(CoreEventSeries, { description: "Data about the Event series this event represents or nil if it's a singleton Event." })),
    action: str('What action was taken/failed regarding to the Regarding object.'),
    related: Type.Optional(Field(ObjectReference, { description: 'Optional secondary object for more complex actions.' })),
    reportingComponent: str('Name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`.'),
    reportingInstance: str('ID of the controller instance, e.g. `kubelet-xyzf`.'),
    tenantID,
  },
  { $id: 'io.k8s.api.core.v1.Event', description: 'Event is a report of an event somewhere in the cluster.' },
);

export const CoreEventList = ListOf(CoreEvent, {
  $id: 'io.k8s.api.core.v1.EventList',
  description: 'EventList is a list of events.',
  itemsDescription: 'List of events',
});

export const Event = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    eventTime: Type.Optional(Type.String({ format: 'date-time', description: 'eventTime is the time when this Event was first observed.' })),
    series: Type.Optional(
      Type.Object(
        {
          count: Type.Integer({ format: 'int32', description: 'count is the number of occurrences in this series up to the last heartbeat time.' }),
          lastObservedTime: Type.String({
            format: 'date-time',
            description: 'lastObservedTime is the time when last Event from the series was seen before last heartbeat.',
          }),
        },
        { $id: 'io.k8s.api.events.v1.EventSeries', description: 'EventSeries contain information on series of events.' },
      ),
    ),
    reportingController: str('reportingController is the name of the controller that emitted this Event.'),
    reportingInstance: str('reportingInstance is the ID of the controller instance.'),
    action: str('action is what action was taken/failed regarding to the regarding object.'),
    reason: str('reason is why the action was taken.'),
    regarding: Type.Optional(Field(ObjectReference, { description: 'regarding contains the object this Event is about.' })),
    related: Type.Optional(Field(ObjectReference, { description: 'related is the optional secondary object for more complex actions.' })),
    note: str('note is a human-readable description of the status of this operation.'),
    type: eventType,
    deprecatedSource: Type.Optional(
      Field(EventSource, { description: 'deprecatedSource is the deprecated field assuring backward compatibility with core.v1 Event type.' }),
    ),
    deprecatedFirstTimestamp: time('deprecatedFirstTimestamp is the deprecated field assuring backward compatibility with core.v1 Event type.'),
    deprecatedLastTimestamp: time('deprecatedLastTimestamp is the deprecated field assuring backward compatibility with core.v1 Event type.'),
    deprecatedCount: count('deprecatedCount is the deprecated field assuring backward compatibility with core.v1 Event type.'),
    tenantID,
  },
  { $id: 'io.k8s.api.events.v1.Event', description: 'Event is a report of an event somewhere in the cluster.' },
);

export const EventList = ListOf(Event, {
  $id: 'io.k8s.api.events.v1.EventList',
  description: 'EventList is a list of Event objects.',
  itemsDescription: 'items is a list of schema objects.',
});
