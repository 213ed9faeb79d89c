/**
 * The version matrix as targets: `applyMigrations` runs the repository's
 * migrations/ on ClickHouse 24.8 and 25.8 (the PyPI wheels, each in an engine
 * process) and 26.7 (chpipe's own engine process, for contrast), each on a
 * fresh data directory, and `targetStatus` then finds every migration applied
 * and no drift: the target's objects, read on an older engine, compare equal
 * once normalized on the scratch engine (26.7, in this process). A manual
 * ALTER on the target is exactly one drift entry; a history with a rebuild
 * and a queue recreate (made by the planner) applies on every version with no
 * drift after and its rows kept.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scratch } from '../../src/check/scratch.js';
import { applyMigrations, type ApplyOptions } from '../../src/migrate/apply.js';
import { readMigrationDir } from '../../src/migrate/dir.js';
import type { MigrationFile } from '../../src/migrate/files.js';
import { targetStatus } from '../../src/migrate/status.js';
import type { Placement } from '../../src/model/model.js';
import { ROOT } from '../helpers/cli.js';
import { project } from '../helpers/plan.js';
import { MATRIX_SETUP_TIMEOUT_MS, startTarget, type MatrixEngine } from './engines.js';

const MATRIX = ['24.8', '25.8', '26.7'] as const;
/** chpipe.yaml's database. */
const PLACEMENT: Placement = { database: 'analytics' };
/** Nothing listens on port 9: a Kafka table on the target starts a consumer that never connects. */
const ENV = { KAFKA_BROKERS: '127.0.0.1:9' };
const LOCK = { waitMs: 0, ttlMs: 120_000, command: 'test' };

function applyOptions(driver: MatrixEngine['driver'], placement: Placement, files: readonly MigrationFile[], env: Record<string, string>): ApplyOptions {
  return { driver, placement, files, dirDisplay: 'migrations', env, chpipeVersion: 'test', lock: LOCK };
}

/** The scratch engine (26.7, in this process) is shared by every status: the tests run one after another. */
let scratch: Scratch;

beforeAll(async () => {
  scratch = await Scratch.open();
});

describe.each(MATRIX)('version matrix: apply migrations/, then status, on ClickHouse %s', (label) => {
  const files = readMigrationDir(join(ROOT, 'migrations')).files;
  let target: MatrixEngine;

  beforeAll(async () => {
    target = await startTarget(label);
  }, MATRIX_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await target?.stop();
  }, 60_000);

  const status = () => targetStatus({ driver: target.driver, scratch, placement: PLACEMENT, files, dirDisplay: 'migrations', env: ENV });

  it('applies every migration on a fresh data dir, and a second apply applies nothing', async () => {
    expect(files.length).toBeGreaterThan(0);
    expect(target.version.startsWith(`${label}.`)).toBe(true);
    const first = await applyMigrations(applyOptions(target.driver, PLACEMENT, files, ENV));
    expect(first.applied.map((m) => m.file)).toEqual(files.map((f) => f.file));
    expect(first.alreadyApplied).toBe(0);
    const second = await applyMigrations(applyOptions(target.driver, PLACEMENT, files, ENV));
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toBe(files.length);
  });

  it('status: every migration applied, no drift', async () => {
    const s = await status();
    expect(s.serverVersion).toBe(target.version);
    expect(s.problems).toEqual([]);
    expect(s.migrations.map((m) => `${m.file} ${m.state}`)).toEqual(files.map((f) => `${f.file} applied`));
    expect(s.drift).toEqual([]);
    expect(s.stateQueries).toBe(2);
  });

  it('a manual ADD COLUMN on the target is exactly one drift entry', async () => {
    await target.driver.exec('ALTER TABLE analytics.api_latency ADD COLUMN note String');
    const s = await status();
    expect(s.drift).toEqual([{ object: 'analytics.api_latency', detail: 'column note String exists on the target only' }]);
    expect(s.migrations.every((m) => m.state === 'applied')).toBe(true);
  });

  it("a flow's filter changed on the target is drift: the SELECTs still compare", async () => {
    // The migration's query with the filter reversed, written without the parentheses chpipe writes.
    await target.driver.exec(
      "ALTER TABLE analytics.app_logs_mv MODIFY QUERY SELECT ts, service, level, message, host, toDate(ts) AS day, _partition AS kafka_partition, _offset AS kafka_offset FROM analytics.app_logs_hub WHERE _error != ''",
    );
    const s = await status();
    expect(s.drift).toEqual([
      { object: 'analytics.api_latency', detail: 'column note String exists on the target only' },
      { object: 'analytics.app_logs_mv', detail: 'its SELECT differs' },
    ]);
  });
});

/** A rebuild (new ORDER BY: new table, copy, EXCHANGE, drop) then a queue recreate (a new field end to end). */
const ORDERS_PROJECT = `version: 1
database: shop
kafka:
  brokers: 127.0.0.1:9
`;
const V1 = `name: orders
source: { topic: orders, format: JSONEachRow }
columns:
  id: UInt64
  amount: Int32
table:
  order_by: [id]
`;
const V2 = V1.replace('order_by: [id]', 'order_by: [amount, id]');
const V3 = V2.replace('  amount: Int32\n', '  amount: Int32\n  country: String\n');
const ROWS = 1000;

describe('version matrix: a rebuild and a queue recreate, applied on each version', () => {
  const placement: Placement = { database: 'shop' };
  let history: readonly MigrationFile[] = [];
  const kinds: string[][] = [];

  beforeAll(async () => {
    const p = project({ 'schemas/orders.yaml': V1 }, ORDERS_PROJECT);
    await p.save('initial');
    p.write('schemas/orders.yaml', V2);
    kinds.push((await p.save('reorder')).steps.map((s) => s.op.kind));
    p.write('schemas/orders.yaml', V3);
    kinds.push((await p.save('add_country')).steps.map((s) => s.op.kind));
    history = readMigrationDir(join(p.dir, 'migrations')).files;
  }, 120_000);

  it('the history rebuilds a table, then recreates a queue', () => {
    expect(history.map((f) => f.file)).toEqual(['0001_initial.sql', '0002_reorder.sql', '0003_add_country.sql']);
    const [reorder, addCountry] = kinds;
    expect(reorder).toEqual(expect.arrayContaining(['createOrReplaceTable', 'copyRows', 'exchange']));
    // The queue (Kafka table) is dropped and created again: it cannot be altered.
    expect(addCountry).toEqual(expect.arrayContaining(['alter', 'drop', 'create']));
  });

  for (const label of MATRIX) {
    it(`on ClickHouse ${label}: applied after rows were stored, no drift, every row kept`, async () => {
      const target = await startTarget(label);
      try {
        const initial = await applyMigrations(applyOptions(target.driver, placement, history.slice(0, 1), {}));
        expect(initial.applied.map((m) => m.file)).toEqual(['0001_initial.sql']);
        await target.driver.exec(`INSERT INTO shop.orders (id, amount) SELECT number, toInt32(number % 97) FROM numbers(${ROWS})`);
        const later = await applyMigrations(applyOptions(target.driver, placement, history, {}));
        expect(later.applied.map((m) => m.file)).toEqual(['0002_reorder.sql', '0003_add_country.sql']);
        expect(later.alreadyApplied).toBe(1);

        const s = await targetStatus({ driver: target.driver, scratch, placement, files: history, dirDisplay: 'migrations', env: {} });
        expect(s.migrations.map((m) => `${m.file} ${m.state}`)).toEqual(history.map((f) => `${f.file} applied`));
        expect(s.drift).toEqual([]);

        const [rows] = await target.driver.query<{ rows: string; ids: string; key: string }>(
          "SELECT toString(count()) AS rows, toString(uniqExact(id)) AS ids, (SELECT sorting_key FROM system.tables WHERE database = 'shop' AND name = 'orders') AS key FROM shop.orders",
        );
        expect(rows).toEqual({ rows: String(ROWS), ids: String(ROWS), key: 'amount, id' });
      } finally {
        await target.stop();
      }
    }, 300_000);
  }
});
