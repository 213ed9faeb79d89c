/**
 * A seeded, reproducible generator of chpipe projects and of one change to
 * them, for the randomized label test (test/plan/labels.random.test.ts) and
 * for tests that replay the same cases against a live broker.
 *
 * Pure: no I/O, no clock, no Math.random. A case is a function of its seed:
 * `generateCase(seed)` always returns the same base project, the same change
 * and the same messages.
 *
 * A project is drawn as plain data (`ProjectDraft`), rendered to YAML by
 * `renderProject`, changed by one `ChangeKind` (`CHANGE_KINDS`, every kind of
 * change the planner knows), and comes with messages (`messagesFor`): one
 * JSON object per Kafka message, carrying the message fields and the Kafka
 * virtual columns (`_offset`, `_timestamp`, …), so a test can push the same
 * messages through the base flows and through the changed ones.
 */

// ─── PRNG ────────────────────────────────────────────────────────────────────

/** mulberry32: tiny, fast, good enough for test data; the same seed gives the same stream. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (!items.length) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }
  /** `n` distinct items, in their original order. */
  sample<T>(items: readonly T[], n: number): T[] {
    const idx = items.map((_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
    }
    return idx
      .slice(0, Math.min(n, items.length))
      .sort((a, b) => a - b)
      .map((i) => items[i] as T);
  }
}

// ─── Drafts: a project as plain data ─────────────────────────────────────────

export interface ColumnDraft {
  readonly name: string;
  readonly type: string;
  /** A Kafka virtual column (`from:`). */
  readonly from?: string;
  /** Computed in the view (`expr:`). */
  readonly expr?: string;
  /** A member of a nested field (`path:`), computed in the view. */
  readonly path?: string;
  readonly comment?: string;
  readonly renamedFrom?: string;
}

export interface SourceDraft {
  readonly topics: readonly string[];
  /** `source.fields`: what the Kafka table parses (the plain columns' fields and more), in order. */
  readonly fields?: readonly { readonly name: string; readonly type: string }[];
  readonly format: string;
  readonly group?: string;
  readonly consumers?: number;
  readonly onError?: 'stall' | 'skip' | 'stream';
  readonly brokers?: string;
  readonly settings: Readonly<Record<string, string | number>>;
}

export interface IngestDraft {
  readonly kind: 'ingest';
  readonly name: string;
  readonly description?: string;
  readonly source: SourceDraft;
  readonly columns: readonly ColumnDraft[];
  readonly filter?: string;
  readonly orderBy: readonly string[];
  readonly partitionBy?: string;
  readonly ttl?: string;
  readonly engine?: string;
  readonly tableSettings: Readonly<Record<string, string | number>>;
  /** `explode: items` (ARRAY JOIN). */
  readonly explode?: string;
}

export interface AggregateDraft {
  readonly kind: 'aggregate';
  readonly name: string;
  readonly description?: string;
  readonly source: SourceDraft;
  readonly columns: readonly ColumnDraft[];
  readonly filter?: string;
  readonly by: readonly { readonly name: string; readonly expr: string }[];
  readonly measures: readonly { readonly name: string; readonly call: string }[];
  /** `aggregate.engine: SummingMergeTree` (measures count() and sum() only); absent: AggregatingMergeTree. */
  readonly engine?: 'SummingMergeTree';
  readonly ttl?: string;
  readonly tableSettings: Readonly<Record<string, string | number>>;
}

export interface PublishDraft {
  readonly kind: 'publish';
  readonly name: string;
  readonly description?: string;
  readonly from: string;
  readonly where?: string;
  readonly columns?: readonly string[];
  readonly topic: string;
  readonly format: string;
}

export type PipelineDraft = IngestDraft | AggregateDraft | PublishDraft;

export interface ProjectDraft {
  readonly database: string;
  readonly brokers: string;
  readonly pipelines: readonly PipelineDraft[];
}

// ─── Column pool ─────────────────────────────────────────────────────────────

/**
 * Plain columns a pipeline may carry. `id` is always there (the key, never
 * renamed or dropped: publish pipelines read it); the rest are drawn.
 */
const PLAIN: readonly ColumnDraft[] = [
  { name: 'user_id', type: 'Int64' },
  { name: 'amount', type: 'Float64' },
  { name: 'qty', type: 'Int32' },
  { name: 'country', type: 'String' },
  { name: 'ok', type: 'UInt8' },
  { name: 'day', type: 'Date' },
  { name: 'score', type: 'Float32' },
  { name: 'code', type: 'UInt16' },
];

/** Plain columns a change may add (never in a base). */
const ADDABLE: readonly ColumnDraft[] = [
  { name: 'region', type: 'LowCardinality(String)' },
  { name: 'price', type: 'Decimal(12, 2)' },
  { name: 'hits', type: 'UInt32' },
  { name: 'label', type: 'String' },
];

const VIRTUAL: readonly ColumnDraft[] = [
  { name: 'kafka_offset', type: 'UInt64', from: '_offset' },
  { name: 'kafka_partition', type: 'UInt64', from: '_partition' },
  { name: 'kafka_topic', type: 'String', from: '_topic' },
  { name: 'kafka_key', type: 'String', from: '_key' },
  { name: 'received_ms', type: 'Nullable(DateTime64(3))', from: '_timestamp_ms' },
];

/** Computed columns, each with the plain columns it needs and a second expression a change may switch to. */
const COMPUTED: readonly { column: ColumnDraft; needs: readonly string[]; other: string }[] = [
  { column: { name: 'ts_day', type: 'Date', expr: 'toDate(ts)' }, needs: ['ts'], other: 'toMonday(ts)' },
  { column: { name: 'id_bucket', type: 'UInt32', expr: 'id % 4' }, needs: ['id'], other: 'id % 7' },
  { column: { name: 'amount_x2', type: 'Float64', expr: 'amount * 2' }, needs: ['amount'], other: 'amount * 3' },
  { column: { name: 'country_uc', type: 'String', expr: 'upper(country)' }, needs: ['country'], other: 'lower(country)' },
];

/** Message fields a pipeline may parse without storing them (`source.fields`): read by a filter or not at all. */
const EXTRA_FIELDS: readonly { name: string; type: string; other: string }[] = [
  { name: 'level', type: 'String', other: 'LowCardinality(String)' },
  { name: 'reading', type: 'Float64', other: 'Float32' },
  { name: 'unit', type: 'LowCardinality(String)', other: 'String' },
];

/** Nested message fields (named Tuples, as JSONEachRow parses nested objects): read by path columns, fanned out by explode. */
const NESTED_FIELDS: readonly { name: string; type: string }[] = [
  { name: 'customer', type: 'Tuple(id UInt64, country String)' },
  { name: 'items', type: 'Array(Tuple(sku String, qty UInt32))' },
];

/** Columns reading a member of a nested field, and the other path of the same type a change may switch to. */
const PATHS: readonly { column: ColumnDraft; other: string }[] = [
  { column: { name: 'customer_id', type: 'UInt64', path: 'customer.id' }, other: 'items[1].qty' },
  { column: { name: 'customer_country', type: 'String', path: 'customer.country' }, other: 'items[1].sku' },
];

/**
 * Type changes: `lossless` keeps every generated value (the canonical text of
 * each value is unchanged), the others do not.
 */
export const TYPE_CHANGES: readonly { column: string; from: string; to: string; lossless: boolean }[] = [
  { column: 'qty', from: 'Int32', to: 'Int64', lossless: true },
  { column: 'qty', from: 'Int32', to: 'String', lossless: true },
  { column: 'qty', from: 'Int32', to: 'UInt32', lossless: false },
  { column: 'qty', from: 'Int32', to: 'Int8', lossless: false },
  { column: 'user_id', from: 'Int64', to: 'Int32', lossless: false },
  { column: 'user_id', from: 'Int64', to: 'Float64', lossless: true },
  { column: 'amount', from: 'Float64', to: 'Float32', lossless: true },
  { column: 'amount', from: 'Float64', to: 'Int32', lossless: false },
  { column: 'country', from: 'String', to: 'LowCardinality(String)', lossless: true },
  { column: 'code', from: 'UInt16', to: 'UInt32', lossless: true },
  { column: 'score', from: 'Float32', to: 'Float64', lossless: true },
  { column: 'day', from: 'Date', to: 'DateTime', lossless: true },
  { column: 'ok', from: 'UInt8', to: 'Bool', lossless: false },
  { column: 'id', from: 'UInt32', to: 'UInt64', lossless: true },
  { column: 'ts', from: 'DateTime', to: 'DateTime64(3)', lossless: true },
];

const MEASURES: readonly { name: string; call: string; needs: readonly string[] }[] = [
  { name: 'events', call: 'count()', needs: [] },
  { name: 'total_amount', call: 'sum(amount)', needs: ['amount'] },
  { name: 'avg_qty', call: 'avg(qty)', needs: ['qty'] },
  { name: 'max_ts', call: 'max(ts)', needs: ['ts'] },
  { name: 'users', call: 'uniq(user_id)', needs: ['user_id'] },
  { name: 'p90_amount', call: 'quantile(0.9)(amount)', needs: ['amount'] },
  { name: 'min_code', call: 'min(code)', needs: ['code'] },
  { name: 'last_country', call: 'anyLast(country)', needs: ['country'] },
];

/** The measures a SummingMergeTree keeps (its merges add them up). */
const SUMMABLE_CALLS = new Set(['count()', 'sum(amount)', 'sum(amount * 2)']);
const summable = (p: AggregateDraft) => (m: { call: string }) => p.engine !== 'SummingMergeTree' || SUMMABLE_CALLS.has(m.call);

/** A fifth of the ingests parse nested objects (customer, items) and store a member by path. */
function drawNested(rng: Rng, p: IngestDraft): IngestDraft {
  if (!rng.chance(0.2)) return p;
  const declared = p.source.fields ?? [...messageFields(p)].map(([name, type]) => ({ name, type }));
  return { ...p, source: { ...p.source, fields: [...declared, ...NESTED_FIELDS] }, columns: [...p.columns, rng.pick(PATHS).column] };
}

/** A fifth of the aggregates are the docs' rollup: a SummingMergeTree of count() and sum() measures. */
function drawSumming(rng: Rng, p: AggregateDraft): AggregateDraft {
  if (!rng.chance(0.2)) return p;
  const measures = p.measures.filter((m) => SUMMABLE_CALLS.has(m.call));
  return { ...p, engine: 'SummingMergeTree', measures: measures.length ? measures : [{ name: 'events', call: 'count()' }] };
}

/** A measure's call switched to another with the same state type (same column, same function family). */
const SAME_STATE_SWAP: Readonly<Record<string, string>> = {
  'sum(amount)': 'sum(amount * 2)',
  'avg(qty)': 'avg(if(qty > 0, qty, 0))',
  'max(ts)': 'max(ts + 1)',
  'uniq(user_id)': 'uniq(user_id + 1)',
  'quantile(0.9)(amount)': 'quantile(0.9)(amount * 2)',
  'min(code)': 'min(abs(code))',
  'anyLast(country)': 'anyLast(upper(country))',
};

const KEYS: readonly { name: string; expr: string; needs: readonly string[] }[] = [
  { name: 'country', expr: 'country', needs: ['country'] },
  { name: 'minute', expr: 'toStartOfMinute(ts)', needs: ['ts'] },
  { name: 'bucket', expr: 'intDiv(id, 4)', needs: ['id'] },
  { name: 'day', expr: 'day', needs: ['day'] },
  { name: 'ok', expr: 'ok', needs: ['ok'] },
];

const NAMES: readonly string[] = ['events', 'clicks', 'order', 'page-views', 'api_latency', 'sensors', 'payments', 'logins'];
const FORMATS: readonly string[] = ['JSONEachRow', 'CSV', 'TSV', 'JSONCompactEachRow'];
/** Kafka settings a source may carry, with two values each. */
const KAFKA_SETTINGS: readonly { key: string; values: readonly (string | number)[] }[] = [
  { key: 'kafka_max_block_size', values: [1000, 65536] },
  { key: 'kafka_poll_timeout_ms', values: [500, 2000] },
  { key: 'kafka_flush_interval_ms', values: [1000, 7500] },
  { key: 'input_format_allow_errors_num', values: [0, 10] },
  { key: 'date_time_input_format', values: ['basic', 'best_effort'] },
];
const TABLE_SETTINGS: readonly { key: string; values: readonly (string | number)[] }[] = [
  { key: 'merge_with_ttl_timeout', values: [3600, 86400] },
  { key: 'ttl_only_drop_parts', values: [0, 1] },
  { key: 'min_age_to_force_merge_seconds', values: [0, 600] },
];

// ─── Changes ─────────────────────────────────────────────────────────────────

/** Every kind of change the generator draws; case `seed` uses kind `CHANGE_KINDS[seed % length]`. */
export const CHANGE_KINDS = [
  'add_column',
  'add_virtual_column',
  'add_computed_column',
  'drop_column',
  'retype_column',
  'rename_column',
  'order_by',
  'partition_by',
  'ttl',
  'engine',
  'table_settings',
  'kafka_settings',
  'format',
  'group',
  'topics',
  'consumers',
  'on_error',
  'brokers',
  'filter',
  'expr',
  'add_measure',
  'drop_measure',
  'change_measure',
  'retype_measure',
  'by_keys',
  'add_pipeline',
  'remove_pipeline',
  'publish_where',
  'publish_columns',
  'publish_format',
  'publish_topic',
  'description',
  'column_comment',
  'add_field',
  'drop_field',
  'retype_field',
  'field_filter',
  'aggregate_engine',
  'path_column',
  'path',
  'explode',
] as const;

export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface Change {
  readonly kind: ChangeKind;
  /** The pipeline changed (for add/remove: the one added or removed). */
  readonly pipeline: string;
  /** One line in words. */
  readonly summary: string;
  /** Column renames the change makes: pipeline → new name → old name. */
  readonly renames: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Whether a type change keeps every generated value (retype_column only). */
  readonly lossless?: boolean;
}

export interface Case {
  readonly seed: number;
  readonly base: ProjectDraft;
  readonly changed: ProjectDraft;
  readonly change: Change;
  /** When the drawn kind did not fit the base, the kind actually used (else the drawn one). */
  readonly drawn: ChangeKind;
}

// ─── Drawing a base project ──────────────────────────────────────────────────

function drawColumns(rng: Rng, forAggregate: boolean): ColumnDraft[] {
  const plain = rng.sample(PLAIN, rng.int(2, forAggregate ? 5 : 4));
  const cols: ColumnDraft[] = [{ name: 'id', type: 'UInt32' }, ...plain.slice(0, 1), { name: 'ts', type: 'DateTime' }, ...plain.slice(1)];
  if (!forAggregate && rng.chance(0.4)) cols.push(rng.pick(VIRTUAL));
  const names = new Set(cols.map((c) => c.name));
  const computable = COMPUTED.filter((c) => c.needs.every((n) => names.has(n)));
  if (computable.length && rng.chance(0.45)) cols.push(rng.pick(computable).column);
  return cols;
}

function drawSource(rng: Rng, name: string): SourceDraft {
  const settings: Record<string, string | number> = {};
  if (rng.chance(0.3)) {
    const s = rng.pick(KAFKA_SETTINGS);
    settings[s.key] = rng.pick(s.values);
  }
  const onError = rng.pick(['stall', 'stall', 'skip', 'stream'] as const);
  return {
    topics: rng.chance(0.2) ? [`${name}_a`, `${name}_b`] : [`${name}_in`],
    format: rng.chance(0.6) ? 'JSONEachRow' : rng.pick(FORMATS),
    ...(rng.chance(0.2) ? { group: `g_${name.replace(/-/g, '_')}_1` } : {}),
    ...(rng.chance(0.2) ? { consumers: rng.int(1, 2) } : {}),
    ...(onError !== 'stall' || rng.chance(0.3) ? { onError } : {}),
    ...(rng.chance(0.15) ? { brokers: 'kafka-a:9092' } : {}),
    settings,
  };
}

/** A filter over the columns that keeps most rows (so every table gets rows). */
function drawFilter(rng: Rng, cols: readonly ColumnDraft[]): string | undefined {
  if (!rng.chance(0.35)) return undefined;
  const names = new Set(cols.map((c) => c.name));
  const options = ['id > 1', ...(names.has('qty') ? ['qty > -45'] : []), ...(names.has('amount') ? ['amount >= 0'] : []), ...(names.has('country') ? ["country != 'zz'"] : [])];
  return rng.pick(options);
}

/** A quarter of the consuming pipelines declare source.fields: their plain columns' fields and one or two unstored ones, `level` maybe filtered on. */
function drawFields<P extends IngestDraft | AggregateDraft>(rng: Rng, p: P): P {
  if (!rng.chance(0.25)) return p;
  const extras = rng.sample(EXTRA_FIELDS, rng.int(1, 2));
  const fields = [...[...messageFields(p)].map(([name, type]) => ({ name, type })), ...extras.map(({ name, type }) => ({ name, type }))];
  const filter = p.filter === undefined && extras.some((e) => e.name === 'level') && rng.chance(0.5) ? { filter: "level != 'zz'" } : {};
  return { ...p, ...filter, source: { ...p.source, fields } };
}

function drawIngest(rng: Rng, name: string): IngestDraft {
  const columns = drawColumns(rng, false);
  const plainNames = columns.filter((c) => c.from === undefined && c.expr === undefined).map((c) => c.name);
  const orderBy = rng.pick([['id'], ['id', 'ts'], ...(plainNames.includes('country') ? [['country', 'id']] : [])]);
  const tableSettings: Record<string, string | number> = {};
  if (rng.chance(0.2)) {
    const s = rng.pick(TABLE_SETTINGS);
    tableSettings[s.key] = rng.pick(s.values);
  }
  const filter = drawFilter(rng, columns);
  return {
    kind: 'ingest',
    name,
    ...(rng.chance(0.3) ? { description: `${name} events` } : {}),
    source: drawSource(rng, name),
    columns,
    ...(filter !== undefined ? { filter } : {}),
    orderBy,
    ...(rng.chance(0.3) ? { partitionBy: 'toYYYYMM(ts)' } : {}),
    ...(rng.chance(0.25) ? { ttl: 'ts + toIntervalYear(60)' } : {}),
    ...(rng.chance(0.25) ? { engine: rng.pick(['ReplacingMergeTree', 'SummingMergeTree']) } : {}),
    tableSettings,
  };
}

function drawAggregate(rng: Rng, name: string): AggregateDraft {
  const columns = drawColumns(rng, true);
  const names = new Set(columns.map((c) => c.name));
  const keys = rng.sample(
    KEYS.filter((k) => k.needs.every((n) => names.has(n))),
    rng.int(1, 2),
  );
  const keyNames = new Set(keys.map((k) => k.name));
  const measures = rng
    .sample(
      MEASURES.filter((m) => m.needs.every((n) => names.has(n)) && !keyNames.has(m.name)),
      rng.int(1, 3),
    )
    .map(({ name: n, call }) => ({ name: n, call }));
  if (!measures.length) measures.push({ name: 'events', call: 'count()' });
  const filter = drawFilter(rng, columns);
  return {
    kind: 'aggregate',
    name,
    ...(rng.chance(0.3) ? { description: `${name} per key` } : {}),
    source: drawSource(rng, name),
    columns,
    ...(filter !== undefined ? { filter } : {}),
    by: keys.map(({ name: n, expr }) => ({ name: n, expr })),
    measures,
    tableSettings: {},
  };
}

function drawPublish(rng: Rng, name: string, from: IngestDraft): PublishDraft {
  const plain = from.columns.filter((c) => c.from === undefined && c.expr === undefined && c.name !== 'id' && c.name !== 'ts').map((c) => c.name);
  const extra = plain.length && rng.chance(0.5) ? [rng.pick(plain)] : [];
  return {
    kind: 'publish',
    name,
    from: from.name,
    ...(rng.chance(0.6) ? { where: 'id % 2 = 0' } : {}),
    ...(rng.chance(0.7) ? { columns: ['id', 'ts', ...extra] } : {}),
    topic: `${name}_out`,
    format: rng.pick(['JSONEachRow', 'CSV']),
  };
}

export function drawProject(rng: Rng): ProjectDraft {
  const names = rng.sample(NAMES, 4);
  const count = rng.int(1, 3);
  const pipelines: PipelineDraft[] = [];
  for (let i = 0; i < count; i++) {
    const name = names[i] as string;
    pipelines.push(rng.chance(0.6) || i === 0 ? drawIngest(rng, name) : drawAggregate(rng, name));
  }
  const ingest = pipelines.filter((p): p is IngestDraft => p.kind === 'ingest');
  if (ingest.length && rng.chance(0.35)) pipelines.push(drawPublish(rng, `${(ingest[0] as IngestDraft).name.replace(/-/g, '_')}_out`, rng.pick(ingest)));
  // source.fields last, so the rest of each base is drawn as before it existed.
  return { database: 'analytics', brokers: 'localhost:9092', pipelines: pipelines.map((p) => (p.kind === 'publish' ? p : p.kind === 'aggregate' ? drawFields(rng, drawSumming(rng, p)) : drawNested(rng, drawFields(rng, p)))) };
}

// ─── Applying one change ─────────────────────────────────────────────────────

type Consuming = IngestDraft | AggregateDraft;

const isPlain = (c: ColumnDraft) => c.from === undefined && c.expr === undefined && c.path === undefined;

/** Column names a pipeline's own keys, filter, by, measures, computed columns and publishers use. */
function usedColumns(project: ProjectDraft, p: Consuming): Set<string> {
  const used = new Set<string>(['id', 'ts']);
  const words = (text: string | undefined) => {
    for (const w of (text ?? '').match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) used.add(w);
  };
  words(p.filter);
  for (const c of p.columns) words(c.expr ?? c.path);
  if (p.kind === 'ingest') {
    for (const k of p.orderBy) words(k);
    words(p.partitionBy);
    words(p.ttl);
  } else {
    for (const b of p.by) words(b.expr);
    for (const m of p.measures) words(m.call);
  }
  for (const q of project.pipelines) {
    if (q.kind !== 'publish' || q.from !== p.name) continue;
    for (const c of q.columns ?? p.columns.map((x) => x.name)) used.add(c);
    words(q.where);
  }
  return used;
}

function replacePipeline(project: ProjectDraft, next: PipelineDraft): ProjectDraft {
  return { ...project, pipelines: project.pipelines.map((p) => (p.name === next.name ? next : p)) };
}

const noRenames: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map();

/**
 * Apply a change of `kind` to `base`, or undefined when the base has nothing
 * it applies to (no aggregate for a measure change, …).
 */
function applyChange(rng: Rng, base: ProjectDraft, kind: ChangeKind): { project: ProjectDraft; change: Change } | undefined {
  const consuming = base.pipelines.filter((p): p is Consuming => p.kind !== 'publish');
  const ingests = consuming.filter((p): p is IngestDraft => p.kind === 'ingest');
  const aggregates = consuming.filter((p): p is AggregateDraft => p.kind === 'aggregate');
  const publishes = base.pipelines.filter((p): p is PublishDraft => p.kind === 'publish');
  const done = (next: PipelineDraft, summary: string, extra: Partial<Change> = {}) => ({
    project: replacePipeline(base, next),
    change: { kind, pipeline: next.name, summary, renames: noRenames, ...extra },
  });
  const withSource = (p: Consuming, source: SourceDraft): Consuming => ({ ...p, source });
  /** With source.fields, a plain column's field is declared with the column's type (added, or retyped with it). */
  const withField = (p: Consuming, field: { name: string; type: string }): SourceDraft => {
    const fields = p.source.fields;
    if (!fields) return p.source;
    return { ...p.source, fields: fields.some((f) => f.name === field.name) ? fields.map((f) => (f.name === field.name ? field : f)) : [...fields, field] };
  };
  /** Declared fields no plain column reads and nothing else uses: the ones a change may drop or retype. */
  const unstored = (p: Consuming) => {
    const read = messageFieldsOfColumns(p);
    return (p.source.fields ?? []).filter((f) => !read.has(f.name));
  };

  switch (kind) {
    case 'add_column': {
      const p = rng.pick(consuming);
      const have = new Set(p.columns.map((c) => c.name));
      const c = rng.pick([...ADDABLE, ...PLAIN].filter((x) => !have.has(x.name)));
      const at = rng.int(1, p.columns.length);
      return done({ ...p, source: withField(p, c), columns: [...p.columns.slice(0, at), c, ...p.columns.slice(at)] }, `add column ${c.name} ${c.type} to ${p.name}`);
    }
    case 'add_virtual_column': {
      const p = rng.pick(consuming);
      const have = new Set(p.columns.map((c) => c.name));
      const options = VIRTUAL.filter((v) => !have.has(v.name) && !p.columns.some((c) => c.from === v.from));
      if (!options.length) return undefined;
      const c = rng.pick(options);
      return done({ ...p, columns: [...p.columns, c] }, `add column ${c.name} from ${c.from} to ${p.name}`);
    }
    case 'add_computed_column': {
      const p = rng.pick(consuming);
      const have = new Set(p.columns.map((c) => c.name));
      const options = COMPUTED.filter((c) => !have.has(c.column.name) && c.needs.every((n) => have.has(n)));
      if (!options.length) return undefined;
      const c = rng.pick(options).column;
      return done({ ...p, columns: [...p.columns, c] }, `add computed column ${c.name} = ${c.expr} to ${p.name}`);
    }
    case 'drop_column': {
      const p = rng.pick(consuming);
      const used = usedColumns(base, p);
      const options = p.columns.filter((c) => !used.has(c.name));
      if (!options.length) return undefined;
      const c = rng.pick(options);
      return done({ ...p, columns: p.columns.filter((x) => x.name !== c.name) }, `drop column ${c.name} from ${p.name}`);
    }
    case 'retype_column': {
      const options = consuming.flatMap((p) => TYPE_CHANGES.filter((t) => p.columns.some((c) => c.name === t.column && c.type === t.from && isPlain(c))).map((t) => ({ p, t })));
      if (!options.length) return undefined;
      // Half the time a lossy change when one fits: those are the ones a label can get wrong.
      const lossy = options.filter((o) => !o.t.lossless);
      const { p, t } = rng.pick(lossy.length && rng.chance(0.5) ? lossy : options);
      // A retype that breaks an expression over the column (a comparison of a String with a number, …) is not this test's subject.
      if (usedColumns(base, p).has(t.column) && t.to === 'String') return undefined;
      const columns = p.columns.map((c) => (c.name === t.column ? { ...c, type: t.to } : c));
      const field = p.columns.find((c) => c.name === t.column)?.renamedFrom ?? t.column;
      return done({ ...p, source: withField(p, { name: field, type: t.to }), columns }, `change type of ${p.name}.${t.column} from ${t.from} to ${t.to}`, { lossless: t.lossless });
    }
    case 'rename_column': {
      const p = rng.pick(ingests.length ? ingests : consuming);
      if (p.kind !== 'ingest') return undefined;
      const used = usedColumns(base, p);
      const options = p.columns.filter((c) => !used.has(c.name));
      if (!options.length) return undefined;
      const c = rng.pick(options);
      const to = `${c.name}_v2`;
      const columns = p.columns.map((x) => (x.name === c.name ? { ...x, name: to, renamedFrom: c.name } : x));
      return done({ ...p, columns }, `rename column ${p.name}.${c.name} to ${to} (renamed_from)`, { renames: new Map([[p.name, new Map([[to, c.name]])]]) });
    }
    case 'order_by': {
      if (!ingests.length) return undefined;
      const p = rng.pick(ingests);
      const options = [['id'], ['id', 'ts'], ['ts', 'id'], ...(p.columns.some((c) => c.name === 'country' && isPlain(c)) ? [['country', 'id']] : [])].filter((o) => o.join() !== p.orderBy.join());
      const orderBy = rng.pick(options);
      return done({ ...p, orderBy }, `order_by of ${p.name} from [${p.orderBy.join(', ')}] to [${orderBy.join(', ')}]`);
    }
    case 'partition_by': {
      if (!ingests.length) return undefined;
      const p = rng.pick(ingests);
      const next = rng.pick([undefined, 'toYYYYMM(ts)', 'toYear(ts)'].filter((x) => x !== p.partitionBy));
      const { partitionBy: _drop, ...rest } = p;
      return done(next === undefined ? rest : { ...rest, partitionBy: next }, `partition_by of ${p.name} from ${p.partitionBy ?? 'none'} to ${next ?? 'none'}`);
    }
    case 'ttl': {
      if (!ingests.length) return undefined;
      const p = rng.pick(ingests);
      const next = rng.pick([undefined, 'ts + toIntervalYear(60)', 'ts + toIntervalYear(50)'].filter((x) => x !== p.ttl));
      const { ttl: _drop, ...rest } = p;
      return done(next === undefined ? rest : { ...rest, ttl: next }, `ttl of ${p.name} from ${p.ttl ?? 'none'} to ${next ?? 'none'}`);
    }
    case 'engine': {
      if (!ingests.length) return undefined;
      const p = rng.pick(ingests);
      const next = rng.pick([undefined, 'ReplacingMergeTree', 'SummingMergeTree'].filter((x) => x !== p.engine));
      const { engine: _drop, ...rest } = p;
      return done(next === undefined ? rest : { ...rest, engine: next }, `engine of ${p.name} from ${p.engine ?? 'MergeTree'} to ${next ?? 'MergeTree'}`);
    }
    case 'table_settings': {
      const p = rng.pick(consuming);
      const s = rng.pick(TABLE_SETTINGS);
      const current = p.tableSettings[s.key];
      const value = rng.pick(s.values.filter((v) => v !== current));
      return done({ ...p, tableSettings: { ...p.tableSettings, [s.key]: value } }, `table setting ${s.key} of ${p.name} becomes ${value}`);
    }
    case 'kafka_settings': {
      const p = rng.pick(consuming);
      const s = rng.pick(KAFKA_SETTINGS);
      const current = p.source.settings[s.key];
      const value = rng.pick(s.values.filter((v) => v !== current));
      return done(withSource(p, { ...p.source, settings: { ...p.source.settings, [s.key]: value } }), `source setting ${s.key} of ${p.name} becomes ${value}`);
    }
    case 'format': {
      const p = rng.pick(consuming);
      const format = rng.pick(FORMATS.filter((f) => f !== p.source.format));
      return done(withSource(p, { ...p.source, format }), `format of ${p.name} from ${p.source.format} to ${format}`);
    }
    case 'group': {
      const p = rng.pick(consuming);
      const group = `g_${p.name.replace(/-/g, '_')}_2`;
      return done(withSource(p, { ...p.source, group }), `consumer group of ${p.name} becomes ${group}`);
    }
    case 'topics': {
      const p = rng.pick(consuming);
      const topics = rng.chance(0.5) ? [...p.source.topics, `${p.name}_extra`] : [`${p.name}_v2`];
      return done(withSource(p, { ...p.source, topics }), `topics of ${p.name} from [${p.source.topics.join(', ')}] to [${topics.join(', ')}]`);
    }
    case 'consumers': {
      const p = rng.pick(consuming);
      const consumers = p.source.consumers === 2 ? 1 : 2;
      return done(withSource(p, { ...p.source, consumers }), `consumers of ${p.name} from ${p.source.consumers ?? 'default'} to ${consumers}`);
    }
    case 'on_error': {
      const p = rng.pick(consuming);
      const current = p.source.onError ?? 'stall';
      const onError = rng.pick((['stall', 'skip', 'stream'] as const).filter((x) => x !== current));
      return done(withSource(p, { ...p.source, onError }), `on_error of ${p.name} from ${current} to ${onError}`);
    }
    case 'path_column': {
      const p = rng.pick(ingests.length ? ingests : consuming);
      if (p.kind !== 'ingest' || p.explode !== undefined) return undefined;
      const have = new Set(p.columns.map((c) => c.name));
      const options = PATHS.filter((x) => !have.has(x.column.name));
      if (!options.length) return undefined;
      const c = rng.pick(options).column;
      const declared = p.source.fields ?? [...messageFields(p)].map(([name, type]) => ({ name, type }));
      const fields = [...declared, ...NESTED_FIELDS.filter((n) => !declared.some((f) => f.name === n.name))];
      return done({ ...p, source: { ...p.source, fields }, columns: [...p.columns, c] }, `add column ${c.name} reading path ${c.path} to ${p.name}`);
    }
    case 'path': {
      const options = ingests.flatMap((p) => p.columns.filter((c) => c.path !== undefined).map((c) => ({ p, c })));
      if (!options.length) return undefined;
      const { p, c } = rng.pick(options);
      if (p.explode !== undefined) return undefined;
      const known = PATHS.find((x) => x.column.name === c.name) as (typeof PATHS)[number];
      const path = c.path === known.other ? (known.column.path as string) : known.other;
      return done({ ...p, columns: p.columns.map((x) => (x.name === c.name ? { ...x, path } : x)) }, `path of ${p.name}.${c.name} from ${c.path} to ${path}`);
    }
    case 'explode': {
      const options = ingests.filter((p) => (p.source.fields ?? []).some((f) => f.name === 'items') && !p.columns.some((c) => c.path?.startsWith('items')));
      if (!options.length) return undefined;
      const p = rng.pick(options);
      const { explode: _was, ...rest } = p;
      return done(p.explode === undefined ? { ...p, explode: 'items' } : rest, `${p.name} ${p.explode === undefined ? 'fans each message out into its items (explode: items)' : 'no longer fans messages out'}`);
    }
    case 'aggregate_engine': {
      const options = aggregates.filter((p) => p.measures.every((m) => SUMMABLE_CALLS.has(m.call)));
      if (!options.length) return undefined;
      const p = rng.pick(options);
      const { engine: _was, ...rest } = p;
      return done(p.engine === 'SummingMergeTree' ? rest : { ...p, engine: 'SummingMergeTree' }, `state engine of ${p.name} from ${p.engine ?? 'AggregatingMergeTree'} to ${p.engine === 'SummingMergeTree' ? 'AggregatingMergeTree' : 'SummingMergeTree'}`);
    }
    case 'add_field': {
      const p = rng.pick(consuming);
      const declared = p.source.fields ?? [...messageFields(p)].map(([name, type]) => ({ name, type }));
      const options = EXTRA_FIELDS.filter((e) => !declared.some((f) => f.name === e.name));
      if (!options.length) return undefined;
      const e = rng.pick(options);
      return done(withSource(p, { ...p.source, fields: [...declared, { name: e.name, type: e.type }] }), `${p.name} parses field ${e.name} ${e.type} without storing it`);
    }
    case 'drop_field': {
      const p = rng.pick(consuming);
      const used = usedColumns(base, p);
      const options = unstored(p).filter((f) => !used.has(f.name));
      if (!options.length) return undefined;
      const f = rng.pick(options);
      return done(withSource(p, { ...p.source, fields: (p.source.fields ?? []).filter((x) => x.name !== f.name) }), `${p.name} no longer parses field ${f.name}`);
    }
    case 'retype_field': {
      const p = rng.pick(consuming);
      const options = unstored(p).filter((f) => EXTRA_FIELDS.some((e) => e.name === f.name));
      if (!options.length) return undefined;
      const f = rng.pick(options);
      const e = EXTRA_FIELDS.find((x) => x.name === f.name) as (typeof EXTRA_FIELDS)[number];
      const type = f.type === e.type ? e.other : e.type;
      return done(withSource(p, { ...p.source, fields: (p.source.fields ?? []).map((x) => (x.name === f.name ? { ...x, type } : x)) }), `${p.name} parses field ${f.name} as ${type}, not ${f.type}`);
    }
    case 'field_filter': {
      const p = rng.pick(consuming);
      const declared = p.source.fields ?? [...messageFields(p)].map(([name, type]) => ({ name, type }));
      const fields = declared.some((f) => f.name === 'level') ? declared : [...declared, { name: 'level', type: 'String' }];
      // Debug messages are a quarter of them: the filter changes the rows, which the plan must say.
      const filter = p.filter === "level != 'debug'" ? "level != 'zz'" : "level != 'debug'";
      return done({ ...p, filter, source: { ...p.source, fields } }, `filter of ${p.name} on the unstored field level: ${filter}`);
    }
    case 'brokers': {
      const p = rng.pick(consuming);
      const brokers = p.source.brokers === 'kafka-b:9092' ? 'kafka-a:9092' : 'kafka-b:9092';
      return done(withSource(p, { ...p.source, brokers }), `brokers of ${p.name} from ${p.source.brokers ?? 'the project default'} to ${brokers}`);
    }
    case 'filter': {
      const p = rng.pick(consuming);
      const names = new Set(p.columns.map((c) => c.name));
      const options = [undefined, 'id > 3', 'id % 3 != 0', ...(names.has('qty') ? ['qty > 0'] : [])].filter((f) => f !== p.filter);
      const filter = rng.pick(options);
      const { filter: _drop, ...rest } = p;
      return done(filter === undefined ? rest : { ...rest, filter }, `filter of ${p.name} from ${p.filter ?? 'none'} to ${filter ?? 'none'}`);
    }
    case 'expr': {
      const options = consuming.flatMap((p) => p.columns.filter((c) => c.expr !== undefined).map((c) => ({ p, c })));
      if (!options.length) return undefined;
      const { p, c } = rng.pick(options);
      const other = COMPUTED.find((x) => x.column.name === c.name)?.other as string;
      const expr = c.expr === other ? (COMPUTED.find((x) => x.column.name === c.name)?.column.expr as string) : other;
      return done({ ...p, columns: p.columns.map((x) => (x.name === c.name ? { ...x, expr } : x)) }, `expression of ${p.name}.${c.name} from ${c.expr} to ${expr}`);
    }
    case 'add_measure': {
      if (!aggregates.length) return undefined;
      const p = rng.pick(aggregates);
      const names = new Set(p.columns.map((c) => c.name));
      const taken = new Set([...p.measures.map((m) => m.name), ...p.by.map((b) => b.name)]);
      const options = MEASURES.filter((m) => !taken.has(m.name) && m.needs.every((n) => names.has(n))).filter(summable(p));
      if (!options.length) return undefined;
      const m = rng.pick(options);
      return done({ ...p, measures: [...p.measures, { name: m.name, call: m.call }] }, `add measure ${m.name}: ${m.call} to ${p.name}`);
    }
    case 'drop_measure': {
      const options = aggregates.filter((p) => p.measures.length > 1);
      if (!options.length) return undefined;
      const p = rng.pick(options);
      const m = rng.pick(p.measures);
      return done({ ...p, measures: p.measures.filter((x) => x.name !== m.name) }, `drop measure ${m.name} from ${p.name}`);
    }
    case 'change_measure': {
      if (!aggregates.length) return undefined;
      const p = rng.pick(aggregates);
      const swappable = p.measures.filter((x) => SAME_STATE_SWAP[x.call] !== undefined);
      if (!swappable.length) return undefined;
      const m = rng.pick(swappable);
      const call = SAME_STATE_SWAP[m.call] as string;
      return done({ ...p, measures: p.measures.map((x) => (x.name === m.name ? { ...x, call } : x)) }, `measure ${p.name}.${m.name} from ${m.call} to ${call} (same state type)`);
    }
    case 'retype_measure': {
      if (!aggregates.length) return undefined;
      const p = rng.pick(aggregates);
      const names = new Set(p.columns.map((c) => c.name));
      const m = rng.pick(p.measures);
      const options = MEASURES.filter((x) => x.call !== m.call && x.needs.every((n) => names.has(n)) && x.call !== SAME_STATE_SWAP[m.call]).filter(summable(p));
      if (!options.length) return undefined;
      const call = rng.pick(options).call;
      return done({ ...p, measures: p.measures.map((x) => (x.name === m.name ? { ...x, call } : x)) }, `measure ${p.name}.${m.name} from ${m.call} to ${call}`);
    }
    case 'by_keys': {
      if (!aggregates.length) return undefined;
      const p = rng.pick(aggregates);
      const names = new Set(p.columns.map((c) => c.name));
      const taken = new Set([...p.measures.map((m) => m.name), ...p.by.map((b) => b.name)]);
      const add = KEYS.filter((k) => !taken.has(k.name) && k.needs.every((n) => names.has(n)));
      const by = p.by.length > 1 && (rng.chance(0.5) || !add.length) ? p.by.slice(0, -1) : add.length ? [...p.by, (({ name, expr }) => ({ name, expr }))(rng.pick(add))] : undefined;
      if (!by) return undefined;
      return done({ ...p, by }, `by keys of ${p.name} from [${p.by.map((b) => b.name).join(', ')}] to [${by.map((b) => b.name).join(', ')}]`);
    }
    case 'add_pipeline': {
      const taken = new Set(base.pipelines.map((p) => p.name));
      const name = rng.pick(NAMES.filter((n) => !taken.has(n)));
      const kind2 = ingests.length && rng.chance(0.3) ? 'publish' : rng.chance(0.6) ? 'ingest' : 'aggregate';
      const next = kind2 === 'publish' ? drawPublish(rng, `${name.replace(/-/g, '_')}_out`, rng.pick(ingests)) : kind2 === 'ingest' ? drawIngest(rng, name) : drawAggregate(rng, name);
      if (taken.has(next.name)) return undefined;
      return { project: { ...base, pipelines: [...base.pipelines, next] }, change: { kind, pipeline: next.name, summary: `add ${next.kind} pipeline ${next.name}`, renames: noRenames } };
    }
    case 'remove_pipeline': {
      const removable = base.pipelines.filter((p) => !publishes.some((q) => q.from === p.name));
      if (base.pipelines.length < 2 || !removable.length) return undefined;
      const p = rng.pick(removable);
      return { project: { ...base, pipelines: base.pipelines.filter((x) => x.name !== p.name) }, change: { kind, pipeline: p.name, summary: `remove ${p.kind} pipeline ${p.name}`, renames: noRenames } };
    }
    case 'publish_where': {
      if (!publishes.length) return undefined;
      const p = rng.pick(publishes);
      const where = rng.pick([undefined, 'id % 2 = 0', 'id > 5'].filter((w) => w !== p.where));
      const { where: _drop, ...rest } = p;
      return done(where === undefined ? rest : { ...rest, where }, `publish where of ${p.name} from ${p.where ?? 'none'} to ${where ?? 'none'}`);
    }
    case 'publish_columns': {
      if (!publishes.length) return undefined;
      const p = rng.pick(publishes);
      const columns = p.columns && p.columns.length > 2 ? p.columns.slice(0, 2) : p.columns ? undefined : ['id', 'ts'];
      const { columns: _drop, ...rest } = p;
      return done(columns === undefined ? rest : { ...rest, columns }, `publish columns of ${p.name} from ${p.columns ? `[${p.columns.join(', ')}]` : 'all'} to ${columns ? `[${columns.join(', ')}]` : 'all'}`);
    }
    case 'publish_format': {
      if (!publishes.length) return undefined;
      const p = rng.pick(publishes);
      const format = p.format === 'CSV' ? 'JSONEachRow' : 'CSV';
      return done({ ...p, format }, `publish format of ${p.name} from ${p.format} to ${format}`);
    }
    case 'publish_topic': {
      if (!publishes.length) return undefined;
      const p = rng.pick(publishes);
      const topic = `${p.topic}_v2`;
      return done({ ...p, topic }, `publish topic of ${p.name} from ${p.topic} to ${topic}`);
    }
    case 'description': {
      const p = rng.pick(base.pipelines);
      const description = p.description === undefined ? `${p.name} (described)` : `${p.description}, revised`;
      return done({ ...p, description }, `description of ${p.name} becomes "${description}"`);
    }
    case 'column_comment': {
      if (!ingests.length) return undefined; // an aggregate stores no column of its own to comment
      const p = rng.pick(ingests);
      const c = rng.pick(p.columns);
      const comment = c.comment === undefined ? `the ${c.name}` : `${c.comment}!`;
      return done({ ...p, columns: p.columns.map((x) => (x.name === c.name ? { ...x, comment } : x)) }, `comment of ${p.name}.${c.name} becomes "${comment}"`);
    }
  }
}

/** Consecutive seeds share their base project in groups of this size (so a test can plan each base once). */
export const SEEDS_PER_BASE = 3;

/**
 * The case of a seed: a base project and one change. The kind is
 * `CHANGE_KINDS[seed % CHANGE_KINDS.length]`, so any run of consecutive seeds
 * covers every kind. The base is drawn from `floor(seed / SEEDS_PER_BASE)`, so
 * neighbouring seeds share it; the change is drawn from the seed itself. When
 * the base has nothing the kind applies to (no aggregate for a measure
 * change, …), the next base of the same sequence is drawn, and after a few
 * tries the next kind.
 */
export function generateCase(seed: number): Case {
  const drawn = CHANGE_KINDS[seed % CHANGE_KINDS.length] as ChangeKind;
  for (let k = 0; k < CHANGE_KINDS.length; k++) {
    const kind = CHANGE_KINDS[(seed + k) % CHANGE_KINDS.length] as ChangeKind;
    const bases = new Rng(Math.floor(seed / SEEDS_PER_BASE) * 2654435761 + 17);
    for (let attempt = 0; attempt < 16; attempt++) {
      const base = drawProject(bases);
      const applied = applyChange(new Rng(seed * 40503 + attempt * 7919 + k * 104729), base, kind);
      if (applied && renderDiff(base, applied.project).length) return { seed, base, changed: applied.project, change: applied.change, drawn };
    }
  }
  throw new Error(`seed ${seed}: no change applies`);
}

// ─── Rendering ───────────────────────────────────────────────────────────────

function yamlString(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(s) ? s : JSON.stringify(s);
}

function yamlScalar(v: string | number): string {
  return typeof v === 'number' ? String(v) : yamlString(v);
}

function renderSettings(settings: Readonly<Record<string, string | number>>, indent: string): string[] {
  const keys = Object.keys(settings);
  if (!keys.length) return [];
  return [`${indent}settings:`, ...keys.map((k) => `${indent}  ${k}: ${yamlScalar(settings[k] as string | number)}`)];
}

function renderColumn(c: ColumnDraft): string {
  if (c.from === undefined && c.expr === undefined && c.path === undefined && c.comment === undefined && c.renamedFrom === undefined) return `  ${c.name}: ${yamlString(c.type)}`;
  const parts = [`type: ${yamlString(c.type)}`];
  if (c.from !== undefined) parts.push(`from: ${c.from}`);
  if (c.path !== undefined) parts.push(`path: ${yamlString(c.path)}`);
  if (c.expr !== undefined) parts.push(`expr: ${JSON.stringify(c.expr)}`);
  if (c.comment !== undefined) parts.push(`comment: ${JSON.stringify(c.comment)}`);
  if (c.renamedFrom !== undefined) parts.push(`renamed_from: ${c.renamedFrom}`);
  return `  ${c.name}: { ${parts.join(', ')} }`;
}

function renderSource(s: SourceDraft): string[] {
  return [
    'source:',
    s.topics.length === 1 ? `  topic: ${s.topics[0]}` : `  topics: [${s.topics.join(', ')}]`,
    ...(s.fields ? ['  fields:', ...s.fields.map((f) => `    ${f.name}: ${yamlString(f.type)}`)] : []),
    `  format: ${s.format}`,
    ...(s.group !== undefined ? [`  group: ${s.group}`] : []),
    ...(s.consumers !== undefined ? [`  consumers: ${s.consumers}`] : []),
    ...(s.onError !== undefined ? [`  on_error: ${s.onError}`] : []),
    ...(s.brokers !== undefined ? [`  brokers: ${yamlString(s.brokers)}`] : []),
    ...renderSettings(s.settings, '  '),
  ];
}

export function renderPipeline(p: PipelineDraft): string {
  const lines = [`name: ${p.name}`, ...(p.description !== undefined ? [`description: ${JSON.stringify(p.description)}`] : [])];
  if (p.kind === 'publish') {
    lines.push(
      'publish:',
      `  from: ${p.from}`,
      ...(p.where !== undefined ? [`  where: ${JSON.stringify(p.where)}`] : []),
      ...(p.columns !== undefined ? [`  columns: [${p.columns.join(', ')}]`] : []),
      `  topic: ${p.topic}`,
      `  format: ${p.format}`,
    );
    return lines.join('\n') + '\n';
  }
  lines.push(...renderSource(p.source), ...(p.kind === 'ingest' && p.explode !== undefined ? [`explode: ${p.explode}`] : []), 'columns:', ...p.columns.map(renderColumn));
  if (p.filter !== undefined) lines.push(`filter: ${JSON.stringify(p.filter)}`);
  if (p.kind === 'ingest') {
    lines.push(
      'table:',
      `  order_by: [${p.orderBy.join(', ')}]`,
      ...(p.partitionBy !== undefined ? [`  partition_by: ${JSON.stringify(p.partitionBy)}`] : []),
      ...(p.ttl !== undefined ? [`  ttl: ${JSON.stringify(p.ttl)}`] : []),
      ...(p.engine !== undefined ? [`  engine: ${p.engine}`] : []),
      ...renderSettings(p.tableSettings, '  '),
    );
  } else {
    lines.push('aggregate:', ...(p.engine !== undefined ? [`  engine: ${p.engine}`] : []), '  by:', ...p.by.map((b) => `    ${b.name}: ${JSON.stringify(b.expr)}`), '  measures:', ...p.measures.map((m) => `    ${m.name}: ${JSON.stringify(m.call)}`));
    const table = [...(p.ttl !== undefined ? [`  ttl: ${JSON.stringify(p.ttl)}`] : []), ...renderSettings(p.tableSettings, '  ')];
    if (table.length) lines.push('table:', ...table);
  }
  return lines.join('\n') + '\n';
}

export function renderProjectFile(d: ProjectDraft): string {
  return `version: 1\ndatabase: ${d.database}\nkafka:\n  brokers: ${yamlString(d.brokers)}\n`;
}

/** `schemas/NAME.yaml` → text, one file per pipeline. */
export function renderSchemas(d: ProjectDraft): Record<string, string> {
  return Object.fromEntries(d.pipelines.map((p) => [`schemas/${p.name}.yaml`, renderPipeline(p)]));
}

/** The whole project as one text, for failure messages. */
export function renderProjectText(d: ProjectDraft): string {
  return [`# chpipe.yaml\n${renderProjectFile(d)}`, ...Object.entries(renderSchemas(d)).map(([path, text]) => `# ${path}\n${text}`)].join('\n');
}

/** A minimal line diff between two renderings: only the files and lines that differ. */
export function renderDiff(a: ProjectDraft, b: ProjectDraft): string {
  const before = { 'chpipe.yaml': renderProjectFile(a), ...renderSchemas(a) } as Record<string, string>;
  const after = { 'chpipe.yaml': renderProjectFile(b), ...renderSchemas(b) } as Record<string, string>;
  const out: string[] = [];
  for (const path of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const x = before[path];
    const y = after[path];
    if (x === y) continue;
    if (x === undefined) out.push(`+++ ${path} (new)`, ...(y as string).trimEnd().split('\n').map((l) => `+ ${l}`));
    else if (y === undefined) out.push(`--- ${path} (removed)`, ...x.trimEnd().split('\n').map((l) => `- ${l}`));
    else out.push(`~~~ ${path}`, ...lineDiff(x.trimEnd().split('\n'), y.trimEnd().split('\n')));
  }
  return out.join('\n');
}

/** LCS line diff: `- old` / `+ new`, unchanged lines left out except the pipeline name for orientation. */
function lineDiff(a: readonly string[], b: readonly string[]): string[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) (lcs[i] as number[])[j] = a[i] === b[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, lcs[i]?.[j + 1] ?? 0);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < m && (i >= n || (lcs[i]?.[j + 1] ?? 0) >= (lcs[i + 1]?.[j] ?? 0))) out.push(`+ ${b[j++] as string}`);
    else out.push(`- ${a[i++] as string}`);
  }
  return out;
}

// ─── Messages ────────────────────────────────────────────────────────────────

/** One Kafka message: its fields (by field name) and the virtual columns the engine adds. */
export type Message = Readonly<Record<string, unknown>>;

/**
 * A value of the given type for row `i`, deterministic. Dates span 2019–2031; the TTLs drawn
 * (50 and 60 years: DateTime ends in 2106) expire none of them, because background TTL merges would make row counts
 * depend on timing.
 */
function fieldValue(rng: Rng, column: string, type: string, i: number): unknown {
  switch (column) {
    case 'id':
      return i + 1;
    case 'ts':
      return `20${19 + (i % 13)}-0${1 + (i % 9)}-1${i % 10} 1${i % 10}:${10 + (i % 50)}:0${i % 10}`;
    case 'day':
      return `20${19 + (i % 13)}-0${1 + (i % 9)}-2${i % 9}`;
    case 'user_id':
      return 2_147_483_000 + rng.int(0, 2000); // crosses Int32's maximum
    case 'amount':
      return rng.int(0, 4000) / 4; // quarters: exact in Float32
    case 'score':
      return rng.int(-400, 400) / 8;
    case 'qty':
      return rng.int(-150, 150); // negatives and values outside Int8
    case 'ok':
      return rng.int(0, 3); // 2 and 3 are not Bool
    case 'code':
      return rng.int(0, 60000);
    case 'country':
    case 'region':
    case 'label':
      return rng.pick(['de', 'fr', 'us', 'jp', 'br', '']);
    case 'price':
      return rng.int(0, 99999) / 100;
    case 'hits':
      return rng.int(0, 1000);
    case 'level':
      return rng.pick(['info', 'warn', 'error', 'debug']);
    case 'unit':
      return rng.pick(['Wh', 'kWh']);
    case 'reading':
      return rng.int(0, 8000) / 8; // eighths: exact in Float32
    case 'customer':
      return { id: 1000 + rng.int(0, 50), country: rng.pick(['de', 'fr', 'us']) };
    case 'items':
      return Array.from({ length: 1 + (i % 3) }, (_, k) => ({ sku: `sku${(i + k) % 5}`, qty: k + 1 }));
    default:
      return /Int|Float|Decimal/.test(type) ? rng.int(0, 100) : `v${i}`;
  }
}

/**
 * `count` messages for a consuming pipeline, with every field any version of
 * it may read (`fields`: name → type) and the virtual columns. With
 * `broken > 0`, that many extra messages carry `_error` (stream mode only).
 */
export function messagesFor(seed: number, pipeline: string, fields: ReadonlyMap<string, string>, count: number, broken = 0): Message[] {
  let h = seed;
  for (const ch of pipeline) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  const rng = new Rng(h);
  const out: Message[] = [];
  for (let i = 0; i < count + broken; i++) {
    const m: Record<string, unknown> = {};
    for (const [name, type] of fields) m[name] = fieldValue(rng, name, type, i);
    m._topic = `${pipeline}_in`;
    m._key = `k${i % 5}`;
    m._offset = 1000 + i;
    m._partition = i % 3;
    m._timestamp = `2030-01-0${1 + (i % 9)} 00:00:0${i % 10}`;
    m._timestamp_ms = `2030-01-0${1 + (i % 9)} 00:00:0${i % 10}.${100 + i}`;
    m['_headers.name'] = [];
    m['_headers.value'] = [];
    m._raw_message = i >= count ? `{"broken":${i}` : '';
    m._error = i >= count ? `Cannot parse input: message ${i}` : '';
    out.push(m);
  }
  return out;
}

/** The fields the plain columns read (a renamed column keeps its old field name). */
function messageFieldsOfColumns(p: IngestDraft | AggregateDraft): Map<string, string> {
  return new Map(p.columns.filter(isPlain).map((c) => [c.renamedFrom ?? c.name, c.type]));
}

/** The message fields of a pipeline draft: `source.fields` when declared, else its plain columns'. */
export function messageFields(p: IngestDraft | AggregateDraft): Map<string, string> {
  return p.source.fields ? new Map(p.source.fields.map((f) => [f.name, f.type])) : messageFieldsOfColumns(p);
}
