/**
 * What `chpipe dev` and `chpipe serve` write for their engine: the server
 * configuration of the embedded target they run (a ClickHouse
 * `<clickhouse>…</clickhouse>` file), and the one query dev's live view reads
 * every pipeline's counts with. Pure.
 */
import { qualified, stringLiteral } from './quote.js';

/** Threads for Kafka consumers beyond one per Kafka table: pipelines added while dev runs, and the engine's own streaming work. */
export const BROKER_POOL_MARGIN = 8;

/**
 * The Kafka consumers' session timeout on the local loop's engine: the broker's
 * minimum (`group.min.session.timeout.ms`, 6 s by default) instead of
 * librdkafka's 45 s. ClickHouse closes a dropped Kafka table's consumer without
 * leaving the group, so a recreated table, or an engine started again after a
 * crash, waits for the old member's session to expire before it gets the
 * partitions: 45 s with the default, about 6 s with this. Heartbeats run on
 * librdkafka's own thread, so a busy engine does not lose its session.
 */
export const LOCAL_SESSION_TIMEOUT_MS = 6000;
export const LOCAL_HEARTBEAT_INTERVAL_MS = 2000;

export interface DevEngineConfig {
  /** Kafka tables the engine will run (declared and present); the pool gets this many threads plus `BROKER_POOL_MARGIN`. */
  readonly kafkaTables: number;
}

/** The pool size that gives every Kafka table a thread, with a margin (the default on 2 cores is 2: the rest wait for partitions). */
export function brokerPoolSize(kafkaTables: number): number {
  return Math.max(0, Math.floor(kafkaTables)) + BROKER_POOL_MARGIN;
}

/**
 * The engine's server configuration for `chpipe dev` and `chpipe serve`: the
 * message-broker pool (a server setting, read once at start) and the Kafka
 * consumers' session timeout (`LOCAL_SESSION_TIMEOUT_MS`). The freshness of a
 * local loop (`stream_flush_interval_ms`, 7.5 s) is not set here: chdb does
 * not apply a profile's settings from this file; a pipeline's own
 * `kafka_flush_interval_ms` sets it.
 */
export function devEngineConfigXml(config: DevEngineConfig): string {
  return [
    '<!-- written by chpipe dev / chpipe serve for its embedded engine; rewritten at every start -->',
    '<clickhouse>',
    `  <background_message_broker_schedule_pool_size>${brokerPoolSize(config.kafkaTables)}</background_message_broker_schedule_pool_size>`,
    '  <kafka>',
    `    <session_timeout_ms>${LOCAL_SESSION_TIMEOUT_MS}</session_timeout_ms>`,
    `    <heartbeat_interval_ms>${LOCAL_HEARTBEAT_INTERVAL_MS}</heartbeat_interval_ms>`,
    '  </kafka>',
    '</clickhouse>',
    '',
  ].join('\n');
}

/** A pipeline's objects the live view counts: what users query (`NAME`), and `NAME_errors` when it exists. */
export interface CountedPipeline {
  readonly pipeline: string;
  /** The object users query: a table or the finalizing view. */
  readonly object: string;
  /** `NAME_errors` (columns `received_at`, `offset`, `error`), when the pipeline streams its errors. */
  readonly errors?: string;
}

/** One row of `liveCountsQuery`: a pipeline's rows or errors, and for errors the latest one's message. */
export interface CountRow {
  readonly pipeline: string;
  readonly what: 'rows' | 'errors';
  readonly n: string;
  readonly last: string;
}

/**
 * Every pipeline's counts in one statement (one round trip, whatever the
 * number of pipelines): `count()` of what users query and of `NAME_errors`,
 * and the `error` of the latest `NAME_errors` row. Undefined when there is nothing to count.
 */
export function liveCountsQuery(database: string, pipelines: readonly CountedPipeline[]): string | undefined {
  const parts: string[] = [];
  for (const p of pipelines) {
    const name = stringLiteral(p.pipeline);
    parts.push(`SELECT ${name} AS pipeline, 'rows' AS what, toString(count()) AS n, '' AS last FROM ${qualified(database, p.object)}`);
    if (p.errors !== undefined) {
      parts.push(`SELECT ${name} AS pipeline, 'errors' AS what, toString(count()) AS n, toString(argMax(error, (received_at, \`offset\`))) AS last FROM ${qualified(database, p.errors)}`);
    }
  }
  return parts.length ? parts.join('\nUNION ALL\n') : undefined;
}
