/**
 * Read a database back into a Model: one query over system.tables and one over
 * system.columns, whatever the number of pipelines.
 */
import type { Driver } from '../engine/driver.js';
import { makeModel, sortSettings, type Column, type DbObject, type DefaultKind, type KafkaTable, type Model, type Placement, type SettingValue } from '../model/model.js';
import { parseOwnership } from '../model/ownership.js';
import { stringLiteral } from '../sql/quote.js';
import { parseLiteralList, parseSettingsList, readIdentifier, readQualifiedName, splitEngineClauses } from '../sql/parse.js';
import { parseSelect } from '../sql/query.js';
import { distributedEngine, replicatedEngine } from '../sql/cluster.js';

/** A row of system.tables as inspection reads it (`TABLE_FIELDS`). */
export interface TableRow {
  database: string;
  name: string;
  engine: string;
  engine_full: string;
  create_table_query: string;
  as_select: string;
  sorting_key: string;
  partition_key: string;
  primary_key: string;
  comment: string;
  /** The materialized views whose SELECT reads this table (their inserts are triggered by it). */
  dependencies_database: string[];
  dependencies_table: string[];
}

/** A row of system.columns as inspection reads it (`COLUMN_FIELDS`). */
export interface ColumnRow {
  database: string;
  table: string;
  name: string;
  type: string;
  default_kind: string;
  default_expression: string;
  comment: string;
  compression_codec: string;
  is_in_sorting_key: number;
  is_in_partition_key: number;
  is_in_primary_key: number;
}

/** The system.tables columns inspection reads (one `TableRow` each), in order; also read cluster-wide (cluster/state.ts). */
export const TABLE_FIELDS = ['database', 'name', 'engine', 'engine_full', 'create_table_query', 'as_select', 'sorting_key', 'partition_key', 'primary_key', 'comment', 'dependencies_database', 'dependencies_table'] as const satisfies readonly (keyof TableRow)[];

/** The system.columns columns inspection reads (one `ColumnRow` each), in order. */
export const COLUMN_FIELDS = ['database', 'table', 'name', 'type', 'default_kind', 'default_expression', 'comment', 'compression_codec', 'is_in_sorting_key', 'is_in_partition_key', 'is_in_primary_key'] as const satisfies readonly (keyof ColumnRow)[];

export interface InspectOptions {
  /**
   * Scratch engines keep the real Kafka tables in a side database, with a Null
   * stand-in under the real name (so no view is ever attached to a consumer).
   * Read the Kafka table from there.
   */
  readonly kafkaSideDatabase?: string;
}

export interface Inspection {
  readonly model: Model;
  /** Round trips used, for the benchmark: constant by design. */
  readonly queries: number;
}

export async function inspectDatabase(driver: Driver, placement: Placement, options: InspectOptions = {}): Promise<Inspection> {
  const databases = [placement.database, ...(options.kafkaSideDatabase ? [options.kafkaSideDatabase] : [])].map(stringLiteral).join(', ');
  let queries = 0;
  const query = <T>(sql: string) => {
    queries++;
    return driver.query<T>(sql);
  };
  const [tables, columns] = await Promise.all([
    query<TableRow>(
      `SELECT ${TABLE_FIELDS.join(', ')} FROM system.tables WHERE database IN (${databases}) AND NOT is_temporary ORDER BY database, name`,
    ),
    query<ColumnRow>(
      `SELECT ${COLUMN_FIELDS.join(', ')} FROM system.columns WHERE database IN (${databases}) ORDER BY database, table, position`,
    ),
  ]);
  return { model: modelFromRows(placement, tables, columns, options), queries };
}

export function modelFromRows(placement: Placement, tables: readonly TableRow[], columns: readonly ColumnRow[], options: InspectOptions = {}): Model {
  const columnsOf = new Map<string, Column[]>();
  for (const c of columns) {
    const key = `${c.database}\u0000${c.table}`;
    const list = columnsOf.get(key) ?? [];
    list.push(toColumn(c));
    columnsOf.set(key, list);
  }
  const side = new Map(tables.filter((t) => t.database === options.kafkaSideDatabase && t.engine === 'Kafka').map((t) => [t.name, t]));
  // Which tables each materialized view reads: the dependencies the engine records on the source table.
  const sources = new Map<string, string[]>();
  for (const row of tables) {
    if (row.database !== placement.database) continue;
    (row.dependencies_table ?? []).forEach((view, i) => {
      if (row.dependencies_database?.[i] !== placement.database) return;
      sources.set(view, [...(sources.get(view) ?? []), row.name].sort());
    });
  }
  const objects: DbObject[] = [];
  for (const row of tables) {
    if (row.database !== placement.database) continue;
    const real = row.engine === 'Null' ? (side.get(row.name) ?? row) : row;
    const object = toObject(real, row.name, columnsOf.get(`${real.database}\u0000${real.name}`) ?? [], sources.get(row.name) ?? []);
    if (object) objects.push(object);
  }
  return makeModel(placement, objects);
}

function toColumn(c: ColumnRow): Column {
  return {
    name: c.name,
    type: c.type,
    ...(c.default_kind ? { default: { kind: c.default_kind as DefaultKind, expr: c.default_expression } } : {}),
    ...(c.comment ? { comment: c.comment } : {}),
    ...(c.compression_codec ? { codec: c.compression_codec.replace(/^CODEC\((.*)\)$/s, '$1') } : {}),
    ...(c.is_in_sorting_key || c.is_in_partition_key || c.is_in_primary_key ? { inKey: true } : {}),
  };
}

function toObject(row: TableRow, name: string, columns: Column[], from: string[]): DbObject | undefined {
  const { owner } = parseOwnership(row.comment);
  const common = { name, comment: row.comment, ...(owner ? { owner } : {}) };
  if (row.engine === 'Kafka') return kafkaTableFromEngine(name, row.engine_full, columns, common);
  if (row.engine === 'Null') return Object.freeze({ kind: 'null', ...common, columns });
  if (row.engine === 'MaterializedView') {
    const to = /\sTO\s+/.exec(row.create_table_query);
    const target = to ? readQualifiedName(row.create_table_query, to.index + to[0].length) : undefined;
    const query = parseSelect(row.as_select);
    return Object.freeze({ kind: 'mv', ...common, to: target?.name ?? '', from, select: row.as_select, ...(query ? { query } : {}) });
  }
  if (row.engine === 'View') return Object.freeze({ kind: 'view', ...common, select: row.as_select });
  if (row.engine === 'Distributed') {
    // Cluster mode: the name users query over every node's local table (compile/cluster.ts).
    const d = distributedEngine(splitEngineClauses(row.engine_full).engine);
    if (d) return Object.freeze({ kind: 'distributed', ...common, columns: columns.map(({ inKey: _inKey, ...c }) => c), cluster: d.cluster, local: d.local, shardingKey: d.shardingKey });
  }
  if (row.engine.endsWith('MergeTree')) {
    const clauses = splitEngineClauses(row.engine_full);
    const { engine, replication } = replicatedEngine(clauses.engine);
    const orderBy = row.sorting_key.includes(',') ? `(${row.sorting_key})` : row.sorting_key || 'tuple()';
    return Object.freeze({
      kind: 'table',
      ...common,
      engine,
      columns,
      orderBy,
      ...(row.partition_key ? { partitionBy: row.partition_key } : {}),
      ...(row.primary_key && row.primary_key !== row.sorting_key ? { primaryKey: row.primary_key } : {}),
      ...(clauses.TTL ? { ttl: clauses.TTL } : {}),
      settings: clauses.SETTINGS ? parseSettingsList(clauses.SETTINGS) : {},
      ...(replication ? { replication } : {}),
    });
  }
  return undefined;
}

/**
 * The settings the Kafka engine's positional arguments stand for, in their order (measured on 26.7 by giving
 * each position a value of the wrong type: the engine names the setting it expected; it ignores arguments
 * after the 17th). `Kafka('host:9092', 'topic', 'group', 'JSONEachRow')` is the form ClickHouse's docs show.
 */
const KAFKA_POSITIONAL = [
  'kafka_broker_list',
  'kafka_topic_list',
  'kafka_group_name',
  'kafka_format',
  'kafka_row_delimiter',
  'kafka_schema',
  'kafka_num_consumers',
  'kafka_max_block_size',
  'kafka_skip_broken_messages',
  'kafka_commit_every_batch',
  'kafka_client_id',
  'kafka_poll_timeout_ms',
  'kafka_flush_interval_ms',
  'kafka_thread_per_consumer',
  'kafka_handle_error_mode',
  'kafka_commit_on_select',
  'kafka_max_rows_per_message',
] as const;

/** Positional engine arguments as the settings they set; an empty kafka_schema (no schema) is left out, as the SETTINGS form leaves it. */
function positionalSettings(values: readonly SettingValue[]): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  KAFKA_POSITIONAL.forEach((name, i) => {
    const v = values[i];
    if (v === undefined || (name === 'kafka_schema' && v === '')) return;
    out[name] = v;
  });
  return out;
}

/**
 * A Kafka table from its engine clause as the engine normalizes it (`engine_full`, or the ENGINE clause of a
 * CREATE statement: `Kafka SETTINGS k = v, …` or `Kafka(collection, k = v, …) SETTINGS …`).
 */
export function kafkaTableFromEngine(name: string, engineFull: string, columns: readonly Column[] = [], common: { readonly comment: string; readonly owner?: DbObject['owner'] } = { comment: '' }): KafkaTable {
  const m = /^Kafka(?:\((.*)\))?(?: SETTINGS (.*))?$/s.exec(engineFull);
  let namedCollection: string | undefined;
  let settings = {};
  const positional = m?.[1] !== undefined && m[1].trimStart().startsWith("'") ? parseLiteralList(m[1]) : undefined;
  if (positional) settings = positionalSettings(positional);
  else if (m?.[1] !== undefined) {
    const coll = readIdentifier(m[1], 0);
    namedCollection = coll?.name;
    settings = parseSettingsList(m[1].slice(coll?.end ?? 0));
  }
  if (m?.[2] !== undefined) settings = { ...settings, ...parseSettingsList(m[2]) };
  const { kafka_broker_list: brokers, kafka_topic_list: topicList, kafka_group_name: group, kafka_format: format, ...rest } = settings as Record<string, SettingValue | undefined>;
  return Object.freeze({
    kind: 'kafka',
    name,
    ...common,
    columns: columns.map(({ inKey: _inKey, ...c }) => c),
    ...(namedCollection ? { namedCollection } : {}),
    ...(brokers !== undefined ? { brokers: String(brokers) } : {}),
    topics: String(topicList ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t.length > 0),
    group: String(group ?? ''),
    format: String(format ?? ''),
    settings: sortSettings(rest as Record<string, SettingValue>),
  });
}
