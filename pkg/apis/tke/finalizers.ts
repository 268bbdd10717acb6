// TKE's objects keep their finalizers in spec.finalizers, as Kubernetes' Namespace does: the
// lifecycle controllers remove their own entry through the finalize subresource, and the store
// deletes an object being deleted once the list is empty.
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { FinalizerField } from '../../rest/resource.ts';

export const specFinalizers: FinalizerField = {
  get(obj: KubeObject) {
    const f = obj.spec?.finalizers;
    return Array.isArray(f) ? f.filter((x): x is string => typeof x === 'string') : undefined;
  },
  set(obj: KubeObject, finalizers: string[] | undefined) {
    if (finalizers === undefined) {
      if (obj.spec) delete obj.spec.finalizers;
      return;
    }
    obj.spec = { ...(obj.spec ?? {}), finalizers };
  },
};
