/**
 * The only place that turns model objects into SQL text. Output is
 * deterministic: the same model gives the same bytes.
 */
import {
  assertNever,
  type Column,
  type DbObject,
  type DistributedTable,
  type KafkaTable,
  type MaterializedView,
  type Model,
  type NullTable,
  type Placement,
  type Settings,
  type Table,
  type View,
} from '../model/model.js';
import { flowLevels } from '../model/flows.js';
import { ident, qualified, settingLiteral, stringLiteral } from './quote.js';

const INDENT = '    ';

function onCluster(p: Placement): string {
  return p.cluster ? ` ON CLUSTER ${ident(p.cluster)}` : '';
}

export function createDatabase(p: Placement): string {
  return `CREATE DATABASE IF NOT EXISTS ${ident(p.database)}${onCluster(p)}`;
}

export function columnDefinition(c: Column): string {
  let sql = `${ident(c.name)} ${c.type}`;
  if (c.default) sql += ` ${c.default.kind} ${c.default.expr}`;
  if (c.comment) sql += ` COMMENT ${stringLiteral(c.comment)}`;
  if (c.codec) sql += ` CODEC(${c.codec})`;
  return sql;
}

function columnList(columns: readonly Column[]): string {
  return `(\n${columns.map((c) => INDENT + columnDefinition(c)).join(',\n')}\n)`;
}

export function settingsList(settings: Settings): string {
  return Object.entries(settings)
    .map(([k, v]) => `${k} = ${settingLiteral(v)}`)
    .join(',\n' + INDENT);
}

function commentClause(comment: string): string {
  return comment ? `\nCOMMENT ${stringLiteral(comment)}` : '';
}

function header(p: Placement, what: string, name: string): string {
  return `CREATE ${what} IF NOT EXISTS ${qualified(p.database, name)}${onCluster(p)}`;
}

/** The Kafka engine settings in the order of the ClickHouse docs: the required four, then the rest by name. */
export function kafkaSettings(t: KafkaTable): Settings {
  return {
    ...(t.brokers !== undefined ? { kafka_broker_list: t.brokers } : {}),
    kafka_topic_list: t.topics.join(','),
    kafka_group_name: t.group,
    kafka_format: t.format,
    ...t.settings,
  };
}

export function createKafkaTable(p: Placement, t: KafkaTable): string {
  const settings = `\nSETTINGS ${settingsList(kafkaSettings(t))}`;
  const engine = t.namedCollection ? `Kafka(${ident(t.namedCollection)})` : 'Kafka';
  return `${header(p, 'TABLE', t.name)}\n${columnList(t.columns)}\nENGINE = ${engine}${settings}${commentClause(t.comment)}`;
}

/** A fresh, empty table under this name, whatever was there: the first statement of a rebuild, safe to run again. */
export function createOrReplaceTable(p: Placement, t: Table): string {
  return `CREATE OR REPLACE TABLE ${qualified(p.database, t.name)}${onCluster(p)}\n${columnList(t.columns)}\n${tableEngineClauses(t)}${commentClause(t.comment)}`;
}

export function createNullTable(p: Placement, t: NullTable): string {
  return `${header(p, 'TABLE', t.name)}\n${columnList(t.columns)}\nENGINE = Null${commentClause(t.comment)}`;
}

/**
 * The engine with its arguments; in cluster mode its Replicated variant:
 * `ReplacingMergeTree(v)` → `ReplicatedReplacingMergeTree('path', 'replica', v)`,
 * or with no path and replica the server's defaults (`ReplicatedMergeTree`).
 */
export function tableEngine(t: Pick<Table, 'engine' | 'replication'>): string {
  if (!t.replication) return t.engine;
  const open = t.engine.indexOf('(');
  const name = open < 0 ? t.engine : t.engine.slice(0, open);
  const args = open < 0 ? '' : t.engine.slice(open + 1, t.engine.lastIndexOf(')')).trim();
  const { path, replica } = t.replication;
  const all = [...(path !== undefined ? [stringLiteral(path), stringLiteral(replica ?? '{replica}')] : []), ...(args ? [args] : [])];
  return `Replicated${name}${all.length ? `(${all.join(', ')})` : ''}`;
}

export function tableEngineClauses(t: Table): string {
  let sql = `ENGINE = ${tableEngine(t)}`;
  if (t.partitionBy) sql += `\nPARTITION BY ${t.partitionBy}`;
  sql += `\nORDER BY ${t.orderBy}`;
  if (t.primaryKey) sql += `\nPRIMARY KEY ${t.primaryKey}`;
  if (t.ttl) sql += `\nTTL ${t.ttl}`;
  if (Object.keys(t.settings).length) sql += `\nSETTINGS ${settingsList(t.settings)}`;
  return sql;
}

export function createTable(p: Placement, t: Table): string {
  return `${header(p, 'TABLE', t.name)}\n${columnList(t.columns)}\n${tableEngineClauses(t)}${commentClause(t.comment)}`;
}

/**
 * A view's `AS` clause with its comment. The SELECT is parenthesized: ClickHouse
 * before 26 (24.8, 25.8) reads a COMMENT that follows a SELECT ending at
 * `FROM db.t` as the table's alias and fails with a syntax error; `AS (SELECT
 * ...) COMMENT '...'` is how those versions print a view themselves, and 26.7
 * reads it back with the same `as_select` (docs/engine-versions.md).
 */
export function viewQueryClause(select: string, comment: string): string {
  return `\nAS (${select})${commentClause(comment)}`;
}

export function createMaterializedView(p: Placement, v: MaterializedView): string {
  return `${header(p, 'MATERIALIZED VIEW', v.name)}\nTO ${qualified(p.database, v.to)}${viewQueryClause(v.select, v.comment)}`;
}

/** Cluster mode: the name users query, over every node's local table. Cluster, database and table are string literals (any name works). */
export function createDistributedTable(p: Placement, t: DistributedTable): string {
  const engine = `Distributed(${stringLiteral(t.cluster)}, ${stringLiteral(p.database)}, ${stringLiteral(t.local)}, ${t.shardingKey})`;
  return `${header(p, 'TABLE', t.name)}\n${columnList(t.columns)}\nENGINE = ${engine}${commentClause(t.comment)}`;
}

export function createView(p: Placement, v: View): string {
  return `${header(p, 'VIEW', v.name)}${viewQueryClause(v.select, v.comment)}`;
}

export function createObject(p: Placement, o: DbObject): string {
  switch (o.kind) {
    case 'kafka':
      return createKafkaTable(p, o);
    case 'table':
      return createTable(p, o);
    case 'null':
      return createNullTable(p, o);
    case 'distributed':
      return createDistributedTable(p, o);
    case 'mv':
      return createMaterializedView(p, o);
    case 'view':
      return createView(p, o);
    default:
      return assertNever(o);
  }
}

export function dropObject(p: Placement, o: Pick<DbObject, 'kind' | 'name'>): string {
  const what = o.kind === 'view' || o.kind === 'mv' ? 'VIEW' : 'TABLE';
  return `DROP ${what} IF EXISTS ${qualified(p.database, o.name)}${onCluster(p)} SYNC`;
}

/**
 * Creation order over a whole model: tables, then (cluster mode) Distributed tables, then Kafka tables, then views,
 * then materialized views, downstream first (see `flowLevels`): every target
 * and every downstream flow exists before data starts to move.
 */
export function creationRank(o: DbObject): number {
  switch (o.kind) {
    case 'table':
    case 'null':
      return 0;
    case 'distributed':
      return 1;
    case 'kafka':
      return 2;
    case 'view':
      return 3;
    case 'mv':
      return 4;
    default:
      return assertNever(o);
  }
}

export interface Statement {
  readonly object?: DbObject;
  readonly sql: string;
}

/** Every statement that creates the model from nothing, in a valid order. */
export function createStatements(model: Model): Statement[] {
  const levels = flowLevels(model.objects.filter((o): o is MaterializedView => o.kind === 'mv'));
  const level = (o: DbObject) => (o.kind === 'mv' ? (levels.get(o.name) ?? 0) : 0);
  const ordered = model.objects
    .map((object, i) => ({ object, i, rank: creationRank(object) }))
    .sort((a, b) => a.rank - b.rank || level(a.object) - level(b.object) || a.i - b.i);
  return [{ sql: createDatabase(model) }, ...ordered.map(({ object }) => ({ object, sql: createObject(model, object) }))];
}
