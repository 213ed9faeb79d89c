/**
 * Drift: what differs between a target and the state its applied migrations
 * build, in words per object. Pure: the changes come from `diffModels(migrated,
 * target)`, so "added" means the target has something the migrations do not.
 */
import type { DbObject, Model } from '../model/model.js';
import { SECRET_SETTINGS } from '../plan/operation.js';
import type { Change, TableAlter } from './change.js';

export interface Drift {
  /** `db.name` */
  readonly object: string;
  readonly detail: string;
}

/** What the engine shows for a secret setting's value (and what drift compares it as). */
export const HIDDEN = '[HIDDEN]';

/** Secret Kafka settings read back as `[HIDDEN]` from a server: compared as equal whatever their value. */
export function maskSecrets(model: Model): Model {
  const objects = model.objects.map((o): DbObject => {
    if (o.kind !== 'kafka' || !Object.keys(o.settings).some((k) => SECRET_SETTINGS.has(k))) return o;
    const settings = Object.fromEntries(Object.entries(o.settings).map(([k, v]) => [k, SECRET_SETTINGS.has(k) ? HIDDEN : v]));
    return { ...o, settings };
  });
  return { ...model, objects };
}

function alterWords(a: TableAlter): string {
  switch (a.kind) {
    case 'addColumn':
      return `column ${a.column.name} ${a.column.type} exists on the target only`;
    case 'dropColumn':
      return `column ${a.column.name} is missing on the target`;
    case 'renameColumn':
      return `column ${a.from} is named ${a.to} on the target`;
    case 'modifyColumn': {
      const what = [
        ...(a.flags.type ? [`type ${a.to.type} on the target, ${a.from.type} in the migrations`] : []),
        ...(a.flags.default ? [`default ${a.to.default?.expr ?? '(none)'} on the target, ${a.from.default?.expr ?? '(none)'} in the migrations`] : []),
        ...(a.flags.codec ? [`codec ${a.to.codec ?? '(none)'} on the target, ${a.from.codec ?? '(none)'} in the migrations`] : []),
        ...(a.flags.comment ? ['comment differs'] : []),
      ];
      return `column ${a.to.name}: ${what.join('; ')}`;
    }
    case 'moveColumn':
      return `column ${a.column.name} is in another position on the target`;
    case 'modifyTtl':
      return `TTL is ${a.to ?? '(none)'} on the target, ${a.from ?? '(none)'} in the migrations`;
    case 'modifySettings':
      return `settings differ: ${[...Object.keys(a.set), ...a.reset].join(', ')}`;
    case 'modifyComment':
      return 'comment differs';
  }
}

function changeWords(c: Change): { name: string; detail: string } {
  switch (c.kind) {
    case 'createObject':
      return { name: c.object.name, detail: `exists on the target but not in the applied migrations (created outside chpipe)` };
    case 'dropObject':
      return { name: c.object.name, detail: `is missing on the target (dropped outside chpipe)` };
    case 'alterTable':
      return { name: c.to.name, detail: c.alters.map(alterWords).join('; ') };
    case 'rebuildTable':
      return { name: c.to.name, detail: [...c.reasons.map((r) => `${r} differs`), ...c.alters.map(alterWords)].join('; ') };
    case 'replaceQueue': {
      const f = c.flags;
      const parts = [
        ...(f.fields.added.length ? [`fields ${f.fields.added.join(', ')} on the target only`] : []),
        ...(f.fields.removed.length ? [`fields ${f.fields.removed.join(', ')} missing on the target`] : []),
        ...(f.fields.retyped.length ? [`fields ${f.fields.retyped.join(', ')} of another type`] : []),
        ...(f.fields.reordered ? ['fields in another order'] : []),
        ...(f.format ? [`format ${c.to.format} on the target, ${c.from.format} in the migrations`] : []),
        ...(f.group ? [`consumer group ${c.to.group} on the target, ${c.from.group} in the migrations`] : []),
        ...(f.topics ? [`topics ${c.to.topics.join(', ')} on the target, ${c.from.topics.join(', ')} in the migrations`] : []),
        ...(f.brokers ? ['brokers differ'] : []),
        ...(f.settings.length ? [`settings differ: ${f.settings.join(', ')}`] : []),
      ];
      return { name: c.to.name, detail: parts.join('; ') };
    }
    case 'commentQueue':
      return { name: c.to.name, detail: 'comment differs' };
    case 'modifyFlow': {
      const parts = [
        ...(c.query ? ['its SELECT differs'] : []),
        ...(c.source ? [`it reads ${c.to.from.join(', ') || 'nothing'} on the target, ${c.from.from.join(', ')} in the migrations`] : []),
        ...(c.target ? [`it writes to ${c.to.to} on the target, ${c.from.to} in the migrations`] : []),
        ...(c.comment ? ['comment differs'] : []),
      ];
      return { name: c.to.name, detail: parts.join('; ') };
    }
    case 'replaceView':
      return { name: c.to.name, detail: c.from.select !== c.to.select ? 'its SELECT differs' : 'comment differs' };
    case 'replaceObject':
      return { name: c.to.name, detail: `is a ${c.to.kind} on the target, a ${c.from.kind} in the migrations` };
  }
}

export function describeDrift(database: string, changes: readonly Change[]): Drift[] {
  return changes.map((c) => {
    const { name, detail } = changeWords(c);
    return { object: `${database}.${name}`, detail };
  });
}
