/** A process whose embedded engine is the scratch engine cannot open a target in process. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedDriver, EngineRoleError, embeddedRole } from '../../src/engine/embedded.js';

describe('the scratch role, then a target in the same process', () => {
  const parent = mkdtempSync(join(tmpdir(), 'chpipe-roles-'));
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it('refuses the target with an internal error and keeps the scratch engine working', async () => {
    const scratch = await EmbeddedDriver.scratch();
    expect(embeddedRole()).toBe('scratch');
    expect(scratch.temporary).toBe(true);
    await scratch.exec('CREATE DATABASE IF NOT EXISTS roles_probe');

    const dataDir = join(parent, 'data');
    const refused = await EmbeddedDriver.open(dataDir).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EngineRoleError);
    expect((refused as Error).message).toBe(
      `internal error: this process runs the scratch engine (${scratch.target}), so it cannot also open the target ${dataDir} in process; open a target with openTarget(), which runs it in an engine process of its own`,
    );
    expect(existsSync(dataDir)).toBe(false);

    // Also once the scratch driver is released: the role belongs to the process, not to a driver.
    await scratch.close();
    await expect(EmbeddedDriver.open(scratch.target)).rejects.toThrow(EngineRoleError);

    const again = EmbeddedDriver.scratchSync();
    expect(again.target).toBe(scratch.target);
    expect(again.querySync("SELECT name FROM system.databases WHERE name = 'roles_probe'")).toEqual([{ name: 'roles_probe' }]);
    await again.close();
  });
});
