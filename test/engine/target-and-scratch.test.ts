/**
 * Defect 8 of issue 6: with a target engine open, `validate` and `plan` in the
 * same process used to run the scratch engine's `DROP DATABASE` on the
 * target's session. A target now runs in an engine process of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateProject } from '../../src/check/validate.js';
import { loadProject } from '../../src/cli/project.js';
import { EmbeddedDriver, embeddedRole } from '../../src/engine/embedded.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import { computePlan } from '../../src/migrate/planner.js';
import { tempProject } from '../helpers/cli.js';
import { stop } from './pids.js';

const ROWS = [
  { api_id: 1, time_taken: 120 },
  { api_id: 2, time_taken: 45 },
  { api_id: 3, time_taken: 300 },
];

describe('a target with data, then validate and plan in the same process', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chpipe-target-'));
  // The declared project uses the target's database and the target's table name.
  const project = tempProject({
    'schemas/api_latency.yaml': ['name: api_latency', 'source: { topic: api, format: CSV }', 'columns:', '  api_id: Int32', '  time_taken: Int32', 'table:', '  order_by: [api_id]', ''].join('\n'),
  });
  let target: ProcessDriver | undefined;

  beforeAll(async () => {
    target = await openTarget(dataDir);
    await target.exec('CREATE DATABASE analytics');
    await target.exec('CREATE TABLE analytics.api_latency (api_id Int32, time_taken Int32) ENGINE = MergeTree ORDER BY api_id');
    await target.exec('CREATE TABLE analytics.keep_me (x UInt8) ENGINE = MergeTree ORDER BY x');
    await target.exec(`INSERT INTO analytics.api_latency VALUES ${ROWS.map((r) => `(${r.api_id}, ${r.time_taken})`).join(', ')}`);
  });

  afterAll(async () => {
    const pid = target?.pid;
    await target?.close();
    stop(pid);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(project, { recursive: true, force: true });
  });

  it('leaves the target with its tables and exactly its rows', async () => {
    const loaded = loadProject(join(project, 'chpipe.yaml'));
    expect(loaded.diagnostics).toEqual([]);
    const spec = loaded.project;
    if (!spec) throw new Error('the project did not load');
    expect(spec.database).toBe('analytics');

    const validation = await validateProject(spec);
    expect(validation.diagnostics).toEqual([]);
    expect(validation.declared?.objects.map((o) => o.name)).toContain('api_latency');

    const plan = await computePlan(spec, [], 'migrations');
    expect(plan.diagnostics).toEqual([]);
    expect(plan.steps.length).toBeGreaterThan(0);

    // This process's engine is the scratch engine, on a temporary directory of its own:
    // it holds the declared objects (empty), never the target's.
    expect(embeddedRole()).toBe('scratch');
    const scratch = await EmbeddedDriver.scratch();
    try {
      expect(scratch.temporary).toBe(true);
      expect(scratch.target).not.toBe(target?.target);
      expect(await scratch.query('SELECT count() AS n FROM analytics.api_latency')).toEqual([{ n: 0 }]);
      expect(await scratch.query("SELECT name FROM system.tables WHERE database = 'analytics' AND name = 'keep_me'")).toEqual([]);
    } finally {
      await scratch.close();
    }

    const t = target as ProcessDriver;
    expect(await t.query("SELECT name, engine FROM system.tables WHERE database = 'analytics' ORDER BY name")).toEqual([
      { name: 'api_latency', engine: 'MergeTree' },
      { name: 'keep_me', engine: 'MergeTree' },
    ]);
    expect(await t.query('SELECT api_id, time_taken FROM analytics.api_latency ORDER BY api_id')).toEqual(ROWS);
  });
});
