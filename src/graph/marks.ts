/**
 * What to draw, and how to mark it, for the two comparisons `chpipe graph`
 * makes. Pure: models and typed changes in, a model and marks out.
 */
import type { Change } from '../diff/change.js';
import type { Drift } from '../diff/drift.js';
import { makeModel, type DbObject, type Model } from '../model/model.js';
import type { Marks, NodeStatus } from './lineage.js';

/**
 * A target's objects with its drift: a drifted object as `drift`, one the
 * migrations did not build as `extra`, and one the migrations built that is
 * gone from the target as `missing` (drawn from the migrated state, so it
 * keeps its place in the lineage). Each carries the drift's words as a note.
 */
export function targetMarks(target: Model, migrated: Model, drift: readonly Drift[]): { model: Model; marks: Marks } {
  const onTarget = new Map(target.objects.map((o) => [`${target.database}.${o.name}`, o]));
  const built = new Map(migrated.objects.map((o) => [`${migrated.database}.${o.name}`, o]));
  const status = new Map<string, NodeStatus>();
  const notes = new Map<string, string>();
  const ghosts: DbObject[] = [];
  for (const d of drift) {
    const there = onTarget.get(d.object);
    const expected = built.get(d.object);
    const object = there ?? expected;
    if (!object) continue;
    if (!there) ghosts.push(object);
    status.set(object.name, !there ? 'missing' : !expected ? 'extra' : 'drift');
    notes.set(object.name, notes.has(object.name) ? `${notes.get(object.name)}; ${d.detail}` : d.detail);
  }
  return { model: makeModel(target, [...target.objects, ...ghosts]), marks: { status, notes } };
}

/**
 * What `changes` (from `before` to `after`) touch: the after state plus what
 * it drops, each touched object marked, only those and their neighbours kept.
 */
export function changeMarks(before: Model, after: Model, changes: readonly Change[]): { model: Model; marks: Marks } {
  const status = new Map<string, NodeStatus>();
  const dropped: DbObject[] = [];
  for (const c of changes) {
    switch (c.kind) {
      case 'createObject':
        status.set(c.object.name, 'added');
        break;
      case 'dropObject':
        status.set(c.object.name, 'removed');
        dropped.push(c.object);
        break;
      default:
        status.set(c.to.name, 'changed');
    }
  }
  const kept = after.objects.filter((o) => !dropped.some((d) => d.name === o.name));
  return { model: makeModel(after, [...kept, ...dropped]), marks: { status, onlyMarked: true } };
}
