// nsemigrations.business.tkestack.io: moves a business namespace from the project it is created
// in (metadata.namespace) to spec.destination. TKE runs this as a multi-step controller (lock,
// detach, create, delete); here the whole move happens in the create's transaction, under the
// quota locks of both projects, so the namespace is in exactly one project at every moment and
// the destination's quota is checked against its latest allocations. The record stays Finished.
// The moved namespace carries the source project in its emigrated-from annotation: the namespace
// controller then relabels the member's Kubernetes namespace (labelled with the source project)
// for the destination and moves its quota and certificate binding with it.
import { randomUUID } from 'node:crypto';
import { NsEmigration, NsEmigrationList, NsEmigrationPhase } from '../../../api/business/v1/nsemigration.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { ObjectOf, WriteContext } from '../../rest/resource.ts';
import { defaultTenant, tenantOf } from '../tke/tenant.ts';
import { timestamp } from '../../rest/metadata.ts';
import { requireUnchanged } from '../tke/kinds.ts';
import { admitNamespaceInProject, claimLockName, emigratedFromAnnotation } from './namespace.ts';
import { isDeleting, keys, readNamespace, type StoredNamespace } from './stored.ts';
import { lockAll, quotaLockName, type ProjectAllocations } from './quota.ts';
import { fieldsAt } from '../../rest/selectors.ts';

const gr = { group: 'business.tkestack.io', resource: 'nsemigrations' };

type StoredNsEmigration = ObjectOf<typeof NsEmigration>;

function validateEmigration(obj: StoredNsEmigration): FieldError[] {
  const problems: FieldError[] = [];
  if (!obj.spec?.namespace) problems.push(field.required('spec.namespace', 'Required value: must specify the namespace to move'));
  if (!obj.spec?.destination) problems.push(field.required('spec.destination', 'Required value: must specify the destination project'));
  else if (obj.spec.destination === obj.metadata.namespace)
    problems.push(field.invalid('spec.destination', obj.spec.destination, 'must differ from the project the namespace is in'));
  return problems;
}

async function emigrate(obj: StoredNsEmigration, old: StoredNsEmigration | undefined, ctx: WriteContext, allocations: ProjectAllocations): Promise<void> {
  if (old) return;
  const source = obj.metadata.namespace!;
  // Both are required (validateEmigration).
  const destination = obj.spec!.destination!;
  const name = obj.spec!.namespace!;
  const moving = await readNamespace(ctx.tx, source, name);
  const fail = (problem: FieldError) => errors.invalid(gr.group, 'NsEmigration', obj.metadata.name!, [problem]);
  if (!moving || tenantOf(moving) !== tenantOf(obj))
    throw fail({ field: 'spec.namespace', reason: 'FieldValueNotFound', message: `Not found: "${source}/${name}"` });
  if (isDeleting(moving)) throw errors.conflict(gr, obj.metadata.name!, `namespace "${source}/${name}" is being deleted`);
  // All locks in one sorted pass before the first write (see lockAll); the admission below takes them again, re-entrantly.
  await lockAll(ctx.tx, [quotaLockName(source), quotaLockName(destination), claimLockName(moving.spec?.clusterName ?? '', moving.spec?.namespace ?? '')]);

  const now = timestamp();
  const moved: StoredNamespace = {
    ...structuredClone(moving),
    metadata: {
      name,
      namespace: destination,
      uid: randomUUID(),
      creationTimestamp: now,
      generation: 1,
      ...(moving.metadata.labels ? { labels: moving.metadata.labels } : {}),
      annotations: { ...(moving.metadata.annotations ?? {}), [emigratedFromAnnotation]: source },
    },
  };
  await ctx.tx.delete(keys.namespace(source, name), moving.metadata.resourceVersion);
  await admitNamespaceInProject(moved, undefined, ctx.tx, allocations);
  await ctx.tx.create(keys.namespace(destination, name), moved);
  obj.spec!.nsShowName = moving.spec?.namespace ?? '';
  obj.status = {
    phase: NsEmigrationPhase.Finished,
    lastTransitionTime: now,
    message: `namespace ${name} moved from project ${source} to project ${destination}`,
  };
}

export const nsEmigrations = (allocations: ProjectAllocations): OpenAPIResource<typeof NsEmigration> => ({
  group: 'business.tkestack.io',
  version: 'v1',
  kind: 'NsEmigration',
  listKind: 'NsEmigrationList',
  resource: 'nsemigrations',
  singular: 'nsemigration',
  namespaced: true,
  shortNames: [],
  categories: [],
  schema: NsEmigration,
  listSchema: NsEmigrationList,
  subresources: {},
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'nsem-';
      delete obj.status;
    },
    prepareForUpdate(obj, old) {
      // A finished move is history: only its metadata may change.
      obj.spec = structuredClone(old.spec);
      if (old.status === undefined) delete obj.status;
      else obj.status = structuredClone(old.status);
    },
    defaults: defaultTenant,
    validate: validateEmigration,
    validateUpdate: (obj, old) => requireUnchanged(obj, old, ['tenantID']),
    beforeWrite: (obj, old, ctx) => emigrate(obj, old, ctx, allocations),
    columns: [
      { name: 'Namespace', type: 'string', format: '', description: 'The business namespace moved.', priority: 0 },
      { name: 'Destination', type: 'string', format: '', description: 'The project it moved to.', priority: 0 },
      { name: 'Phase', type: 'string', format: '', description: 'The phase of the move.', priority: 0 },
    ],
    row: obj => [obj.spec?.namespace ?? '', obj.spec?.destination ?? '', obj.status?.phase ?? ''],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'spec.destination', 'status.phase'),
    },
  },
});
