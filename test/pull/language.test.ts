/**
 * `chpipe pull` on hand-written pipelines in shapes the language gained (issue 19): a message field
 * parsed but not stored (read only by the filter and an expression: `source.fields`), and Kafka
 * virtual columns stored under their own names (`_offset: { type: UInt64, from: _offset }`) into a
 * ReplacingMergeTree versioned by `_offset`. Each is adopted on an embedded target and through
 * `chpipe serve` (`http`): pull → validate → plan empty → apply a no-op → no drift, every object kept (same
 * UUID, same definition but the ownership comment); then a change to the pulled YAML plans
 * Kafka-safe steps on the adopted names. No broker: creating Kafka tables never needs one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempProject } from '../helpers/cli.js';
import { TestTarget, type Via } from '../migrate/target.js';

const DB = 'plant';
const PROJECT = `version: 1\ndatabase: ${DB}\nkafka:\n  brokers: localhost:9092\n`;
const BROKER = "kafka_broker_list = 'localhost:9092'";

/** Readings in Wh or kWh: `level` only filters, `unit` and `reading` only feed kwh; none is stored. */
const METERS = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.meters_in (meter_id UInt64, unit String, reading Float64, level String) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'meters', kafka_group_name = 'meters', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.meters (meter_id UInt64, kwh Float64) ENGINE = MergeTree ORDER BY meter_id`,
  `CREATE MATERIALIZED VIEW ${DB}.meters_mv TO ${DB}.meters AS SELECT meter_id, if(unit = 'Wh', reading / 1000, reading) AS kwh FROM ${DB}.meters_in WHERE level != 'debug'`,
];

/** The virtual columns stored by name, the version of a ReplacingMergeTree. */
const VIRTUALS = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.users_in (id UInt64, name String) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'users', kafka_group_name = 'users', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.users (id UInt64, name String, _partition UInt64, _offset UInt64, _timestamp Nullable(DateTime)) ENGINE = ReplacingMergeTree(_offset) ORDER BY id`,
  `CREATE MATERIALIZED VIEW ${DB}.users_mv TO ${DB}.users AS SELECT id, name, _partition, _offset, _timestamp FROM ${DB}.users_in`,
];

/** The most common production pattern for irregular JSON: the message as one string, parsed in the view. */
const RAW = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.events_raw (raw String) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'events', kafka_group_name = 'events', kafka_format = 'JSONAsString'`,
  `CREATE TABLE ${DB}.events (event LowCardinality(String), user_id UInt64, amount Decimal(12, 2)) ENGINE = MergeTree ORDER BY (event, user_id)`,
  `CREATE MATERIALIZED VIEW ${DB}.events_mv TO ${DB}.events AS SELECT JSONExtractString(raw, 'event') AS event, JSONExtractUInt(raw, 'user', 'id') AS user_id, toDecimal64(JSONExtractFloat(raw, 'amount'), 2) AS amount FROM ${DB}.events_raw WHERE JSONHas(raw, 'event')`,
];

/** The docs' errors stream (two views on a stream-mode Kafka table), its errors kept 14 days. */
const RETAINED = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.clicks_in (url String, ms Int32) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'clicks', kafka_group_name = 'clicks', kafka_format = 'JSONEachRow', kafka_handle_error_mode = 'stream'`,
  `CREATE TABLE ${DB}.clicks (url String, ms Int32) ENGINE = MergeTree ORDER BY url`,
  `CREATE MATERIALIZED VIEW ${DB}.clicks_mv TO ${DB}.clicks AS SELECT url, ms FROM ${DB}.clicks_in WHERE length(_error) = 0`,
  `CREATE TABLE ${DB}.clicks_errors (received_at DateTime, topic LowCardinality(String), \`partition\` UInt64, \`offset\` UInt64, raw_message String, error String) ENGINE = MergeTree PARTITION BY toYYYYMM(received_at) ORDER BY (topic, \`partition\`, \`offset\`) TTL received_at + INTERVAL 14 DAY`,
  `CREATE MATERIALIZED VIEW ${DB}.clicks_errors_mv TO ${DB}.clicks_errors AS SELECT now() AS received_at, _topic AS topic, _partition AS \`partition\`, _offset AS \`offset\`, _raw_message AS raw_message, _error AS error FROM ${DB}.clicks_in WHERE length(_error) > 0`,
];

/** The docs' positional engine form, with a consumer count among its arguments. */
const POSITIONAL = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.queue (timestamp UInt64, level String, message String) ENGINE = Kafka('localhost:9092', 'logs', 'group1', 'JSONEachRow', '', '', 2)`,
  `CREATE TABLE ${DB}.daily (day Date, level String, total UInt64) ENGINE = SummingMergeTree(total) ORDER BY (day, level)`,
  `CREATE MATERIALIZED VIEW ${DB}.consumer TO ${DB}.daily AS SELECT toDate(toDateTime(timestamp)) AS day, level, 1 AS total FROM ${DB}.queue`,
];

/** One order message → one row per item (ARRAY JOIN), and a rollup of the items per SKU. */
const ITEMS = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.orders_in (order_id UInt64, items Array(Tuple(sku String, qty UInt32))) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'orders', kafka_group_name = 'items', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.order_items (order_id UInt64, sku String, qty UInt32) ENGINE = MergeTree ORDER BY (order_id, sku)`,
  `CREATE MATERIALIZED VIEW ${DB}.order_items_mv TO ${DB}.order_items AS SELECT order_id, tupleElement(items, 'sku') AS sku, tupleElement(items, 'qty') AS qty FROM ${DB}.orders_in ARRAY JOIN items WHERE tupleElement(items, 'qty') > 0`,
  `CREATE TABLE ${DB}.skus_in (order_id UInt64, items Array(Tuple(sku String, qty UInt32))) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'orders', kafka_group_name = 'skus', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.sku_totals (sku String, units SimpleAggregateFunction(sum, UInt64), orders AggregateFunction(uniq, UInt64)) ENGINE = AggregatingMergeTree ORDER BY sku`,
  // The docs' spelling: a plain sum() into the SimpleAggregateFunction(sum, …) column (chpipe writes sumSimpleState: the same values).
  `CREATE MATERIALIZED VIEW ${DB}.sku_totals_mv TO ${DB}.sku_totals AS SELECT tupleElement(items, 'sku') AS sku, sum(tupleElement(items, 'qty')) AS units, uniqState(order_id) AS orders FROM ${DB}.skus_in ARRAY JOIN items GROUP BY sku`,
];

/** The docs' rollup: a SummingMergeTree fed by a GROUP BY view, with no finalizing view (readers sum). */
const ROLLUP = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.hits_in (page String, ts DateTime, bytes UInt64) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'hits', kafka_group_name = 'hits', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.hits_hourly (page String, hour DateTime, hits UInt64, total_bytes UInt64) ENGINE = SummingMergeTree ORDER BY (page, hour)`,
  `CREATE MATERIALIZED VIEW ${DB}.hits_hourly_mv TO ${DB}.hits_hourly AS SELECT page, toStartOfHour(ts) AS hour, count() AS hits, sum(bytes) AS total_bytes FROM ${DB}.hits_in GROUP BY page, hour`,
];

/** One Kafka table, its ingest table, and two rollups of that table (Kafka → table → rollups). */
const ROLLUPS = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.orders_in (order_id UInt64, country String, amount Float64, created_at DateTime) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'orders', kafka_group_name = 'orders', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.orders (order_id UInt64, country String, amount Float64, created_at DateTime) ENGINE = MergeTree ORDER BY (country, created_at)`,
  `CREATE MATERIALIZED VIEW ${DB}.orders_mv TO ${DB}.orders AS SELECT order_id, country, amount, created_at FROM ${DB}.orders_in`,
  `CREATE TABLE ${DB}.revenue_hourly (country String, hour DateTime, orders UInt64, revenue Float64) ENGINE = SummingMergeTree ORDER BY (country, hour)`,
  `CREATE MATERIALIZED VIEW ${DB}.revenue_hourly_mv TO ${DB}.revenue_hourly AS SELECT country, toStartOfHour(created_at) AS hour, count() AS orders, sum(amount) AS revenue FROM ${DB}.orders WHERE amount > 0 GROUP BY country, hour`,
  `CREATE TABLE ${DB}.buyers_daily_state (day Date, buyers AggregateFunction(uniq, UInt64)) ENGINE = AggregatingMergeTree ORDER BY day`,
  `CREATE MATERIALIZED VIEW ${DB}.buyers_daily_mv TO ${DB}.buyers_daily_state AS SELECT toDate(created_at) AS day, uniqState(order_id) AS buyers FROM ${DB}.orders GROUP BY day`,
  `CREATE VIEW ${DB}.buyers_daily AS SELECT day, uniqMerge(buyers) AS buyers FROM ${DB}.buyers_daily_state GROUP BY day`,
];

interface TableRow {
  name: string;
  uuid: string;
  create_table_query: string;
}

async function seeded(via: Via, statements: readonly string[]): Promise<TestTarget> {
  const target = await TestTarget.open(via, tempProject({}, PROJECT));
  await target.with(async (driver) => {
    for (const s of statements) await driver.exec(s);
  });
  return target;
}

/** `work` on a target seeded with `statements`, closed after it whatever happens. */
async function withSeeded(via: Via, statements: readonly string[], work: (target: TestTarget) => Promise<void>): Promise<void> {
  const target = await seeded(via, statements);
  try {
    await work(target);
  } finally {
    await target.close();
  }
}

/** Every object of the database: name, UUID and definition without its COMMENT (pull adds the ownership marker). */
async function objects(target: TestTarget): Promise<TableRow[]> {
  const rows = await target.with((d) => d.query<TableRow>(`SELECT name, toString(uuid) AS uuid, create_table_query FROM system.tables WHERE database = '${DB}' AND name NOT LIKE '\\_chpipe\\_%' ORDER BY name`));
  return rows.map((r) => ({ ...r, create_table_query: r.create_table_query.replace(/ COMMENT '\[chpipe:[^']*\]'/, '') }));
}

type Steps = { object: string; action: string; risk: string }[];
async function planSteps(target: TestTarget): Promise<Steps> {
  const r = await target.cli(['plan', '--json']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { steps: Steps }).steps;
}

/** pull → validate → plan empty → apply nothing → status without drift; every object as it was. */
async function adopt(target: TestTarget): Promise<void> {
  const before = await objects(target);
  const pulled = await target.cli(['pull', '--json']);
  expect(pulled.code, pulled.stderr).toBe(0);
  expect((JSON.parse(pulled.stdout) as { unmanaged: unknown[] }).unmanaged).toEqual([]);
  const validate = await target.cli(['validate']);
  expect(validate.code, validate.stdout + validate.stderr).toBe(0);
  expect(await planSteps(target)).toEqual([]);
  const apply = await target.cli(['apply', '--detailed-exitcode']);
  expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  const status = await target.cli(['status', '--json']);
  expect(status.code, status.stderr).toBe(0);
  expect((JSON.parse(status.stdout) as { drift: unknown[] }).drift).toEqual([]);
  expect(await objects(target)).toEqual(before);
}

for (const via of ['embedded', 'http'] as const) {
  describe.concurrent(`chpipe pull adopts message fields and virtual columns (${via})`, { timeout: 240_000 }, () => {
    it('a field read only by the filter and an expression becomes source.fields; a new field and column plan Kafka-safe steps on the adopted names', async () => {
      await withSeeded(via, METERS, async (target) => {
        await adopt(target);
        const file = join(target.projectDir, 'schemas', 'meters.yaml');
        const yaml = readFileSync(file, 'utf8');
        expect(yaml).toMatch(/source:\n {2}topic: meters\n {2}fields:\n {4}meter_id: UInt64\n {4}unit: String\n {4}reading: Float64\n {4}level: String\n/);
        expect(yaml).toContain("filter: level != 'debug'");
        expect(yaml).toContain("expr: if(unit = 'Wh', reading / 1000, reading)");

        writeFileSync(file, yaml.replace('    level: String\n', '    level: String\n    site: String\n').replace(/(columns:\n(?: {2}.+\n)+)/, '$1  site: String\n'));
        const steps = await planSteps(target);
        expect(steps.map((s) => `${s.action} ${s.risk} ${s.object}`)).toEqual([
          `alter safe ${DB}.meters`, // the new column takes its default in the old rows
          `stop safe ${DB}.meters_mv`, // consumption stops; the group's offsets stay committed
          `drop safe ${DB}.meters_in`, // a Kafka table cannot be altered: recreated with the new field
          `create safe ${DB}.meters_in`, // same group: it resumes where the old one stopped
          `start safe ${DB}.meters_mv`, // the view, now storing site, reads again
        ]);
      });
    });

    it('JSONAsString parsed with JSONExtract in the view: the raw string becomes source.fields, each column an expr', async () => {
      await withSeeded(via, RAW, async (target) => {
        await adopt(target);
        const yaml = readFileSync(join(target.projectDir, 'schemas', 'events.yaml'), 'utf8');
        expect(yaml).toMatch(/source:\n {2}topic: events\n {2}fields:\n {4}raw: String\n {2}format: JSONAsString\n/);
        expect(yaml).toContain("expr: JSONExtractUInt(raw, 'user', 'id')");
        expect(yaml).toContain("filter: JSONHas(raw, 'event')");
      });
    });

    it("an errors table with a TTL is adopted as errors_retention_days; a new retention plans the TTL's ALTER", async () => {
      await withSeeded(via, RETAINED, async (target) => {
        await adopt(target);
        const file = join(target.projectDir, 'schemas', 'clicks.yaml');
        const yaml = readFileSync(file, 'utf8');
        expect(yaml).toContain('  on_error: stream\n  errors_retention_days: 14\n');
        writeFileSync(file, yaml.replace('errors_retention_days: 14', 'errors_retention_days: 30'));
        const steps = await planSteps(target);
        expect(steps.map((s) => `${s.action} ${s.risk} ${s.object}`)).toEqual([`alter caution ${DB}.clicks_errors`]);
      });
    });

    it("the docs' positional Kafka(...) form (into a SummingMergeTree) is adopted with its names; a new field recreates it in the SETTINGS form on the same group", async () => {
      await withSeeded(via, POSITIONAL, async (target) => {
        await adopt(target);
        const file = join(target.projectDir, 'schemas', 'daily.yaml');
        const yaml = readFileSync(file, 'utf8');
        expect(yaml).toContain('  topic: logs\n');
        expect(yaml).toContain('  group: group1\n');
        expect(yaml).toContain('  consumers: 2\n');
        expect(yaml).toMatch(/objects:\n {2}queue: queue\n {2}mv: consumer\n/);
        // message is parsed and not stored: a field. One more field recreates the queue.
        expect(yaml).toContain('  fields:\n    timestamp: UInt64\n    level: String\n    message: String\n');
        writeFileSync(file, yaml.replace('    message: String\n', '    message: String\n    host: String\n'));
        const steps = await planSteps(target);
        expect(steps.map((s) => `${s.action} ${s.risk} ${s.object}`)).toEqual([`stop safe ${DB}.consumer`, `drop safe ${DB}.queue`, `create safe ${DB}.queue`, `start safe ${DB}.consumer`]);
      });
    });

    it('ARRAY JOIN into a table and into an aggregate (a plain sum into SimpleAggregateFunction) is adopted as explode; a changed ARRAY JOIN is a caution step naming it', async () => {
      await withSeeded(via, ITEMS, async (target) => {
        await adopt(target);
        const file = join(target.projectDir, 'schemas', 'order_items.yaml');
        const yaml = readFileSync(file, 'utf8');
        expect(yaml).toContain('explode: items\n');
        expect(yaml).toContain("expr: tupleElement(items, 'sku')");
        const rollup = readFileSync(join(target.projectDir, 'schemas', 'sku_totals.yaml'), 'utf8');
        expect(rollup).toContain('explode: items\n');
        expect(rollup).toContain("units: sum(tupleElement(items, 'qty'))");
        writeFileSync(file, yaml.replace('explode: items', 'explode: arraySlice(items, 1, 2) AS items'));
        const steps = await target.cli(['plan', '--json']);
        expect(steps.code, steps.stdout + steps.stderr).toBe(0);
        const parsed = JSON.parse(steps.stdout) as { steps: { action: string; risk: string; object: string; reason: string }[] };
        expect(parsed.steps.map((s) => `${s.action} ${s.risk} ${s.object}`)).toEqual([`modify_query caution ${DB}.order_items_mv`]);
        expect(parsed.steps[0]?.reason).toContain('its ARRAY JOIN changes (items → arraySlice(items, 1, 2) AS items)');
      });
    });

    it('a SummingMergeTree fed by GROUP BY is adopted as an aggregate with engine SummingMergeTree; a new measure adds a column and swaps the query', async () => {
      await withSeeded(via, ROLLUP, async (target) => {
        await adopt(target);
        const file = join(target.projectDir, 'schemas', 'hits_hourly.yaml');
        const yaml = readFileSync(file, 'utf8');
        expect(yaml).toMatch(/aggregate:\n {2}engine: SummingMergeTree\n/);
        expect(yaml).toContain('hits: count()');
        expect(yaml).toContain('total_bytes: sum(bytes)');
        expect(yaml).toContain('view: null');
        writeFileSync(file, yaml.replace('    total_bytes: sum(bytes)\n', '    total_bytes: sum(bytes)\n    big: countIf(bytes > 1000)\n'));
        const steps = await planSteps(target);
        // Groups already stored have no count for the new measure: the alter says so; the view writes it from now on.
        expect(steps.map((s) => `${s.action} ${s.risk} ${s.object}`)).toEqual([`alter caution ${DB}.hits_hourly`, `modify_query safe ${DB}.hits_hourly_mv`]);
      });
    });

    it('views grouping an ingest table into rollups are adopted as pipelines with from:, names kept', async () => {
      await withSeeded(via, ROLLUPS, async (target) => {
        await adopt(target);
        const hourly = readFileSync(join(target.projectDir, 'schemas', 'revenue_hourly.yaml'), 'utf8');
        expect(hourly).toContain('from: orders\n');
        expect(hourly).toContain('filter: amount > 0');
        expect(hourly).toMatch(/aggregate:\n {2}engine: SummingMergeTree\n/);
        expect(hourly).not.toContain('source:');
        const daily = readFileSync(join(target.projectDir, 'schemas', 'buyers_daily.yaml'), 'utf8');
        expect(daily).toContain('from: orders\n');
        expect(daily).toContain('buyers: uniq(order_id)');
      });
    });

    it('virtual columns stored under their own names (ReplacingMergeTree(_offset)) are adopted as `from:` columns', async () => {
      await withSeeded(via, VIRTUALS, async (target) => {
        await adopt(target);
        const yaml = readFileSync(join(target.projectDir, 'schemas', 'users.yaml'), 'utf8');
        expect(yaml).toContain('  _offset:\n    type: UInt64\n    from: _offset\n');
        expect(yaml).toContain('engine: ReplacingMergeTree(_offset)');
        expect(yaml).not.toContain('fields:');
      });
    });
  });
}
