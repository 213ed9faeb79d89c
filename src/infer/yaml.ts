/**
 * An inferred pipeline as YAML text, comments and all. Pure: the inference
 * and a few facts about the sample in, the file's text out.
 */
import { ident } from '../sql/quote.js';
import type { Inference, InferredColumn } from './infer.js';
import { parseType, renderType, type TypeNode } from './types.js';

export interface PipelineDraft {
  readonly name: string;
  readonly topic: string;
  readonly inference: Inference;
  /** Messages the sample held, and over how many partitions. */
  readonly sampled: number;
  readonly partitions: number;
  /** AvroConfluent: the registry URL to write as `source.schema_registry` (none when chpipe.yaml's kafka.schema_registry serves). */
  readonly schemaRegistry?: string;
}

const TIME_TYPE = /^(DateTime64|DateTime|Date32|Date)\b/;
/** Types a sorting key cannot hold (or should not). */
const UNSORTABLE = /^(Nullable|Array|Map|Tuple|JSON|Object|Dynamic|Variant|Nested)\b/;

/** The time column `order_by` and `partition_by` use: the first non-Nullable date or time column. */
export function timeColumn(columns: readonly InferredColumn[]): InferredColumn | undefined {
  return columns.find((c) => TIME_TYPE.test(c.type));
}

/**
 * A text column with few distinct values in the sample (at least 2, at most a tenth of the messages): put
 * before the time in `order_by`, as ClickHouse's guides advise (low cardinality first). The one with the fewest.
 */
function groupingColumn(columns: readonly InferredColumn[], sampled: number): InferredColumn | undefined {
  const candidates = columns.filter((c) => c.distinct !== undefined && c.distinct >= 2 && c.distinct * 10 <= sampled && !UNSORTABLE.test(c.type));
  return candidates.sort((a, b) => (a.distinct as number) - (b.distinct as number))[0];
}

/** A YAML scalar: plain when it reads back as the same string, else double-quoted. */
export function scalar(text: string): string {
  const plain = /^[A-Za-z_][\w(), .'=-]*$/.test(text) && !/[ ,]$/.test(text) && !/^(true|false|yes|no|on|off|null|y|n)$/i.test(text);
  return plain ? text : JSON.stringify(text);
}

const comment = (notes: readonly string[]) => (notes.length ? `   # ${notes.join('; ')}` : '');

/** The members of a named Tuple type (a nested JSON object), in order; undefined for any other type. */
function members(type: string): { name: string; type: TypeNode }[] | undefined {
  const node = parseType(type);
  if (node?.name !== 'Tuple' || !node.args?.length) return undefined;
  const out: { name: string; type: TypeNode }[] = [];
  for (const a of node.args) {
    if (a.kind !== 'type' || a.element === undefined) return undefined;
    out.push({ name: a.element, type: a.type });
  }
  return out;
}

/** A nested object's leaves as columns: `customer_id` reading `path: customer.id`, deeper objects flattened the same way. */
function pathColumns(name: string, path: string, type: string): string[] {
  const inner = members(type);
  if (!inner) return [`  ${scalar(name)}: { type: ${scalar(type)}, path: ${path} }`];
  return inner.flatMap((m) => pathColumns(`${name}_${m.name}`, `${path}.${m.name}`, renderType(m.type)));
}

export function pipelineYaml(d: PipelineDraft): string {
  const { inference: inf } = d;
  const time = timeColumn(inf.columns);
  const out: string[] = [];
  out.push(`# Inferred by \`chpipe infer ${d.topic}\` from ${d.sampled} message${d.sampled === 1 ? '' : 's'} on ${d.partitions} partition${d.partitions === 1 ? '' : 's'}${inf.detected ? ` (format detected: ${inf.format})` : ''}.`);
  out.push('# The types are the engine\'s schema inference over that sample: review them, then `chpipe plan`.');
  for (const n of inf.notes) out.push(`# ${n}`);
  out.push(`name: ${scalar(d.name)}`);
  out.push('source:');
  out.push(`  topic: ${scalar(d.topic)}`);
  out.push(`  format: ${inf.format}`);
  // Messages the format could not parse were in the sample: keep them in NAME_errors instead of stalling a partition.
  if (inf.skipped) out.push('  on_error: stream');
  if (d.schemaRegistry !== undefined) out.push(`  schema_registry: ${scalar(d.schemaRegistry)}`);
  // Nested objects (named Tuples) are parsed as fields and stored as their leaves, each read by a path.
  const nestedColumns = new Set(inf.columns.filter((c) => members(c.type) !== undefined).map((c) => c.name));
  if (nestedColumns.size) {
    out.push('  fields:   # what each message holds; the columns below store the nested objects\' members by path');
    for (const c of inf.columns) out.push(`    ${scalar(c.name)}: ${scalar(c.type)}`);
  }
  out.push('columns:');
  for (const c of inf.columns) {
    if (nestedColumns.has(c.name)) out.push(...pathColumns(c.name, c.name, c.type).map((line, i) => (i === 0 ? `${line}${comment(c.notes)}` : line)));
    else out.push(`  ${scalar(c.name)}: ${scalar(c.type)}${comment(c.notes)}`);
    if (c.type.startsWith('Array(Tuple(')) out.push(`  # explode: ${scalar(c.name)}   # one row per element of ${c.name}, its members read as path: ${c.name}.<member>`);
  }
  out.push(`  # received_at: { type: DateTime, from: _timestamp }   # when Kafka received each message`);
  out.push('table:');
  if (time) {
    const group = groupingColumn(inf.columns, d.sampled);
    if (group) out.push(`  # ${group.name} first: ${group.distinct} distinct values in ${d.sampled} messages, so rows of one ${group.name} sit together and queries that filter on it read less`);
    out.push(`  order_by: [${[...(group ? [group] : []), time].map((c) => scalar(c.name)).join(', ')}]`);
    out.push(`  partition_by: ${scalar(`toYYYYMM(${ident(time.name)})`)}`);
  } else {
    const key = inf.columns.find((c) => !UNSORTABLE.test(c.type));
    out.push(`  # no date or time column in the sample: uncomment received_at above to sort by arrival instead`);
    out.push(key ? `  order_by: [${scalar(key.name)}]` : '  order_by: []');
  }
  return out.join('\n') + '\n';
}
