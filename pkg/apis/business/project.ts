// projects.business.tkestack.io: a team's share of clusters, possibly carved out of a parent
// project's share. The hierarchy and quota rules run in beforeWrite, inside the transaction.
import { BusinessFinalizer } from '../../../api/business/v1/types.ts';
import { Project, ProjectList } from '../../../api/business/v1/project.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { WriteContext } from '../../rest/resource.ts';
import { defaultTenant, tenantOf } from '../tke/tenant.ts';
import { canonicalizeResourceList } from './quantity.ts';
import { describeQuotaUse, summarizeQuotaUse, usedByCluster, type Allocation } from './quota.ts';
import { requireUnchanged, withPhase } from '../tke/kinds.ts';
import { timestamp } from '../../rest/metadata.ts';
import { asProject, isDeleting, keys, projectContentResources, readProject, type StoredProject } from './stored.ts';
import { allocationId, checkAllocationFits, checkLimitsCoverAllocations, lockAll, quotaLockName, type ProjectAllocations, type Subject } from './quota.ts';
import { validateResourceList } from './resourcenames.ts';
import { isDeepStrictEqual } from 'node:util';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';
import { readCluster } from '../platform/stored.ts';

const gr = { group: 'business.tkestack.io', resource: 'projects' };
const subjectOf = (obj: KubeObject): Subject => ({ gr, group: gr.group, kind: 'Project', name: obj.metadata.name ?? '' });

function validateProject(obj: StoredProject): FieldError[] {
  const problems: FieldError[] = [];
  if (!obj.spec?.displayName) problems.push(field.required('spec.displayName', 'Required value: must specify display name'));
  // This runs before the schema is checked: an entry of spec.clusters may still be null.
  for (const [cluster, c] of Object.entries(obj.spec?.clusters ?? {})) {
    problems.push(...validateResourceList(c?.hard, `spec.clusters[${cluster}].hard`));
  }
  const parent = obj.spec?.parentProjectName;
  if (parent && parent === obj.metadata.name) {
    problems.push(field.invalid('spec.parentProjectName', parent, 'a project cannot be its own parent'));
  }
  return problems;
}

/** The cross-object rules of a project write; `old` is undefined on create. */
async function admitProject(obj: StoredProject, old: StoredProject | undefined, ctx: WriteContext, allocations: ProjectAllocations): Promise<void> {
  if (ctx.subresource !== '') return;
  const parent = obj.spec?.parentProjectName ?? '';
  const oldParent = old?.spec?.parentProjectName ?? '';
  const clustersChanged = !old || !isDeepStrictEqual(obj.spec?.clusters ?? {}, old.spec?.clusters ?? {});
  if (old && !clustersChanged && parent === oldParent) return;
  const self = obj.metadata.name!;
  // A project being created holds no grants yet, and none can be made from it before it commits
  // (a child or a namespace must read it): only an existing one needs its own quota locked.
  await lockAll(ctx.tx, (old ? [self, parent, oldParent] : [parent]).filter(Boolean).map(quotaLockName));
  const subject = subjectOf(obj);

  const clusters = obj.spec?.clusters ?? {};
  const oldClusters = old?.spec?.clusters ?? {};
  const missing: FieldError[] = [];
  for (const cluster of Object.keys(clusters)) {
    if (Object.hasOwn(oldClusters, cluster)) continue;
    const c = await readCluster(ctx.tx, cluster);
    if (!c || tenantOf(c) !== tenantOf(obj))
      missing.push({ field: `spec.clusters[${cluster}]`, reason: 'FieldValueNotFound', message: `Not found: "${cluster}"` });
  }
  if (missing.length) throw errors.invalid(gr.group, 'Project', self, missing);

  if (parent) {
    const parentObj = await readParent(obj, parent, ctx);
    await rejectCycle(obj, parent, ctx);
    const handedOut = await allocations.read(ctx.tx, parent);
    for (const [cluster, c] of Object.entries(clusters)) {
      checkAllocationFits(
        parentObj,
        handedOut,
        { holder: `project "${self}"`, id: allocationId.project(self), cluster, hard: c.hard ?? {} },
        subject,
        `spec.clusters[${cluster}].hard`,
      );
    }
  }
  if (old) checkLimitsCoverAllocations(obj, await allocations.read(ctx.tx, self), subject);
}

async function readParent(obj: StoredProject, parent: string, ctx: WriteContext): Promise<StoredProject> {
  const parentObj = await readProject(ctx.tx, parent);
  if (!parentObj || tenantOf(parentObj) !== tenantOf(obj)) {
    throw errors.invalid(gr.group, 'Project', obj.metadata.name!, [
      { field: 'spec.parentProjectName', reason: 'FieldValueNotFound', message: `Not found: "${parent}"` },
    ]);
  }
  if (isDeleting(parentObj)) {
    throw errors.forbidden(gr, obj.metadata.name!, `parent project "${parent}" is being terminated`);
  }
  return parentObj;
}

/** Walks up from the new parent; meeting the project itself means the write would close a loop. */
async function rejectCycle(obj: StoredProject, parent: string, ctx: WriteContext): Promise<void> {
  const self = obj.metadata.name!;
  const chain = [self];
  const seen = new Set<string>([self]);
  for (let name = parent; name; ) {
    chain.push(name);
    if (seen.has(name)) {
      throw errors.invalid(gr.group, 'Project', self, [
        field.invalid('spec.parentProjectName', parent, `ancestor projects formed a circle: ${chain.join(' -> ')}`),
      ]);
    }
    seen.add(name);
    const ancestor = await readProject(ctx.tx, name);
    name = ancestor?.spec?.parentProjectName ?? '';
  }
}

/**
 * The last step of a project's deletion: refused while anything still draws on its quota, so a
 * namespace or child created while the controller was finalizing cannot be left behind.
 */
async function beforeProjectRemoved(obj: StoredProject, ctx: WriteContext): Promise<void> {
  const self = obj.metadata.name!;
  await lockAll(ctx.tx, [quotaLockName(self)]);
  const children = await ctx.tx.list(keys.allProjects(), {
    fields: { 'spec.parentProjectName': self },
    filter: o => asProject(o).spec?.parentProjectName === self,
  });
  const left = children.map(c => `project "${c.metadata.name}"`);
  for (const resource of projectContentResources) {
    for (const o of await ctx.tx.list(keys.inProject(resource, self))) left.push(`${resource} "${self}/${o.metadata.name}"`);
  }
  if (left.length) {
    throw errors.conflict(gr, self, `the project still has ${left.slice(0, 5).join(', ')}${left.length > 5 ? ', ...' : ''}; they are deleted first`);
  }
}

/**
 * The status of a project that is not being deleted, given what draws on its quota: set when it is
 * created (nothing yet, so no second write is needed to make it Active) and kept by the project
 * controller as children and namespaces come and go.
 */
export function activeProjectStatus(
  project: StoredProject,
  allocations: Allocation[],
  children: string[],
  namespaces: string[],
  now: string,
): Record<string, unknown> {
  const status = withPhase(project.status, 'Active', now, {
    clusters: usedByCluster(project, allocations),
    calculatedChildProjects: [...children].sort(),
    calculatedNamespaces: [...namespaces].sort(),
    cachedSpecClusters: structuredClone(project.spec?.clusters ?? {}),
    cachedParent: project.spec?.parentProjectName ?? '',
  });
  for (const k of ['clusters', 'calculatedChildProjects', 'calculatedNamespaces', 'cachedSpecClusters'] as const) {
    const v = status[k];
    if (Array.isArray(v) ? v.length === 0 : Object.keys(v as object).length === 0) delete status[k];
  }
  return status;
}

export const projects = (allocations: ProjectAllocations): OpenAPIResource<typeof Project> => ({
  group: 'business.tkestack.io',
  version: 'v1',
  kind: 'Project',
  listKind: 'ProjectList',
  resource: 'projects',
  singular: 'project',
  namespaced: false,
  shortNames: ['prj'],
  categories: ['tke', 'all'],
  schema: Project,
  listSchema: ProjectList,
  subresources: { status: true, finalize: specFinalizers },
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'prj-';
      delete obj.status;
      // The project controller removes it once the project's namespaces and children are gone.
      obj.spec = { ...(obj.spec ?? {}), finalizers: [BusinessFinalizer.Project] };
    },
    defaults(obj) {
      defaultTenant(obj);
      // This runs before the schema is checked: an entry of spec.clusters may still be null.
      for (const c of Object.values(obj.spec?.clusters ?? {})) canonicalizeResourceList(c?.hard);
    },
    validate: validateProject,
    validateUpdate: (obj, old) => requireUnchanged(obj, old, ['tenantID']),
    allowUnconditionalUpdate: false,
    async beforeWrite(obj, old, ctx) {
      await admitProject(obj, old, ctx, allocations);
      if (!old) obj.status = activeProjectStatus(obj, [], [], [], timestamp());
    },
    beforeDelete: beforeProjectRemoved,
    columns: [
      { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
      { name: 'Clusters', type: 'string', format: '', description: 'Clusters the project may use.', priority: 0 },
      {
        name: 'Quota',
        type: 'string',
        format: '',
        description:
          "Per cluster and resource: used / hard limit, where used is what child projects were granted plus what the member cluster measured in the namespaces (their grant until measured); the first cluster's when there are many, -o yaml has all.",
        priority: 0,
      },
      { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase of the project.', priority: 0 },
      { name: 'Parent', type: 'string', format: '', description: 'The superior project.', priority: 1 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the project belongs to.', priority: 1 },
      { name: 'Members', type: 'string', format: '', description: 'Users who are members of the project.', priority: 1 },
    ],
    row: obj => [
      obj.spec?.displayName ?? '',
      Object.keys(obj.spec?.clusters ?? {}).join(','),
      summarizeQuotaUse(describeQuotaUse(obj)),
      obj.status?.phase ?? '',
      obj.spec?.parentProjectName ?? '',
      obj.spec?.tenantID ?? '',
      (obj.spec?.members ?? []).join(','),
    ],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'status.phase'),
      'spec.parentProjectName': o => o.spec?.parentProjectName ?? '',
    },
  },
});
