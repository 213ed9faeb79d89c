/**
 * Names that need quoting and text that needs escaping, end to end: the
 * project must pass `chpipe validate` (every statement ran on the embedded
 * engine) and `chpipe compile` must show each identifier backquoted exactly
 * when it needs it, and each description or comment as a string literal that
 * reads back as what the user wrote.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

const DESCRIPTIONS = {
  order: "Orders' log: C:\\temp\\x, line one\nline two 🚀 naïve — 注文",
  from: "single 'quotes' and a trailing backslash \\",
  'metrics-prod': 'Per-user métriques 📊\nby minute',
  ventes_été: "Ventes publiées à l'équipe\t✓",
};
const COLUMN_COMMENT = 'it\'s a "quoted" \\ comment 😀\nwith a newline';

const yaml = JSON.stringify; // a JSON string is a YAML double-quoted string

const FILES = {
  // ingest: keyword and unicode columns, a keyword pipeline name, a filter written with backquotes
  'schemas/order.yaml': `name: order
description: ${yaml(DESCRIPTIONS.order)}
source:
  topic: orders
columns:
  order: Int32
  from: String
  user: String
  select: UInt8
  my-col: Float64
  ünï: { type: String, comment: ${yaml(COLUMN_COMMENT)} }
  received_at: { type: DateTime, from: _timestamp }
table:
  order_by: [order, from]
  partition_by: toYYYYMM(received_at)
filter: "\`select\` = 1 AND \`my-col\` >= 0"
`,
  // ingest with on_error: stream (errors objects), a computed column named by a keyword
  'schemas/from.yaml': `name: from
description: ${yaml(DESCRIPTIONS.from)}
source:
  topic: from
  on_error: stream
columns:
  user: String
  select: String
  day: { type: Date, expr: toDate(now()) }
table:
  order_by: [user]
`,
  // aggregate: a dash in the pipeline name, by keys and measures named by keywords and unicode
  'schemas/metrics-prod.yaml': `name: metrics-prod
description: ${yaml(DESCRIPTIONS['metrics-prod'])}
source:
  topic: metrics
columns:
  user: String
  my-col: Float64
  order: Int32
  ts: DateTime
aggregate:
  by:
    user: user
    from: toStartOfMinute(ts)
  measures:
    select: count()
    my-col: avg(\`my-col\`)
    ünï: uniq(\`order\`)
table:
  partition_by: toYYYYMM(\`from\`)
`,
  // publish: a unicode pipeline name reading from the keyword-named pipeline
  'schemas/ventes_été.yaml': `name: ventes_été
description: ${yaml(DESCRIPTIONS.ventes_été)}
publish:
  from: order
  where: "\`order\` > 100 AND \`ünï\` != ''"
  columns: [order, from, ünï, my-col]
  topic: ventes
`,
  // column names with a quote, a backquote, a space, a leading digit, an upper-case keyword
  'schemas/select.yaml': `name: select
source: { topic: t }
columns:
  "it's": Int32
  "a\`b": String
  "x y": String
  1st: UInt8
  SELECT: String
  shout: { type: String, expr: "upper(\`x y\`)" }
table:
  order_by: ["it's", "a\`b", 1st]
`,
};

/** The value of a ClickHouse string literal body (as sql/quote.ts escapes it). */
function unescapeLiteral(body: string): string {
  const named: Record<string, string> = { n: '\n', r: '\r', t: '\t', '0': '\0' };
  return body.replace(/\\(.)/gsu, (_all, ch: string) => named[ch] ?? ch);
}

/** Every `COMMENT '...'` of the DDL, decoded. */
function comments(sql: string): string[] {
  return [...sql.matchAll(/COMMENT '((?:[^'\\]|\\.)*)'/gsu)].map((m) => unescapeLiteral(m[1] as string));
}

describe('names that need quoting, text that needs escaping', () => {
  let dir: string;
  let ddl: string;

  beforeAll(() => {
    dir = tempProject(FILES);
    const r = chpipe(['compile'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    ddl = r.stdout;
  });

  it('validates: every statement ran on the embedded engine', () => {
    const r = chpipe(['validate'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/5 pipelines valid; \d+ statements checked/);
  });

  it('backquotes pipeline-derived object names that are keywords, have a dash or are not ASCII', () => {
    for (const statement of [
      'CREATE TABLE IF NOT EXISTS analytics.`order`\n',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.order_mv\nTO analytics.`order`\n',
      'CREATE TABLE IF NOT EXISTS analytics.`from`\n',
      'CREATE TABLE IF NOT EXISTS analytics.from_errors\n',
      'CREATE TABLE IF NOT EXISTS analytics.`metrics-prod_state`\n',
      'CREATE TABLE IF NOT EXISTS analytics.`metrics-prod_queue`\n',
      'CREATE VIEW IF NOT EXISTS analytics.`metrics-prod`\n',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.`metrics-prod_mv`\nTO analytics.`metrics-prod_state`\n',
      'CREATE TABLE IF NOT EXISTS analytics.`ventes_été_queue`\n',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.`ventes_été_mv`\nTO analytics.`ventes_été_queue`\n',
    ]) {
      expect(ddl).toContain(statement);
    }
    // never a bare keyword or dashed name, never a quote where none is needed
    expect(ddl).not.toMatch(/analytics\.(order|from|metrics-prod|ventes_été)\b(?![_-])/u);
    expect(ddl).not.toMatch(/`(order_queue|order_mv|from_queue|from_mv|from_errors|received_at|ts)`/);
  });

  it('backquotes columns that are keywords, have a dash or are not ASCII, in every statement', () => {
    const table = ddl.slice(ddl.indexOf('CREATE TABLE IF NOT EXISTS analytics.`order`'));
    for (const line of ['    `order` Int32,', '    `from` String,', '    `user` String,', '    `select` UInt8,', '    `my-col` Float64,', '    received_at DateTime\n']) {
      expect(table).toContain(line);
    }
    expect(table).toContain('ORDER BY (`order`, `from`)');
    // the ingest view, with the filter as written
    expect(ddl).toContain('    `my-col`,\n    `ünï`,\n    _timestamp AS received_at\nFROM analytics.order_queue\nWHERE (`select` = 1 AND `my-col` >= 0)');
    // aggregate: state columns, the view's GROUP BY and -Merge calls
    expect(ddl).toContain('    `from` DateTime,\n    `select` AggregateFunction(count),\n    `my-col` AggregateFunction(avg, Float64),\n    `ünï` AggregateFunction(uniq, Int32)');
    expect(ddl).toContain('ORDER BY (`user`, `from`)');
    expect(ddl).toContain('toStartOfMinute(ts) AS `from`,\n    countState() AS `select`,\n    avgState(`my-col`) AS `my-col`,\n    uniqState(`order`) AS `ünï`');
    expect(ddl).toContain('countMerge(`select`) AS `select`,\n    avgMerge(`my-col`) AS `my-col`,\n    uniqMerge(`ünï`) AS `ünï`\nFROM analytics.`metrics-prod_state`\nGROUP BY `user`, `from`');
    // publish: the chosen columns from the keyword-named table
    expect(ddl).toContain('AS (SELECT\n    `order`,\n    `from`,\n    `ünï`,\n    `my-col`\nFROM analytics.`order`\nWHERE `order` > 100 AND `ünï` != \'\'');
    // computed column named by a keyword
    expect(ddl).toContain('toDate(now()) AS `day`');
    // a backquote inside a name is escaped; a quote, a space, a leading digit or a keyword in capitals only backquoted
    expect(ddl).toContain("CREATE TABLE IF NOT EXISTS analytics.`select`\n(\n    `it's` Int32,\n    `a\\`b` String,\n    `x y` String,\n    `1st` UInt8,\n    `SELECT` String,\n    shout String\n)");
    expect(ddl).toContain("ORDER BY (`it's`, `a\\`b`, `1st`)");
    expect(ddl).toContain('upper(`x y`) AS shout\nFROM analytics.select_queue');
  });

  it('writes descriptions and comments as string literals that read back exactly', () => {
    expect(ddl).toContain("COMMENT 'Orders\\' log: C:\\\\temp\\\\x, line one\\nline two 🚀 naïve — 注文 [chpipe:order/table]'");
    expect(ddl).toContain("COMMENT 'single \\'quotes\\' and a trailing backslash \\\\ [chpipe:from/table]'");
    expect(ddl).toContain("COMMENT 'Ventes publiées à l\\'équipe\\t✓ [chpipe:ventes_été/mv]'");
    expect(ddl).toContain("`ünï` String COMMENT 'it\\'s a \"quoted\" \\\\ comment 😀\\nwith a newline'");

    const decoded = comments(ddl);
    expect(decoded).toContain(COLUMN_COMMENT);
    for (const [pipeline, description] of Object.entries(DESCRIPTIONS)) {
      const own = decoded.filter((c) => c.includes(`[chpipe:${pipeline}/`));
      expect(own.length, pipeline).toBeGreaterThanOrEqual(2);
      for (const c of own) expect(c).toMatch(new RegExp(`^${description.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[chpipe:${pipeline}/[a-z_]+\\]$`, 'su'));
    }
    // no raw newline or tab inside any literal: each statement's COMMENT stays on one line
    for (const m of ddl.matchAll(/COMMENT '((?:[^'\\]|\\.)*)'/gsu)) expect(m[1]).not.toMatch(/[\n\t]/);
  });
});
