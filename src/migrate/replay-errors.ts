/**
 * `chpipe errors replay PIPELINE`: the messages a pipeline's errors table kept
 * (`on_error: stream`), parsed again with the declaration the target runs
 * today (after a producer bug or a column type was fixed) and inserted into
 * the pipeline's hub, where every flow takes them as it takes messages from
 * Kafka: the rows land in the pipeline's table, each message once. Messages
 * that still do not parse stay where they are and are counted. Each replayed
 * message is recorded (`_chpipe_replayed`) right after its insert, so a
 * second replay inserts nothing again; a replay killed between one message's
 * insert and its record can insert that one message again when rerun.
 */
import { EngineError, type Driver } from '../engine/driver.js';
import { inspectDatabase } from '../inspect/inspect.js';
import type { KafkaTable, Placement } from '../model/model.js';
import { KAFKA_STREAM_VIRTUAL_COLUMNS, KAFKA_VIRTUAL_COLUMNS } from '../model/kafka.js';
import { recordReplayed, replayedTableDdl, replayInsert, unreplayedQuery, type KeptMessage, type ReplayColumn } from '../sql/errors.js';

export interface ReplayOutcome {
  readonly pipeline: string;
  /** Kept messages not replayed before. */
  readonly candidates: number;
  /** Parsed and inserted now. */
  readonly replayed: number;
  /** Still not parsed by today's declaration: the first of them and the engine's reason. */
  readonly stillFailing: number;
  readonly firstFailure?: { readonly at: string; readonly error: string };
}

/** Why a pipeline cannot be replayed: one sentence. */
export class ReplayRefused extends Error {}

const FILLED: ReadonlySet<string> = new Set(['_topic', '_partition', '_offset', '_timestamp', '_timestamp_ms', '_raw_message', '_error']);

/** Replay the kept messages of `pipeline` on the target (see above). */
export async function replayErrors(driver: Driver, placement: Placement, pipeline: string, onMessage?: (done: number, total: number) => void): Promise<ReplayOutcome> {
  const { model } = await inspectDatabase(driver, placement);
  const own = model.objects.filter((o) => o.owner?.pipeline === pipeline);
  const errors = own.find((o) => o.owner?.role === 'errors' && (o.kind === 'table' || o.kind === 'distributed'));
  if (!errors) throw new ReplayRefused(`pipeline ${pipeline} has no errors table on the target: only on_error: stream keeps the messages that do not parse`);
  const queue = own.find((o): o is KafkaTable => o.kind === 'kafka');
  const hub = own.find((o) => o.owner?.role === 'hub' && o.kind === 'null');
  if (!queue || !hub || hub.kind !== 'null') {
    throw new ReplayRefused(`pipeline ${pipeline} reads its queue without a hub (objects: hub: null), so there is nowhere to insert a message as its Kafka table would; declare the pipeline with its hub (the default with on_error: stream) to replay`);
  }
  const fields = new Set(queue.columns.map((c) => c.name));
  const virtuals = new Set([...Object.keys(KAFKA_VIRTUAL_COLUMNS), ...Object.keys(KAFKA_STREAM_VIRTUAL_COLUMNS)]);
  // The hub's columns: the queue's (from the parsed message) and the virtual ones the errors table can fill; the rest take their defaults.
  const columns: ReplayColumn[] = hub.columns.flatMap((c): ReplayColumn[] => (fields.has(c.name) ? [{ name: c.name, source: 'field' }] : virtuals.has(c.name) && FILLED.has(c.name) ? [{ name: c.name, source: c.name as ReplayColumn['source'] }] : []));
  const formatSettings = Object.fromEntries(Object.entries(queue.settings).filter(([k]) => k.startsWith('input_format_') || k.startsWith('format_'))) as Record<string, string | number>;
  await driver.exec(replayedTableDdl(placement.database));
  const kept = await driver.query<KeptMessage>(unreplayedQuery(placement.database, pipeline, errors.name));
  let replayed = 0;
  let stillFailing = 0;
  let firstFailure: ReplayOutcome['firstFailure'];
  for (const [i, message] of kept.entries()) {
    try {
      await driver.exec(replayInsert({ database: placement.database, hub: hub.name, columns, format: queue.format, structure: queue.columns, formatSettings, message }));
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      stillFailing++;
      firstFailure ??= { at: `${message.topic}/${message.partition} offset ${message.offset}`, error: e.engineMessage.split('\n')[0] ?? e.engineMessage };
      onMessage?.(i + 1, kept.length);
      continue;
    }
    await driver.exec(recordReplayed(placement.database, pipeline, message));
    replayed++;
    onMessage?.(i + 1, kept.length);
  }
  return { pipeline, candidates: kept.length, replayed, stillFailing, ...(firstFailure ? { firstFailure } : {}) };
}
