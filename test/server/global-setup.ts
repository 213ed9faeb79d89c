/**
 * vitest globalSetup of the `server` project: one Debian ClickHouse 18.16
 * server (test/server/clickhouse-18.ts) for the whole run, started only when a
 * file under test/server/ is in the run, stopped by its PID at the end and on
 * SIGINT/SIGTERM/SIGHUP. Its address reaches the tests through `provide`.
 */
import type { TestProject } from 'vitest/node';
import { startClickHouse18, type ClickHouse18 } from './clickhouse-18.js';

let server: ClickHouse18 | undefined;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(signal: NodeJS.Signals): void {
  // The harness's own exit hook kills the server by its PID and removes its dir.
  process.exitCode = 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1);
  process.exit();
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  for (const s of SIGNALS) process.once(s, onSignal);
  server = await startClickHouse18({ log: (line) => console.log(`[clickhouse-18] ${line}`) });
  project.provide('clickhouse18', { url: server.url, httpPort: server.httpPort, tcpPort: server.tcpPort });
  return async () => {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    await server?.stop();
    server = undefined;
  };
}
