// Mocha root hooks (loaded through .mocharc.json `require`) shared by every test file.
import { stopKubeControlPlane } from './kube.ts';
import { stopTestPostgres } from './postgres.ts';

export const mochaHooks = {
  beforeAll(): void {
    // Nothing to prepare: the test PostgreSQL starts on first use (createTestDatabase), so
    // unit-only runs stay fast.
  },
  async afterAll(): Promise<void> {
    // The control plane's tke-apiserver uses the test PostgreSQL: it goes first.
    try {
      await stopKubeControlPlane();
    } finally {
      await stopTestPostgres();
    }
  },
};
