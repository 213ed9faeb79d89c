/**
 * The lineage as a Mermaid flowchart (left to right), to paste into a GitHub
 * README, issue or pull request (```mermaid). Each pipeline is a subgraph;
 * topics and objects chpipe does not manage stand outside them.
 *
 * Labels are quoted strings in which every character Mermaid could read as
 * syntax (`"`, `#`, `&`, `<`, `>`, a backquote, control characters) is written
 * as an entity code (`#34;`), so any ClickHouse name shows as written.
 */
import { nodeIds } from './ids.js';
import type { GraphNode, LineageGraph, NodeKind, NodeStatus } from './lineage.js';

const SHAPE: Record<NodeKind, [string, string]> = {
  topic: ['>', ']'],
  kafka: ['[[', ']]'],
  null: ['{{', '}}'],
  table: ['[(', ')]'],
  state: ['[(', ')]'],
  errors: ['[(', ')]'],
  mv: ['[/', '/]'],
  view: ['([', '])'],
};

/** Fill and stroke per kind, then per status (declared later, so a status wins). */
export const KIND_STYLE: Record<NodeKind, string> = {
  topic: 'fill:#fff4d6,stroke:#b7791f,color:#1a202c',
  kafka: 'fill:#e6f0ff,stroke:#2b6cb0,color:#1a202c',
  null: 'fill:#f0f0f0,stroke:#718096,color:#1a202c',
  table: 'fill:#e6fffa,stroke:#2c7a7b,color:#1a202c',
  state: 'fill:#e9e4ff,stroke:#553c9a,color:#1a202c',
  errors: 'fill:#fff5f5,stroke:#c53030,color:#1a202c',
  mv: 'fill:#ffffff,stroke:#4a5568,color:#1a202c',
  view: 'fill:#f0fff4,stroke:#2f855a,color:#1a202c',
};

export const STATUS_STYLE: Record<NodeStatus | 'unmanaged', string> = {
  unmanaged: 'fill:#edf2f7,stroke:#718096,stroke-dasharray:4 3,color:#4a5568',
  context: 'fill:#f7fafc,stroke:#a0aec0,color:#718096',
  drift: 'fill:#fed7d7,stroke:#c53030,stroke-width:3px,color:#742a2a',
  missing: 'fill:#fff5f5,stroke:#c53030,stroke-width:2px,stroke-dasharray:6 4,color:#742a2a',
  extra: 'fill:#fefcbf,stroke:#b7791f,stroke-width:2px,stroke-dasharray:6 4,color:#744210',
  added: 'fill:#c6f6d5,stroke:#2f855a,stroke-width:3px,color:#22543d',
  changed: 'fill:#fefcbf,stroke:#d69e2e,stroke-width:3px,color:#744210',
  removed: 'fill:#fed7d7,stroke:#c53030,stroke-width:2px,stroke-dasharray:6 4,color:#742a2a',
};

/** What a status reads as in a label's second line. */
export const STATUS_WORD: Record<NodeStatus | 'unmanaged', string> = {
  unmanaged: 'not managed by chpipe',
  context: '',
  drift: 'DRIFTED',
  missing: 'MISSING on the target',
  extra: 'not in the migrations',
  added: 'added',
  changed: 'changed',
  removed: 'removed',
};

/** Text for a quoted Mermaid label: syntax characters as entity codes. */
export function mermaidText(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    out += ch === '"' || ch === '#' || ch === '&' || ch === '<' || ch === '>' || ch === '`' || ch === '\\' || code < 32 || code === 127 ? `#${code};` : ch;
  }
  return out;
}

export function nodeLines(n: GraphNode): string[] {
  const status = n.status && n.status !== 'context' ? STATUS_WORD[n.status] : n.unmanaged ? STATUS_WORD.unmanaged : '';
  return [n.name, status ? `${n.detail} · ${status}` : n.detail];
}

export function renderMermaid(graph: LineageGraph): string {
  const ids = nodeIds(graph);
  const id = (key: string) => ids.node.get(key) as string;
  const node = (n: GraphNode) => {
    const [open, close] = SHAPE[n.kind];
    const [name, detail] = nodeLines(n);
    return `${id(n.key)}${open}"${mermaidText(name as string)}<br/><small>${mermaidText(detail as string)}</small>"${close}`;
  };
  const lines = ['flowchart LR', `  %% chpipe graph of database ${mermaidText(graph.database)}`];
  const inPipeline = new Set(graph.pipelines.flatMap((p) => p.nodes));
  for (const n of graph.nodes) if (!inPipeline.has(n.key)) lines.push(`  ${node(n)}`);
  const byKey = new Map(graph.nodes.map((n) => [n.key, n]));
  for (const p of graph.pipelines) {
    lines.push(`  subgraph ${ids.pipeline.get(p.name)}["${mermaidText(p.name)}"]`, '    direction LR');
    for (const k of p.nodes) lines.push(`    ${node(byKey.get(k) as GraphNode)}`);
    lines.push('  end');
  }
  for (const e of graph.edges) lines.push(`  ${id(e.from)} --> ${id(e.to)}`);
  // Classes: by kind, then the status classes (declared after, so they win).
  const classes = new Map<string, string[]>();
  const add = (cls: string, key: string) => classes.set(cls, [...(classes.get(cls) ?? []), id(key)]);
  for (const n of graph.nodes) {
    add(n.kind, n.key);
    if (n.unmanaged) add('unmanaged', n.key);
    if (n.status) add(n.status, n.key);
  }
  const order = [...(Object.keys(KIND_STYLE) as NodeKind[]), ...(Object.keys(STATUS_STYLE) as (NodeStatus | 'unmanaged')[])];
  for (const cls of order) {
    const members = classes.get(cls);
    if (!members) continue;
    const style = cls in KIND_STYLE ? KIND_STYLE[cls as NodeKind] : STATUS_STYLE[cls as NodeStatus];
    lines.push(`  classDef ${cls} ${style}`, `  class ${members.join(',')} ${cls}`);
  }
  return lines.join('\n') + '\n';
}
