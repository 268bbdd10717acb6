// The Store conformance suite (test/support/storeconformance.ts) against the PostgreSQL store:
// each open() is a new database of the test PostgreSQL, so every store starts empty.
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../pkg/storage/postgres.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { runStoreConformance } from '../support/storeconformance.ts';

runStoreConformance('PostgreSQL', async () => {
  const databaseUrl = await createTestDatabase();
  const opts: PostgresStoreOptions = { databaseUrl, compactionIntervalMs: 0 };
  const store = await openPostgresStore(opts);
  const peers: PostgresStore[] = [];
  return {
    store,
    // A second server process on the same database: its own pool, change feed and watch cache.
    peer: async () => {
      const p = await openPostgresStore({ ...opts, migrate: false });
      peers.push(p);
      return p;
    },
    compact: () => store.compact({ retainRevisions: 0 }),
    cleanup: async () => {
      for (const p of peers.splice(0)) await p.close();
      await store.close();
    },
  };
});
