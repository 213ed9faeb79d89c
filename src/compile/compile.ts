/**
 * Spec → Model. Pure given its Oracle: the engine is asked for facts (type
 * names, the types of expressions, the state type of an aggregate), never to
 * run anything.
 */
import { clusterDiagnostics, toCluster } from './cluster.js';
import { localName, makeModel, pipelineObjectName, sortSettings, type Column, type DbObject, type KafkaTable, type MaterializedView, type Model, type NullTable, type Owner, type Placement, type Role, type SettingValue, type Table } from '../model/model.js';
import { ownershipComment } from '../model/ownership.js';
import { backquote, ident, qualified } from '../sql/quote.js';
import { diagnostic, didYouMean, type Diagnostic } from '../spec/diagnostic.js';
import { findWord, locate, locateWord, type PathKey } from '../spec/source.js';
import type { AggregateSpec, ColumnSpec, IngestSpec, PipelineSpec, ProjectSpec, PublishSpec, RollupSpec, SourceSpec } from '../spec/types.js';
import type { Answer, DescribedColumn, EngineProblem, Oracle } from './oracle.js';
import { fieldOf, finalSelect, hubSelect, ingestSelect, messageFields, nullSource, probeSelect, publishSelect, queueColumns, queueStructure, stateCall, stateSelect, streamGuard, virtualColumns } from './select.js';

export interface CompileResult {
  /** Present when there were no diagnostics. */
  readonly model?: Model;
  /** The pipelines that compiled without a diagnostic, so the engine can still check them when others failed. */
  readonly compiled: Model;
  readonly diagnostics: readonly Diagnostic[];
}

const COMBINATORS = ['If', 'Array', 'Distinct', 'OrNull', 'OrDefault', 'ForEach', 'Resample', 'Map', 'ArgMin', 'ArgMax', 'Merge', 'State', 'SimpleState'];

interface Context {
  readonly placement: Placement;
  readonly spec: ProjectSpec;
  readonly oracle: Oracle;
  readonly diagnostics: Diagnostic[];
  /** Columns of each compiled pipeline's readable object, for publish pipelines. */
  readonly outputs: Map<string, { readonly from: string; readonly structure: readonly DescribedColumn[]; readonly aggregate?: Pick<AggregateSpec, 'by' | 'measures' | 'engine'> }>;
}

export function compileProject(spec: ProjectSpec, oracle: Oracle): CompileResult {
  const placement: Placement = { database: spec.database, ...(spec.cluster ? { cluster: spec.cluster } : {}) };
  const ctx: Context = { placement, spec, oracle, diagnostics: [], outputs: new Map() };
  const objects: DbObject[] = [];
  // Rollups after the pipelines whose tables they read, publish pipelines last.
  const rank = { ingest: 0, aggregate: 0, rollup: 1, publish: 2 } as const;
  const ordered = [...spec.pipelines].sort((a, b) => rank[a.kind] - rank[b.kind]);
  for (const p of ordered) {
    const before = ctx.diagnostics.length;
    const compiled = compilePipeline(ctx, p);
    if (compiled && ctx.diagnostics.length === before) objects.push(...compiled);
  }
  // Cluster mode: Replicated tables per node under Distributed ones, ON CLUSTER placement (compile/cluster.ts).
  if (spec.cluster !== undefined && spec.clusterLayout) ctx.diagnostics.push(...clusterDiagnostics(spec, objects));
  const single = makeModel(placement, objects);
  const compiled = spec.cluster !== undefined && spec.clusterLayout ? toCluster(single, spec.cluster, spec.clusterLayout) : single;
  if (ctx.diagnostics.length) return { compiled, diagnostics: ctx.diagnostics };
  return { model: compiled, compiled, diagnostics: [] };
}

function compilePipeline(ctx: Context, p: PipelineSpec): DbObject[] | undefined {
  switch (p.kind) {
    case 'ingest':
      return compileIngest(ctx, p);
    case 'aggregate':
      return compileAggregate(ctx, p);
    case 'rollup':
      return compileRollup(ctx, p);
    case 'publish':
      return compilePublish(ctx, p);
  }
}

function report(ctx: Context, p: PipelineSpec, path: PathKey[], code: string, message: string, problem?: EngineProblem, expected?: string): void {
  const hint = problem?.hint ?? (problem ? backquoteHint(p, path, problem.message) : undefined);
  ctx.diagnostics.push(diagnostic(problem ? culpritAt(p, path, problem.message) : locate(p.file, path), code, problem ? `${message}: ${problem.message}` : message, { ...(expected ? { expected } : {}), ...(hint ? { hint } : {}) }));
}

/**
 * Point at what the engine did not understand: the identifier it names in
 * backquotes (`tss`), or the token of a syntax error (the longest start of it
 * found in the value: the engine's token may run on into chpipe's own SQL).
 */
function culpritAt(p: PipelineSpec, path: PathKey[], message: string) {
  const token = /^Syntax error at "(.+?)"/.exec(message)?.[1];
  for (let end = token?.length ?? 0; token !== undefined && end > 0; end--) {
    const at = findWord(p.file, path, token.slice(0, end), false);
    if (at) return at;
  }
  const name = token === undefined ? /`([^`]+)`/.exec(message)?.[1] : undefined;
  return name !== undefined ? locateWord(p.file, path, name) : locate(p.file, path);
}

/** `ünï != ''` is a syntax error at `ü`: a name that is not plain ASCII must be backquoted. */
function backquoteHint(p: PipelineSpec, path: PathKey[], message: string): string | undefined {
  const token = /^Syntax error at "(.+?)": Unrecognized token/.exec(message)?.[1];
  const value = p.file.doc.getIn(path);
  if (token === undefined || typeof value !== 'string' || /^[\p{ASCII}]/u.test(token)) return undefined;
  const name = new RegExp(`(?<![\\p{L}\\p{N}_])${token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\p{L}\\p{N}_]*`, 'u').exec(value)?.[0];
  return name !== undefined ? `a name with characters other than A-Z, 0-9 and _ must be backquoted: ${backquote(name)}` : undefined;
}

function owned(p: PipelineSpec, role: Role): { name: string; owner: Owner; comment: string } {
  const owner: Owner = { pipeline: p.name, role };
  return { name: pipelineObjectName(p, role), owner, comment: ownershipComment(owner, p.description) };
}

/**
 * Each distinct type of `entries` normalized into `types`; an `unknown-type` diagnostic at every entry (`where` says
 * its path and word) whose type the engine refuses. False when one was refused.
 */
function normalizeTypes<E extends { readonly name: string; readonly type: string }>(ctx: Context, p: PipelineSpec, entries: readonly E[], types: Map<string, string>, where: (e: E) => { path: PathKey[]; what: string }): boolean {
  let ok = true;
  for (const e of entries) {
    if (types.has(e.type)) continue;
    const answer = ctx.oracle.normalizeType(e.type);
    if (answer.ok) types.set(e.type, answer.value);
    else {
      for (const bad of entries.filter((x) => x.type === e.type)) {
        const at = where(bad);
        report(ctx, p, at.path, 'unknown-type', `${at.what} "${bad.name}" has an invalid type "${bad.type}"`, answer.problem, 'a ClickHouse type such as Int32, String, DateTime, Decimal(10, 2)');
      }
      ok = false;
    }
  }
  return ok;
}

/** Normalized types of the fields and columns, or diagnostics at each bad type. */
function columnTypes(ctx: Context, p: IngestSpec | AggregateSpec): Map<string, string> | undefined {
  const types = new Map<string, string>();
  if (!normalizeTypes(ctx, p, p.source.fields ?? [], types, (f) => ({ path: ['source', 'fields', f.name], what: 'field' }))) return undefined;
  const shortForm = (c: ColumnSpec) => c.from === undefined && c.expr === undefined && c.comment === undefined;
  let ok = normalizeTypes(ctx, p, p.columns, types, (c) => ({ path: shortForm(c) ? ['columns', c.name] : ['columns', c.name, 'type'], what: 'column' }));
  if (!ok) return undefined;
  // A plain column stores its field as parsed: with source.fields, the two must have one type.
  for (const c of queueColumns(p.columns)) {
    const field = p.source.fields?.find((f) => f.name === fieldOf(c));
    if (!field || types.get(field.type) === types.get(c.type)) continue;
    ctx.diagnostics.push(
      diagnostic(locate(p.file, ['columns', c.name]), 'type-mismatch', `column "${c.name}" is ${types.get(c.type) as string}, and the field "${field.name}" it stores is ${types.get(field.type) as string}`, {
        expected: 'one type for the column and its field',
        hint: `give both one type, or convert it in the view: \`${c.name}: { type: ${c.type}, expr: CAST(${ident(field.name)} AS ${c.type}) }\``,
      }),
    );
    ok = false;
  }
  return ok ? types : undefined;
}

function checkFormat(ctx: Context, p: PipelineSpec, format: string, path: PathKey[], direction: 'input' | 'output'): boolean {
  const known = ctx.oracle.formats()[direction];
  if (known.has(format)) return true;
  const hint = didYouMean(format, known);
  ctx.diagnostics.push(
    diagnostic(locate(p.file, path), 'unknown-format', `unknown ${direction} format "${format}"`, {
      expected: `a ClickHouse ${direction} format such as JSONEachRow, CSV, TSV, CSVWithNames, Avro, AvroConfluent, Protobuf, RawBLOB, LineAsString`,
      ...(hint ? { hint } : {}),
    }),
  );
  return false;
}

/** table.settings are MergeTree settings the engine knows; a typo gets the nearest name. */
function checkTableSettings(ctx: Context, p: IngestSpec | AggregateSpec): boolean {
  const known = ctx.oracle.tableSettings();
  let ok = true;
  for (const key of Object.keys(p.table.settings)) {
    if (known.has(key)) continue;
    const hint = didYouMean(key, known);
    ctx.diagnostics.push(diagnostic(locate(p.file, ['table', 'settings', key], 'key'), 'unknown-setting', `unknown MergeTree setting "${key}" in table.settings`, { expected: 'a setting of system.merge_tree_settings, e.g. index_granularity, ttl_only_drop_parts', ...(hint ? { hint } : {}) }));
    ok = false;
  }
  return ok;
}

interface QueueSource {
  readonly topics: readonly string[];
  readonly group: string;
  readonly format: string;
  readonly brokers?: string;
  readonly settings: Readonly<Record<string, SettingValue>>;
}

function queueTable(ctx: Context, p: PipelineSpec, columns: readonly Column[], base: QueueSource, source?: SourceSpec): KafkaTable {
  const kafka = ctx.spec.kafka;
  const brokers = base.brokers ?? (kafka.namedCollection ? undefined : kafka.brokers);
  const namedCollection = kafka.namedCollection && brokers === undefined ? kafka.namedCollection : undefined;
  const settings: Record<string, SettingValue> = { ...base.settings };
  if (source?.consumers !== undefined) settings.kafka_num_consumers = source.consumers;
  if (source?.onError === 'stream') settings.kafka_handle_error_mode = 'stream';
  if (source?.schema !== undefined) settings.kafka_schema = source.schema;
  if (source?.schemaRegistry !== undefined) settings.format_avro_schema_registry_url = source.schemaRegistry;
  return Object.freeze({
    kind: 'kafka',
    ...owned(p, 'queue'),
    columns,
    ...(namedCollection ? { namedCollection } : {}),
    ...(brokers !== undefined ? { brokers } : {}),
    topics: base.topics,
    group: base.group,
    format: base.format,
    settings: sortSettings(settings),
  });
}

/** The column layer over the queue must resolve; on failure, find the first column that breaks it. */
function checkColumnLayer(ctx: Context, p: IngestSpec | AggregateSpec, from: string): boolean {
  if (p.explode !== undefined) {
    const fanned = ctx.oracle.describe(`SELECT 1 AS one\nFROM ${from}\nARRAY JOIN ${p.explode}`);
    if (!fanned.ok) {
      report(ctx, p, ['explode'], 'invalid-expression', 'explode is not an array over the message fields', fanned.problem, 'an Array field (or expression), e.g. explode: items');
      return false;
    }
  }
  const unfiltered = { columns: p.columns, source: p.source, explode: p.explode } as const;
  const whole = ctx.oracle.describe(ingestSelect({ ...unfiltered, filter: undefined }, from));
  if (!whole.ok) {
    let located = false;
    for (let i = 0; i < p.columns.length && !located; i++) {
      const c = p.columns[i] as ColumnSpec;
      if (c.from === undefined && c.expr === undefined) continue;
      const upTo = ctx.oracle.describe(ingestSelect({ ...unfiltered, filter: undefined }, from, i + 1));
      if (!upTo.ok) {
        report(ctx, p, ['columns', c.name, c.path !== undefined ? 'path' : c.expr !== undefined ? 'expr' : 'from'], 'invalid-expression', `column "${c.name}" cannot be computed`, upTo.problem);
        located = true;
      }
    }
    if (!located) report(ctx, p, ['columns'], 'invalid-expression', 'the columns do not form a valid SELECT', whole.problem);
    return false;
  }
  if (p.filter !== undefined) {
    const filtered = ctx.oracle.describe(ingestSelect(p, from));
    if (!filtered.ok) {
      report(ctx, p, ['filter'], 'invalid-expression', 'filter is not a valid condition over the columns', filtered.problem);
      return false;
    }
  }
  return true;
}

function probe(ctx: Context, p: PipelineSpec, layer: string, expr: string, path: PathKey[], what: string): Answer<readonly DescribedColumn[]> {
  const answer = ctx.oracle.describe(probeSelect(expr, layer));
  if (!answer.ok) report(ctx, p, path, 'invalid-expression', `${what} is not a valid expression over the columns`, answer.problem);
  else if (answer.value.length !== 1) {
    // `order_by: 'a, ts'` reads as two expressions in a SELECT but is a syntax error in ORDER BY.
    const problem = { message: `${answer.value.length} expressions, not one`, hint: path[1] === 'order_by' ? `write order_by: [${expr}]` : `wrap it in a tuple: (${expr})` };
    report(ctx, p, path, 'invalid-expression', `${what} is a list`, problem);
    return { ok: false, problem };
  }
  return answer;
}

/** Format, table settings and column types of a consuming pipeline; the typed, empty queue to ask questions over. */
function checkSource(ctx: Context, p: IngestSpec | AggregateSpec): { types: Map<string, string>; from: string } | undefined {
  const formatOk = checkFormat(ctx, p, p.source.format, ['source', 'format'], 'input');
  const settingsOk = checkTableSettings(ctx, p);
  const types = columnTypes(ctx, p);
  if (!types || !formatOk || !settingsOk) return undefined;
  return { types, from: nullSource(queueStructure(p.columns, types, p.source)) };
}

/** NAME_queue of a consuming pipeline: its plain columns and the Kafka settings of its source. */
function consumerQueue(ctx: Context, p: IngestSpec | AggregateSpec, types: ReadonlyMap<string, string>): KafkaTable {
  return queueTable(ctx, p, messageFields(p.columns, p.source).map((f) => ({ name: f.name, type: types.get(f.type) as string })), p.source, p.source);
}

/**
 * Where a consuming pipeline's flows read from. One reader per queue: with
 * `on_error: stream` two flows need the messages (the table's and the errors'),
 * so the queue's only reader, NAME_hub_mv, writes into NAME_hub (ENGINE = Null)
 * and both flows read the hub. Stopping NAME_hub_mv stops every reader at once.
 */
function readPoint(ctx: Context, p: IngestSpec | AggregateSpec, queue: KafkaTable): { from: string; objects: DbObject[] } {
  const db = ctx.placement.database;
  // The direct shape (`objects: { hub: null, hub_mv: null }`): both flows read the queue; the planner stops them by dropping it.
  if (p.source.onError !== 'stream' || p.source.fanOut === 'direct') return { from: queue.name, objects: [] };
  const hub: NullTable = Object.freeze({ kind: 'null', ...owned(p, 'hub'), columns: [...queue.columns, ...virtualColumns(p.source)] });
  const hubMv: MaterializedView = Object.freeze({ kind: 'mv', ...owned(p, 'hub_mv'), to: hub.name, from: [queue.name], select: hubSelect(p.columns, p.source, qualified(db, queue.name)) });
  return { from: hub.name, objects: [hub, hubMv] };
}

function compileIngest(ctx: Context, p: IngestSpec): DbObject[] | undefined {
  const source = checkSource(ctx, p);
  if (!source) return undefined;
  const { types, from } = source;
  const orderBy = p.table.orderBy.map((item) => (p.columns.some((c) => c.name === item) ? ident(item) : item));
  const keyExpressions = [...p.table.orderBy.filter((item) => !p.columns.some((c) => c.name === item)), ...(p.table.partitionBy !== undefined ? [p.table.partitionBy] : [])];
  // One question on the happy path: the whole view query plus every key expression.
  const whole = ctx.oracle.describe(ingestSelect({ ...p, columns: [...p.columns, ...keyExpressions.map((expr, i) => ({ name: `__chpipe_key_${i}`, type: '', expr }))] }, from));
  if (!whole.ok || whole.value.length !== p.columns.length + keyExpressions.length) {
    if (!checkColumnLayer(ctx, p, from)) return undefined;
    const layer = ingestSelect({ ...p, filter: undefined }, from);
    let ok = true;
    p.table.orderBy.forEach((item, i) => {
      if (!p.columns.some((c) => c.name === item) && !probe(ctx, p, layer, item, ['table', 'order_by', i], `order_by "${item}"`).ok) ok = false;
    });
    if (p.table.partitionBy !== undefined && !probe(ctx, p, layer, p.table.partitionBy, ['table', 'partition_by'], 'partition_by').ok) ok = false;
    if (ok && !whole.ok) report(ctx, p, ['columns'], 'invalid-expression', 'the pipeline does not form a valid query', whole.problem);
    return undefined;
  }

  const queue = consumerQueue(ctx, p, types);
  const table: Table = Object.freeze({
    kind: 'table',
    ...owned(p, 'table'),
    engine: p.table.engine,
    columns: p.columns.map((c) => ({ name: c.name, type: types.get(c.type) as string, ...(c.comment ? { comment: c.comment } : {}) })),
    orderBy: orderBy.length === 1 ? (orderBy[0] as string) : `(${orderBy.join(', ')})`,
    ...(p.table.partitionBy !== undefined ? { partitionBy: p.table.partitionBy } : {}),
    ...(p.table.ttl !== undefined ? { ttl: p.table.ttl } : {}),
    settings: p.table.settings,
  });
  const read = readPoint(ctx, p, queue);
  const mv = Object.freeze({ kind: 'mv' as const, ...owned(p, 'mv'), to: table.name, from: [read.from], select: ingestSelect(p, qualified(ctx.placement.database, read.from)) });
  ctx.outputs.set(p.name, { from: table.name, structure: table.columns });
  if (table.name !== p.name) ctx.outputs.set(table.name, { from: table.name, structure: table.columns });
  return [table, queue, ...read.objects, mv, ...errorObjects(ctx, p, read.from)];
}

/** The TTL of an errors table kept `days` days, as the engine prints it back: ERRORS_TTL_HEAD, the days, `)`. */
export const ERRORS_TTL_HEAD = 'received_at + toIntervalDay(';
export function errorsTtl(days: number): string {
  return `${ERRORS_TTL_HEAD}${days})`;
}

/** `on_error: stream`: NAME_errors keeps what could not be parsed, fed by NAME_errors_mv. */
function errorObjects(ctx: Context, p: IngestSpec | AggregateSpec, readFrom: string): DbObject[] {
  if (p.source.onError !== 'stream') return [];
  const errors: Table = Object.freeze({
    kind: 'table',
    ...owned(p, 'errors'),
    engine: 'MergeTree',
    columns: [
      { name: 'received_at', type: 'DateTime' },
      { name: 'topic', type: 'LowCardinality(String)' },
      { name: 'partition', type: 'UInt64' },
      { name: 'offset', type: 'UInt64' },
      { name: 'raw_message', type: 'String' },
      { name: 'error', type: 'String' },
    ],
    orderBy: '(topic, `partition`, `offset`)',
    partitionBy: 'toYYYYMM(received_at)',
    ...(p.source.errorsRetentionDays !== undefined ? { ttl: errorsTtl(p.source.errorsRetentionDays) } : {}),
    settings: {},
  });
  const source = qualified(ctx.placement.database, readFrom);
  const select = `SELECT\n    now() AS received_at,\n    _topic AS topic,\n    _partition AS \`partition\`,\n    _offset AS \`offset\`,\n    _raw_message AS raw_message,\n    _error AS error\nFROM ${source}\nWHERE ${streamGuard(p.source, 'broken')}`;
  return [errors, Object.freeze({ kind: 'mv' as const, ...owned(p, 'errors_mv'), to: errors.name, from: [readFrom], select })];
}

function isAggregateFunction(fn: string, known: ReadonlySet<string>): boolean {
  if (known.has(fn)) return true;
  return COMBINATORS.some((c) => fn.endsWith(c) && fn.length > c.length && isAggregateFunction(fn.slice(0, -c.length), known));
}

/** Every measure calls an aggregate function the engine knows (combinators included); diagnostics at the others. */
function knownMeasures(ctx: Context, p: AggregateSpec | RollupSpec): boolean {
  const known = ctx.oracle.aggregateFunctions();
  let ok = true;
  for (const m of p.measures) {
    if (!isAggregateFunction(m.fn, known)) {
      const hint = didYouMean(m.fn, known);
      ctx.diagnostics.push(diagnostic(locate(p.file, ['aggregate', 'measures', m.name]), 'unknown-function', `unknown aggregate function "${m.fn}" in measure "${m.name}"`, { expected: 'a ClickHouse aggregate function such as count, sum, avg, quantile(0.95), uniq', ...(hint ? { hint } : {}) }));
      ok = false;
    }
  }
  return ok;
}

/** By keys and measures probed one by one over `layer` (the rows they read), to point at the one that breaks the state query. */
function locateAggregateProblem(ctx: Context, p: AggregateSpec | RollupSpec, layer: string, problem: EngineProblem): void {
  let ok = true;
  for (const b of p.by) if (!probe(ctx, p, layer, b.expr, ['aggregate', 'by', b.name], `by key "${b.name}"`).ok) ok = false;
  for (const m of p.measures) if (!probe(ctx, p, layer, stateCall(m, p.engine === 'SummingMergeTree'), ['aggregate', 'measures', m.name], `measure "${m.name}"`).ok) ok = false;
  if (ok) report(ctx, p, ['aggregate'], 'invalid-expression', 'the aggregate does not form a valid query', problem);
}

/** NAME_state (its columns: the state query's), NAME_mv writing into it from `readFrom`, and the finalizing view NAME; undefined after a partition_by diagnostic. */
function aggregateObjects(ctx: Context, p: AggregateSpec | RollupSpec, described: readonly DescribedColumn[], readFrom: string, select: (from: string) => string): { state: Table; view: DbObject[]; mv: MaterializedView } | undefined {
  if (p.table.partitionBy !== undefined) {
    const keys = `SELECT ${p.by.map((b) => ident(b.name)).join(', ')} FROM ${nullSource(described.slice(0, p.by.length))}`;
    if (!probe(ctx, p, keys, p.table.partitionBy, ['table', 'partition_by'], 'partition_by (over the by keys)').ok) return undefined;
  }
  const stateColumns: Column[] = described.map((c) => ({ name: c.name, type: c.type }));
  const keys = p.by.map((b) => ident(b.name));
  const state: Table = Object.freeze({
    kind: 'table',
    ...owned(p, 'state'),
    engine: p.engine,
    columns: stateColumns,
    orderBy: keys.length === 1 ? (keys[0] as string) : `(${keys.join(', ')})`,
    ...(p.table.partitionBy !== undefined ? { partitionBy: p.table.partitionBy } : {}),
    ...(p.table.ttl !== undefined ? { ttl: p.table.ttl } : {}),
    settings: p.table.settings,
  });
  const db = ctx.placement.database;
  const mv: MaterializedView = Object.freeze({ kind: 'mv' as const, ...owned(p, 'mv'), to: state.name, from: [readFrom], select: select(qualified(db, readFrom)) });
  // `objects: { view: null }`: no finalizing view (an aggregate adopted without one); readers merge the states themselves.
  const view = p.without?.includes('view') ? [] : [Object.freeze({ kind: 'view' as const, ...owned(p, 'view'), select: finalSelect(p, qualified(db, state.name)) })];
  ctx.outputs.set(p.name, { from: state.name, structure: stateColumns, aggregate: p });
  ctx.outputs.set(state.name, { from: state.name, structure: stateColumns, aggregate: p });
  return { state, view, mv };
}

function compileAggregate(ctx: Context, p: AggregateSpec): DbObject[] | undefined {
  const source = checkSource(ctx, p);
  if (!source || !knownMeasures(ctx, p)) return undefined;
  const { types, from } = source;
  // One question on the happy path: the aggregate query itself; its answer is the state table.
  const described = ctx.oracle.describe(stateSelect(p, from));
  if (!described.ok) {
    // Find what breaks it, expression by expression, to point at the right line.
    if (checkColumnLayer(ctx, p, from)) locateAggregateProblem(ctx, p, ingestSelect({ ...p, filter: undefined }, from), described.problem);
    return undefined;
  }
  const queue = consumerQueue(ctx, p, types);
  const read = readPoint(ctx, p, queue);
  const built = aggregateObjects(ctx, p, described.value, read.from, (readFrom) => stateSelect(p, readFrom));
  if (!built) return undefined;
  return [built.state, queue, ...read.objects, ...built.view, built.mv, ...errorObjects(ctx, p, read.from)];
}

/**
 * A rollup: an aggregate over the rows an ingest pipeline stores. Its view reads that pipeline's table as rows
 * are inserted into it (in cluster mode, each node's local table), so the topic has one consumer group.
 */
function compileRollup(ctx: Context, p: RollupSpec): DbObject[] | undefined {
  const upstream = ctx.outputs.get(p.from);
  // The parser reported a from: that names no ingest pipeline; an upstream that failed reported its own problem.
  if (!upstream || upstream.aggregate || !knownMeasures(ctx, p)) return undefined;
  const rows = { columns: [] as ColumnSpec[], source: { onError: 'stall' as const }, by: p.by, measures: p.measures, engine: p.engine, ...(p.filter !== undefined ? { filter: p.filter } : {}) };
  const from = nullSource(upstream.structure);
  const described = ctx.oracle.describe(stateSelect(rows, from));
  if (!described.ok) {
    const layer = `SELECT *\nFROM ${from}`;
    const filtered = p.filter !== undefined ? ctx.oracle.describe(`${layer}\nWHERE ${p.filter}`) : undefined;
    if (filtered && !filtered.ok) report(ctx, p, ['filter'], 'invalid-expression', `filter is not a valid condition over the columns of ${p.from}`, filtered.problem);
    else locateAggregateProblem(ctx, p, layer, described.problem);
    return undefined;
  }
  const readFrom = ctx.placement.cluster ? localName(upstream.from) : upstream.from;
  const built = aggregateObjects(ctx, p, described.value, readFrom, (table) => stateSelect(rows, table));
  return built ? [built.state, ...built.view, built.mv] : undefined;
}

function compilePublish(ctx: Context, p: PublishSpec): DbObject[] | undefined {
  const formatOk = checkFormat(ctx, p, p.format, ['publish', 'format'], 'output');
  const source = ctx.outputs.get(p.from);
  if (!source || !formatOk) return undefined; // the parser reported an unknown source; or the source itself failed
  const readFrom = (table: string) => (source.aggregate ? `(\n${finalSelect(source.aggregate, table)}\n)` : table);
  const described = ctx.oracle.describe(publishSelect(p.columns, p.where, readFrom(nullSource(source.structure))));
  if (!described.ok) {
    report(ctx, p, p.where !== undefined ? ['publish', 'where'] : ['publish'], 'invalid-expression', p.where !== undefined ? 'publish.where is not a valid condition over the source columns' : 'the publish query is not valid', described.problem);
    return undefined;
  }
  const columns: Column[] = described.value.map((c) => ({ name: c.name, type: c.type }));
  const queue = queueTable(ctx, p, columns, { topics: [p.topic], group: p.group, format: p.format, settings: p.settings, ...(p.brokers ? { brokers: p.brokers } : {}) });
  // Cluster mode: each node publishes the blocks its own flows insert into its local table (compile/cluster.ts).
  const sourceTable = ctx.placement.cluster ? localName(source.from) : source.from;
  const mv = Object.freeze({ kind: 'mv' as const, ...owned(p, 'mv'), to: queue.name, from: [sourceTable], select: publishSelect(p.columns, p.where, readFrom(qualified(ctx.placement.database, sourceTable))) });
  return [queue, mv];
}
