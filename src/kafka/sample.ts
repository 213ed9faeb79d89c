/**
 * A bounded sample of a topic's most recent messages, read the way a tool
 * should read someone else's topic: a plain Fetch by partition and offset
 * (ListOffsets for the ends, then back N per partition), never joining a
 * consumer group and never committing an offset, so the topic's groups are
 * exactly as they were. Loaded lazily (`infer` and `status --producers` only).
 *
 * The whole read is bounded by a message count and a deadline; what was read
 * by the deadline is the sample. Brokers that cannot be reached, a topic the
 * brokers do not have: a `SampleProblem` (a value, one sentence), never a throw.
 */
import { brokerList } from '../spec/brokers.js';
import { clientReason, Deadline, shortRead, unreachable, withDeadline, type ShortRead } from './client.js';

export interface SampledMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** ms since the epoch (the record's timestamp). */
  readonly timestamp: number;
  /** The value as UTF-8 text; `null` for a tombstone (no value). */
  readonly value: string | null;
  /** The value's bytes are not valid UTF-8 text (Avro, Protobuf, compressed payloads…). */
  readonly binary: boolean;
  /** The value's bytes as they came (binary formats read these); `null` for a tombstone. */
  readonly bytes: Uint8Array | null;
}

export interface TopicSample {
  readonly messages: readonly SampledMessage[];
  /** Messages the topic retains (end − start offsets, summed over its partitions). */
  readonly retained: number;
  readonly partitions: number;
  /** The deadline came before the sample was complete. */
  readonly timedOut: boolean;
}

export type SampleProblemKind = 'unreachable' | 'unknown-topic' | 'refused';

export interface SampleProblem {
  readonly kind: SampleProblemKind;
  readonly message: string;
}

export type SampleResult = { readonly ok: true; readonly sample: TopicSample } | { readonly ok: false; readonly problem: SampleProblem };

export interface SampleOptions {
  /** Most messages to read, over all partitions (the most recent of each). */
  readonly maxMessages: number;
  /** Deadline for the whole read, ms. */
  readonly timeoutMs: number;
}

export const DEFAULT_SAMPLE: SampleOptions = { maxMessages: 500, timeoutMs: 10_000 };

const decoder = new TextDecoder('utf-8', { fatal: true });

function text(value: Buffer | null): { value: string | null; binary: boolean; bytes: Uint8Array | null } {
  if (value === null) return { value: null, binary: false, bytes: null };
  try {
    const s = decoder.decode(value);
    // Control characters other than tab, newline and carriage return do not occur in text formats.
    // eslint-disable-next-line no-control-regex
    return { value: s, binary: /[\u0000-\u0008\u000e-\u001f]/.test(s), bytes: value };
  } catch {
    return { value: value.toString('latin1'), binary: true, bytes: value };
  }
}

/** Sample one topic: the most recent messages of each partition, up to `maxMessages` in all. */
export async function sampleTopic(brokers: string, topic: string, options: SampleOptions = DEFAULT_SAMPLE): Promise<SampleResult> {
  const bootstrap = brokerList(brokers);
  if (!bootstrap.length) return { ok: false, problem: { kind: 'unreachable', message: 'no Kafka brokers are configured (kafka.brokers in chpipe.yaml, or --brokers)' } };
  const client = shortRead('chpipe-sample', bootstrap, options.timeoutMs);
  const started = Date.now();
  const collected: SampledMessage[] = [];
  const state = { retained: 0, partitions: 0, listed: false };
  try {
    await withDeadline(read(client, topic, options, started, collected, state), options.timeoutMs, () => client.close());
    return { ok: true, sample: { messages: newest(collected, options.maxMessages), retained: state.retained, partitions: state.partitions, timedOut: false } };
  } catch (e) {
    if (e instanceof UnknownTopic) return { ok: false, problem: { kind: 'unknown-topic', message: `topic ${topic} does not exist on the brokers ${bootstrap.join(',')}` } };
    if (e instanceof Deadline) {
      // Offsets listed: what was read by then is the sample. Not even that: the brokers did not answer.
      if (state.listed) return { ok: true, sample: { messages: newest(collected, options.maxMessages), retained: state.retained, partitions: state.partitions, timedOut: true } };
      return { ok: false, problem: { kind: 'unreachable', message: `the Kafka brokers ${bootstrap.join(',')} did not answer within ${options.timeoutMs / 1000} s` } };
    }
    const r = clientReason(e);
    const refused = unreachable(e);
    return { ok: false, problem: { kind: refused ? 'unreachable' : 'refused', message: refused ? `the Kafka brokers ${bootstrap.join(',')} cannot be reached (${r})` : `the Kafka brokers ${bootstrap.join(',')} refused to read topic ${topic} (${r})` } };
  }
}

class UnknownTopic extends Error {}

/** A record of a Fetch answer as KafkaJS decodes it (v2 record batches; offsets and timestamps as decimal text). */
interface FetchedRecord {
  readonly offset: string;
  readonly timestamp: string;
  readonly value: Buffer | null;
  readonly isControlRecord?: boolean;
  /** The batch the record came in: its last offset is firstOffset + lastOffsetDelta (compaction can leave gaps before it). */
  readonly batchContext?: { readonly firstOffset: string; readonly lastOffsetDelta: number };
}

interface FetchAnswer {
  readonly responses: readonly { readonly topicName: string; readonly partitions: readonly { readonly partition: number; readonly errorCode: number; readonly messages: readonly FetchedRecord[] }[] }[];
}

async function read(
  client: ShortRead,
  topic: string,
  options: SampleOptions,
  started: number,
  out: SampledMessage[],
  state: { retained: number; partitions: number; listed: boolean },
): Promise<void> {
  // The topic listing first: a metadata request naming a missing topic fails (and must never create it).
  const listing = await (await client.anyBroker()).metadata([]);
  if (!listing.topicMetadata.some((t) => t.topic === topic && t.partitionMetadata.length > 0)) throw new UnknownTopic();
  await client.cluster.addTargetTopic(topic);
  const leaders = client.cluster.findTopicPartitionMetadata(topic);
  state.partitions = leaders.length;
  const partitions = leaders.map((p) => ({ partition: p.partitionId }));
  const offsets = async (fromBeginning: boolean) =>
    new Map(((await client.cluster.fetchTopicsOffset([{ topic, partitions, fromBeginning }]))[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)] as const));
  const [ends, starts] = await Promise.all([offsets(false), offsets(true)]);
  state.listed = true;
  const perPartition = Math.max(1, Math.ceil(options.maxMessages / partitions.length));
  // Per partition: [next offset to fetch, end offset].
  const todo = new Map<number, { next: bigint; end: bigint }>();
  for (const { partition: p } of partitions) {
    const end = ends.get(p) ?? 0n;
    const start = starts.get(p) ?? 0n;
    state.retained += Number(end - start);
    const from = end - BigInt(perPartition) > start ? end - BigInt(perPartition) : start;
    if (from < end) todo.set(p, { next: from, end });
  }
  while (todo.size && out.length < options.maxMessages) {
    const remaining = options.timeoutMs - (Date.now() - started);
    if (remaining <= 0) throw new Deadline();
    const byLeader = new Map<number, number[]>();
    for (const p of todo.keys()) {
      const leader = leaders.find((l) => l.partitionId === p)?.leader ?? -1;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
    }
    await Promise.all(
      [...byLeader].map(async ([node, ps]) => {
        const broker = await client.cluster.findBroker({ nodeId: String(node) });
        const response = (await broker.fetch({
          maxWaitTime: Math.min(500, remaining),
          minBytes: 1,
          maxBytes: 8 * 1024 * 1024,
          topics: [{ topic, partitions: ps.map((p) => ({ partition: p, fetchOffset: String((todo.get(p) as { next: bigint }).next), maxBytes: 1024 * 1024 })) }],
        })) as FetchAnswer;
        for (const t of response.responses) {
          for (const part of t.partitions) {
            const want = todo.get(part.partition);
            if (!want) continue;
            let last = want.next - 1n;
            for (const r of part.messages) {
              const offset = BigInt(r.offset);
              const batchEnd = r.batchContext ? BigInt(r.batchContext.firstOffset) + BigInt(r.batchContext.lastOffsetDelta) : offset;
              if (batchEnd > last) last = batchEnd;
              // Control records (transaction markers) carry no message but move the offset on.
              if (r.isControlRecord || offset < want.next || offset >= want.end) continue;
              out.push({ topic, partition: part.partition, offset, timestamp: Number(r.timestamp), ...text(r.value) });
            }
            if (last + 1n >= want.end) todo.delete(part.partition);
            else want.next = last + 1n;
          }
        }
      }),
    );
  }
}

/** The newest `max` messages, oldest first (a copy: a read cut off by the deadline may still be landing). */
function newest(messages: readonly SampledMessage[], max: number): SampledMessage[] {
  const sorted = [...messages].sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || Number(a.offset - b.offset));
  return sorted.slice(Math.max(0, sorted.length - max));
}
