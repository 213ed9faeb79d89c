/**
 * The Model: a plain, readonly description of the ClickHouse objects of one
 * database. The compiler produces one from the YAML, the inspector reads one
 * back from any ClickHouse (a scratch engine that replayed the migrations, or a
 * live target). The differ never knows which.
 *
 * Every object is a frozen value with a literal `kind`; switches over kinds are
 * exhaustive (see `assertNever`).
 */

/** The part an object plays in its pipeline (SPEC §2). */
export type Role = 'queue' | 'hub' | 'hub_mv' | 'table' | 'state' | 'view' | 'mv' | 'errors' | 'errors_mv' | LocalRole;

/** Cluster mode (compile/cluster.ts): the per-node table under a Distributed table of the role without `_local`. */
export type LocalRole = 'table_local' | 'state_local' | 'errors_local';

export const ROLES: readonly Role[] = ['queue', 'hub', 'hub_mv', 'table', 'table_local', 'state', 'state_local', 'view', 'mv', 'errors', 'errors_local', 'errors_mv'];

/** Which pipeline an object serves; written into the object's COMMENT. */
export interface Owner {
  readonly pipeline: string;
  readonly role: Role;
}

export type DefaultKind = 'DEFAULT' | 'MATERIALIZED' | 'ALIAS';

export interface Column {
  readonly name: string;
  /** ClickHouse type as the engine normalizes it (or as compiled, before a scratch run). */
  readonly type: string;
  readonly default?: { readonly kind: DefaultKind; readonly expr: string };
  readonly comment?: string;
  readonly codec?: string;
  /**
   * Part of the sorting, partition or primary key (as the engine reports it;
   * absent on compiled models). A key column's type cannot be altered in place.
   */
  readonly inKey?: boolean;
}

/** A setting value: strings are SQL string literals, numbers are plain. */
export type SettingValue = string | number;
export type Settings = Readonly<Record<string, SettingValue>>;

export interface KafkaTable {
  readonly kind: 'kafka';
  readonly name: string;
  /** The message fields the engine parses (plain columns only). */
  readonly columns: readonly Column[];
  /** Named collection holding brokers/credentials, when used: ENGINE = Kafka(coll, ...). */
  readonly namedCollection?: string;
  /** kafka_broker_list; may hold `${VAR}` references, filled in when a statement runs on a target. */
  readonly brokers?: string;
  /** kafka_topic_list */
  readonly topics: readonly string[];
  /** kafka_group_name: committed offsets live in Kafka under it. */
  readonly group: string;
  /** kafka_format */
  readonly format: string;
  /** Every other engine setting, kafka_* and format settings alike, sorted by name. */
  readonly settings: Settings;
  readonly comment: string;
  readonly owner?: Owner;
}

/** An `ENGINE = Null` table: the hub a queue's only reader writes into, fanning out to several flows. */
export interface NullTable {
  readonly kind: 'null';
  readonly name: string;
  readonly columns: readonly Column[];
  readonly comment: string;
  readonly owner?: Owner;
}

export interface Table {
  readonly kind: 'table';
  readonly name: string;
  /** Engine name with its arguments, e.g. `MergeTree`, `ReplacingMergeTree(version)`. */
  readonly engine: string;
  readonly columns: readonly Column[];
  /** ORDER BY expression list, e.g. `api_id` or `(api_id, minute)`; `tuple()` when empty. */
  readonly orderBy: string;
  readonly partitionBy?: string;
  readonly primaryKey?: string;
  readonly ttl?: string;
  readonly settings: Settings;
  readonly comment: string;
  readonly owner?: Owner;
  /** Cluster mode: the engine is the Replicated variant of `engine`, its replicas meeting here (compile/cluster.ts). */
  readonly replication?: Replication;
}

/**
 * Where the replicas of one shard meet in Keeper: `ReplicatedX(path, replica,
 * ...X's arguments)`. Macros (`{shard}`, `{replica}`, `{uuid}`, ...) are
 * expanded by each server. Both absent: the server's `default_replica_path`
 * and `default_replica_name`.
 */
export interface Replication {
  readonly path?: string;
  readonly replica?: string;
}

/** `ENGINE = Distributed(cluster, database, local, shardingKey)`: the name users query on a cluster; it stores nothing. */
export interface DistributedTable {
  readonly kind: 'distributed';
  readonly name: string;
  readonly columns: readonly Column[];
  readonly cluster: string;
  /** The per-node table (same database) it reads from every shard and writes into. */
  readonly local: string;
  /** The sharding expression for rows inserted through it. */
  readonly shardingKey: string;
  readonly comment: string;
  readonly owner?: Owner;
}

/** A view's SELECT split into its parts, as the engine normalized it (see sql/select.ts). */
export interface SelectParts {
  /** Output columns by name, each with the expression that computes it. */
  readonly items: readonly {
    readonly name: string;
    readonly expr: string;
    /** The other spelling of the same computation, when it has one: `sum(x)` for chpipe's `sumSimpleState(x)` (what a SimpleAggregateFunction column receives either way). */
    readonly canonical?: string;
  }[];
  readonly from: string;
  /** FROM a subquery (an aggregate's column layer): its parts, so a change inside it is compared part by part. */
  readonly fromQuery?: SelectParts;
  /** `ARRAY JOIN …`: each source row gives one row per array element (a message fanned out). */
  readonly arrayJoin?: string;
  readonly where?: string;
  readonly groupBy?: string;
}

export interface MaterializedView {
  readonly kind: 'mv';
  readonly name: string;
  /** Target table name (same database). */
  readonly to: string;
  /** The tables (same database) whose inserts trigger this view: a queue, a hub or a table. */
  readonly from: readonly string[];
  readonly select: string;
  /** The SELECT in parts, when it was read back from an engine and has the usual shape. */
  readonly query?: SelectParts;
  readonly comment: string;
  readonly owner?: Owner;
}

export interface View {
  readonly kind: 'view';
  readonly name: string;
  readonly select: string;
  readonly comment: string;
  readonly owner?: Owner;
}

export type DbObject = KafkaTable | NullTable | Table | DistributedTable | MaterializedView | View;
export type ObjectKind = DbObject['kind'];

/** Where objects are placed: the database and, later, the cluster (ON CLUSTER). */
export interface Placement {
  readonly database: string;
  readonly cluster?: string;
}

export interface Model extends Placement {
  /** Sorted by name; names are unique. */
  readonly objects: readonly DbObject[];
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

export function makeModel(placement: Placement, objects: readonly DbObject[]): Model {
  const sorted = [...objects].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Object.freeze({ ...placement, objects: Object.freeze(sorted) });
}

/** The standard object name for a pipeline's role (SPEC §2). */
export function objectName(pipeline: string, role: Role): string {
  switch (role) {
    case 'table':
    case 'view':
      return pipeline;
    case 'queue':
      return `${pipeline}_queue`;
    case 'hub':
      return `${pipeline}_hub`;
    case 'hub_mv':
      return `${pipeline}_hub_mv`;
    case 'state':
      return `${pipeline}_state`;
    case 'mv':
      return `${pipeline}_mv`;
    case 'errors':
      return `${pipeline}_errors`;
    case 'errors_mv':
      return `${pipeline}_errors_mv`;
    case 'table_local':
    case 'state_local':
    case 'errors_local':
      return localName(objectName(pipeline, role.slice(0, -'_local'.length) as Role));
    default:
      return assertNever(role);
  }
}

/** Cluster mode: the per-node table under the Distributed table `name`. */
export function localName(name: string): string {
  return `${name}_local`;
}

/** Object names a pipeline declares explicitly (`objects:`), by role; roles not given use `objectName`. */
export type ObjectNames = Readonly<Partial<Record<Role, string>>>;

/** The name of a pipeline's object: the one its `objects:` gives, else the standard one. */
export function pipelineObjectName(p: { readonly name: string; readonly objects?: ObjectNames }, role: Role): string {
  return p.objects?.[role] ?? objectName(p.name, role);
}

/** Settings sorted by name: one canonical order for every settings map. */
export function sortSettings(settings: Settings): Settings {
  const out: Record<string, SettingValue> = {};
  for (const k of Object.keys(settings).sort()) out[k] = settings[k] as SettingValue;
  return Object.freeze(out);
}

/** Is this column type an aggregate state (AggregateFunction / SimpleAggregateFunction)? */
export function isAggregateStateType(type: string): boolean {
  return type.startsWith('AggregateFunction(') || type.startsWith('SimpleAggregateFunction(');
}
