// Namespace creates under one project at 32 concurrent clients: with quota checks (the project
// limits cpu and memory in the cluster, so every create locks the project and sums its
// allocations exactly) against the same creates in a project that limits nothing.
export interface BenchClient {
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
}

const concurrency = 32;
const createsPerRun = Number(process.env.BENCH_QUOTA_CREATES ?? 1000);
const group = '/apis/business.tkestack.io/v1';

async function must(client: BenchClient, method: string, path: string, body: unknown): Promise<void> {
  const res = await client.request(method, path, body);
  if (res.status !== 201) throw new Error(`${method} ${path}: HTTP ${res.status} ${res.body.slice(0, 500)}`);
}

/** Creates `count` namespaces in `project` from `concurrency` clients; returns creates per second. */
async function createNamespaces(client: BenchClient, project: string, cluster: string, count: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        await must(client, 'POST', `${group}/namespaces/${project}/namespaces`, {
          apiVersion: 'business.tkestack.io/v1',
          kind: 'Namespace',
          metadata: { name: `ns-${i}`, namespace: project },
          spec: { tenantID: 'default', clusterName: cluster, namespace: `${project}-${i}`, hard: { 'requests.cpu': '100m', 'requests.memory': '128Mi' } },
        });
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

export async function benchQuota(client: BenchClient): Promise<{ quotaCreatesPerSecond: number; plainCreatesPerSecond: number }> {
  const run = Date.now().toString(36);
  const cluster = `bench-quota-${run}`;
  await must(client, 'POST', '/apis/platform.tkestack.io/v1/clusters', {
    apiVersion: 'platform.tkestack.io/v1',
    kind: 'Cluster',
    metadata: { name: cluster },
    spec: { tenantID: 'default', displayName: cluster, type: 'Baremetal', version: '1.30.0' },
  });
  const project = (name: string, hard: Record<string, string>) => ({
    apiVersion: 'business.tkestack.io/v1',
    kind: 'Project',
    metadata: { name },
    spec: { tenantID: 'default', displayName: name, members: ['admin'], clusters: { [cluster]: { hard } } },
  });
  const quotaProject = `bench-quota-${run}`;
  const plainProject = `bench-plain-${run}`;
  // Exactly enough for every create, so the last ones run against a nearly full quota.
  await must(
    client,
    'POST',
    `${group}/projects`,
    project(quotaProject, { 'requests.cpu': `${createsPerRun * 100}m`, 'requests.memory': `${createsPerRun * 128}Mi` }),
  );
  await must(client, 'POST', `${group}/projects`, project(plainProject, {}));
  const plainCreatesPerSecond = await createNamespaces(client, plainProject, cluster, createsPerRun);
  const quotaCreatesPerSecond = await createNamespaces(client, quotaProject, cluster, createsPerRun);
  return { quotaCreatesPerSecond: Math.round(quotaCreatesPerSecond), plainCreatesPerSecond: Math.round(plainCreatesPerSecond) };
}
