// Valid objects of the served kinds and the paths they live at, for tests of every kind.
import YAML from 'yaml';

let nameCounter = 0;
/** A DNS-label name unique within this test run. */
export function uniqueName(prefix: string): string {
  nameCounter++;
  return `${prefix}-${Date.now().toString(36).slice(-5)}${nameCounter.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
}

export const GROUPS = {
  platform: 'platform.tkestack.io',
  business: 'business.tkestack.io',
  auth: 'auth.tkestack.io',
  registry: 'registry.tkestack.io',
} as const;

export const paths = {
  projects: '/apis/business.tkestack.io/v1/projects',
  project: (name: string) => `/apis/business.tkestack.io/v1/projects/${name}`,
  clusters: '/apis/platform.tkestack.io/v1/clusters',
  cluster: (name: string) => `/apis/platform.tkestack.io/v1/clusters/${name}`,
  namespaces: (project: string) => `/apis/business.tkestack.io/v1/namespaces/${project}/namespaces`,
  namespace: (project: string, name: string) => `/apis/business.tkestack.io/v1/namespaces/${project}/namespaces/${name}`,
};

export const TENANT = 'default';

/** A valid TKE Cluster (platform.tkestack.io/v1). */
export function clusterObject(name: string, extra: { labels?: Record<string, string>; displayName?: string } = {}): any {
  return {
    apiVersion: 'platform.tkestack.io/v1',
    kind: 'Cluster',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      tenantID: TENANT,
      displayName: extra.displayName ?? `Cluster ${name}`,
      type: 'Baremetal',
      version: '1.30.0',
      clusterCIDR: '10.244.0.0/16',
      networkDevice: 'eth0',
    },
  };
}

/** A valid TKE Project (business.tkestack.io/v1). */
export function projectObject(
  name: string,
  extra: {
    labels?: Record<string, string>;
    displayName?: string;
    clusters?: Record<string, unknown>;
    finalizers?: string[];
    annotations?: Record<string, string>;
  } = {},
): any {
  return {
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: {
      name,
      ...(extra.labels ? { labels: extra.labels } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ...(extra.finalizers ? { finalizers: extra.finalizers } : {}),
    },
    spec: {
      tenantID: TENANT,
      displayName: extra.displayName ?? `Project ${name}`,
      members: ['admin'],
      ...(extra.clusters ? { clusters: extra.clusters } : {}),
    },
  };
}

/** A valid business Namespace in `project` on `cluster`. */
export function namespaceObject(project: string, name: string, cluster: string, extra: { labels?: Record<string, string> } = {}): any {
  return {
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Namespace',
    metadata: { name, namespace: project, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      tenantID: TENANT,
      clusterName: cluster,
      namespace: name,
      hard: { 'requests.cpu': '1', 'requests.memory': '1Gi' },
    },
  };
}

export function toYAML(...objs: unknown[]): string {
  return objs.map(o => YAML.stringify(o)).join('---\n');
}
