/**
 * What `chpipe errors` reads: the latest rows of the pipelines' errors tables
 * (`NAME_errors`: received_at, topic, partition, offset, raw_message, error),
 * every pipeline in one statement. Pure.
 */
import { qualified, stringLiteral } from './quote.js';

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
