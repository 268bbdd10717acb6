// Label and field selectors with Kubernetes' grammar:
//   labels: a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a
//   fields: f=v, f==v, f!=v
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { errors } from './errors.ts';

export type LabelRequirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | '!' };

export type Labels = Record<string, string> | undefined;

export function parseLabelSelector(text: string | undefined): (labels: Labels) => boolean {
  if (!text || !text.trim()) return () => true;
  const reqs: LabelRequirement[] = [];
  for (const part of splitTopLevel(text)) {
    const s = part.trim();
    if (!s) continue;
    const set = s.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/);
    if (set) {
      reqs.push({ key: checkKey(set[1]), op: set[2] as 'in' | 'notin', values: set[3].split(',').map(v => checkValue(v.trim())) });
      continue;
    }
    const equality = s.match(/^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/);
    if (equality) {
      reqs.push({ key: checkKey(equality[1]), op: equality[2] === '!=' ? 'notin' : 'in', values: [checkValue(equality[3])] });
      continue;
    }
    const absent = s.match(/^!\s*([^\s!=(),]+)$/);
    if (absent) {
      reqs.push({ key: checkKey(absent[1]), op: '!' });
      continue;
    }
    const exists = s.match(/^([^\s!=(),]+)$/);
    if (!exists) throw errors.badRequest(`unable to parse requirement: invalid label selector "${text}"`);
    reqs.push({ key: checkKey(exists[1]), op: 'exists' });
  }
  return labels =>
    reqs.every(r => {
      const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case '!':
          return !has;
        case 'in':
          return has && r.values.includes(labels![r.key]);
        default:
          return !has || !r.values.includes(labels![r.key]); // notin
      }
    });
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0,
    start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

const qualifiedName = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

function checkKey(key: string): string {
  if (!qualifiedName.test(key)) throw errors.badRequest(`unable to parse requirement: invalid label key "${key}": must be a qualified name`);
  return key;
}
function checkValue(value: string): string {
  if (!labelValue.test(value))
    throw errors.badRequest(
      `unable to parse requirement: invalid label value: "${value}": must be 63 characters or less and consist of alphanumerics, '-', '_' or '.'`,
    );
  return value;
}

export interface FieldRequirement {
  field: string;
  value: string;
  negate: boolean;
}

export function parseFieldSelector(text: string | undefined): FieldRequirement[] {
  if (!text || !text.trim()) return [];
  return text
    .split(',')
    .filter(s => s.trim())
    .map(part => {
      const m = part.trim().match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
      if (!m) throw errors.badRequest(`invalid field selector: "${part}": expected field=value or field!=value`);
      return { field: m[1], value: m[3], negate: m[2] === '!=' };
    });
}

/**
 * Field selectors that read the string at their own path (`spec.tenantID` reads
 * obj.spec.tenantID), the form nearly every kind's selectable fields take.
 */
export function fieldsAt(...paths: string[]): Record<string, (obj: KubeObject) => string | undefined> {
  return Object.fromEntries(
    paths.map(path => {
      const steps = path.split('.');
      return [
        path,
        (obj: KubeObject) => {
          let value: unknown = obj;
          for (const step of steps) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[step] : undefined;
          return value as string | undefined;
        },
      ];
    }),
  );
}
