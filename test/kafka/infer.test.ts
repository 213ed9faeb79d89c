/**
 * `chpipe infer TOPIC` on the run's real broker: topics filled with messages of
 * a known shape (JSONEachRow, CSVWithNames, TSVWithNames) → the YAML it writes
 * has those columns and types, validates, and its pipelines (after `plan
 * --save` and `apply` on a `chpipe serve` target) ingest the same messages
 * exactly. The sample is read by offset: the broker's consumer groups are the
 * same before and after. An empty topic, garbage messages, an unknown topic and
 * an unreachable broker end in one sentence and exit 1; `init --from-topic`
 * scaffolds a project around the inferred pipeline.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Driver } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import { chpipeAsync, tempDir } from '../helpers/cli.js';
import { createTopic, groupsTouching, kafkaBootstrap, produceValues, uniqueTopic } from '../helpers/kafka.js';
import { freePort } from '../helpers/processes.js';
import { until } from '../helpers/wait.js';
import { startServe, type Server } from '../migrate/target.js';

const DATABASE = 'infer_test';

/** Every consumer group on the broker with its state and members, sorted: what must not change. */

const N = 40;
const pad = (n: number) => String(n).padStart(2, '0');

/** JSON messages: id, name, amount (fractions), ts (time), tags (array), note (null in every third). */
function jsonMessage(i: number): string {
  return JSON.stringify({ id: i, name: `user ${i}`, amount: i * 0.25, ts: `2024-05-01 10:00:${pad(i % 60)}`, tags: i % 2 ? ['a', `t${i}`] : [], note: i % 3 === 0 ? null : `n${i}` });
}
const csvMessage = (i: number) => `id,city,score,day\n${i},City ${i % 5},${i * 1.5},2024-05-${pad((i % 28) + 1)}\n`;
const tsvMessage = (i: number) => `event_id\tkind\tvalue\n${i}\tk${i % 3}\t${i * 10}\n`;

describe('chpipe infer on a real broker', () => {
  const bootstrap = kafkaBootstrap();
  const topics = { mixed: uniqueTopic('infer_mixed'), json: uniqueTopic('infer_json'), csv: uniqueTopic('infer_csv'), tsv: uniqueTopic('infer_tsv'), empty: uniqueTopic('infer_empty'), garbage: uniqueTopic('infer_garbage') };
  /** The groups that touch this file's topics (the broker is shared: other files' groups come and go), and the sampler's own id. */
  const touching = () => groupsTouching(bootstrap, Object.values(topics), 'chpipe-sample-never-joined');
  const ids = Array.from({ length: N }, (_, k) => k + 1);
  let dir: string;
  let server: Server;
  let driver: Driver;

  beforeAll(async () => {
    await Promise.all(Object.values(topics).map((t) => createTopic(bootstrap, t, 2)));
    await produceValues(bootstrap, topics.json, ids.map(jsonMessage), 2, 10);
    await produceValues(bootstrap, topics.csv, ids.map(csvMessage), 2, 10);
    await produceValues(bootstrap, topics.tsv, ids.map(tsvMessage), 2, 10);
    // 30 orders and 3 messages a buggy producer sent: a topic that needs on_error: stream.
    await produceValues(bootstrap, topics.mixed, [...ids.slice(0, 15).map(jsonMessage), 'not json at all', ...ids.slice(15, 30).map(jsonMessage), '{"id": 7, "name": ', '[1, 2]'], 1, 10);
    await produceValues(bootstrap, topics.garbage, ['\u0001\u0002 not a message {{', 'garbage here', '{"half": '], 1);
    dir = tempDir('chpipe-infer-');
    writeFileSync(join(dir, 'chpipe.yaml'), `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: ${bootstrap}\n`);
    server = await startServe(tempDir('chpipe-infer-served-'));
    driver = await HttpDriver.connect(server.url);
  });

  afterAll(async () => {
    await driver?.close();
    await server?.stop();
  });

  it('writes YAML with the messages’ columns and the engine’s types, valid, without touching any consumer group', async () => {
    const before = await touching();
    const json = await chpipeAsync(['infer', topics.json, '--name', 'orders', '--json'], dir);
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout) as { file: string; format: string; formatDetected: boolean; sampled: number; valid: boolean; columns: { name: string; type: string; notes: string[] }[] };
    expect(out).toMatchObject({ file: join('schemas', 'orders.yaml'), format: 'JSONEachRow', formatDetected: true, sampled: N, valid: true });
    expect(out.columns.map((c) => [c.name, c.type])).toEqual([
      ['id', 'Int64'],
      ['name', 'String'],
      ['amount', 'Float64'],
      ['ts', 'DateTime'],
      ['tags', 'Array(String)'],
      ['note', 'Nullable(String)'],
    ]);
    expect(out.columns.find((c) => c.name === 'note')?.notes.join(' ')).toMatch(/null in 13 of 40/);

    const yaml = readFileSync(join(dir, 'schemas', 'orders.yaml'), 'utf8');
    const doc = parse(yaml) as { name: string; source: { topic: string; format: string }; columns: Record<string, string>; table: { order_by: string[]; partition_by: string } };
    expect(doc).toEqual({
      name: 'orders',
      source: { topic: topics.json, format: 'JSONEachRow' },
      columns: { id: 'Int64', name: 'String', amount: 'Float64', ts: 'DateTime', tags: 'Array(String)', note: 'Nullable(String)' },
      table: { order_by: ['ts'], partition_by: 'toYYYYMM(ts)' },
    });
    expect(yaml).toContain('# received_at: { type: DateTime, from: _timestamp }');

    const csv = await chpipeAsync(['infer', topics.csv, '--name', 'visits'], dir);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toContain(`wrote ${join('schemas', 'visits.yaml')}: pipeline visits, 4 columns from ${N} sampled messages (CSVWithNames, detected); valid`);
    expect((parse(readFileSync(join(dir, 'schemas', 'visits.yaml'), 'utf8')) as { columns: unknown }).columns).toEqual({ id: 'Int64', city: 'String', score: 'Float64', day: 'Date' });

    const tsv = await chpipeAsync(['infer', topics.tsv, '--name', 'events', '--format', 'TSVWithNames', '--sample', '25', '--timeout', '10s'], dir);
    expect(tsv.code, tsv.stderr).toBe(0);
    const events = parse(readFileSync(join(dir, 'schemas', 'events.yaml'), 'utf8')) as { source: { format: string }; columns: unknown; table: { order_by: string[] } };
    expect(events.source.format).toBe('TSVWithNames');
    expect(events.columns).toEqual({ event_id: 'Int64', kind: 'String', value: 'Int64' });
    // No time column: sorted by the first column, and received_at offered in a comment.
    expect(events.table.order_by).toEqual(['event_id']);
    expect(tsv.stdout).toContain('from 25 sampled messages');

    const validate = await chpipeAsync(['validate'], dir);
    expect(validate.code, validate.stderr).toBe(0);
    expect(await touching()).toEqual(before);
  });

  it('refuses to overwrite without --force', async () => {
    const again = await chpipeAsync(['infer', topics.json, '--name', 'orders'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`error: ${join('schemas', 'orders.yaml')} already exists; pass --force to overwrite it, or -o FILE / --name NAME to write another`);
    const forced = await chpipeAsync(['infer', topics.json, '--name', 'orders', '--force'], dir);
    expect(forced.code, forced.stderr).toBe(0);
  });

  it('the inferred pipelines, planned and applied, ingest the same messages exactly', async () => {
    const saved = await chpipeAsync(['plan', '--save', 'inferred'], dir);
    expect(saved.code, saved.stderr).toBe(0);
    const applied = await chpipeAsync(['apply', '--url', server.url], dir);
    expect(applied.code, applied.stderr).toBe(0);
    const rows = <T>(sql: string) => driver.query<T>(sql);
    const count = async (t: string) => Number((await rows<{ n: string }>(`SELECT toString(count()) AS n FROM ${DATABASE}.${t}`))[0]?.n);
    await until('every message in the three tables', async () => (await count('orders')) === N && (await count('visits')) === N && (await count('events')) === N, 90_000);

    const orders = await rows<Record<string, unknown>>(`SELECT toString(id) AS id, name, amount, toString(ts) AS ts, tags, note FROM ${DATABASE}.orders ORDER BY toInt64(id)`);
    expect(orders).toEqual(ids.map((i) => {
      const m = JSON.parse(jsonMessage(i)) as Record<string, unknown>;
      return { ...m, id: String(i) };
    }));
    const visits = await rows<Record<string, unknown>>(`SELECT toString(id) AS id, city, score, toString(day) AS day FROM ${DATABASE}.visits ORDER BY toInt64(id)`);
    expect(visits).toEqual(ids.map((i) => ({ id: String(i), city: `City ${i % 5}`, score: i * 1.5, day: `2024-05-${pad((i % 28) + 1)}` })));
    const events = await rows<Record<string, unknown>>(`SELECT toString(event_id) AS event_id, kind, toString(value) AS value FROM ${DATABASE}.events ORDER BY toInt64(event_id)`);
    expect(events).toEqual(ids.map((i) => ({ event_id: String(i), kind: `k${i % 3}`, value: String(i * 10) })));
  });

  it('an empty topic, garbage messages, an unknown topic and an unreachable broker: one sentence each, exit 1, no file', async () => {
    const before = await touching();
    const cases: [string[], RegExp][] = [
      [['infer', topics.empty], new RegExp(`^error: topic ${topics.empty} is empty \\(0 messages retained on 2 partitions\\): produce some messages first, or write the pipeline by hand$`)],
      [['infer', topics.garbage, '--format', 'JSONEachRow'], new RegExp(`^error: the message at ${topics.garbage}/0 offset 0 is not JSONEachRow: .+; pass --skip-invalid to leave such messages out \\(the pipeline then streams them to an errors table\\), or --format if the topic holds another format$`)],
      [['infer', topics.garbage], /^error: the message at .* is binary, not text \(Protobuf, or Avro without the Confluent framing\?\); infer reads JSONEachRow, CSV, CSVWithNames, TSV, TSVWithNames, AvroConfluent \(AvroConfluent: a magic byte 0 and a schema id before each message, with --schema-registry\)$/],
      [['infer', 'no_such_topic_here'], new RegExp(`^error: topic no_such_topic_here does not exist on the brokers ${bootstrap}$`)],
      [['infer', topics.json, '--name', 'dead', '--brokers', `127.0.0.1:${await freePort()}`, '--timeout', '3s'], /^error: the Kafka brokers 127\.0\.0\.1:\d+ (cannot be reached|did not answer within 3 s).*$/],
      [['infer', topics.json, '--format', 'Parquet'], /^error: --format "Parquet" is not one infer reads; expected one of JSONEachRow, CSV, CSVWithNames, TSV, TSVWithNames/],
    ];
    for (const [args, message] of cases) {
      const r = await chpipeAsync(args, dir);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(message);
      expect(r.stdout).toBe('');
    }
    for (const name of [topics.empty, topics.garbage, 'no_such_topic_here', 'dead']) expect(existsSync(join(dir, 'schemas', `${name}.yaml`))).toBe(false);
    expect(await touching()).toEqual(before);
  });

  it('messages whose format cannot be told: a sentence naming what it saw (it quoted a JSON message as "not JSON objects")', async () => {
    const topic = uniqueTopic('infer_mixed');
    await createTopic(bootstrap, topic, 1);
    await produceValues(bootstrap, topic, ['{"id": 1}', '{"id": 2, "extra": "x"}', 'this is not json'], 1);
    const r = await chpipeAsync(['infer', topic], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`error: cannot tell the format of the messages: 2 of 3 look like JSON objects, and the rest do not (the first, at ${topic}/0 offset 2, reads "this is not json"); pass --skip-invalid to infer from the JSON ones (the pipeline then streams messages that do not parse to an errors table), or --format`);
  });

  it('init --from-topic scaffolds a project around the inferred pipeline', async () => {
    const root = join(tempDir('chpipe-init-from-'), 'proj');
    const r = await chpipeAsync(['init', root, '--from-topic', topics.csv, '--brokers', bootstrap, '--name', 'visits'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'chpipe.yaml'), 'utf8')).toContain(`brokers: \${KAFKA_BROKERS:-${bootstrap}}`);
    expect(existsSync(join(root, 'schemas', 'api_latency.yaml'))).toBe(false);
    expect((parse(readFileSync(join(root, 'schemas', 'visits.yaml'), 'utf8')) as { source: { format: string } }).source.format).toBe('CSVWithNames');
    const failed = await chpipeAsync(['init', join(root, '..', 'other'), '--from-topic', topics.empty, '--brokers', bootstrap], dir);
    expect(failed.code).toBe(1);
    expect(existsSync(join(root, '..', 'other', 'chpipe.yaml'))).toBe(false);
  });

  it('reads the brokers as init writes them, ${KAFKA_BROKERS:-…}: from the environment, else the default (issue: it used the text as a host)', async () => {
    const fromEnv = tempDir('chpipe-infer-env-');
    writeFileSync(join(fromEnv, 'chpipe.yaml'), `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: \${KAFKA_BROKERS:-127.0.0.1:1}\n`);
    const set = await chpipeAsync(['infer', topics.json, '--name', 'env_orders'], fromEnv, { KAFKA_BROKERS: bootstrap });
    expect(set.code, set.stderr).toBe(0);
    expect(existsSync(join(fromEnv, 'schemas', 'env_orders.yaml'))).toBe(true);
    const byDefault = tempDir('chpipe-infer-default-');
    writeFileSync(join(byDefault, 'chpipe.yaml'), `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: \${KAFKA_BROKERS:-${bootstrap}}\n`);
    const unset = await chpipeAsync(['infer', topics.json, '--name', 'default_orders'], byDefault, { KAFKA_BROKERS: '' });
    expect(unset.code, unset.stderr).toBe(0);
    expect(existsSync(join(byDefault, 'schemas', 'default_orders.yaml'))).toBe(true);
  }, 60_000);

  it('a topic with a few malformed messages: the error names what it saw and suggests --skip-invalid, which infers from the rest and writes on_error: stream', async () => {
    const mixedDir = tempDir('chpipe-infer-mixed-');
    writeFileSync(join(mixedDir, 'chpipe.yaml'), `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: ${bootstrap}\n`);
    const refused = await chpipeAsync(['infer', topics.mixed, '--name', 'mixed'], mixedDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('cannot tell the format of the messages: 31 of 33 look like JSON objects, and the rest do not');
    expect(refused.stderr).toContain('pass --skip-invalid');
    const declared = await chpipeAsync(['infer', topics.mixed, '--name', 'mixed', '--format', 'JSONEachRow'], mixedDir);
    expect(declared.code).toBe(1);
    expect(declared.stderr).toContain('pass --skip-invalid to leave such messages out');
    const skipped = await chpipeAsync(['infer', topics.mixed, '--name', 'mixed', '--skip-invalid', '--json'], mixedDir);
    expect(skipped.code, skipped.stderr).toBe(0);
    const out = JSON.parse(skipped.stdout) as { valid: boolean; skipped: { count: number; first: { at: string; text: string } }; columns: { name: string }[] };
    expect(out.valid).toBe(true);
    expect(out.skipped.count).toBe(3);
    expect(out.skipped.first).toMatchObject({ at: `${topics.mixed}/0 offset 15`, text: 'not json at all' });
    expect(out.columns.map((c) => c.name)).toEqual(['id', 'name', 'amount', 'ts', 'tags', 'note']);
    expect(readFileSync(join(mixedDir, 'schemas', 'mixed.yaml'), 'utf8')).toContain('\n  format: JSONEachRow\n  on_error: stream\n');
    const text = await chpipeAsync(['infer', topics.mixed, '--name', 'mixed', '--skip-invalid', '--force'], mixedDir);
    expect(text.stdout).toContain(`skipped 3 messages the format cannot parse; the first, at ${topics.mixed}/0 offset 15`);
  }, 60_000);
});
