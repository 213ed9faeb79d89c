import type { ObjectNames, Role } from '../model/model.js';
import type { SourceFile } from './source.js';

/** The declared state, typed, with defaults applied. Every part knows its file for diagnostics. */
export interface ProjectSpec {
  readonly source: SourceFile;
  readonly database: string;
  readonly cluster?: string;
  /** Cluster mode's layout (`cluster:` in chpipe.yaml), present with `cluster`; see compile/cluster.ts. */
  readonly clusterLayout?: ClusterLayout;
  readonly kafka: KafkaConnection;
  readonly schemasDir: string;
  readonly migrationsDir: string;
  readonly environments: Readonly<Record<string, { readonly url: string }>>;
  readonly pipelines: readonly PipelineSpec[];
}

export interface KafkaConnection {
  /** Comma-separated broker list, after ${VAR} expansion. */
  readonly brokers?: string;
  readonly namedCollection?: string;
  /** `kafka.schema_registry`: the AvroConfluent sources' schema registry when a source names none. */
  readonly schemaRegistry?: string;
  readonly settings: Readonly<Record<string, string | number>>;
}

export type OnError = 'stall' | 'skip' | 'stream';

export interface ColumnSpec {
  readonly name: string;
  readonly type: string;
  /** A Kafka virtual column this column is read from. */
  readonly from?: string;
  /**
   * The message field a plain column is parsed from (`field:`; after a rename,
   * the old name, so messages keep being read the same way). Absent: the name.
   */
  readonly field?: string;
  /** An expression computed in the view. */
  readonly expr?: string;
  /**
   * `path: customer.id` / `items[1].sku`: a member of a nested message field (a named Tuple), as written; `expr` holds what
   * it compiles to (`tupleElement(customer, 'id')`), so the column is computed in the view like any expr column.
   */
  readonly path?: string;
  readonly comment?: string;
  readonly renamedFrom?: string;
}

/** A message field the Kafka table parses (`source.fields`): parsed, and stored only where a column reads it. */
export interface FieldSpec {
  readonly name: string;
  readonly type: string;
}

export interface SourceSpec {
  readonly topics: readonly string[];
  /**
   * `source.fields`: what the Kafka table parses, in its column order. Absent: the plain columns' fields
   * (each plain column parses its own). Fields no column stores can still be read by filter, expr, by and measures.
   */
  readonly fields?: readonly FieldSpec[];
  readonly format: string;
  readonly group: string;
  readonly consumers?: number;
  /** Declared partitions of each source topic (`source.partitions`), for cluster mode's consumer budget. */
  readonly partitions?: number;
  readonly onError: OnError;
  /** `on_error: stream`: days NAME_errors keeps a row (`TTL received_at + toIntervalDay(N)`); absent: kept until deleted. */
  readonly errorsRetentionDays?: number;
  readonly brokers?: string;
  readonly schema?: string;
  readonly schemaRegistry?: string;
  readonly settings: Readonly<Record<string, string | number>>;
  /**
   * `on_error: stream` only. Absent: one reader on the Kafka table fills a Null hub that the table's
   * view and the errors view read. `direct` (`objects: { hub: null, hub_mv: null }`): both views read
   * the Kafka table, guarded by `length(_error) = 0` / `> 0`, as ClickHouse's docs show.
   */
  readonly fanOut?: 'direct';
}

export interface TableSpec {
  readonly orderBy: readonly string[];
  readonly partitionBy?: string;
  readonly ttl?: string;
  readonly engine: string;
  readonly settings: Readonly<Record<string, string | number>>;
}

interface PipelineBase {
  readonly name: string;
  readonly description?: string;
  readonly file: SourceFile;
  /** Explicit object names (`objects:`), for roles that do not follow NAME, NAME_queue, ... */
  readonly objects?: ObjectNames;
  /** Roles `objects:` sets to `null`: the pipeline has no such object (see `OPTIONAL_ROLES` in parse.ts). */
  readonly without?: readonly Role[];
}

export interface IngestSpec extends PipelineBase {
  readonly kind: 'ingest';
  readonly source: SourceSpec;
  readonly columns: readonly ColumnSpec[];
  readonly table: TableSpec;
  readonly filter?: string;
  /** `explode`: the view's ARRAY JOIN, one row per element of this array (order items out of an order). */
  readonly explode?: string;
}

export interface MeasureSpec {
  readonly name: string;
  /** As written, e.g. `quantile(0.95)(time_taken)`. */
  readonly call: string;
  readonly fn: string;
  /** Parameters in parentheses, e.g. `0.95`, or undefined. */
  readonly params?: string;
  readonly args: string;
}

export interface AggregateSpec extends PipelineBase {
  readonly kind: 'aggregate';
  readonly source: SourceSpec;
  readonly columns: readonly ColumnSpec[];
  readonly by: readonly { readonly name: string; readonly expr: string }[];
  readonly measures: readonly MeasureSpec[];
  /** `aggregate.engine`: the state table's; SummingMergeTree keeps count()/sum() measures as plain numbers. */
  readonly engine: 'AggregatingMergeTree' | 'SummingMergeTree';
  readonly table: Omit<TableSpec, 'orderBy' | 'engine'>;
  readonly filter?: string;
  /** As an ingest's: the column layer fans each message out before the aggregate groups it. */
  readonly explode?: string;
}

/**
 * An aggregate over another pipeline's table (`from:` in place of `source:`): the view reads the rows that
 * pipeline stores as they are inserted, so one consumer group and one errors stream serve every rollup.
 */
export interface RollupSpec extends PipelineBase {
  readonly kind: 'rollup';
  /** The ingest pipeline whose table it reads. */
  readonly from: string;
  readonly by: readonly { readonly name: string; readonly expr: string }[];
  readonly measures: readonly MeasureSpec[];
  readonly engine: 'AggregatingMergeTree' | 'SummingMergeTree';
  readonly table: Omit<TableSpec, 'orderBy' | 'engine'>;
  readonly filter?: string;
}

export interface PublishSpec extends PipelineBase {
  readonly kind: 'publish';
  /** The pipeline or table name it reads from. */
  readonly from: string;
  readonly where?: string;
  readonly columns?: readonly string[];
  readonly topic: string;
  readonly format: string;
  readonly group: string;
  readonly brokers?: string;
  readonly settings: Readonly<Record<string, string | number>>;
}

export type PipelineSpec = IngestSpec | AggregateSpec | RollupSpec | PublishSpec;

/** The pipelines with a Kafka consumer of their own (a `source`). */
export function consumesKafka(p: PipelineSpec): p is IngestSpec | AggregateSpec {
  return p.kind === 'ingest' || p.kind === 'aggregate';
}

/** `cluster:` of chpipe.yaml: how tables are laid out on the cluster's nodes (compile/cluster.ts). */
export interface ClusterLayout {
  /** Keeper path and replica name of Replicated tables, with macros; `default`: the servers' default_replica_path and default_replica_name. */
  readonly replication: { readonly path: string; readonly replica: string } | 'default';
  /** Sharding expression of the Distributed tables. */
  readonly shardingKey: string;
}
