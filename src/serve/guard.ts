/**
 * What `chpipe serve` (and `chpipe dev`'s server) refuses before it runs: a
 * statement that creates a Kafka table the engine cannot run correctly. The
 * engine started with static membership (one `group.instance.id`) for some
 * topics and cannot reload that; a Kafka table with `kafka_num_consumers > 1`
 * on such a topic, or a second Kafka table in the group of one, would have
 * consumers sharing the id, which fence each other (loss and duplicates).
 *
 * The statement is read into the model (normalized by the engine, its ENGINE
 * clause read like a live server's `engine_full`), the engine's Kafka tables
 * are read in one query, and `staticMembershipConflicts` decides.
 */
import type { EngineReply, EngineRequest } from '../engine/process.js';
import { kafkaTableFromEngine } from '../inspect/inspect.js';
import type { KafkaTable } from '../model/model.js';
import { readCreateTable } from '../sql/create-table.js';
import { KAFKA_TABLES_QUERY, kafkaTableConsumers, NORMALIZE_STATEMENT_QUERY, staticMembershipConflicts, type KafkaConsumerFacts } from '../sql/dev.js';
import { statementShape } from '../sql/statement.js';
import { exception, type QueryCall, type ServerException } from './protocol.js';

export interface GuardRunner {
  request(request: EngineRequest): Promise<EngineReply>;
}

/** The statements' first words that can create a table (EXPLAIN: a migration's preflight of its CREATE statements). */
const CREATING = new Set(['CREATE', 'ATTACH', 'EXPLAIN']);

/**
 * A guard for `startServer`: refuses (BAD_ARGUMENTS, nothing runs) a statement that would give a topic in
 * `staticTopics` several consumers or a shared consumer group. Any statement it cannot read runs as sent:
 * the engine answers it.
 */
export function staticMembershipGuard(runner: GuardRunner, staticTopics: readonly string[], version: string, command = 'serve'): (call: QueryCall) => Promise<ServerException | undefined> {
  const running = new Set(staticTopics);
  return async (call) => {
    // No topic runs with static membership: nothing can conflict, and no statement costs an extra round trip.
    if (!running.size) return undefined;
    const keyword = statementShape(call.sql).keyword;
    if (keyword === undefined || !CREATING.has(keyword)) return undefined;
    const normalized = await rows<{ statement: string }>(runner, { sql: NORMALIZE_STATEMENT_QUERY, format: 'JSONEachRow', params: { statement: call.sql } });
    const created = readCreateTable(normalized?.[0]?.statement ?? '');
    if (created?.engine !== 'Kafka' || created.engineFull === undefined) return undefined;
    const database = created.database ?? call.database ?? 'default';
    const table = kafkaTableFromEngine(created.name, created.engineFull);
    if (!table.topics.some((t) => running.has(t))) return undefined;
    const present = await rows<{ database: string; name: string; engine_full: string }>(runner, { sql: KAFKA_TABLES_QUERY, format: 'JSONEachRow' });
    if (!present) return undefined;
    const key = `${database}.${created.name}`;
    const existing = present.map((r) => kafkaTableConsumers(r.database, kafkaTableFromEngine(r.name, r.engine_full)));
    // CREATE TABLE IF NOT EXISTS of a table that exists changes nothing (a migration's preflight asks as if it did).
    if (created.ifNotExists && !created.explained && existing.some((t) => t.table === key)) return undefined;
    const facts = kafkaTableConsumers(database, table);
    const after: KafkaConsumerFacts[] = [...existing.filter((t) => t.table !== key), facts];
    const conflicts = staticMembershipConflicts(staticTopics, after).filter((t) => table.topics.includes(t));
    if (!conflicts.length) return undefined;
    return exception('BAD_ARGUMENTS', refusal(command, key, table, facts, after, conflicts), version);
  };
}

/** One sentence: which topic, why, what to do. */
function refusal(command: string, key: string, table: KafkaTable, facts: KafkaConsumerFacts, after: readonly KafkaConsumerFacts[], conflicts: readonly string[]): string {
  const topics = conflicts.map((t) => `'${t}'`).join(', ');
  const sharing = after.filter((t) => t.group === table.group && t.table !== facts.table).map((t) => t.table);
  const why =
    facts.consumers > 1
      ? `Kafka table ${key} would read it with kafka_num_consumers = ${facts.consumers}`
      : `Kafka table ${key} would share consumer group '${table.group}' with ${sharing.join(', ') || 'another Kafka table'}`;
  return `chpipe ${command} runs topic${conflicts.length > 1 ? 's' : ''} ${topics} with static membership (one group.instance.id, fixed when it started), and ${why}, whose consumers would fence each other; nothing was run: restart chpipe ${command} so the topic runs without static membership, then rerun`;
}

async function rows<T>(runner: GuardRunner, request: EngineRequest): Promise<T[] | undefined> {
  const reply = await runner.request(request);
  if (!reply.ok) return undefined;
  return reply.output
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}
