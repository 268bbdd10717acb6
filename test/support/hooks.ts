// Mocha root hooks (loaded through .mocharc.json `require`) shared by every test file.
import { stopTestPostgres } from './postgres.ts';

export const mochaHooks = {
  beforeAll(): void {
    // Nothing to prepare: the test PostgreSQL starts on first use (createTestDatabase), so
    // unit-only runs stay fast.
  },
  async afterAll(): Promise<void> {
    await stopTestPostgres();
  },
};
