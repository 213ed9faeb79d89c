/** A target's objects, per pipeline: what `apply` shows it built. */
import { ROLES, type DbObject, type Model } from '../model/model.js';
import type { Paint } from './paint.js';

function kindWords(o: DbObject): string {
  switch (o.kind) {
    case 'kafka':
      return `Kafka, topic${o.topics.length === 1 ? '' : 's'} ${o.topics.join(', ')}, group ${o.group}`;
    case 'null':
      return 'Null hub';
    case 'table':
      return o.engine.replace(/\(.*$/s, '');
    case 'distributed':
      return `Distributed over ${o.local}`;
    case 'mv':
      return `view ${o.from.join(', ')} → ${o.to}`;
    case 'view':
      return 'view';
  }
}

/** `database: N pipelines, M objects` then, per pipeline, its objects in role order. */
export function renderObjectsByPipeline(model: Model, paint: Paint): string {
  const byPipeline = new Map<string, DbObject[]>();
  for (const o of model.objects) {
    if (!o.owner) continue;
    byPipeline.set(o.owner.pipeline, [...(byPipeline.get(o.owner.pipeline) ?? []), o]);
  }
  const total = [...byPipeline.values()].reduce((n, list) => n + list.length, 0);
  const lines = [paint.bold(`${model.database}: ${byPipeline.size} pipeline${byPipeline.size === 1 ? '' : 's'}, ${total} object${total === 1 ? '' : 's'}`)];
  for (const [pipeline, objects] of [...byPipeline].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push(`  ${paint.cyan(pipeline)}`);
    const rank = (o: DbObject) => ROLES.indexOf(o.owner?.role ?? 'table');
    for (const o of [...objects].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : 1))) lines.push(`    ${o.name} ${paint.dim(`(${kindWords(o)})`)}`);
  }
  return lines.join('\n');
}
