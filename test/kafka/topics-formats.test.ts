/**
 * Issue 8, on the run's real broker and an embedded target in this process
 * (`useKafkaTarget()`), the pipelines compiled by the real CLI (`chpipe compile`):
 *
 * - several topics into one pipeline (`source.topics: [a, b]`): ids produced to
 *   each topic arrive exactly once, and `_topic` (declared `from: _topic`) names
 *   the topic each came from;
 * - the formats CSV, JSONEachRow and Avro (binary: every Kafka message is an Avro
 *   object container file, header with the writer's schema then data blocks, here
 *   1–3 records per message, written with `avsc`): every value of every column
 *   type arrives unchanged. Floats are compared bit for bit (reinterpretAsUInt64 /
 *   reinterpretAsUInt32), times as epoch numbers, Decimals at full scale, strings
 *   and the rest as the engine prints them.
 */
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { splitStatements } from '../../src/sql/parse.js';
import { chpipe, tempProject } from '../helpers/cli.js';
import { Rng } from '../helpers/generator.js';
import { createTopic, endOffsets, kafkaBootstrap, produceValues, uniqueTopic, waitCommitted } from '../helpers/kafka.js';
import { useKafkaTarget } from './zero-loss.js';

const target = useKafkaTarget();
const PARTITIONS = 2;
const ROWS = 240;
const SETTLE_BOUND_MS = 120_000;

// ---- column kinds: a ClickHouse type, a value per row, its text in CSV and JSON, its Avro type, and how to read it back ----

type Value = string | number | boolean | bigint | null | readonly number[] | ReadonlyMap<string, number>;

interface Kind {
  /** ClickHouse type, as written in the pipeline YAML. */
  type: string;
  value: (i: number, r: () => number) => Value;
  /** The field in a CSV line (already quoted where needed). */
  csv: (v: Value) => string;
  /** The value as JSON text. */
  json: (v: Value) => string;
  /** Avro type of the field; absent: not used in the Avro pipeline. */
  avro?: avro.Schema;
  /** The value as avsc writes it (default: as is). */
  toAvro?: (v: Value) => unknown;
  /** A SQL expression (over column `c`) that prints the value exactly, and the text expected from it. */
  read: (c: string) => string;
  expect: (v: Value) => string;
}

const q = (c: string) => `\`${c}\``;
const csvQuote = (s: string) => `"${s.replace(/"/g, '""')}"`;
const asText = (v: Value) => (Object.is(v, -0) ? '-0' : String(v));
const f64bits = (x: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return b.readBigUInt64LE().toString();
};
const f32bits = (x: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return String(b.readUInt32LE());
};
const DAY = 86_400_000;
const isoDate = (days: number) => new Date(days * DAY).toISOString().slice(0, 10);
const isoSecond = (s: number) => new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ');
const isoMilli = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
const decimal4 = (units: bigint) => {
  const neg = units < 0n;
  const a = neg ? -units : units;
  return `${neg ? '-' : ''}${a / 10_000n}.${String(a % 10_000n).padStart(4, '0')}`;
};
const STRINGS = ['plain', 'comma, and "quotes"', 'naïve ✓ 東京', 'tab\there', 'back\\slash', 'line\nbreak', '', "it's", '{"json":1}', '  spaced  '];

const KINDS: Record<string, Kind> = {
  i8: { type: 'Int8', value: (i) => ((i * 37) % 256) - 128, csv: asText, json: asText, avro: 'int', read: (c) => `toString(${c})`, expect: asText },
  u32: { type: 'UInt32', value: (i, r) => (i === 0 ? 4294967295 : Math.floor(r() * 4294967296)), csv: asText, json: asText, avro: 'long', read: (c) => `toString(${c})`, expect: asText },
  i64: {
    type: 'Int64',
    value: (i, r) => (i === 0 ? -(2n ** 63n) : i === 1 ? 2n ** 63n - 1n : BigInt(Math.floor((r() - 0.5) * 2 ** 52)) * 2047n),
    csv: asText,
    json: asText,
    avro: 'long',
    read: (c) => `toString(${c})`,
    expect: asText,
  },
  f64: {
    type: 'Float64',
    value: (i, r) => [0.1, -0, 1e-300, 1.7976931348623157e308, 5e-324][i] ?? (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20),
    csv: asText,
    json: asText,
    avro: 'double',
    read: (c) => `toString(reinterpretAsUInt64(${c}))`,
    expect: (v) => f64bits(v as number),
  },
  f32: {
    type: 'Float32',
    value: (i, r) => Math.fround([0.1, -1.5, 3.4028234663852886e38][i] ?? (r() - 0.5) * 10 ** Math.floor(r() * 20 - 10)),
    csv: asText,
    json: asText,
    avro: 'float',
    read: (c) => `toString(reinterpretAsUInt32(${c}))`,
    expect: (v) => f32bits(v as number),
  },
  dec: {
    type: 'Decimal(18, 4)',
    value: (i, r) => (i === 0 ? 999_999_999_999_999_999n : i === 1 ? -999_999_999_999_999_999n : BigInt(Math.floor((r() - 0.5) * 2e12))),
    csv: (v) => decimal4(v as bigint),
    json: (v) => decimal4(v as bigint),
    read: (c) => `toDecimalString(${c}, 4)`,
    expect: (v) => decimal4(v as bigint),
  },
  s: { type: 'String', value: (i) => `${STRINGS[i % STRINGS.length]}#${i}`, csv: (v) => csvQuote(v as string), json: (v) => JSON.stringify(v), avro: 'string', read: (c) => c, expect: asText },
  lc: { type: 'LowCardinality(String)', value: (i) => ['red', 'green', 'blue'][i % 3]!, csv: asText, json: (v) => JSON.stringify(v), avro: 'string', read: (c) => `toString(${c})`, expect: asText },
  b: { type: 'Bool', value: (i) => i % 3 === 0, csv: asText, json: asText, avro: 'boolean', read: (c) => `toString(${c})`, expect: asText },
  d: {
    type: 'Date',
    value: (i, r) => [0, 65535][i] ?? Math.floor(r() * 65536),
    csv: (v) => isoDate(v as number),
    json: (v) => JSON.stringify(isoDate(v as number)),
    avro: { type: 'int', logicalType: 'date' },
    read: (c) => `toString(toUInt16(${c}))`,
    expect: asText,
  },
  dt: {
    type: "DateTime('UTC')",
    value: (i, r) => [0, 4294967295][i] ?? Math.floor(r() * 4294967296),
    csv: (v) => isoSecond(v as number),
    json: (v) => JSON.stringify(isoSecond(v as number)),
    read: (c) => `toString(toUnixTimestamp(${c}))`,
    expect: asText,
  },
  ts: {
    type: "DateTime64(3, 'UTC')",
    value: (i, r) => [0, 1][i] ?? Math.floor(r() * 4e12),
    csv: (v) => isoMilli(v as number),
    json: (v) => JSON.stringify(isoMilli(v as number)),
    avro: { type: 'long', logicalType: 'timestamp-millis' },
    read: (c) => `toString(toUnixTimestamp64Milli(${c}))`,
    expect: asText,
  },
  ns: {
    type: 'Nullable(Int32)',
    value: (i, r) => (i % 3 === 1 ? null : Math.floor((r() - 0.5) * 2 ** 32)),
    csv: (v) => (v === null ? '\\N' : String(v)),
    json: (v) => (v === null ? 'null' : String(v)),
    avro: ['null', 'int'],
    read: (c) => `ifNull(toString(${c}), 'NULL')`,
    expect: (v) => (v === null ? 'NULL' : String(v)),
  },
  arr: {
    type: 'Array(Int32)',
    value: (i, r) => Array.from({ length: i % 4 }, () => Math.floor((r() - 0.5) * 2 ** 32)),
    csv: (v) => csvQuote(`[${(v as number[]).join(',')}]`),
    json: (v) => JSON.stringify(v),
    avro: { type: 'array', items: 'int' },
    read: (c) => `toString(${c})`,
    expect: (v) => `[${(v as number[]).join(',')}]`,
  },
  m: {
    type: 'Map(String, Int64)',
    value: (i) => new Map(Array.from({ length: i % 3 }, (_, k) => [`k${k}`, i * 1000 + k] as [string, number])),
    csv: (v) => csvQuote(`{${[...(v as Map<string, number>)].map(([k, x]) => `'${k}':${x}`).join(',')}}`),
    json: (v) => JSON.stringify(Object.fromEntries(v as Map<string, number>)),
    avro: { type: 'map', values: 'long' },
    toAvro: (v) => Object.fromEntries(v as Map<string, number>),
    read: (c) => `toString(${c})`,
    expect: (v) => `{${[...(v as Map<string, number>)].map(([k, x]) => `'${k}':${x}`).join(',')}}`,
  },
  e: {
    type: "Enum8('low' = 1, 'high' = 2)",
    value: (i) => (i % 2 ? 'high' : 'low'),
    csv: asText,
    json: (v) => JSON.stringify(v),
    avro: { type: 'enum', name: 'Level', symbols: ['low', 'high'] },
    read: (c) => `toString(${c})`,
    expect: asText,
  },
  u: {
    type: 'UUID',
    value: (i, r) => (i === 0 ? '00000000-0000-0000-0000-000000000000' : Array.from({ length: 32 }, () => Math.floor(r() * 16).toString(16)).join('').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')),
    csv: asText,
    json: (v) => JSON.stringify(v),
    avro: { type: 'string', logicalType: 'uuid' },
    read: (c) => `toString(${c})`,
    expect: asText,
  },
};

/**
 * Avro's long as a BigInt (avsc's documented custom long type), JS numbers accepted too. avsc's
 * built-in long writes JS numbers with float arithmetic: below −2^52 the zigzag encoding is wrong
 * (−9007199254740990 is written as +9007199254740990; found by this test), and BigInts are refused.
 */
const AVRO_LONG = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n: unknown) => typeof n === 'bigint' || Number.isSafeInteger(n),
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

type Row = { id: number } & Record<string, Value>;

function rows(kinds: Record<string, Kind>, seed: number): Row[] {
  const rng = new Rng(seed);
  const r = () => rng.next();
  return Array.from({ length: ROWS }, (_, i) => {
    const row: Row = { id: i + 1 };
    for (const [name, k] of Object.entries(kinds)) row[name] = k.value(i, r);
    return row;
  });
}

const csvLine = (kinds: Record<string, Kind>, row: Row) => [String(row.id), ...Object.entries(kinds).map(([n, k]) => k.csv(row[n]!))].join(',');
const jsonLine = (kinds: Record<string, Kind>, row: Row) => `{"id":${row.id},${Object.entries(kinds).map(([n, k]) => `${JSON.stringify(n)}:${k.json(row[n]!)}`).join(',')}}`;

/** One Avro object container file (header with the schema, then the records in a data block). */
function avroFile(type: avro.Type, records: readonly Record<string, unknown>[]): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const encoder = new avro.streams.BlockEncoder(type, { codec: 'null' });
    const chunks: Buffer[] = [];
    encoder.on('data', (c: Buffer) => chunks.push(c));
    encoder.once('error', fail);
    encoder.once('end', () => ok(Buffer.concat(chunks)));
    for (const rec of records) encoder.write(rec);
    encoder.end();
  });
}

/** The pipeline YAML: `id` first, then one column per kind. */
function pipelineYaml(name: string, source: string[], kinds: Record<string, Kind>, extra: string[] = []): string {
  return [`name: ${name}`, 'source:', ...source.map((l) => `  ${l}`), 'columns:', '  id: UInt64', ...Object.entries(kinds).map(([n, k]) => `  ${n}: ${JSON.stringify(k.type)}`), ...extra, 'table:', '  order_by: [id]', ''].join('\n');
}

const avroKinds: Record<string, Kind> = Object.fromEntries(Object.entries(KINDS).filter(([, k]) => k.avro !== undefined));
const textKinds = KINDS;

describe('several topics into one pipeline; CSV, JSONEachRow and Avro values unchanged (real broker, chpipe compile, embedded target)', () => {
  it('delivers each id once with its topic, and every value of every column type as produced', { timeout: 240_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const driver = target();
    const db = `fmt_${process.pid}`;
    const t = { a: uniqueTopic('multi_a'), b: uniqueTopic('multi-b'), csv: uniqueTopic('fmt_csv'), json: uniqueTopic('fmt_json'), avro: uniqueTopic('fmt_avro') };
    for (const topic of Object.values(t)) await createTopic(bootstrap, topic, PARTITIONS);

    const dir = tempProject(
      {
        'schemas/multi.yaml': ['name: multi', 'source:', `  topics: [${t.a}, ${t.b}]`, '  format: JSONEachRow', 'columns:', '  id: UInt64', '  src: { type: String, from: _topic }', 'table:', '  order_by: [id]', ''].join('\n'),
        'schemas/csv_types.yaml': pipelineYaml('csv_types', [`topic: ${t.csv}`, 'format: CSV'], textKinds),
        'schemas/json_types.yaml': pipelineYaml('json_types', [`topic: ${t.json}`, 'format: JSONEachRow'], textKinds),
        'schemas/avro_types.yaml': pipelineYaml('avro_types', [`topic: ${t.avro}`, 'format: Avro'], avroKinds),
      },
      `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`,
    );
    const env = { KAFKA_BROKERS: bootstrap };
    const validated = chpipe(['validate'], dir, env);
    expect(validated.stderr).toBe('');
    expect(validated.code).toBe(0);
    const compiled = chpipe(['compile'], dir, env);
    if (compiled.code !== 0) throw new Error(`chpipe compile exited ${compiled.code}: ${compiled.stderr}`);
    expect(compiled.stdout).toContain(`kafka_topic_list = '${t.a},${t.b}'`);
    expect(compiled.stdout).toContain("kafka_format = 'Avro'");
    try {
      for (const { sql } of splitStatements(compiled.stdout)) if (sql.trim() !== '') await driver.exec(sql);

      // Production: unique ids per topic of the multi-topic pipeline; the typed rows per format.
      const perTopic = 300;
      const multiA = Array.from({ length: perTopic }, (_, i) => i + 1);
      const multiB = Array.from({ length: perTopic }, (_, i) => perTopic + i + 1);
      await produceValues(bootstrap, t.a, multiA.map((id) => JSON.stringify({ id })), PARTITIONS, 50);
      await produceValues(bootstrap, t.b, multiB.map((id) => JSON.stringify({ id })), PARTITIONS, 50);
      const csvRows = rows(textKinds, 11);
      const jsonRows = rows(textKinds, 12);
      const avroRows = rows(avroKinds, 13);
      await produceValues(bootstrap, t.csv, csvRows.map((row) => csvLine(textKinds, row)), PARTITIONS, 40);
      await produceValues(bootstrap, t.json, jsonRows.map((row) => jsonLine(textKinds, row)), PARTITIONS, 40);
      const type = avro.Type.forSchema({ type: 'record', name: 'Row', fields: [{ name: 'id', type: 'long' }, ...Object.entries(avroKinds).map(([name, k]) => ({ name, type: k.avro! }))] }, { registry: { long: AVRO_LONG } });
      const files: Buffer[] = [];
      for (let i = 0, n = 1; i < avroRows.length; i += n, n = (n % 3) + 1) {
        const records = avroRows.slice(i, i + n).map((row) => Object.fromEntries(Object.entries(row).map(([c, v]) => [c, c === 'id' ? v : (avroKinds[c]!.toAvro ?? ((x: Value) => x))(v)])));
        files.push(await avroFile(type, records));
      }
      await produceValues(bootstrap, t.avro, files, PARTITIONS, 20);

      // Settle: each pipeline's group committed its topics' end offsets.
      const settled: Record<string, number> = {};
      for (const [pipeline, topics] of [['multi', [t.a, t.b]], ['csv_types', [t.csv]], ['json_types', [t.json]], ['avro_types', [t.avro]]] as const) {
        for (const topic of topics) {
          const ends = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, 0n] as [number, bigint]));
          for (const [p, o] of await endOffsets(bootstrap, topic)) ends.set(p, o);
          const s = await waitCommitted({
            bootstrap,
            topic,
            groups: [`chpipe_${db}_${pipeline}`],
            ends,
            boundMs: SETTLE_BOUND_MS,
            quietMs: 1500,
            counts: async () => JSON.stringify(await driver.query(`SELECT count() AS c FROM ${db}.${pipeline}`)),
          });
          if (!s.settled) throw new Error(`${pipeline} did not commit ${topic}'s end offsets within ${SETTLE_BOUND_MS} ms: ${s.committed}`);
          settled[`${pipeline}:${topic}`] = s.ms;
        }
      }
      console.log(`[topics-formats] settled (ms to commit each topic's end offsets): ${JSON.stringify(settled)}; ${files.length} Avro files for ${avroRows.length} rows`);

      // Several topics: each id once, `src` the topic it was produced to.
      const multi = await driver.query<{ id: string; src: string }>(`SELECT toString(id) AS id, src FROM ${db}.multi ORDER BY toUInt64(id)`);
      const expectedMulti = [...multiA.map((id) => ({ id, src: t.a })), ...multiB.map((id) => ({ id, src: t.b }))];
      expect(multi.map((r) => ({ id: Number(r.id), src: r.src }))).toEqual(expectedMulti);

      // Formats: every column of every row, read back exactly.
      for (const [pipeline, kinds, produced] of [
        ['csv_types', textKinds, csvRows],
        ['json_types', textKinds, jsonRows],
        ['avro_types', avroKinds, avroRows],
      ] as const) {
        const names = Object.keys(kinds);
        const back = await driver.query<Record<string, string>>(`SELECT toString(id) AS id, ${names.map((n) => `${kinds[n]!.read(q(n))} AS ${q(n)}`).join(', ')} FROM ${db}.${pipeline} ORDER BY toUInt64(id)`);
        const expected = produced.map((row) => ({ id: String(row.id), ...Object.fromEntries(names.map((n) => [n, kinds[n]!.expect(row[n]!)])) }));
        expect({ pipeline, rows: back.length }).toEqual({ pipeline, rows: produced.length });
        expect(back).toEqual(expected);
      }
    } finally {
      await driver.exec(`DROP DATABASE IF EXISTS ${db} SYNC`).catch(() => {});
    }
  });
});
