/**
 * Issue 19, data on the real broker: the same messages produced into pipelines written by hand (the
 * shapes of ClickHouse's docs) and into their chpipe declarations give identical tables, row for row.
 *
 * - meters: fields parsed and never stored: `level` only filters (debug readings dropped), `unit` and
 *   `reading` only feed `kwh` (Wh or kWh); malformed messages skipped (`on_error: skip`);
 * - meters_daily: an aggregate (stream mode: malformed messages kept apart) whose by key and measures
 *   read those fields, `sum` into SimpleAggregateFunction;
 * - users: Kafka virtual columns stored under their own names into a ReplacingMergeTree(_offset);
 * - events: JSONAsString, each column a JSONExtract over the raw string, nested objects and arrays;
 * - order_items / sku_totals: one order → one row per item (ARRAY JOIN over Array(Tuple(sku, qty)), the
 *   element's members read by `path: items.sku`, items of quantity 0 filtered out), and the items rolled up per SKU;
 * - hits_hourly: the docs' rollup, a SummingMergeTree fed by a GROUP BY view (count() and sum()).
 *
 * Readings are multiples of 0.125 (exact in binary), so sums do not depend on the order of blocks.
 */
import { describe, expect, it } from 'vitest';
import { SKIP_BROKEN_MESSAGES_DEFAULT } from '../../src/model/kafka.js';
import { splitStatements } from '../../src/sql/parse.js';
import { chpipe, tempProject } from '../helpers/cli.js';
import { createTopic, endOffsets, kafkaBootstrap, produceValues, uniqueTopic, waitCommitted } from '../helpers/kafka.js';
import { useKafkaTarget } from './zero-loss.js';

const target = useKafkaTarget();
const PARTITIONS = 2;
const SETTLE_BOUND_MS = 120_000;

describe('message fields and virtual columns by name: a hand-written pipeline and its chpipe declaration fill identical tables (real broker)', () => {
  it('meters filtered on a field not stored, an aggregate over unstored fields, users with _partition/_offset, JSONAsString parsed with JSONExtract, order items fanned out and rolled up, a SummingMergeTree rollup', { timeout: 240_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const driver = target();
    const hand = `hand_${process.pid}`;
    const db = `lang_${process.pid}`;
    const t = { meters: uniqueTopic('lang_meters'), users: uniqueTopic('lang_users'), events: uniqueTopic('lang_events'), orders: uniqueTopic('lang_orders'), hits: uniqueTopic('lang_hits') };
    for (const topic of Object.values(t)) await createTopic(bootstrap, topic, PARTITIONS);
    const kafka = (topic: string, group: string, extra = '') => `ENGINE = Kafka SETTINGS kafka_broker_list = '${bootstrap}', kafka_topic_list = '${topic}', kafka_group_name = '${group}', kafka_format = 'JSONEachRow', kafka_flush_interval_ms = 500${extra}`;
    const written = [
      `CREATE DATABASE ${hand}`,
      `CREATE TABLE ${hand}.meters_in (meter_id UInt64, unit String, reading Float64, level String) ${kafka(t.meters, `${hand}_meters`, `, kafka_skip_broken_messages = ${SKIP_BROKEN_MESSAGES_DEFAULT}`)}`,
      `CREATE TABLE ${hand}.meters (meter_id UInt64, kwh Float64) ENGINE = MergeTree ORDER BY meter_id`,
      `CREATE MATERIALIZED VIEW ${hand}.meters_mv TO ${hand}.meters AS SELECT meter_id, if(unit = 'Wh', reading / 1000, reading) AS kwh FROM ${hand}.meters_in WHERE level != 'debug'`,
      `CREATE TABLE ${hand}.daily_in (meter_id UInt64, unit String, reading Float64, level String) ${kafka(t.meters, `${hand}_daily`, ", kafka_handle_error_mode = 'stream'")}`,
      `CREATE TABLE ${hand}.daily (meter_id UInt64, total_kwh SimpleAggregateFunction(sum, Float64), readings AggregateFunction(count), units AggregateFunction(uniq, String)) ENGINE = AggregatingMergeTree ORDER BY meter_id`,
      `CREATE MATERIALIZED VIEW ${hand}.daily_mv TO ${hand}.daily AS SELECT meter_id, sum(if(unit = 'Wh', reading / 1000, reading)) AS total_kwh, countState() AS readings, uniqState(unit) AS units FROM ${hand}.daily_in WHERE length(_error) = 0 AND level != 'debug' GROUP BY meter_id`,
      `CREATE TABLE ${hand}.daily_errors (raw String) ENGINE = MergeTree ORDER BY raw`,
      `CREATE MATERIALIZED VIEW ${hand}.daily_errors_mv TO ${hand}.daily_errors AS SELECT _raw_message AS raw FROM ${hand}.daily_in WHERE length(_error) > 0`,
      `CREATE TABLE ${hand}.users_in (id UInt64, name String) ${kafka(t.users, `${hand}_users`)}`,
      `CREATE TABLE ${hand}.users (id UInt64, name String, _partition UInt64, _offset UInt64) ENGINE = ReplacingMergeTree(_offset) ORDER BY id`,
      `CREATE MATERIALIZED VIEW ${hand}.users_mv TO ${hand}.users AS SELECT id, name, _partition, _offset FROM ${hand}.users_in`,
      `CREATE TABLE ${hand}.events_raw (raw String) ${kafka(t.events, `${hand}_events`).replace("'JSONEachRow'", "'JSONAsString'")}`,
      `CREATE TABLE ${hand}.events (event String, user_id UInt64, skus Array(String), qty UInt32) ENGINE = MergeTree ORDER BY (event, user_id)`,
      `CREATE MATERIALIZED VIEW ${hand}.events_mv TO ${hand}.events AS SELECT JSONExtractString(raw, 'event') AS event, JSONExtractUInt(raw, 'user', 'id') AS user_id, arrayMap(x -> JSONExtractString(x, 'sku'), JSONExtractArrayRaw(raw, 'items')) AS skus, arraySum(arrayMap(x -> toUInt32(JSONExtractUInt(x, 'qty')), JSONExtractArrayRaw(raw, 'items'))) AS qty FROM ${hand}.events_raw WHERE JSONHas(raw, 'event')`,
      `CREATE TABLE ${hand}.orders_in (order_id UInt64, items Array(Tuple(sku String, qty UInt32))) ${kafka(t.orders, `${hand}_items`)}`,
      `CREATE TABLE ${hand}.order_items (order_id UInt64, sku String, qty UInt32) ENGINE = MergeTree ORDER BY (order_id, sku)`,
      `CREATE MATERIALIZED VIEW ${hand}.order_items_mv TO ${hand}.order_items AS SELECT order_id, tupleElement(items, 'sku') AS sku, tupleElement(items, 'qty') AS qty FROM ${hand}.orders_in ARRAY JOIN items WHERE tupleElement(items, 'qty') > 0`,
      `CREATE TABLE ${hand}.skus_in (order_id UInt64, items Array(Tuple(sku String, qty UInt32))) ${kafka(t.orders, `${hand}_skus`)}`,
      `CREATE TABLE ${hand}.sku_totals (sku String, units SimpleAggregateFunction(sum, UInt64), orders AggregateFunction(uniq, UInt64)) ENGINE = AggregatingMergeTree ORDER BY sku`,
      `CREATE MATERIALIZED VIEW ${hand}.sku_totals_mv TO ${hand}.sku_totals AS SELECT tupleElement(items, 'sku') AS sku, sum(tupleElement(items, 'qty')) AS units, uniqState(order_id) AS orders FROM ${hand}.skus_in ARRAY JOIN items GROUP BY sku`,
      `CREATE TABLE ${hand}.hits_in (page String, ts DateTime, bytes UInt64) ${kafka(t.hits, `${hand}_hits`)}`,
      `CREATE TABLE ${hand}.hits_hourly (page String, hour DateTime, hits UInt64, total_bytes UInt64) ENGINE = SummingMergeTree ORDER BY (page, hour)`,
      `CREATE MATERIALIZED VIEW ${hand}.hits_hourly_mv TO ${hand}.hits_hourly AS SELECT page, toStartOfHour(ts) AS hour, count() AS hits, sum(bytes) AS total_bytes FROM ${hand}.hits_in GROUP BY page, hour`,
    ];
    const fields = ['  fields:', '    meter_id: UInt64', '    unit: String', '    reading: Float64', '    level: String'];
    const dir = tempProject(
      {
        'schemas/meters.yaml': ['name: meters', 'source:', `  topic: ${t.meters}`, '  on_error: skip', ...fields, 'columns:', '  meter_id: UInt64', `  kwh: { type: Float64, expr: "if(unit = 'Wh', reading / 1000, reading)" }`, "filter: level != 'debug'", 'table:', '  order_by: [meter_id]', ''].join('\n'),
        'schemas/meters_daily.yaml': ['name: meters_daily', 'source:', `  topic: ${t.meters}`, '  on_error: stream', ...fields, 'columns:', `  kwh: { type: Float64, expr: "if(unit = 'Wh', reading / 1000, reading)" }`, "filter: level != 'debug'", 'aggregate:', '  by: { meter_id: meter_id }', '  measures: { total_kwh: sum(kwh), readings: count(), units: uniq(unit) }', ''].join('\n'),
        'schemas/events.yaml': [
          'name: events',
          'source:',
          `  topic: ${t.events}`,
          '  format: JSONAsString',
          '  fields: { raw: String }',
          'columns:',
          `  event: { type: String, expr: "JSONExtractString(raw, 'event')" }`,
          `  user_id: { type: UInt64, expr: "JSONExtractUInt(raw, 'user', 'id')" }`,
          `  skus: { type: "Array(String)", expr: "arrayMap(x -> JSONExtractString(x, 'sku'), JSONExtractArrayRaw(raw, 'items'))" }`,
          `  qty: { type: UInt32, expr: "arraySum(arrayMap(x -> toUInt32(JSONExtractUInt(x, 'qty')), JSONExtractArrayRaw(raw, 'items')))" }`,
          "filter: JSONHas(raw, 'event')",
          'table:',
          '  order_by: [event, user_id]',
          '',
        ].join('\n'),
        'schemas/order_items.yaml': [
          'name: order_items',
          'source:',
          `  topic: ${t.orders}`,
          '  fields: { order_id: UInt64, items: "Array(Tuple(sku String, qty UInt32))" }',
          'explode: items',
          'columns:',
          '  order_id: UInt64',
          '  sku: { type: String, path: items.sku }',
          '  qty: { type: UInt32, path: items.qty }',
          "filter: tupleElement(items, 'qty') > 0",
          'table:',
          '  order_by: [order_id, sku]',
          '',
        ].join('\n'),
        'schemas/sku_totals.yaml': [
          'name: sku_totals',
          'source:',
          `  topic: ${t.orders}`,
          'explode: items',
          'columns:',
          '  order_id: UInt64',
          '  items: "Array(Tuple(sku String, qty UInt32))"',
          'aggregate:',
          `  by: { sku: "tupleElement(items, 'sku')" }`,
          `  measures: { units: "sum(tupleElement(items, 'qty'))", orders: uniq(order_id) }`,
          '',
        ].join('\n'),
        'schemas/hits_hourly.yaml': [
          'name: hits_hourly',
          'source:',
          `  topic: ${t.hits}`,
          'columns:',
          '  page: String',
          '  ts: DateTime',
          '  bytes: UInt64',
          'aggregate:',
          '  engine: SummingMergeTree',
          '  by: { page: page, hour: toStartOfHour(ts) }',
          '  measures: { hits: count(), total_bytes: sum(bytes) }',
          '',
        ].join('\n'),
        'schemas/users.yaml': ['name: users', 'source:', `  topic: ${t.users}`, 'columns:', '  id: UInt64', '  name: String', '  _partition: { type: UInt64, from: _partition }', '  _offset: { type: UInt64, from: _offset }', 'table:', '  engine: ReplacingMergeTree(_offset)', '  order_by: [id]', ''].join('\n'),
      },
      `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`,
    );
    const env = { KAFKA_BROKERS: bootstrap };
    const compiled = chpipe(['compile'], dir, env);
    if (compiled.code !== 0) throw new Error(`chpipe compile exited ${compiled.code}: ${compiled.stderr}`);
    try {
      for (const sql of written) await driver.exec(sql);
      for (const { sql } of splitStatements(compiled.stdout)) if (sql.trim() !== '') await driver.exec(sql);

      // 600 readings of 12 meters in Wh or kWh, every fifth at level debug; 7 malformed messages among them.
      const readings = Array.from({ length: 600 }, (_, i) => {
        if (i % 90 === 45) return `{"meter_id": "not a number ${i}", "unit": "Wh"`;
        const wh = i % 3 === 0;
        return JSON.stringify({ meter_id: i % 12, unit: wh ? 'Wh' : 'kWh', reading: wh ? (i % 40) * 125 : (i % 17) * 0.25, level: i % 5 === 0 ? 'debug' : 'info' });
      });
      // 400 user updates over 50 ids: the latest offset per id wins.
      const users = Array.from({ length: 400 }, (_, i) => JSON.stringify({ id: i % 50, name: `user ${i % 50} v${Math.floor(i / 50)} ✓` }));
      await produceValues(bootstrap, t.meters, readings, PARTITIONS, 40);
      await produceValues(bootstrap, t.users, users, PARTITIONS, 40);
      // 300 nested orders; every tenth without an event (filtered), some without items.
      const events = Array.from({ length: 300 }, (_, i) =>
        JSON.stringify({ ...(i % 10 ? { event: i % 3 ? 'order' : 'refund' } : {}), user: { id: 1000 + (i % 17), name: `ü${i}` }, items: Array.from({ length: i % 4 }, (_, k) => ({ sku: `sku-${k}-${i % 5}`, qty: k + 1 })) }),
      );
      await produceValues(bootstrap, t.events, events, PARTITIONS, 30);
      // 200 orders of 0 to 4 items over 7 SKUs, some of quantity 0.
      const orders = Array.from({ length: 200 }, (_, i) => JSON.stringify({ order_id: i + 1, items: Array.from({ length: i % 5 }, (_, k) => ({ sku: `sku-${(i + k) % 7}`, qty: (i * k) % 4 })) }));
      await produceValues(bootstrap, t.orders, orders, PARTITIONS, 25);
      // 500 hits on 6 pages over 5 hours.
      const hits = Array.from({ length: 500 }, (_, i) => JSON.stringify({ page: `/p${i % 6}`, ts: `2026-12-0${1 + (i % 3)} 0${i % 5}:${String(i % 60).padStart(2, '0')}:00`, bytes: (i * 37) % 5000 }));
      await produceValues(bootstrap, t.hits, hits, PARTITIONS, 50);

      for (const [topic, groups] of [
        [t.meters, [`${hand}_meters`, `${hand}_daily`, `chpipe_${db}_meters`, `chpipe_${db}_meters_daily`]],
        [t.users, [`${hand}_users`, `chpipe_${db}_users`]],
        [t.events, [`${hand}_events`, `chpipe_${db}_events`]],
        [t.orders, [`${hand}_items`, `${hand}_skus`, `chpipe_${db}_order_items`, `chpipe_${db}_sku_totals`]],
        [t.hits, [`${hand}_hits`, `chpipe_${db}_hits_hourly`]],
      ] as const) {
        const ends = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, 0n] as [number, bigint]));
        for (const [p, o] of await endOffsets(bootstrap, topic)) ends.set(p, o);
        const s = await waitCommitted({
          bootstrap,
          topic,
          groups: [...groups],
          ends,
          boundMs: SETTLE_BOUND_MS,
          quietMs: 1500,
          counts: async () => JSON.stringify(await driver.query(`SELECT (SELECT count() FROM ${hand}.meters) AS a, (SELECT count() FROM ${db}.meters) AS b, (SELECT count() FROM ${hand}.users) AS c, (SELECT count() FROM ${db}.users) AS d`)),
        });
        if (!s.settled) throw new Error(`the groups did not commit ${topic}'s end offsets within ${SETTLE_BOUND_MS} ms: ${s.committed}`);
      }

      const rows = (sql: string) => driver.query<Record<string, unknown>>(sql);
      const good = readings.filter((r) => !r.startsWith('{"meter_id": "not'));
      const kept = good.map((r) => JSON.parse(r) as { level: string }).filter((r) => r.level !== 'debug').length;

      const meters = await rows(`SELECT meter_id, kwh FROM ${db}.meters ORDER BY meter_id, kwh`);
      expect(meters).toHaveLength(kept);
      expect(meters).toEqual(await rows(`SELECT meter_id, kwh FROM ${hand}.meters ORDER BY meter_id, kwh`));

      const daily = await rows(`SELECT meter_id, total_kwh, readings, units FROM ${db}.meters_daily ORDER BY meter_id`);
      expect(daily).toHaveLength(12);
      expect(daily).toEqual(await rows(`SELECT meter_id, sum(total_kwh) AS total_kwh, countMerge(readings) AS readings, uniqMerge(units) AS units FROM ${hand}.daily GROUP BY meter_id ORDER BY meter_id`));
      // The aggregate agrees with the ingest pipeline's rows of the same messages.
      expect(daily.map(({ units: _, ...r }) => r)).toEqual(await rows(`SELECT meter_id, sum(kwh) AS total_kwh, count() AS readings FROM ${db}.meters GROUP BY meter_id ORDER BY meter_id`));
      const errors = await rows(`SELECT raw_message AS raw FROM ${db}.meters_daily_errors ORDER BY raw`);
      expect(errors).toHaveLength(readings.length - good.length);
      expect(errors).toEqual(await rows(`SELECT raw FROM ${hand}.daily_errors ORDER BY raw`));

      const parsed = await rows(`SELECT event, user_id, skus, qty FROM ${db}.events ORDER BY event, user_id, skus, qty`);
      expect(parsed).toHaveLength(270);
      expect(parsed).toEqual(await rows(`SELECT event, user_id, skus, qty FROM ${hand}.events ORDER BY event, user_id, skus, qty`));

      const items = await rows(`SELECT order_id, sku, qty FROM ${db}.order_items ORDER BY order_id, sku, qty`);
      const expectedItems = orders.flatMap((o) => (JSON.parse(o) as { items: { qty: number }[] }).items.filter((x) => x.qty > 0)).length;
      expect(items).toHaveLength(expectedItems);
      expect(items).toEqual(await rows(`SELECT order_id, sku, qty FROM ${hand}.order_items ORDER BY order_id, sku, qty`));
      const skus = await rows(`SELECT sku, units, orders FROM ${db}.sku_totals ORDER BY sku`);
      expect(skus).toHaveLength(7);
      expect(skus).toEqual(await rows(`SELECT sku, sum(units) AS units, uniqMerge(orders) AS orders FROM ${hand}.sku_totals GROUP BY sku ORDER BY sku`));

      const rollup = await rows(`SELECT page, hour, hits, total_bytes FROM ${db}.hits_hourly ORDER BY page, hour`);
      expect(rollup.reduce((n, r) => n + Number(r.hits), 0)).toBe(500);
      expect(rollup).toEqual(await rows(`SELECT page, hour, sum(hits) AS hits, sum(total_bytes) AS total_bytes FROM ${hand}.hits_hourly GROUP BY page, hour ORDER BY page, hour`));

      // Merges collapse rows at their own pace: compare what FINAL keeps, the latest offset of each id.
      const latest = await rows(`SELECT id, name, _partition, _offset FROM ${db}.users FINAL ORDER BY id`);
      expect(latest).toHaveLength(50);
      expect(latest).toEqual(await rows(`SELECT id, name, _partition, _offset FROM ${hand}.users FINAL ORDER BY id`));
      expect(latest.map((r) => r.name)).toEqual(Array.from({ length: 50 }, (_, id) => `user ${id} v7 ✓`));
    } finally {
      await driver.exec(`DROP DATABASE IF EXISTS ${hand} SYNC`);
      await driver.exec(`DROP DATABASE IF EXISTS ${db} SYNC`);
    }
  });
});
