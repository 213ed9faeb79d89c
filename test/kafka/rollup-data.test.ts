/**
 * One consumer, many rollups (issue 19), on the real broker: an ingest pipeline of orders (errors
 * streamed), and two rollups of its table declared with `from: orders` — hourly revenue per country in
 * a SummingMergeTree (amounts > 0 only), daily buyers and a quantile in an AggregatingMergeTree. The topic
 * has one consumer group and one errors table; each rollup equals the same aggregate computed over the
 * orders table itself, and malformed messages are kept once.
 */
import { describe, expect, it } from 'vitest';
import { splitStatements } from '../../src/sql/parse.js';
import { chpipe, tempProject } from '../helpers/cli.js';
import { createTopic, endOffsets, groupsTouching, kafkaBootstrap, produceValues, uniqueTopic, waitCommitted } from '../helpers/kafka.js';
import { useKafkaTarget } from './zero-loss.js';

const target = useKafkaTarget();
const PARTITIONS = 2;

describe('rollups of another pipeline\'s table (from:) on the real broker', () => {
  it('one consumer group, one errors table; each rollup equals its aggregate over the ingested rows', { timeout: 240_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const driver = target();
    const db = `rollup_${process.pid}`;
    const topic = uniqueTopic('rollup_orders');
    await createTopic(bootstrap, topic, PARTITIONS);
    const dir = tempProject(
      {
        'schemas/orders.yaml': ['name: orders', 'source:', `  topic: ${topic}`, '  on_error: stream', 'columns:', '  order_id: UInt64', '  country: LowCardinality(String)', '  amount: Decimal(18, 2)', '  created_at: DateTime', 'table:', '  order_by: [country, created_at]', ''].join('\n'),
        'schemas/orders_hourly.yaml': ['name: orders_hourly', 'from: orders', 'filter: amount > 0', 'aggregate:', '  engine: SummingMergeTree', '  by: { country: country, hour: toStartOfHour(created_at) }', '  measures: { orders: count(), revenue: sum(amount) }', ''].join('\n'),
        'schemas/orders_daily.yaml': ['name: orders_daily', 'from: orders', 'aggregate:', '  by: { day: toDate(created_at) }', '  measures: { orders: count(), buyers: uniq(order_id), top: max(amount) }', ''].join('\n'),
      },
      `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`,
    );
    const env = { KAFKA_BROKERS: bootstrap };
    const compiled = chpipe(['compile'], dir, env);
    if (compiled.code !== 0) throw new Error(`chpipe compile exited ${compiled.code}: ${compiled.stderr}`);
    // One Kafka table in the whole project: the rollups read the orders table.
    expect(compiled.stdout.match(/ENGINE = Kafka/g)).toHaveLength(1);
    try {
      for (const { sql } of splitStatements(compiled.stdout)) if (sql.trim() !== '') await driver.exec(sql);
      const orders = Array.from({ length: 900 }, (_, i) =>
        i % 100 === 50 ? `{"order_id": ${i}, "amount": "not money"` : JSON.stringify({ order_id: i, country: ['de', 'fr', 'jp'][i % 3], amount: ((i * 37) % 500) - 40 + 0.25, created_at: `2026-12-0${1 + (i % 4)} ${String(i % 24).padStart(2, '0')}:15:00` }),
      );
      await produceValues(bootstrap, topic, orders, PARTITIONS, 30);
      const ends = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, 0n] as [number, bigint]));
      for (const [p, o] of await endOffsets(bootstrap, topic)) ends.set(p, o);
      const settled = await waitCommitted({ bootstrap, topic, groups: [`chpipe_${db}_orders`], ends, boundMs: 120_000, quietMs: 1500, counts: async () => JSON.stringify(await driver.query(`SELECT count() AS c FROM ${db}.orders`)) });
      if (!settled.settled) throw new Error(`the orders group did not commit the end offsets: ${settled.committed}`);
      expect(await groupsTouching(bootstrap, [topic])).toEqual([`chpipe_${db}_orders ${topic}`]);

      const rows = (sql: string) => driver.query<Record<string, unknown>>(sql);
      const malformed = orders.filter((o) => o.includes('not money')).length;
      expect(await rows(`SELECT count() AS n FROM ${db}.orders`)).toEqual([{ n: orders.length - malformed }]);
      expect(await rows(`SELECT count() AS n FROM ${db}.orders_errors`)).toEqual([{ n: malformed }]);
      expect(await rows(`SELECT country, hour, orders, revenue FROM ${db}.orders_hourly ORDER BY country, hour`)).toEqual(
        await rows(`SELECT country, toStartOfHour(created_at) AS hour, count() AS orders, sum(amount) AS revenue FROM ${db}.orders WHERE amount > 0 GROUP BY country, hour ORDER BY country, hour`),
      );
      expect(await rows(`SELECT day, orders, buyers, top FROM ${db}.orders_daily ORDER BY day`)).toEqual(
        await rows(`SELECT toDate(created_at) AS day, count() AS orders, uniq(order_id) AS buyers, max(amount) AS top FROM ${db}.orders GROUP BY day ORDER BY day`),
      );
    } finally {
      await driver.exec(`DROP DATABASE IF EXISTS ${db} SYNC`);
    }
  });
});
