/**
 * vitest globalSetup of the `kafka` project: one real broker for the whole
 * run, started only when a file under test/kafka/ is run (vitest initializes a
 * project's globalSetup only for projects with files in the run), stopped by
 * its PID at the end and on SIGINT/SIGTERM/SIGHUP.
 */
import type { TestProject } from 'vitest/node';
import { startBroker, type Broker } from './broker.js';
import { produceProbe } from '../helpers/kafka.js';

let broker: Broker | undefined;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(signal: NodeJS.Signals): void {
  // The harness's own exit hook kills the broker by its PID and removes its log dir.
  process.exitCode = 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1);
  process.exit();
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  for (const s of SIGNALS) process.once(s, onSignal);
  broker = await startBroker({ ready: produceProbe, log: (line) => console.log(`[kafka] ${line}`) });
  project.provide('kafkaBootstrap', broker.bootstrap);
  return async () => {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    await broker?.stop();
    broker = undefined;
  };
}
