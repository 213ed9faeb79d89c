import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The embedded engine is a process singleton: one test file per worker process.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Workers exit normally on vitest's SIGTERM, so exit hooks run (the scratch engine's temp folder is removed).
    setupFiles: ['test/engine/exit-on-sigterm.ts'],
  },
});
