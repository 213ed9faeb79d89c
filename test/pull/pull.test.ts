/**
 * `chpipe pull` on the embedded target (and through `chpipe serve`): pipelines
 * written by hand are adopted without renaming or recreating anything, plan is
 * empty right after, apply does nothing, status shows no drift; what chpipe
 * cannot express is listed and left alone. No broker runs: creating Kafka
 * tables and planning never need one.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir, tempProject } from '../helpers/cli.js';
import { TestTarget } from '../migrate/target.js';

const DB = 'analytics';
const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: localhost:9092\n';

/** The seed article's recipe, with the kafka_group_name it lacks, and a filter. */
const SEED = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.kafka_table (api_id Int32, time_taken Int32) ENGINE = Kafka SETTINGS kafka_broker_list = 'localhost:9092', kafka_topic_list = 'kafka_topic_1', kafka_group_name = 'group1', kafka_format = 'CSV'`,
  `CREATE TABLE ${DB}.latency (api_id Int32, time_taken Int32) ENGINE = MergeTree ORDER BY api_id`,
  `CREATE MATERIALIZED VIEW ${DB}.consumer TO ${DB}.latency AS SELECT api_id, time_taken FROM ${DB}.kafka_table WHERE time_taken >= 0`,
];

/** A hand-written aggregate: -State columns, its finalizing view, a team's own names. */
const AGGREGATE = [
  `CREATE TABLE ${DB}.raw_api_events (api_id Int32, time_taken Int32, ts DateTime) ENGINE = Kafka SETTINGS kafka_broker_list = 'localhost:9092', kafka_topic_list = 'api_events', kafka_group_name = 'api_1m', kafka_format = 'JSONEachRow', kafka_skip_broken_messages = 10`,
  `CREATE TABLE ${DB}.api_1m_agg (api_id Int32, minute DateTime, requests AggregateFunction(count), p95_ms AggregateFunction(quantile(0.95), Int32), max_ms SimpleAggregateFunction(max, Int32)) ENGINE = AggregatingMergeTree ORDER BY (api_id, minute) PARTITION BY toYYYYMM(minute)`,
  `CREATE MATERIALIZED VIEW ${DB}.api_1m_feed TO ${DB}.api_1m_agg AS SELECT api_id, toStartOfMinute(ts) AS minute, countState() AS requests, quantileState(0.95)(time_taken) AS p95_ms, maxSimpleState(time_taken) AS max_ms FROM ${DB}.raw_api_events GROUP BY api_id, minute`,
  `CREATE VIEW ${DB}.api_1m AS SELECT api_id, minute, countMerge(requests) AS requests, quantileMerge(0.95)(p95_ms) AS p95_ms, max(max_ms) AS max_ms FROM ${DB}.api_1m_agg GROUP BY api_id, minute`,
];

/** An errors stream fanned out through a Null hub (one reader on the Kafka table). */
const STREAM_HUB = [
  `CREATE TABLE ${DB}.logs_in (msg String, level String) ENGINE = Kafka SETTINGS kafka_broker_list = 'localhost:9092', kafka_topic_list = 'logs', kafka_group_name = 'logs', kafka_format = 'JSONEachRow', kafka_handle_error_mode = 'stream'`,
  `CREATE TABLE ${DB}.logs_fanout (msg String, level String, _topic LowCardinality(String), _key String, _offset UInt64, _partition UInt64, _timestamp Nullable(DateTime), _timestamp_ms Nullable(DateTime64(3)), \`_headers.name\` Array(String), \`_headers.value\` Array(String), _raw_message String, _error String) ENGINE = Null`,
  `CREATE MATERIALIZED VIEW ${DB}.logs_fanout_mv TO ${DB}.logs_fanout AS SELECT msg, level, _topic, _key, _offset, _partition, _timestamp, _timestamp_ms, \`_headers.name\`, \`_headers.value\`, _raw_message, _error FROM ${DB}.logs_in`,
  `CREATE TABLE ${DB}.logs (msg String, level String) ENGINE = MergeTree ORDER BY level`,
  `CREATE MATERIALIZED VIEW ${DB}.logs_mv TO ${DB}.logs AS SELECT msg, level FROM ${DB}.logs_fanout WHERE _error = ''`,
  `CREATE TABLE ${DB}.logs_bad (received_at DateTime, topic LowCardinality(String), \`partition\` UInt64, \`offset\` UInt64, raw_message String, error String) ENGINE = MergeTree PARTITION BY toYYYYMM(received_at) ORDER BY (topic, \`partition\`, \`offset\`)`,
  `CREATE MATERIALIZED VIEW ${DB}.logs_bad_mv TO ${DB}.logs_bad AS SELECT now() AS received_at, _topic AS topic, _partition AS \`partition\`, _offset AS \`offset\`, _raw_message AS raw_message, _error AS error FROM ${DB}.logs_fanout WHERE _error != ''`,
];

/** Two views reading one stream-mode Kafka table directly: chpipe cannot express it. */
const STREAM_DIRECT = [
  `CREATE TABLE ${DB}.clicks_in (url String) ENGINE = Kafka SETTINGS kafka_broker_list = 'localhost:9092', kafka_topic_list = 'clicks', kafka_group_name = 'clicks', kafka_format = 'JSONEachRow', kafka_handle_error_mode = 'stream'`,
  `CREATE TABLE ${DB}.clicks (url String) ENGINE = MergeTree ORDER BY url`,
  `CREATE MATERIALIZED VIEW ${DB}.clicks_mv TO ${DB}.clicks AS SELECT url FROM ${DB}.clicks_in WHERE _error = ''`,
  `CREATE TABLE ${DB}.clicks_errors (raw String, error String) ENGINE = MergeTree ORDER BY tuple()`,
  `CREATE MATERIALIZED VIEW ${DB}.clicks_errors_mv TO ${DB}.clicks_errors AS SELECT _raw_message AS raw, _error AS error FROM ${DB}.clicks_in WHERE _error != ''`,
];

/** Publish back: slow requests from the seed's table to a topic. */
const PUBLISH = [
  `CREATE TABLE ${DB}.slow_out (api_id Int32, time_taken Int32) ENGINE = Kafka SETTINGS kafka_broker_list = 'localhost:9092', kafka_topic_list = 'slow_requests', kafka_group_name = 'slow_out', kafka_format = 'JSONEachRow'`,
  `CREATE MATERIALIZED VIEW ${DB}.slow_out_mv TO ${DB}.slow_out AS SELECT api_id, time_taken FROM ${DB}.latency WHERE time_taken > 1000`,
];

async function seeded(statements: readonly string[], projectYaml = PROJECT): Promise<TestTarget> {
  const dir = tempProject({}, projectYaml);
  const target = await TestTarget.open('embedded', dir);
  await target.with(async (driver) => {
    for (const s of statements) await driver.exec(s);
  });
  return target;
}

type PullJson = { pipelines: { name: string; kind: string; file: string; objects: string[]; secrets: { variable: string }[] }[]; unmanaged: { object: string; reason: string }[]; baseline: { file: string } | null; stats: { stateReadQueries: number } };

async function objectNames(target: TestTarget): Promise<string[]> {
  return target.with(async (d) => (await d.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DB}' AND name NOT LIKE '\\_chpipe\\_%' ORDER BY name`)).map((r) => r.name));
}

/** pull → validate → plan (empty) → apply (nothing) → status (no drift); the pull's JSON. */
async function adopt(target: TestTarget): Promise<PullJson> {
  const pulled = await target.cli(['pull', '--json']);
  expect(pulled.stderr).toBe('');
  expect(pulled.code).toBe(0);
  const json = JSON.parse(pulled.stdout) as PullJson;
  const validate = await target.cli(['validate']);
  expect(validate.stderr).toBe('');
  expect(validate.code).toBe(0);
  const plan = await target.cli(['plan', '--json', '--detailed-exitcode']);
  expect(plan.code, plan.stdout + plan.stderr).toBe(0);
  expect((JSON.parse(plan.stdout) as { steps: unknown[] }).steps).toEqual([]);
  const apply = await target.cli(['apply', '--json', '--detailed-exitcode']);
  expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  const status = await target.cli(['status', '--json']);
  expect(status.code, status.stderr).toBe(0);
  const s = JSON.parse(status.stdout) as { drift: unknown[]; migrations: { state: string }[] };
  expect(s.drift).toEqual([]);
  expect(s.migrations.every((m) => m.state === 'applied')).toBe(true);
  return json;
}

describe.concurrent('chpipe pull adopts pipelines written by hand', { timeout: 240_000 }, () => {
  it('the seed recipe, an aggregate, an errors stream (hub) and a publish flow: names kept, plan empty, apply a no-op, no drift', async () => {
    const target = await seeded([...SEED, ...AGGREGATE, ...STREAM_HUB, ...STREAM_DIRECT, ...PUBLISH]);
    const before = await objectNames(target);
    const json = await adopt(target);
    expect(json.stats.stateReadQueries).toBe(2);
    expect(json.pipelines.map((p) => [p.name, p.kind]).sort()).toEqual([
      ['api_1m', 'aggregate'],
      ['latency', 'ingest'],
      ['logs', 'ingest'],
      ['slow_out', 'publish'],
    ]);
    // Nothing renamed, created or dropped.
    expect(await objectNames(target)).toEqual(before);
    const yaml = (name: string) => readFileSync(join(target.projectDir, 'schemas', `${name}.yaml`), 'utf8');
    expect(yaml('latency')).toContain('group: group1');
    expect(yaml('latency')).toContain('filter: time_taken >= 0');
    expect(yaml('latency')).toMatch(/objects:\n {2}queue: kafka_table\n {2}mv: consumer\n/);
    expect(yaml('latency')).not.toContain('brokers'); // the project's brokers: left to chpipe.yaml
    expect(yaml('api_1m')).toContain('p95_ms: quantile(0.95)(time_taken)');
    expect(yaml('api_1m')).toContain('minute: toStartOfMinute(ts)');
    expect(yaml('api_1m')).toContain('on_error: skip');
    expect(yaml('api_1m')).toMatch(/objects:\n(?: {2}\w+: \w+\n)*? {2}state: api_1m_agg\n/);
    expect(yaml('logs')).toContain('on_error: stream');
    expect(yaml('logs')).toContain('hub: logs_fanout');
    expect(yaml('logs')).toContain('errors: logs_bad');
    expect(yaml('slow_out')).toContain('from: latency');
    expect(yaml('slow_out')).toContain('where: time_taken > 1000');
    // Two views on one stream-mode Kafka table: listed with the reason, left alone.
    const clicks = json.unmanaged.find((u) => u.object === 'clicks_in');
    expect(clicks?.reason).toContain('2 views read it directly');
    expect(json.unmanaged.map((u) => u.object)).toEqual(expect.arrayContaining(['clicks', 'clicks_errors', 'clicks_errors_mv', 'clicks_in', 'clicks_mv']));
    expect(readdirSync(join(target.projectDir, 'migrations')).sort()).toEqual(['0001_pull_baseline.sql', 'chpipe.sum']);
    // The adopted objects carry chpipe's marker; the unmanaged ones were not touched.
    const comments = await target.with((d) => d.query<{ name: string; comment: string }>(`SELECT name, comment FROM system.tables WHERE database = '${DB}' ORDER BY name`));
    expect(comments.find((c) => c.name === 'consumer')?.comment).toBe('[chpipe:latency/mv]');
    expect(comments.find((c) => c.name === 'clicks_mv')?.comment).toBe('');

    // A second pull finds nothing new and refuses nothing: the pipelines are declared now.
    const again = await target.cli(['pull', '--json']);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as PullJson).pipelines).toEqual([]);
  });

  it('a change to the pulled YAML plans the same steps as for the same pipeline made by chpipe', async () => {
    const target = await seeded(SEED);
    await adopt(target);
    const file = join(target.projectDir, 'schemas', 'latency.yaml');
    const pulled = readFileSync(file, 'utf8');
    // The same YAML, made by chpipe from nothing.
    const made = tempProject({ 'schemas/latency.yaml': pulled });
    const madeTarget = await TestTarget.open('embedded', made);
    expect((await madeTarget.cli(['plan', '--save', 'initial'])).code).toBe(0);
    const changed = pulled.replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: String\n');
    expect(changed).not.toBe(pulled);
    writeFileSync(file, changed);
    writeFileSync(join(made, 'schemas', 'latency.yaml'), changed);
    const steps = async (t: TestTarget) => {
      const r = await t.cli(['plan', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { steps: { object: string; action: string; risk: string; sql: string }[] }).steps;
    };
    const adoptedSteps = await steps(target);
    expect(adoptedSteps.map((s) => s.action)).toContain('alter');
    expect(adoptedSteps.some((s) => s.object === `${DB}.kafka_table`)).toBe(true); // the queue is recreated under its own name
    expect(adoptedSteps).toEqual(await steps(madeTarget));
  });

  it('a Kafka table on the project\'s named collection, a ReplacingMergeTree with a non-default setting', async () => {
    const target = await seeded(
      [
        `CREATE NAMED COLLECTION IF NOT EXISTS kc AS kafka_broker_list = 'localhost:9092', kafka_format = 'JSONEachRow' OVERRIDABLE`,
        `CREATE DATABASE IF NOT EXISTS ${DB}`,
        `CREATE TABLE ${DB}.orders_q (id UInt64, amount Decimal(10, 2)) ENGINE = Kafka(kc, kafka_topic_list = 'orders', kafka_group_name = 'orders', kafka_format = 'JSONEachRow')`,
        `CREATE TABLE ${DB}.orders (id UInt64, amount Decimal(10, 2)) ENGINE = ReplacingMergeTree ORDER BY id SETTINGS index_granularity = 4096`,
        `CREATE MATERIALIZED VIEW ${DB}.orders_mv TO ${DB}.orders AS SELECT id, amount FROM ${DB}.orders_q`,
      ],
      'version: 1\ndatabase: analytics\nkafka:\n  named_collection: kc\n',
    );
    const json = await adopt(target);
    expect(json.pipelines.map((p) => p.name)).toEqual(['orders']);
    const yaml = readFileSync(join(target.projectDir, 'schemas', 'orders.yaml'), 'utf8');
    expect(yaml).toContain('engine: ReplacingMergeTree');
    expect(yaml).toContain('index_granularity: 4096');
    expect(yaml).toContain('queue: orders_q');
    expect(yaml).not.toContain('brokers');
  });

  it('refuses to overwrite a pipeline file unless --force; --dry-run writes nothing', async () => {
    const target = await seeded(SEED);
    const mine = readFileSync(join(ROOT, 'schemas', 'api_latency.yaml'), 'utf8').replace('name: api_latency', 'name: other');
    writeFileSync(join(target.projectDir, 'schemas', 'latency.yaml'), mine);
    // A pipeline the project already manages, saved and applied: pull refuses a project with unsaved changes.
    expect((await target.cli(['plan', '--save', 'other'])).code).toBe(0);
    expect((await target.cli(['apply'])).code).toBe(0);
    const dry = await target.cli(['pull', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would write schemas/latency.yaml');
    expect(readdirSync(join(target.projectDir, 'migrations')).sort()).toEqual(['0001_other.sql', 'chpipe.sum']);
    const refused = await target.cli(['pull']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: schemas\/latency\.yaml already exists; nothing was written \(run again with --force/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync(join(target.projectDir, 'schemas', 'latency.yaml'), 'utf8')).toBe(mine);
    const forced = await target.cli(['pull', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(target.projectDir, 'schemas', 'latency.yaml'), 'utf8')).toContain('queue: kafka_table');
  });
});

describe('round trips', { timeout: 240_000 }, () => {
  it('every example in schemas/ applied, its YAML deleted, pulled back: plan empty; through chpipe serve the same files', async () => {
    const dir = tempDir();
    cpSync(join(ROOT, 'chpipe.yaml'), join(dir, 'chpipe.yaml'));
    cpSync(join(ROOT, 'schemas'), join(dir, 'schemas'), { recursive: true });
    cpSync(join(ROOT, 'migrations'), join(dir, 'migrations'), { recursive: true });
    const target = await TestTarget.open('embedded', dir);
    expect((await target.cli(['apply'])).code).toBe(0);
    rmSync(join(dir, 'schemas'), { recursive: true });
    mkdirSync(join(dir, 'schemas'));
    const json = await adopt(target);
    expect(json.baseline).toBeNull(); // already in the migrations: no baseline
    expect(json.pipelines.map((p) => p.name).sort()).toEqual(['api_latency', 'app_logs', 'campaign_hourly', 'errors_per_minute', 'overheat_alerts', 'sensor_5m', 'sensor_readings']);
    const embeddedFiles = Object.fromEntries(readdirSync(join(dir, 'schemas')).map((f) => [f, readFileSync(join(dir, 'schemas', f), 'utf8')]));
    for (const text of Object.values(embeddedFiles)) expect(text).not.toContain('objects:'); // chpipe's own names

    // The same data served over HTTP: pull --dry-run through --url names the same files, and a real pull writes the same text.
    const served = tempDir();
    cpSync(join(dir, 'chpipe.yaml'), join(served, 'chpipe.yaml'));
    cpSync(join(dir, 'migrations'), join(served, 'migrations'), { recursive: true });
    mkdirSync(join(served, 'schemas'));
    const http = await TestTarget.open('http', served, join(dir, '.chpipe'));
    try {
      const r = await http.cli(['pull']);
      expect(r.code, r.stderr).toBe(0);
      const httpFiles = Object.fromEntries(readdirSync(join(served, 'schemas')).map((f) => [f, readFileSync(join(served, 'schemas', f), 'utf8')]));
      expect(httpFiles).toEqual(embeddedFiles);
    } finally {
      await http.close();
    }
  });
});
