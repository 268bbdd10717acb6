// The ObjectMeta rules every kind shares: names, labels, annotations, finalizers, owner
// references, managed fields.
// Ported from k8s.io/apimachinery/pkg/api/validation and pkg/util/validation: same rules, same
// messages, so clients see what a kube-apiserver would tell them.
import type { ManagedFieldsEntry, ObjectMeta, OwnerReference } from '../../api/meta/v1/types.ts';
import { isObject } from '../openapi/schema.ts';
import { field, type FieldError } from './errors.ts';

/** A name rule: messages describing why `name` is invalid; `prefix` means it is a generateName. */
export type NameValidator = (name: string, prefix: boolean) => string[];

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const labelValueFmt = `(${qualifiedNameFmt})?`;
const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`);
const labelValueRe = new RegExp(`^${labelValueFmt}$`);

const dns1123LabelMaxLength = 63;
const dns1123SubdomainMaxLength = 253;
const qualifiedNameMaxLength = 63;
const labelValueMaxLength = 63;
/** Sum of the sizes of all annotation keys and values. */
export const totalAnnotationSizeLimitBytes = 256 * 1024;
const fieldManagerMaxLength = 128;

function maxLenError(n: number): string {
  return `must be no more than ${n} characters`;
}

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  return `${msg} (e.g. ${examples.map(e => `'${e}'`).join(',  or ')}, regex used for validation is '${fmt}')`;
}

export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > dns1123LabelMaxLength) errs.push(maxLenError(dns1123LabelMaxLength));
  if (!dns1123LabelRe.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        dns1123LabelFmt,
        'my-name',
        '123-abc',
      ),
    );
  }
  return errs;
}

export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > dns1123SubdomainMaxLength) errs.push(maxLenError(dns1123SubdomainMaxLength));
  if (!dns1123SubdomainRe.test(value)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        dns1123SubdomainFmt,
        'example.com',
      ),
    );
  }
  return errs;
}

/** A label key, annotation key or finalizer: `name` or `dns.subdomain/name`. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const [prefix, rest] = parts as [string, string];
    name = rest;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else for (const msg of isDNS1123Subdomain(prefix)) errs.push(`prefix part ${msg}`);
  } else {
    return [
      regexError(
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        qualifiedNameFmt,
        'MyName',
        'my.name',
        '123-abc',
      ) + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) {
    errs.push('name part must be non-empty');
  } else if (name.length > qualifiedNameMaxLength) {
    errs.push(`name part ${maxLenError(qualifiedNameMaxLength)}`);
  }
  if (!qualifiedNameRe.test(name)) {
    errs.push(
      `name part ${regexError("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", qualifiedNameFmt, 'MyName', 'my.name', '123-abc')}`,
    );
  }
  return errs;
}

export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > labelValueMaxLength) errs.push(maxLenError(labelValueMaxLength));
  if (!labelValueRe.test(value)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        labelValueFmt,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errs;
}

// A generateName may end in '-' (the random suffix follows), so that dash is not judged.
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name;
}

export const nameIsDNSSubdomain: NameValidator = (name, prefix) => isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);
export const nameIsDNSLabel: NameValidator = (name, prefix) => isDNS1123Label(prefix ? maskTrailingDash(name) : name);

// The common case, a valid unprefixed name or value, in one test; anything else takes the full
// rules (and their messages). Objects may carry 100,000 labels.
const plainQualifiedNameRe = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const plainLabelValueRe = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function validateLabels(labels: Record<string, unknown> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!labels) return errs;
  for (const key of Object.keys(labels)) {
    const value = labels[key];
    if (!plainQualifiedNameRe.test(key)) for (const msg of isQualifiedName(key)) errs.push(field.invalid(path, key, msg));
    // A non-string value is a schema (type) error, reported by the kind's validator.
    if (typeof value === 'string' && !plainLabelValueRe.test(value)) for (const msg of isValidLabelValue(value)) errs.push(field.invalid(path, value, msg));
  }
  return errs;
}

export function validateAnnotations(annotations: Record<string, unknown> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let total = 0;
  if (!annotations) return errs;
  for (const key of Object.keys(annotations)) {
    const value = annotations[key];
    // Kubernetes checks annotation keys case-insensitively.
    if (!plainQualifiedNameRe.test(key)) for (const msg of isQualifiedName(key.toLowerCase())) errs.push(field.invalid(path, key, msg));
    total += Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : 0);
  }
  if (total > totalAnnotationSizeLimitBytes) errs.push(field.tooLong(path, totalAnnotationSizeLimitBytes));
  return errs;
}

export function validateFinalizers(finalizers: readonly unknown[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of finalizers ?? []) {
    if (typeof f === 'string') for (const msg of isQualifiedName(f)) errs.push(field.invalid(path, f, msg));
  }
  return errs;
}

export function validateOwnerReferences(refs: readonly OwnerReference[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const controllers: string[] = [];
  for (const ref of refs ?? []) {
    if (!isObject(ref)) continue;
    const version = (ref.apiVersion ?? '').split('/').pop() ?? '';
    if (!ref.apiVersion || version === '' || (ref.apiVersion.match(/\//g)?.length ?? 0) > 1) {
      errs.push(field.invalid(`${path}.apiVersion`, ref.apiVersion ?? '', 'version must not be empty'));
    }
    if (!ref.kind) errs.push(field.invalid(`${path}.kind`, ref.kind ?? '', 'kind must not be empty'));
    if (!ref.name) errs.push(field.invalid(`${path}.name`, ref.name ?? '', 'name must not be empty'));
    if (!ref.uid) errs.push(field.invalid(`${path}.uid`, ref.uid ?? '', 'uid must not be empty'));
    if (ref.controller) controllers.push(`${ref.kind}/${ref.name}`);
  }
  if (controllers.length > 1) {
    errs.push(field.invalid(path, refs, `Only one reference can have Controller set to true. Found "true" in references for ${controllers.join(' and ')}`));
  }
  return errs;
}

export function validateManagedFields(entries: readonly ManagedFieldsEntry[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [i, entry] of (entries ?? []).entries()) {
    if (!isObject(entry)) continue;
    const at = `${path}[${i}]`;
    if (entry.operation !== 'Apply' && entry.operation !== 'Update') {
      errs.push(field.notSupported(`${at}.operation`, entry.operation ?? '', ['Apply', 'Update']));
    }
    if (entry.fieldsType && entry.fieldsType !== 'FieldsV1') {
      errs.push(field.notSupported(`${at}.fieldsType`, entry.fieldsType, ['FieldsV1']));
    }
    const manager = entry.manager ?? '';
    if (manager.length > fieldManagerMaxLength) errs.push(field.tooLong(`${at}.manager`, fieldManagerMaxLength));
    if (/[\p{C}]/u.test(manager)) errs.push(field.invalid(`${at}.manager`, manager, 'must only contain printable characters'));
  }
  return errs;
}

export interface ObjectMetaOptions {
  namespaced: boolean;
  /** Rule for metadata.name (and generateName); Kubernetes' default is a DNS-1123 subdomain. */
  nameValidator?: NameValidator;
  /** Path of the metadata in the object; `metadata` unless the meta is embedded elsewhere. */
  path?: string;
}

/** apimachinery's ValidateObjectMeta: the rules every kind's metadata obeys on create and update. */
export function validateObjectMeta(meta: ObjectMeta | undefined, opts: ObjectMetaOptions): FieldError[] {
  const path = opts.path ?? 'metadata';
  const nameFn = opts.nameValidator ?? nameIsDNSSubdomain;
  const m: ObjectMeta = meta ?? {};
  const errs: FieldError[] = [];
  const name = m.name ?? '';
  const generateName = m.generateName ?? '';
  if (generateName !== '') {
    for (const msg of nameFn(generateName, true)) errs.push(field.invalid(`${path}.generateName`, generateName, msg));
  }
  if (name === '') {
    if (generateName === '') errs.push(field.required(`${path}.name`, 'Required value: name or generateName is required'));
  } else {
    for (const msg of nameFn(name, false)) errs.push(field.invalid(`${path}.name`, name, msg));
  }
  const namespace = m.namespace ?? '';
  if (opts.namespaced) {
    if (namespace === '') errs.push(field.required(`${path}.namespace`));
    else for (const msg of nameIsDNSLabel(namespace, false)) errs.push(field.invalid(`${path}.namespace`, namespace, msg));
  } else if (namespace !== '') {
    errs.push(field.forbidden(`${path}.namespace`, 'not allowed on this type'));
  }
  if (m.generation !== undefined && m.generation < 0) {
    errs.push(field.invalid(`${path}.generation`, m.generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(m.labels, `${path}.labels`));
  errs.push(...validateAnnotations(m.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(m.ownerReferences, `${path}.ownerReferences`));
  errs.push(...validateFinalizers(m.finalizers, `${path}.finalizers`));
  errs.push(...validateManagedFields(m.managedFields, `${path}.managedFields`));
  return errs;
}

/**
 * apimachinery's ValidateObjectMetaUpdate, less what the store decides itself (resourceVersion
 * preconditions): identity fields are immutable and a terminating object takes no new finalizers.
 * Run validateObjectMeta on the new meta as well.
 */
export function validateObjectMetaUpdate(meta: ObjectMeta | undefined, old: ObjectMeta | undefined, path = 'metadata'): FieldError[] {
  const m: ObjectMeta = meta ?? {};
  const o: ObjectMeta = old ?? {};
  const errs: FieldError[] = [];
  const immutable = ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const;
  for (const key of immutable) {
    if ((m[key] ?? '') !== (o[key] ?? '')) errs.push(field.invalid(`${path}.${key}`, m[key] ?? '', 'field is immutable'));
  }
  if (o.deletionTimestamp) {
    const before = new Set(o.finalizers ?? []);
    const added = (m.finalizers ?? []).filter(f => !before.has(f));
    if (added.length > 0) {
      errs.push(
        field.forbidden(`${path}.finalizers`, `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`),
      );
    }
  }
  return errs;
}
