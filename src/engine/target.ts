/**
 * Targets: the engines chpipe applies to. An embedded target (the project's
 * `.chpipe/` data or any folder) always runs in an engine process of its own,
 * never in the calling process, whose embedded engine is the scratch engine
 * (see `embedded.ts`): the two never share a session.
 */
import { ProcessDriver, type EngineProcessOptions } from './process.js';

export type TargetOptions = Omit<EngineProcessOptions, 'dataDir'>;

/** Open the embedded target on a data directory (created if missing), in an engine process; `close()` stops it. */
export async function openTarget(dataDir: string, options: TargetOptions = {}): Promise<ProcessDriver> {
  return ProcessDriver.start({ ...options, dataDir });
}
