/**
 * The consumers of a database's Kafka tables, from `system.kafka_consumers`
 * (ClickHouse 23.8+), read in one query whatever the number of tables and
 * turned into typed values here, at the edge.
 */
import type { Driver } from '../engine/driver.js';
import type { Placement } from '../model/model.js';
import { kafkaConsumersQuery, type KafkaConsumerRow } from '../sql/consumers.js';

export interface ConsumerAssignment {
  readonly topic: string;
  readonly partition: number;
  /** The consumer's position; `null` before it has one (librdkafka's negative markers). */
  readonly offset: number | null;
}

export interface ConsumerException {
  /** ISO 8601, UTC. */
  readonly time: string;
  readonly text: string;
}

/** One consumer of a Kafka table (a table has `kafka_num_consumers` of them). */
export interface KafkaConsumer {
  /** The Kafka table. */
  readonly table: string;
  readonly consumerId: string;
  readonly assignments: readonly ConsumerAssignment[];
  /** ISO 8601, UTC; `null` when never. */
  readonly lastPoll: string | null;
  readonly lastCommit: string | null;
  readonly messagesRead: number;
  readonly commits: number;
  /** The 10 most recent, oldest first. */
  readonly exceptions: readonly ConsumerException[];
  /** Whether a stream is using the consumer now. */
  readonly inUse: boolean;
}

/** The engine's message without the stack trace some builds append (`\n0. ? @ 0x…`). */
function exceptionMessage(text: string): string {
  const trace = text.indexOf('\n0. ');
  return (trace >= 0 ? text.slice(0, trace) : text).trim();
}

const isoTime = (seconds: number): string | null => (seconds > 0 ? new Date(seconds * 1000).toISOString() : null);

function offsetOf(text: string | undefined): number | null {
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

export function consumerFromRow(r: KafkaConsumerRow): KafkaConsumer {
  return {
    table: r.table,
    consumerId: r.consumer_id,
    assignments: r.assignment_topics.map((topic, i) => ({ topic, partition: Number(r.assignment_partitions[i]), offset: offsetOf(r.assignment_offsets[i]) })),
    lastPoll: isoTime(Number(r.last_poll)),
    lastCommit: isoTime(Number(r.last_commit)),
    messagesRead: Number(r.messages_read),
    commits: Number(r.commits),
    exceptions: r.exception_texts
      .map((text, i) => ({ time: isoTime(Number(r.exception_times[i])) ?? new Date(0).toISOString(), text: exceptionMessage(text) }))
      .sort((a, b) => a.time.localeCompare(b.time)),
    inUse: Number(r.in_use) === 1,
  };
}

/** Every consumer of the database's Kafka tables: one query. */
export async function readKafkaConsumers(driver: Driver, placement: Placement): Promise<{ consumers: KafkaConsumer[]; queries: number }> {
  const rows = await driver.query<KafkaConsumerRow>(kafkaConsumersQuery(placement.database));
  return { consumers: rows.map(consumerFromRow), queries: 1 };
}
