/**
 * `chpipe graph`: the repository's examples as Mermaid (pinned by a golden
 * file and parsed by Mermaid's own parser), as DOT (rendered by Graphviz,
 * @viz-js/viz), as SVG and HTML (opened in headless Chromium, screenshot
 * checked for ink); names that need quoting in every format; a target with a
 * hand-made change drawn with its drift; and the graph of a change.
 *
 * Screenshots are kept in CHPIPE_GRAPH_SCREENSHOTS (a folder) when it is set,
 * to look at them.
 */
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instance } from '@viz-js/viz';
import { beforeAll, describe, expect, it } from 'vitest';
import { chpipe, ROOT, tempDir, tempProject } from '../helpers/cli.js';
import { startServe } from '../serve/serving.js';
import { ensureChromium, pixelStats, screenshot } from './chromium.js';
import { parseMermaid } from './mermaid-parse.js';
import { lineage } from '../../src/graph/lineage.js';
import { renderMermaid, mermaidText } from '../../src/graph/mermaid.js';
import { renderDot } from '../../src/graph/dot.js';
import { makeModel, type DbObject } from '../../src/model/model.js';

const GOLDEN = join(ROOT, 'test/graph/golden/examples.mmd');

function keep(png: string, name: string): void {
  const dir = process.env.CHPIPE_GRAPH_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  copyFileSync(png, join(dir, name));
}

/** Graphviz's rendering; `errors` keeps its errors only (a name outside Latin-1 draws a warning about font metrics). */
async function renderWithGraphviz(dot: string): Promise<{ status: string; errors: { level?: string; message: string }[]; output?: string }> {
  const viz = await instance();
  const r = viz.render(dot, { format: 'svg' });
  return { ...r, errors: r.errors.filter((e) => e.level !== 'warning') };
}

interface JsonGraph {
  nodes: { key: string; kind: string; name: string; status?: string; unmanaged: boolean; note?: string; pipeline?: string }[];
  edges: { from: string; to: string }[];
}

describe('the repository examples', () => {
  it('as Mermaid: the golden file, byte for byte, and Mermaid parses it as a flowchart', async () => {
    const r = chpipe(['graph']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    if (process.env.CHPIPE_UPDATE_GOLDEN) writeFileSync(GOLDEN, r.stdout);
    expect(r.stdout).toBe(readFileSync(GOLDEN, 'utf8'));
    expect(await parseMermaid(r.stdout)).toBe('flowchart-v2');
    // Deterministic: the same bytes again.
    expect(chpipe(['graph']).stdout).toBe(r.stdout);
  });

  it('Mermaid really parses: a broken copy of the golden file is refused', async () => {
    const golden = readFileSync(GOLDEN, 'utf8');
    await expect(parseMermaid(golden.replace(' --> ', ' --> --> '))).rejects.toThrow(/Parse error/);
  });

  it('the lineage: topics → queues → flows → tables, the hub fan-out, errors stream, aggregates and the publish flow', () => {
    const r = chpipe(['graph', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const g = JSON.parse(r.stdout) as JsonGraph;
    const edges = new Set(g.edges.map((e) => `${e.from} -> ${e.to}`));
    for (const e of [
      'topic:kafka_topic_1 -> api_latency_queue',
      'api_latency_queue -> api_latency_mv',
      'api_latency_mv -> api_latency',
      'topic:app-logs -> app_logs_queue',
      'topic:app-logs -> errors_per_minute_queue',
      'app_logs_queue -> app_logs_hub_mv',
      'app_logs_hub_mv -> app_logs_hub',
      'app_logs_hub -> app_logs_mv',
      'app_logs_hub -> app_logs_errors_mv',
      'app_logs_errors_mv -> app_logs_errors',
      'sensor_5m_mv -> sensor_5m_state',
      'sensor_5m_state -> sensor_5m',
      'sensor_readings -> overheat_alerts_mv',
      'overheat_alerts_mv -> overheat_alerts_queue',
      'overheat_alerts_queue -> topic:sensor-alerts',
    ])
      expect(edges, e).toContain(e);
    expect(g.nodes.find((n) => n.key === 'app_logs_errors')?.kind).toBe('errors');
    expect(g.nodes.find((n) => n.key === 'sensor_5m_state')?.kind).toBe('state');
    expect(g.nodes.filter((n) => n.kind === 'topic').map((n) => n.name)).toEqual(['app-logs', 'campaign_events', 'kafka_topic_1', 'sensor-alerts', 'sensor-readings']);
    // 27 objects and 5 topics.
    expect(g.nodes).toHaveLength(32);
  });

  it('as DOT: Graphviz renders it, and refuses a broken copy', async () => {
    const r = chpipe(['graph', '--format', 'dot']);
    expect(r.code, r.stderr).toBe(0);
    const ok = await renderWithGraphviz(r.stdout);
    expect(ok.errors).toEqual([]);
    expect(ok.status).toBe('success');
    expect(ok.output).toContain('api_latency_queue');
    const broken = await renderWithGraphviz(r.stdout.replace(' -> ', ' -> -> '));
    expect(broken.status).toBe('failure');
  });

  describe('in headless Chromium', () => {
    beforeAll(() => ensureChromium((line) => console.log(`[chromium] ${line}`)), 15 * 60_000);

    it('the SVG (--format svg -o FILE) shows the graph: a screenshot with ink and colours', () => {
      const dir = tempDir('chpipe-graph-');
      const svg = join(dir, 'examples.svg');
      const r = chpipe(['graph', '--format', 'svg', '-o', svg]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^wrote .*examples\.svg \(32 nodes, 28 edges\)\n$/);
      const text = readFileSync(svg, 'utf8');
      expect(text).toMatch(/<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      // Self-contained: no reference to anything outside the file.
      expect(text).not.toMatch(/(href|src)="(https?:|file:)/);
      // The window fits the drawing (Graphviz sizes it in points: 4/3 px each).
      const size = /<svg width="(\d+)pt" height="(\d+)pt"/.exec(text);
      expect(size).not.toBeNull();
      const px = (pt: string) => Math.min(4000, Math.ceil((Number(pt) * 4) / 3) + 16);
      const png = join(dir, 'examples.png');
      screenshot(svg, png, { width: px(size?.[1] as string), height: px(size?.[2] as string) });
      keep(png, 'examples-svg.png');
      const stats = pixelStats(png);
      console.log(`SVG screenshot: ${stats.width}x${stats.height}, ${(stats.inked * 100).toFixed(1)}% inked, ${stats.colours} colours`);
      expect(stats.inked).toBeGreaterThan(0.05);
      expect(stats.colours).toBeGreaterThan(8);
    });

    it('the HTML page: the graph scaled to the window, with its title', () => {
      const dir = tempDir('chpipe-graph-');
      const page = join(dir, 'examples.html');
      expect(chpipe(['graph', '--format', 'html', '-o', page]).code).toBe(0);
      const text = readFileSync(page, 'utf8');
      expect(text).toContain('<h1>chpipe: pipelines of analytics</h1>');
      expect(text).toContain('<svg');
      const png = join(dir, 'examples-html.png');
      screenshot(page, png, { width: 1400, height: 900 });
      keep(png, 'examples-html.png');
      const stats = pixelStats(png);
      console.log(`HTML screenshot: ${stats.width}x${stats.height}, ${(stats.inked * 100).toFixed(1)}% inked, ${stats.colours} colours`);
      expect(stats.inked).toBeGreaterThan(0.05);
      expect(stats.colours).toBeGreaterThan(8);
    });
  });
});

describe('names that need quoting', () => {
  const pipeline = (name: string, topic: string) => `name: ${name}\nsource: { topic: ${topic}, format: JSONEachRow }\ncolumns:\n  id: UInt32\n  from: String\ntable:\n  order_by: [id]\n`;

  it('pipelines named order, metrics-prod and zählung (topics end, a"b): Mermaid parses, Graphviz renders, labels show the names', async () => {
    const dir = tempProject({
      'schemas/order.yaml': pipeline('order', 'end'),
      'schemas/metrics-prod.yaml': pipeline('metrics-prod', "'a\"b'"),
      'schemas/zählung.yaml': pipeline('zählung', 'subgraph'),
    });
    const m = chpipe(['graph'], dir);
    expect(m.code, m.stderr).toBe(0);
    expect(await parseMermaid(m.stdout)).toBe('flowchart-v2');
    for (const label of ['"order_queue<br/>', '"metrics-prod<br/>', '"zählung_mv<br/>', '"end<br/>', '"a#34;b<br/>', '"subgraph<br/>']) expect(m.stdout).toContain(label);
    const d = chpipe(['graph', '--format', 'dot'], dir);
    expect(d.code, d.stderr).toBe(0);
    const svg = await renderWithGraphviz(d.stdout);
    expect(svg.errors).toEqual([]);
    // Graphviz writes `-` as `&#45;`: the SVG text, its numeric character references read.
    const shown = (svg.output ?? '').replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)));
    for (const text of ['order_queue', 'metrics-prod', 'zählung', 'a&quot;b']) expect(shown).toContain(`>${text}`);
  });

  it('any character in a name: quotes, #, &, <, >, a backquote, a backslash and a newline survive both formats', async () => {
    const weird = 'we"ird #x; &amp <b>`\\\nname';
    const objects: DbObject[] = [
      { kind: 'table', name: weird, engine: 'MergeTree', columns: [], orderBy: 'tuple()', settings: {}, comment: '' },
      { kind: 'view', name: 'end', select: `SELECT * FROM db.\`${weird.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\n/g, '\\n')}\``, comment: '' },
    ];
    const g = lineage(makeModel({ database: 'db' }, objects));
    const text = renderMermaid(g);
    expect(await parseMermaid(text)).toBe('flowchart-v2');
    expect(text).toContain(mermaidText(weird));
    expect(mermaidText(weird)).not.toMatch(/["<>`\n]/);
    const svg = await renderWithGraphviz(renderDot(g));
    expect(svg.errors).toEqual([]);
    expect(svg.status).toBe('success');
  });

  it('a bad --format is one sentence with the nearest format, exit 1', () => {
    const r = chpipe(['graph', '--format', 'svgg']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: --format "svgg" is not a graph format; expected one of mermaid, dot, svg, html; did you mean "svg"\?\n/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('a target: what is on it, drift highlighted', () => {
  it('the examples applied to the embedded target, a column added and a table created by hand: the drifted table and the stranger are marked', async () => {
    const dir = tempDir('chpipe-graph-target-');
    for (const f of ['chpipe.yaml', 'schemas', 'migrations']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    const applied = chpipe(['apply'], dir);
    expect(applied.code, applied.stderr).toBe(0);

    const clean = chpipe(['graph', '--target', '--json'], dir);
    expect(clean.code, clean.stderr).toBe(0);
    expect((JSON.parse(clean.stdout) as JsonGraph).nodes.filter((n) => n.status)).toEqual([]);

    // By hand, through the target's HTTP interface: what a colleague's console session would do.
    const served = await startServe([], dir);
    for (const sql of ['ALTER TABLE analytics.api_latency ADD COLUMN note String', 'CREATE VIEW analytics.`slow-apis` AS SELECT api_id FROM analytics.api_latency WHERE time_taken > 1000']) {
      const res = await fetch(served.url, { method: 'POST', body: sql });
      expect(res.status, await res.text()).toBe(200);
    }
    await served.stop('SIGTERM');

    const r = chpipe(['graph', '--target', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const g = JSON.parse(r.stdout) as JsonGraph;
    const marked = g.nodes.filter((n) => n.status).map((n) => ({ name: n.name, status: n.status, unmanaged: n.unmanaged }));
    expect(marked).toEqual([{ name: 'api_latency', status: 'drift', unmanaged: false }]);
    // The view made by hand has no ownership marker: chpipe does not manage it (drift ignores it), the graph shows it as such.
    expect(g.nodes.filter((n) => n.unmanaged).map((n) => n.name)).toEqual(['slow-apis']);
    expect(g.nodes.find((n) => n.name === 'api_latency')?.note).toContain('column note String exists on the target only');
    // The stranger view is drawn where it reads from.
    expect(g.edges).toContainEqual({ from: 'api_latency', to: 'slow-apis' });

    const m = chpipe(['graph', '--target'], dir);
    expect(m.code).toBe(0);
    expect(await parseMermaid(m.stdout)).toBe('flowchart-v2');
    expect(m.stdout).toContain('table_api_latency[("api_latency<br/><small>MergeTree · DRIFTED</small>")]');
    expect(m.stdout).toMatch(/^ {2}class table_api_latency drift$/m);
    expect(m.stdout).toContain('view_slow_2d_apis(["slow-apis<br/><small>view · not managed by chpipe</small>"])');
    expect(m.stdout).toMatch(/^ {2}class view_slow_2d_apis unmanaged$/m);
    expect(m.stderr).toContain('drift: analytics.api_latency: column note String exists on the target only');
    expect(m.stderr).toContain('not managed by chpipe: analytics.slow-apis');

    ensureChromium();
    const page = join(dir, 'target.html');
    expect(chpipe(['graph', '--target', '--format', 'html', '-o', page], dir).code).toBe(0);
    expect(readFileSync(page, 'utf8')).toContain('<li><code>analytics.api_latency</code>: column note String exists on the target only');
    const png = join(dir, 'target.png');
    screenshot(page, png, { width: 1400, height: 1000 });
    keep(png, 'target-drift-html.png');
    const stats = pixelStats(png);
    console.log(`drift page screenshot: ${(stats.inked * 100).toFixed(1)}% inked, ${stats.colours} colours, ${(stats.reddish * 100).toFixed(2)}% red`);
    expect(stats.inked).toBeGreaterThan(0.05);
  }, 240_000);
});

describe('the graph of a change (--changes)', () => {
  it('a column added to api_latency: its table, queue and flow changed, their topic as context, nothing else', () => {
    const dir = tempDir('chpipe-graph-changes-');
    for (const f of ['chpipe.yaml', 'schemas', 'migrations']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    const none = chpipe(['graph', '--changes'], dir);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('No changes: nothing to draw.\n');

    const file = join(dir, 'schemas/api_latency.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: LowCardinality(String)\n'));
    const r = chpipe(['graph', '--changes', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const g = JSON.parse(r.stdout) as JsonGraph;
    expect(g.nodes.map((n) => [n.key, n.status ?? null])).toEqual([
      ['topic:kafka_topic_1', null],
      ['api_latency_queue', 'changed'],
      ['api_latency_mv', 'changed'],
      ['api_latency', 'changed'],
    ]);
  });
});
