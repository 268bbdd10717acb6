// Hierarchical quota: a project hands out its per-cluster hard limits to its child projects
// (their spec.clusters) and to its namespaces (their spec.hard). For every cluster and every
// resource a project limits, what it has handed out never exceeds its limit.
//
// The check runs inside the write transaction, under an advisory lock per project whose
// allocations it reads ('quota:project:<name>'), so concurrent writers in one process or in
// several replicas are serialized on exactly the projects they touch. Transactions run at READ
// COMMITTED, so reads made after the lock see every allocation committed before it.
import type { ResourceList } from '../../../api/meta/v1/schema.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors, field, StatusError, type FieldError, type GroupResource } from '../../rest/errors.ts';
import type { FieldEquals, KeyPrefix, Transaction } from '../../storage/interface.ts';
import { asNamespace, asProject, keys, type StoredNamespace, type StoredProject } from './stored.ts';
import { Quantity } from './quantity.ts';
import { LRUCache } from 'lru-cache';

export const quotaLockName = (project: string) => `quota:project:${project}`;

/**
 * Takes every advisory lock a write needs in one sorted pass: two writers wanting overlapping
 * sets then always queue in the same order and can never wait on each other in a cycle.
 */
export async function lockAll(tx: Transaction, names: Iterable<string>): Promise<void> {
  for (const name of [...new Set(names)].filter(Boolean).sort()) await tx.lock(name);
}

/** One grant out of a project's quota: a child project's share of a cluster, or a namespace. */
export interface Allocation {
  /** e.g. `project "dev"` or `namespace "dev/web"`, for messages. */
  holder: string;
  /** Identifies the holder so a write can leave its own previous allocation out. */
  id: string;
  cluster: string;
  hard: ResourceList;
}

export const allocationId = {
  project: (name: string) => `project/${name}`,
  namespace: (project: string, name: string) => `namespace/${project}/${name}`,
};

/** The allocations out of `project`, from its child projects and its namespaces. */
export function allocationsFrom(project: string, children: StoredProject[], namespaces: StoredNamespace[]): Allocation[] {
  const out: Allocation[] = [];
  for (const child of children) {
    if (child.spec?.parentProjectName !== project) continue;
    for (const [cluster, c] of Object.entries(child.spec?.clusters ?? {})) {
      out.push({ holder: `project "${child.metadata.name}"`, id: allocationId.project(child.metadata.name!), cluster, hard: c.hard ?? {} });
    }
  }
  for (const ns of namespaces) {
    if (ns.metadata.namespace !== project) continue;
    out.push({
      holder: `namespace "${project}/${ns.metadata.name}"`,
      id: allocationId.namespace(project, ns.metadata.name!),
      cluster: ns.spec?.clusterName ?? '',
      hard: ns.spec?.hard ?? {},
    });
  }
  return out;
}

/**
 * What the projects have handed out, read through a transaction, with copies kept between
 * transactions (see AllocationCache): one per group, so each server has its own.
 */
export class ProjectAllocations {
  private readonly cache = new AllocationCache(10_000);

  /** Everything `project` has handed out. Call with its lock held. */
  async read(tx: Transaction, project: string): Promise<Allocation[]> {
    const children = await this.cache.read(
      tx,
      `children/${project}`,
      keys.allProjects(),
      { fields: { 'spec.parentProjectName': project }, pick: childFields },
      child => allocationsFrom(project, [asProject(child)], []),
    );
    const namespaces = await this.cache.read(tx, `namespaces/${project}`, keys.namespaces(project), { pick: namespaceFields }, ns =>
      allocationsFrom(project, [], [asNamespace(ns)]),
    );
    return [...children, ...namespaces];
  }
}

// Only the fields allocationsFrom() reads: a project may hold thousands of namespaces.
const childFields = ['metadata.name', 'metadata.resourceVersion', 'spec.parentProjectName', 'spec.clusters'];
const namespaceFields = ['metadata.name', 'metadata.namespace', 'metadata.resourceVersion', 'spec.clusterName', 'spec.hard'];

interface CachedSet {
  revision: bigint;
  byName: Map<string, Allocation[]>;
}

/**
 * The allocations of the object sets quota checks add up (a project's namespaces, its child
 * projects), kept between transactions. A check reads only what was written in the set since
 * the copy's revision, with the set's size in the same snapshot; when the merged copy does not
 * have that size, something left the set and the whole set is read again. Nothing written by the
 * reading transaction itself may enter the copy (it could still roll back), so a transaction
 * that has written reads the set whole and leaves the copy alone.
 */
class AllocationCache {
  private readonly sets = new Map<string, CachedSet>();

  constructor(private readonly maxSets: number) {}

  async read(
    tx: Transaction,
    id: string,
    prefix: KeyPrefix,
    opts: { fields?: FieldEquals; pick: string[] },
    allocationsOf: (obj: KubeObject) => Allocation[],
  ): Promise<Allocation[]> {
    const cached = this.sets.get(id);
    if (cached && !tx.hasWritten) {
      const { count, changed } = await tx.listChanged(prefix, cached.revision, opts);
      for (const obj of changed) {
        cached.byName.set(obj.metadata.name!, allocationsOf(obj));
        cached.revision = maxRevision(cached.revision, obj);
      }
      if (cached.byName.size === count) {
        this.sets.delete(id);
        this.sets.set(id, cached);
        return [...cached.byName.values()].flat();
      }
    }
    const all = await tx.list(prefix, opts);
    const fresh: CachedSet = { revision: 0n, byName: new Map() };
    for (const obj of all) {
      fresh.byName.set(obj.metadata.name!, allocationsOf(obj));
      fresh.revision = maxRevision(fresh.revision, obj);
    }
    this.sets.delete(id);
    if (!tx.hasWritten) {
      this.sets.set(id, fresh);
      if (this.sets.size > this.maxSets) this.sets.delete(this.sets.keys().next().value!);
    }
    return [...fresh.byName.values()].flat();
  }
}

function maxRevision(revision: bigint, obj: KubeObject): bigint {
  const rv = BigInt(obj.metadata.resourceVersion ?? '0');
  return rv > revision ? rv : revision;
}

/**
 * Quantity.parse for sums over many allocations, which repeat a few values ("100m", "1Gi"):
 * quantities are immutable, so parsed ones are kept (a bounded number of them).
 */
const parsed = new LRUCache<string | number, Quantity>({ max: 10_000 });
function parseRemembered(value: string | number): Quantity {
  let q = parsed.get(value);
  if (!q) {
    q = Quantity.parse(value);
    parsed.set(value, q);
  }
  return q;
}

/** cluster -> resource -> exact sum. */
export type ClusterTotals = Map<string, Map<string, Quantity>>;

export function totalsOf(allocations: Allocation[]): ClusterTotals {
  const totals: ClusterTotals = new Map();
  for (const a of allocations) {
    const perResource = totals.get(a.cluster) ?? new Map<string, Quantity>();
    for (const [resource, value] of Object.entries(a.hard)) {
      const q = parseRemembered(value);
      perResource.set(resource, (perResource.get(resource) ?? Quantity.zero(q.format)).add(q));
    }
    totals.set(a.cluster, perResource);
  }
  return totals;
}

interface Excess {
  resource: string;
  requested: Quantity;
  used: Quantity;
  limit: Quantity;
}

function describeExcess(list: Excess[]): string {
  const join = (pick: (e: Excess) => Quantity) => list.map(e => `${e.resource}=${pick(e)}`).join(',');
  return `requested: ${join(e => e.requested)}, used: ${join(e => e.used)}, limited: ${join(e => e.limit)}`;
}

/** What is being written, for error messages: the kind's group/resource, the name and the field. */
export interface Subject {
  gr: GroupResource;
  group: string;
  kind: string;
  name: string;
}

function invalid(subject: Subject, problems: FieldError[]): StatusError {
  return errors.invalid(subject.group, subject.kind, subject.name, problems);
}

/** The hard limits `project` sets in `cluster` (empty when it sets none); undefined when the cluster is not one of its. */
export function limitsIn(project: StoredProject, cluster: string): ResourceList | undefined {
  const clusters = project.spec?.clusters ?? {};
  return Object.hasOwn(clusters, cluster) ? (clusters[cluster].hard ?? {}) : undefined;
}

/**
 * Checks that `request` (one new or changed allocation out of `owner`) fits next to the others.
 * A cluster the owner does not have, or a resource the owner limits that the request leaves
 * unset (which would make it unlimited), is 422; going over a limit is 403 like Kubernetes'
 * ResourceQuota admission, naming the cluster, resource, requested, used and limit.
 */
export function checkAllocationFits(owner: StoredProject, others: Allocation[], request: Allocation, subject: Subject, fieldPath: string): void {
  const ownerName = owner.metadata.name!;
  const limits = limitsIn(owner, request.cluster);
  if (!limits) {
    throw invalid(subject, [
      field.invalid(
        fieldPath,
        request.cluster,
        `project "${ownerName}" has no quota in cluster "${request.cluster}" (it may only use the clusters of project "${ownerName}")`,
      ),
    ]);
  }
  const unset = Object.keys(limits).filter(r => !(r in request.hard));
  if (unset.length) {
    throw invalid(
      subject,
      unset.map(r =>
        field.required(`${fieldPath}[${r}]`, `Required value: must set quota '${r}', for project "${ownerName}" limits it in cluster "${request.cluster}"`),
      ),
    );
  }
  const used = totalsOf(others.filter(a => a.id !== request.id && a.cluster === request.cluster)).get(request.cluster) ?? new Map<string, Quantity>();
  const excess: Excess[] = [];
  for (const [resource, rawLimit] of Object.entries(limits)) {
    const limit = Quantity.parse(rawLimit);
    const requested = Quantity.parse(request.hard[resource]);
    const already = used.get(resource) ?? Quantity.zero(requested.format);
    if (already.add(requested).cmp(limit) > 0) excess.push({ resource, requested, used: already, limit });
  }
  if (excess.length) {
    throw errors.forbidden(subject.gr, subject.name, `exceeded quota of project "${ownerName}" in cluster "${request.cluster}", ${describeExcess(excess)}`);
  }
}

/**
 * Checks a project's own (possibly lowered or reshaped) limits against what it has already handed
 * out: no cluster in use may go, every limited resource must be set by every holder in that
 * cluster, and no limit may fall below the sum already allocated.
 */
export function checkLimitsCoverAllocations(project: StoredProject, allocations: Allocation[], subject: Subject): void {
  const problems: FieldError[] = [];
  for (const a of allocations) {
    const limits = limitsIn(project, a.cluster);
    if (!limits) {
      problems.push(field.invalid(`spec.clusters[${a.cluster}]`, a.cluster, `can NOT remove cluster "${a.cluster}", for it is used by ${a.holder}`));
      continue;
    }
    for (const r of Object.keys(limits)) {
      if (!(r in a.hard))
        problems.push(field.invalid(`spec.clusters[${a.cluster}].hard[${r}]`, r, `please at first set quota '${r}' of cluster "${a.cluster}" for ${a.holder}`));
    }
  }
  if (problems.length) throw invalid(subject, problems);
  const totals = totalsOf(allocations);
  for (const [cluster, c] of Object.entries(project.spec?.clusters ?? {})) {
    const used = totals.get(cluster);
    if (!used) continue;
    const excess: Excess[] = [];
    for (const [resource, rawLimit] of Object.entries(c.hard ?? {})) {
      const limit = Quantity.parse(rawLimit);
      const allocated = used.get(resource) ?? Quantity.zero(limit.format);
      if (allocated.cmp(limit) > 0) excess.push({ resource, requested: limit, used: allocated, limit });
    }
    if (excess.length) {
      throw errors.forbidden(
        subject.gr,
        subject.name,
        `the quota of cluster "${cluster}" may not be lower than what is already allocated, ${describeExcess(excess)}`,
      );
    }
  }
}

/** status.clusters[c].used of a project: every resource it limits or hands out, summed exactly. */
export function usedByCluster(project: StoredProject, allocations: Allocation[]): Record<string, { used: Record<string, string> }> {
  const totals = totalsOf(allocations);
  const out: Record<string, { used: Record<string, string> }> = {};
  for (const [cluster, c] of Object.entries(project.spec?.clusters ?? {})) {
    const used: Record<string, string> = {};
    const sums = totals.get(cluster) ?? new Map<string, Quantity>();
    for (const resource of new Set([...Object.keys(c.hard ?? {}), ...sums.keys()])) {
      used[resource] = (sums.get(resource) ?? Quantity.zero()).toString();
    }
    out[cluster] = { used: sortKeys(used) };
  }
  return out;
}

export function sortKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** "c1: requests.cpu 3/10, requests.memory 1Gi/8Gi; c2: ..." from spec hard and status used. */
export function describeQuotaUse(project: StoredProject): string {
  const used = project.status?.clusters ?? {};
  const parts: string[] = [];
  for (const [cluster, c] of Object.entries(project.spec?.clusters ?? {})) {
    const resources = Object.entries(c.hard ?? {}).map(([r, limit]) => `${r} ${used[cluster]?.used?.[r] ?? '0'}/${limit}`);
    if (resources.length) parts.push(`${cluster}: ${resources.join(', ')}`);
  }
  return parts.join('; ');
}

/** describeQuotaUse cut to one cluster for a table column: "c1: requests.cpu 3/10 (+2 clusters)". */
export function summarizeQuotaUse(described: string): string {
  const clusters = described ? described.split('; ') : [];
  return clusters.length > 1 ? `${clusters[0]} (+${clusters.length - 1} cluster${clusters.length > 2 ? 's' : ''})` : described;
}
