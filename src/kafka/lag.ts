/**
 * Consumer lag from the brokers: per partition of a queue's topics, the
 * group's committed offset against the partition's end offset. Loaded lazily
 * (only `chpipe status` with Kafka tables needs it; never `--help`).
 *
 * Queues that name the same brokers share one admin client: per broker list,
 * one topic listing, one metadata request, one ListOffsets for the end offsets, one for
 * the start offsets, one OffsetFetch for every group. The whole read is
 * bounded by one deadline (2.5 s, and 0.5 s to close the client); brokers that cannot be reached by
 * then, or that refuse, give `null` and a note for their queues, never an
 * error.
 */
import { Admin } from '@platformatic/kafka';
import { brokerList } from '../spec/brokers.js';

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

/** An admin client for one short read: no retries, every wait within `timeoutMs`. */
export function shortReadAdmin(clientId: string, brokers: readonly string[], timeoutMs: number): Admin {
  return new Admin({ clientId, bootstrapBrokers: [...brokers], connectTimeout: timeoutMs, timeout: timeoutMs, retries: 0, metadataMaxAge: timeoutMs });
}

/** A bounded read's deadline came first. */
export class Deadline extends Error {}

/**
 * `work` against a deadline of `timeoutMs` (a `Deadline` rejection), then `close` given 0.5 s: close()
 * waits for open connections to end, and a broker that never answered must not hold the command.
 */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, close: () => Promise<unknown>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Deadline()), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    await Promise.race([close().catch(() => {}), new Promise((ok) => setTimeout(ok, 500).unref())]);
  }
}

/** The first line of a client error (of the first inner error that has one), without its final period. */
export function clientReason(e: unknown): string {
  const err = e as { message?: string; errors?: { message?: string }[] };
  const inner = err.errors?.find((x) => x.message)?.message;
  const text = (inner ?? err.message ?? String(e)).split('\n')[0] ?? '';
  return text.replace(/\.$/, '') || 'unknown error';
}

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
  const admin = shortReadAdmin('chpipe-status', brokers, timeoutMs);
  try {
    return await withDeadline(offsetsOf(admin, queries), timeoutMs, () => admin.close());
  } catch (e) {
    const note =
      e instanceof Deadline
        ? `lag unknown: the brokers ${brokers.join(',')} did not answer within ${timeoutMs / 1000} s`
        : `lag unknown: the brokers ${brokers.join(',')} could not be asked (${clientReason(e)})`;
    return queries.map(() => ({ lag: null, notes: [note] }));
  }
}

async function offsetsOf(admin: Admin, queries: readonly LagQuery[]): Promise<LagResult[]> {
  const topics = [...new Set(queries.flatMap((q) => q.topics))].sort();
  const groups = [...new Set(queries.map((q) => q.group))].sort();
  // Topics the brokers do not have are left out of the metadata request, which would fail on them.
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((t) => existing.has(t));
  const meta = present.length ? await admin.metadata({ topics: present }) : undefined;
  const partitions = new Map<string, number>();
  for (const t of present) {
    const count = meta?.topics.get(t)?.partitionsCount ?? 0;
    if (count > 0) partitions.set(t, count);
  }
  const request = (timestamp: bigint) => ({
    topics: [...partitions].map(([name, count]) => ({ name, partitions: Array.from({ length: count }, (_, p) => ({ partitionIndex: p, timestamp })) })),
  });
  const [ends, starts, committed] = partitions.size
    ? await Promise.all([admin.listOffsets(request(-1n)), admin.listOffsets(request(-2n)), admin.listConsumerGroupOffsets({ groups })])
    : [[], [], []];
  const key = (topic: string, p: number) => `${topic}\u0000${p}`;
  const endOf = new Map(ends.flatMap((t) => t.partitions.map((p) => [key(t.name, p.partitionIndex), p.offset] as const)));
  const startOf = new Map(starts.flatMap((t) => t.partitions.map((p) => [key(t.name, p.partitionIndex), p.offset] as const)));
  const committedOf = new Map<string, Map<string, bigint>>();
  for (const g of committed) {
    const m = new Map<string, bigint>();
    for (const t of g.topics) for (const p of t.partitions) if (p.committedOffset >= 0n) m.set(key(t.name, p.partitionIndex), p.committedOffset);
    committedOf.set(g.groupId, m);
  }
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
