// The TKE policy engine, pure: no I/O. A request becomes an (action, resource) pair the way
// TKE's ConvertTKEAttributes builds it, and statements are matched the way TKE's casbin model
// does (keyMatchCustom: case-insensitive, `*` matches any run of characters, whole string).
// An explicit deny anywhere wins over any allow.
import { LRUCache } from 'lru-cache';

export type Effect = 'allow' | 'deny';

export interface Statement {
  actions: string[];
  resources: string[];
  effect: Effect | string;
}

/** Statements granted to a caller, each with the project it is limited to ('' = platform-wide). */
export interface Grant {
  statement: Statement;
  /** When set, the grant applies only to requests inside this project (project policy bindings). */
  project?: string;
  /** Name of the policy the statement comes from, for the reason of a decision. */
  policy: string;
}

export interface TKEAttributes {
  action: string;
  resource: string;
  /** The project the request acts in, if any (business objects namespaced by project, or a project itself). */
  project: string;
}

export interface Evaluation {
  allowed: boolean;
  /** The policy whose deny decided, or undefined. */
  deniedBy?: string;
  allowedBy?: string;
}

// Policies are few and long-lived; bounded anyway so hostile input cannot grow it forever.
const compiled = new LRUCache<string, RegExp>({ max: 10_000 });

/** keyMatchCustom: case-insensitive glob where `*` matches anything, `/` included. */
export function keyMatch(value: string, pattern: string): boolean {
  if (pattern === '*') return true;
  let re = compiled.get(pattern);
  if (!re) {
    const body = pattern.toLowerCase().split('*').map(escapeRegExp).join('.*');
    re = new RegExp(`^${body}$`, 's');
    compiled.set(pattern, re);
  }
  return re.test(value.toLowerCase());
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

function statementMatches(s: Statement, attrs: TKEAttributes): boolean {
  return (s.actions ?? []).some(a => keyMatch(attrs.action, a)) && (s.resources ?? []).some(r => keyMatch(attrs.resource, r));
}

/** Deny wins; otherwise any matching allow allows; otherwise denied (no opinion = deny). */
export function evaluate(grants: Iterable<Grant>, attrs: TKEAttributes): Evaluation {
  let allowedBy: string | undefined;
  for (const g of grants) {
    if (g.project && g.project !== attrs.project) continue;
    if (!statementMatches(g.statement, attrs)) continue;
    if (String(g.statement.effect).toLowerCase() === 'deny') return { allowed: false, deniedBy: g.policy };
    allowedBy ??= g.policy;
  }
  return allowedBy ? { allowed: true, allowedBy } : { allowed: false };
}

export interface RequestAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** Member cluster the request is about (a proxied request's, or a tokenreview's cluster), if any. */
  cluster?: string;
}

export const businessGroup = 'business.tkestack.io';
const registryGroup = 'registry.tkestack.io';
const authGroup = 'auth.tkestack.io';
/** Subresources that are aspects of the object rather than other resources (TKE's specialSubResources). */
const specialSubresources = new Set(['status', 'log', 'finalize', 'proxy']);

/**
 * Request -> TKE action and resource. Action: verb + singular resource (plural for lists) +
 * subresource, each upper-cased first (getCluster, listProjects, updateProjectStatus,
 * createPolicyBinding); patch counts as update and deletecollection as delete. Resource:
 * `<singular>:<name or *>`, prefixed by `project:<p>/` for business objects namespaced by a
 * project, `namespace:<ns>/` for other namespaced objects and `cluster:<c>/` inside a cluster.
 */
export function tkeAttributes(r: RequestAttributes): TKEAttributes {
  let type = r.resource;
  const sub = r.subresource;
  const name = r.name;
  if (type === 'namespaces' && r.apiGroup === registryGroup) type = 'registrynamespaces';
  const single = singularize(type);
  let verb = r.verb;
  let kindPart = single;
  switch (verb) {
    case 'list':
      kindPart = name ? single : type;
      break;
    case 'watch':
      kindPart = name ? single : type;
      break;
    case 'get':
      if (!name) {
        verb = 'list';
        kindPart = type;
      } else if (sub && !specialSubresources.has(sub)) {
        verb = 'list';
        kindPart = single;
      }
      break;
    case 'patch':
      verb = 'update';
      break;
    case 'deletecollection':
      verb = 'delete';
      break;
  }
  const action = `${verb}${upperFirst(kindPart)}${upperFirst(sub)}`;
  let resource = `${single}:${name || '*'}`;
  let project = '';
  if (r.namespace) {
    if (r.apiGroup === businessGroup) {
      resource = `project:${r.namespace}/${resource}`;
      project = r.namespace;
    } else if (r.apiGroup === registryGroup) resource = `registrynamespace:${r.namespace}/${resource}`;
    else if (single !== 'namespace') resource = `namespace:${r.namespace}/${resource}`;
  } else if (r.resource === 'projects' && name && (r.apiGroup === businessGroup || r.apiGroup === authGroup)) {
    // A project itself (business object, or its access-control view and binding subresources).
    project = name;
  }
  if (r.cluster && single !== 'cluster') resource = `cluster:${r.cluster}/${resource}`;
  return { action, resource, project };
}

export function upperFirst(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : '';
}

const irregular: Record<string, string> = {
  policies: 'policy',
  categories: 'category',
  localidentities: 'localidentity',
  identityproviders: 'identityprovider',
  registries: 'registry',
  repositories: 'repository',
  addresses: 'address',
  ingresses: 'ingress',
  statuses: 'status',
  status: 'status',
  componentstatuses: 'componentstatus',
  priorityclasses: 'priorityclass',
  storageclasses: 'storageclass',
  runtimeclasses: 'runtimeclass',
  ingressclasses: 'ingressclass',
  galaxies: 'galaxy',
  prometheuses: 'prometheus',
  endpoints: 'endpoints',
  alarmpolicies: 'alarmpolicy',
  networkpolicies: 'networkpolicy',
  podsecuritypolicies: 'podsecuritypolicy',
  nsemigrations: 'nsemigration',
  tokenreviews: 'tokenreview',
  subjectaccessreviews: 'subjectaccessreview',
};

/** English plural -> singular for Kubernetes resource names (inflect.Singularize for the cases that occur). */
export function singularize(plural: string): string {
  const known = irregular[plural];
  if (known) return known;
  if (plural.endsWith('ies')) return plural.slice(0, -3) + 'y';
  if (/(ss|sh|ch|x)es$/.test(plural)) return plural.slice(0, -2);
  if (plural.endsWith('s') && !plural.endsWith('ss')) return plural.slice(0, -1);
  return plural;
}
