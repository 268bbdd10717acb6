// The registry kinds as read back from storage or from their stores, typed by their kind's schema.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { Chart } from '../../../api/registry/v1/chart.ts';
import type { ChartGroup } from '../../../api/registry/v1/chartgroup.ts';
import type { Namespace } from '../../../api/registry/v1/namespace.ts';
import type { Repository } from '../../../api/registry/v1/repository.ts';
import type { ObjectOf } from '../../rest/resource.ts';

export type StoredNamespace = ObjectOf<typeof Namespace>;
export type StoredRepository = ObjectOf<typeof Repository>;
export type StoredChartGroup = ObjectOf<typeof ChartGroup>;
export type StoredChart = ObjectOf<typeof Chart>;

// An object read back (from the storage, a store's get or list, a subresource's parent) is
// untyped JSON to the storage, but it passed its kind's schema when it was written: the generic
// store validates every write. These are the one place each kind is taken to be of its schema's type.
export const asNamespace = (obj: KubeObject) => obj as StoredNamespace;
export const asRepository = (obj: KubeObject) => obj as StoredRepository;
export const asChartGroup = (obj: KubeObject) => obj as StoredChartGroup;
export const asChart = (obj: KubeObject) => obj as StoredChart;
