/**
 * How materialized views connect: each reads tables (`from`) and writes one
 * (`to`). Pure, over typed fields only.
 */
import type { MaterializedView } from './model.js';

/**
 * A flow's level: 0 when no other flow reads its target, else one more than
 * the highest level among the flows that do. Start flows by ascending level
 * (downstream first, so every reader exists before rows arrive); stop them by
 * descending level (upstream first, so no flow writes into a stopped one).
 */
export function flowLevels(flows: readonly MaterializedView[]): Map<string, number> {
  const readersOf = new Map<string, MaterializedView[]>();
  for (const f of flows) for (const t of f.from) readersOf.set(t, [...(readersOf.get(t) ?? []), f]);
  const levels = new Map<string, number>();
  const visiting = new Set<string>();
  const level = (f: MaterializedView): number => {
    const known = levels.get(f.name);
    if (known !== undefined) return known;
    if (visiting.has(f.name)) return 0; // a cycle is the engine's to refuse
    visiting.add(f.name);
    const readers = (readersOf.get(f.to) ?? []).filter((r) => r.name !== f.name);
    const value = readers.length ? 1 + Math.max(...readers.map(level)) : 0;
    visiting.delete(f.name);
    levels.set(f.name, value);
    return value;
  };
  for (const f of flows) level(f);
  return levels;
}

/** The flows that read `table`. */
export function readersOf(flows: readonly MaterializedView[], table: string): MaterializedView[] {
  return flows.filter((f) => f.from.includes(table));
}

/** The flows that write `table`. */
export function writersOf(flows: readonly MaterializedView[], table: string): MaterializedView[] {
  return flows.filter((f) => f.to === table);
}
