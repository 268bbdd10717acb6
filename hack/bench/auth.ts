// Benchmark of authorization: the rate of GETs authorized with an API key whose user has 30
// policies bound (every request: JWT signature check, key revocation check, policy evaluation)
// against the same GETs by the bootstrap admin (system:masters, no policy evaluation).
// Traffic goes to 127.0.0.1 only; every loop is bounded.
import https from 'node:https';

const concurrency = 32;
const policyCount = 30;
const getCount = Number(process.env.BENCH_AUTH_GETS ?? 10000);
const password = 'BenchPassw0rd1';

interface Response {
  status: number;
  body: string;
}

function client(port: number, ca: string) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca });
  return (method: string, path: string, token: string | undefined, body?: unknown): Promise<Response> =>
    new Promise((ok, fail) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (data) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = Buffer.byteLength(data);
      }
      const req = https.request({ host: '127.0.0.1', port, path, method, agent, headers }, res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', fail);
      req.end(data);
    });
}

async function must(p: Promise<Response>, want: number[] = [200, 201]): Promise<Response> {
  const r = await p;
  if (!want.includes(r.status)) throw new Error(`bench auth: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  return r;
}

async function rate(total: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) await op(i);
    }),
  );
  return total / (Number(process.hrtime.bigint() - started) / 1e9);
}

export async function benchAuth(server: {
  port: number;
  ca: string;
  adminToken: string;
}): Promise<{ apiKeyGetsPerSecond: number; adminGetsPerSecond: number; policies: number }> {
  const req = client(server.port, server.ca);
  const admin = server.adminToken;
  const suffix = Date.now().toString(36);
  const username = `bench-${suffix}`;
  const auth = '/apis/auth.tkestack.io/v1';
  await must(
    req('POST', `${auth}/localidentities`, admin, {
      metadata: { generateName: 'usr-' },
      spec: { username, hashedPassword: Buffer.from(password).toString('base64'), tenantID: 'default' },
    }),
  );
  // 29 custom policies that do not match the request plus one that does: evaluation walks them all.
  for (let i = 0; i < policyCount; i++) {
    const actions = i === policyCount - 1 ? ['getProject'] : [`get${'Thing'}${i}`, `list${'Things'}${i}`];
    const pol = await must(
      req('POST', `${auth}/policies`, admin, {
        metadata: { generateName: 'pol-bench-' },
        spec: { displayName: `bench ${i}`, tenantID: 'default', statement: { actions, resources: ['*'], effect: 'allow' } },
      }),
    );
    const name = (JSON.parse(pol.body) as { metadata: { name: string } }).metadata.name;
    await must(req('POST', `${auth}/policies/${name}/binding`, admin, { users: [{ id: username, name: username }] }));
  }
  const key = await must(
    req('POST', `${auth}/apikeys/default/password`, undefined, {
      tenantID: 'default',
      username,
      password: Buffer.from(password).toString('base64'),
      expire: '1h',
    }),
  );
  const apiKey = (JSON.parse(key.body) as { spec: { apiKey: string } }).spec.apiKey;
  const project = `bench-auth-${suffix}`;
  await must(
    req('POST', '/apis/business.tkestack.io/v1/projects', admin, {
      apiVersion: 'business.tkestack.io/v1',
      kind: 'Project',
      metadata: { name: project },
      spec: { tenantID: 'default', displayName: 'bench' },
    }),
  );
  const path = `/apis/business.tkestack.io/v1/projects/${project}`;
  // Warm both paths (snapshot, key cache, connections) before measuring.
  await rate(200, () => must(req('GET', path, apiKey)).then(() => {}));
  await rate(200, () => must(req('GET', path, admin)).then(() => {}));
  const apiKeyGetsPerSecond = await rate(getCount, () => must(req('GET', path, apiKey)).then(() => {}));
  const adminGetsPerSecond = await rate(getCount, () => must(req('GET', path, admin)).then(() => {}));
  return { apiKeyGetsPerSecond: Math.round(apiKeyGetsPerSecond), adminGetsPerSecond: Math.round(adminGetsPerSecond), policies: policyCount };
}
