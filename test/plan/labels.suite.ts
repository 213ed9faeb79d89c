/**
 * Risk labels proved by a randomized test (issue 6, "Labels proved by a
 * randomized test").
 *
 * Each case (one seed, see test/helpers/generator.ts) is a base project and
 * one change. The base migration and the plan of the change are computed in
 * process (`computePlan`). The base is then built on the scratch engine, and
 * every consuming pipeline receives generated messages: they are inserted
 * into the queue's stand-in (the scratch engine never consumes from Kafka; its
 * queues are Null tables with the Kafka columns), so the real materialized
 * views fill every table: ingest tables, `_state` tables, errors tables. Every
 * MergeTree table is snapshot (all rows, all columns, each value in a
 * canonical text: numbers as Float64, dates as DateTime64, aggregate states
 * finalized), the plan's steps run one by one with a snapshot after each, and
 * each step is judged by its label:
 *
 *   safe         no stored value of a pre-existing row changes, no row appears
 *                or disappears, no column type changes; a new column holds its
 *                default, a renamed column keeps its values under the new name.
 *   caution      the same, except that a column whose type changes may do so
 *                when the reason names it (with every value kept: a lossy
 *                conversion is a rewrite of data, which only `destructive` may do).
 *   destructive  anything.
 *
 * Meaning changes that leave stored rows alone must be named by a non-safe
 * step of the plan (a caution step whose reason names it, or a destructive
 * step of that pipeline):
 *   - Kafka side, each queue before vs after the whole plan (read back with
 *     `scratch.inspect`): consumer group, topics, format, brokers, settings that
 *     change how messages are parsed or skipped, and the message fields: a field
 *     no longer read or read into another type (new fields are fine);
 *   - flows: the same messages are pushed through the final flows into the
 *     emptied tables; what they store must equal what the base flows stored
 *     (rows, and values of the columns both versions have);
 *   - aggregates: a new measure on a state table that already has groups
 *     (existing groups show it over new data only).
 *
 * A case fails on any violation, and on any diagnostic of the plan
 * (`plan-unverified` is a planner bug found). The message gives the seed, the
 * base YAML, the change as a YAML diff, and the offending step. Reproduce one
 * case with `CHPIPE_SEED=N npx vitest run test/plan/labels.random.test.ts` (it also prints the
 * case and its plan when it passes); run more cases with `CHPIPE_LABEL_CASES=N`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memo } from '../../src/check/memo.js';
import { Scratch } from '../../src/check/scratch.js';
import { EngineError } from '../../src/engine/driver.js';
import { modelHash, renderMigration, type MigrationFile } from '../../src/migrate/files.js';
import { computePlan, type PlanResult } from '../../src/migrate/planner.js';
import type { Step } from '../../src/plan/plan.js';
import { parseProject } from '../../src/spec/parse.js';
import type { ProjectSpec } from '../../src/spec/types.js';
import { backquote, qualified, stringLiteral } from '../../src/sql/quote.js';
import {
  CHANGE_KINDS,
  generateCase,
  messageFields,
  messagesFor,
  renderDiff,
  renderProjectFile,
  renderProjectText,
  renderSchemas,
  type Case,
  type ChangeKind,
  type PipelineDraft,
  type ProjectDraft,
} from '../helpers/generator.js';

const FIRST_SEED = 1;
const CASES = Number(process.env.CHPIPE_LABEL_CASES ?? 200); // ≥ 200 per run: every kind 6 or 7 times
const ALL_SEEDS = Array.from({ length: CASES }, (_, i) => FIRST_SEED + i);
/** Good messages per consuming pipeline, and broken ones (stream mode only). */
const MESSAGES = 12;
const BROKEN = 3;
const CAPTURE_DB = '_labels_capture';

/** Kafka settings that tune throughput only: changing them changes nothing a message means. */
const TUNING_SETTINGS = new Set(['kafka_max_block_size', 'kafka_poll_timeout_ms', 'kafka_flush_interval_ms', 'kafka_poll_max_batch_size', 'kafka_num_consumers', 'kafka_thread_per_consumer', 'kafka_client_id']);

// ─── Snapshots ───────────────────────────────────────────────────────────────

interface TableSnapshot {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  /** Canonical text of each value (null for NULL), row by row, rows sorted. */
  readonly rows: readonly (readonly (string | null)[])[];
}
type Snapshot = ReadonlyMap<string, TableSnapshot>;

function unwrap(type: string, wrapper: string): string | undefined {
  return type.startsWith(`${wrapper}(`) && type.endsWith(')') ? type.slice(wrapper.length + 1, -1) : undefined;
}

/** The canonical text of a value: equal for the same value under another type (5 as Int32, Int64, Float64, '5'). */
function canonical(expr: string, type: string): string {
  const inner = unwrap(type, 'Nullable') ?? unwrap(type, 'LowCardinality');
  if (inner !== undefined) return canonical(expr, inner);
  if (type.startsWith('AggregateFunction(')) return `toString(finalizeAggregation(${expr}))`;
  const simple = unwrap(type, 'SimpleAggregateFunction');
  if (simple !== undefined) return canonical(expr, simple.slice(simple.indexOf(',') + 1).trim());
  if (/^(U?Int\d+|Float\d+|Decimal|Bool)/.test(type)) return `toString(toFloat64(${expr}))`;
  if (/^(Date|DateTime)/.test(type)) return `toString(toDateTime64(${expr}, 3))`;
  return `toString(${expr})`;
}

const compareRows = (a: readonly (string | null)[], b: readonly (string | null)[]) => {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Every MergeTree table of `database`, in two queries whatever the number of tables. */
async function snapshot(scratch: Scratch, database: string): Promise<Snapshot> {
  const columns = await scratch.driver.query<{ table: string; name: string; type: string }>(
    `SELECT c.table AS table, c.name AS name, c.type AS type FROM system.columns AS c INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table WHERE c.database = ${stringLiteral(database)} AND t.engine LIKE '%MergeTree' ORDER BY c.table, c.position`,
  );
  const byTable = new Map<string, { name: string; type: string }[]>();
  for (const c of columns) byTable.set(c.table, [...(byTable.get(c.table) ?? []), { name: c.name, type: c.type }]);
  const out = new Map<string, { columns: { name: string; type: string }[]; rows: (string | null)[][] }>();
  const selects: string[] = [];
  for (const [table, cols] of byTable) {
    out.set(table, { columns: cols, rows: [] });
    const values = cols.map((c) => `CAST(${canonical(backquote(c.name), c.type)} AS Nullable(String))`).join(', ');
    selects.push(`SELECT ${stringLiteral(table)} AS t, [${values}] AS v FROM ${qualified(database, table)}`);
  }
  if (selects.length) {
    for (const r of await scratch.driver.query<{ t: string; v: (string | null)[] }>(selects.join('\nUNION ALL\n'))) out.get(r.t)?.rows.push(r.v);
  }
  for (const t of out.values()) t.rows.sort(compareRows);
  return out;
}

// ─── Effects: what changed between two snapshots of a table ─────────────────

type Effect =
  | { readonly kind: 'rowsLost'; readonly table: string; readonly count: number }
  | { readonly kind: 'rowsAdded'; readonly table: string; readonly count: number }
  | { readonly kind: 'valuesChanged'; readonly table: string; readonly columns: readonly string[]; readonly example: string }
  | { readonly kind: 'columnDropped'; readonly table: string; readonly column: string }
  | { readonly kind: 'columnAdded'; readonly table: string; readonly column: string; readonly type: string; readonly defaults: boolean }
  | { readonly kind: 'typeChanged'; readonly table: string; readonly column: string; readonly from: string; readonly to: string }
  | { readonly kind: 'tableDropped'; readonly table: string; readonly rows: number }
  | { readonly kind: 'tableCreated'; readonly table: string; readonly rows: number };

function describeEffect(e: Effect): string {
  switch (e.kind) {
    case 'rowsLost':
      return `${e.count} row(s) of ${e.table} disappeared`;
    case 'rowsAdded':
      return `${e.count} row(s) appeared in ${e.table}`;
    case 'valuesChanged':
      return `values of ${e.table}.(${e.columns.join(', ')}) changed, e.g. ${e.example}`;
    case 'columnDropped':
      return `column ${e.table}.${e.column} and its values were dropped`;
    case 'columnAdded':
      return `column ${e.table}.${e.column} ${e.type} was added${e.defaults ? ' (existing rows hold its default)' : ' with values other than its default'}`;
    case 'typeChanged':
      return `column ${e.table}.${e.column} changed type from ${e.from} to ${e.to}`;
    case 'tableDropped':
      return `table ${e.table} was dropped with ${e.rows} row(s)`;
    case 'tableCreated':
      return `table ${e.table} was created with ${e.rows} row(s)`;
  }
}

/** Multiset difference a − b (both sorted). */
function minus(a: readonly (readonly (string | null)[])[], b: readonly (readonly (string | null)[])[]): (readonly (string | null)[])[] {
  const counts = new Map<string, number>();
  for (const r of b) counts.set(JSON.stringify(r), (counts.get(JSON.stringify(r)) ?? 0) + 1);
  return a.filter((r) => {
    const k = JSON.stringify(r);
    const n = counts.get(k) ?? 0;
    if (n > 0) {
      counts.set(k, n - 1);
      return false;
    }
    return true;
  });
}

const defaults = new Map<string, string | null>();

/** The canonical text of a type's default value (what a new column holds in existing rows). */
async function defaultOf(scratch: Scratch, type: string): Promise<string | null> {
  if (!defaults.has(type)) {
    const rows = await scratch.driver.query<{ d: string | null }>(`SELECT ${canonical(`defaultValueOfTypeName(${stringLiteral(type)})`, type)} AS d`);
    defaults.set(type, rows[0]?.d ?? null);
  }
  return defaults.get(type) ?? null;
}

/**
 * What changed in one table. `renames`: new column name → old one. `ignore`:
 * columns not compared (values computed from the clock).
 */
async function tableEffects(scratch: Scratch, table: string, before: TableSnapshot, after: TableSnapshot, renames: ReadonlyMap<string, string>, ignore: ReadonlySet<string> = new Set()): Promise<Effect[]> {
  const effects: Effect[] = [];
  const beforeIndex = new Map(before.columns.map((c, i) => [c.name, i]));
  const kept: { name: string; from: number; to: number }[] = [];
  const used = new Set<string>();
  for (const [i, c] of after.columns.entries()) {
    if (ignore.has(c.name)) continue;
    const source = beforeIndex.has(c.name) ? c.name : renames.get(c.name);
    const from = source !== undefined ? beforeIndex.get(source) : undefined;
    if (source !== undefined && from !== undefined) {
      kept.push({ name: c.name, from, to: i });
      used.add(source);
      const old = before.columns[from] as { type: string };
      if (old.type !== c.type) effects.push({ kind: 'typeChanged', table, column: c.name, from: old.type, to: c.type });
      continue;
    }
    // A new column: does every row hold the type's default?
    const d = await defaultOf(scratch, c.type);
    effects.push({ kind: 'columnAdded', table, column: c.name, type: c.type, defaults: after.rows.every((r) => r[i] === d) });
  }
  if (before.rows.length) for (const c of before.columns) if (!used.has(c.name) && !ignore.has(c.name)) effects.push({ kind: 'columnDropped', table, column: c.name });
  const project = (rows: readonly (readonly (string | null)[])[], side: 'from' | 'to') => rows.map((r) => kept.map((k) => r[k[side]] ?? null)).sort(compareRows);
  const x = project(before.rows, 'from');
  const y = project(after.rows, 'to');
  if (x.length > y.length) effects.push({ kind: 'rowsLost', table, count: x.length - y.length });
  else if (y.length > x.length) effects.push({ kind: 'rowsAdded', table, count: y.length - x.length });
  else {
    const gone = minus(x, y);
    if (gone.length) {
      const columns = kept.filter((_, j) => {
        const a = x.map((r) => r[j] ?? null).sort();
        const b = y.map((r) => r[j] ?? null).sort();
        return JSON.stringify(a) !== JSON.stringify(b);
      });
      const came = minus(y, x);
      const show = (r: readonly (string | null)[]) => `{${kept.map((k, j) => `${k.name}: ${JSON.stringify(r[j])}`).join(', ')}}`;
      effects.push({ kind: 'valuesChanged', table, columns: columns.length ? columns.map((c) => c.name) : ['(which values belong to which row)'], example: `${show(gone[0] as (string | null)[])} became ${show(came[0] as (string | null)[])}` });
    }
  }
  return effects;
}

async function snapshotEffects(scratch: Scratch, before: Snapshot, after: Snapshot, renames: ReadonlyMap<string, ReadonlyMap<string, string>>): Promise<Effect[]> {
  const effects: Effect[] = [];
  for (const [table, b] of before) {
    const a = after.get(table);
    if (!a) {
      effects.push({ kind: 'tableDropped', table, rows: b.rows.length });
      continue;
    }
    effects.push(...(await tableEffects(scratch, table, b, a, renames.get(table) ?? new Map())));
  }
  for (const [table, a] of after) if (!before.has(table)) effects.push({ kind: 'tableCreated', table, rows: a.rows.length });
  return effects;
}

// ─── Judging a step ──────────────────────────────────────────────────────────

/** Does the reason name `word` (as a word of its own, a plural allowed: "broker" in "brokers change")? */
const mentions = (reason: string, word: string) => word !== '' && new RegExp(`(^|[^A-Za-z0-9_])${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}s?([^A-Za-z0-9_]|$)`, 'i').test(reason);

const isAggregateState = (type: string) => type.startsWith('AggregateFunction(') || type.startsWith('SimpleAggregateFunction(');

/** The effects a step may not have under its label (with why). */
function stepViolations(step: Step, effects: readonly Effect[]): string[] {
  if (step.risk === 'destructive') return [];
  const out: string[] = [];
  for (const e of effects) {
    switch (e.kind) {
      case 'columnAdded':
        if (!e.defaults) out.push(describeEffect(e));
        break;
      case 'tableCreated':
        if (e.rows > 0) out.push(describeEffect(e));
        break;
      case 'tableDropped':
        if (e.rows > 0) out.push(describeEffect(e));
        break;
      case 'columnDropped':
      case 'rowsLost':
      case 'rowsAdded':
      case 'valuesChanged':
        out.push(`${describeEffect(e)}: only a destructive step may drop or rewrite data`);
        break;
      case 'typeChanged':
        if (step.risk === 'safe') out.push(`${describeEffect(e)} in a safe step`);
        else if (!mentions(step.reason, e.column)) out.push(`${describeEffect(e)}, which the caution reason does not name`);
        break;
    }
  }
  return out;
}

// ─── Meaning: Kafka side and flows ───────────────────────────────────────────

/** A meaning change and the words a non-safe step's reason may use to name it. */
interface MeaningChange {
  readonly pipeline: string;
  readonly what: string;
  readonly words: readonly string[];
}

/** Properties of a Kafka table that carry meaning, flattened: `group`, `topics`, `format`, `brokers`, `setting:NAME`. */
function queueProperties(o: Record<string, unknown>): Map<string, string> {
  const props = new Map<string, string>();
  const put = (key: string, value: unknown) => {
    if (value === undefined) return;
    const k = /group/.test(key) ? 'group' : /topic/.test(key) ? 'topics' : key === 'format' || key === 'kafka_format' ? 'format' : /broker|namedCollection/.test(key) ? 'brokers' : `setting:${key}`;
    const v = Array.isArray(value) ? value.join(',') : String(value);
    props.set(k, props.has(k) ? `${props.get(k) as string};${v}` : v);
  };
  for (const [key, value] of Object.entries(o)) {
    if (['kind', 'name', 'comment', 'owner', 'columns'].includes(key)) continue;
    if (key === 'settings' && value && typeof value === 'object') for (const [k, v] of Object.entries(value as Record<string, unknown>)) put(k, v);
    else put(key, value);
  }
  return props;
}

function kafkaMeaningChanges(before: readonly Record<string, unknown>[], after: readonly Record<string, unknown>[], pipelineOf: (queue: string) => string, producers: ReadonlySet<string>, storedFields: (pipeline: string) => ReadonlySet<string>): MeaningChange[] {
  const out: MeaningChange[] = [];
  const afterByName = new Map(after.map((o) => [String(o.name), o]));
  for (const b of before) {
    const name = String(b.name);
    const a = afterByName.get(name);
    if (!a) continue; // a removed queue: its pipeline's removal is destructive, judged by its steps
    const pipeline = pipelineOf(name);
    const pb = queueProperties(b);
    const pa = queueProperties(a);
    for (const key of new Set([...pb.keys(), ...pa.keys()])) {
      if (pb.get(key) === pa.get(key)) continue;
      const setting = key.startsWith('setting:') ? key.slice('setting:'.length) : undefined;
      if (setting !== undefined && TUNING_SETTINGS.has(setting)) continue;
      // Streaming broken messages to NAME_errors instead of stalling loses and skips nothing.
      if (setting === 'kafka_handle_error_mode' && pb.get(key) === undefined && pa.get(key) === 'stream') continue;
      // A reason names the change by its key or by the values it changes between.
      const values = [pb.get(key), pa.get(key)].flatMap((v) => (v === undefined ? [] : v.split(/[,;]/)));
      const words = [...(setting === undefined ? [key === 'topics' ? 'topic' : key === 'brokers' ? 'broker' : key] : [setting, ...(/skip_broken|handle_error/.test(setting) ? ['on_error'] : [])]), ...values];
      out.push({ pipeline, what: `queue ${name}: ${setting ?? key} changes from ${pb.get(key) ?? '(unset)'} to ${pa.get(key) ?? '(unset)'}`, words });
    }
    const fb = new Map(((b.columns as { name: string; type: string }[] | undefined) ?? []).map((c) => [c.name, c.type]));
    const fa = new Map(((a.columns as { name: string; type: string }[] | undefined) ?? []).map((c) => [c.name, c.type]));
    const side = producers.has(name) ? 'published' : 'parsed';
    for (const [field, type] of fb) {
      const now = fa.get(field);
      // A field that fed no stored column (an aggregate's unused column) changes nothing when it is no longer read.
      if (now === undefined && !side.startsWith('pub') && !storedFields(pipeline).has(field)) continue;
      if (now === undefined) out.push({ pipeline, what: `queue ${name}: message field ${field} is no longer ${side}`, words: [field] });
      else if (now !== type) out.push({ pipeline, what: `queue ${name}: message field ${field} is ${side} as ${now}, not ${type}`, words: [field] });
    }
  }
  return out;
}

/** The pipeline whose non-safe steps may name a change of `pipeline`: itself, and for a publish pipeline its source. */
function coveredBy(plan: readonly Step[], pipelines: readonly string[], words: readonly string[]): Step | undefined {
  return plan.find((s) => s.risk !== 'safe' && s.pipeline !== undefined && pipelines.includes(s.pipeline) && (s.risk === 'destructive' || words.some((w) => mentions(s.reason, w))));
}

// ─── One case ────────────────────────────────────────────────────────────────

function parse(d: ProjectDraft): { spec?: ProjectSpec; problems: string[] } {
  const files = Object.entries(renderSchemas(d)).map(([path, text]) => ({ path, text }));
  const parsed = parseProject({ path: 'chpipe.yaml', text: renderProjectFile(d) }, files, {});
  return { ...(parsed.project ? { spec: parsed.project } : {}), problems: parsed.diagnostics.map((x) => `${x.file}:${x.line}:${x.col}: ${x.code}: ${x.message}`) };
}

const diagnosticsOf = (r: PlanResult) => r.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.code}: ${d.message}`);

function stepLine(s: Step, i: number, n: number): string {
  return `step ${i + 1}/${n} · ${s.action} · ${s.risk} · ${s.object}\n    reason: ${s.reason}\n    sql: ${s.sql.replace(/\n/g, '\n         ')}`;
}

interface Outcome {
  readonly violations: readonly string[];
  readonly steps: readonly Step[];
}

/** Change kinds whose plan must name something (data dropped or rewritten, a meaning change): all-safe is wrong. */
const NEVER_ALL_SAFE: readonly ChangeKind[] = ['drop_column', 'retype_column', 'order_by', 'engine', 'format', 'group', 'topics', 'filter', 'expr', 'add_measure', 'change_measure', 'drop_measure', 'remove_pipeline', 'publish_where', 'by_keys', 'field_filter', 'aggregate_engine', 'path', 'explode'];

/** Each consuming pipeline's messages: the fields any version of it reads, the same for both rounds. */
function messagesOf(c: Case, p: PipelineDraft, stream: boolean): string {
  const fields = new Map<string, string>();
  for (const d of [c.base, c.changed]) {
    const q = d.pipelines.find((x) => x.name === p.name);
    if (q && q.kind !== 'publish') for (const [f, t] of messageFields(q)) if (!fields.has(f)) fields.set(f, t);
  }
  const all = messagesFor(c.seed, p.name, fields, MESSAGES, BROKEN);
  const chosen = stream ? all : all.slice(0, MESSAGES);
  return chosen.map((m) => JSON.stringify(m)).join('\n');
}

/** Push each consuming pipeline's messages through its queue (the stand-in), so the flows fill the tables. */
async function feed(scratch: Scratch, c: Case, d: ProjectDraft): Promise<string[]> {
  const problems: string[] = [];
  for (const p of d.pipelines) {
    if (p.kind === 'publish') continue;
    const queue = qualified(d.database, `${p.name}_queue`);
    try {
      await scratch.driver.exec(`INSERT INTO ${queue} SETTINGS input_format_skip_unknown_fields = 1 FORMAT JSONEachRow\n${messagesOf(c, p, p.source.onError === 'stream')}\n`);
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      problems.push(`messages of ${p.name} could not be pushed through ${queue}: ${e.engineMessage.split('\n')[0] as string}`);
    }
  }
  return problems;
}

/** Capture what each publish flow sends (its queue is a Null stand-in; a view of ours keeps a copy). */
async function startCaptures(scratch: Scratch, d: ProjectDraft, queues: readonly Record<string, unknown>[]): Promise<void> {
  if (!d.pipelines.some((p) => p.kind === 'publish')) return;
  await scratch.driver.exec(`DROP DATABASE IF EXISTS ${backquote(CAPTURE_DB)} SYNC`);
  await scratch.driver.exec(`CREATE DATABASE ${backquote(CAPTURE_DB)} ENGINE = Atomic`);
  for (const p of d.pipelines) {
    if (p.kind !== 'publish') continue;
    const queue = queues.find((q) => q.name === `${p.name}_queue`);
    const columns = (queue?.columns as { name: string; type: string }[] | undefined) ?? [];
    if (!columns.length) continue;
    // A table named after the pipeline (so both rounds compare by name), filled by a view of ours.
    await scratch.driver.exec(`CREATE TABLE ${qualified(CAPTURE_DB, p.name)} (${columns.map((c) => `${backquote(c.name)} ${c.type}`).join(', ')}) ENGINE = MergeTree ORDER BY tuple()`);
    await scratch.driver.exec(`CREATE MATERIALIZED VIEW ${qualified(CAPTURE_DB, `${p.name}_capture`)} TO ${qualified(CAPTURE_DB, p.name)} AS SELECT ${columns.map((c) => backquote(c.name)).join(', ')} FROM ${qualified(d.database, `${p.name}_queue`)}`);
  }
}

async function stopCaptures(scratch: Scratch, d: ProjectDraft): Promise<Snapshot> {
  if (!d.pipelines.some((p) => p.kind === 'publish')) return new Map();
  const captured = await snapshot(scratch, CAPTURE_DB);
  await scratch.driver.exec(`DROP DATABASE IF EXISTS ${backquote(CAPTURE_DB)} SYNC`);
  return captured;
}

async function kafkaTables(scratch: Scratch, database: string): Promise<Record<string, unknown>[]> {
  const model = (await scratch.inspect({ database })).model;
  return model.objects.filter((o) => o.kind === 'kafka').map((o) => o as unknown as Record<string, unknown>);
}

/** The base plan of the last base seen: neighbouring seeds share their base (SEEDS_PER_BASE). */
let lastBase: { text: string; plan: PlanResult } | undefined;

async function planBase(spec: ProjectSpec, text: string, memo: Memo): Promise<PlanResult> {
  if (lastBase?.text !== text) lastBase = { text, plan: await computePlan(spec, [], 'migrations', memo) };
  return lastBase.plan;
}

async function runCase(scratch: Scratch, memo: Memo, c: Case, relabelSafe = false): Promise<Outcome> {
  const violations: string[] = [];
  const base = parse(c.base);
  const changed = parse(c.changed);
  if (!base.spec || base.problems.length) return { violations: [`the generated base does not parse (a generator bug): ${base.problems.join('; ')}`], steps: [] };
  if (!changed.spec || changed.problems.length) return { violations: [`the changed project does not parse (a generator bug): ${changed.problems.join('; ')}`], steps: [] };

  const basePlan = await planBase(base.spec, renderProjectText(c.base), memo);
  if (basePlan.diagnostics.length) return { violations: [`the base cannot be planned: ${diagnosticsOf(basePlan).join('; ')}`], steps: [] };
  const baseFile: MigrationFile = {
    version: '0001',
    name: 'base',
    file: '0001_base.sql',
    text: renderMigration({ version: '0001', name: 'base', chpipeVersion: 'test', before: modelHash(basePlan.migrated!), after: modelHash(basePlan.declared!), steps: basePlan.steps }),
  };
  const planned = await computePlan(changed.spec, [baseFile], 'migrations', memo);
  // The judge's own check: the same plan with every step called safe must be caught.
  const plan = relabelSafe ? { ...planned, steps: planned.steps.map((s) => ({ ...s, risk: 'safe' as const })) } : planned;
  if (plan.diagnostics.length) return { violations: diagnosticsOf(plan).map((d) => `the plan has a diagnostic: ${d}`), steps: plan.steps };
  if (!plan.steps.length) return { violations: ['the change is planned as no steps at all'], steps: [] };

  // The base, with data.
  const database = c.base.database;
  await scratch.reset({ database });
  await scratch.prepare([...basePlan.steps, ...plan.steps].map((s) => s.sql));
  for (const s of basePlan.steps) await scratch.run(s.sql);
  const queuesBefore = await kafkaTables(scratch, database);
  await startCaptures(scratch, c.base, queuesBefore);
  const fed = await feed(scratch, c, c.base);
  if (fed.length) return { violations: fed.map((f) => `base: ${f}`), steps: plan.steps };
  const published1 = await stopCaptures(scratch, c.base);
  const initial = await snapshot(scratch, database);
  for (const [table, t] of initial) {
    const owner = c.base.pipelines.find((p) => table === p.name || table === `${p.name}_state` || (table === `${p.name}_errors` && p.kind !== 'publish' && p.source.onError === 'stream'));
    if (owner && t.rows.length === 0) return { violations: [`the generated messages left ${table} empty (a generator bug)`], steps: plan.steps };
  }

  // The plan, step by step.
  const renames = new Map([...c.change.renames].map(([p, m]) => [p, m] as const));
  let current = initial;
  for (const [i, step] of plan.steps.entries()) {
    try {
      await scratch.run(step.sql);
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      violations.push(`${stepLine(step, i, plan.steps.length)}\n  was refused by ClickHouse on tables holding rows: ${e.engineMessage.split('\n')[0] as string}`);
      return { violations, steps: plan.steps };
    }
    const next = await snapshot(scratch, database);
    const effects = await snapshotEffects(scratch, current, next, renames);
    for (const v of stepViolations(step, effects)) violations.push(`${stepLine(step, i, plan.steps.length)}\n  ${v}`);
    // New measures on a state table that has groups: they show over new data only.
    for (const e of effects) {
      if (e.kind !== 'columnAdded' || !isAggregateState(e.type) || !(current.get(e.table)?.rows.length ?? 0)) continue;
      const pipeline = e.table.replace(/_state$/, '');
      if (!coveredBy(plan.steps, [pipeline], [e.column])) violations.push(`${stepLine(step, i, plan.steps.length)}\n  adds measure ${e.column} to ${e.table}, whose ${current.get(e.table)?.rows.length} existing group(s) will show it over new data only, and no caution or destructive step says so`);
    }
    current = next;
  }

  // Kafka side: every queue before vs after the whole plan.
  const queuesAfter = await kafkaTables(scratch, database);
  const pipelineOfQueue = (queue: string) => queue.replace(/_queue$/, '');
  const producers = new Set(c.changed.pipelines.filter((p) => p.kind === 'publish').map((p) => `${p.name}_queue`));
  const sourcesOf = (pipeline: string) => {
    const p = [...c.changed.pipelines, ...c.base.pipelines].find((x) => x.name === pipeline);
    return p?.kind === 'publish' ? [pipeline, p.from] : [pipeline];
  };
  const storedFields = (pipeline: string) => new Set([pipeline, `${pipeline}_state`].flatMap((t) => initial.get(t)?.columns.map((col) => col.name) ?? []));
  for (const m of kafkaMeaningChanges(queuesBefore, queuesAfter, pipelineOfQueue, producers, storedFields)) {
    if (!coveredBy(plan.steps, sourcesOf(m.pipeline), m.words)) violations.push(`Kafka side: ${m.what}, and no caution or destructive step says so`);
  }

  // Flows: the same messages through the final flows, into emptied tables.
  for (const table of current.keys()) await scratch.driver.exec(`TRUNCATE TABLE ${qualified(database, table)}`);
  await startCaptures(scratch, c.changed, queuesAfter);
  const fed2 = await feed(scratch, c, c.changed);
  const unfed = new Set(fed2.map((f) => /^messages of (\S+)/.exec(f)?.[1] ?? ''));
  const published2 = await stopCaptures(scratch, c.changed);
  const replayed = await snapshot(scratch, database);
  for (const f of fed2) {
    const pipeline = /^messages of (\S+)/.exec(f)?.[1] ?? '';
    if (!coveredBy(plan.steps, [pipeline], messageWords(c, pipeline))) violations.push(`flow: ${f}, and no caution or destructive step says so`);
  }
  const flowChanges = async (before: Snapshot, after: Snapshot, pipelineOfTable: (t: string) => string, ignoreOf: (t: string) => ReadonlySet<string>) => {
    for (const [table, b] of before) {
      const a = after.get(table);
      if (!a) continue;
      const pipeline = pipelineOfTable(table);
      if (unfed.has(pipeline)) continue; // judged above: its messages no longer parse
      const effects = await tableEffects(scratch, table, b, a, renames.get(table) ?? new Map(), ignoreOf(table));
      for (const e of effects) {
        if (e.kind === 'columnAdded' || e.kind === 'typeChanged') continue;
        // Rows appear or disappear through a filter, a TTL, or a fan-out (ARRAY JOIN) that changed.
        const words = e.kind === 'valuesChanged' ? e.columns : e.kind === 'columnDropped' ? [e.column] : ['filter', 'where', 'ttl', 'ARRAY JOIN'];
        if (!coveredBy(plan.steps, sourcesOf(pipeline), words)) violations.push(`flow of ${pipeline}: the same messages now give different rows — ${describeEffect(e)} — and no caution or destructive step says so`);
      }
    }
  };
  const pipelineOfTable = (t: string) => t.replace(/_(state|errors)$/, '');
  await flowChanges(initial, replayed, pipelineOfTable, (t) => (t.endsWith('_errors') ? new Set(['received_at']) : new Set()));
  // A publish flow whose source's messages no longer parse publishes nothing: judged above.
  for (const p of c.changed.pipelines) if (p.kind === 'publish' && unfed.has(p.from)) unfed.add(p.name);
  await flowChanges(published1, published2, (t) => t, () => new Set());
  return { violations, steps: plan.steps };
}

/** Words a reason may use when messages of a pipeline stop parsing: the fields whose type changed. */
function messageWords(c: Case, pipeline: string): string[] {
  const b = c.base.pipelines.find((p) => p.name === pipeline);
  const a = c.changed.pipelines.find((p) => p.name === pipeline);
  if (!b || !a || b.kind === 'publish' || a.kind === 'publish') return ['format'];
  const before = messageFields(b);
  return [...messageFields(a)].filter(([f, t]) => before.get(f) !== t).map(([f]) => f);
}

function report(c: Case, outcome: Outcome): string {
  return [
    `seed ${c.seed} (reproduce: CHPIPE_SEED=${c.seed} npx vitest run test/plan/labels.random.test.ts)`,
    `change: ${c.change.kind} — ${c.change.summary}`,
    '',
    '--- the change, as a YAML diff ---',
    renderDiff(c.base, c.changed),
    '',
    '--- what went wrong ---',
    ...outcome.violations,
    '',
    '--- the plan ---',
    ...outcome.steps.map((s, i) => `${i + 1}. ${s.action} · ${s.risk} · ${s.object} — ${s.reason}`),
    '',
    '--- the base project ---',
    renderProjectText(c.base),
  ].join('\n');
}

// ─── The test ────────────────────────────────────────────────────────────────

/**
 * The cases in two halves, one per test file (labels.random.test.ts, labels.random-2.test.ts), so
 * the two run in parallel; each half of consecutive seeds still covers every change kind.
 */
export function labelSuite(half: 0 | 1): void {
  const size = Math.ceil(ALL_SEEDS.length / 2);
  const SEEDS = process.env.CHPIPE_SEED !== undefined ? [Number(process.env.CHPIPE_SEED)] : ALL_SEEDS.slice(half * size, (half + 1) * size);
  describeLabels(SEEDS, half === 0);
}

function describeLabels(SEEDS: readonly number[], judgeTheJudge: boolean): void {
describe('plan labels, proved on generated projects with rows', () => {
  const memo = Memo.open(undefined);
  let scratch: Scratch;
  const seen = new Map<ChangeKind, number>();
  let ran = 0;
  const started = Date.now();

  beforeAll(async () => {
    scratch = await Scratch.open(memo);
    // Each step's whole effect is visible in the snapshot after it: mutations (type changes,
    // TTL) finish before the ALTER returns, and one that cannot convert a value fails the step.
    await scratch.driver.exec('SET mutations_sync = 1');
  });
  afterAll(async () => {
    await scratch.driver.exec(`DROP DATABASE IF EXISTS ${backquote(CAPTURE_DB)} SYNC`).catch(() => undefined);
    await scratch.close();
  });

  for (const seed of SEEDS) {
    const c = generateCase(seed);
    it(`seed ${seed}: ${c.change.kind} — ${c.change.summary}`, async () => {
      seen.set(c.change.kind, (seen.get(c.change.kind) ?? 0) + 1);
      ran++;
      const outcome = await runCase(scratch, memo, c);
      if (process.env.CHPIPE_SEED !== undefined) console.log(report(c, outcome));
      expect(outcome.violations, report(c, outcome)).toEqual([]);
    });
  }

  // The judge itself: for the first case of each kind that must name something, the real plan
  // with every label replaced by `safe` must fail (the judge is not vacuous).
  if (process.env.CHPIPE_SEED === undefined && judgeTheJudge) {
    for (const kind of NEVER_ALL_SAFE) {
      const seed = SEEDS.find((s) => generateCase(s).change.kind === kind);
      if (seed === undefined) continue;
      const c = generateCase(seed);
      it(`the judge catches the plan of seed ${seed} (${kind}) relabelled all safe`, async () => {
        const outcome = await runCase(scratch, memo, c, true);
        expect(outcome.violations.length, `seed ${seed}: a plan of ${kind} with every step called safe passed the judge\n${report(c, outcome)}`).toBeGreaterThan(0);
        expect(outcome.violations.some((v) => /diagnostic|refused by ClickHouse|generator bug|cannot be planned|does not parse/.test(v)), report(c, outcome)).toBe(false);
      });
    }
  }

  if (process.env.CHPIPE_SEED === undefined) it(`ran ${SEEDS.length} cases covering every change kind`, () => {
    expect(ran).toBe(SEEDS.length);
    expect(CHANGE_KINDS.filter((k) => !seen.has(k)), 'change kinds no case exercised').toEqual([]);
    console.log(`labels.random: ${ran} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; per kind: ${[...seen].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  });
});
}
