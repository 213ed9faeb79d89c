/**
 * Producer drift: for each ingest queue on a target, a sample of its topics
 * (src/kafka/sample.ts: by offset, no group, nothing committed) against the
 * fields the queue reads. The engine skips message fields no column reads
 * without a word (it forces `input_format_skip_unknown_fields`), and a column
 * no message carries fills with defaults: both are named here, so a team
 * learns a producer changed before data goes missing. Nothing here can fail a
 * status: what cannot be read is a note.
 */
import type { KafkaTable, Model } from '../model/model.js';
import type { SampledMessage, SampleOptions } from '../kafka/sample.js';
import { inferColumns, inferFormat, InferProblem, type Engine } from './infer.js';

export interface ProducerDrift {
  /** The pipeline the queue serves, `null` for a table chpipe does not manage. */
  readonly pipeline: string | null;
  readonly table: string;
  readonly topics: readonly string[];
  readonly format: string;
  /** Messages sampled over the topics. */
  readonly sampled: number;
  /** Message fields no column reads (the engine drops them); `null` when unknown. */
  readonly unread: readonly string[] | null;
  /** Columns no sampled message carries (they fill with defaults); `null` when unknown. */
  readonly missing: readonly string[] | null;
  readonly notes: readonly string[];
}

export const PRODUCER_SAMPLE: SampleOptions = { maxMessages: 200, timeoutMs: 5_000 };

/** Kafka tables that consume: those no view writes to (a publish queue is a producer). */
export function ingestQueues(target: Model): KafkaTable[] {
  const written = new Set(target.objects.flatMap((o) => (o.kind === 'mv' ? [o.to] : [])));
  return target.objects.filter((o): o is KafkaTable => o.kind === 'kafka' && !written.has(o.name));
}

const positional = (format: string) => format === 'CSV' || format === 'TSV';

/** Does the queue feed aggregates only: every flow reading it writes a pipeline's state table (typed: the target's ownership role)? */
function aggregates(target: Model, queue: KafkaTable): boolean {
  const byName = new Map(target.objects.map((o) => [o.name, o]));
  const flows = target.objects.filter((o) => o.kind === 'mv' && o.from.includes(queue.name));
  return flows.length > 0 && flows.every((f) => f.kind === 'mv' && byName.get(f.to)?.owner?.role === 'state');
}

/** Each ingest queue's producer drift; topics are sampled one after another, each within the sample's deadline. */
export async function producerDrift(engine: Engine, target: Model, options: SampleOptions = PRODUCER_SAMPLE): Promise<ProducerDrift[]> {
  const { sampleTopic } = await import('../kafka/sample.js');
  const out: ProducerDrift[] = [];
  for (const q of ingestQueues(target)) {
    const base = { pipeline: q.owner?.pipeline ?? null, table: q.name, topics: q.topics, format: q.format };
    const unknown = (note: string, sampled = 0): ProducerDrift => ({ ...base, sampled, unread: null, missing: null, notes: [note] });
    const format = inferFormat(q.format);
    if (!format) {
      out.push(unknown(`producer drift unknown: format ${q.format} is not one the sample can be read in (JSONEachRow, CSV, CSVWithNames, TSV, TSVWithNames, AvroConfluent)`));
      continue;
    }
    if (q.brokers === undefined || !q.topics.length) {
      out.push(unknown(q.namedCollection ? `producer drift unknown: the brokers are in the named collection ${q.namedCollection}` : 'producer drift unknown: the table names no brokers or topics'));
      continue;
    }
    const messages: SampledMessage[] = [];
    const notes: string[] = [];
    for (const topic of q.topics) {
      const r = await sampleTopic(q.brokers, topic, options);
      if (!r.ok) notes.push(`producer drift unknown for topic ${topic}: ${r.problem.message}`);
      else messages.push(...r.sample.messages.filter((m) => m.value !== null && m.value.trim() !== ''));
    }
    if (!messages.length) {
      out.push({ ...base, sampled: 0, unread: null, missing: null, notes: notes.length ? notes : ['producer drift unknown: no message to sample'] });
      continue;
    }
    let fields: string[];
    try {
      const registry = q.settings.format_avro_schema_registry_url;
      fields = (await inferColumns(engine, messages, format, registry !== undefined ? { schemaRegistry: String(registry) } : {})).columns.map((c) => c.name);
    } catch (e) {
      if (!(e instanceof InferProblem)) throw e;
      out.push({ ...base, sampled: messages.length, unread: null, missing: null, notes: [...notes, `producer drift unknown: ${e.message}`] });
      continue;
    }
    const columns = q.columns.map((c) => c.name);
    if (positional(format)) {
      // No names: fields and columns pair up by position (the engine calls the fields c1, c2, …).
      const unread = fields.slice(columns.length).map((_, i) => `field ${columns.length + i + 1} (by position)`);
      const missing = columns.slice(fields.length);
      out.push({ ...base, sampled: messages.length, unread, missing, notes });
      continue;
    }
    const read = new Set(columns);
    const carried = new Set(fields);
    const unread = fields.filter((f) => !read.has(f));
    const missing = columns.filter((c) => !carried.has(c));
    if (aggregates(target, q) && unread.length) {
      // An aggregate declares only the fields its keys, measures and filter use: the others are left unread on purpose.
      const note = `an aggregate reads only the fields it declares: ${unread.length === 1 ? 'the message field' : `${unread.length} message fields`} ${unread.join(', ')} ${unread.length === 1 ? 'is' : 'are'} not read on purpose, not drift`;
      out.push({ ...base, sampled: messages.length, unread: [], missing, notes: [...notes, note] });
      continue;
    }
    out.push({ ...base, sampled: messages.length, unread, missing, notes });
  }
  return out;
}
