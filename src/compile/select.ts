/**
 * The SELECTs of the views, built from the spec. A SELECT reads from a
 * `from` clause handed in, so the same query can be asked of the engine over
 * `null('structure')` (to learn its types) and written into a view over the
 * real queue.
 */
import { KAFKA_STREAM_VIRTUAL_COLUMNS, KAFKA_VIRTUAL_COLUMNS } from '../model/kafka.js';
import { SIMPLE_STATE_FUNCTIONS } from '../sql/query.js';
import { backquote, ident, stringLiteral } from '../sql/quote.js';
import type { AggregateSpec, ColumnSpec, IngestSpec, MeasureSpec, SourceSpec } from '../spec/types.js';


/** The `null('...')` table function: a typed, empty source for DESCRIBE. */
export function nullSource(columns: readonly { name: string; type: string }[]): string {
  return `null(${stringLiteral(columns.map((c) => `${backquote(c.name)} ${c.type}`).join(', '))})`;
}

/** Columns the Kafka table carries: the plain ones (no `from`, no `expr`). */
export function queueColumns(columns: readonly ColumnSpec[]): ColumnSpec[] {
  return columns.filter((c) => c.from === undefined && c.expr === undefined);
}

/** The message field a plain column is parsed from: the queue's column name. */
export function fieldOf(c: ColumnSpec): string {
  return c.field ?? c.name;
}

/** What the Kafka table parses, types as written: `source.fields` when declared, else each plain column's field. */
export function messageFields(columns: readonly ColumnSpec[], source: Pick<SourceSpec, 'fields'>): { name: string; type: string }[] {
  return source.fields ? source.fields.map((f) => ({ name: f.name, type: f.type })) : queueColumns(columns).map((c) => ({ name: fieldOf(c), type: c.type }));
}

/** Declared fields no plain column reads and no column is named after: what an aggregate's column layer passes through to its by keys and measures. */
export function unstoredFields(columns: readonly ColumnSpec[], source: Pick<SourceSpec, 'fields'>): ColumnSpec[] {
  const read = new Set(queueColumns(columns).map(fieldOf));
  return (source.fields ?? []).filter((f) => !read.has(f.name) && !columns.some((c) => c.name === f.name)).map((f) => ({ name: f.name, type: f.type }));
}

/** What a view's SELECT needs of where it reads: the stream guard's shape and the declared fields (a rollup reads a table: `{ onError: 'stall' }`, no guard). */
export type LayerSource = Pick<SourceSpec, 'onError' | 'fanOut' | 'fields'>;

/** Kafka's virtual columns a pipeline can read (`_table` aside: every table has it). */
export function virtualColumns(source: Pick<SourceSpec, 'onError'>): { name: string; type: string }[] {
  const virtuals = { ...KAFKA_VIRTUAL_COLUMNS, ...(source.onError === 'stream' ? KAFKA_STREAM_VIRTUAL_COLUMNS : {}) };
  return Object.entries(virtuals)
    .filter(([name]) => name !== '_table')
    .map(([name, type]) => ({ name, type }));
}

/** Queue columns plus the virtual columns a view may read, as a DESCRIBE structure. */
export function queueStructure(columns: readonly ColumnSpec[], types: ReadonlyMap<string, string>, source: SourceSpec): { name: string; type: string }[] {
  const virtuals = { ...KAFKA_VIRTUAL_COLUMNS, ...(source.onError === 'stream' ? KAFKA_STREAM_VIRTUAL_COLUMNS : {}) };
  return [
    ...messageFields(columns, source).map((f) => ({ name: f.name, type: types.get(f.type) ?? f.type })),
    ...Object.entries(virtuals).map(([name, type]) => ({ name, type })),
  ];
}

function projection(c: ColumnSpec): string {
  if (c.from !== undefined) return c.from === c.name ? ident(c.name) : `${ident(c.from)} AS ${ident(c.name)}`;
  if (c.expr !== undefined) return `${c.expr} AS ${ident(c.name)}`;
  return fieldOf(c) === c.name ? ident(c.name) : `${ident(fieldOf(c))} AS ${ident(c.name)}`;
}

/**
 * In stream mode, the condition that keeps good (or broken) messages: `_error = ''` / `_error != ''`
 * behind a hub; `length(_error) = 0` / `> 0` when the views read the Kafka table directly, as
 * ClickHouse's docs write it (the shape `chpipe pull` adopts).
 */
export function streamGuard(source: Pick<SourceSpec, 'fanOut'>, keep: 'good' | 'broken'): string {
  if (source.fanOut === 'direct') return keep === 'good' ? 'length(_error) = 0' : 'length(_error) > 0';
  return keep === 'good' ? "_error = ''" : "_error != ''";
}

/** The WHERE of a view reading the queue: the user's filter, and no broken messages in stream mode. */
export function queueCondition(filter: string | undefined, source: LayerSource): string | undefined {
  const parts = [...(filter !== undefined ? [`(${filter})`] : []), ...(source.onError === 'stream' ? [`(${streamGuard(source, 'good')})`] : [])];
  return parts.length ? parts.join(' AND ') : undefined;
}

function lines(items: readonly string[]): string {
  return items.map((i) => `\n    ${i}`).join(',');
}

/** The ingest view: every column, read or computed, filtered. */
export function ingestSelect(p: Pick<IngestSpec, 'columns' | 'filter' | 'explode'> & { readonly source: LayerSource }, from: string, upTo = p.columns.length): string {
  const where = queueCondition(p.filter, p.source);
  return `SELECT${lines(p.columns.slice(0, upTo).map(projection))}\nFROM ${from}${p.explode !== undefined ? `\nARRAY JOIN ${p.explode}` : ''}${where ? `\nWHERE ${where}` : ''}`;
}

/** A measure as the state view writes it; into a SummingMergeTree (`summing`), the call itself. */
export function stateCall(m: MeasureSpec, summing = false): string {
  if (summing) return m.call;
  if (SIMPLE_STATE_FUNCTIONS.has(m.fn) && m.params === undefined) return `${m.fn}SimpleState(${m.args})`;
  return `${m.fn}State${m.params !== undefined ? `(${m.params})` : ''}(${m.args})`;
}

/** A measure as the finalizing view reads it back; from a SummingMergeTree, the sum of the partial counts or sums. */
export function mergeCall(m: MeasureSpec, summing = false): string {
  const col = ident(m.name);
  if (summing) return `sum(${col})`;
  if (SIMPLE_STATE_FUNCTIONS.has(m.fn) && m.params === undefined) return `${m.fn}(${col})`;
  return `${m.fn}Merge${m.params !== undefined ? `(${m.params})` : ''}(${col})`;
}

function keyProjection(b: { name: string; expr: string }): string {
  return b.expr.trim() === b.name || b.expr.trim() === ident(b.name) ? ident(b.name) : `${b.expr} AS ${ident(b.name)}`;
}

/** Whether the aggregate reads computed columns, and so needs the column layer as a subquery. */
function needsColumnLayer(p: Pick<AggregateSpec, 'columns'>): boolean {
  return p.columns.some((c) => c.from !== undefined || c.expr !== undefined);
}

/** The aggregate view into NAME_state: keys and -State measures, grouped. */
export function stateSelect(p: Pick<AggregateSpec, 'columns' | 'filter' | 'by' | 'measures' | 'explode' | 'engine'> & { readonly source: LayerSource }, from: string, measures = p.measures): string {
  const keys = p.by.map((b) => ident(b.name));
  const summing = p.engine === 'SummingMergeTree';
  const items = [...p.by.map(keyProjection), ...measures.map((m) => `${stateCall(m, summing)} AS ${ident(m.name)}`)];
  let source = from;
  let where = queueCondition(p.filter, p.source);
  if (needsColumnLayer(p)) {
    source = `(\n${indent(ingestSelect({ ...p, columns: [...p.columns, ...unstoredFields(p.columns, p.source)] }, from))}\n)`;
    where = undefined;
  }
  // Without a layer the fan-out is the aggregate's own ARRAY JOIN (with one, the layer does it).
  const arrayJoin = p.explode !== undefined && !needsColumnLayer(p) ? `\nARRAY JOIN ${p.explode}` : '';
  return `SELECT${lines(items)}\nFROM ${source}${arrayJoin}${where ? `\nWHERE ${where}` : ''}\nGROUP BY ${keys.join(', ')}`;
}

/** The finalizing view NAME over NAME_state: -Merge (or plain sum/min/max) grouped by the keys. */
export function finalSelect(p: Pick<AggregateSpec, 'by' | 'measures' | 'engine'>, from: string): string {
  const keys = p.by.map((b) => ident(b.name));
  const items = [...keys, ...p.measures.map((m) => `${mergeCall(m, p.engine === 'SummingMergeTree')} AS ${ident(m.name)}`)];
  return `SELECT${lines(items)}\nFROM ${from}\nGROUP BY ${keys.join(', ')}`;
}

/** A SELECT of one expression over the column layer, to learn its type or its error. */
export function probeSelect(expr: string, layer: string): string {
  return `SELECT ${expr}\nFROM (\n${indent(layer)}\n)`;
}

export function publishSelect(columns: readonly string[] | undefined, where: string | undefined, from: string): string {
  const items = columns && columns.length ? columns.map(ident) : ['*'];
  return `SELECT${lines(items)}\nFROM ${from}${where !== undefined ? `\nWHERE ${where}` : ''}`;
}

/** The hub's only writer: every message field and virtual column of the queue, as they are. */
export function hubSelect(columns: readonly ColumnSpec[], source: Pick<SourceSpec, 'onError' | 'fields'>, from: string): string {
  return `SELECT${lines([...messageFields(columns, source).map((f) => ident(f.name)), ...virtualColumns(source).map((v) => ident(v.name))])}\nFROM ${from}`;
}

export function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');
}
