import { defineConfig } from 'vitest/config'

// One config, four tiers. Tiers that talk to real servers share one set of private servers per run
// (test/support/services/global-setup.ts); each test file takes its own database, key prefix or stream.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Black-box tests of the shop over HTTP; each starts the demo as a child process.
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 60_000 } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/contract/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/chaos/**/*.test.ts'],
          globalSetup: ['test/support/services/global-setup.ts'],
        },
      },
    ],
  },
})
