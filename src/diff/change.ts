/**
 * A change is one small typed value per kind (after Atlas's sql/schema
 * changes): the planner reads what differs from the value, never by
 * re-comparing objects.
 */
import type { Column, DbObject, DistributedTable, KafkaTable, MaterializedView, NullTable, Settings, Table, View } from '../model/model.js';

/** What differs in a modified column. */
export interface ColumnChangeFlags {
  readonly type: boolean;
  readonly default: boolean;
  readonly comment: boolean;
  readonly codec: boolean;
}

export type TableAlter =
  | { readonly kind: 'addColumn'; readonly column: Column; readonly after?: string }
  | { readonly kind: 'dropColumn'; readonly column: Column }
  | { readonly kind: 'renameColumn'; readonly from: string; readonly to: string }
  | { readonly kind: 'modifyColumn'; readonly from: Column; readonly to: Column; readonly flags: ColumnChangeFlags }
  /** Column order: metadata only (MODIFY COLUMN ... AFTER / FIRST). */
  | { readonly kind: 'moveColumn'; readonly column: Column; readonly after?: string }
  | { readonly kind: 'modifyTtl'; readonly from?: string; readonly to?: string }
  | { readonly kind: 'modifySettings'; readonly set: Settings; readonly reset: readonly string[] }
  | { readonly kind: 'modifyComment'; readonly comment: string };

/** Why a table must be rebuilt (new table, copy, exchange): things ALTER cannot change. */
export type RebuildReason = 'engine' | 'orderBy' | 'partitionBy' | 'primaryKey' | 'keyType';

/** How the message fields a queue parses change (the queue's columns). */
export interface FieldChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Fields parsed into another type. */
  readonly retyped: readonly string[];
  /** The fields that stay come in another order. */
  readonly reordered: boolean;
}

/** What differs in a Kafka table; any of it means DROP + CREATE. */
export interface QueueChangeFlags {
  readonly fields: FieldChanges;
  readonly format: boolean;
  readonly group: boolean;
  readonly topics: boolean;
  readonly brokers: boolean;
  /** Names of other settings that differ. */
  readonly settings: readonly string[];
}

/** A table whose columns are altered in place; a Distributed table (cluster mode) stores nothing, like a hub. */
export type ColumnTable = Table | NullTable | DistributedTable;

export type Change =
  | { readonly kind: 'createObject'; readonly object: DbObject }
  | { readonly kind: 'dropObject'; readonly object: DbObject }
  | { readonly kind: 'alterTable'; readonly from: ColumnTable; readonly to: ColumnTable; readonly alters: readonly TableAlter[] }
  | { readonly kind: 'rebuildTable'; readonly from: Table; readonly to: Table; readonly reasons: readonly RebuildReason[]; readonly alters: readonly TableAlter[] }
  | { readonly kind: 'replaceQueue'; readonly from: KafkaTable; readonly to: KafkaTable; readonly flags: QueueChangeFlags }
  | { readonly kind: 'commentQueue'; readonly from: KafkaTable; readonly to: KafkaTable }
  | { readonly kind: 'modifyFlow'; readonly from: MaterializedView; readonly to: MaterializedView; readonly query: boolean; readonly source: boolean; readonly target: boolean; readonly comment: boolean }
  | { readonly kind: 'replaceView'; readonly from: View; readonly to: View }
  | { readonly kind: 'replaceObject'; readonly from: DbObject; readonly to: DbObject };

export type ChangeKind = Change['kind'];

export function hasFieldChanges(f: FieldChanges): boolean {
  return f.added.length > 0 || f.removed.length > 0 || f.retyped.length > 0 || f.reordered;
}
