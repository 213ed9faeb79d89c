/**
 * `chpipe apply`, `status` and `check` against a target, the same suite
 * through both drivers (the embedded default, and `chpipe serve` over HTTP):
 * apply from empty; nothing pending on rerun; kill -9 after each statement of
 * a migration that rebuilds a table and one that recreates a queue, then a
 * rerun reaches the declared state with each row once; two applies at once;
 * the lock's holder and its takeover; an edited applied migration; drift
 * after a manual ALTER; a migration that fails half way and continues after
 * a fix. The migrations are made by the real planner from YAML.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Driver } from '../../src/engine/driver.js';
import { inspectDatabase } from '../../src/inspect/inspect.js';
import { parseMigration } from '../../src/migrate/files.js';
import type { Placement } from '../../src/model/model.js';
import { createLockTable } from '../../src/sql/history.js';
import { tempDir } from '../helpers/cli.js';
import { project } from '../helpers/plan.js';
import { TestTarget, type Via } from './target.js';

const DATABASE = 'metrics-prod';
const PLACEMENT: Placement = { database: DATABASE };
const Q = '`metrics-prod`';
const PROJECT_YAML = `version: 1
database: ${DATABASE}
kafka:
  brokers: \${TEST_KAFKA_BROKERS:-127.0.0.1:9}
`;

const V1 = `name: orders
source: { topic: orders, format: JSONEachRow }
columns:
  id: UInt64
  amount: Int32
table:
  order_by: [id]
`;
/** A new ORDER BY: the table is rebuilt (new table, copy, EXCHANGE, drop). */
const V2 = V1.replace('order_by: [id]', 'order_by: [amount, id]');
/** A column end to end: ADD COLUMN, stop the flow, recreate the queue, start the flow. */
const V3 = V2.replace('  amount: Int32\n', '  amount: Int32\n  country: String\n');

const ROWS = 1000;
/** sum(amount) of the rows inserted: amount = number % 97. */
const ROWS_TOTAL = Array.from({ length: ROWS }, (_, i) => i % 97).reduce((a, b) => a + b, 0);
/** Kill cases run at once: they mostly wait on ClickHouse, not on the CPU. */
const KILL_CASES_AT_ONCE = 4;
/** A case waits on ClickHouse (up to 15 s per stopped flow) while others run beside it. */
const CASE_TIMEOUT_MS = 300_000;

/** Run `work` on every item, at most `limit` at a time; the results in item order. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

interface Fixture {
  /** A project with all three migrations. */
  readonly full: string;
  /** Its migrations folder with the first migration only (and its chpipe.sum). */
  readonly initialOnly: string;
  /** Statements of 0002 + 0003: the kill points. */
  readonly laterStatements: number;
}

async function buildFixture(): Promise<Fixture> {
  const p = project({ 'schemas/orders.yaml': V1 }, PROJECT_YAML);
  await p.save('initial');
  const initialOnly = tempDir('chpipe-initial-');
  cpSync(join(p.dir, 'migrations'), initialOnly, { recursive: true });
  p.write('schemas/orders.yaml', V2);
  await p.save('reorder');
  p.write('schemas/orders.yaml', V3);
  await p.save('add_country');
  const later = ['0002_reorder.sql', '0003_add_country.sql'].map((f) => parseMigration(readFileSync(join(p.dir, 'migrations', f), 'utf8')).length);
  return { full: p.dir, initialOnly, laterStatements: later.reduce((a, b) => a + b, 0) };
}

/** A fresh copy of the full project (its own .chpipe/). */
function copyProject(fixture: Fixture, migrations: 'full' | 'initial' = 'full'): string {
  const dir = tempDir('chpipe-apply-');
  for (const f of ['chpipe.yaml', 'schemas', 'migrations']) cpSync(join(fixture.full, f), join(dir, f), { recursive: true });
  if (migrations === 'initial') {
    rmSync(join(dir, 'migrations'), { recursive: true });
    cpSync(fixture.initialOnly, join(dir, 'migrations'), { recursive: true });
  }
  return dir;
}

async function ownedObjects(driver: Driver): Promise<unknown[]> {
  const { model } = await inspectDatabase(driver, PLACEMENT);
  return model.objects.filter((o) => o.owner);
}

async function rowFacts(driver: Driver): Promise<{ rows: string; ids: string; total: string }> {
  const [r] = await driver.query<{ rows: string; ids: string; total: string }>(`SELECT toString(count()) AS rows, toString(uniqExact(id)) AS ids, toString(sum(amount)) AS total FROM ${Q}.orders`);
  return r!;
}

async function historyRows(driver: Driver): Promise<{ version: string; status: string; attempt: number }[]> {
  return driver.query(`SELECT version, status, attempt FROM ${Q}._chpipe_migrations ORDER BY version, attempt, seq`);
}

export function describeApplySuite(via: Via): void {
  // The cases are independent (each has its own project and data) and mostly wait on ClickHouse: they run side by side.
  describe.concurrent(`apply through the ${via} driver`, () => {
    let fixture: Fixture;
    /** The data folder with 0001 applied and ROWS rows in the table. */
    let initialData: string;
    /** Owned objects after every migration, on a clean run: the declared state as this engine reads it back. */
    let declared: unknown[];

    beforeAll(async () => {
      fixture = await buildFixture();
      const dir = copyProject(fixture, 'initial');
      const t = await TestTarget.open(via, dir);
      try {
        const r = await t.cli(['apply']);
        expect(r.stderr + r.stdout, 'apply of 0001').toMatch(/Applied 1 migration/);
        expect(r.code).toBe(0);
        await t.with((d) => d.exec(`INSERT INTO ${Q}.orders (id, amount) SELECT number, toInt32(number % 97) FROM numbers(${ROWS})`));
      } finally {
        await t.close();
      }
      initialData = tempDir('chpipe-initial-data-');
      rmSync(initialData, { recursive: true });
      cpSync(t.dataDir, initialData, { recursive: true });
      rmSync(join(initialData, 'target.lock'), { force: true });

      const clean = await TestTarget.open(via, copyProject(fixture), initialData);
      try {
        const r = await clean.cli(['apply']);
        expect(r.code, r.stderr).toBe(0);
        declared = await clean.with(ownedObjects);
      } finally {
        await clean.close();
      }
      expect(declared.length).toBe(3);
    }, 180_000);

    it('applies from empty, prints what it built, and finds nothing pending on a rerun; status and check agree', async () => {
      const t = await TestTarget.open(via, copyProject(fixture));
      try {
        const first = await t.cli(['apply']);
        expect(first.code, first.stderr).toBe(0);
        expect(first.stdout).toContain('Applied 3 migrations');
        expect(first.stdout).toMatch(/metrics-prod: 1 pipeline, 3 objects\n {2}orders\n {4}orders_queue \(Kafka, topic orders, group chpipe_metrics-prod_orders\)/);
        expect(first.stderr).toMatch(/applied 0003_add_country\.sql in/);
        const again = await t.cli(['apply', '--detailed-exitcode']);
        expect(again.code, again.stderr).toBe(0);
        expect(again.stdout).toContain('Nothing to apply: all 3 migrations are applied');
        const status = await t.cli(['status', '--json']);
        expect(status.code, status.stderr).toBe(0);
        const s = JSON.parse(status.stdout) as { schemaVersion: number; migrations: { version: string; state: string }[]; drift: unknown[]; consumers: unknown[] };
        expect(s.schemaVersion).toBe(1);
        expect(s.migrations.map((m) => `${m.version} ${m.state}`)).toEqual(['0001 applied', '0002 applied', '0003 applied']);
        expect(s.drift).toEqual([]);
        const check = await t.cli(['check']);
        expect(check.code, check.stderr + check.stdout).toBe(0);
        // check looks at a target only when one is named (--url, --env, CHPIPE_URL), as in CI.
        if (via === 'http') expect(check.stdout).toContain('ok: the target matches its applied migrations');
        else expect(check.stdout).not.toContain('target');
        expect(await t.with(historyRows)).toEqual(
          expect.arrayContaining([
            { version: '0001', status: 'applied', attempt: 1 },
            { version: '0002', status: 'applied', attempt: 1 },
            { version: '0003', status: 'applied', attempt: 1 },
          ]),
        );
      } finally {
        await t.close();
      }
    }, CASE_TIMEOUT_MS);

    it("the rebuild's copy, swap, tag and drop are marked to rerun from its CREATE OR REPLACE", () => {
      const text = readFileSync(join(fixture.full, 'migrations/0002_reorder.sql'), 'utf8');
      const marked = text.split('\n').filter((l) => l.startsWith('-- step ') && l.endsWith(' · rerun from step 1'));
      expect(marked.map((l) => l.split(' · ')[1])).toEqual(['copy', 'swap', 'alter', 'drop']);
      expect(text).toMatch(/-- step 1\/\d+ · create · destructive · metrics-prod\.orders__chpipe_rebuild\n/);
    });

    it('dry run: the SQL that would run, nothing changed, exit 2 with --detailed-exitcode', async () => {
      const t = await TestTarget.open(via, copyProject(fixture), initialData);
      try {
        const r = await t.cli(['apply', '--dry-run', '--detailed-exitcode'], { TEST_KAFKA_BROKERS: 'broker-a:9092' });
        expect(r.code, r.stderr).toBe(2);
        expect(r.stdout).toContain('-- 0002_reorder.sql');
        expect(r.stdout).toContain("kafka_broker_list = 'broker-a:9092'");
        expect(r.stdout).not.toContain('${TEST_KAFKA_BROKERS');
        const s = JSON.parse((await t.cli(['status', '--json'])).stdout) as { migrations: { state: string }[] };
        expect(s.migrations.map((m) => m.state)).toEqual(['applied', 'pending', 'pending']);
      } finally {
        await t.close();
      }
    }, CASE_TIMEOUT_MS);

    // kill -9 after each statement of 0002 (a rebuild) and 0003 (a queue recreated), before and after
    // its progress is recorded; the rerun must reach the declared state with each row once. The cases
    // run side by side, each on its own copy: most of their time is ClickHouse waiting (a flow reading a
    // Kafka table takes up to 15 s to stop while its consumer has no partitions assigned).
    for (const recorded of [false, true]) {
      it(`kill -9 after each statement (${recorded ? 'progress recorded' : 'progress not recorded'}), then a rerun: the declared state, each row once, no flow left stopped`, async () => {
        const killCase = async (n: number): Promise<number> => {
          const t = await TestTarget.open(via, copyProject(fixture), initialData);
          try {
            const crash = await t.spawnCli(['apply'], { CHPIPE_TEST_KILL: `${n}${recorded ? ':recorded' : ''}` });
            expect(crash.signal, `statement ${n}: ${crash.stderr}`).toBe('SIGKILL');
            const rerun = await t.spawnCli(['apply', '--lock-timeout', '60']);
            expect(rerun.code, `rerun after statement ${n}: ${rerun.stderr}`).toBe(0);
            await t.with(async (d) => {
              expect(await ownedObjects(d), `objects after kill at statement ${n}`).toEqual(declared);
              expect(await rowFacts(d), `rows after kill at statement ${n}`).toEqual({ rows: String(ROWS), ids: String(ROWS), total: String(ROWS_TOTAL) });
              const tables = await d.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DATABASE}' AND name LIKE '%rebuild%'`);
              expect(tables, `no rebuild table left after kill at statement ${n}`).toEqual([]);
              const history = await historyRows(d);
              expect(history.filter((h) => h.status === 'applied').map((h) => h.version), `history after kill at statement ${n}`).toEqual(['0001', '0002', '0003']);
            });
            return n;
          } finally {
            await t.close();
          }
        };
        const points = Array.from({ length: fixture.laterStatements }, (_, i) => i + 1);
        const done = await inParallel(points, KILL_CASES_AT_ONCE, killCase);
        expect(done).toEqual(points);
      }, 900_000);
    }

    it('two applies at once: one runs each migration, the other waits and finds nothing to do', async () => {
      const t = await TestTarget.open(via, copyProject(fixture), initialData);
      try {
        const [a, b] = await Promise.all([t.spawnCli(['apply', '--lock-timeout', '60']), t.spawnCli(['apply', '--lock-timeout', '60'])]);
        expect(a.code, a.stderr).toBe(0);
        expect(b.code, b.stderr).toBe(0);
        const outputs = [a.stdout, b.stdout];
        expect(outputs.filter((o) => o.includes('Applied 2 migrations')).length).toBe(1);
        expect(outputs.filter((o) => o.includes('Nothing to apply')).length).toBe(1);
        const history = await t.with(historyRows);
        expect(history.filter((h) => h.status === 'applied').map((h) => `${h.version}/${h.attempt}`)).toEqual(['0001/1', '0002/1', '0003/1']);
        expect(await t.with(rowFacts)).toMatchObject({ rows: String(ROWS), ids: String(ROWS) });
      } finally {
        await t.close();
      }
    }, CASE_TIMEOUT_MS);

    it('a held lock: apply waits --lock-timeout, then exits 1 naming the holder; a holder whose process is gone, or silent past the TTL, is taken over', async () => {
      const t = await TestTarget.open(via, copyProject(fixture), initialData);
      try {
        const holder = (pid: number, host: string, heartbeat: string) => JSON.stringify({ id: `test-${pid}-${host}`, host, pid, user: 'tester', command: 'apply', since: heartbeat, heartbeat });
        // Held by a live process on this host (the test itself).
        await t.with((d) => d.exec(createLockTable(PLACEMENT, holder(process.pid, hostname(), new Date().toISOString()))));
        const busy = await t.cli(['apply', '--lock-timeout', '1']);
        expect(busy.code).toBe(1);
        expect(busy.stderr).toContain(`is locked by \`chpipe apply\` (pid ${process.pid} on ${hostname()}`);
        expect(busy.stderr).not.toMatch(/\n\s+at /);
        // Held by another host, fresh: still refused.
        await t.with((d) => d.exec(`DROP TABLE ${Q}._chpipe_lock`));
        await t.with((d) => d.exec(createLockTable(PLACEMENT, holder(4242, 'elsewhere.example', new Date().toISOString()))));
        expect((await t.cli(['apply', '--lock-timeout', '0'])).stderr).toContain('pid 4242 on elsewhere.example');
        // Silent past the TTL (120 s): taken over.
        await t.with((d) => d.exec(`DROP TABLE ${Q}._chpipe_lock`));
        await t.with((d) => d.exec(createLockTable(PLACEMENT, holder(4242, 'elsewhere.example', new Date(Date.now() - 10 * 60_000).toISOString()))));
        const takeover = await t.cli(['apply', '--lock-timeout', '0']);
        expect(takeover.code, takeover.stderr).toBe(0);
        expect(takeover.stdout).toContain('Applied 2 migrations');
        const left = await t.with((d) => d.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DATABASE}' AND startsWith(name, '_chpipe_lock')`));
        expect(left).toEqual([]);
      } finally {
        await t.close();
      }
    }, CASE_TIMEOUT_MS);

    it('an applied migration edited afterwards stops apply, status and check with exit 1, naming the file', async () => {
      const dir = copyProject(fixture);
      const t = await TestTarget.open(via, dir, initialData);
      try {
        const file = join(dir, 'migrations/0001_initial.sql');
        writeFileSync(file, readFileSync(file, 'utf8').replace('-- create database', '-- (edited) create database'));
        expect((await t.cli(['migrate', 'hash'])).code).toBe(0);
        for (const command of via === 'http' ? [['apply'], ['status'], ['check']] : [['apply'], ['status']]) {
          const r = await t.cli(command);
          expect(r.code, command.join(' ')).toBe(1);
          expect(r.stderr + r.stdout, command.join(' ')).toContain('migrations/0001_initial.sql was edited after the target ran it');
        }
        // Nothing ran: the history still holds 0001 only.
        expect((await t.with(historyRows)).map((h) => `${h.version} ${h.status}`)).toEqual(['0001 running', '0001 applied']);
      } finally {
        await t.close();
      }
    }, CASE_TIMEOUT_MS);

    it('drift after a manual ALTER: status, check and plan name the object and what differs', async () => {
      const t = await TestTarget.open(via, copyProject(fixture));
      try {
        expect((await t.cli(['apply'])).code).toBe(0);
        await t.with((d) => d.exec(`ALTER TABLE ${Q}.orders ADD COLUMN note String`));
        const status = await t.cli(['status', '--json', '--detailed-exitcode']);
        expect(status.code).toBe(2);
        expect((JSON.parse(status.stdout) as { drift: unknown[] }).drift).toEqual([{ object: 'metrics-prod.orders', detail: 'column note String exists on the target only' }]);
        if (via === 'http') {
          const check = await t.cli(['check']);
          expect(check.code).toBe(1);
          expect(check.stderr).toContain('metrics-prod.orders: column note String exists on the target only');
        }
        // plan (like check) looks at a target only when one is named.
        const plan = await t.cli(['plan', '--json', '--detailed-exitcode']);
        expect(plan.code, plan.stderr).toBe(via === 'http' ? 2 : 0);
        const p = JSON.parse(plan.stdout) as { steps: unknown[]; pending: unknown[]; drift: unknown[] };
        expect(p.steps).toEqual([]);
        expect(p.pending).toEqual([]);
        expect(p.drift).toEqual(via === 'http' ? [{ object: 'metrics-prod.orders', detail: 'column note String exists on the target only' }] : []);
      } finally {
        await t.close();
      }
    }, CASE_TIMEOUT_MS);

    it('a migration that fails half way: exit 1, the history names the statement; after a fix, the rerun continues there', async () => {
      const dir = copyProject(fixture);
      const t = await TestTarget.open(via, dir, initialData);
      try {
        rmSync(join(dir, 'migrations/0002_reorder.sql'));
        rmSync(join(dir, 'migrations/0003_add_country.sql'));
        const good = `ALTER TABLE ${Q}.orders ADD COLUMN IF NOT EXISTS a UInt8`;
        const bad = `ALTER TABLE ${Q}.no_such_table ADD COLUMN IF NOT EXISTS b UInt8`;
        const after = `ALTER TABLE ${Q}.orders ADD COLUMN IF NOT EXISTS c UInt8`;
        const text = (middle: string) => `-- a hand-written migration\n\n${good};\n\n${middle};\n\n${after};\n`;
        writeFileSync(join(dir, 'migrations/0002_by_hand.sql'), text(bad));
        expect((await t.cli(['migrate', 'hash'])).code).toBe(0);
        const failed = await t.cli(['apply']);
        expect(failed.code).toBe(1);
        expect(failed.stderr).toMatch(/migrations\/0002_by_hand\.sql:5: statement 2 of 3 failed on the target: .*no_such_table/);
        expect(failed.stderr).not.toMatch(/\n\s+at /);
        const status = JSON.parse((await t.cli(['status', '--json'])).stdout) as { migrations: { version: string; state: string; failedStatement?: number; error?: string }[] };
        expect(status.migrations[1]).toMatchObject({ version: '0002', state: 'failed', failedStatement: 2 });
        expect(status.migrations[1]?.error).toContain('no_such_table');
        // Editing a statement that already ran is refused; fixing the failed one is not.
        writeFileSync(join(dir, 'migrations/0002_by_hand.sql'), text(bad).replace('UInt8', 'UInt16'));
        (await t.cli(['migrate', 'hash']));
        expect((await t.cli(['apply'])).stderr).toContain('was edited after the target ran it');
        writeFileSync(join(dir, 'migrations/0002_by_hand.sql'), text(`ALTER TABLE ${Q}.orders ADD COLUMN IF NOT EXISTS b UInt8`));
        (await t.cli(['migrate', 'hash']));
        const fixed = await t.cli(['apply']);
        expect(fixed.code, fixed.stderr).toBe(0);
        expect(fixed.stderr).toContain('resuming 0002_by_hand.sql at statement 2 of 3');
        const columns = await t.with((d) => d.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${DATABASE}' AND table = 'orders' ORDER BY position`));
        expect(columns.map((c) => c.name)).toEqual(['id', 'amount', 'a', 'b', 'c']);
        const history = await t.with(historyRows);
        expect(history.filter((h) => h.version === '0002').map((h) => h.status)).toEqual(['running', 'failed', 'running', 'applied']);
      } finally {
        await t.close();
      }
    }, CASE_TIMEOUT_MS);
  });
}

