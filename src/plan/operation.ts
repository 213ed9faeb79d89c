/**
 * What a step does, as a typed value. `src/sql/render.ts` turns it into SQL
 * for a target; nothing decides anything by reading the SQL.
 */
import type { TableAlter } from '../diff/change.js';
import type { DbObject, ObjectKind, Table, View } from '../model/model.js';
import { envReferences } from '../spec/env.js';

export type Operation =
  | { readonly kind: 'createDatabase' }
  | { readonly kind: 'create'; readonly object: DbObject }
  /** CREATE OR REPLACE TABLE: a fresh, empty table whatever was there (a rebuild's new table). */
  | { readonly kind: 'createOrReplaceTable'; readonly table: Table }
  | { readonly kind: 'drop'; readonly object: { readonly kind: ObjectKind; readonly name: string } }
  | { readonly kind: 'alter'; readonly table: string; readonly alter: TableAlter }
  | { readonly kind: 'comment'; readonly name: string; readonly comment: string }
  | { readonly kind: 'modifyQuery'; readonly view: string; readonly select: string }
  | { readonly kind: 'replaceView'; readonly view: View }
  /**
   * INSERT INTO `into` (columns) SELECT columns FROM `from`. On a cluster (`spread`), the per-node tables of every
   * shard: read once per shard and written through the cluster by the sharding key.
   */
  | { readonly kind: 'copyRows'; readonly into: string; readonly from: string; readonly columns: readonly string[]; readonly spread?: RowSpread }
  | { readonly kind: 'exchange'; readonly a: string; readonly b: string };

/** How a cluster's per-node table spreads rows over its shards: its Distributed table's cluster and sharding key. */
export interface RowSpread {
  readonly cluster: string;
  readonly shardingKey: string;
}

export type OperationKind = Operation['kind'];

/** The `${VAR}` references an operation carries (a queue's brokers and settings): filled in when it runs on a target. */
export function operationVariables(op: Operation): string[] {
  if (op.kind !== 'create' || op.object.kind !== 'kafka') return [];
  return [op.object.brokers ?? '', ...Object.values(op.object.settings).map(String)].flatMap(envReferences);
}

/** Kafka settings whose values are secrets: masked wherever chpipe shows SQL it filled in. */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set(['kafka_sasl_password', 'kafka_ssl_key_password', 'kafka_ssl_keystore_password', 'kafka_sasl_oauthbearer_client_secret']);

/** The variables an operation uses in secret settings. */
export function operationSecretVariables(op: Operation): string[] {
  if (op.kind !== 'create' || op.object.kind !== 'kafka') return [];
  return Object.entries(op.object.settings)
    .filter(([name]) => SECRET_SETTINGS.has(name))
    .flatMap(([, value]) => envReferences(String(value)));
}
