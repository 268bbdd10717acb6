// metav1.Status errors, the one error shape every layer above storage throws and the
// HTTP layer writes. Modelled on k8s.io/apimachinery/pkg/api/errors.
import type { Status, StatusCause } from '../../api/meta/v1/types.ts';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'ServerTimeout'
  | 'Timeout'
  | 'TooManyRequests'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'ServiceUnavailable';

export interface GroupResource {
  group: string;
  resource: string;
}

export class StatusError extends Error {
  readonly status: Status;
  constructor(code: number, reason: StatusReason, message: string, details?: Status['details']) {
    super(message);
    this.name = 'StatusError';
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) };
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): StatusReason {
    return this.status.reason as StatusReason;
  }
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

export const errors = {
  notFound: (gr: GroupResource, name: string) =>
    new StatusError(404, 'NotFound', `${qualified(gr)} "${name}" not found`, { name, group: gr.group, kind: gr.resource }),
  alreadyExists: (gr: GroupResource, name: string) =>
    new StatusError(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, { name, group: gr.group, kind: gr.resource }),
  conflict: (gr: GroupResource, name: string, why: string) =>
    new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, { name, group: gr.group, kind: gr.resource }),
  /**
   * 422 with one cause per offending field. `kind` is the Kind (e.g. Project), as Kubernetes reports it.
   * At most maxCauses are reported: 100,000 bad labels made a 60 MB answer out of a 2 MB request.
   */
  invalid: (group: string, kind: string, name: string, causes: FieldError[]) => {
    const shown = causes.slice(0, maxCauses);
    const more = causes.length > shown.length ? `, and ${causes.length - shown.length} more errors` : '';
    return new StatusError(
      422,
      'Invalid',
      `${kind}${group ? '.' + group : ''} "${name}" is invalid: ${shown.map(c => `${c.field}: ${c.message}`).join(', ')}${more}`,
      { name, group, kind, causes: shown.map(c => ({ reason: c.reason, message: c.message, field: c.field })) },
    );
  },
  badRequest: (message: string, causes?: StatusCause[]) => new StatusError(400, 'BadRequest', message, causes ? { causes } : undefined),
  unauthorized: (message = 'Unauthorized') => new StatusError(401, 'Unauthorized', message),
  forbidden: (gr: GroupResource, name: string, why: string) =>
    new StatusError(403, 'Forbidden', `${qualified(gr)}${name ? ` "${name}"` : ''} is forbidden: ${why}`, { name, group: gr.group, kind: gr.resource }),
  gone: (message: string) => new StatusError(410, 'Expired', message),
  methodNotAllowed: (message: string) => new StatusError(405, 'MethodNotAllowed', message),
  notAcceptable: (message: string) => new StatusError(406, 'NotAcceptable', message),
  unsupportedMediaType: (type: string) =>
    new StatusError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json; got ${type}`,
    ),
  tooLarge: (message: string) => new StatusError(413, 'RequestEntityTooLarge', message),
  tooManyRequests: (message: string, retryAfterSeconds: number) => new StatusError(429, 'TooManyRequests', message, { retryAfterSeconds }),
  internal: (message: string) => new StatusError(500, 'InternalError', `Internal error occurred: ${message}`),
  /** The client may try again after `retryAfterSeconds` (sent as Retry-After). */
  unavailable: (message: string, retryAfterSeconds = 1) => new StatusError(503, 'ServiceUnavailable', message, { retryAfterSeconds }),
  /** A read asked for a revision this server has not seen yet; the client retries (kube-apiserver's ResourceVersionTooLarge). */
  tooLargeResourceVersion: (message: string) =>
    new StatusError(504, 'Timeout', `Timeout: ${message}`, {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    }),
};

const maxCauses = 100;

/** One field-level problem; `field` is a Kubernetes field path such as `spec.clusters[cls-1].hard`. */
export interface FieldError {
  field: string;
  reason:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueDuplicate'
    | 'FieldValueForbidden'
    | 'FieldValueTooLong'
    | 'FieldValueTypeInvalid'
    | 'FieldValueNotFound';
  message: string;
}

export const field = {
  required: (f: string, detail = 'Required value'): FieldError => ({ field: f, reason: 'FieldValueRequired', message: detail }),
  invalid: (f: string, value: unknown, detail: string): FieldError => ({
    field: f,
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
  }),
  notSupported: (f: string, value: unknown, allowed: string[]): FieldError => ({
    field: f,
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map(a => `"${a}"`).join(', ')}`,
  }),
  duplicate: (f: string, value: unknown): FieldError => ({ field: f, reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(value)}` }),
  forbidden: (f: string, detail: string): FieldError => ({ field: f, reason: 'FieldValueForbidden', message: `Forbidden: ${detail}` }),
  tooLong: (f: string, max: number): FieldError => ({ field: f, reason: 'FieldValueTooLong', message: `Too long: may not be more than ${max} bytes` }),
  notFound: (f: string, value: unknown): FieldError => ({ field: f, reason: 'FieldValueNotFound', message: `Not found: ${JSON.stringify(value)}` }),
  typeInvalid: (f: string, detail: string): FieldError => ({ field: f, reason: 'FieldValueTypeInvalid', message: `Invalid value: ${detail}` }),
};
