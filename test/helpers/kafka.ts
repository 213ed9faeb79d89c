/**
 * Kafka for the tests: the broker address the run's globalSetup started
 * (test/kafka/global-setup.ts), topics, and a producer. The client is
 * @platformatic/kafka (pure JavaScript, maintained; its 1.x line supports Node 20).
 */
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
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

/** Values are text (sent as UTF-8) or bytes (sent as they are: Avro files, for instance). */
export type StringProducer = Producer<string, string | Buffer, string, string>;

const textOrBytes = (data?: string | Buffer): Buffer | undefined => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data);

/** How long a producer keeps retrying a request (e.g. while the broker is down): `retries` × `retryDelay` ms at least. */
export interface RetryOptions {
  retries: number;
  retryDelay: number;
}

/**
 * An idempotent producer (acks=all): a request retried after a timeout is not
 * written twice. Without it a loaded machine showed 20 messages on partitions
 * that were sent 10.
 */
export function stringProducer(bootstrap: string, retry: RetryOptions = { retries: 10, retryDelay: 200 }): StringProducer {
  return new Producer({ clientId: 'chpipe-test-producer', bootstrapBrokers: [bootstrap], serializers: { ...stringSerializers, value: textOrBytes }, idempotent: true, acks: -1, ...retry });
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

/**
 * The consumer groups that touch `topics` on the broker: every group that committed an offset on one of them,
 * or whose id is `marker`'s; as `group topic` lines, sorted. The broker is shared by test files running at the
 * same time, so a test compares this (about its own topics) before and after, never the broker's whole group list.
 */
export async function groupsTouching(bootstrap: string, topics: readonly string[], marker?: string): Promise<string[]> {
  const admin = new Admin({ clientId: 'chpipe-test-groups', bootstrapBrokers: [bootstrap] });
  try {
    const ids = [...(await admin.listGroups()).keys()];
    const lines = ids.filter((g) => g === marker).map((g) => `${g} (the marker group)`);
    const offsets = ids.length ? await admin.listConsumerGroupOffsets({ groups: ids }) : [];
    for (const g of offsets) for (const t of g.topics ?? []) if (topics.includes(t.name) && t.partitions.some((p) => p.committedOffset >= 0n)) lines.push(`${g.groupId} ${t.name}`);
    return lines.sort();
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
  /** The producer's retries (default: 10 × 200 ms); raise them to outlast a stopped broker. */
  retry?: RetryOptions;
}

/**
 * Produce `total` messages with unique ids in batches, each batch to one
 * partition, and record the offset the broker gave every message (the batch's
 * base offset plus its index: an idempotent producer, so a retry never writes
 * a message twice).
 */
export async function produceContinuously(bootstrap: string, opts: ContinuousProduceOptions): Promise<ProducedMessage[]> {
  const producer = stringProducer(bootstrap, opts.retry);
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

export interface SentMessage<V extends string | Buffer = string> {
  partition: number;
  offset: bigint;
  value: V;
}

/**
 * Produce `values` in order, in batches of `batch`, each batch to one partition in turn
 * (0, 1, …, partitions-1, 0, …), and return where the broker put every message (the
 * batch's base offset plus its index; the producer is idempotent, so a retry never
 * writes a message twice).
 */
export async function produceValues<V extends string | Buffer = string>(bootstrap: string, topic: string, values: readonly V[], partitions: number, batch = 100): Promise<SentMessage<V>[]> {
  const producer = stringProducer(bootstrap);
  const out: SentMessage<V>[] = [];
  try {
    for (let start = 0, b = 0; start < values.length; start += batch, b++) {
      const partition = b % partitions;
      const chunk = values.slice(start, start + batch);
      const res = await producer.send({ messages: chunk.map((value) => ({ topic, partition, value })) });
      const base = res.offsets?.find((o) => o.topic === topic && o.partition === partition)?.offset;
      if (base === undefined) throw new Error(`the broker returned no offset for a batch to ${topic}/${partition}`);
      chunk.forEach((value, k) => out.push({ partition, offset: base + BigInt(k), value }));
    }
  } finally {
    await producer.close();
  }
  return out;
}

/**
 * Every message of a topic from its earliest offset, read with a consumer group of
 * its own, until as many were read as the topic's end offsets say it holds (taken when
 * the read starts) or `timeoutMs` passed; returns what was read by then.
 */
export async function consumeAll(bootstrap: string, topic: string, timeoutMs: number): Promise<SentMessage[]> {
  const ends = await endOffsets(bootstrap, topic);
  const total = [...ends.values()].reduce((sum, o) => sum + Number(o), 0);
  const consumer = new Consumer({ clientId: 'chpipe-test-consumer', groupId: uniqueTopic(`chpipe_test_read_${topic}`), bootstrapBrokers: [bootstrap], deserializers: stringDeserializers });
  const out: SentMessage[] = [];
  try {
    if (total === 0) return out;
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 500 });
    try {
      await new Promise<void>((done, fail) => {
        const timer = setTimeout(done, timeoutMs);
        stream.on('data', (m: { partition: number; offset: bigint; value: string }) => {
          out.push({ partition: m.partition, offset: m.offset, value: m.value });
          if (out.length >= total) {
            clearTimeout(timer);
            done();
          }
        });
        stream.once('error', (e: Error) => {
          clearTimeout(timer);
          fail(e);
        });
      });
    } finally {
      await stream.close();
    }
  } finally {
    await consumer.close(true);
  }
  return out;
}

export interface WaitCommittedOptions {
  bootstrap: string;
  topic: string;
  /** Every consumer group that must have committed `ends`. */
  groups: readonly string[];
  /** The topic's end offsets once production ended. */
  ends: ReadonlyMap<number, bigint>;
  /** Give up after this long (ms). */
  boundMs: number;
  /** The counts must not have changed for this long (ms) before the offsets are looked at. */
  quietMs: number;
  /** A text that changes whenever the target stored more (e.g. row counts). */
  counts: () => Promise<string>;
}

/**
 * Wait (bounded) until every group committed the topic's end offsets and the
 * target's counts stopped changing; `committed` names what each group had
 * committed when it ended (`group p0=N p1=M`).
 */
export async function waitCommitted(opts: WaitCommittedOptions): Promise<{ settled: boolean; ms: number; committed: string }> {
  const started = Date.now();
  let last = await opts.counts();
  let lastChange = Date.now();
  let committed = '';
  while (Date.now() - started < opts.boundMs) {
    await new Promise((ok) => setTimeout(ok, 500));
    const now = await opts.counts();
    if (now !== last) {
      last = now;
      lastChange = Date.now();
      continue;
    }
    if (Date.now() - lastChange < opts.quietMs) continue;
    let all = true;
    const parts: string[] = [];
    for (const group of opts.groups) {
      const c = await committedOffsets(opts.bootstrap, group, opts.topic);
      parts.push(`${group} ${[...opts.ends.keys()].map((p) => `p${p}=${c.get(p) ?? '-'}/${opts.ends.get(p)}`).join(' ')}`);
      if (![...opts.ends].every(([p, end]) => c.get(p) === end)) all = false;
    }
    committed = parts.join('; ');
    if (all) return { settled: true, ms: Date.now() - started, committed };
  }
  return { settled: false, ms: Date.now() - started, committed };
}

/**
 * The longest pause in ingestion that overlaps [fromMs, toMs]: the largest
 * difference between consecutive ingest times (sorted, ms) where the earlier
 * one is at or before `toMs` and the later one at or after `fromMs`.
 * `fromMs` of the result is when that pause began.
 */
export function ingestGaps(sortedTimes: readonly number[], fromMs: number, toMs: number): { ms: number; fromMs: number } {
  let gap = { ms: 0, fromMs: fromMs };
  for (let i = 1; i < sortedTimes.length; i++) {
    const a = sortedTimes[i - 1]!;
    const b = sortedTimes[i]!;
    if (a > toMs || b < fromMs) continue;
    if (b - a > gap.ms) gap = { ms: b - a, fromMs: a };
  }
  return gap;
}
