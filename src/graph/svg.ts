/**
 * A self-contained SVG, or an HTML page around it, without a browser: the DOT
 * rendering is laid out by Graphviz itself, compiled to WebAssembly
 * (@viz-js/viz, loaded only for these formats).
 */
import { renderDot } from './dot.js';
import type { LineageGraph, NodeStatus } from './lineage.js';
import { STATUS_STYLE, STATUS_WORD } from './mermaid.js';

export async function renderSvg(graph: LineageGraph): Promise<string> {
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  // The DOT text is chpipe's own, so Graphviz refusing it is a bug: renderString throws.
  return viz.renderString(renderDot(graph), { format: 'svg' });
}

function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function swatch(style: string): string {
  const get = (k: string) => new RegExp(`${k}:([^,]+)`).exec(style)?.[1] ?? 'none';
  return `<span class="swatch" style="background:${get('fill')};border:2px ${style.includes('dasharray') ? 'dashed' : 'solid'} ${get('stroke')}"></span>`;
}

/** One HTML page: a title, the SVG inline, a legend of the statuses shown, and the notes (drift) in a list. */
export async function renderHtml(graph: LineageGraph, title: string): Promise<string> {
  const svg = (await renderSvg(graph)).replace(/^<\?xml[^>]*>\s*(<!DOCTYPE[^>]*>\s*)?/s, '');
  const statuses = [...new Set(graph.nodes.flatMap((n) => [...(n.status && n.status !== 'context' ? [n.status] : []), ...(n.unmanaged ? ['unmanaged' as const] : [])]))] as (NodeStatus | 'unmanaged')[];
  const legend = statuses.length ? `<p class="legend">${statuses.map((s) => `${swatch(STATUS_STYLE[s])}${html(STATUS_WORD[s])}`).join(' ')}</p>` : '';
  const notes = graph.nodes.filter((n) => n.note);
  const list = notes.length ? `<h2>Details</h2>\n<ul>\n${notes.map((n) => `<li><code>${html(graph.database)}.${html(n.name)}</code>: ${html(n.note as string)}</li>`).join('\n')}\n</ul>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${html(title)}</title>
<style>
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin: 1.5rem; color: #1a202c; }
h1 { font-size: 1.3rem; }
.legend .swatch { display: inline-block; width: 1.2em; height: 0.9em; margin: 0 0.3em 0 1em; vertical-align: middle; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>${html(title)}</h1>
${legend}
${svg}
${list}
</body>
</html>
`;
}
