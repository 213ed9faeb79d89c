/**
 * The partition count of topics, from the brokers: one Metadata request
 * naming every topic, with topic creation off (a topic the brokers lack stays
 * absent), sent by an admin client that joins no group and commits nothing.
 * Loaded lazily (cluster mode's consumer budget only; never `--help`).
 *
 * The request goes through the client's own Metadata API rather than
 * `admin.metadata()`, which fails the whole answer on the first unknown topic;
 * the raw answer carries each topic's error code beside the others' partitions.
 * Bounded by one deadline (2 s, and 0.5 s to close the client); brokers that
 * cannot be reached, or that refuse, give a reason, never an error.
 */
import { kGetApi, kGetBootstrapConnection, protocolErrorsCodesById, ResponseError, type Admin } from '@platformatic/kafka';
import { brokerList } from '../spec/brokers.js';
import { clientReason, Deadline, shortReadAdmin, withDeadline } from './lag.js';

export type PartitionCounts =
  /** `absent`: topics the brokers did not give partitions for, with why (`not on the brokers`, or the broker's error name). */
  | { readonly counts: ReadonlyMap<string, number>; readonly absent: ReadonlyMap<string, string> }
  /** The brokers could not be asked: one clause saying why. */
  | { readonly counts: null; readonly why: string };

export interface PartitionOptions {
  /** The deadline for the whole read, ms. */
  readonly timeoutMs?: number;
}

/** With the 0.5 s allowed for closing the client, the read takes at most 2.5 s. */
export const PARTITIONS_TIMEOUT_MS = 2000;

/** What this module reads of a Metadata answer (every version has these). */
interface MetadataResponse {
  readonly topics: readonly { readonly errorCode: number; readonly name: string | null; readonly partitions: readonly unknown[] }[];
}

/** UNKNOWN_TOPIC_OR_PARTITION: the brokers do not have the topic. */
const UNKNOWN_TOPIC = 3;

/** The partitions of each of `topics` on `brokers` (a kafka_broker_list value). */
export async function readPartitionCounts(brokers: string, topics: readonly string[], options: PartitionOptions = {}): Promise<PartitionCounts> {
  const timeoutMs = options.timeoutMs ?? PARTITIONS_TIMEOUT_MS;
  const bootstrap = brokerList(brokers);
  if (!bootstrap.length) return { counts: null, why: 'no brokers are named' };
  const wanted = [...new Set(topics)].sort();
  if (!wanted.length) return { counts: new Map(), absent: new Map() };
  const admin = shortReadAdmin('chpipe-budget', bootstrap, timeoutMs);
  try {
    const response = await withDeadline(metadata(admin, wanted), timeoutMs, () => admin.close());
    const counts = new Map<string, number>();
    const absent = new Map<string, string>();
    for (const t of response.topics) {
      if (t.name === null || !wanted.includes(t.name)) continue;
      if (t.errorCode === 0 || t.partitions.length > 0) counts.set(t.name, t.partitions.length);
      else absent.set(t.name, t.errorCode === UNKNOWN_TOPIC ? 'not on the brokers' : (protocolErrorsCodesById[t.errorCode] ?? `error ${t.errorCode}`));
    }
    for (const t of wanted) if (!counts.has(t) && !absent.has(t)) absent.set(t, 'not on the brokers');
    return { counts, absent };
  } catch (e) {
    return { counts: null, why: e instanceof Deadline ? `did not answer within ${timeoutMs / 1000} s` : `could not be asked (${clientReason(e)})` };
  }
}

/** One Metadata request for `topics`, never creating them; an answer with per-topic errors is still the answer. */
function metadata(admin: Admin, topics: string[]): Promise<MetadataResponse> {
  return new Promise((resolve, reject) => {
    admin[kGetBootstrapConnection]((error, connection) => {
      if (error || !connection) return reject(error ?? new Error('no connection to the brokers'));
      // The arguments every Metadata version takes: topics, allow auto-creation, include authorized operations.
      admin[kGetApi]<[topics: string[] | null, autocreate: boolean, authorizedOperations: boolean], MetadataResponse>('Metadata', (apiError, api) => {
        if (apiError || !api) return reject(apiError ?? new Error('the brokers offer no Metadata API'));
        api(connection, topics, false, false, (requestError, response) => {
          const partial = requestError instanceof ResponseError ? (requestError as unknown as { response?: MetadataResponse }).response : undefined;
          if (partial?.topics) resolve(partial);
          else if (requestError || !response) reject(requestError ?? new Error('the brokers sent no metadata'));
          else resolve(response);
        });
      });
    });
  });
}
