// Which keys may appear in a quota (a project's spec.clusters[c].hard, a namespace's spec.hard)
// and which of them count whole objects, after tkestack/tke pkg/util/resource. Keys of the form
// count/<resource>[.<group>] (Kubernetes' object-count quota syntax) are how a project limits the
// number of objects across a cluster, which TKEStack users asked for in tkestack/tke#1939.
import { field, type FieldError } from '../../rest/errors.ts';
import { Quantity } from './quantity.ts';

const standardQuotaResources = new Set([
  'cpu',
  'memory',
  'ephemeral-storage',
  'requests.cpu',
  'requests.memory',
  'requests.storage',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'pods',
  'resourcequotas',
  'services',
  'replicationcontrollers',
  'secrets',
  'persistentvolumeclaims',
  'configmaps',
  'services.nodeports',
  'services.loadbalancers',
]);

const integerResources = new Set([
  'pods',
  'resourcequotas',
  'services',
  'replicationcontrollers',
  'secrets',
  'configmaps',
  'persistentvolumeclaims',
  'services.nodeports',
  'services.loadbalancers',
]);

export const objectCountPrefix = 'count/';

const qualifiedNamePart = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isHugePages(name: string): boolean {
  return name.startsWith('hugepages-') || name.startsWith('requests.hugepages-');
}

/** Problems with `name` as a quota key (empty when fine). */
export function quotaResourceNameProblems(name: string): string[] {
  const slash = name.indexOf('/');
  if (slash < 0) {
    if (!qualifiedNamePart.test(name) || name.length > 63) return ['must be a qualified name'];
    return standardQuotaResources.has(name) || isHugePages(name) ? [] : ['must be a standard resource for quota'];
  }
  const prefix = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  if (!dnsSubdomain.test(prefix) || prefix.length > 253) return ['prefix part must be a DNS subdomain'];
  if (!qualifiedNamePart.test(rest) || rest.length > 63) return ['name part must be a qualified name'];
  return [];
}

/** Resources measured in whole objects: object counts and extended resources, as in Go. */
export function isIntegerResource(name: string): boolean {
  if (integerResources.has(name) || name.startsWith(objectCountPrefix)) return true;
  const native = !name.includes('/') || name.startsWith('kubernetes.io/');
  return !native && !name.startsWith('requests.');
}

/** Validates a ResourceList at `path` (e.g. spec.hard): names, parseable, non-negative, whole where required. */
export function validateResourceList(list: unknown, path: string): FieldError[] {
  if (list === undefined || list === null) return [];
  if (typeof list !== 'object' || Array.isArray(list)) return [field.typeInvalid(path, 'must be a map of resource names to quantities')];
  const problems: FieldError[] = [];
  for (const [name, raw] of Object.entries(list as Record<string, unknown>)) {
    const at = `${path}[${name}]`;
    for (const p of quotaResourceNameProblems(name)) problems.push(field.invalid(at, name, p));
    let q: Quantity;
    try {
      q = Quantity.parse(raw as string | number);
    } catch (err) {
      problems.push(field.invalid(at, raw, (err as Error).message));
      continue;
    }
    if (q.isNegative()) problems.push(field.invalid(at, raw, 'must be greater than or equal to 0'));
    else if (isIntegerResource(name) && !q.isInteger()) problems.push(field.invalid(at, raw, 'must be an integer'));
  }
  return problems;
}
