/**
 * What `chpipe errors` reads: the latest rows of the pipelines' errors tables
 * (`NAME_errors`: received_at, topic, partition, offset, raw_message, error),
 * every pipeline in one statement. Pure.
 */
import { backquote, qualified, stringLiteral } from './quote.js';

/** A pipeline's errors table. */
export interface ErrorsTable {
  readonly pipeline: string;
  readonly table: string;
}

/** One row of `latestErrorsQuery`. */
export interface ErrorRow {
  readonly pipeline: string;
  readonly received_at: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly error: string;
  readonly raw_message: string;
}

/**
 * The latest `limit` rows of each errors table (newest first), those received in the last `sinceSeconds` when
 * given, in one statement (one round trip whatever the number of pipelines); undefined when there is none.
 */
export function latestErrorsQuery(database: string, tables: readonly ErrorsTable[], limit: number, sinceSeconds?: number): string | undefined {
  if (!tables.length) return undefined;
  const since = sinceSeconds !== undefined ? `WHERE received_at >= now() - INTERVAL ${Math.floor(sinceSeconds)} SECOND ` : '';
  const parts = tables.map(
    (t) =>
      `SELECT ${stringLiteral(t.pipeline)} AS pipeline, received_at, topic, toUInt64(\`partition\`) AS \`partition\`, toUInt64(\`offset\`) AS \`offset\`, error, raw_message FROM ${qualified(database, t.table)} ${since}ORDER BY received_at DESC, \`offset\` DESC LIMIT ${Math.floor(limit)}`,
  );
  // The time as text outside (its 'YYYY-MM-DD hh:mm:ss' sorts as the time does): inside, received_at stays the column the filter compares.
  return `SELECT pipeline, toString(received_at) AS received_at, topic, \`partition\`, \`offset\`, error, raw_message FROM (${parts.join(' UNION ALL ')}) ORDER BY received_at DESC, pipeline, \`offset\` DESC SETTINGS output_format_json_quote_64bit_integers = 0`;
}

/** Where `chpipe errors replay` records the messages it replayed (chpipe's own table: `_chpipe_` objects are never a pipeline's). */
export const REPLAYED_TABLE = '_chpipe_replayed';

/** The record of replayed messages, created when first needed. */
export function replayedTableDdl(database: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(database, REPLAYED_TABLE)} (pipeline String, topic String, \`partition\` UInt64, \`offset\` UInt64, replayed_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY (pipeline, topic, \`partition\`, \`offset\`) COMMENT 'messages chpipe errors replay inserted, each once'`;
}

/** A kept message to replay: where it came from, what it read, when it failed. */
export interface KeptMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly raw_message: string;
  readonly received_at: string;
}

/** The kept messages of an errors table that were not replayed yet, oldest first (each message once, however often it failed). */
export function unreplayedQuery(database: string, pipeline: string, errorsTable: string): string {
  const replayed = `SELECT topic, \`partition\`, \`offset\` FROM ${qualified(database, REPLAYED_TABLE)} WHERE pipeline = ${stringLiteral(pipeline)}`;
  return (
    `SELECT topic, toUInt64(\`partition\`) AS \`partition\`, toUInt64(\`offset\`) AS \`offset\`, any(raw_message) AS raw_message, toString(min(e.received_at)) AS received_at ` +
    `FROM ${qualified(database, errorsTable)} AS e WHERE (toString(topic), toUInt64(\`partition\`), toUInt64(\`offset\`)) NOT IN (${replayed}) ` +
    `GROUP BY topic, \`partition\`, \`offset\` ORDER BY min(e.received_at), topic, \`partition\`, \`offset\` SETTINGS output_format_json_quote_64bit_integers = 0`
  );
}

/** A hub column and where its value comes from in a replay. */
export interface ReplayColumn {
  readonly name: string;
  /** A field of the parsed message, or a Kafka virtual column filled from what the errors table kept. */
  readonly source: 'field' | '_topic' | '_partition' | '_offset' | '_timestamp' | '_timestamp_ms' | '_raw_message' | '_error';
}

/**
 * One kept message parsed again with the queue's declaration (its format and columns, today's) and inserted into
 * the pipeline's hub, as the Kafka table would have: every flow reading the hub takes it, the main flow stores it
 * (`_error` empty), the errors flow leaves it. A message that still does not parse fails the statement.
 */
export function replayInsert(args: {
  readonly database: string;
  readonly hub: string;
  readonly columns: readonly ReplayColumn[];
  readonly format: string;
  /** The queue's columns, as `format()` reads the message. */
  readonly structure: readonly { readonly name: string; readonly type: string }[];
  readonly formatSettings: Readonly<Record<string, string | number>>;
  readonly message: KeptMessage;
}): string {
  const m = args.message;
  const value = (c: ReplayColumn): string => {
    switch (c.source) {
      case 'field':
        return backquote(c.name);
      case '_topic':
        return stringLiteral(m.topic);
      case '_partition':
        return `toUInt64(${Math.floor(m.partition)})`;
      case '_offset':
        return `toUInt64(${Math.floor(m.offset)})`;
      case '_timestamp':
        return `toDateTime(${stringLiteral(m.received_at)})`;
      case '_timestamp_ms':
        return `toDateTime64(${stringLiteral(m.received_at)}, 3)`;
      case '_raw_message':
        return stringLiteral(m.raw_message);
      case '_error':
        return "''";
    }
  };
  const structure = args.structure.map((c) => `${backquote(c.name)} ${c.type}`).join(', ');
  const settings = Object.entries(args.formatSettings).map(([k, v]) => `${k} = ${typeof v === 'number' ? v : stringLiteral(v)}`);
  return (
    `INSERT INTO ${qualified(args.database, args.hub)} (${args.columns.map((c) => backquote(c.name)).join(', ')}) ` +
    `SELECT ${args.columns.map(value).join(', ')} FROM format(${args.format}, ${stringLiteral(structure)}, ${stringLiteral(m.raw_message)})` +
    (settings.length ? ` SETTINGS ${settings.join(', ')}` : '')
  );
}

/** Record one replayed message. */
export function recordReplayed(database: string, pipeline: string, m: KeptMessage): string {
  return `INSERT INTO ${qualified(database, REPLAYED_TABLE)} (pipeline, topic, \`partition\`, \`offset\`) VALUES (${stringLiteral(pipeline)}, ${stringLiteral(m.topic)}, ${Math.floor(m.partition)}, ${Math.floor(m.offset)})`;
}
