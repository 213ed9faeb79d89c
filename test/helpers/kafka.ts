/**
 * Kafka for the tests: the broker address the run's globalSetup started
 * (test/kafka/global-setup.ts), topics, and a producer. The client is
 * @platformatic/kafka (pure JavaScript, maintained; its 1.x line supports Node 20).
 */
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:PORT` of the run's Kafka broker (only for files under test/kafka/). */
    kafkaBootstrap: string;
  }
}

/** The address of the test run's broker. */
export function kafkaBootstrap(): string {
  const addr = inject('kafkaBootstrap');
  if (!addr) throw new Error('no Kafka broker in this test run: tests that need one live under test/kafka/, whose vitest project starts it');
  return addr;
}

/** A topic name unique to this process and moment. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}`;
}

export async function createTopic(bootstrap: string, topic: string, partitions = 1): Promise<void> {
  const admin = new Admin({ clientId: 'chpipe-test-admin', bootstrapBrokers: [bootstrap] });
  try {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
}

/** The end offset (next offset to be written) of every partition of a topic. */
export async function endOffsets(bootstrap: string, topic: string): Promise<Map<number, bigint>> {
  const admin = new Admin({ clientId: 'chpipe-test-admin', bootstrapBrokers: [bootstrap] });
  try {
    const meta = await admin.metadata({ topics: [topic] });
    const partitions = meta.topics.get(topic)?.partitionsCount ?? 0;
    const listed = await admin.listOffsets({
      topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, p) => ({ partitionIndex: p, timestamp: -1n })) }],
    });
    const out = new Map<number, bigint>();
    for (const t of listed) for (const p of t.partitions) out.set(p.partitionIndex, p.offset);
    return out;
  } finally {
    await admin.close();
  }
}

export type StringProducer = Producer<string, string, string, string>;

/**
 * An idempotent producer (acks=all): a request retried after a timeout is not
 * written twice. Without it a loaded machine showed 20 messages on partitions
 * that were sent 10.
 */
export function stringProducer(bootstrap: string): StringProducer {
  return new Producer({ clientId: 'chpipe-test-producer', bootstrapBrokers: [bootstrap], serializers: stringSerializers, idempotent: true, acks: -1, retries: 10, retryDelay: 200 });
}

/** One produce that succeeds only when the broker is up and can create topics: the readiness probe. */
export async function produceProbe(bootstrap: string): Promise<void> {
  const producer = new Producer({ clientId: 'chpipe-test-ready', bootstrapBrokers: [bootstrap], serializers: stringSerializers, retries: 0, timeout: 2_000 });
  try {
    await producer.send({ messages: [{ topic: '_chpipe_ready', value: 'ready' }], autocreateTopics: true, acks: -1 });
  } finally {
    await producer.close().catch(() => {});
  }
}

/** The offsets a consumer group committed on a topic, per partition (absent: nothing committed yet). */
export async function committedOffsets(bootstrap: string, group: string, topic: string): Promise<Map<number, bigint>> {
  const admin = new Admin({ clientId: 'chpipe-test-admin', bootstrapBrokers: [bootstrap] });
  try {
    const [listed] = await admin.listConsumerGroupOffsets({ groups: [group] });
    const out = new Map<number, bigint>();
    for (const t of listed?.topics ?? []) if (t.name === topic) for (const p of t.partitions) if (p.committedOffset >= 0n) out.set(p.partitionIndex, p.committedOffset);
    return out;
  } finally {
    await admin.close();
  }
}

export interface ProducedMessage {
  id: number;
  partition: number;
  offset: bigint;
  malformed: boolean;
  /** ms since the epoch when the batch carrying it was handed to the producer. */
  sentAt: number;
}

export interface ContinuousProduceOptions {
  topic: string;
  partitions: number;
  /** Total messages, ids 1..total. */
  total: number;
  /** Messages per batch; each batch goes to one partition, in turn. */
  batch: number;
  /** Pause between batches, ms. */
  intervalMs: number;
  /** The message for an id; `malformed` tells which ones are meant to fail parsing. */
  message: (id: number) => { value: string; malformed: boolean };
}

/**
 * Produce `total` messages with unique ids in batches, each batch to one
 * partition, and record the offset the broker gave every message (the batch's
 * base offset plus its index: an idempotent producer, so a retry never writes
 * a message twice).
 */
export async function produceContinuously(bootstrap: string, opts: ContinuousProduceOptions): Promise<ProducedMessage[]> {
  const producer = stringProducer(bootstrap);
  const out: ProducedMessage[] = [];
  try {
    let id = 1;
    for (let b = 0; id <= opts.total; b++) {
      const partition = b % opts.partitions;
      const ids = Array.from({ length: Math.min(opts.batch, opts.total - id + 1) }, (_, i) => id + i);
      id += ids.length;
      const msgs = ids.map((i) => ({ i, ...opts.message(i) }));
      const sentAt = Date.now();
      const res = await producer.send({ messages: msgs.map((m) => ({ topic: opts.topic, partition, key: String(m.i), value: m.value })) });
      const base = res.offsets?.find((o) => o.topic === opts.topic && o.partition === partition)?.offset;
      if (base === undefined) throw new Error(`the broker returned no offset for a batch to ${opts.topic}/${partition}`);
      msgs.forEach((m, k) => out.push({ id: m.i, partition, offset: base + BigInt(k), malformed: m.malformed, sentAt }));
      await new Promise((ok) => setTimeout(ok, opts.intervalMs));
    }
  } finally {
    await producer.close();
  }
  return out;
}
