// Managers of fields: metadata.managedFields decoded into owners and encoded back, with
// Kubernetes' identifiers, stripped system fields and the cap on Update managers.
import type { ManagedFieldsEntry } from '../../../api/meta/v1/types.ts';
import { isObject } from '../../openapi/schema.ts';
import { FieldSet, pe, strCompare } from './fieldpath.ts';

/** Owner of everything that existed before the first apply to an untracked object. */
export const BEFORE_FIRST_APPLY_MANAGER = 'before-first-apply';
/** Bucket for the oldest Update managers once there are more than MAX_UPDATE_MANAGERS. */
export const ANCIENT_CHANGES_MANAGER = 'ancient-changes';
export const MAX_UPDATE_MANAGERS = 10;

// ---------------------------------------------------------------------------------------------
// Managers

export interface Owner {
  manager: string;
  operation: string;
  apiVersion: string;
  subresource: string;
  time?: string;
  set: FieldSet;
}

/** Kubernetes' manager identifier: Apply entries are one per manager whatever the version. */
export function ownerId(o: Pick<Owner, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  const id: Record<string, string> = {};
  if (o.manager) id.manager = o.manager;
  if (o.operation) id.operation = o.operation;
  if (o.apiVersion && o.operation !== 'Apply') id.apiVersion = o.apiVersion;
  if (o.subresource) id.subresource = o.subresource;
  return JSON.stringify(id);
}

export function printManager(o: Owner): string {
  let s = JSON.stringify(o.manager);
  if (o.subresource) s += ` with subresource ${JSON.stringify(o.subresource)}`;
  if (o.operation === 'Update') s += ` using ${o.apiVersion}`;
  return s;
}

/** Decodes metadata.managedFields; undefined when any entry is malformed. */
export function decodeManaged(entries: ManagedFieldsEntry[] | undefined): Owner[] | undefined {
  if (!entries) return [];
  if (!Array.isArray(entries)) return undefined;
  const byId = new Map<string, Owner>();
  try {
    for (const e of entries) {
      if (!isObject(e)) return undefined;
      const owner: Owner = {
        manager: e.manager ?? '',
        operation: e.operation ?? '',
        apiVersion: e.apiVersion ?? '',
        subresource: e.subresource ?? '',
        time: e.time,
        set: e.fieldsV1 === undefined || e.fieldsV1 === null ? new FieldSet() : FieldSet.fromFieldsV1(e.fieldsV1),
      };
      byId.set(ownerId(owner), owner);
    }
  } catch {
    return undefined;
  }
  return [...byId.values()];
}

export function seconds(t: string | undefined): number {
  if (!t) return 0;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

export function encodeManaged(owners: Owner[]): ManagedFieldsEntry[] {
  const sorted = owners
    .filter(o => !o.set.empty())
    .sort(
      (p, q) =>
        strCompare(p.operation, q.operation) ||
        seconds(p.time) - seconds(q.time) ||
        strCompare(p.manager, q.manager) ||
        strCompare(p.apiVersion, q.apiVersion) ||
        strCompare(p.subresource, q.subresource),
    );
  return sorted.map(o => {
    const e: ManagedFieldsEntry = { manager: o.manager, operation: o.operation, apiVersion: o.apiVersion };
    if (o.time) e.time = o.time;
    e.fieldsType = 'FieldsV1';
    e.fieldsV1 = o.set.toFieldsV1();
    if (o.subresource) e.subresource = o.subresource;
    return e;
  });
}

/** System metadata that nobody owns (Kubernetes' strip set). */
export const STRIPPED = FieldSet.of([
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata'],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion'].map(f => [
    'f:metadata',
    pe.field(f),
  ]),
]);

/** Folds the oldest Update entries into one `ancient-changes` entry per version. */
export function capUpdateManagers(owners: Owner[]): Owner[] {
  const updaters = owners.filter(o => o.operation !== 'Apply');
  if (updaters.length <= MAX_UPDATE_MANAGERS) return owners;
  updaters.sort((a, b) => seconds(a.time) - seconds(b.time) || strCompare(ownerId(a), ownerId(b)));
  let result = owners.slice();
  const firstOfVersion = new Map<string, Owner>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > MAX_UPDATE_MANAGERS; i++) {
    const o = updaters[i];
    const first = firstOfVersion.get(o.apiVersion);
    if (!first) {
      firstOfVersion.set(o.apiVersion, o);
      continue;
    }
    const bucketId = ownerId({ manager: ANCIENT_CHANGES_MANAGER, operation: 'Update', apiVersion: o.apiVersion, subresource: '' });
    let bucket = result.find(r => ownerId(r) === bucketId);
    if (!bucket) {
      bucket = { ...first, manager: ANCIENT_CHANGES_MANAGER, operation: 'Update', subresource: '' };
      result = result.filter(r => r !== first);
      result.push(bucket);
    }
    bucket.set = bucket.set.union(o.set);
    bucket.time = o.time;
    result = result.filter(r => r !== o);
    length--;
  }
  return result;
}
