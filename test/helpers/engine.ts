import { afterAll, beforeAll } from 'vitest';
import { EmbeddedDriver } from '../../src/engine/embedded.js';

/** The embedded engine for the tests of one describe block: opened before them, released after. */
export function useScratchEngine(): () => EmbeddedDriver {
  let driver: EmbeddedDriver | undefined;
  beforeAll(async () => {
    driver = await EmbeddedDriver.scratch();
  });
  afterAll(async () => {
    await driver?.close();
  });
  return () => driver as EmbeddedDriver;
}
