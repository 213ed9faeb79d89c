/**
 * Node identifiers for the text formats: ASCII, never a keyword of either
 * language (`end`, `graph`, `subgraph`, `node`…: every id has a kind prefix),
 * and the same for the same graph. Names are shown in labels, escaped per
 * format; ids only connect them.
 */
import type { GraphNode, LineageGraph } from './lineage.js';

const PREFIX: Record<GraphNode['kind'], string> = { topic: 'topic', kafka: 'kafka', null: 'hub', table: 'table', state: 'state', errors: 'errors', mv: 'mv', view: 'view' };

/** `metrics-prod` → `metrics_2d_prod`: letters, digits and `_` kept, every other code point as `_HEX_`. */
export function asciiId(name: string): string {
  let out = '';
  for (const ch of name) out += /[A-Za-z0-9_]/.test(ch) ? ch : `_${(ch.codePointAt(0) as number).toString(16)}_`;
  return out;
}

/** An id per node key (and per pipeline, for subgraphs), unique within the graph. */
export function nodeIds(graph: LineageGraph): { node: ReadonlyMap<string, string>; pipeline: ReadonlyMap<string, string> } {
  const used = new Set<string>();
  const unique = (base: string) => {
    let id = base;
    for (let i = 2; used.has(id); i++) id = `${base}_${i}`;
    used.add(id);
    return id;
  };
  const node = new Map<string, string>();
  for (const n of graph.nodes) node.set(n.key, unique(`${PREFIX[n.kind]}_${asciiId(n.name)}`));
  const pipeline = new Map<string, string>();
  for (const p of graph.pipelines) pipeline.set(p.name, unique(`pipeline_${asciiId(p.name)}`));
  return { node, pipeline };
}
