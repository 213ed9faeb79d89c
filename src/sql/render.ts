/** Typed operations → SQL for a placement (database, cluster). Pure. */
import { assertNever, type Placement } from '../model/model.js';
import type { Operation } from '../plan/operation.js';
import { alterStatement, commentStatement, copyColumnsStatement, createOrReplaceView, exchangeStatement, modifyQueryStatement } from './alter.js';
import { createDatabase, createObject, createOrReplaceTable, dropObject } from './ddl.js';

export function renderOperation(op: Operation, p: Placement): string {
  switch (op.kind) {
    case 'createDatabase':
      return createDatabase(p);
    case 'create':
      return createObject(p, op.object);
    case 'createOrReplaceTable':
      return createOrReplaceTable(p, op.table);
    case 'drop':
      return dropObject(p, op.object);
    case 'alter':
      return alterStatement(p, op.table, op.alter);
    case 'comment':
      return commentStatement(p, op.name, op.comment);
    case 'modifyQuery':
      return modifyQueryStatement(p, op.view, op.select);
    case 'replaceView':
      return createOrReplaceView(p, op.view.name, op.view.select, op.view.comment);
    case 'copyRows':
      return copyColumnsStatement(p, op.into, op.from, op.columns, op.spread);
    case 'exchange':
      return exchangeStatement(p, op.a, op.b);
    default:
      return assertNever(op);
  }
}
