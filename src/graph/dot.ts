/**
 * The lineage in Graphviz DOT (left to right, one cluster per pipeline), for
 * `dot -Tsvg`, and the source of chpipe's own SVG and HTML pages. Every id
 * and label is a double-quoted DOT string (`"` and `\` escaped), so any name
 * shows as written.
 */
import { nodeIds } from './ids.js';
import type { GraphNode, LineageGraph, NodeKind, NodeStatus } from './lineage.js';
import { nodeLines } from './mermaid.js';

const SHAPE: Record<NodeKind, string> = {
  topic: 'shape=cds, fillcolor="#fff4d6", color="#b7791f"',
  kafka: 'shape=box, peripheries=2, fillcolor="#e6f0ff", color="#2b6cb0"',
  null: 'shape=hexagon, fillcolor="#f0f0f0", color="#718096"',
  table: 'shape=cylinder, fillcolor="#e6fffa", color="#2c7a7b"',
  state: 'shape=cylinder, fillcolor="#e9e4ff", color="#553c9a"',
  errors: 'shape=cylinder, fillcolor="#fff5f5", color="#c53030"',
  mv: 'shape=parallelogram, fillcolor="#ffffff", color="#4a5568"',
  view: 'shape=box, style="rounded,filled", fillcolor="#f0fff4", color="#2f855a"',
};

const STATUS: Record<NodeStatus | 'unmanaged', string> = {
  unmanaged: 'style="dashed,filled", fillcolor="#edf2f7", color="#718096", fontcolor="#4a5568"',
  context: 'fillcolor="#f7fafc", color="#a0aec0", fontcolor="#718096"',
  drift: 'fillcolor="#fed7d7", color="#c53030", penwidth=3, fontcolor="#742a2a"',
  missing: 'style="dashed,filled", fillcolor="#fff5f5", color="#c53030", penwidth=2, fontcolor="#742a2a"',
  extra: 'style="dashed,filled", fillcolor="#fefcbf", color="#b7791f", penwidth=2, fontcolor="#744210"',
  added: 'fillcolor="#c6f6d5", color="#2f855a", penwidth=3, fontcolor="#22543d"',
  changed: 'fillcolor="#fefcbf", color="#d69e2e", penwidth=3, fontcolor="#744210"',
  removed: 'style="dashed,filled", fillcolor="#fed7d7", color="#c53030", penwidth=2, fontcolor="#742a2a"',
};

/** A DOT double-quoted string. */
export function dotString(text: string): string {
  let out = '"';
  for (const ch of text) {
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if ((ch.codePointAt(0) as number) < 32) out += ' ';
    else out += ch;
  }
  return out + '"';
}

function nodeStatement(n: GraphNode, id: string): string {
  const [name, detail] = nodeLines(n);
  // The label's own line break is DOT's `\n` escape, added after the text was escaped.
  const label = `${dotString(name as string).slice(0, -1)}\\n${dotString(detail as string).slice(1)}`;
  const status = n.status ?? (n.unmanaged ? 'unmanaged' : undefined);
  const attrs = [SHAPE[n.kind], ...(status ? [STATUS[status]] : []), `label=${label}`, ...(n.note ? [`tooltip=${dotString(n.note)}`] : [])];
  return `${dotString(id)} [${attrs.join(', ')}];`;
}

export function renderDot(graph: LineageGraph): string {
  const ids = nodeIds(graph);
  const id = (key: string) => ids.node.get(key) as string;
  const lines = [
    `digraph ${dotString(`chpipe ${graph.database}`)} {`,
    '  rankdir=LR;',
    '  graph [fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.5];',
    '  node [fontname="Helvetica", fontsize=11, style=filled, margin="0.15,0.06"];',
    '  edge [color="#4a5568", arrowsize=0.7];',
  ];
  const inPipeline = new Set(graph.pipelines.flatMap((p) => p.nodes));
  for (const n of graph.nodes) if (!inPipeline.has(n.key)) lines.push(`  ${nodeStatement(n, id(n.key))}`);
  const byKey = new Map(graph.nodes.map((n) => [n.key, n]));
  for (const p of graph.pipelines) {
    lines.push(`  subgraph ${dotString(`cluster_${ids.pipeline.get(p.name)}`)} {`, `    label=${dotString(p.name)}; style="rounded"; color="#a0aec0"; fontcolor="#2d3748";`);
    for (const k of p.nodes) lines.push(`    ${nodeStatement(byKey.get(k) as GraphNode, id(k))}`);
    lines.push('  }');
  }
  for (const e of graph.edges) lines.push(`  ${dotString(id(e.from))} -> ${dotString(id(e.to))};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}
