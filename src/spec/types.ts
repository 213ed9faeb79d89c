import type { SourceFile } from './source.js';

/** The declared state, typed, with defaults applied. Every part knows its file for diagnostics. */
export interface ProjectSpec {
  readonly source: SourceFile;
  readonly database: string;
  readonly cluster?: string;
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
  readonly comment?: string;
  readonly renamedFrom?: string;
}

export interface SourceSpec {
  readonly topics: readonly string[];
  readonly format: string;
  readonly group: string;
  readonly consumers?: number;
  readonly onError: OnError;
  readonly brokers?: string;
  readonly schema?: string;
  readonly schemaRegistry?: string;
  readonly settings: Readonly<Record<string, string | number>>;
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
}

export interface IngestSpec extends PipelineBase {
  readonly kind: 'ingest';
  readonly source: SourceSpec;
  readonly columns: readonly ColumnSpec[];
  readonly table: TableSpec;
  readonly filter?: string;
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

export type PipelineSpec = IngestSpec | AggregateSpec | PublishSpec;
