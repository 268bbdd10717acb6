// Schema building blocks every group shares: apimachinery's value types (Quantity,
// IntOrString, Time), the type meta and list shape of every kind, and helpers for fields
// that refer to named types. Each `$id` has exactly one schema behind it, here.
import { Type, type Static, type TSchema, type SchemaOptions } from '@sinclair/typebox';
import { ListMeta, ObjectMeta } from './types.ts';

/**
 * A field whose type is a named (`$id`) schema, with a description or default of its own (the
 * field's Go doc comment must not overwrite the shared type's). Emitted as `allOf: [$ref]`, the
 * form Kubernetes' OpenAPI v3 uses for documented references.
 */
export function Field<T extends TSchema>(schema: T, options: SchemaOptions) {
  return Type.Unsafe<Static<T>>({ ...options, allOf: [schema] });
}

/** A string restricted to `values`, typed as their union. */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });
}

/**
 * resource.Quantity. On the wire it is a string ("100m", "2Gi"); Go's decoder also takes a bare
 * JSON number, so both are accepted. The pattern is Kubernetes' canonical quantity grammar.
 */
export const Quantity = Type.Unsafe<string | number>({
  $id: 'io.k8s.apimachinery.pkg.api.resource.Quantity',
  description:
    'Quantity is a fixed-point representation of a number, serialized as a string such as "100m", "2", "1.5Gi" or "1e3": a signed decimal number followed by an optional binary-SI (Ki, Mi, Gi, Ti, Pi, Ei), decimal-SI (n, u, m, k, M, G, T, P, E) or decimal-exponent (e3, E-2) suffix.',
  anyOf: [
    { type: 'string', pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$' },
    { type: 'number' },
  ],
});
export type Quantity = Static<typeof Quantity>;

/** intstr.IntOrString: an int32 or a string such as "25%". */
export const IntOrString = Type.Unsafe<number | string>({
  $id: 'io.k8s.apimachinery.pkg.util.intstr.IntOrString',
  description:
    'IntOrString is a type that can hold an int32 or a string. When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.',
  anyOf: [{ type: 'integer', format: 'int32' }, { type: 'string' }],
  'x-kubernetes-int-or-string': true,
});
export type IntOrString = Static<typeof IntOrString>;

/**
 * metav1.Time: RFC 3339 in UTC on the wire. Go serializes a zero Time as `null`; the validator
 * drops null-valued fields before checking (as the Go decoder treats null as the zero value).
 */
export const Time = Type.String({
  $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.Time',
  format: 'date-time',
  description:
    'Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. Wrappers are provided for many of the factory methods that the time package offers.',
});
export type Time = Static<typeof Time>;

/** apiVersion and kind as every top-level kind declares them. */
export const TypeMeta = {
  apiVersion: Type.Optional(
    Type.String({
      description:
        'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
    }),
  ),
  kind: Type.Optional(
    Type.String({
      description:
        'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
    }),
  ),
};

/** A top-level kind: type meta, standard metadata, and the kind's own properties. */
export function objectSchema(spec: { id: string; description: string; properties: Record<string, TSchema> }): TSchema {
  return Type.Object({ ...TypeMeta, metadata: Type.Optional(ObjectMeta), ...spec.properties }, { $id: spec.id, description: spec.description });
}

/** The XxxList kind of `item`, shaped as Kubernetes lists are. */
export function ListOf<T extends TSchema>(item: T, options: { $id: string; description: string; itemsDescription: string }) {
  return Type.Object(
    {
      ...TypeMeta,
      metadata: Type.Optional(
        Field(ListMeta, {
          description: 'Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
        }),
      ),
      items: Type.Array(item, { description: options.itemsDescription }),
    },
    { $id: options.$id, description: options.description },
  );
}

/** `spec.finalizers` of the TKE kinds: TKE's own lifecycle list, distinct from metadata.finalizers. */
export function SpecFinalizers() {
  return Type.Array(Type.String(), {
    description: 'Finalizers is an opaque list of values that must be empty to permanently remove object from storage.',
  });
}

/** ResourceList (core/v1) is a set of (resource name, quantity) pairs. A Go map alias, so it is inlined where used. */
export function ResourceList(options: SchemaOptions = {}) {
  return Type.Record(Type.String(), Quantity, options);
}
export type ResourceList = Record<string, Quantity>;
