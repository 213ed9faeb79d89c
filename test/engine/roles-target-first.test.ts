/**
 * A process holding a target in process (what an engine process does) cannot
 * run a scratch engine: the scratch engine never attaches to a session on real
 * data, so validation cannot drop the target's database. (Before the fix, the
 * scratch engine reused this session and `validate` deleted `analytics`.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateProject } from '../../src/check/validate.js';
import { loadProject } from '../../src/cli/project.js';
import { EmbeddedDriver, EngineRoleError, embeddedRole } from '../../src/engine/embedded.js';
import { tempProject } from '../helpers/cli.js';

describe('a target in process, then the scratch engine', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chpipe-roles-target-'));
  const project = tempProject({
    'schemas/api_latency.yaml': ['name: api_latency', 'source: { topic: api, format: CSV }', 'columns:', '  api_id: Int32', '  time_taken: Int32', 'table:', '  order_by: [api_id]', ''].join('\n'),
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(project, { recursive: true, force: true });
  });

  it('refuses the scratch engine, and validation cannot touch the target', async () => {
    const target = await EmbeddedDriver.open(dataDir);
    expect(embeddedRole()).toBe('target');
    expect(target.temporary).toBe(false);
    await target.exec('CREATE DATABASE analytics');
    await target.exec('CREATE TABLE analytics.api_latency (api_id Int32, time_taken Int32) ENGINE = MergeTree ORDER BY api_id');
    await target.exec('INSERT INTO analytics.api_latency VALUES (1, 10), (2, 20)');

    expect(() => EmbeddedDriver.scratchSync()).toThrow(EngineRoleError);
    await expect(EmbeddedDriver.scratch()).rejects.toThrow(
      `internal error: this process holds a target engine on ${dataDir}, so it cannot also run a scratch engine (it would share the target's session); a target runs in an engine process of its own (openTarget)`,
    );

    const spec = loadProject(join(project, 'chpipe.yaml')).project;
    if (!spec) throw new Error('the project did not load');
    expect(spec.database).toBe('analytics');
    await expect(validateProject(spec)).rejects.toThrow(EngineRoleError);

    expect(await target.query('SELECT api_id, time_taken FROM analytics.api_latency ORDER BY api_id')).toEqual([
      { api_id: 1, time_taken: 10 },
      { api_id: 2, time_taken: 20 },
    ]);
    await target.close();
  });
});
