// What a request asks of a kind's store (the query and write options of metav1), and what a
// write answers.
import type { KubeObject } from '../../api/meta/v1/types.ts';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  fieldManager?: string;
  fieldValidation?: FieldValidation;
}

export interface PatchOptions extends WriteOptions {
  force?: boolean;
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
}

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

/** What a write returns: the object and, for Warn validation, the warnings to send back. */
export interface WriteResult {
  object: KubeObject;
  created: boolean;
  warnings: string[];
}
