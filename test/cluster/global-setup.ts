/**
 * vitest globalSetup of the `cluster` project: one real ZooKeeper for the run,
 * started only when a file under test/cluster/ is run, stopped by its PID at
 * the end and on SIGINT/SIGTERM/SIGHUP.
 */
import type { TestProject } from 'vitest/node';
import { startZooKeeper, type ZooKeeper } from './zookeeper.js';

let zookeeper: ZooKeeper | undefined;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(signal: NodeJS.Signals): void {
  // The harness's own exit hook kills ZooKeeper by its PID and removes its folder.
  process.exitCode = 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1);
  process.exit();
}

declare module 'vitest' {
  export interface ProvidedContext {
    zookeeperPort: number;
  }
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  for (const s of SIGNALS) process.once(s, onSignal);
  zookeeper = await startZooKeeper((line) => console.log(`[zookeeper] ${line}`));
  project.provide('zookeeperPort', zookeeper.port);
  return async () => {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    await zookeeper?.stop();
    zookeeper = undefined;
  };
}
