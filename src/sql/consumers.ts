/**
 * The query over `system.kafka_consumers` (ClickHouse 23.8+): one row per
 * consumer of every Kafka table in a database. Pure. Only the columns 23.8
 * already has are read; times come back as Unix seconds (0: never), counters
 * and offsets as text (64-bit integers), so the rows parse the same on every
 * server and in every output setting.
 */
import { stringLiteral } from './quote.js';

/** One row of `kafkaConsumersQuery`, as the engine returns it. */
export interface KafkaConsumerRow {
  readonly table: string;
  readonly consumer_id: string;
  readonly assignment_topics: readonly string[];
  readonly assignment_partitions: readonly number[];
  /** Offsets as text; negative values are librdkafka's "no offset yet" markers. */
  readonly assignment_offsets: readonly string[];
  readonly exception_times: readonly number[];
  readonly exception_texts: readonly string[];
  readonly last_poll: number;
  readonly last_commit: number;
  readonly messages_read: string;
  readonly commits: string;
  readonly in_use: number;
}

/** Every consumer of the database's Kafka tables, in one query. */
export function kafkaConsumersQuery(database: string): string {
  return [
    'SELECT table, consumer_id,',
    '`assignments.topic` AS assignment_topics, `assignments.partition_id` AS assignment_partitions,',
    'arrayMap(o -> toString(o), `assignments.current_offset`) AS assignment_offsets,',
    'arrayMap(t -> toUInt32(toUnixTimestamp(t)), `exceptions.time`) AS exception_times, `exceptions.text` AS exception_texts,',
    'toUInt32(toUnixTimestamp(last_poll_time)) AS last_poll, toUInt32(toUnixTimestamp(last_commit_time)) AS last_commit,',
    'toString(num_messages_read) AS messages_read, toString(num_commits) AS commits, toUInt8(is_currently_used) AS in_use',
    `FROM system.kafka_consumers WHERE database = ${stringLiteral(database)}`,
    'ORDER BY table, consumer_id',
  ].join(' ');
}
