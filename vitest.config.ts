import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The embedded engine is a process singleton: one test file per worker process.
    pool: 'forks',
    // One worker per core: vitest's default (cores - 1) runs every file one after another on a 2-core machine.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Workers exit normally on vitest's SIGTERM, so exit hooks run (the scratch engine's temp folder is removed).
    setupFiles: ['test/engine/exit-on-sigterm.ts'],
    projects: [
      { extends: true, test: { name: 'core', include: ['test/**/*.test.ts'], exclude: ['test/kafka/**', 'test/matrix/**', 'test/server/**', 'test/cluster/**', 'test/plan/scenarios.test.ts'] } },
      // Files under test/cluster/ run on 2 shards × 2 replicas of embedded engines sharing one real ZooKeeper,
      // started by this project's globalSetup only when one of them is in the run (docs/cluster.md).
      { extends: true, test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], globalSetup: ['test/cluster/global-setup.ts'] } },
      // Files under test/kafka/ run against one real Kafka broker, started by this
      // project's globalSetup only when one of them is in the run.
      { extends: true, test: { name: 'kafka', include: ['test/kafka/**/*.test.ts'], globalSetup: ['test/kafka/global-setup.ts'] } },
      // Files under test/server/ run against one real ClickHouse server (Debian's clickhouse-server 18.16, installed
      // with apt-get when missing), started by this project's globalSetup only when one of them is in the run.
      { extends: true, test: { name: 'server', include: ['test/server/**/*.test.ts'], globalSetup: ['test/server/global-setup.ts'] } },
      // The version matrix (ClickHouse 24.8 and 25.8 in Python virtualenvs that `npm test` starts creating
      // before it builds) runs after the other projects, by when a first run's virtualenvs are ready; the
      // plan scenarios end by replaying every migration they saved on it, so they run in this group too.
      { extends: true, test: { name: 'matrix', include: ['test/matrix/**/*.test.ts', 'test/plan/scenarios.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
