/**
 * Model × Model → Change[]. Pure. Both models are read back the same way (the
 * engine's normal forms), so equality is plain equality. Only objects chpipe
 * owns (a `[chpipe:...]` marker in their COMMENT) are compared: anything else
 * in the database is left alone.
 */
import type { Column, DbObject, KafkaTable, MaterializedView, Model, NullTable, SelectParts, Settings, Table } from '../model/model.js';
import { hasFieldChanges, type Change, type ColumnChangeFlags, type ColumnTable, type FieldChanges, type QueueChangeFlags, type RebuildReason, type TableAlter } from './change.js';

/** Renames declared in the YAML (`renamed_from:`): table name → new column name → old column name. */
export type RenameHints = ReadonlyMap<string, ReadonlyMap<string, string>>;

export function diffModels(from: Model, to: Model, renames: RenameHints = new Map()): Change[] {
  const owned = (m: Model) => new Map(m.objects.filter((o) => o.owner).map((o) => [o.name, o]));
  const before = owned(from);
  const after = owned(to);
  const changes: Change[] = [];
  for (const [name, target] of after) {
    const current = before.get(name);
    if (!current) changes.push({ kind: 'createObject', object: target });
    else changes.push(...diffObject(current, target, renames.get(name) ?? new Map()));
  }
  for (const [name, current] of before) if (!after.has(name)) changes.push({ kind: 'dropObject', object: current });
  return changes;
}

function diffObject(from: DbObject, to: DbObject, renames: ReadonlyMap<string, string>): Change[] {
  if (from.kind !== to.kind) return [{ kind: 'replaceObject', from, to }];
  switch (from.kind) {
    case 'table':
      return diffTable(from, to as Table, renames);
    case 'null':
      return diffNull(from, to as NullTable);
    case 'kafka':
      return diffQueue(from, to as KafkaTable);
    case 'mv':
      return diffFlow(from, to as MaterializedView);
    case 'view': {
      const t = to as typeof from;
      return from.select !== t.select || from.comment !== t.comment ? [{ kind: 'replaceView', from, to: t }] : [];
    }
    case 'distributed': {
      // Stores nothing: any difference recreates it (cluster mode, compile/cluster.ts).
      const t = to as typeof from;
      if (from.cluster !== t.cluster || from.local !== t.local || from.shardingKey !== t.shardingKey) return [{ kind: 'replaceObject', from, to: t }];
      // Its columns follow its local table's, altered in place (ALTER on a Distributed table is metadata only).
      const alters = columnAlters(from, t, renames);
      if (from.comment !== t.comment) alters.push({ kind: 'modifyComment', comment: t.comment });
      return alters.length ? [{ kind: 'alterTable', from, to: t, alters }] : [];
    }
  }
}

/** Two parsed queries that compute the same rows: equal parts, each item compared in its canonical spelling (SelectParts). */
export function sameComputation(a: SelectParts | undefined, b: SelectParts | undefined): boolean {
  if (!a || !b) return false;
  const spelled = (q: SelectParts): unknown => ({ ...q, items: q.items.map((i) => ({ name: i.name, expr: i.canonical ?? i.expr })), fromQuery: q.fromQuery && spelled(q.fromQuery) });
  return JSON.stringify(spelled(a)) === JSON.stringify(spelled(b));
}

function diffFlow(from: MaterializedView, to: MaterializedView): Change[] {
  // `sum(x)` and `sumSimpleState(x)` into a SimpleAggregateFunction column are one query (sameComputation).
  const query = from.select !== to.select && !sameComputation(from.query, to.query);
  const source = from.from.join('\u0000') !== to.from.join('\u0000');
  const target = from.to !== to.to;
  const comment = from.comment !== to.comment;
  return query || source || target || comment ? [{ kind: 'modifyFlow', from, to, query, source, target, comment }] : [];
}

function sameSettings(a: Settings, b: Settings): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => String(a[k]) === String(b[k]));
}

function columnFlags(a: Column, b: Column): ColumnChangeFlags {
  return {
    type: a.type !== b.type,
    default: a.default?.kind !== b.default?.kind || a.default?.expr !== b.default?.expr,
    comment: (a.comment ?? '') !== (b.comment ?? ''),
    codec: (a.codec ?? '') !== (b.codec ?? ''),
  };
}

const changed = (f: ColumnChangeFlags) => f.type || f.default || f.comment || f.codec;

/** Column alters from one column list to another: renames (declared), adds, modifies, moves, drops. */
function columnAlters(from: ColumnTable, to: ColumnTable, renames: ReadonlyMap<string, string>): TableAlter[] {
  const alters: TableAlter[] = [];
  const oldColumns = new Map(from.columns.map((c) => [c.name, c]));
  const newNames = new Set(to.columns.map((c) => c.name));
  const renamedFrom = new Map<string, string>();
  for (const [newName, oldName] of renames) {
    if (!oldColumns.has(newName) && oldColumns.has(oldName) && !newNames.has(oldName)) renamedFrom.set(newName, oldName);
  }
  to.columns.forEach((c, i) => {
    const oldName = renamedFrom.get(c.name);
    const old = oldColumns.get(oldName ?? c.name);
    if (oldName !== undefined) alters.push({ kind: 'renameColumn', from: oldName, to: c.name });
    if (!old) {
      const prev = to.columns[i - 1];
      alters.push({ kind: 'addColumn', column: c, ...(prev ? { after: prev.name } : {}) });
      return;
    }
    const flags = columnFlags(old, c);
    if (changed(flags)) alters.push({ kind: 'modifyColumn', from: { ...old, name: c.name }, to: c, flags });
  });
  // The columns that stay, in their old order (under their new names), against the declared order.
  const newNameOf = new Map([...renamedFrom].map(([n, o]) => [o, n]));
  const kept = from.columns.map((c) => newNameOf.get(c.name) ?? c.name).filter((n) => newNames.has(n));
  const declared = to.columns.map((c) => c.name).filter((n) => kept.includes(n));
  if (kept.join('\u0000') !== declared.join('\u0000')) {
    to.columns.forEach((c, i) => {
      if (!kept.includes(c.name)) return;
      const prev = to.columns[i - 1];
      alters.push({ kind: 'moveColumn', column: c, ...(prev ? { after: prev.name } : {}) });
    });
  }
  const renamedOld = new Set(renamedFrom.values());
  for (const c of from.columns) if (!newNames.has(c.name) && !renamedOld.has(c.name)) alters.push({ kind: 'dropColumn', column: c });
  return alters;
}

function diffNull(from: NullTable, to: NullTable): Change[] {
  const alters = columnAlters(from, to, new Map());
  if (from.comment !== to.comment) alters.push({ kind: 'modifyComment', comment: to.comment });
  return alters.length ? [{ kind: 'alterTable', from, to, alters }] : [];
}

function diffTable(from: Table, to: Table, renames: ReadonlyMap<string, string>): Change[] {
  const alters = columnAlters(from, to, renames);
  if ((from.ttl ?? '') !== (to.ttl ?? '')) alters.push({ kind: 'modifyTtl', ...(from.ttl ? { from: from.ttl } : {}), ...(to.ttl ? { to: to.ttl } : {}) });
  if (!sameSettings(from.settings, to.settings)) {
    const set: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(to.settings)) if (String(from.settings[k]) !== String(v)) set[k] = v;
    const reset = Object.keys(from.settings).filter((k) => !(k in to.settings));
    alters.push({ kind: 'modifySettings', set, reset });
  }
  if (from.comment !== to.comment) alters.push({ kind: 'modifyComment', comment: to.comment });

  const reasons: RebuildReason[] = [];
  // Replicated or not (cluster mode) is part of the engine.
  if (from.engine !== to.engine || (from.replication?.path ?? null) !== (to.replication?.path ?? null) || (from.replication?.replica ?? null) !== (to.replication?.replica ?? null) || (from.replication === undefined) !== (to.replication === undefined)) reasons.push('engine');
  if (from.orderBy !== to.orderBy) reasons.push('orderBy');
  if ((from.partitionBy ?? '') !== (to.partitionBy ?? '')) reasons.push('partitionBy');
  if ((from.primaryKey ?? '') !== (to.primaryKey ?? '')) reasons.push('primaryKey');
  // The engine refuses to change the type of a key column in place.
  if (alters.some((a) => a.kind === 'modifyColumn' && a.flags.type && (a.from.inKey === true || a.to.inKey === true))) reasons.push('keyType');
  if (reasons.length) return [{ kind: 'rebuildTable', from, to, reasons, alters }];
  return alters.length ? [{ kind: 'alterTable', from, to, alters }] : [];
}

function fieldChanges(from: readonly Column[], to: readonly Column[]): FieldChanges {
  const before = new Map(from.map((c) => [c.name, c]));
  const after = new Map(to.map((c) => [c.name, c]));
  const kept = (list: readonly Column[], other: Map<string, Column>) => list.map((c) => c.name).filter((n) => other.has(n));
  return {
    added: to.filter((c) => !before.has(c.name)).map((c) => c.name),
    removed: from.filter((c) => !after.has(c.name)).map((c) => c.name),
    retyped: to.filter((c) => before.has(c.name) && before.get(c.name)?.type !== c.type).map((c) => c.name),
    reordered: kept(from, after).join('\u0000') !== kept(to, before).join('\u0000'),
  };
}

function diffQueue(from: KafkaTable, to: KafkaTable): Change[] {
  const keys = new Set([...Object.keys(from.settings), ...Object.keys(to.settings)]);
  const flags: QueueChangeFlags = {
    fields: fieldChanges(from.columns, to.columns),
    format: from.format !== to.format,
    group: from.group !== to.group,
    topics: from.topics.join(',') !== to.topics.join(','),
    brokers: (from.brokers ?? '') !== (to.brokers ?? '') || (from.namedCollection ?? '') !== (to.namedCollection ?? ''),
    settings: [...keys].filter((k) => String(from.settings[k]) !== String(to.settings[k])).sort(),
  };
  if (hasFieldChanges(flags.fields) || flags.format || flags.group || flags.topics || flags.brokers || flags.settings.length) return [{ kind: 'replaceQueue', from, to, flags }];
  return from.comment !== to.comment ? [{ kind: 'commentQueue', from, to }] : [];
}
