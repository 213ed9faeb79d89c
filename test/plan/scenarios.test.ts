/**
 * Every change kind, end to end on the embedded engine: a base migration is
 * saved, the YAML changes, the plan's exact steps (order, action, risk) are
 * checked, the plan is saved, and planning again must find nothing to do.
 */
import { describe, expect, it } from 'vitest';
import { outline, project, savedHistories } from '../helpers/plan.js';
import { describeSavedMigrationsOnMatrix } from '../matrix/saved.js';

const SEED = `name: api_latency
description: API response times
source: { topic: kafka_topic_1, format: CSV }
columns:
  api_id: Int32
  time_taken: Int32
table:
  order_by: [api_id]
`;

const AGG = `name: api_1m
source: { topic: api_events }
columns:
  api_id: Int32
  time_taken: Int32
  ts: DateTime
aggregate:
  by:
    api_id: api_id
    minute: toStartOfMinute(ts)
  measures:
    requests: count()
    p95_ms: quantile(0.95)(time_taken)
`;

const PUBLISH = `name: slow_out
publish:
  from: api_latency
  where: time_taken > 1000
  columns: [api_id, time_taken]
  topic: slow_requests
`;

/** Save `base`, apply `edit`, return the plan outline; then save it and check the next plan is empty. */
async function change(base: Record<string, string>, edit: Record<string, string | null>): Promise<{ steps: string[]; reasons: string[] }> {
  const p = project(base);
  await p.save('base');
  expect(outline(await p.plan())).toEqual([]);
  for (const [path, text] of Object.entries(edit)) {
    if (text === null) (await import('node:fs')).rmSync(`${p.dir}/${path}`);
    else p.write(path, text);
  }
  const planned = await p.save('change');
  const steps = outline(planned);
  if (process.env.SHOW_STEPS) console.log(JSON.stringify(planned.steps.map((s) => `${s.action} ${s.risk} ${s.object} :: ${s.reason}`), null, 1));
  expect(outline(await p.plan()), 'plan after saving the change must be empty').toEqual([]);
  return { steps, reasons: planned.steps.map((s) => s.reason) };
}

describe('plan: change kinds', () => {
  it('adding a column end to end: ADD COLUMN, stop the flow, recreate the queue with the same group, restart the flow — all safe with a named format', async () => {
    const json = SEED.replace('format: CSV', 'format: JSONEachRow');
    const { steps, reasons } = await change({ 'schemas/a.yaml': json }, { 'schemas/a.yaml': json.replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: String\n') });
    expect(steps).toEqual([
      'alter safe api_latency',
      'stop safe api_latency_mv',
      'drop safe api_latency_queue',
      'create safe api_latency_queue',
      'start safe api_latency_mv',
    ]);
    expect(reasons[0]).toMatch(/add column country/);
    expect(reasons[3]).toMatch(/same consumer group chpipe_analytics_api_latency: committed offsets carry over/);
    expect(reasons[4]).toMatch(/it writes country too/);
  });

  it('adding a column to a positional format (CSV) is caution: old-shape messages still in the topic fail to parse', async () => {
    const { steps, reasons } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: String\n') });
    expect(steps).toEqual(['alter safe api_latency', 'stop safe api_latency_mv', 'drop safe api_latency_queue', 'create caution api_latency_queue', 'start safe api_latency_mv']);
    expect(reasons[3]).toMatch(/format CSV reads fields by position/);
  });

  it('adding a pipeline creates its objects, targets before flows', async () => {
    const { steps } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/b.yaml': PUBLISH });
    expect(steps).toEqual(['create safe slow_out_queue', 'start safe slow_out_mv']);
  });

  it('removing a pipeline is destructive: flow stopped first, then queue, then table', async () => {
    const { steps } = await change({ 'schemas/a.yaml': SEED, 'schemas/b.yaml': AGG }, { 'schemas/b.yaml': null });
    expect(steps).toEqual(['stop destructive api_1m_mv', 'drop destructive api_1m', 'drop destructive api_1m_queue', 'drop destructive api_1m_state']);
  });

  it('removing a column is destructive and the DROP COLUMN comes after the flow stops writing it', async () => {
    const { steps } = await change({ 'schemas/a.yaml': SEED.replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: String\n') }, { 'schemas/a.yaml': SEED });
    expect(steps).toEqual(['stop safe api_latency_mv', 'drop safe api_latency_queue', 'create caution api_latency_queue', 'start caution api_latency_mv', 'alter destructive api_latency']);
  });

  it('retyping a column is a caution mutation, with the queue recreated', async () => {
    const { steps, reasons } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('time_taken: Int32', 'time_taken: Int64') });
    expect(steps).toEqual(['alter caution api_latency', 'stop safe api_latency_mv', 'drop safe api_latency_queue', 'create caution api_latency_queue', 'start safe api_latency_mv']);
    expect(reasons[0]).toMatch(/from Int32 to Int64/);
    expect(reasons[3]).toMatch(/time_taken is parsed as another type/);
  });

  it('renaming a column (renamed_from) is a RENAME COLUMN, not a drop', async () => {
    const renamed = SEED.replace('  time_taken: Int32\n', '  latency_ms: { type: Int32, renamed_from: time_taken }\n');
    const { steps, reasons } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': renamed });
    // The message field keeps its name: the queue is untouched, the flow reads time_taken AS latency_ms.
    expect(steps).toEqual(['stop safe api_latency_mv', 'alter safe api_latency', 'start safe api_latency_mv']);
    expect(reasons[1]).toMatch(/rename column time_taken to latency_ms/);
    expect(reasons[2]).toMatch(/it writes time_taken as latency_ms/);
  });

  it('changing ORDER BY rebuilds the table: new table, pause, copy, exchange — destructive', async () => {
    const { steps, reasons } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('order_by: [api_id]', 'order_by: [time_taken, api_id]') });
    expect(steps).toEqual([
      'create destructive api_latency__chpipe_rebuild',
      'stop safe api_latency_mv',
      'copy destructive api_latency__chpipe_rebuild',
      'swap destructive api_latency',
      'alter destructive api_latency',
      'drop destructive api_latency__chpipe_rebuild',
      'start safe api_latency_mv',
    ]);
    expect(reasons[0]).toMatch(/ORDER BY of api_latency cannot be altered/);
    expect(reasons[2]).toMatch(/flows are stopped/);
  });

  it('changing PARTITION BY or the engine also rebuilds', async () => {
    const withDay = SEED.replace('  time_taken: Int32\n', '  time_taken: Int32\n  day: Date\n');
    const partitioned = await change({ 'schemas/a.yaml': withDay }, { 'schemas/a.yaml': withDay.replace('order_by: [api_id]', 'order_by: [api_id]\n  partition_by: toYYYYMM(day)') });
    expect(partitioned.steps.filter((s) => s.startsWith('swap'))).toEqual(['swap destructive api_latency']);
    const engine = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('order_by: [api_id]', 'order_by: [api_id]\n  engine: ReplacingMergeTree') });
    expect(engine.steps.filter((s) => s.startsWith('swap'))).toEqual(['swap destructive api_latency']);
  });

  it('TTL and table settings are ALTERs', async () => {
    const withDay = SEED.replace('  time_taken: Int32\n', '  time_taken: Int32\n  day: Date\n');
    const ttl = await change({ 'schemas/a.yaml': withDay }, { 'schemas/a.yaml': withDay.replace('order_by: [api_id]', 'order_by: [api_id]\n  ttl: day + INTERVAL 30 DAY') });
    expect(ttl.steps).toEqual(['alter caution api_latency']);
    const settings = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('order_by: [api_id]', 'order_by: [api_id]\n  settings: { merge_with_ttl_timeout: 3600 }') });
    expect(settings.steps).toEqual(['alter caution api_latency']);
  });

  it('changing the consumer group is caution and says what happens to offsets', async () => {
    const { steps, reasons } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('format: CSV }', 'format: CSV, group: latency_v2 }') });
    expect(steps).toEqual(['stop safe api_latency_mv', 'drop safe api_latency_queue', 'create caution api_latency_queue', 'start safe api_latency_mv']);
    expect(reasons[2]).toContain('consumer group changes from chpipe_analytics_api_latency to latency_v2: the new group starts at the earliest retained offset; messages will be re-read');
  });

  it('changing topics, format or a parsing setting is caution; consumers and block size recreate the queue safely', async () => {
    const topics = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('topic: kafka_topic_1', 'topics: [kafka_topic_1, kafka_topic_2]') });
    expect(topics.steps[2]).toBe('create caution api_latency_queue');
    const format = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('format: CSV }', 'format: TSV }') });
    expect(format.steps).toEqual(['stop safe api_latency_mv', 'drop safe api_latency_queue', 'create caution api_latency_queue', 'start safe api_latency_mv']);
    expect(format.reasons[2]).toMatch(/format changes from CSV to TSV: messages still in the topic .* are parsed as TSV/);
    const parsing = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('format: CSV }', 'format: CSV, settings: { format_csv_delimiter: ";" } }') });
    expect(parsing.steps[2]).toBe('create caution api_latency_queue');
    expect(parsing.reasons[2]).toMatch(/format_csv_delimiter changes/);
    const pace = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('format: CSV }', 'format: CSV, consumers: 2, settings: { kafka_max_block_size: 1000 } }') });
    expect(pace.steps).toEqual(['stop safe api_latency_mv', 'drop safe api_latency_queue', 'create safe api_latency_queue', 'start safe api_latency_mv']);
    expect(pace.reasons[1]).toMatch(/settings \(kafka_max_block_size, kafka_num_consumers\) change/);
  });

  it('on_error: stream adds the errors table, and a hub so the queue keeps one reader; the reader starts last', async () => {
    const { steps } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('format: CSV }', 'format: CSV, on_error: stream }') });
    expect(steps).toEqual([
      'create safe api_latency_errors',
      'create safe api_latency_hub',
      'stop safe api_latency_mv',
      'drop safe api_latency_queue',
      'create caution api_latency_queue',
      'start safe api_latency_errors_mv',
      'start caution api_latency_mv',
      'start safe api_latency_hub_mv',
    ]);
  });

  it('a column added to a stream pipeline stops the hub reader (the only reader of the queue) before anything else', async () => {
    const stream = SEED.replace('format: CSV }', 'format: JSONEachRow, on_error: stream }');
    const { steps } = await change({ 'schemas/a.yaml': stream }, { 'schemas/a.yaml': stream.replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: String\n') });
    expect(steps).toEqual([
      'alter safe api_latency',
      'alter safe api_latency_hub',
      'stop safe api_latency_hub_mv',
      'drop safe api_latency_queue',
      'create safe api_latency_queue',
      'modify_query safe api_latency_mv',
      'start safe api_latency_hub_mv',
    ]);
  });

  it('a measure added to an aggregate is ADD COLUMN on NAME_state plus new queries, not a rebuild', async () => {
    const { steps, reasons } = await change({ 'schemas/b.yaml': AGG }, { 'schemas/b.yaml': AGG.replace('    requests: count()\n', '    requests: count()\n    max_ms: max(time_taken)\n') });
    expect(steps).toEqual(['alter caution api_1m_state', 'replace safe api_1m', 'modify_query safe api_1m_mv']);
    expect(reasons[0]).toMatch(/groups already stored show it over rows from now on only/);
  });

  it('a measure removed: queries first, then DROP COLUMN (destructive)', async () => {
    const { steps } = await change({ 'schemas/b.yaml': AGG }, { 'schemas/b.yaml': AGG.replace('    p95_ms: quantile(0.95)(time_taken)\n', '') });
    expect(steps).toEqual(['replace safe api_1m', 'modify_query caution api_1m_mv', 'alter destructive api_1m_state']);
  });

  it('a measure whose function changes resets that state column while the flow is stopped', async () => {
    const { steps } = await change({ 'schemas/b.yaml': AGG }, { 'schemas/b.yaml': AGG.replace('quantile(0.95)(time_taken)', 'quantile(0.99)(time_taken)') });
    expect(steps).toEqual(['stop safe api_1m_mv', 'alter destructive api_1m_state', 'alter destructive api_1m_state', 'replace safe api_1m', 'start caution api_1m_mv']);
  });

  it('a by key added changes the ORDER BY of NAME_state: rebuild', async () => {
    const { steps } = await change({ 'schemas/b.yaml': AGG }, { 'schemas/b.yaml': AGG.replace('    minute: toStartOfMinute(ts)\n', '    minute: toStartOfMinute(ts)\n    slow: time_taken > 1000\n') });
    expect(steps).toContain('swap destructive api_1m_state');
    expect(steps).toContain('replace safe api_1m');
  });

  it('filter and computed expressions change by MODIFY QUERY (the flow keeps running): caution, rows from now on differ', async () => {
    const computed = SEED.replace('  time_taken: Int32\n', '  time_taken: Int32\n  slow: { type: UInt8, expr: time_taken > 1000 }\n');
    const filter = await change({ 'schemas/a.yaml': computed }, { 'schemas/a.yaml': computed + 'filter: time_taken >= 0\n' });
    expect(filter.steps).toEqual(['modify_query caution api_latency_mv']);
    expect(filter.reasons[0]).toMatch(/its filter changes \(none → \(time_taken >= 0\)\)/);
    const expr = await change({ 'schemas/a.yaml': computed }, { 'schemas/a.yaml': computed.replace('time_taken > 1000', 'time_taken > 500') });
    expect(expr.steps).toEqual(['modify_query caution api_latency_mv']);
    expect(expr.reasons[0]).toMatch(/slow is computed differently from now on; stored rows keep their values/);
  });

  it('publish changes: where by MODIFY QUERY; columns recreate the producer queue', async () => {
    const where = await change({ 'schemas/a.yaml': SEED, 'schemas/b.yaml': PUBLISH }, { 'schemas/b.yaml': PUBLISH.replace('> 1000', '> 2000') });
    expect(where.steps).toEqual(['modify_query caution slow_out_mv']);
    const cols = await change({ 'schemas/a.yaml': SEED, 'schemas/b.yaml': PUBLISH }, { 'schemas/b.yaml': PUBLISH.replace('columns: [api_id, time_taken]', 'columns: [api_id]') });
    // The publish flow stops with its source's flow, so no row inserted meanwhile goes unpublished.
    expect(cols.steps).toEqual(['stop safe api_latency_mv', 'stop safe slow_out_mv', 'drop safe slow_out_queue', 'create caution slow_out_queue', 'start caution slow_out_mv', 'start safe api_latency_mv']);
    expect(cols.reasons[3]).not.toMatch(/consumer group/);
    expect(cols.reasons[3]).toMatch(/published messages change shape; they lose time_taken/);
  });

  it('a rebuilt source table also restarts the publish flow reading it', async () => {
    const { steps } = await change({ 'schemas/a.yaml': SEED, 'schemas/b.yaml': PUBLISH }, { 'schemas/a.yaml': SEED.replace('order_by: [api_id]', 'order_by: [time_taken]') });
    expect(steps.filter((s) => /slow_out_mv/.test(s))).toEqual(['stop safe slow_out_mv', 'start safe slow_out_mv']);
    expect(steps.indexOf('start safe slow_out_mv')).toBeLessThan(steps.indexOf('start safe api_latency_mv'));
  });

  it('an ingest pipeline turned aggregate: NAME changes kind (table → view), destructive, and the flow moves to NAME_state', async () => {
    const ingest = AGG.replace(/aggregate:[\s\S]*$/, 'table:\n  order_by: [api_id]\n');
    const { steps, reasons } = await change({ 'schemas/b.yaml': ingest }, { 'schemas/b.yaml': AGG });
    expect(steps).toEqual(['create safe api_1m_state', 'stop safe api_1m_mv', 'drop destructive api_1m', 'create safe api_1m', 'start caution api_1m_mv']);
    expect(reasons[2]).toMatch(/changes kind \(table → view\): dropped with its data/);
  });

  it('a description change is comments only', async () => {
    const { steps } = await change({ 'schemas/a.yaml': SEED }, { 'schemas/a.yaml': SEED.replace('API response times', "API response times (ms) — it's ünïcode") });
    expect(steps).toEqual(['alter safe api_latency', 'alter safe api_latency_queue', 'alter safe api_latency_mv']);
  });
});

describe('plan: awkward cases diff to nothing after --save', () => {
  it('quoted names, Decimal, DateTime64, parametric aggregates, filters, stream mode', async () => {
    const p = project({
      'schemas/order.yaml': `name: order
description: "Orders: 'quoted' \\\\ back\\\\slash"
source: { topic: orders, format: JSONEachRow, on_error: stream }
columns:
  from: String
  select: Decimal(18, 4)
  user: LowCardinality(Nullable(String))
  at: DateTime64(6, 'UTC')
  my-col: { type: Date, expr: toDate(at) }
filter: "\`select\` > 0"
table:
  order_by: [from, at]
  partition_by: toYYYYMM(\`my-col\`)
  ttl: "\`my-col\` + INTERVAL 1 YEAR"
`,
      'schemas/metrics.yaml': `name: metrics-prod
source: { topics: [m1, m2], format: JSONEachRow, consumers: 2, settings: { kafka_max_block_size: 65536, input_format_skip_unknown_fields: 1 } }
columns:
  group: String
  value: Float64
  ts: DateTime
filter: isFinite(value)
aggregate:
  by: { group: group, bucket: toStartOfFiveMinutes(ts) }
  measures:
    p50: quantiles(0.5, 0.9)(value)
    top: topK(3)(group)
    total: sum(value)
    last: anyLast(ts)
    uniq_groups: uniqExact(group)
table: { partition_by: toYYYYMM(bucket) }
`,
      'schemas/out.yaml': `name: ventes_été
publish: { from: metrics-prod, where: total > 10, topic: out-topic, format: JSONEachRow }
`,
    });
    const first = await p.save('initial');
    expect(outline(first).map((s) => s.split(' ')[2]).sort()).toEqual(
      ['analytics', 'metrics-prod', 'metrics-prod_mv', 'metrics-prod_queue', 'metrics-prod_state', 'order', 'order_errors', 'order_errors_mv', 'order_hub', 'order_hub_mv', 'order_mv', 'order_queue', 'ventes_été_mv', 'ventes_été_queue'].sort(),
    );
    expect(outline(await p.plan())).toEqual([]);
  });
});

// Last in the file (tests run in order): every migration saved above, on ClickHouse 24.8, 25.8 and 26.7.
describeSavedMigrationsOnMatrix('the plan scenarios', savedHistories);
