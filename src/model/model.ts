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
export type Role = 'queue' | 'table' | 'state' | 'view' | 'mv' | 'errors' | 'errors_mv';

export const ROLES: readonly Role[] = ['queue', 'table', 'state', 'view', 'mv', 'errors', 'errors_mv'];

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
}

/** A setting value: strings are SQL string literals, numbers are plain. */
export type SettingValue = string | number;
export type Settings = Readonly<Record<string, SettingValue>>;

export interface KafkaTable {
  readonly kind: 'kafka';
  readonly name: string;
  readonly columns: readonly Column[];
  /** Named collection holding brokers/credentials, when used: ENGINE = Kafka(coll, ...). */
  readonly namedCollection?: string;
  /**
   * Every engine setting, kafka_* and format settings alike, in a canonical order
   * (see `sortKafkaSettings`). kafka_group_name, kafka_topic_list and kafka_format
   * are always present.
   */
  readonly settings: Settings;
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
}

export interface MaterializedView {
  readonly kind: 'mv';
  readonly name: string;
  /** Target table name (same database). */
  readonly to: string;
  readonly select: string;
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

export type DbObject = KafkaTable | Table | MaterializedView | View;
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
    case 'state':
      return `${pipeline}_state`;
    case 'mv':
      return `${pipeline}_mv`;
    case 'errors':
      return `${pipeline}_errors`;
    case 'errors_mv':
      return `${pipeline}_errors_mv`;
    default:
      return assertNever(role);
  }
}

export const KAFKA_REQUIRED_SETTINGS = ['kafka_broker_list', 'kafka_topic_list', 'kafka_group_name', 'kafka_format'] as const;

/** Canonical order: the required settings first (as in the ClickHouse docs), then the rest by name. */
export function sortKafkaSettings(settings: Settings): Settings {
  const rank = (k: string) => {
    const i = (KAFKA_REQUIRED_SETTINGS as readonly string[]).indexOf(k);
    return i < 0 ? KAFKA_REQUIRED_SETTINGS.length : i;
  };
  const keys = Object.keys(settings).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, SettingValue> = {};
  for (const k of keys) out[k] = settings[k] as SettingValue;
  return Object.freeze(out);
}

export function consumerGroup(queue: KafkaTable): string {
  return String(queue.settings.kafka_group_name ?? '');
}

export function topics(queue: KafkaTable): string[] {
  return String(queue.settings.kafka_topic_list ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}
