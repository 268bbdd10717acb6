// One PostgreSQL for the whole test run, and a fresh database from it for whoever asks.
// It starts on the first createTestDatabase() call, so runs without database tests never pay
// for it. TEST_DATABASE_URL points the run at an existing server instead (its user needs
// CREATEDB); databases made there are dropped at the end. TKE_TEST_PG_LOG=1 streams the
// server log to stderr, TKE_TEST_KEEP=1 keeps its directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../pkg/storage/embedded.ts';

interface TestServer {
  /** A URL with rights to create databases. */
  adminUrl: string;
  stop(): Promise<void>;
}

let server: Promise<TestServer> | undefined;
let tempDir: string | undefined;
const created: string[] = [];
let seq = 0;
/** CREATE DATABASE copies template1; one at a time avoids "template1 is being accessed". */
let createChain: Promise<unknown> = Promise.resolve();

async function startServer(): Promise<TestServer> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    return { adminUrl: external, stop: async () => {} };
  }
  tempDir = mkdtempSync(path.join(os.tmpdir(), 'tke-test-pg-'));
  const dir = tempDir;
  // If the run dies without afterAll, at least the files go.
  if (!process.env.TKE_TEST_KEEP) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const pgServer = await startEmbeddedPostgres(path.join(dir, 'data'), {
    log: process.env.TKE_TEST_PG_LOG ? (msg, fields) => process.stderr.write(`[postgres] ${msg} ${fields ? JSON.stringify(fields) : ''}\n`) : undefined,
    // A throwaway cluster: durability buys nothing and costs an fsync per commit.
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=500'],
  });
  return { adminUrl: pgServer.databaseUrl, stop: () => pgServer.stop() };
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates an empty database with a unique name and returns its URL. */
export async function createTestDatabase(): Promise<string> {
  server ??= startServer();
  let s: TestServer;
  try {
    s = await server;
  } catch (err) {
    server = undefined;
    throw err;
  }
  const name = `tke_test_${process.pid}_${++seq}_${randomBytes(3).toString('hex')}`;
  const run = createChain.then(async () => {
    const client = new pg.Client({ connectionString: s.adminUrl });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
  });
  createChain = run.catch(() => {});
  await run;
  created.push(name);
  return withDatabase(s.adminUrl, name);
}

/** Drops what this run created (external server) or stops and removes the embedded one. */
export async function stopTestPostgres(): Promise<void> {
  if (!server) return;
  const pending = server;
  server = undefined;
  let s: TestServer;
  try {
    s = await pending;
  } catch {
    return;
  }
  if (process.env.TEST_DATABASE_URL) {
    const client = new pg.Client({ connectionString: s.adminUrl });
    await client.connect();
    try {
      for (const name of created.splice(0)) {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      }
    } finally {
      await client.end();
    }
    return;
  }
  await s.stop();
  if (tempDir && !process.env.TKE_TEST_KEEP) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}
