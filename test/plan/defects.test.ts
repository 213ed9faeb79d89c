/**
 * Issue 6's defects, each end to end on the embedded engine with rows in the
 * tables: the planned statements are run, and what they did to the data is
 * checked — not only the labels.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Scratch } from '../../src/check/scratch.js';
import { splitStatements } from '../../src/sql/parse.js';
import { outline, project, type Project } from '../helpers/plan.js';

const JSON_SEED = `name: api_latency
source: { topic: api, format: JSONEachRow }
columns:
  api_id: Int32
  duration_ms: UInt32
table:
  order_by: [api_id]
`;

let scratch: Scratch | undefined;
async function engine(): Promise<Scratch> {
  scratch ??= await Scratch.open();
  return scratch;
}
afterAll(async () => {
  await scratch?.close();
});

function migrationStatements(p: Project): string[] {
  const dir = join(p.dir, 'migrations');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .flatMap((f) => splitStatements(readFileSync(join(dir, f), 'utf8')).map((s) => s.sql));
}

/** A fresh engine holding the project's saved migrations, plus rows. */
async function baseWithRows(statements: readonly string[], rows: string): Promise<Scratch> {
  const s = await engine();
  await s.reset({ database: 'analytics' });
  for (const sql of statements) await s.run(sql);
  await s.driver.exec(`INSERT INTO analytics.api_latency ${rows}`);
  return s;
}

async function rows(s: Scratch, sql: string): Promise<unknown[]> {
  return s.driver.query(sql);
}

describe('defect 1: a rename keeps every value and keeps reading the same message field', () => {
  it('renamed_from: the table column is renamed in place, the queue still parses duration_ms, values are kept', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED });
    await p.save('base');
    const base = migrationStatements(p);
    p.write('schemas/a.yaml', JSON_SEED.replace('  duration_ms: UInt32\n', '  duration: { type: UInt32, renamed_from: duration_ms }\n'));
    const planned = await p.save('rename');
    expect(outline(planned)).toEqual(['stop safe api_latency_mv', 'alter safe api_latency', 'start safe api_latency_mv']);
    const s = await baseWithRows(base, 'VALUES (1, 100), (2, 250)');
    for (const step of planned.steps) await s.run(step.sql);
    expect(await rows(s, 'SELECT api_id, duration FROM analytics.api_latency ORDER BY api_id')).toEqual([
      { api_id: 1, duration: 100 },
      { api_id: 2, duration: 250 },
    ]);
    // The queue (its side table on the scratch engine) still parses the message field duration_ms.
    const queue = (await s.inspect({ database: 'analytics' })).model.objects.find((o) => o.name === 'api_latency_queue');
    expect(queue?.kind === 'kafka' ? queue.columns.map((c) => c.name) : []).toEqual(['api_id', 'duration_ms']);
    expect(planned.steps[2]?.sql).toMatch(/duration_ms AS duration/);
  });

  it('field: names the message field apart from the column', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED.replace('  duration_ms: UInt32\n', '  duration: { type: UInt32, field: durationMs }\n') });
    const first = await p.save('base');
    const queue = first.declared?.objects.find((o) => o.name === 'api_latency_queue');
    expect(queue?.kind === 'kafka' ? queue.columns.map((c) => c.name) : []).toEqual(['api_id', 'durationMs']);
    const table = first.declared?.objects.find((o) => o.name === 'api_latency');
    expect(table?.kind === 'table' ? table.columns.map((c) => c.name) : []).toEqual(['api_id', 'duration']);
    // Changing the field a column reads is a change of meaning: caution.
    p.write('schemas/a.yaml', JSON_SEED.replace('  duration_ms: UInt32\n', '  duration: { type: UInt32, field: duration_ms }\n'));
    const changed = await p.plan();
    expect(outline(changed)).toContain('start caution api_latency_mv');
  });
});

describe('defect 4: environment values stay references in migrations', () => {
  const yaml = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: ${CHPIPE_TEST_BROKERS:-localhost:9092}\n';

  it('the migration holds ${VAR:-default}, names it in its header, and another environment plans no change', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED }, yaml);
    await p.save('base');
    const text = readFileSync(join(p.dir, 'migrations/0001_base.sql'), 'utf8');
    expect(text).toContain("kafka_broker_list = '${CHPIPE_TEST_BROKERS:-localhost:9092}'");
    expect(text).toMatch(/^-- environment: CHPIPE_TEST_BROKERS /m);
    process.env.CHPIPE_TEST_BROKERS = 'kafka-prod-1:9092,kafka-prod-2:9092';
    try {
      expect(outline(await p.plan())).toEqual([]);
    } finally {
      delete process.env.CHPIPE_TEST_BROKERS;
    }
  });
});

describe('defect 5: changes that used to fail to plan', () => {
  it('the type of an ORDER BY column changes: a rebuild (destructive), with the values converted', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED });
    await p.save('base');
    const base = migrationStatements(p);
    p.write('schemas/a.yaml', JSON_SEED.replace('api_id: Int32', 'api_id: Int64'));
    const planned = await p.save('key_type');
    expect(outline(planned)).toContain('swap destructive api_latency');
    expect(planned.steps[0]?.reason).toMatch(/the type of a key column of api_latency cannot be altered/);
    const s = await baseWithRows(base, 'VALUES (1, 100), (2, 250)');
    for (const step of planned.steps) await s.run(step.sql);
    expect(await rows(s, "SELECT toTypeName(api_id) AS t, count() AS n FROM analytics.api_latency GROUP BY t")).toEqual([{ t: 'Int64', n: 2 }]);
  });

  it('database: changes — refused at the database line with what to do instead, never "please report it"', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED });
    await p.save('base');
    p.write('chpipe.yaml', 'version: 1\ndatabase: analytics2\nkafka:\n  brokers: localhost:9092\n');
    const result = await p.plan();
    expect(result.diagnostics).toHaveLength(1);
    const d = result.diagnostics[0];
    expect(d).toMatchObject({ line: 2, col: 11, code: 'database-changed' });
    expect(d?.message).toMatch(/database changes from analytics to analytics2/);
    expect(d?.message).toMatch(/consumer groups/);
    expect(d?.hint).toMatch(/keep database: analytics/);
    expect(JSON.stringify(d)).not.toMatch(/please report/);
  });
});

describe('defect 6: every statement is safe to rerun — a rebuild copies each row exactly once', () => {
  it('rerun from the top after an interruption between any two statements: each row once, the new ORDER BY, tagged, no temp table left', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED });
    await p.save('base');
    const base = migrationStatements(p);
    p.write('schemas/a.yaml', JSON_SEED.replace('order_by: [api_id]', 'order_by: [duration_ms, api_id]'));
    const planned = await p.save('rebuild');
    const statements = planned.steps.map((s) => s.sql);
    expect(statements.length).toBeGreaterThanOrEqual(7);
    for (let cut = 0; cut <= statements.length; cut++) {
      const s = await baseWithRows(base, 'SELECT number, number * 10 FROM numbers(1000)');
      for (const sql of statements.slice(0, cut)) await s.run(sql); // interrupted after `cut` statements
      for (const sql of statements) await s.run(sql); // the rerun, from the top
      const [r] = (await rows(s, 'SELECT count() AS n, uniqExact(api_id) AS u, sum(duration_ms) AS total FROM analytics.api_latency')) as { n: number; u: number; total: number }[];
      expect({ cut, ...r }).toEqual({ cut, n: 1000, u: 1000, total: 10 * ((999 * 1000) / 2) });
      const [t] = (await rows(s, "SELECT sorting_key, comment FROM system.tables WHERE database = 'analytics' AND name = 'api_latency'")) as { sorting_key: string; comment: string }[];
      expect(t?.sorting_key).toBe('duration_ms, api_id');
      expect(t?.comment).toMatch(/\[chpipe:api_latency\/table\]$/);
      expect(await rows(s, "SELECT name FROM system.tables WHERE database = 'analytics' AND name LIKE '%chpipe_rebuild%'")).toEqual([]);
    }
  });

  it('the rebuild\'s temporary table carries no ownership tag while it exists', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED });
    await p.save('base');
    p.write('schemas/a.yaml', JSON_SEED.replace('order_by: [api_id]', 'order_by: [duration_ms]'));
    const planned = await p.plan();
    const create = planned.steps.find((s) => s.op.kind === 'createOrReplaceTable');
    expect(create?.sql).not.toMatch(/\[chpipe:/);
  });

  it('a second run of a whole migration changes nothing (every step, every kind)', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED.replace('format: JSONEachRow', 'format: JSONEachRow, on_error: stream') });
    await p.save('base');
    const base = migrationStatements(p);
    p.write('schemas/a.yaml', JSON_SEED.replace('format: JSONEachRow', 'format: JSONEachRow, on_error: stream').replace('  duration_ms: UInt32\n', '  duration_ms: UInt32\n  country: String\n').replace('order_by: [api_id]', 'order_by: [api_id]\n  ttl: toDateTime(api_id) + INTERVAL 100 YEAR'));
    const planned = await p.save('change');
    const s = await baseWithRows(base, 'VALUES (1, 100)');
    for (const step of planned.steps) await s.run(step.sql);
    const once = (await s.inspect({ database: 'analytics' })).model;
    for (const step of planned.steps) await s.run(step.sql);
    expect((await s.inspect({ database: 'analytics' })).model).toEqual(once);
    expect(await rows(s, 'SELECT api_id, duration_ms, country FROM analytics.api_latency')).toEqual([{ api_id: 1, duration_ms: 100, country: '' }]);
  });
});

describe('defect 7: decisions read typed values — a pipeline called `order`', () => {
  it('its publish flow is stopped and restarted around a rebuild of its source', async () => {
    const order = JSON_SEED.replace('name: api_latency', 'name: order');
    const out = 'name: order_out\npublish: { from: order, topic: orders_out }\n';
    const p = project({ 'schemas/a.yaml': order, 'schemas/b.yaml': out });
    await p.save('base');
    p.write('schemas/a.yaml', order.replace('order_by: [api_id]', 'order_by: [duration_ms]'));
    const steps = outline(await p.save('rebuild'));
    expect(steps.filter((s) => s.includes('order_out_mv'))).toEqual(['stop safe order_out_mv', 'start safe order_out_mv']);
    expect(steps.indexOf('start safe order_out_mv')).toBeLessThan(steps.indexOf('start safe order_mv'));
  });
});

describe('defect 9: column order is a diff', () => {
  it('moving a column is a metadata-only MODIFY COLUMN ... AFTER, safe, and the plan after it is empty', async () => {
    const p = project({ 'schemas/a.yaml': JSON_SEED.replace('  duration_ms: UInt32\n', '  duration_ms: UInt32\n  country: String\n') });
    await p.save('base');
    p.write('schemas/a.yaml', JSON_SEED.replace('  api_id: Int32\n', '  country: String\n  api_id: Int32\n'));
    const planned = await p.save('move');
    expect(outline(planned).filter((s) => s.startsWith('alter'))).toContain('alter safe api_latency');
    expect(planned.steps.some((s) => s.op.kind === 'alter' && s.op.alter.kind === 'moveColumn')).toBe(true);
  });
});
