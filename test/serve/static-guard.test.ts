/**
 * The guard `chpipe serve` puts before the engine: a Kafka table that would
 * give a topic the engine runs with static membership several consumers, or a
 * second table in its consumer group, is refused before it runs (code 36,
 * HTTP 400, one sentence). On the real embedded engine, no broker: creating a
 * Kafka table contacts none until a view reads it. Also: the Kafka tables a
 * data folder holds, read from its metadata files before its engine starts,
 * decide its engine config. The end-to-end form on a real broker is in
 * test/kafka/handover.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineInstanceId, writeEngineConfig } from '../../src/engine/engine-config.js';
import { EngineError } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import { kafkaTablesOnDisk } from '../../src/inspect/on-disk.js';
import { staticMembershipGuard } from '../../src/serve/guard.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { readCreateTable } from '../../src/sql/create-table.js';
import { tempDir } from '../helpers/cli.js';

const kafka = (name: string, topic: string, group: string, extra = '') =>
  `CREATE TABLE ${name} (id UInt64) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', kafka_topic_list = '${topic}', kafka_group_name = '${group}', kafka_format = 'JSONEachRow'${extra}`;

describe('reading a CREATE TABLE statement back', () => {
  it('names the table and its engine clause, from a statement, an EXPLAIN and a metadata file', () => {
    expect(readCreateTable("CREATE TABLE IF NOT EXISTS `metrics-prod`.`order` (`id` UInt64) ENGINE = Kafka SETTINGS kafka_topic_list = 'a,b', kafka_num_consumers = 3 COMMENT 'x ENGINE = y'")).toEqual({
      database: 'metrics-prod',
      name: 'order',
      ifNotExists: true,
      explained: false,
      engine: 'Kafka',
      engineFull: "Kafka SETTINGS kafka_topic_list = 'a,b', kafka_num_consumers = 3",
    });
    expect(readCreateTable("-- step 3/4\nEXPLAIN AST CREATE TABLE q (id UInt64) ENGINE = Kafka(coll, kafka_topic_list = 't')")).toMatchObject({ name: 'q', explained: true, engineFull: "Kafka(coll, kafka_topic_list = 't')" });
    expect(readCreateTable("ATTACH TABLE _ UUID 'cd839c3f-33f9-4dbf-b6a6-3f3b4828eb6f'\n(\n    `id` UInt64\n)\nENGINE = Kafka\nSETTINGS kafka_topic_list = 't'\nCOMMENT 'c'\n")).toMatchObject({ name: '_', engineFull: "Kafka SETTINGS kafka_topic_list = 't'" });
    expect(readCreateTable('SELECT 1')).toBeUndefined();
    expect(readCreateTable('CREATE VIEW v AS SELECT 1')).toBeUndefined();
  });
});

describe('the static membership guard of chpipe serve', () => {
  let dataDir: string;
  let engine: ProcessDriver;
  let server: RunningServer;
  let client: HttpDriver;
  beforeAll(async () => {
    dataDir = join(tempDir('chpipe-guard-'), 'data');
    engine = await openTarget(dataDir);
    await engine.exec('CREATE DATABASE `metrics-prod`');
    await engine.exec(kafka('`metrics-prod`.`order_queue`', 'orders', 'g_orders'));
    await engine.exec(kafka('`metrics-prod`.other_queue', 'other', 'g_other'));
    // The engine runs `orders` with static membership (as serve would decide for these tables); `other` is not static.
    server = await startServer(engine, { version: engine.info.version, timezone: 'UTC', displayName: 'chpipe' }, {
      port: 0,
      guard: staticMembershipGuard(engine, ['orders'], engine.info.version),
      reach: { userFiles: [join(dataDir, 'user_files')], shownUserFiles: 'user_files/', remoteSources: false, command: 'serve' },
    });
    client = await HttpDriver.connect(server.url);
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await engine?.close();
  });

  const refusal = async (sql: string): Promise<EngineError> => {
    const e = await client.exec(sql).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(EngineError);
    return e as EngineError;
  };
  const queues = async () => (await client.query<{ name: string; engine_full: string }>("SELECT name, engine_full FROM system.tables WHERE database = 'metrics-prod' ORDER BY name")).map((r) => `${r.name}: ${r.engine_full}`);

  it('refuses more consumers on a static topic, with the sentence, and runs nothing', async () => {
    const before = await queues();
    const e = await refusal(`CREATE OR REPLACE TABLE \`metrics-prod\`.\`order_queue\` (id UInt64) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 'orders', kafka_group_name = 'g_orders', kafka_format = 'JSONEachRow', kafka_num_consumers = 3`);
    expect(e.codeName).toBe('BAD_ARGUMENTS');
    expect(e.engineMessage).toContain("chpipe serve runs topic 'orders' with static membership");
    expect(e.engineMessage).toContain('Kafka table metrics-prod.order_queue would read it with kafka_num_consumers = 3');
    expect(e.engineMessage).toContain('restart chpipe serve so the topic runs without static membership, then rerun');
    expect(await queues()).toEqual(before);
  });

  it('refuses a second table in the group of a static topic, also under EXPLAIN (a migration\'s preflight)', async () => {
    const e = await refusal(kafka('`metrics-prod`.orders_copy', 'orders', 'g_orders'));
    expect(e.engineMessage).toContain("would share consumer group 'g_orders' with metrics-prod.order_queue");
    const explained = await refusal(`EXPLAIN AST ${kafka('`metrics-prod`.`order_queue`', 'orders', 'g_orders', ', kafka_num_consumers = 2')}`);
    expect(explained.codeName).toBe('BAD_ARGUMENTS');
    // Unqualified: the request's database.
    const raw = await fetch(`${server.url}/?database=metrics-prod`, { method: 'POST', body: kafka('orders_copy', 'orders', 'g_orders') });
    expect(raw.status).toBe(400);
    expect(raw.headers.get('x-clickhouse-exception-code')).toBe('36');
    expect(await raw.text()).toMatch(/^Code: 36\. DB::Exception: chpipe serve runs topic 'orders' .*metrics-prod\.order_queue.*\. \(BAD_ARGUMENTS\) \(version /);
    expect(await queues()).toHaveLength(2);
  });

  it('lets everything else run: other topics, one consumer, an existing table kept by IF NOT EXISTS', async () => {
    await client.exec(kafka('`metrics-prod`.other_queue_2', 'other', 'g_other', ', kafka_num_consumers = 2'));
    await client.exec(`CREATE OR REPLACE TABLE \`metrics-prod\`.\`order_queue\` (id UInt64, v String) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 'orders', kafka_group_name = 'g_orders', kafka_format = 'JSONEachRow'`);
    await client.exec(`CREATE TABLE IF NOT EXISTS \`metrics-prod\`.\`order_queue\` (id UInt64) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 'orders', kafka_group_name = 'g_orders', kafka_format = 'JSONEachRow', kafka_num_consumers = 4`);
    await client.exec('CREATE TABLE `metrics-prod`.t (id UInt64) ENGINE = MergeTree ORDER BY id');
    expect(await queues()).toHaveLength(4);
  });

  it('reads the data folder\'s Kafka tables from disk, and they decide the static topics of the next start', async () => {
    const onDisk = kafkaTablesOnDisk(dataDir)
      .map((t) => `${t.database}.${t.table.name} ${t.table.topics.join(',')} ${t.table.group} ${String(t.table.settings.kafka_num_consumers ?? 1)}`)
      .sort();
    expect(onDisk).toEqual(['metrics-prod.order_queue orders g_orders 1', 'metrics-prod.other_queue other g_other 1', 'metrics-prod.other_queue_2 other g_other 2']);
    // `other` has two tables in one group (and two consumers): never static. A declared queue replaces its namesake on disk.
    expect(writeEngineConfig(dataDir, { kafkaTables: 1 }).staticTopics).toEqual(['orders']);
    const declared = [{ topics: ['orders'], group: 'g_orders', consumers: 3, table: 'metrics-prod.order_queue' }];
    expect(writeEngineConfig(dataDir, { kafkaTables: 1, consumers: declared }).staticTopics).toEqual([]);
    const config = writeEngineConfig(dataDir, { kafkaTables: 1, consumers: [{ ...declared[0]!, consumers: 1 }] });
    expect(config.staticTopics).toEqual(['orders']);
    expect(readFileSync(config.file, 'utf8')).toContain(`<kafka_topic><name>orders</name><group_instance_id>${engineInstanceId(dataDir)}</group_instance_id></kafka_topic>`);
  });
});
