import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedDriver } from '../../src/engine/embedded.js';
import { KAFKA_STREAM_VIRTUAL_COLUMNS, KAFKA_VIRTUAL_COLUMNS } from '../../src/model/kafka.js';

// Kafka tables with no materialized view never start a consumer, so the
// broker address below (the discard port) is never contacted.
const DATABASE = 'kafka_virtual_columns';

function kafkaTable(name: string, extra = ''): string {
  return `CREATE TABLE ${DATABASE}.${name} (payload String) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 't', kafka_group_name = 'g_${name}', kafka_format = 'JSONEachRow'${extra}`;
}

describe('Kafka virtual columns', () => {
  let driver: EmbeddedDriver;
  const describeTable = (name: string) =>
    driver.query<{ name: string; type: string; is_virtual: number }>(`DESCRIBE TABLE ${DATABASE}.${name} SETTINGS describe_include_virtual_columns = 1`);

  beforeAll(async () => {
    driver = await EmbeddedDriver.scratch();
    await driver.exec(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`);
    await driver.exec(kafkaTable('plain'));
    await driver.exec(kafkaTable('stream', ", kafka_handle_error_mode = 'stream'"));
  });
  afterAll(async () => {
    await driver.exec(`DROP DATABASE IF EXISTS ${DATABASE} SYNC`);
    await driver.close();
  });

  it('KAFKA_VIRTUAL_COLUMNS are those of a Kafka table in default mode, in order', async () => {
    const rows = await describeTable('plain');
    expect(rows.filter((r) => !r.is_virtual).map((r) => r.name)).toEqual(['payload']);
    expect(rows.filter((r) => r.is_virtual).map((r) => [r.name, r.type])).toEqual(Object.entries(KAFKA_VIRTUAL_COLUMNS));
  });

  it("KAFKA_STREAM_VIRTUAL_COLUMNS are what kafka_handle_error_mode = 'stream' adds", async () => {
    const rows = await describeTable('stream');
    expect(rows.filter((r) => r.is_virtual).map((r) => [r.name, r.type])).toEqual([...Object.entries(KAFKA_VIRTUAL_COLUMNS), ...Object.entries(KAFKA_STREAM_VIRTUAL_COLUMNS)]);
  });

  it('the two tables do not overlap', () => {
    expect(Object.keys(KAFKA_STREAM_VIRTUAL_COLUMNS).filter((k) => k in KAFKA_VIRTUAL_COLUMNS)).toEqual([]);
  });
});
