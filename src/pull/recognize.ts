/**
 * Recognize pipelines in a database read back from a target, by structure:
 * a Kafka table, the materialized views that read it and the tables they
 * write `TO` (ingest); an AggregatingMergeTree fed with `-State` calls, with
 * its finalizing view (aggregate); a view from a table into a Kafka table
 * (publish). Pure: decisions read the typed model (`kind`, `from`, `to`,
 * settings) and the view queries split once at the edge (`SelectParts`).
 *
 * On a cluster (compile/cluster.ts) a pipeline's table is a `Distributed`
 * table over a per-node `NAME_local` on a Replicated engine: each such pair
 * is read as the one table a single server has, the pipeline recognized as
 * there, and the pair then checked against the project's `cluster:` (the
 * cluster the Distributed table names, the `_local` name, the Keeper path and
 * replica name). A layout that differs, a single-server layout on a cluster
 * project, or a cluster layout on a single-server one, is refused, never
 * guessed.
 *
 * What is recognized here is a proposal: `pull.ts` compiles it and compares
 * what chpipe would create with what the target has, on the scratch engine,
 * and anything that differs is reported as unmanaged, never guessed.
 */
import { SERVER_DEFAULT_PATH, SERVER_DEFAULT_REPLICA } from '../cluster/layout.js';
import { ERRORS_TTL_HEAD, errorsTtl } from '../compile/compile.js';
import { KAFKA_STREAM_VIRTUAL_COLUMNS, KAFKA_VIRTUAL_COLUMNS, SKIP_BROKEN_MESSAGES_DEFAULT } from '../model/kafka.js';
import { localName, makeModel, objectName, type Column, type DbObject, type DistributedTable, type KafkaTable, type MaterializedView, type Model, type Replication, type Role, type SettingValue, type Settings, type Table, type View } from '../model/model.js';
import { parseOwnership } from '../model/ownership.js';
import { SECRET_SETTINGS } from '../plan/operation.js';
import { brokerList } from '../spec/brokers.js';
import { defaultGroup, parseMeasure } from '../spec/parse.js';
import { readIdentifier, readQualifiedName } from '../sql/parse.js';
import { parseSelect } from '../sql/query.js';
import { splitTopLevel, stripOuterParens } from './text.js';

/** The project's Kafka connection, as chpipe.yaml gives it (brokers with ${VAR} filled in). */
export interface ProjectKafka {
  readonly brokers?: string;
  readonly namedCollection?: string;
  readonly settings: Settings;
}

export interface RecognizeInput {
  /** The target's objects (chpipe's own history and lock tables left out). */
  readonly model: Model;
  readonly kafka: ProjectKafka;
  /** Pipelines the project already declares: their objects are not pulled again. */
  readonly declaredPipelines: ReadonlySet<string>;
  /** Object names the project's declared pipelines use. */
  readonly declaredObjects: ReadonlySet<string>;
  /** MergeTree settings at their defaults on the target's engine (`index_granularity: 8192`, ...): not written into YAML. */
  readonly defaultTableSettings: Settings;
  /** Cluster mode: the cluster chpipe.yaml declares, and how its Replicated tables replicate. */
  readonly cluster?: ProjectCluster;
}

/** The project's `cluster:` as recognition needs it (the sharding key is compared by pull.ts's proof, in the engine's normal form). */
export interface ProjectCluster {
  readonly name: string;
  /** The Keeper path and replica name of the per-node tables; `{}`: the servers' defaults (a Replicated engine without arguments). */
  readonly replication: Replication;
}

/** A secret setting that read back as `[HIDDEN]`: the YAML references a variable instead. */
export interface SecretReference {
  readonly setting: string;
  readonly variable: string;
}

export interface PulledPipeline {
  readonly name: string;
  readonly kind: 'ingest' | 'aggregate' | 'rollup' | 'publish';
  /** The pipeline file's content, keys in the order they are written. */
  readonly doc: Record<string, unknown>;
  /** The target's objects this pipeline adopts, by role. */
  readonly objects: Readonly<Partial<Record<Role, string>>>;
  readonly secrets: readonly SecretReference[];
}

export interface Unmanaged {
  readonly object: string;
  readonly reason: string;
}

export interface Recognition {
  readonly pipelines: readonly PulledPipeline[];
  readonly unmanaged: readonly Unmanaged[];
}

const PIPELINE_NAME = /^[\p{L}_][\p{L}\p{N}_-]*$/u;
const HIDDEN = '[HIDDEN]';

class Unexpressible extends Error {}

/** A pipeline recognized whole and refused whole: each of its objects is listed with the reason. */
class RefusedPipeline extends Unexpressible {
  constructor(
    reason: string,
    readonly objects: readonly string[],
  ) {
    super(reason);
  }
}

function refuse(reason: string): never {
  throw new Unexpressible(reason);
}

/** The column an expression is, when it is nothing but a column name (backquoted or not). */
function columnRef(expr: string): string | undefined {
  const id = readIdentifier(expr.trim(), 0);
  return id && id.end === expr.trim().length ? id.name : undefined;
}

/** The table a query's FROM names, when it names one (`db.t`): its name. */
function fromTable(from: string): string | undefined {
  const q = readQualifiedName(from.trim(), 0);
  return q && q.end === from.trim().length ? q.name : undefined;
}

function description(objects: readonly DbObject[]): string | undefined {
  for (const o of objects) {
    const d = parseOwnership(o.comment).description.trim();
    if (d) return d;
  }
  return undefined;
}

/** A variable name for a secret setting: `EVENTS_KAFKA_SASL_PASSWORD`. */
export function secretVariable(pipeline: string, setting: string): string {
  return `${pipeline}_${setting}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

interface Context {
  readonly input: RecognizeInput;
  readonly byName: ReadonlyMap<string, DbObject>;
  readonly flows: readonly MaterializedView[];
  readonly views: readonly View[];
  readonly taken: Set<string>;
  /** Cluster layouts read as one table: the Distributed table's name → it and its per-node table. */
  readonly pairs: ReadonlyMap<string, ClusterPair>;
  /** Views that write into or read a Distributed table itself, not its per-node table. */
  readonly throughDistributed: ReadonlySet<string>;
}

/** A Distributed table and the per-node table it reads (compile/cluster.ts). */
interface ClusterPair {
  readonly distributed: DistributedTable;
  readonly local: Table;
}

/**
 * Each Distributed table over a MergeTree table of this database, and that table, as one table under the
 * Distributed table's name (the single-server shape chpipe compiles a cluster's from); views retargeted from
 * the per-node table to it. Pure, on the typed model.
 */
function collapseCluster(model: Model): { model: Model; pairs: Map<string, ClusterPair>; throughDistributed: Set<string> } {
  const byName = new Map(model.objects.map((o) => [o.name, o]));
  const pairs = new Map<string, ClusterPair>();
  const distributedOf = new Map<string, string>();
  for (const o of model.objects) {
    if (o.kind !== 'distributed') continue;
    const local = byName.get(o.local);
    if (local?.kind !== 'table' || distributedOf.has(local.name)) continue;
    pairs.set(o.name, { distributed: o, local });
    distributedOf.set(local.name, o.name);
  }
  const throughDistributed = new Set<string>();
  const objects: DbObject[] = [];
  for (const o of model.objects) {
    if (distributedOf.has(o.name)) continue;
    const pair = pairs.get(o.name);
    if (pair) {
      const { replication: _replication, ...table } = pair.local;
      // The description and owner users see are the Distributed table's (the per-node table's when it has none).
      const comment = parseOwnership(o.comment).description.trim() ? o.comment : pair.local.comment;
      const owner = o.owner ?? pair.local.owner;
      objects.push(Object.freeze({ ...table, name: o.name, comment, ...(owner ? { owner } : {}) }));
    } else if (o.kind === 'mv') {
      if (pairs.has(o.to) || o.from.some((f) => pairs.has(f))) throughDistributed.add(o.name);
      objects.push(Object.freeze({ ...o, to: distributedOf.get(o.to) ?? o.to, from: o.from.map((f) => distributedOf.get(f) ?? f) }));
    } else objects.push(o);
  }
  return { model: makeModel(model, objects), pairs, throughDistributed };
}

export function recognize(target: RecognizeInput): Recognition {
  const collapsed = collapseCluster(target.model);
  const input: RecognizeInput = { ...target, model: collapsed.model };
  const byName = new Map(input.model.objects.map((o) => [o.name, o]));
  const flows = input.model.objects.filter((o): o is MaterializedView => o.kind === 'mv');
  const views = input.model.objects.filter((o): o is View => o.kind === 'view');
  const ctx: Context = { input, byName, flows, views, taken: new Set(input.declaredPipelines), pairs: collapsed.pairs, throughDistributed: collapsed.throughDistributed };
  const pipelines: PulledPipeline[] = [];
  const unmanaged: Unmanaged[] = [];
  const claimed = new Set<string>(input.declaredObjects);
  const declaredOwner = (o: DbObject) => o.owner !== undefined && input.declaredPipelines.has(o.owner.pipeline);

  const queues = input.model.objects.filter((o): o is KafkaTable => o.kind === 'kafka' && !declaredOwner(o) && !claimed.has(o.name));
  // Consumers first: a publish pipeline reads the table of one.
  const consumers = queues.filter((q) => ctx.flows.some((f) => f.from.includes(q.name)));
  const producers = queues.filter((q) => !consumers.includes(q));
  const tables = new Map<string, string>(); // table name → pipeline that writes it (for publish.from)
  /** The pipeline recognized from `root`, claimed with its objects; one chpipe cannot express is left alone with why (with all its objects when the refusal lists them). */
  const attempt = (root: string, recognizeOne: () => PulledPipeline): PulledPipeline | undefined => {
    try {
      const p = recognizeOne();
      pipelines.push(p);
      for (const name of Object.values(p.objects)) claimed.add(name);
      return p;
    } catch (e) {
      if (!(e instanceof Unexpressible)) throw e;
      for (const object of e instanceof RefusedPipeline ? e.objects : [root]) {
        unmanaged.push({ object, reason: e.message });
        claimed.add(object);
      }
      return undefined;
    }
  };
  for (const q of consumers) {
    const p = attempt(q.name, () => recognizeConsumer(ctx, q));
    const main = p?.objects.table ?? p?.objects.state;
    if (p && main !== undefined) tables.set(main, p.name);
  }
  for (const q of producers) attempt(q.name, () => recognizePublish(ctx, q, tables));
  // Rollups: a view from an ingest pipeline's table, grouped into an AggregatingMergeTree or a SummingMergeTree.
  const ingestOf = (table: string) => tables.get(table) ?? (byName.get(table)?.owner?.role === 'table' ? byName.get(table)?.owner?.pipeline : undefined);
  for (const mv of flows) {
    const upstream = mv.from.length === 1 ? ingestOf(mv.from[0] as string) : undefined;
    if (claimed.has(mv.name) || declaredOwner(mv) || upstream === undefined || mv.query?.groupBy === undefined) continue;
    attempt(mv.name, () => recognizeRollup(ctx, mv, upstream));
  }
  for (const o of input.model.objects) {
    if (claimed.has(o.name) || declaredOwner(o)) continue;
    unmanaged.push({ object: o.name, reason: leftReason(ctx, o) });
  }
  // A cluster layout read as one table is listed as its two tables.
  const listed = unmanaged.flatMap((u) => {
    const pair = ctx.pairs.get(u.object);
    return pair ? [u, { object: pair.local.name, reason: u.reason }] : [u];
  });
  return { pipelines, unmanaged: listed.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : 0)) };
}

function leftReason(ctx: Context, o: DbObject): string {
  switch (o.kind) {
    case 'kafka':
      return 'a Kafka table that is part of a flow chpipe cannot express (see the Kafka table it belongs with)';
    case 'mv':
      return o.from.some((f) => ctx.byName.get(f)?.kind === 'kafka') ? 'a view of a Kafka table chpipe cannot express' : `a materialized view from ${o.from.join(', ') || 'a table in another database'} to ${o.to}, not part of a Kafka flow`;
    case 'view':
      return 'a view that is not the finalizing view of an aggregate pipeline';
    case 'null':
      return 'a Null table that is not the hub of an on_error: stream pipeline';
    case 'table': {
      const what = ctx.pairs.has(o.name) ? `a Distributed table over ${ctx.pairs.get(o.name)?.local.name}, and that table,` : 'a table';
      return ctx.flows.some((f) => f.to === o.name) ? `${what} written by a flow chpipe cannot express` : `${what} no Kafka flow writes`;
    }
    case 'distributed':
      return [...ctx.pairs.values()].some((p) => p.local.name === o.local) ? `a Distributed table over ${o.local}, which another Distributed table reads too` : `a Distributed table over ${o.local}, which is not a MergeTree table of this database`;
  }
}

function uniqueName(ctx: Context, wanted: string): string {
  let name = PIPELINE_NAME.test(wanted) ? wanted : wanted.replace(/[^\p{L}\p{N}_-]+/gu, '_').replace(/^([^\p{L}_])/u, '_$1');
  if (!name) name = 'pipeline';
  let candidate = name;
  for (let i = 2; ctx.taken.has(candidate); i++) candidate = `${name}_${i}`;
  ctx.taken.add(candidate);
  return candidate;
}

/** The roles whose object is not named the standard way: what `objects:` must say. */
function explicitNames(pipeline: string, objects: Readonly<Partial<Record<Role, string>>>): Partial<Record<Role, string>> | undefined {
  const out: Partial<Record<Role, string>> = {};
  for (const [role, name] of Object.entries(objects) as [Role, string][]) if (name !== objectName(pipeline, role)) out[role] = name;
  return Object.keys(out).length ? out : undefined;
}

function settingValue(v: SettingValue): string | number {
  return v;
}

/** source: / publish: keys shared by consumers and producers: brokers, group, settings (secrets as references). */
function connection(ctx: Context, q: KafkaTable, pipeline: string): { keys: Record<string, unknown>; settings: Record<string, string | number>; secrets: SecretReference[] } {
  const kafka = ctx.input.kafka;
  const keys: Record<string, unknown> = {};
  if (q.namedCollection !== undefined) {
    if (q.namedCollection !== kafka.namedCollection) refuse(`its brokers are in the named collection ${q.namedCollection}, and chpipe.yaml names ${kafka.namedCollection === undefined ? 'none' : kafka.namedCollection}: set kafka.named_collection: ${q.namedCollection} in chpipe.yaml to adopt it`);
    if (q.brokers !== undefined) refuse('it names a named collection and brokers of its own');
  } else if (q.brokers === undefined) refuse('it names no brokers');
  else if (kafka.namedCollection !== undefined || brokerList(q.brokers).join(',') !== kafka.brokers) keys.brokers = q.brokers;
  if (q.group !== defaultGroup(ctx.input.model.database, pipeline)) keys.group = q.group;
  const settings: Record<string, string | number> = {};
  const secrets: SecretReference[] = [];
  for (const [k, v] of Object.entries(q.settings)) {
    if (SECRET_SETTINGS.has(k) && String(v) === HIDDEN) {
      const variable = secretVariable(pipeline, k);
      secrets.push({ setting: k, variable });
      settings[k] = `\${${variable}}`;
      continue;
    }
    if (kafka.settings[k] !== undefined && String(kafka.settings[k]) === String(v)) continue;
    settings[k] = settingValue(v);
  }
  for (const k of Object.keys(kafka.settings)) if (q.settings[k] === undefined) refuse(`chpipe.yaml sets kafka.settings.${k} for every Kafka table, and this one does not have it`);
  return { keys, settings, secrets };
}

/** The column a target table column is in the pipeline, from the view item that writes it. */
function columnEntry(c: Column, item: { name: string; expr: string } | undefined, queue: KafkaTable, stream: boolean, table: string): [string, unknown] {
  if (!item) refuse(`column ${c.name} of ${table} is not written by its view (it takes its default)`);
  if (c.default) refuse(`column ${c.name} of ${table} has a ${c.default.kind} expression`);
  if (c.codec) refuse(`column ${c.name} of ${table} has a codec`);
  const ref = columnRef(item.expr);
  const comment = c.comment ? { comment: c.comment } : {};
  const virtual = ref !== undefined && (ref in KAFKA_VIRTUAL_COLUMNS || (stream && ref in KAFKA_STREAM_VIRTUAL_COLUMNS));
  if (ref !== undefined && queue.columns.some((q) => q.name === ref)) {
    if (ref === c.name && !c.comment) return [c.name, c.type];
    return [c.name, { type: c.type, ...(ref !== c.name ? { field: ref } : {}), ...comment }];
  }
  if (virtual) return [c.name, { type: c.type, from: ref, ...comment }];
  return [c.name, { type: c.type, expr: item.expr, ...comment }];
}

/**
 * `source.fields` for a Kafka table that parses more than its plain columns store (a field read only by the
 * filter or an expression), or in another order: its columns as they are. Undefined when the plain columns'
 * fields, in column order, are exactly its columns (what chpipe makes without fields).
 */
function fieldsKey(q: KafkaTable, columns: Readonly<Record<string, unknown>>): Record<string, string> | undefined {
  const read = Object.entries(columns).flatMap(([name, entry]) => {
    if (typeof entry === 'string') return [{ name, type: entry }];
    const c = entry as { type: string; field?: string; from?: string; expr?: string };
    return c.from === undefined && c.expr === undefined ? [{ name: c.field ?? name, type: c.type }] : [];
  });
  const same = read.length === q.columns.length && read.every((r, i) => q.columns[i]?.name === r.name && q.columns[i]?.type === r.type);
  return same ? undefined : Object.fromEntries(q.columns.map((c) => [c.name, c.type]));
}

/** `source` with `fields` after its topic(s), where a reader looks for what the messages hold. */
function withFields(source: Readonly<Record<string, unknown>>, fields: Record<string, string>): Record<string, unknown> {
  const entries = Object.entries(source);
  const at = entries.findIndex(([k]) => k !== 'topic' && k !== 'topics');
  const i = at < 0 ? entries.length : at;
  return Object.fromEntries([...entries.slice(0, i), ['fields', fields], ...entries.slice(i)]);
}

/**
 * The conditions that keep good / broken messages in stream mode, as chpipe writes them: behind a
 * hub, and when the views read the Kafka table directly (ClickHouse's docs' form).
 */
const GUARDS = {
  hub: { good: "_error = ''", broken: "_error != ''" },
  direct: { good: 'length(_error) = 0', broken: 'length(_error) > 0' },
} as const;
type Shape = keyof typeof GUARDS;

/** Does this WHERE keep only the broken messages (one of its AND parts is the guard)? */
function keepsBroken(where: string | undefined, shape: Shape): boolean {
  return where !== undefined && splitTopLevel(where, 'AND').map(stripOuterParens).some((p) => p.replace(/\s+/g, ' ') === GUARDS[shape].broken);
}

/** A view's WHERE without the guard that keeps broken messages out in stream mode: the pipeline's filter. */
function filterOf(where: string | undefined, stream: Shape | undefined): string | undefined {
  const guard = stream ? GUARDS[stream].good : '';
  if (where === undefined) {
    if (stream) refuse(`its view does not keep broken messages out (no WHERE ${guard})`);
    return undefined;
  }
  if (!stream) return stripOuterParens(where);
  const parts = splitTopLevel(where, 'AND').map(stripOuterParens);
  const rest = parts.filter((p) => p.replace(/\s+/g, ' ') !== guard);
  if (rest.length === parts.length) refuse(`its view does not keep broken messages out (no WHERE ${guard})`);
  return rest.length ? rest.join(' AND ') : undefined;
}

function sourceKeys(ctx: Context, q: KafkaTable, pipeline: string): { source: Record<string, unknown>; secrets: SecretReference[]; stream: boolean } {
  const { keys, settings, secrets } = connection(ctx, q, pipeline);
  const source: Record<string, unknown> = {};
  if (q.topics.length === 1) source.topic = q.topics[0];
  else if (q.topics.length > 1) source.topics = [...q.topics];
  else refuse('it names no topic');
  source.format = q.format;
  if (keys.group !== undefined) source.group = keys.group;
  const mode = settings.kafka_handle_error_mode;
  delete settings.kafka_handle_error_mode;
  const stream = mode === 'stream';
  if (mode !== undefined && !stream) refuse(`kafka_handle_error_mode '${mode}' has no on_error equivalent`);
  if (settings.kafka_num_consumers !== undefined) {
    source.consumers = Number(settings.kafka_num_consumers);
    delete settings.kafka_num_consumers;
  }
  if (stream) source.on_error = 'stream';
  else if (settings.kafka_skip_broken_messages !== undefined) {
    source.on_error = 'skip';
    if (Number(settings.kafka_skip_broken_messages) === SKIP_BROKEN_MESSAGES_DEFAULT) delete settings.kafka_skip_broken_messages;
  }
  if (settings.kafka_schema !== undefined) {
    source.schema = String(settings.kafka_schema);
    delete settings.kafka_schema;
  }
  if (settings.format_avro_schema_registry_url !== undefined) {
    source.schema_registry = String(settings.format_avro_schema_registry_url);
    delete settings.format_avro_schema_registry_url;
  }
  if (keys.brokers !== undefined) source.brokers = keys.brokers;
  if (Object.keys(settings).length) source.settings = settings;
  return { source, secrets, stream };
}

function tableSettings(ctx: Context, t: Table): Record<string, string | number> | undefined {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(t.settings)) {
    const d = ctx.input.defaultTableSettings[k];
    if (d !== undefined && String(d) === String(v)) continue;
    out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

/** ORDER BY as a list: `(a, b)` → [a, b]; a plain column name unquoted. */
function orderList(orderBy: string): string[] {
  const inner = orderBy.startsWith('(') ? stripOuterParens(orderBy) : orderBy;
  if (inner === 'tuple()') refuse('its table has no sorting key (ORDER BY tuple())');
  return splitTopLevel(inner, ',').map((item) => columnRef(item) ?? item);
}

/**
 * Where a consumer's flows read: the queue itself, or the hub its only reader fills (on_error:
 * stream); or, in stream mode, the queue read directly by the table's view and the errors view
 * (the shape ClickHouse's docs show: `objects: { hub: null, hub_mv: null }`).
 */
function readPoint(ctx: Context, q: KafkaTable, stream: boolean): { from: string; hub?: string; hubMv?: string; shape?: Shape; readers: MaterializedView[] } {
  const direct = ctx.flows.filter((f) => f.from.includes(q.name));
  if (stream && direct.length === 2 && direct.some((f) => keepsBroken(f.query?.where, 'direct'))) return { from: q.name, shape: 'direct', readers: direct };
  if (direct.length === 1) {
    const only = direct[0] as MaterializedView;
    const hub = ctx.byName.get(only.to);
    if (hub?.kind === 'null') {
      if (!stream) refuse(`its only view writes into the Null table ${hub.name}: a fan-out chpipe builds only with on_error: stream`);
      return { from: hub.name, hub: hub.name, hubMv: only.name, shape: 'hub', readers: ctx.flows.filter((f) => f.from.includes(hub.name)) };
    }
  }
  if (direct.length > 1) {
    refuse(`${direct.length} views read it directly (${direct.map((f) => f.name).join(', ')}); chpipe gives a Kafka table one reader, or with on_error: stream two: the table's view (WHERE ${GUARDS.direct.good}) and the errors view (WHERE ${GUARDS.direct.broken}), or a hub: the only view writes into a Null table that both read`);
  }
  return { from: q.name, ...(stream ? { shape: 'hub' as const } : {}), readers: direct };
}

function recognizeConsumer(ctx: Context, q: KafkaTable): PulledPipeline {
  const stream = q.settings.kafka_handle_error_mode === 'stream';
  const read = readPoint(ctx, q, stream);
  let main = read.readers;
  let errorsMv: MaterializedView | undefined;
  const fannedOut = read.hub !== undefined || read.shape === 'direct';
  if (fannedOut && read.shape) {
    const shape = read.shape;
    errorsMv = read.readers.find((f) => keepsBroken(f.query?.where, shape));
    main = read.readers.filter((f) => f !== errorsMv);
    if (!errorsMv) refuse(`no view of its hub ${read.hub} keeps the broken messages (WHERE ${GUARDS.hub.broken})`);
  }
  if (main.length !== 1) refuse(main.length ? `${main.length} views read it (${main.map((f) => f.name).join(', ')}); a chpipe pipeline has one` : 'no view writes its messages into a table');
  const mv = main[0] as MaterializedView;
  const target = ctx.byName.get(mv.to);
  if (!target || target.kind !== 'table') refuse(`its view ${mv.name} writes to ${mv.to}, which is not a MergeTree table of this database`);
  if (!mv.query) refuse(`the query of its view ${mv.name} has a shape chpipe does not generate (JOIN, UNION, subquery, SETTINGS, ...)`);
  const owned = target.owner?.pipeline ?? q.owner?.pipeline;
  // A SummingMergeTree fed by a GROUP BY is the docs' rollup: an aggregate with engine SummingMergeTree.
  const isAggregate = (target.engine === 'AggregatingMergeTree' || target.engine === 'SummingMergeTree') && mv.query.groupBy !== undefined;
  const finalizing = isAggregate ? ctx.views.filter((v) => fromTable(parseSelect(v.select)?.from ?? '') === target.name) : [];
  const name = uniqueName(ctx, owned ?? (isAggregate ? (finalizing[0]?.name ?? target.name.replace(/_state$/, '')) : target.name));
  const { source, secrets } = sourceKeys(ctx, q, name);
  const objects: Partial<Record<Role, string>> = { queue: q.name, mv: mv.name };
  if (read.hub !== undefined && read.hubMv !== undefined) {
    objects.hub = read.hub;
    objects.hub_mv = read.hubMv;
  }
  if (errorsMv) {
    objects.errors = errorsMv.to;
    objects.errors_mv = errorsMv.name;
    const days = retentionDays(ctx.byName.get(errorsMv.to));
    if (days !== undefined) source.errors_retention_days = days;
  }
  /** Roles the pipeline has no object for: `role: null` under objects:. */
  const without: Role[] = read.shape === 'direct' ? ['hub', 'hub_mv'] : [];
  const doc: Record<string, unknown> = { name };
  const desc = description([target, q, mv]);
  if (desc !== undefined) doc.description = desc;
  doc.source = source;
  if (isAggregate) {
    if (finalizing.length > 1) refuse(`${finalizing.length} views read its state table ${target.name}; chpipe makes one finalizing view`);
    objects.state = target.name;
    // No finalizing view: adopted as it is (`view: null`), so nothing is created.
    if (finalizing[0]) objects.view = finalizing[0].name;
    else without.push('view');
    aggregateKeys(ctx, doc, q, mv, target, read.shape);
  } else {
    if (mv.query.groupBy !== undefined) refuse(`its view ${mv.name} has GROUP BY but writes into a ${target.engine}, not an AggregatingMergeTree`);
    objects.table = target.name;
    const columns = Object.fromEntries(target.columns.map((c) => columnEntry(c, mv.query?.items.find((i) => i.name === c.name), q, stream, target.name)));
    const fields = fieldsKey(q, columns);
    if (fields) doc.source = withFields(doc.source as Record<string, unknown>, fields);
    doc.columns = columns;
    if (mv.query.arrayJoin !== undefined) doc.explode = mv.query.arrayJoin;
    const filter = filterOf(mv.query.where, read.shape);
    if (filter !== undefined) doc.filter = filter;
    const table: Record<string, unknown> = {};
    if (target.engine !== 'MergeTree') table.engine = target.engine;
    table.order_by = orderList(target.orderBy);
    if (target.partitionBy !== undefined) table.partition_by = target.partitionBy;
    if (target.ttl !== undefined) table.ttl = target.ttl;
    const settings = tableSettings(ctx, target);
    if (settings) table.settings = settings;
    doc.table = table;
  }
  const names = { ...explicitNames(name, objects), ...Object.fromEntries(without.map((r) => [r, null])) };
  if (Object.keys(names).length) doc.objects = names;
  return { name, kind: isAggregate ? 'aggregate' : 'ingest', doc, objects: { ...objects, ...clusterLayout(ctx, objects, errorsMv ? [mv, errorsMv] : [mv]) }, secrets };
}

/** The days an errors table keeps its rows when its TTL is the one chpipe writes (`errorsTtl`); other TTLs are the proof's to refuse. */
function retentionDays(errors: DbObject | undefined): number | undefined {
  if (errors?.kind !== 'table' || errors.ttl === undefined) return undefined;
  const days = errors.ttl.startsWith(ERRORS_TTL_HEAD) ? Number(errors.ttl.slice(ERRORS_TTL_HEAD.length, -1)) : NaN;
  return Number.isInteger(days) && days > 0 && errorsTtl(days) === errors.ttl ? days : undefined;
}

/** A rollup (`from:`): the view `mv` groups the rows of pipeline `upstream`'s table into a state table. */
function recognizeRollup(ctx: Context, mv: MaterializedView, upstream: string): PulledPipeline {
  const state = ctx.byName.get(mv.to);
  if (state?.kind !== 'table' || (state.engine !== 'AggregatingMergeTree' && state.engine !== 'SummingMergeTree')) refuse(`its view ${mv.name} groups rows into ${mv.to}, which is not an AggregatingMergeTree or SummingMergeTree of this database`);
  const finalizing = ctx.views.filter((v) => fromTable(parseSelect(v.select)?.from ?? '') === state.name);
  if (finalizing.length > 1) refuse(`${finalizing.length} views read its state table ${state.name}; chpipe makes one finalizing view`);
  const name = uniqueName(ctx, state.owner?.pipeline ?? finalizing[0]?.name ?? state.name.replace(/_state$/, ''));
  const doc: Record<string, unknown> = { name };
  const desc = description([state, mv]);
  if (desc !== undefined) doc.description = desc;
  doc.from = upstream;
  aggregateKeys(ctx, doc, undefined, mv, state, undefined);
  const objects: Partial<Record<Role, string>> = { state: state.name, mv: mv.name, ...(finalizing[0] ? { view: finalizing[0].name } : {}) };
  const names = { ...explicitNames(name, objects), ...(finalizing[0] ? {} : { view: null }) };
  if (Object.keys(names).length) doc.objects = names;
  return { name, kind: 'rollup', doc, objects: { ...objects, ...clusterLayout(ctx, objects, [mv]) }, secrets: [] };
}

/** The roles whose table is, on a cluster, a Distributed table over a per-node one. */
const CLUSTER_ROLES = [
  ['table', 'table_local'],
  ['state', 'state_local'],
  ['errors', 'errors_local'],
] as const;

/** Where a Replicated table's replicas meet, in words. */
function replicationWords(r: Replication): string {
  return r.path === undefined ? "the servers' default Keeper path and replica name (no engine arguments)" : `Keeper path '${r.path}' as replica '${r.replica ?? ''}'`;
}

/**
 * A consumer's tables against the project's layout: on a cluster project each is a Distributed table over its
 * `NAME_local` on a Replicated engine at the project's path and replica name (the per-node tables are returned
 * by role); on a single-server project none is. Anything else refuses the whole pipeline.
 */
function clusterLayout(ctx: Context, objects: Readonly<Partial<Record<Role, string>>>, writers: readonly MaterializedView[]): Partial<Record<Role, string>> {
  const cluster = ctx.input.cluster;
  const all = Object.values(objects);
  const no: (reason: string) => never = (reason) => {
    throw new RefusedPipeline(reason, all);
  };
  const locals: Partial<Record<Role, string>> = {};
  for (const [role, localRole] of CLUSTER_ROLES) {
    const name = objects[role];
    if (name === undefined) continue;
    const pair = ctx.pairs.get(name);
    const table = ctx.byName.get(name);
    if (!cluster) {
      if (pair) no(`a cluster layout (${name} is a Distributed table over ${pair.local.name}), and chpipe.yaml declares no cluster: add cluster: to chpipe.yaml to adopt it`);
      if (table?.kind === 'table' && table.replication) no(`its table ${name} is Replicated${table.engine}, a cluster's engine, and chpipe.yaml declares no cluster: add cluster: to chpipe.yaml to adopt it`);
      continue;
    }
    if (!pair) {
      no(
        table?.kind === 'table' && table.replication
          ? `its table ${name} is Replicated${table.engine} with no Distributed table over it, and on cluster ${cluster.name} chpipe reads ${name} through a Distributed table over ${localName(name)}`
          : `a single-server layout (${name} is a ${table?.kind === 'table' ? table.engine : 'plain'} table), and chpipe.yaml declares cluster ${cluster.name}, where ${name} is a Distributed table over ${localName(name)} on a Replicated engine`,
      );
    }
    const { distributed, local } = pair;
    if (distributed.cluster !== cluster.name) no(`its Distributed table ${name} reads cluster ${distributed.cluster}, and chpipe.yaml declares cluster ${cluster.name}`);
    if (local.name !== localName(name)) no(`its Distributed table ${name} reads ${local.name}, and chpipe names the per-node table under ${name} ${localName(name)}`);
    if (!local.replication) no(`${local.name} is a ${local.engine} table, not Replicated: on cluster ${cluster.name} chpipe creates it as Replicated${local.engine}`);
    // A server writes its default path and replica name into the engine of a table created without them: with
    // `replication_path: default`, a table at ClickHouse's defaults is what chpipe would create.
    const want = cluster.replication.path === undefined ? { path: SERVER_DEFAULT_PATH, replica: SERVER_DEFAULT_REPLICA } : cluster.replication;
    if ((local.replication.path ?? null) !== (want.path ?? null) || (local.replication.replica ?? null) !== (want.replica ?? null)) {
      const declared = cluster.replication.path === undefined ? `leaves them to the servers' defaults (replication_path: default), ${replicationWords(want)} as ClickHouse ships them` : `declares ${replicationWords(want)}`;
      no(`${local.name} replicates at ${replicationWords(local.replication)}, and chpipe.yaml ${declared} (cluster.replication_path, cluster.replica_name)`);
    }
    locals[localRole] = local.name;
  }
  for (const w of writers) if (ctx.throughDistributed.has(w.name)) no(`its view ${w.name} writes into the Distributed table ${w.to} itself, where chpipe's views write into each node's ${localName(w.to)}`);
  return locals;
}

/** The -State call of a measure back to the aggregate call it stores: `quantileState(0.95)(x)` → `quantile(0.95)(x)`. */
function measureCall(name: string, expr: string, type: string | undefined): string {
  const m = parseMeasure(name, expr);
  if (!m) refuse(`column ${name} is not one aggregate -State call: ${expr}`);
  // The docs' spelling: a plain sum(x) (min, max, any, anyLast) into a SimpleAggregateFunction(sum, T) column.
  if (type?.startsWith(`SimpleAggregateFunction(${m.fn},`)) return expr;
  const fn = m.fn.endsWith('SimpleState') ? m.fn.slice(0, -'SimpleState'.length) : m.fn.endsWith('State') ? m.fn.slice(0, -'State'.length) : undefined;
  if (!fn) refuse(`column ${name} is computed by ${m.fn}, not an aggregate -State function`);
  return `${fn}${m.params !== undefined ? `(${m.params})` : ''}(${m.args})`;
}

/** A SummingMergeTree's measure: the plain aggregate call its view writes (count(), sum(x), …). */
function summedCall(name: string, expr: string): string {
  if (!parseMeasure(name, expr)) refuse(`column ${name} is not one aggregate call: ${expr}`);
  return expr;
}

function aggregateKeys(ctx: Context, doc: Record<string, unknown>, q: KafkaTable | undefined, mv: MaterializedView, state: Table, stream: Shape | undefined): void {
  const query = mv.query as NonNullable<MaterializedView['query']>;
  const summing = state.engine === 'SummingMergeTree';
  if (fromTable(query.from) === undefined) refuse(`its view ${mv.name} reads a subquery: computed columns under an aggregate are not recognized yet`);
  const keys = splitTopLevel(query.groupBy as string, ',').map((k) => columnRef(k) ?? refuse(`its view ${mv.name} groups by an expression (${k}), not by its key columns`));
  const by: Record<string, string> = {};
  const measures: Record<string, string> = {};
  for (const item of query.items) {
    if (keys.includes(item.name)) by[item.name] = columnRef(item.expr) ?? item.expr;
    else measures[item.name] = summing ? summedCall(item.name, item.expr) : measureCall(item.name, item.expr, state.columns.find((c) => c.name === item.name)?.type);
  }
  const ordered = keys.map((k) => [k, by[k] ?? refuse(`its view ${mv.name} groups by ${k}, which it does not select`)]);
  if (q) doc.columns = Object.fromEntries(q.columns.map((c) => [c.name, c.type]));
  else if (query.arrayJoin !== undefined) refuse(`its view ${mv.name} fans rows out (ARRAY JOIN) from a table: a rollup reads rows as they are`);
  if (q && query.arrayJoin !== undefined) doc.explode = query.arrayJoin;
  const filter = filterOf(query.where, stream);
  if (filter !== undefined) doc.filter = filter;
  doc.aggregate = { ...(summing ? { engine: 'SummingMergeTree' } : {}), by: Object.fromEntries(ordered), measures };
  const table: Record<string, unknown> = {};
  if (state.partitionBy !== undefined) table.partition_by = state.partitionBy;
  if (state.ttl !== undefined) table.ttl = state.ttl;
  const settings = tableSettings(ctx, state);
  if (settings) table.settings = settings;
  if (Object.keys(table).length) doc.table = table;
}

function recognizePublish(ctx: Context, q: KafkaTable, tables: ReadonlyMap<string, string>): PulledPipeline {
  const writers = ctx.flows.filter((f) => f.to === q.name);
  if (writers.length === 0) refuse('no view reads it and none writes into it');
  if (writers.length > 1) refuse(`${writers.length} views write into it (${writers.map((w) => w.name).join(', ')}); a publish pipeline has one`);
  const mv = writers[0] as MaterializedView;
  if (mv.from.length !== 1 || !mv.query) refuse(`its view ${mv.name} has a query shape chpipe does not generate`);
  const from = mv.from[0] as string;
  const sourceObject = ctx.byName.get(from);
  const sourcePipeline = tables.get(from) ?? (sourceObject?.owner && ctx.input.declaredPipelines.has(sourceObject.owner.pipeline) ? sourceObject.owner.pipeline : undefined);
  if (sourcePipeline === undefined) refuse(`its view ${mv.name} reads ${from}, which is not the table of a pipeline chpipe manages or adopts`);
  if (sourceObject?.kind !== 'table' || sourceObject.engine === 'AggregatingMergeTree') refuse(`its view ${mv.name} reads ${from}: publishing from an aggregate's state is not recognized yet`);
  if (ctx.throughDistributed.has(mv.name)) refuse(`its view ${mv.name} reads the Distributed table ${from} itself, where chpipe's publish flow reads each node's ${localName(from)} (so each row is sent once)`);
  const columns = mv.query.items.map((i) => (i.expr.trim() === '*' ? undefined : (columnRef(i.expr) === i.name ? i.name : refuse(`its view ${mv.name} computes ${i.name} (${i.expr}); a publish pipeline sends columns as they are`))));
  if (q.topics.length !== 1) refuse(`it names ${q.topics.length} topics; a publish pipeline writes to one`);
  const owned = q.owner?.pipeline ?? mv.owner?.pipeline;
  const name = uniqueName(ctx, owned ?? (q.name.endsWith('_queue') ? q.name.slice(0, -'_queue'.length) : mv.name.endsWith('_mv') ? mv.name.slice(0, -'_mv'.length) : q.name));
  const { keys, settings, secrets } = connection(ctx, q, name);
  const publish: Record<string, unknown> = { from: sourcePipeline };
  if (mv.query.where !== undefined) publish.where = stripOuterParens(mv.query.where);
  if (!columns.includes(undefined)) publish.columns = columns;
  publish.topic = q.topics[0];
  publish.format = q.format;
  if (keys.group !== undefined) publish.group = keys.group;
  if (keys.brokers !== undefined) publish.brokers = keys.brokers;
  if (Object.keys(settings).length) publish.settings = settings;
  const doc: Record<string, unknown> = { name };
  const desc = description([q, mv]);
  if (desc !== undefined) doc.description = desc;
  doc.publish = publish;
  const objects: Partial<Record<Role, string>> = { queue: q.name, mv: mv.name };
  const names = explicitNames(name, objects);
  if (names) doc.objects = names;
  return { name, kind: 'publish', doc, objects, secrets };
}
