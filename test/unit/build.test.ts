// `npm run build` (hack/build.js): tsc's output runs on plain node, without tsx. The build goes
// into a temp dir laid out as the Docker image's /app (package.json, node_modules, dist/), and
// runs from there: --help, the files the server reads beside its modules (migrations, predefined
// policies), and a real start on the test PostgreSQL.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { predefinedPolicies } from '../../pkg/apis/auth/predefined.ts';
import { apiGroups } from '../../pkg/apis/index.ts';
import { loadMigrations } from '../../pkg/storage/migrate.ts';
import { makeTempDir, repoRoot } from '../support/process.ts';
import { startServer } from '../support/server.ts';

const run = promisify(execFile);
/** Plain node: the child gets no --import tsx, from the command line or the environment. */
const plainEnv = { ...process.env, NODE_OPTIONS: '' };

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(e => e.isFile())
    .map(e => path.join(e.parentPath, e.name));
}

/** The module specifiers of a compiled file: static, side-effect and dynamic imports, re-exports, require. */
function specifiersOf(js: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of js.matchAll(re)) out.push(m[1]);
  return out;
}

describe('unit: the build (npm run build)', function () {
  let app: string;
  let dist: string;
  let main: string;

  before(async function () {
    this.timeout(120_000);
    app = makeTempDir('tke-build-');
    dist = path.join(app, 'dist');
    await run(process.execPath, [path.join(repoRoot, 'hack', 'build.js'), '--out-dir', dist], { cwd: repoRoot, env: plainEnv, maxBuffer: 16 << 20 });
    // As the image: the package's manifest (type: module) and its installed dependencies beside dist/.
    copyFileSync(path.join(repoRoot, 'package.json'), path.join(app, 'package.json'));
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(app, 'node_modules'), 'dir');
    main = path.join(dist, 'cmd', 'tke-apiserver', 'main.js');
  });

  it('compiles every source to .js with .js imports, and copies the run-time files beside them', function () {
    assert.ok(existsSync(main), `${main} was not built`);
    for (const dir of ['cmd', 'pkg', 'api']) {
      for (const file of filesUnder(path.join(repoRoot, dir))) {
        const rel = path.relative(repoRoot, file);
        if (rel === path.join('cmd', 'tke-apiserver', 'bin.js')) continue; // the tsx launcher
        const built = path.join(dist, rel.replace(/\.ts$/, '.js'));
        assert.ok(existsSync(built), `${rel}: no ${path.relative(app, built)}`);
      }
    }
    for (const file of filesUnder(path.join(repoRoot, 'migrations'))) {
      assert.ok(existsSync(path.join(dist, path.relative(repoRoot, file))), `${path.relative(repoRoot, file)} not copied`);
    }
    assert.ok(!existsSync(path.join(dist, 'cmd', 'tke-apiserver', 'bin.js')), 'the tsx launcher is not part of the build');
    for (const file of filesUnder(dist).filter(f => f.endsWith('.js'))) {
      for (const spec of specifiersOf(readFileSync(file, 'utf8')).filter(s => s.startsWith('.'))) {
        assert.ok(spec.endsWith('.js'), `${path.relative(dist, file)} imports ${spec}`);
        assert.ok(existsSync(path.resolve(path.dirname(file), spec)), `${path.relative(dist, file)} imports ${spec}, which is not in dist`);
      }
    }
  });

  it('imports only production dependencies (the image installs with --omit=dev)', function () {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const used = new Map<string, string>();
    for (const file of filesUnder(dist).filter(f => f.endsWith('.js'))) {
      for (const spec of specifiersOf(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        used.set(name, path.relative(dist, file));
      }
    }
    assert.ok(used.has('pg') && used.has('pino'), `the scan found too little: ${[...used.keys()].join(', ')}`);
    for (const [name, file] of used) assert.ok(name in pkg.dependencies, `${file} imports ${name}, which is not in package.json's dependencies`);
    assert.ok(!used.has('tsx'));
  });

  it('runs --help on plain node', async function () {
    const { stdout } = await run(process.execPath, [main, '--help'], { cwd: app, env: plainEnv });
    assert.match(stdout, /^Usage:\n {2}tke-apiserver --data-dir DIR --secure-port PORT/m);
    assert.match(stdout, /--database-url/);
  });

  it('finds the migrations and the predefined policies beside the compiled modules', async function () {
    const probe = path.join(app, 'probe.js');
    const script = `
      const dist = new URL('./dist/', import.meta.url);
      const { defaultMigrationsDir, loadMigrations } = await import(new URL('pkg/storage/migrate.js', dist));
      const { apiGroups } = await import(new URL('pkg/apis/index.js', dist));
      const { predefinedPolicies } = await import(new URL('pkg/apis/auth/predefined.js', dist));
      const dirs = apiGroups.flatMap(g => (g.migrations ? [g.migrations] : []));
      const migrations = await loadMigrations(dirs);
      process.stdout.write(JSON.stringify({
        dirs: [defaultMigrationsDir, ...dirs],
        migrations: migrations.map(m => m.name),
        policies: predefinedPolicies('t1').map(p => p.metadata.name),
      }));
    `;
    writeFileSync(probe, script);
    const { stdout } = await run(process.execPath, [probe], { cwd: app, env: plainEnv });
    const built = JSON.parse(stdout) as { dirs: string[]; migrations: string[]; policies: string[] };
    for (const dir of built.dirs) assert.ok(dir.startsWith(dist + path.sep), `${dir} is not in ${dist}`);
    const fromSources = await loadMigrations(apiGroups.flatMap(g => (g.migrations ? [g.migrations] : [])));
    const sourceMigrations = fromSources.map(m => m.name);
    const sourcePolicies = predefinedPolicies('t1').map(p => p.metadata.name);
    assert.deepEqual(built.migrations, sourceMigrations);
    assert.ok(built.migrations.length >= 9, built.migrations.join(', '));
    assert.deepEqual(built.policies, sourcePolicies);
    assert.ok(built.policies.length > 0);
  });

  it('serves: starts on the test PostgreSQL, applies the migrations and reports tsc as its compiler', async function () {
    const server = await startServer({ bin: main, cwd: app, env: { NODE_OPTIONS: '' } });
    try {
      const version = await server.request('GET', '/version');
      assert.equal(version.status, 200);
      assert.equal(version.json().compiler, 'tsc');
      const policies = await server.request('GET', '/apis/auth.tkestack.io/v1/policies');
      assert.equal(policies.status, 200, policies.body);
      assert.ok(policies.json().items.length > 0, 'no predefined policies were seeded');
    } finally {
      await server.stop();
    }
  });
});
