/**
 * From a sample of messages to columns: the format (declared or detected),
 * the engine's schema inference over the sample (`DESCRIBE format(…)` on the
 * scratch engine: a table function, nothing consumes), and what the sample
 * leaves open per column (mixed kinds of values, empty fields, fields some
 * messages lack, nulls) as notes for the YAML's comments.
 *
 * Messages are text at this edge: a JSONEachRow message is parsed here, once,
 * to find the one that is not JSON; CSV and TSV values are read back through
 * the engine as text.
 */
import { EngineError } from '../engine/driver.js';
import type { SampledMessage } from '../kafka/sample.js';
import { bytesLiteralLength, describeAvroConfluentQuery, describeSampleQuery, sampleAsTextQuery, selectAvroConfluentQuery, SAMPLE_QUERY_BYTES, type DescribedColumn } from '../sql/infer.js';
import { emptyOrder, learnOrder, typeInMessageOrder, type KeyOrder } from './types.js';

/** The formats `infer` reads (AvroConfluent: Avro in the Confluent wire format, through a schema registry). */
export const INFER_FORMATS = ['JSONEachRow', 'CSV', 'CSVWithNames', 'TSV', 'TSVWithNames', 'AvroConfluent'] as const;
export type InferFormat = (typeof INFER_FORMATS)[number];

const ALIASES: Readonly<Record<string, InferFormat>> = {
  jsoneachrow: 'JSONEachRow',
  ndjson: 'JSONEachRow',
  jsonlines: 'JSONEachRow',
  csv: 'CSV',
  csvwithnames: 'CSVWithNames',
  tsv: 'TSV',
  tabseparated: 'TSV',
  tsvwithnames: 'TSVWithNames',
  tabseparatedwithnames: 'TSVWithNames',
  avroconfluent: 'AvroConfluent',
};

/** A format name as users write it (any case, the engine's aliases), or undefined. */
export function inferFormat(name: string): InferFormat | undefined {
  return ALIASES[name.toLowerCase()];
}

/** What the engine is asked: a read-only query. */
export interface Engine {
  query<T>(sql: string): Promise<T[]>;
}

export interface InferredColumn {
  readonly name: string;
  /** The engine's type. */
  readonly type: string;
  /** What the sample leaves open about this column, one sentence each. */
  readonly notes: readonly string[];
  /** JSON text columns: how many distinct values the sample held (a sorting key with few of them groups rows well). */
  readonly distinct?: number;
}

export interface Inference {
  readonly format: InferFormat;
  readonly detected: boolean;
  readonly columns: readonly InferredColumn[];
  /** Messages the inference read (the sample, less those over the size bound or with another header). */
  readonly messages: number;
  /** About the sample as a whole. */
  readonly notes: readonly string[];
  /** AvroConfluent: the schema id the columns follow (the newest message's). */
  readonly schemaId?: number;
  /** `--skip-invalid`: the messages the format could not parse, left out of the inference. */
  readonly skipped?: SkippedMessages;
}

/** Messages left out because the format cannot parse them: how many, and the first, where it is and what it reads. */
export interface SkippedMessages {
  readonly count: number;
  readonly first: { readonly at: string; readonly text: string; readonly why: string };
}

export interface InferColumnsOptions {
  /** The schema registry AvroConfluent messages are read through (format_avro_schema_registry_url). */
  readonly schemaRegistry?: string;
  /** Leave out (and count) the messages the format cannot parse, instead of stopping at the first (JSONEachRow). */
  readonly skipInvalid?: boolean;
}

export class InferProblem extends Error {}

const where = (m: SampledMessage) => `${m.topic}/${m.partition} offset ${m.offset}`;

const withNames = (f: InferFormat) => f === 'CSVWithNames' || f === 'TSVWithNames';

function lines(value: string): string[] {
  return value.split(/\r?\n/).filter((l) => l.length > 0);
}

/** The format the messages are in, told from their text; a problem when it cannot be told. */
export function detectFormat(messages: readonly SampledMessage[], skipInvalid = false): InferFormat {
  const values = messages.map((m) => m.value ?? '').filter((v) => v.trim().length > 0);
  if (!values.length) throw new InferProblem('every sampled message is empty; pass --format and produce some data first');
  const json = values.filter((v) => /^\s*\{/.test(v)).length;
  if (json === values.length || (skipInvalid && json * 2 > values.length)) return 'JSONEachRow';
  const named = (sep: string) => {
    const split = values.map(lines);
    const header = split[0]?.[0];
    return header !== undefined && header.includes(sep) && split.every((l) => l.length >= 2 && l[0] === header);
  };
  if (values.every((v) => v.includes('\t'))) return named('\t') ? 'TSVWithNames' : 'TSV';
  if (values.every((v) => v.includes(','))) return named(',') ? 'CSVWithNames' : 'CSV';
  const odd = messages.find((m) => (m.value ?? '').trim() && !/^\s*\{/.test(m.value ?? ''));
  const shown = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  if (json > 0 && odd) {
    throw new InferProblem(
      `cannot tell the format of the messages: ${json} of ${values.length} look like JSON objects, and the rest do not (the first, at ${where(odd)}, reads ${shown(odd.value ?? '')}); pass --skip-invalid to infer from the JSON ones (the pipeline then streams messages that do not parse to an errors table), or --format`,
    );
  }
  throw new InferProblem(`cannot tell the format of the messages (the first reads ${shown(values[0] as string)}): not JSON objects, and not lines with tabs or commas; pass --format`);
}

/** The sample as one document in `format`: a WithNames format keeps the first message's header once. */
function document(format: InferFormat, messages: readonly SampledMessage[]): { data: string; used: SampledMessage[]; otherHeaders: number } {
  const used: SampledMessage[] = [];
  let header: string | undefined;
  let otherHeaders = 0;
  const parts: string[] = [];
  let size = 0;
  // Newest first, so the bound keeps the most recent messages.
  for (const m of [...messages].reverse()) {
    const value = m.value ?? '';
    if (!value.trim()) continue;
    let body = value.endsWith('\n') ? value : `${value}\n`;
    if (withNames(format)) {
      const [first, ...rest] = value.split(/\r?\n/);
      header ??= first;
      if (first !== header) {
        otherHeaders++;
        continue;
      }
      body = rest.filter((l) => l.length > 0).map((l) => `${l}\n`).join('');
    }
    if (size + body.length > SAMPLE_QUERY_BYTES) break;
    size += body.length;
    parts.push(body);
    used.push(m);
  }
  parts.reverse();
  used.reverse();
  return { data: (withNames(format) && header !== undefined ? `${header}\n` : '') + parts.join(''), used, otherHeaders };
}

/** Why a message is not JSONEachRow (one JSON object per line), or undefined when it is. */
function notJson(m: SampledMessage): string | undefined {
  for (const line of lines(m.value ?? '')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (e) {
      return (e as Error).message;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return `a JSON object was expected, not ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}`;
  }
  return undefined;
}

/**
 * The messages that are JSONEachRow. One that is not is a problem, naming it, unless `skipInvalid`:
 * then it is left out and counted (a sample with no valid message at all is still a problem).
 */
function checkJson(messages: readonly SampledMessage[], skipInvalid: boolean): { valid: SampledMessage[]; skipped?: SkippedMessages } {
  const valid: SampledMessage[] = [];
  let skipped: SkippedMessages | undefined;
  for (const m of messages) {
    const why = notJson(m);
    if (why === undefined) {
      valid.push(m);
      continue;
    }
    if (!skipInvalid) throw new InferProblem(`the message at ${where(m)} is not JSONEachRow: ${why}; pass --skip-invalid to leave such messages out (the pipeline then streams them to an errors table), or --format if the topic holds another format`);
    const text = m.value ?? '';
    skipped = { count: (skipped?.count ?? 0) + 1, first: skipped?.first ?? { at: where(m), text: text.length > 80 ? `${text.slice(0, 80)}…` : text, why } };
  }
  if (!valid.some((m) => (m.value ?? '').trim())) throw new InferProblem(`none of the ${messages.length} sampled messages is JSONEachRow (the first, at ${skipped?.first.at ?? '?'}: ${skipped?.first.why ?? ''}); pass --format if the topic holds another format`);
  return { valid, ...(skipped ? { skipped } : {}) };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The kind of a JSON value, for the notes. */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** The kind of a text value (CSV/TSV), for the notes. */
function textKind(v: string): string {
  if (/^[+-]?\d+$/.test(v)) return 'integer';
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return 'number';
  if (/^(true|false)$/i.test(v)) return 'boolean';
  return 'text';
}

interface ColumnStats {
  present: number;
  nulls: number;
  empty: number;
  kinds: Map<string, number>;
}

function notesOf(s: ColumnStats, rows: number, type: string, rowWord: string): string[] {
  const notes: string[] = [];
  const kinds = [...s.kinds].sort((a, b) => b[1] - a[1]);
  if (kinds.length > 1) notes.push(`mixed values in the sample (${kinds.map(([k, n]) => `${k} in ${n}`).join(', ')}): the engine chose ${type}`);
  if (s.present < rows) notes.push(`absent from ${s.present === 0 ? 'every one' : rows - s.present} of ${plural(rows, rowWord)}: read as the type's default`);
  if (s.nulls > 0 && s.nulls === s.present) notes.push(`only null in the sample: the type is a guess`);
  else if (s.nulls > 0) notes.push(`null in ${s.nulls} of ${plural(rows, rowWord)}`);
  if (s.empty > 0) notes.push(`empty in ${s.empty} of ${plural(rows, rowWord)}${/String/.test(type) ? '' : ": read as the type's default"}`);
  return notes;
}

/** The sample's JSON rows, each line parsed once (every line is a JSON object: `checkJson` ran first). */
function jsonRows(used: readonly SampledMessage[]): Record<string, unknown>[] {
  return used.flatMap((m) => lines(m.value ?? '').map((line) => JSON.parse(line) as Record<string, unknown>));
}

function jsonNotes(rows: readonly Record<string, unknown>[], columns: readonly DescribedColumn[]): Map<string, string[]> {
  const stats = new Map(columns.map((c) => [c.name, { present: 0, nulls: 0, empty: 0, kinds: new Map<string, number>() } as ColumnStats]));
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) {
      const s = stats.get(k);
      if (!s) continue;
      s.present++;
      if (v === null) s.nulls++;
      else {
        const kind = jsonKind(v);
        s.kinds.set(kind, (s.kinds.get(kind) ?? 0) + 1);
        if (v === '') s.empty++;
      }
    }
  }
  return new Map(columns.map((c) => [c.name, [...notesOf(stats.get(c.name) as ColumnStats, rows.length, c.type, 'sampled rows'), ...moneyNote(rows, c)]]));
}

/** Per JSON column whose values are all strings, how many distinct values the sample held. */
function distinctTexts(rows: readonly Record<string, unknown>[], columns: readonly DescribedColumn[]): Map<string, number> {
  const seen = new Map(columns.map((c) => [c.name, new Set<string>()]));
  for (const row of rows) {
    for (const [name, values] of seen) {
      const v = row[name];
      if (typeof v === 'string') values.add(v);
      else if (v !== undefined && v !== null) seen.delete(name);
    }
  }
  return new Map([...seen].filter(([, values]) => values.size > 0).map(([name, values]) => [name, values.size]));
}

/** Per column, the keys of its JSON objects in the order the sampled messages first give them. */
function keyOrders(rows: readonly Record<string, unknown>[], columns: readonly DescribedColumn[]): Map<string, KeyOrder> {
  const orders = new Map(columns.map((c) => [c.name, emptyOrder()]));
  for (const row of rows) for (const [name, order] of orders) learnOrder(order, row[name]);
  return orders;
}

/**
 * A Float64 column whose sampled values all have at most two decimals (12.5, 7.99): if these are amounts of
 * money, Float64 cannot hold them exactly (0.1 + 0.2 ≠ 0.3) and Decimal can; said as a comment, the type kept.
 */
function moneyNote(rows: readonly Record<string, unknown>[], column: DescribedColumn): string[] {
  if (column.type.replace(/^Nullable\((.*)\)$/, '$1') !== 'Float64') return [];
  let fractions = 0;
  for (const row of rows) {
    const v = row[column.name];
    if (typeof v !== 'number') continue;
    const text = String(v);
    const decimals = text.includes('.') ? (text.split('.')[1] as string).length : 0;
    if (/e/i.test(text) || decimals > 2) return [];
    if (decimals > 0) fractions++;
  }
  return fractions ? ['every value has at most 2 decimals: if these are amounts of money, Decimal(18, 2) keeps them exact (Float64 rounds)'] : [];
}

/** One column over rows the engine returned: its nulls and empty strings; with `kindOf`, the kinds of the other values. */
function columnStats<V>(rows: readonly Record<string, V | null | undefined>[], name: string, kindOf?: (v: V) => string): ColumnStats {
  const s: ColumnStats = { present: rows.length, nulls: 0, empty: 0, kinds: new Map() };
  for (const r of rows) {
    const v = r[name];
    if (v === null || v === undefined) s.nulls++;
    else if (v === '') s.empty++;
    else if (kindOf) s.kinds.set(kindOf(v), (s.kinds.get(kindOf(v)) ?? 0) + 1);
  }
  return s;
}

async function textNotes(engine: Engine, format: InferFormat, data: string, columns: readonly DescribedColumn[]): Promise<Map<string, string[]>> {
  const rows = await engine.query<Record<string, string | null>>(sampleAsTextQuery(format, columns.map((c) => c.name), data));
  const out = new Map<string, string[]>();
  for (const c of columns) {
    const s = columnStats(rows, c.name, textKind);
    // An integer column that also holds fractions is one kind of number.
    if (s.kinds.has('integer') && s.kinds.has('number')) {
      s.kinds.set('number', (s.kinds.get('number') ?? 0) + (s.kinds.get('integer') ?? 0));
      s.kinds.delete('integer');
    }
    out.set(c.name, notesOf(s, rows.length, c.type, 'sampled rows'));
  }
  return out;
}

/**
 * The schema id of a message in the Confluent wire format (magic byte 0, then
 * the id as 4 bytes big-endian, then the Avro body); undefined for any other.
 */
export function confluentSchemaId(m: SampledMessage): number | undefined {
  const b = m.bytes;
  if (!b || b.length < 5 || b[0] !== 0) return undefined;
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(1);
}

const NO_REGISTRY = 'pass --schema-registry URL (or set kafka.schema_registry in chpipe.yaml)';

/** Columns from Confluent-framed Avro: the writer's schema of the newest message, from the registry, mapped by the engine. */
async function inferAvroConfluent(engine: Engine, messages: readonly SampledMessage[], detected: boolean, registry: string | undefined): Promise<Inference> {
  const values = messages.filter((m) => m.bytes !== null && m.bytes.length > 0);
  if (!values.length) throw new InferProblem('every sampled message is empty');
  for (const m of values) {
    if (confluentSchemaId(m) === undefined) {
      const b = m.bytes as Uint8Array;
      throw new InferProblem(`the message at ${where(m)} is not Avro in the Confluent wire format: it starts with byte ${b[0]}${b.length < 5 ? ` and has ${b.length} bytes` : ''}, not the magic byte 0 and a 4-byte schema id; pass --format if the topic holds another format`);
    }
  }
  const newest = values[values.length - 1] as SampledMessage;
  const id = confluentSchemaId(newest) as number;
  if (registry === undefined) throw new InferProblem(`the messages are Avro in the Confluent wire format (schema id ${id} in the newest); ${NO_REGISTRY}`);
  // The newest messages of the newest message's schema, within the query's size bound.
  const used: SampledMessage[] = [];
  let size = 0;
  for (const m of [...values].reverse()) {
    if (confluentSchemaId(m) !== id) continue;
    const n = bytesLiteralLength(m.bytes as Uint8Array);
    if (used.length && size + n > SAMPLE_QUERY_BYTES) break;
    size += n;
    used.push(m);
  }
  used.reverse();
  const data = Buffer.concat(used.map((m) => m.bytes as Uint8Array));
  let columns: DescribedColumn[];
  try {
    columns = await engine.query<DescribedColumn>(describeAvroConfluentQuery(data, registry));
  } catch (e) {
    if (e instanceof EngineError) throw new InferProblem(`the sampled messages cannot be read as AvroConfluent through the schema registry ${registry} (schema id ${id}): ${engineSays(e)}`);
    throw e;
  }
  const notes = new Map<string, string[]>();
  try {
    const rows = await engine.query<Record<string, unknown>>(selectAvroConfluentQuery(data, registry));
    for (const c of columns) {
      const s = columnStats(rows, c.name);
      const n = notesOf(s, rows.length, c.type, 'sampled messages');
      if (/^Nullable\b/.test(c.type) && s.nulls === 0) n.push("Nullable: the schema's union with null, though no sampled message holds a null");
      notes.set(c.name, n);
    }
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
  }
  const sampleNotes: string[] = [`Avro schema id ${id}, read from the schema registry ${registry}`];
  const others = [...new Set(values.map(confluentSchemaId).filter((x) => x !== id))];
  if (others.length) sampleNotes.push(`${values.length - values.filter((m) => confluentSchemaId(m) === id).length} sampled messages were written with other schema ids (${others.join(', ')}): the columns follow schema id ${id}, the newest message's`);
  if (used.length < values.length - values.filter((m) => confluentSchemaId(m) !== id).length) sampleNotes.push(`${used.length} of the sampled messages with schema id ${id} were read (the newest, within ${SAMPLE_QUERY_BYTES / 1024} KiB)`);
  return { format: 'AvroConfluent', detected, columns: columns.map((c) => ({ name: c.name, type: c.type, notes: notes.get(c.name) ?? [] })), messages: used.length, notes: sampleNotes, schemaId: id };
}

/** The engine's message without its code and version suffix. */
function engineSays(e: EngineError): string {
  const text = e.engineMessage.split('\n')[0] ?? e.engineMessage;
  const inner = /Error: Code: \d+\. DB::Exception: (.*?)(?: \([A-Z_]+\) \(version [^)]*\))?\.?( You can specify.*)?$/.exec(text)?.[1];
  return (inner ?? text).replace(/\s*\(version [^)]*\)/, '').replace(/\.$/, '');
}

/** Infer the columns of `messages` in `format` (detected when undefined). */
export async function inferColumns(engine: Engine, messages: readonly SampledMessage[], declared?: InferFormat, options: InferColumnsOptions = {}): Promise<Inference> {
  if (declared === 'AvroConfluent') return inferAvroConfluent(engine, messages, false, options.schemaRegistry);
  const binary = messages.find((m) => m.binary);
  if (binary && !declared) {
    // Binary and every message framed the Confluent way: Avro through a schema registry.
    if (messages.every((m) => m.bytes === null || m.bytes.length === 0 || confluentSchemaId(m) !== undefined)) return inferAvroConfluent(engine, messages, true, options.schemaRegistry);
    throw new InferProblem(`the message at ${where(binary)} is binary, not text (Protobuf, or Avro without the Confluent framing?); infer reads ${INFER_FORMATS.join(', ')} (AvroConfluent: a magic byte 0 and a schema id before each message, with --schema-registry)`);
  }
  // A declared format reads what it reads: the first message it cannot parse is named below.
  const format = declared ?? detectFormat(messages, options.skipInvalid === true);
  const checked = format === 'JSONEachRow' ? checkJson(messages, options.skipInvalid === true) : { valid: [...messages] };
  const { data, used, otherHeaders } = document(format, checked.valid);
  if (!used.length) throw new InferProblem('every sampled message is empty');
  let columns: DescribedColumn[];
  try {
    columns = await engine.query<DescribedColumn>(describeSampleQuery(format, data));
  } catch (e) {
    if (e instanceof EngineError) throw new InferProblem(`the sampled messages cannot be read as ${format}: ${engineSays(e)}${declared ? '' : ' (the format was detected; pass --format if it is another)'}`);
    throw e;
  }
  const rows = format === 'JSONEachRow' ? jsonRows(used) : [];
  let notes: Map<string, string[]>;
  try {
    notes = format === 'JSONEachRow' ? jsonNotes(rows, columns) : await textNotes(engine, format, data, columns);
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
    notes = new Map();
  }
  const sampleNotes: string[] = [];
  if (used.length < messages.length) sampleNotes.push(`${used.length} of the ${plural(messages.length, 'sampled message')} were read (the newest, within ${SAMPLE_QUERY_BYTES / 1024} KiB${otherHeaders ? `; ${otherHeaders} had another header line` : ''})`);
  if (format === 'CSV' || format === 'TSV') sampleNotes.push(`${format} has no column names: the engine calls them c1, c2, …; rename them (by position) before you plan`);
  const skipped = 'skipped' in checked ? checked.skipped : undefined;
  if (skipped) sampleNotes.push(`${plural(skipped.count, 'sampled message')} ${skipped.count === 1 ? 'is' : 'are'} not ${format} and ${skipped.count === 1 ? 'was' : 'were'} left out (the first, at ${skipped.first.at}: ${skipped.first.why}): on_error: stream keeps such messages in an errors table instead of stalling the partition`);
  // JSON: nested objects' keys in the messages' order (the engine lists them alphabetically).
  const orders = keyOrders(rows, columns);
  const distinct = distinctTexts(rows, columns);
  const typed = columns.map((c) => {
    const n = distinct.get(c.name);
    return { name: c.name, type: typeInMessageOrder(c.type, orders.get(c.name) ?? emptyOrder()), notes: notes.get(c.name) ?? [], ...(n !== undefined ? { distinct: n } : {}) };
  });
  return { format, detected: declared === undefined, columns: typed, messages: used.length, notes: sampleNotes, ...(skipped ? { skipped } : {}) };
}

/** Field names of the sample: the columns a reader of it would need (producer drift). */
export async function sampleFields(engine: Engine, messages: readonly SampledMessage[], format: InferFormat, options: InferColumnsOptions = {}): Promise<string[]> {
  return (await inferColumns(engine, messages, format, options)).columns.map((c) => c.name);
}
