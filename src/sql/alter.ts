/** SQL for changes to existing objects. Every statement is safe to run twice (IF [NOT] EXISTS), so an interrupted migration can be rerun. */
import type { TableAlter } from '../diff/change.js';
import type { Column, Placement } from '../model/model.js';
import type { RowSpread } from '../plan/operation.js';
import { columnDefinition, settingsList, viewQueryClause } from './ddl.js';
import { ident, qualified, stringLiteral } from './quote.js';

function alterTable(p: Placement, table: string, clause: string): string {
  return `ALTER TABLE ${qualified(p.database, table)}${p.cluster ? ` ON CLUSTER ${ident(p.cluster)}` : ''}\n    ${clause}`;
}

export function alterStatement(p: Placement, table: string, a: TableAlter): string {
  switch (a.kind) {
    case 'addColumn':
      return alterTable(p, table, `ADD COLUMN IF NOT EXISTS ${columnDefinition(a.column)}${a.after !== undefined ? ` AFTER ${ident(a.after)}` : ' FIRST'}`);
    case 'dropColumn':
      return alterTable(p, table, `DROP COLUMN IF EXISTS ${ident(a.column.name)}`);
    case 'renameColumn':
      return alterTable(p, table, `RENAME COLUMN IF EXISTS ${ident(a.from)} TO ${ident(a.to)}`);
    case 'modifyColumn':
      if (!a.flags.type && !a.flags.default && !a.flags.codec) return alterTable(p, table, `COMMENT COLUMN ${ident(a.to.name)} ${stringLiteral(a.to.comment ?? '')}`);
      return alterTable(p, table, `MODIFY COLUMN ${modifyColumnDefinition(a.to, a.from)}`);
    case 'moveColumn':
      return alterTable(p, table, `MODIFY COLUMN ${modifyColumnDefinition(a.column, a.column)}${a.after !== undefined ? ` AFTER ${ident(a.after)}` : ' FIRST'}`);
    case 'modifyTtl':
      return alterTable(p, table, a.to !== undefined ? `MODIFY TTL ${a.to}` : 'REMOVE TTL');
    case 'modifySettings': {
      const clauses = [
        ...(Object.keys(a.set).length ? [`MODIFY SETTING ${settingsList(a.set)}`] : []),
        ...(a.reset.length ? [`RESET SETTING ${a.reset.map(ident).join(', ')}`] : []),
      ];
      return alterTable(p, table, clauses.join(',\n    '));
    }
    case 'modifyComment':
      return alterTable(p, table, `MODIFY COMMENT ${stringLiteral(a.comment)}`);
  }
}

/** MODIFY COLUMN restates type, default, comment and codec; a removed default is `REMOVE DEFAULT` in ClickHouse, a column without comment keeps the old one, so say it. */
function modifyColumnDefinition(to: Column, from: Column): string {
  let sql = columnDefinition({ ...to, comment: undefined, codec: undefined });
  if (to.comment !== undefined || from.comment !== undefined) sql += ` COMMENT ${stringLiteral(to.comment ?? '')}`;
  if (to.codec) sql += ` CODEC(${to.codec})`;
  return sql;
}

export function commentStatement(p: Placement, name: string, comment: string): string {
  return alterTable(p, name, `MODIFY COMMENT ${stringLiteral(comment)}`);
}

export function modifyQueryStatement(p: Placement, view: string, select: string): string {
  return alterTable(p, view, `MODIFY QUERY\n${select}`);
}

export function createOrReplaceView(p: Placement, name: string, select: string, comment: string): string {
  return `CREATE OR REPLACE VIEW ${qualified(p.database, name)}${p.cluster ? ` ON CLUSTER ${ident(p.cluster)}` : ''}${viewQueryClause(select, comment)}`;
}

/** Copy rows into a rebuilt table, the named columns by name; the others take their defaults. */
/**
 * Copy rows between two tables of the database. With `spread` (a cluster's per-node tables) a plain INSERT would
 * copy only the host that runs it, so the rows are read from every shard once (`cluster(...)`: one replica per
 * shard) and written through the cluster by the sharding key, synchronously, like an insert through a Distributed
 * table over `into`.
 */
export function copyColumnsStatement(p: Placement, into: string, from: string, columns: readonly string[], spread?: RowSpread): string {
  const list = columns.map(ident).join(', ');
  if (!spread) return `INSERT INTO ${qualified(p.database, into)} (${list})\nSELECT ${list}\nFROM ${qualified(p.database, from)}`;
  const on = (table: string, key?: string) => `cluster(${[spread.cluster, p.database, table].map(stringLiteral).join(', ')}${key ? `, ${key}` : ''})`;
  return `INSERT INTO FUNCTION ${on(into, spread.shardingKey)} (${list})\nSELECT ${list}\nFROM ${on(from)}\nSETTINGS distributed_foreground_insert = 1`;
}

export function exchangeStatement(p: Placement, a: string, b: string): string {
  return `EXCHANGE TABLES ${qualified(p.database, a)} AND ${qualified(p.database, b)}${p.cluster ? ` ON CLUSTER ${ident(p.cluster)}` : ''}`;
}
