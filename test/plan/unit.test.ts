/**
 * diff and plan on plain Models, without the engine: one case per change
 * kind, checking the typed changes and the ordered, labelled steps.
 */
import { describe, expect, it } from 'vitest';
import type { Change } from '../../src/diff/change.js';
import { diffModels } from '../../src/diff/diff.js';
import { makeModel, type DbObject, type KafkaTable, type MaterializedView, type Model, type NullTable, type Table, type View } from '../../src/model/model.js';
import { ownershipComment } from '../../src/model/ownership.js';
import { planSteps } from '../../src/plan/plan.js';
import { flowChangeRisk } from '../../src/plan/risk.js';
import { sameComputation } from '../../src/diff/diff.js';
import { parseSelect } from '../../src/sql/query.js';

const P = 'p';
const own = (role: 'queue' | 'hub' | 'hub_mv' | 'table' | 'state' | 'view' | 'mv' | 'errors' | 'errors_mv', pipeline = P) => ({ owner: { pipeline, role }, comment: ownershipComment({ pipeline, role }) });

function queue(over: Partial<KafkaTable> = {}): KafkaTable {
  return { kind: 'kafka', name: 'p_queue', columns: [{ name: 'id', type: 'Int32' }, { name: 'v', type: 'String' }], brokers: 'localhost:9092', topics: ['t'], group: 'g', format: 'JSONEachRow', settings: {}, ...own('queue'), ...over };
}
function table(over: Partial<Table> = {}): Table {
  return { kind: 'table', name: 'p', engine: 'MergeTree', columns: [{ name: 'id', type: 'Int32', inKey: true }, { name: 'v', type: 'String' }], orderBy: 'id', settings: {}, ...own('table'), ...over };
}
function flow(over: Partial<MaterializedView> = {}): MaterializedView {
  return { kind: 'mv', name: 'p_mv', to: 'p', from: ['p_queue'], select: 'SELECT id, v FROM db.p_queue', query: { items: [{ name: 'id', expr: 'id' }, { name: 'v', expr: 'v' }], from: 'db.p_queue' }, ...own('mv'), ...over };
}
const model = (...objects: DbObject[]): Model => makeModel({ database: 'db' }, objects);

function plan(from: Model, to: Model, renames = new Map<string, Map<string, string>>()): { changes: Change[]; steps: string[]; reasons: string[] } {
  const changes = diffModels(from, to, renames);
  const steps = planSteps({ changes, from, to });
  return { changes, steps: steps.map((s) => `${s.action} ${s.risk} ${s.object.replace(/^db\./, '')}`), reasons: steps.map((s) => s.reason) };
}

const base = model(table(), queue(), flow());

describe('diff and plan on plain models', () => {
  it('nothing changes: no change, no step', () => {
    expect(plan(base, base)).toEqual({ changes: [], steps: [], reasons: [] });
  });

  it('createObject: a new pipeline, database first, targets before the flow', () => {
    const r = plan(model(), base);
    expect(r.changes.map((c) => c.kind)).toEqual(['createObject', 'createObject', 'createObject']);
    expect(r.steps).toEqual(['create safe db', 'create safe p', 'create safe p_queue', 'start safe p_mv']);
  });

  it('dropObject: a removed pipeline is destructive, flow first, table last', () => {
    expect(plan(base, model()).steps).toEqual(['stop destructive p_mv', 'drop destructive p_queue', 'drop destructive p']);
  });

  it('alterTable addColumn end to end with a named format: all safe, in the SPEC order', () => {
    const w = { name: 'w', type: 'UInt8' };
    const to = model(table({ columns: [...table().columns, w] }), queue({ columns: [...queue().columns, w] }), flow({ select: 'SELECT id, v, w FROM db.p_queue', query: { items: [...(flow().query?.items ?? []), { name: 'w', expr: 'w' }], from: 'db.p_queue' } }));
    const r = plan(base, to);
    expect(r.changes.map((c) => c.kind)).toEqual(['alterTable', 'modifyFlow', 'replaceQueue']);
    expect(r.steps).toEqual(['alter safe p', 'stop safe p_mv', 'drop safe p_queue', 'create safe p_queue', 'start safe p_mv']);
  });

  it('replaceQueue: positional format with a field added, format, group, topics, brokers, parsing setting — caution each; pace settings — safe', () => {
    const cases: [Partial<KafkaTable>, 'safe' | 'caution', RegExp][] = [
      [{ format: 'CSV' }, 'caution', /format changes from JSONEachRow to CSV/],
      [{ group: 'g2' }, 'caution', /messages will be re-read/],
      [{ topics: ['t', 'u'] }, 'caution', /earliest retained offset/],
      [{ brokers: 'other:9092' }, 'caution', /offsets belong to a Kafka cluster/],
      [{ settings: { input_format_skip_unknown_fields: 0 } }, 'caution', /parsed with the new setting/],
      [{ settings: { kafka_skip_broken_messages: 10 } }, 'caution', /malformed messages are handled differently/],
      [{ columns: [{ name: 'id', type: 'Int64' }, { name: 'v', type: 'String' }] }, 'caution', /id is parsed as another type/],
      [{ settings: { kafka_max_block_size: 1000, kafka_num_consumers: 2 } }, 'safe', /only the pace of consumption/],
    ];
    for (const [over, risk, reason] of cases) {
      const r = plan(base, model(table(), queue(over), flow()));
      expect(r.changes.map((c) => c.kind)).toEqual(['replaceQueue']);
      const create = r.steps.findIndex((s) => s.startsWith('create'));
      expect(r.steps[create], JSON.stringify(over)).toBe(`create ${risk} p_queue`);
      expect(r.reasons[create]).toMatch(reason);
    }
    const csv = model(table(), queue({ format: 'CSV' }), flow());
    const added = plan(csv, model(table(), queue({ format: 'CSV', columns: [...queue().columns, { name: 'w', type: 'UInt8' }] }), flow()));
    expect(added.reasons[added.steps.indexOf('create caution p_queue')]).toMatch(/reads fields by position/);
  });

  it('commentQueue: a description only', () => {
    expect(plan(base, model(table(), queue({ comment: `x ${queue().comment}` }), flow())).steps).toEqual(['alter safe p_queue']);
  });

  it('alterTable: rename (declared) is safe and stops the writer; drop is destructive and last; move is safe; retype caution; TTL caution; settings caution', () => {
    const renamed = plan(base, model(table({ columns: [table().columns[0]!, { name: 'value', type: 'String' }] }), queue(), flow()), new Map([['p', new Map([['value', 'v']])]]));
    expect(renamed.changes[0]).toMatchObject({ kind: 'alterTable', alters: [{ kind: 'renameColumn', from: 'v', to: 'value' }] });
    expect(renamed.steps.slice(0, 2)).toEqual(['stop safe p_mv', 'alter safe p']);
    const dropped = plan(base, model(table({ columns: [table().columns[0]!] }), queue(), flow()));
    expect(dropped.steps).toEqual(['alter destructive p']);
    const moved = plan(base, model(table({ columns: [table().columns[1]!, table().columns[0]!] }), queue(), flow()));
    expect(moved.changes[0]).toMatchObject({ alters: [{ kind: 'moveColumn', column: { name: 'v' } }, { kind: 'moveColumn', column: { name: 'id' }, after: 'v' }] });
    expect(moved.steps).toEqual(['alter safe p', 'alter safe p']);
    expect(plan(base, model(table({ columns: [table().columns[0]!, { name: 'v', type: 'LowCardinality(String)' }] }), queue(), flow())).steps).toEqual(['alter caution p']);
    const narrowed = plan(base, model(table({ columns: [table().columns[0]!, { name: 'v', type: 'Int8' }] }), queue(), flow()));
    expect(narrowed.steps).toEqual(['alter destructive p']);
    expect(narrowed.reasons[0]).toMatch(/wrapped, truncated or rounded/);
    expect(plan(base, model(table({ ttl: 'now() + toIntervalDay(1)' }), queue(), flow())).steps).toEqual(['alter caution p']);
    expect(plan(base, model(table({ settings: { index_granularity: 1024 } }), queue(), flow())).steps).toEqual(['alter caution p']);
  });

  it('rebuildTable: ORDER BY, and the type of a key column — create or replace, stop, copy, swap, tag, drop, start', () => {
    const expected = ['create destructive p__chpipe_rebuild', 'stop safe p_mv', 'copy destructive p__chpipe_rebuild', 'swap destructive p', 'alter destructive p', 'drop destructive p__chpipe_rebuild', 'start safe p_mv'];
    expect(plan(base, model(table({ orderBy: '(v, id)' }), queue(), flow())).steps).toEqual(expected);
    const keyType = plan(base, model(table({ columns: [{ name: 'id', type: 'Int64', inKey: true }, table().columns[1]!] }), queue(), flow()));
    expect(keyType.changes[0]).toMatchObject({ kind: 'rebuildTable', reasons: ['keyType'] });
    expect(keyType.steps).toEqual(expected);
  });

  it('modifyFlow: added columns are safe; a filter or an expression change is caution; a new target stops and restarts it', () => {
    const q = flow().query!;
    const added = plan(base, model(table(), queue(), flow({ select: 'x', query: { ...q, items: [...q.items, { name: 'w', expr: 'length(v)' }] } })));
    expect(added.steps).toEqual(['modify_query safe p_mv']);
    const filtered = plan(base, model(table(), queue(), flow({ select: 'x', query: { ...q, where: 'id > 0' } })));
    expect(filtered.steps).toEqual(['modify_query caution p_mv']);
    const recomputed = plan(base, model(table(), queue(), flow({ select: 'x', query: { ...q, items: [q.items[0]!, { name: 'v', expr: 'upper(v)' }] } })));
    expect(recomputed.reasons[0]).toMatch(/v is computed differently/);
    const retarget = plan(base, model(table(), table({ name: 'p2', ...own('table', 'q') }), queue(), flow({ to: 'p2' })));
    expect(retarget.steps).toEqual(['create safe p2', 'stop safe p_mv', 'start safe p_mv']);
  });

  it('replaceView: a plain view stores nothing', () => {
    const view: View = { kind: 'view', name: 'p_view', select: 'SELECT 1', ...own('view') };
    expect(plan(model(view), model({ ...view, select: 'SELECT 2' })).steps).toEqual(['replace safe p_view']);
  });

  it('replaceObject: a table that becomes a view is dropped with its data', () => {
    const view: View = { kind: 'view', name: 'p', select: 'SELECT 1', ...own('view') };
    const r = plan(model(table()), model(view));
    expect(r.changes.map((c) => c.kind)).toEqual(['replaceObject']);
    expect(r.steps).toEqual(['drop destructive p', 'create safe p']);
  });

  it('isWidening: only conversions that keep every value', async () => {
    const { isWidening } = await import('../../src/plan/risk.js');
    for (const [a, b] of [['Int32', 'Int64'], ['UInt32', 'Int64'], ['UInt8', 'UInt16'], ['Float32', 'Float64'], ['String', 'Nullable(String)'], ['String', 'LowCardinality(String)'], ['DateTime', 'DateTime64(3)']]) expect(isWidening(a as string, b as string), `${a} → ${b}`).toBe(true);
    for (const [a, b] of [['Int64', 'Int32'], ['Int32', 'UInt32'], ['UInt32', 'Int32'], ['Float64', 'Int32'], ['Nullable(String)', 'String'], ['String', 'Int32'], ['DateTime64(3)', 'DateTime']]) expect(isWidening(a as string, b as string), `${a} → ${b}`).toBe(false);
  });

  it('a measure added to a state table is caution: old groups show it over new rows only', () => {
    const state = table({ name: 'p_state', columns: [{ name: 'k', type: 'Int32', inKey: true }], orderBy: 'k', engine: 'AggregatingMergeTree', ...own('state') });
    const r = plan(model(state), model({ ...state, columns: [...state.columns, { name: 'm', type: 'AggregateFunction(avg, Int32)' }] }));
    expect(r.steps).toEqual(['alter caution p_state']);
  });

  it('two readers on one queue (an old layout): the queue is dropped first, so both stop at once; the hub layout starts its reader last', () => {
    const errorsTable = table({ name: 'p_errors', ...own('errors') });
    const errorsFlow = flow({ name: 'p_errors_mv', to: 'p_errors', ...own('errors_mv') });
    const old = model(table(), errorsTable, queue(), flow(), errorsFlow);
    const hub: NullTable = { kind: 'null', name: 'p_hub', columns: queue().columns, ...own('hub') };
    const hubFlow = flow({ name: 'p_hub_mv', to: 'p_hub', from: ['p_queue'], ...own('hub_mv') });
    const fromHub = { from: ['p_hub'], select: 'SELECT id, v FROM db.p_hub', query: { items: flow().query!.items, from: 'db.p_hub' } };
    const next = model(table(), errorsTable, queue(), hub, hubFlow, flow(fromHub), { ...errorsFlow, ...fromHub });
    const r = plan(old, next);
    expect(r.steps).toEqual([
      'create safe p_hub',
      'stop caution p_queue',
      'stop safe p_errors_mv',
      'stop safe p_mv',
      'create safe p_queue',
      'start caution p_errors_mv',
      'start caution p_mv',
      'start safe p_hub_mv',
    ]);
    expect(r.reasons[1]).toMatch(/it has 2 readers \(p_errors_mv, p_mv\), and dropping it stops consumption for all of them at once/);
    expect(r.reasons[1]).toMatch(/#11034/);
  });

  it('a stopped flow also stops the flows that feed it (a publish flow stops with its source flow)', () => {
    const out = queue({ name: 'o_queue', topics: ['out'], group: 'og', ...own('queue', 'o') });
    const publish = flow({ name: 'o_mv', to: 'o_queue', from: ['p'], select: 'SELECT id FROM db.p', query: { items: [{ name: 'id', expr: 'id' }], from: 'db.p' }, ...own('mv', 'o') });
    const before = model(table(), queue(), flow(), out, publish);
    const after = model(table(), queue(), flow(), { ...out, format: 'CSV' }, publish);
    expect(plan(before, after).steps).toEqual(['stop safe p_mv', 'stop safe o_mv', 'drop safe o_queue', 'create caution o_queue', 'start safe o_mv', 'start safe p_mv']);
  });
});

describe("an aggregate's column layer (a subquery in FROM) compared part by part", () => {
  const layer = (where: string, expr = 'id % 4') => parseSelect(`SELECT countState() AS n FROM (SELECT ${expr} AS bucket, id FROM db.q${where ? ` WHERE ${where}` : ''}) GROUP BY bucket`);
  it('a filter changed inside the layer is named, not called another source', () => {
    const r = flowChangeRisk('agg_mv', layer(''), layer('id > 3'), 'swap');
    expect(r.risk).toBe('caution');
    expect(r.reason).toContain('its filter changes (none → id > 3)');
    expect(r.reason).not.toContain('another source');
  });
  it('a column recomputed inside the layer is named', () => {
    const r = flowChangeRisk('agg_mv', layer(''), layer('', 'id % 7'), 'swap');
    expect(r.risk).toBe('caution');
    expect(r.reason).toContain('bucket is computed differently');
  });
  it('a layer reading another table still reads another source', () => {
    const other = parseSelect('SELECT countState() AS n FROM (SELECT id % 4 AS bucket, id FROM db.other) GROUP BY bucket');
    expect(flowChangeRisk('agg_mv', layer(''), other, 'swap').reason).toContain('another source');
  });
  it('the same layer is safe', () => {
    expect(flowChangeRisk('agg_mv', layer('id > 3'), layer('id > 3'), 'swap').risk).toBe('safe');
  });
});

describe('ARRAY JOIN in a view query', () => {
  it('is a part of its own, between FROM and WHERE', () => {
    expect(parseSelect("SELECT order_id, tupleElement(items, 'sku') AS sku FROM db.q ARRAY JOIN items WHERE tupleElement(items, 'qty') > 0")).toEqual({
      items: [
        { name: 'order_id', expr: 'order_id' },
        { name: 'sku', expr: "tupleElement(items, 'sku')" },
      ],
      from: 'db.q',
      arrayJoin: 'items',
      where: "tupleElement(items, 'qty') > 0",
    });
  });
  it('a join of tables, LEFT ARRAY JOIN and clauses out of order are not broken down', () => {
    expect(parseSelect('SELECT a FROM db.q JOIN db.r USING a')).toBeUndefined();
    expect(parseSelect('SELECT a FROM db.q LEFT ARRAY JOIN items')).toBeUndefined();
    expect(parseSelect('SELECT a FROM db.q WHERE a > 1 ARRAY JOIN items')).toBeUndefined();
  });
  it('a changed ARRAY JOIN is a caution step that names it; the same one is safe', () => {
    const q = (aj: string) => parseSelect(`SELECT a FROM db.q ARRAY JOIN ${aj}`);
    const r = flowChangeRisk('mv', q('items'), q('arraySlice(items, 1, 2) AS items'), 'swap');
    expect(r.risk).toBe('caution');
    expect(r.reason).toContain('its ARRAY JOIN changes (items → arraySlice(items, 1, 2) AS items)');
    expect(flowChangeRisk('mv', q('items'), q('items'), 'swap').risk).toBe('safe');
    expect(flowChangeRisk('mv', parseSelect('SELECT a FROM db.q'), q('items'), 'swap').reason).toContain('its ARRAY JOIN changes (none → items)');
  });
});

describe('a plain sum into a SimpleAggregateFunction column and sumSimpleState are one computation', () => {
  const q = (units: string) => parseSelect(`SELECT sku, ${units} AS units, uniqState(id) AS ids FROM db.q GROUP BY sku`);
  it('the same query to the planner, and no measure recomputed', () => {
    expect(sameComputation(q('sum(qty)'), q('sumSimpleState(qty)'))).toBe(true);
    expect(sameComputation(q('max(qty)'), q('maxSimpleState(qty)'))).toBe(true);
    expect(flowChangeRisk('mv', q('sum(qty)'), q('sumSimpleState(qty)'), 'swap').risk).toBe('safe');
  });
  it('other functions, or another argument, still differ', () => {
    expect(sameComputation(q('sum(qty)'), q('sumSimpleState(qty * 2)'))).toBe(false);
    expect(sameComputation(q('avg(qty)'), q('avgSimpleState(qty)'))).toBe(false);
    expect(sameComputation(q('sum(qty)'), q('sumState(qty)'))).toBe(false);
    expect(flowChangeRisk('mv', q('sum(qty)'), q('sumSimpleState(qty * 2)'), 'swap').reason).toContain('units is computed differently');
  });
});
