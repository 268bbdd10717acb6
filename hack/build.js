#!/usr/bin/env node
// npm run build: compiles cmd/, pkg/ and api/ with tsc (tsconfig.build.json) into dist/, and copies
// beside the output what the server reads at run time relative to its own modules (import.meta.url):
// migrations/*.sql, each group's migrations and predefined JSON. dist/ then mirrors the source tree,
// so `node dist/cmd/tke-apiserver/main.js` runs with the package's node_modules and no tsx.
//
//   node hack/build.js [--out-dir DIR]     (default: dist)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Source trees compiled by tsconfig.build.json; their other files are copied as they are. */
const sourceDirs = ['cmd', 'pkg', 'api'];
/** Trees copied whole. */
const assetDirs = ['migrations'];
/** Sources that are not part of the build: the tsx launcher of `npm start`. */
const skipped = new Set([path.join('cmd', 'tke-apiserver', 'bin.js')]);

function parseArgs(argv) {
  let outDir = 'dist';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out-dir' && i + 1 < argv.length) outDir = argv[++i];
    else if (a.startsWith('--out-dir=')) outDir = a.slice('--out-dir='.length);
    else {
      process.stderr.write(`build: unknown argument ${a}\nusage: node hack/build.js [--out-dir DIR]\n`);
      process.exit(2);
    }
  }
  return path.resolve(root, outDir);
}

/** Files under dir (relative to root) that tsc does not emit: everything but .ts sources. */
function assetsUnder(dir) {
  const out = [];
  const walk = rel => {
    for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = path.join(rel, e.name);
      if (e.isDirectory()) walk(child);
      else if (e.isFile() && !e.name.endsWith('.ts') && !skipped.has(child)) out.push(child);
    }
  };
  walk(dir);
  return out;
}

/** dir is parent or inside it. */
function within(dir, parent) {
  const r = path.relative(parent, dir);
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r));
}

const outDir = parseArgs(process.argv.slice(2));
// The output dir is removed first: never the checkout (or above it), nor a tree of its own.
if (within(root, outDir) || [...sourceDirs, ...assetDirs, 'hack', 'test', 'node_modules', '.git'].some(d => within(outDir, path.join(root, d)))) {
  process.stderr.write(`build: refusing to build into ${outDir}\n`);
  process.exit(2);
}
rmSync(outDir, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) {
  process.stderr.write(`build: tsc failed (${compiled.error?.message ?? `exit ${compiled.status ?? compiled.signal}`})\n`);
  process.exit(1);
}

let copied = 0;
for (const dir of sourceDirs) {
  for (const file of assetsUnder(dir)) {
    cpSync(path.join(root, file), path.join(outDir, file));
    copied++;
  }
}
for (const dir of assetDirs) {
  if (!existsSync(path.join(root, dir))) continue;
  cpSync(path.join(root, dir), path.join(outDir, dir), { recursive: true });
  copied += assetsUnder(dir).length;
}
process.stdout.write(`build: compiled ${sourceDirs.join(', ')} into ${path.relative(process.cwd(), outDir) || '.'} (${copied} asset files copied)\n`);
