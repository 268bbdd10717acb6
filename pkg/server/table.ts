// Server-side printing: meta.k8s.io/v1 Table from a kind's columns, and the
// PartialObjectMetadata forms kubectl and informers ask for.
import type { KubeObject, ListMeta, TableColumnDefinition } from '../../api/meta/v1/types.ts';
import type { ResourceDefinition } from '../rest/resource.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export const tableConversions = [
  { as: 'Table', g: 'meta.k8s.io', v: 'v1' },
  { as: 'Table', g: 'meta.k8s.io', v: 'v1beta1' },
  { as: 'PartialObjectMetadata', g: 'meta.k8s.io', v: 'v1' },
  { as: 'PartialObjectMetadataList', g: 'meta.k8s.io', v: 'v1' },
];

const nameColumn: TableColumnDefinition = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 };
const ageColumn: TableColumnDefinition = {
  name: 'Age',
  type: 'string',
  format: '',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
};

export function columnsOf(def: ResourceDefinition): TableColumnDefinition[] {
  const s = def.strategy;
  return [nameColumn, ...(s.columns ?? []), ...(s.omitAge ? [] : [ageColumn])];
}

export function toTable(
  def: ResourceDefinition,
  objects: KubeObject[],
  listMeta: ListMeta,
  include: IncludeObject,
  withColumns = true,
): Record<string, unknown> {
  const s = def.strategy;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: withColumns ? columnsOf(def) : [],
    rows: objects.map(obj => ({
      cells: [obj.metadata.name, ...(s.row ? s.row(obj) : []), ...(s.omitAge ? [] : [age(obj.metadata.creationTimestamp)])].map(c => c ?? '<none>'),
      ...(include === 'None' ? {} : { object: include === 'Object' ? obj : partialMetadata(obj) }),
    })),
  };
}

export function partialMetadata(obj: KubeObject): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function partialMetadataList(objects: KubeObject[], listMeta: ListMeta): Record<string, unknown> {
  return { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: listMeta, items: objects.map(partialMetadata) };
}

/** Age as kubectl prints it (k8s.io/apimachinery's duration.HumanDuration): 45s, 3m12s, 5h, 12d. */
export function age(since: string | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  const seconds = Math.floor((now - Date.parse(since)) / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  const unit = (a: number, ua: string, b: number, ub: string) => (b === 0 ? `${a}${ua}` : `${a}${ua}${b}${ub}`);
  if (minutes < 10) return unit(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  if (hours < 8) return unit(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return unit(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  if (hours < 24 * 365 * 8) return unit(Math.floor(days / 365), 'y', days % 365, 'd');
  return `${Math.floor(days / 365)}y`;
}
