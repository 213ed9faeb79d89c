/**
 * A vitest setup file (vitest.config.ts `setupFiles`). Vitest ends each forked
 * worker with SIGTERM, and node's default for SIGTERM is to die without
 * running 'exit' hooks: the scratch engine's temporary data directory (removed
 * at exit by src/engine/embedded.ts) would be left in the temp folder, and
 * engine processes (src/engine/process.ts) would not be told to stop. Exit
 * normally instead, so those hooks run.
 */
process.once('SIGTERM', () => process.exit(143));
