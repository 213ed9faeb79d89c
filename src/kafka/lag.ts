/**
 * Consumer lag from the brokers: per partition of a queue's topics, the
 * group's committed offset against the partition's end offset. Loaded lazily
 * (only `chpipe status` with Kafka tables needs it; never `--help`).
 *
 * Queues that name the same brokers share one client (./client.ts): per broker
 * list, one topic listing, one metadata request for the queues' topics, one
 * ListOffsets per partition leader for the end offsets and one for the start
 * offsets, one OffsetFetch per group, sent to its coordinator. The whole read is
 * bounded by one deadline (2.5 s, and 0.5 s to close the client); brokers that cannot be reached by
 * then, or that refuse, give `null` and a note for their queues, never an
 * error.
 */
import { brokerList } from '../spec/brokers.js';
import { clientReason, Deadline, shortRead, withDeadline, type ShortRead } from './client.js';

export interface LagQuery {
  /** `host:port,host:port`, as the Kafka table's kafka_broker_list says. */
  readonly brokers: string;
  readonly group: string;
  readonly topics: readonly string[];
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** The group's committed offset; `null` when it has committed nothing on this partition. */
  readonly committed: number | null;
  /** The partition's end offset (the offset the next message gets). */
  readonly end: number;
  /** Messages not yet committed: end − committed, or end − the partition's start offset when nothing is committed. */
  readonly lag: number;
}

export type LagResult = { readonly lag: readonly PartitionLag[]; readonly notes: readonly string[] } | { readonly lag: null; readonly notes: readonly string[] };

export interface LagOptions {
  /** The deadline for the whole read, ms. */
  readonly timeoutMs?: number;
}

/** With the 0.5 s allowed for closing the client, the read takes at most 3 s. */
export const LAG_TIMEOUT_MS = 2500;

/** Lag of each query, in query order. */
export async function readLag(queries: readonly LagQuery[], options: LagOptions = {}): Promise<LagResult[]> {
  const timeoutMs = options.timeoutMs ?? LAG_TIMEOUT_MS;
  const byBrokers = new Map<string, number[]>();
  queries.forEach((q, i) => {
    const key = brokerList(q.brokers).join(',');
    byBrokers.set(key, [...(byBrokers.get(key) ?? []), i]);
  });
  const results: LagResult[] = queries.map(() => ({ lag: null, notes: [] }));
  await Promise.all(
    [...byBrokers].map(async ([key, indexes]) => {
      const batch = indexes.map((i) => queries[i] as LagQuery);
      const out = key ? await lagFromBrokers(brokerList(key), batch, timeoutMs) : batch.map(() => ({ lag: null, notes: ['the Kafka table names no brokers'] }));
      indexes.forEach((i, k) => (results[i] = out[k] as LagResult));
    }),
  );
  return results;
}

async function lagFromBrokers(brokers: string[], queries: readonly LagQuery[], timeoutMs: number): Promise<LagResult[]> {
  const read = shortRead('chpipe-status', brokers, timeoutMs);
  try {
    return await withDeadline(offsetsOf(read, queries), timeoutMs, () => read.close());
  } catch (e) {
    const note =
      e instanceof Deadline
        ? `lag unknown: the brokers ${brokers.join(',')} did not answer within ${timeoutMs / 1000} s`
        : `lag unknown: the brokers ${brokers.join(',')} could not be asked (${clientReason(e)})`;
    return queries.map(() => ({ lag: null, notes: [note] }));
  }
}

/** Topic and partition as one map key. */
const key = (topic: string, p: number) => `${topic}\u0000${p}`;

/** The offsets of the partitions of `partitions` (topic → count) at `end` or at the start, keyed by `key`. */
async function listOffsets(read: ShortRead, partitions: ReadonlyMap<string, number>, fromBeginning: boolean): Promise<Map<string, bigint>> {
  const listed = await read.cluster.fetchTopicsOffset(
    [...partitions].map(([topic, count]) => ({ topic, partitions: Array.from({ length: count }, (_, partition) => ({ partition })), fromBeginning })),
  );
  return new Map(listed.flatMap((t) => t.partitions.map((p) => [key(t.topic, p.partition), BigInt(p.offset)] as const)));
}

/** What `group` committed on `partitions`, keyed by `key` (asked of the group's coordinator; nothing committed: absent). */
async function committedOffsets(read: ShortRead, group: string, partitions: ReadonlyMap<string, number>): Promise<Map<string, bigint>> {
  const coordinator = await read.cluster.findGroupCoordinator({ groupId: group });
  const { responses } = await coordinator.offsetFetch({
    groupId: group,
    topics: [...partitions].map(([topic, count]) => ({ topic, partitions: Array.from({ length: count }, (_, partition) => ({ partition, offset: '' })) })),
  });
  const out = new Map<string, bigint>();
  for (const t of responses) for (const p of t.partitions) if (BigInt(p.offset) >= 0n) out.set(key(t.topic, p.partition), BigInt(p.offset));
  return out;
}

async function offsetsOf(read: ShortRead, queries: readonly LagQuery[]): Promise<LagResult[]> {
  const topics = [...new Set(queries.flatMap((q) => q.topics))].sort();
  const groups = [...new Set(queries.map((q) => q.group))].sort();
  // Topics the brokers do not have are left out of the metadata request, which would fail on them.
  const listing = await (await read.anyBroker()).metadata([]);
  const existing = new Set(listing.topicMetadata.map((t) => t.topic));
  const present = topics.filter((t) => existing.has(t));
  if (present.length) await read.cluster.addMultipleTargetTopics(present);
  const partitions = new Map<string, number>();
  for (const t of present) {
    const count = read.cluster.findTopicPartitionMetadata(t).length;
    if (count > 0) partitions.set(t, count);
  }
  const [endOf, startOf, committed] = partitions.size
    ? await Promise.all([listOffsets(read, partitions, false), listOffsets(read, partitions, true), Promise.all(groups.map((g) => committedOffsets(read, g, partitions)))])
    : [new Map<string, bigint>(), new Map<string, bigint>(), []];
  const committedOf = new Map(groups.map((g, i) => [g, committed[i] ?? new Map<string, bigint>()]));
  return queries.map((q) => {
    const notes = q.topics.filter((t) => !partitions.has(t)).map((t) => `topic ${t} is not on the brokers`);
    const lag: PartitionLag[] = [];
    for (const topic of q.topics) {
      for (let p = 0; p < (partitions.get(topic) ?? 0); p++) {
        const end = endOf.get(key(topic, p));
        if (end === undefined) continue;
        const c = committedOf.get(q.group)?.get(key(topic, p));
        const from = c ?? startOf.get(key(topic, p)) ?? 0n;
        lag.push({ topic, partition: p, committed: c === undefined ? null : Number(c), end: Number(end), lag: Math.max(0, Number(end - from)) });
      }
    }
    return { lag, notes };
  });
}
