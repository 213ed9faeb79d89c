/**
 * The partition count of topics, from the brokers: one Metadata request for
 * every topic the brokers hold (a topic the brokers lack is absent from the
 * answer, never created), sent by a client that joins no group and commits
 * nothing (./client.ts). Loaded lazily (the consumer budget of cluster mode and
 * the broker probe of `apply` and `dev`; never `--help`).
 *
 * Bounded by one deadline (2 s, and 0.5 s to close the client); brokers that
 * cannot be reached, or that refuse, give a reason, never an error.
 */
import { brokerList } from '../spec/brokers.js';
import { clientReason, Deadline, shortRead, withDeadline } from './client.js';

export type PartitionCounts =
  /** `absent`: topics the brokers did not give partitions for, with why (`not on the brokers`). */
  | { readonly counts: ReadonlyMap<string, number>; readonly absent: ReadonlyMap<string, string> }
  /** The brokers could not be asked: one clause saying why. */
  | { readonly counts: null; readonly why: string };

export interface PartitionOptions {
  /** The deadline for the whole read, ms. */
  readonly timeoutMs?: number;
}

/** With the 0.5 s allowed for closing the client, the read takes at most 2.5 s. */
export const PARTITIONS_TIMEOUT_MS = 2000;

/** The partitions of each of `topics` on `brokers` (a kafka_broker_list value). */
export async function readPartitionCounts(brokers: string, topics: readonly string[], options: PartitionOptions = {}): Promise<PartitionCounts> {
  const timeoutMs = options.timeoutMs ?? PARTITIONS_TIMEOUT_MS;
  const bootstrap = brokerList(brokers);
  if (!bootstrap.length) return { counts: null, why: 'no brokers are named' };
  const wanted = [...new Set(topics)].sort();
  if (!wanted.length) return { counts: new Map(), absent: new Map() };
  const read = shortRead('chpipe-budget', bootstrap, timeoutMs);
  try {
    const listing = await withDeadline(read.anyBroker().then((broker) => broker.metadata([])), timeoutMs, () => read.close());
    const held = new Map(listing.topicMetadata.map((t) => [t.topic, t.partitionMetadata.length]));
    const counts = new Map<string, number>();
    const absent = new Map<string, string>();
    for (const t of wanted) {
      const count = held.get(t);
      if (count) counts.set(t, count);
      else absent.set(t, 'not on the brokers');
    }
    return { counts, absent };
  } catch (e) {
    return { counts: null, why: e instanceof Deadline ? `did not answer within ${timeoutMs / 1000} s` : `could not be asked (${clientReason(e)})` };
  }
}
