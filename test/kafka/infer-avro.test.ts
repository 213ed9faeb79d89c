/**
 * `chpipe infer TOPIC` for Avro through a schema registry, on the run's real
 * broker and a real registry (Apicurio Registry from Maven Central, started and
 * stopped by PID here: test/kafka/registry.ts). A schema is registered, the
 * topic filled with Confluent-framed Avro messages (magic byte 0, the schema
 * id, the body, written by avsc); `infer` tells the framing, reads the columns
 * through the registry, writes YAML that validates, and the pipeline, planned
 * and applied on a `chpipe serve` target, ingests the same messages exactly.
 * The registry URL also comes from chpipe.yaml's `kafka.schema_registry`; no
 * registry, an unreachable one and messages that are not framed: one sentence.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Driver } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import { chpipeAsync, tempDir } from '../helpers/cli.js';
import { createTopic, kafkaBootstrap, produceValues, uniqueTopic } from '../helpers/kafka.js';
import { freePort } from '../helpers/processes.js';
import { until } from '../helpers/wait.js';
import { startServe, type Server } from '../migrate/target.js';
import { startRegistry, type Registry } from './registry.js';

const DATABASE = 'infer_avro_test';

const SCHEMA = {
  type: 'record',
  name: 'Order',
  namespace: 'chpipe.test',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'name', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'paid', type: 'boolean' },
    { name: 'qty', type: 'int' },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};
const TYPE = avro.Type.forSchema(SCHEMA as avro.Schema);

interface Order {
  id: number;
  name: string;
  amount: number;
  paid: boolean;
  qty: number;
  tags: string[];
  note: string | null;
}

const N = 40;
/** A name with a quote, a backslash and non-ASCII text: the bytes must reach the engine unchanged. */
const order = (i: number): Order => ({ id: i, name: `user ${i} 'ü\\`, amount: i * 0.25, paid: i % 2 === 0, qty: i * 3, tags: i % 2 ? ['a', `t${i}`] : [], note: i % 3 === 0 ? null : `n${i}` });

/** The Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the Avro body. */
function framed(id: number, value: Order): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
  return Buffer.concat([header, TYPE.toBuffer(value)]);
}

const COLUMNS = [
  ['id', 'Int64'],
  ['name', 'String'],
  ['amount', 'Float64'],
  ['paid', 'Bool'],
  ['qty', 'Int32'],
  ['tags', 'Array(String)'],
  ['note', 'Nullable(String)'],
];

describe('chpipe infer for Avro through a real schema registry', () => {
  const bootstrap = kafkaBootstrap();
  const topics = { avro: uniqueTopic('infer_avro'), text: uniqueTopic('infer_avro_text'), raw: uniqueTopic('infer_avro_raw') };
  const ids = Array.from({ length: N }, (_, k) => k + 1);
  let registry: Registry;
  let dir: string;
  let server: Server;
  let driver: Driver;

  beforeAll(async () => {
    registry = await startRegistry((line) => console.log(line));
    await Promise.all(Object.values(topics).map((t) => createTopic(bootstrap, t, 2)));
    const id = await registry.register(`${topics.avro}-value`, SCHEMA);
    await produceValues(bootstrap, topics.avro, ids.map((i) => framed(id, order(i))), 2, 10);
    await produceValues(bootstrap, topics.text, ['{"id": 1}', '{"id": 2}'], 1);
    // Avro without the framing (plain body bytes): binary, but not AvroConfluent.
    await produceValues(bootstrap, topics.raw, ids.slice(0, 3).map((i) => TYPE.toBuffer(order(i))), 1);
    dir = tempDir('chpipe-infer-avro-');
    writeFileSync(join(dir, 'chpipe.yaml'), `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: ${bootstrap}\n`);
    server = await startServe(tempDir('chpipe-infer-avro-served-'));
    driver = await HttpDriver.connect(server.url);
  }, 400_000);

  afterAll(async () => {
    await driver?.close();
    await server?.stop();
    await registry?.stop();
  });

  it('detects the Confluent framing, reads the columns through the registry, writes YAML that validates', async () => {
    const r = await chpipeAsync(['infer', topics.avro, '--name', 'orders', '--schema-registry', registry.url, '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { format: string; formatDetected: boolean; sampled: number; valid: boolean; notes: string[]; columns: { name: string; type: string; notes: string[] }[] };
    expect(out).toMatchObject({ format: 'AvroConfluent', formatDetected: true, sampled: N, valid: true });
    expect(out.columns.map((c) => [c.name, c.type])).toEqual(COLUMNS);
    expect(out.notes.join(' ')).toContain(`read from the schema registry ${registry.url}`);
    expect(out.columns.find((c) => c.name === 'note')?.notes.join(' ')).toMatch(/null in 13 of 40/);

    const doc = parse(readFileSync(join(dir, 'schemas', 'orders.yaml'), 'utf8')) as unknown;
    expect(doc).toEqual({
      name: 'orders',
      source: { topic: topics.avro, format: 'AvroConfluent', schema_registry: registry.url },
      columns: Object.fromEntries(COLUMNS),
      table: { order_by: ['id'] },
    });
    const validate = await chpipeAsync(['validate'], dir);
    expect(validate.code, validate.stderr).toBe(0);
  });

  it('the inferred pipeline, planned and applied, ingests the same messages exactly', async () => {
    const saved = await chpipeAsync(['plan', '--save', 'inferred_avro'], dir);
    expect(saved.code, saved.stderr).toBe(0);
    expect(readFileSync(join(dir, 'migrations', readdirOne(join(dir, 'migrations'))), 'utf8')).toContain(`format_avro_schema_registry_url = '${registry.url}'`);
    const applied = await chpipeAsync(['apply', '--url', server.url], dir);
    expect(applied.code, applied.stderr).toBe(0);
    const count = async () => Number((await driver.query<{ n: string }>(`SELECT toString(count()) AS n FROM ${DATABASE}.orders`))[0]?.n);
    await until('every Avro message in the table', async () => (await count()) === N, 90_000);
    const rows = await driver.query<Record<string, unknown>>(`SELECT toString(id) AS id, name, amount, paid, qty, tags, note FROM ${DATABASE}.orders ORDER BY toInt64(id)`);
    expect(rows).toEqual(ids.map((i) => ({ ...order(i), id: String(i) })));
  });

  it('takes the registry from chpipe.yaml (kafka.schema_registry), and then writes none into the pipeline', async () => {
    const project = tempDir('chpipe-infer-avro-project-');
    writeFileSync(join(project, 'chpipe.yaml'), `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: ${bootstrap}\n  schema_registry: ${registry.url}\n`);
    const r = await chpipeAsync(['infer', topics.avro, '--name', 'orders', '--format', 'avroconfluent'], project);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`pipeline orders, 7 columns from ${N} sampled messages (AvroConfluent); valid`);
    const doc = parse(readFileSync(join(project, 'schemas', 'orders.yaml'), 'utf8')) as { source: Record<string, unknown> };
    expect(doc.source).toEqual({ topic: topics.avro, format: 'AvroConfluent' });
    const plan = await chpipeAsync(['plan', '--sql'], project);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`format_avro_schema_registry_url = '${registry.url}'`);
  });

  it('init --from-topic --schema-registry writes the registry into the new chpipe.yaml, not into the pipeline', async () => {
    const parent = tempDir('chpipe-init-avro-');
    const r = await chpipeAsync(['init', 'shop', '--from-topic', topics.avro, '--name', 'orders', '--brokers', bootstrap, '--schema-registry', registry.url], parent);
    expect(r.code, r.stderr).toBe(0);
    const project = parse(readFileSync(join(parent, 'shop', 'chpipe.yaml'), 'utf8')) as { kafka: Record<string, unknown> };
    expect(project.kafka.schema_registry).toBe(registry.url);
    const doc = parse(readFileSync(join(parent, 'shop', 'schemas', 'orders.yaml'), 'utf8')) as { source: Record<string, unknown> };
    expect(doc.source).toEqual({ topic: topics.avro, format: 'AvroConfluent' });
  });

  it('no registry, an unreachable registry, messages without the framing: one sentence each, exit 1, no file', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const cases: [string[], RegExp][] = [
      [['infer', topics.avro, '--name', 'a1'], /^error: the messages are Avro in the Confluent wire format \(schema id \d+ in the newest\); pass --schema-registry URL \(or set kafka\.schema_registry in chpipe\.yaml\)$/],
      [['infer', topics.avro, '--name', 'a2', '--schema-registry', dead], new RegExp(`^error: the sampled messages cannot be read as AvroConfluent through the schema registry ${dead.replace(/\./g, '\\.')} \\(schema id \\d+\\): .+$`)],
      [['infer', topics.text, '--name', 'a3', '--format', 'AvroConfluent', '--schema-registry', registry.url], new RegExp(`^error: the message at ${topics.text}/0 offset 0 is not Avro in the Confluent wire format: it starts with byte 123, not the magic byte 0 and a 4-byte schema id; pass --format if the topic holds another format$`)],
      [['infer', topics.raw, '--name', 'a4'], /^error: the message at .* is binary, not text \(Protobuf, or Avro without the Confluent framing\?\); infer reads JSONEachRow, CSV, CSVWithNames, TSV, TSVWithNames, AvroConfluent/],
      [['infer', topics.avro, '--name', 'a5', '--schema-registry', 'registry:8081'], /^error: --schema-registry "registry:8081" is not an http\(s\) URL; write e\.g\. --schema-registry http:\/\/localhost:8081$/],
      [['infer', topics.text, '--name', 'a6', '--format', 'JSONEachRow', '--schema-registry', registry.url], /^error: --schema-registry is for AvroConfluent messages, not JSONEachRow; drop it, or pass --format AvroConfluent$/],
    ];
    for (const [args, message] of cases) {
      const r = await chpipeAsync(args, dir);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(message);
      expect(r.stdout).toBe('');
    }
    for (const name of ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']) expect(existsSync(join(dir, 'schemas', `${name}.yaml`))).toBe(false);
  });
});

function readdirOne(folder: string): string {
  const files = readdirSync(folder).filter((f) => f.endsWith('.sql'));
  expect(files).toHaveLength(1);
  return files[0] as string;
}
