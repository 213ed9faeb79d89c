/**
 * Model × Model → Change[]. Pure. Both models are read back the same way (the
 * engine's normal forms), so equality is plain equality. Only objects chpipe
 * owns (a `[chpipe:...]` marker in their COMMENT) are compared: anything else
 * in the database is left alone.
 */
import { consumerGroup, topics, type Column, type DbObject, type KafkaTable, type Model, type Settings, type Table } from '../model/model.js';
import type { Change, ColumnChangeFlags, QueueChangeFlags, RebuildReason, TableAlter } from './change.js';

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
    case 'kafka':
      return diffQueue(from, to as KafkaTable);
    case 'mv': {
      const t = to as typeof from;
      const query = from.select !== t.select;
      const target = from.to !== t.to;
      const comment = from.comment !== t.comment;
      return query || target || comment ? [{ kind: 'modifyFlow', from, to: t, query, target, comment }] : [];
    }
    case 'view': {
      const t = to as typeof from;
      return from.select !== t.select || from.comment !== t.comment ? [{ kind: 'replaceView', from, to: t }] : [];
    }
  }
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

function diffTable(from: Table, to: Table, renames: ReadonlyMap<string, string>): Change[] {
  const alters: TableAlter[] = [];
  const oldColumns = new Map(from.columns.map((c) => [c.name, c]));
  const newNames = new Set(to.columns.map((c) => c.name));
  const renamedFrom = new Map<string, string>();
  for (const [newName, oldName] of renames) {
    if (!oldColumns.has(newName) && oldColumns.has(oldName) && !newNames.has(oldName)) renamedFrom.set(newName, oldName);
  }
  to.columns.forEach((c, i) => {
    const oldName = renamedFrom.get(c.name);
    if (oldName !== undefined) {
      alters.push({ kind: 'renameColumn', from: oldName, to: c.name });
      const old = oldColumns.get(oldName) as Column;
      const flags = columnFlags(old, c);
      if (flags.type || flags.default || flags.comment || flags.codec) alters.push({ kind: 'modifyColumn', from: { ...old, name: c.name }, to: c, flags });
      return;
    }
    const old = oldColumns.get(c.name);
    if (!old) {
      const prev = to.columns[i - 1];
      alters.push({ kind: 'addColumn', column: c, ...(prev ? { after: prev.name } : {}) });
      return;
    }
    const flags = columnFlags(old, c);
    if (flags.type || flags.default || flags.comment || flags.codec) alters.push({ kind: 'modifyColumn', from: old, to: c, flags });
  });
  const renamedOld = new Set(renamedFrom.values());
  for (const c of from.columns) if (!newNames.has(c.name) && !renamedOld.has(c.name)) alters.push({ kind: 'dropColumn', column: c });
  if ((from.ttl ?? '') !== (to.ttl ?? '')) alters.push({ kind: 'modifyTtl', ...(from.ttl ? { from: from.ttl } : {}), ...(to.ttl ? { to: to.ttl } : {}) });
  if (!sameSettings(from.settings, to.settings)) {
    const set: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(to.settings)) if (String(from.settings[k]) !== String(v)) set[k] = v;
    const reset = Object.keys(from.settings).filter((k) => !(k in to.settings));
    alters.push({ kind: 'modifySettings', set, reset });
  }
  if (from.comment !== to.comment) alters.push({ kind: 'modifyComment', comment: to.comment });

  const reasons: RebuildReason[] = [];
  if (from.engine !== to.engine) reasons.push('engine');
  if (from.orderBy !== to.orderBy) reasons.push('orderBy');
  if ((from.partitionBy ?? '') !== (to.partitionBy ?? '')) reasons.push('partitionBy');
  if ((from.primaryKey ?? '') !== (to.primaryKey ?? '')) reasons.push('primaryKey');
  if (reasons.length) return [{ kind: 'rebuildTable', from, to, reasons, alters }];
  return alters.length ? [{ kind: 'alterTable', from, to, alters }] : [];
}

function diffQueue(from: KafkaTable, to: KafkaTable): Change[] {
  const sameColumns = from.columns.length === to.columns.length && from.columns.every((c, i) => c.name === to.columns[i]?.name && c.type === to.columns[i]?.type);
  const derived = new Set(['kafka_format', 'kafka_group_name', 'kafka_topic_list', 'kafka_broker_list']);
  const keys = new Set([...Object.keys(from.settings), ...Object.keys(to.settings)]);
  const flags: QueueChangeFlags = {
    columns: !sameColumns,
    format: from.settings.kafka_format !== to.settings.kafka_format,
    group: consumerGroup(from) !== consumerGroup(to),
    topics: topics(from).join(',') !== topics(to).join(','),
    brokers: String(from.settings.kafka_broker_list ?? '') !== String(to.settings.kafka_broker_list ?? '') || (from.namedCollection ?? '') !== (to.namedCollection ?? ''),
    settings: [...keys].filter((k) => !derived.has(k) && String(from.settings[k]) !== String(to.settings[k])).sort(),
  };
  if (flags.columns || flags.format || flags.group || flags.topics || flags.brokers || flags.settings.length) return [{ kind: 'replaceQueue', from, to, flags }];
  return from.comment !== to.comment ? [{ kind: 'commentQueue', from, to }] : [];
}
