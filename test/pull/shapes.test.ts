/**
 * `chpipe pull`, second round (issue 9): the errors stream as ClickHouse's docs write it (two views
 * on the Kafka table), an aggregate without a finalizing view, secrets that read back as [HIDDEN],
 * and the shape of `pull --json`. Embedded target, real CLI; no broker (creating Kafka tables and
 * planning never need one).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempProject } from '../helpers/cli.js';
import { TestTarget } from '../migrate/target.js';

const DB = 'analytics';
const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: localhost:9092\n';
const BROKER = "kafka_broker_list = 'localhost:9092'";

/** The docs' errors stream: two views read the stream-mode Kafka table, `length(_error) = 0` and `> 0`. */
const DIRECT = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.clicks_in (url String, ms Int32) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'clicks', kafka_group_name = 'clicks', kafka_format = 'JSONEachRow', kafka_handle_error_mode = 'stream'`,
  `CREATE TABLE ${DB}.clicks (url String, ms Int32) ENGINE = MergeTree ORDER BY url`,
  `CREATE MATERIALIZED VIEW ${DB}.clicks_mv TO ${DB}.clicks AS SELECT url, ms FROM ${DB}.clicks_in WHERE length(_error) = 0`,
  `CREATE TABLE ${DB}.clicks_errors (received_at DateTime, topic LowCardinality(String), \`partition\` UInt64, \`offset\` UInt64, raw_message String, error String) ENGINE = MergeTree PARTITION BY toYYYYMM(received_at) ORDER BY (topic, \`partition\`, \`offset\`)`,
  `CREATE MATERIALIZED VIEW ${DB}.clicks_errors_mv TO ${DB}.clicks_errors AS SELECT now() AS received_at, _topic AS topic, _partition AS \`partition\`, _offset AS \`offset\`, _raw_message AS raw_message, _error AS error FROM ${DB}.clicks_in WHERE length(_error) > 0`,
];

/** An aggregate whose readers merge the states themselves: no finalizing view. */
const NO_VIEW = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.hits_in (page String, ts DateTime) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'hits', kafka_group_name = 'hits', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.hits_hourly (page String, hour DateTime, n AggregateFunction(count)) ENGINE = AggregatingMergeTree ORDER BY (page, hour)`,
  `CREATE MATERIALIZED VIEW ${DB}.hits_hourly_mv TO ${DB}.hits_hourly AS SELECT page, toStartOfHour(ts) AS hour, countState() AS n FROM ${DB}.hits_in GROUP BY page, hour`,
];

/** SASL credentials in the Kafka table's own settings: the password reads back as [HIDDEN] (26.7). */
const SECRET = [
  `CREATE DATABASE IF NOT EXISTS ${DB}`,
  `CREATE TABLE ${DB}.pay_in (id UInt64) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'pay', kafka_group_name = 'pay', kafka_format = 'JSONEachRow', kafka_security_protocol = 'sasl_plaintext', kafka_sasl_mechanism = 'PLAIN', kafka_sasl_username = 'svc', kafka_sasl_password = 's3cret-value'`,
  `CREATE TABLE ${DB}.pay (id UInt64) ENGINE = MergeTree ORDER BY id`,
  `CREATE MATERIALIZED VIEW ${DB}.pay_mv TO ${DB}.pay AS SELECT id FROM ${DB}.pay_in`,
];

async function seeded(statements: readonly string[]): Promise<TestTarget> {
  const target = await TestTarget.open('embedded', tempProject({}, PROJECT));
  await target.with(async (driver) => {
    for (const s of statements) await driver.exec(s);
  });
  return target;
}

interface Table {
  name: string;
  comment: string;
  dependencies_table: string[];
}
async function tables(target: TestTarget): Promise<Table[]> {
  return target.with((d) => d.query<Table>(`SELECT name, comment, dependencies_table FROM system.tables WHERE database = '${DB}' AND name NOT LIKE '\\_chpipe\\_%' ORDER BY name`));
}

type Steps = { object: string; action: string; risk: string; reason: string }[];
async function planSteps(target: TestTarget, env: Record<string, string> = {}): Promise<Steps> {
  const r = await target.cli(['plan', '--json'], env);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { steps: Steps }).steps;
}

/** pull → validate → plan empty → apply nothing → status without drift. */
async function adopt(target: TestTarget, env: Record<string, string> = {}): Promise<{ stdout: string }> {
  const pulled = await target.cli(['pull'], env);
  expect(pulled.code, pulled.stderr).toBe(0);
  expect((await target.cli(['validate'], env)).code).toBe(0);
  expect(await planSteps(target, env)).toEqual([]);
  const apply = await target.cli(['apply', '--detailed-exitcode'], env);
  expect(apply.code, apply.stdout + apply.stderr).toBe(0);
  const status = await target.cli(['status', '--json'], env);
  expect(status.code, status.stderr).toBe(0);
  expect((JSON.parse(status.stdout) as { drift: unknown[] }).drift).toEqual([]);
  return pulled;
}

describe.concurrent('chpipe pull: the docs\' errors stream, an aggregate without its view, secrets, --json', { timeout: 240_000 }, () => {
  it('two views on a stream-mode Kafka table are adopted as they are (hub: null); a column added plans ADD COLUMN, the queue dropped first, recreated, MODIFY QUERY — and applies with both views still attached', async () => {
    const target = await seeded(DIRECT);
    const before = (await tables(target)).map((t) => t.name);
    await adopt(target);
    expect((await tables(target)).map((t) => t.name)).toEqual(before); // no hub, nothing created or dropped
    const file = join(target.projectDir, 'schemas', 'clicks.yaml');
    const yaml = readFileSync(file, 'utf8');
    expect(yaml).toContain('on_error: stream');
    expect(yaml).toMatch(/objects:\n(?: {2}\w+: \w+\n)* {2}hub: null\n {2}hub_mv: null\n/);
    expect(yaml).toContain('queue: clicks_in');
    expect(yaml).not.toContain('filter'); // the length(_error) = 0 guard is the shape's, not a filter

    writeFileSync(file, yaml.replace('  ms: Int32\n', '  ms: Int32\n  country: String\n'));
    const steps = await planSteps(target);
    expect(steps.map((s) => `${s.action} ${s.risk} ${s.object}`)).toEqual([
      `alter safe ${DB}.clicks`, // the old views keep writing; the new column takes its default
      `stop caution ${DB}.clicks_in`, // both readers stop at once; no view is dropped
      `create safe ${DB}.clicks_in`, // same group: offsets carry over; both views resume at once
      `modify_query safe ${DB}.clicks_mv`,
    ]);
    expect(steps[1]?.reason).toMatch(/2 readers \(clicks_errors_mv, clicks_mv\).*stops consumption for all of them at once/);
    expect(steps[2]?.reason).toMatch(/still attached, resume reading it at once/);

    // Saved and applied on the target: the recreated Kafka table has both views as readers again.
    expect((await target.cli(['plan', '--save', 'add_country'])).code).toBe(0);
    const apply = await target.cli(['apply']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const after = await tables(target);
    expect(after.find((t) => t.name === 'clicks_in')?.dependencies_table.sort()).toEqual(['clicks_errors_mv', 'clicks_mv']);
    expect(await planSteps(target)).toEqual([]);
    const status = await target.cli(['status', '--json']);
    expect((JSON.parse(status.stdout) as { drift: unknown[] }).drift).toEqual([]);
  });

  it('an aggregate without a finalizing view is adopted with view: null: nothing is created', async () => {
    const target = await seeded(NO_VIEW);
    const before = (await tables(target)).map((t) => t.name);
    await adopt(target);
    expect((await tables(target)).map((t) => t.name)).toEqual(before);
    const yaml = readFileSync(join(target.projectDir, 'schemas', 'hits_hourly.yaml'), 'utf8');
    expect(yaml).toContain('n: count()');
    expect(yaml).toContain('hour: toStartOfHour(ts)');
    expect(yaml).toMatch(/objects:\n(?: {2}\w+: \w+\n)* {2}view: null\n/);
    const compiled = await target.cli(['compile']);
    expect(compiled.code).toBe(0);
    expect(compiled.stdout).not.toMatch(/CREATE VIEW/);
  });

  it('a SASL password that reads back as [HIDDEN] becomes ${VAR}, the note names the variable, and with it set the project plans empty', async () => {
    const target = await seeded(SECRET);
    const shown = await target.with((d) => d.query<{ q: string }>(`SELECT create_table_query AS q FROM system.tables WHERE database = '${DB}' AND name = 'pay_in'`));
    // What the engine really shows (26.7): the password masked, the user name not.
    expect(shown[0]?.q).toContain("kafka_sasl_password = '[HIDDEN]'");
    expect(shown[0]?.q).toContain("kafka_sasl_username = 'svc'");
    expect(shown[0]?.q).not.toContain('s3cret-value');

    const env = { PAY_KAFKA_SASL_PASSWORD: 's3cret-value' };
    const pulled = await adopt(target, env);
    expect(pulled.stdout).toContain('note: pay: kafka_sasl_password read back as [HIDDEN]; schemas/pay.yaml references ${PAY_KAFKA_SASL_PASSWORD}: set PAY_KAFKA_SASL_PASSWORD');
    const yaml = readFileSync(join(target.projectDir, 'schemas', 'pay.yaml'), 'utf8');
    expect(yaml).toContain('kafka_sasl_password: ${PAY_KAFKA_SASL_PASSWORD}');
    expect(yaml).toContain('kafka_sasl_username: svc');
    expect(yaml).toContain('set the environment variable PAY_KAFKA_SASL_PASSWORD');
    expect(yaml).not.toContain('s3cret-value');
    expect(yaml).not.toMatch(/: '?\[HIDDEN\]/); // named in the note only, never as a value
    // The baseline migration keeps the reference, never the value.
    const baseline = readFileSync(join(target.projectDir, 'migrations', '0001_pull_baseline.sql'), 'utf8');
    expect(baseline).toContain("kafka_sasl_password = '${PAY_KAFKA_SASL_PASSWORD}'");
    expect(baseline).not.toContain('s3cret-value');
  });

  it('pull --json: one object of a fixed shape', async () => {
    const target = await seeded(DIRECT);
    const r = await target.cli(['pull', '--json', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const json = JSON.parse(r.stdout) as { target: string };
    expect(typeof json.target).toBe('string');
    expect({ ...json, target: '<target>' }).toEqual({
      schemaVersion: 1,
      target: '<target>',
      dryRun: true,
      pipelines: [{ name: 'clicks', kind: 'ingest', file: 'schemas/clicks.yaml', objects: ['clicks_in', 'clicks_mv', 'clicks_errors', 'clicks_errors_mv', 'clicks'], secrets: [] }],
      baseline: { file: 'migrations/0001_pull_baseline.sql', version: '0001', recorded: false },
      comments: ['clicks_in', 'clicks_mv', 'clicks_errors', 'clicks_errors_mv', 'clicks'].map((n) => `${DB}.${n}`),
      unmanaged: [],
      stats: { stateReadQueries: 2 },
    });
  });
});
