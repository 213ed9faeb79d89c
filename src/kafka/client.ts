/**
 * chpipe's Kafka client for short reads (infer's sample, consumer lag, partition
 * counts, the broker probe): KafkaJS's cluster, which negotiates each request's
 * version with the broker from Kafka 0.10 on, so brokers from 2.8 to 4.x answer,
 * and which runs on every Node from 14 (chpipe supports 20, 22 and 24). It is
 * used without a consumer group: metadata, ListOffsets, OffsetFetch and Fetch
 * are sent to the brokers that hold the partitions, so reading never joins,
 * creates or commits to a group. Loaded lazily (never by `--help`).
 *
 * KafkaJS decompresses gzip itself; Snappy (with the xerial framing the Java
 * producer writes), LZ4 frames and ZSTD are decompressed here by pure-JavaScript
 * codecs, so a sample of a compressed topic reads on every Node version. chpipe
 * never produces, so the codecs only decompress.
 */
import { channel } from 'node:diagnostics_channel';
import kafkajs, { type Broker, type Cluster, type KafkaConfig } from 'kafkajs';
import { decompress as zstdDecompress } from 'fzstd';
import * as lz4 from 'lz4js';
import * as snappy from 'snappyjs';

const { Kafka, logLevel, CompressionCodecs, CompressionTypes } = kafkajs;

/** `82 'SNAPPY' 00`, then version and compatible version: the xerial framing of Java's snappy-java. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/** Snappy as Kafka's producers write it: raw, or in xerial blocks (a 16-byte header, then length-prefixed blocks). */
export function snappyDecompress(input: Buffer): Buffer {
  if (input.length < 16 || !input.subarray(0, 8).equals(XERIAL_MAGIC)) return Buffer.from(snappy.uncompress(input));
  const blocks: Buffer[] = [];
  for (let at = 16; at < input.length; ) {
    const size = input.readInt32BE(at);
    blocks.push(Buffer.from(snappy.uncompress(input.subarray(at + 4, at + 4 + size))));
    at += 4 + size;
  }
  return Buffer.concat(blocks);
}

const readOnly = (name: string, decompress: (b: Buffer) => Buffer) => () => ({
  compress: () => Promise.reject(new Error(`chpipe does not produce ${name}-compressed messages`)),
  decompress: (b: Buffer) => Promise.resolve(decompress(b)),
});
CompressionCodecs[CompressionTypes.Snappy] = readOnly('Snappy', snappyDecompress);
CompressionCodecs[CompressionTypes.LZ4] = readOnly('LZ4', (b) => Buffer.from(lz4.decompress(b)));
CompressionCodecs[CompressionTypes.ZSTD] = readOnly('ZSTD', (b) => Buffer.from(zstdDecompress(b)));

/**
 * Every request a short read sent and the broker answered (`{ apiKey, apiName, apiVersion, broker }`), published
 * on this diagnostics channel: what a read costs, observable without a proxy.
 */
export const KAFKA_REQUESTS = channel('chpipe:kafka:request');

/** KafkaJS's instrumentation, as much of it as the cluster calls: each answered request is published on KAFKA_REQUESTS. */
const requests = {
  emit(name: string, payload: unknown): void {
    if (name === 'network.request' && KAFKA_REQUESTS.hasSubscribers) KAFKA_REQUESTS.publish(payload);
  },
};

/** KafkaJS makes its cluster (brokers, metadata, connections) behind a private symbol; it is the group-less client chpipe needs. */
type ClusterMaker = (options: { metadataMaxAge: number; allowAutoTopicCreation: boolean; instrumentationEmitter: typeof requests }) => Cluster;

/** A connected cluster for one bounded read: no retries, every wait within `timeoutMs`, topics never created. */
export interface ShortRead {
  readonly cluster: Cluster;
  /** The broker a request that any broker answers goes to (the first that accepted the connection). */
  anyBroker(): Promise<Broker>;
  close(): Promise<void>;
}

export function shortRead(clientId: string, brokers: readonly string[], timeoutMs: number): ShortRead {
  const config: KafkaConfig = {
    clientId,
    brokers: [...brokers],
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  };
  const kafka = new Kafka(config);
  const maker = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (!maker) throw new Error('the KafkaJS release installed has no cluster maker (chpipe needs kafkajs 2.2.x)');
  const cluster = (kafka as unknown as Record<symbol, ClusterMaker>)[maker]?.({ metadataMaxAge: timeoutMs, allowAutoTopicCreation: false, instrumentationEmitter: requests }) as Cluster;
  let connected: Promise<void> | undefined;
  const connect = () => (connected ??= cluster.connect());
  return {
    cluster,
    async anyBroker() {
      await connect();
      const seed = (cluster as unknown as { brokerPool: { seedBroker: Broker } }).brokerPool.seedBroker;
      return seed;
    },
    async close() {
      await cluster.disconnect();
    },
  };
}

/** The first line of a client error (of the first inner error that has one), without its final period. */
export function clientReason(e: unknown): string {
  const err = e as { message?: string; errors?: { message?: string }[]; originalError?: { message?: string } };
  const inner = err.errors?.find((x) => x.message)?.message ?? err.originalError?.message;
  const text = (inner ?? err.message ?? String(e)).split('\n')[0] ?? '';
  return text.replace(/\.$/, '') || 'unknown error';
}

/** The error, or one it wraps, says the brokers could not be reached (no connection, or it closed), as opposed to a broker's refusal. */
export function unreachable(e: unknown): boolean {
  for (let err = e as { name?: string; originalError?: unknown; cause?: unknown } | undefined; err; err = (err.originalError ?? err.cause) as typeof err) {
    if (err.name === 'KafkaJSConnectionError' || err.name === 'KafkaJSConnectionClosedError' || err.name === 'KafkaJSBrokerNotFound') return true;
  }
  return false;
}

/** A bounded read's deadline came first. */
export class Deadline extends Error {}

/**
 * `work` against a deadline of `timeoutMs` (a `Deadline` rejection), then `close` given 0.5 s: a broker
 * that never answered must not hold the command.
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
