/**
 * A Kafka table read back from its engine clause (`engine_full`), in each form ClickHouse prints: SETTINGS,
 * a named collection, and the positional form of ClickHouse's docs, `Kafka('host:9092', 'topic', 'group',
 * 'JSONEachRow')`, whose arguments stand for settings in a fixed order (measured on 26.7: the engine names
 * the setting each position expects). `pull`, `status` and serve's static-membership guard all read it so.
 */
import { describe, expect, it } from 'vitest';
import { kafkaTableFromEngine } from '../../src/inspect/inspect.js';
import { useScratchEngine } from '../helpers/engine.js';

describe('kafkaTableFromEngine', () => {
  it('reads the positional form: brokers, topics, group and format', () => {
    const t = kafkaTableFromEngine('q', "Kafka('localhost:9092', 't1,t2', 'g1', 'JSONEachRow')");
    expect(t).toMatchObject({ brokers: 'localhost:9092', topics: ['t1', 't2'], group: 'g1', format: 'JSONEachRow', settings: {} });
    expect(t.namedCollection).toBeUndefined();
  });

  it('reads every positional argument the engine takes as the setting it stands for, and SETTINGS after them', () => {
    const t = kafkaTableFromEngine('q', "Kafka('b:9092', 't', 'g', 'CSV', '\\n', '', 2, 100, 5, 1, 'cid', 300, 700, 1, 'stream', 0, 3) SETTINGS kafka_poll_max_batch_size = 10");
    expect(t).toMatchObject({ brokers: 'b:9092', topics: ['t'], group: 'g', format: 'CSV' });
    expect(t.settings).toEqual({
      kafka_client_id: 'cid',
      kafka_commit_every_batch: 1,
      kafka_commit_on_select: 0,
      kafka_flush_interval_ms: 700,
      kafka_handle_error_mode: 'stream',
      kafka_max_block_size: 100,
      kafka_max_rows_per_message: 3,
      kafka_num_consumers: 2,
      kafka_poll_max_batch_size: 10,
      kafka_poll_timeout_ms: 300,
      kafka_row_delimiter: '\n',
      kafka_skip_broken_messages: 5,
      kafka_thread_per_consumer: 1,
    });
  });

  it('still reads a named collection and the SETTINGS form', () => {
    expect(kafkaTableFromEngine('q', "Kafka(kafka_conn, kafka_topic_list = 't', kafka_group_name = 'g', kafka_format = 'JSONEachRow')")).toMatchObject({ namedCollection: 'kafka_conn', topics: ['t'], group: 'g' });
    expect(kafkaTableFromEngine('q', "Kafka SETTINGS kafka_broker_list = 'b:1', kafka_topic_list = 't', kafka_group_name = 'g', kafka_format = 'JSONEachRow'")).toMatchObject({ brokers: 'b:1', topics: ['t'] });
  });

  describe('on the engine', () => {
    const engine = useScratchEngine();
    it('the positional and the SETTINGS forms of one table read back the same', async () => {
      await engine().exec('CREATE DATABASE IF NOT EXISTS positional');
      await engine().exec("CREATE TABLE positional.a (x UInt64) ENGINE = Kafka('localhost:9092', 'topic', 'group1', 'JSONEachRow', '', '', 2)");
      await engine().exec("CREATE TABLE positional.b (x UInt64) ENGINE = Kafka SETTINGS kafka_broker_list = 'localhost:9092', kafka_topic_list = 'topic', kafka_group_name = 'group1', kafka_format = 'JSONEachRow', kafka_row_delimiter = '', kafka_num_consumers = 2");
      const rows = await engine().query<{ name: string; engine_full: string }>("SELECT name, engine_full FROM system.tables WHERE database = 'positional' ORDER BY name");
      const [a, b] = rows.map((r) => kafkaTableFromEngine('q', r.engine_full));
      expect(rows[0]?.engine_full).toMatch(/^Kafka\('localhost:9092'/);
      expect(a).toEqual(b);
    });
  });
});
