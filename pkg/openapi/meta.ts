// meta.k8s.io/v1 shapes the OpenAPI operations refer to (request bodies and responses) that no
// kind embeds, under the names Kubernetes publishes them with. ObjectMeta, ListMeta, Status and
// friends come from api/meta/v1/types.ts; only what is missing there is declared here.
import { Type } from '@sinclair/typebox';

export const metaNames = {
  time: 'io.k8s.apimachinery.pkg.apis.meta.v1.Time',
  listMeta: 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta',
  status: 'io.k8s.apimachinery.pkg.apis.meta.v1.Status',
  deleteOptions: 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions',
  patch: 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch',
} as const;

/** What an inline `{type: string, format: date-time}` is published as, the way Kubernetes types spell timestamps. */
export { Time as TimeDefinition } from '../../api/meta/v1/schema.ts';

export const Preconditions = Type.Object(
  {
    resourceVersion: Type.Optional(Type.String({ description: 'Specifies the target ResourceVersion' })),
    uid: Type.Optional(Type.String({ description: 'Specifies the target UID.' })),
  },
  {
    $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions',
    description: 'Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.',
  },
);

export const DeleteOptions = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'APIVersion defines the versioned schema of this representation of an object.' })),
    kind: Type.Optional(Type.String({ description: 'Kind is a string value representing the REST resource this object represents.' })),
    dryRun: Type.Optional(
      Type.Array(Type.String(), {
        description: 'When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed',
        'x-kubernetes-list-type': 'atomic',
      }),
    ),
    gracePeriodSeconds: Type.Optional(
      Type.Integer({ format: 'int64', description: 'The duration in seconds before the object should be deleted. Zero means delete immediately.' }),
    ),
    orphanDependents: Type.Optional(
      Type.Boolean({
        description: 'Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned.',
      }),
    ),
    preconditions: Type.Optional(
      Type.Unsafe<{ resourceVersion?: string; uid?: string }>({
        allOf: [Preconditions],
        description: 'Must be fulfilled before a deletion is carried out. If not possible, a 409 Conflict status will be returned.',
      }),
    ),
    propagationPolicy: Type.Optional(
      Type.String({ description: "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'." }),
    ),
  },
  {
    $id: metaNames.deleteOptions,
    description: 'DeleteOptions may be provided when deleting an API object.',
  },
);

// Any JSON: its shape depends on the patch type (JSON patch, merge, strategic merge, apply).
export const Patch = Type.Unsafe<unknown>({
  $id: metaNames.patch,
  type: 'object',
  description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
});
