/**
 * The direct shape of `on_error: stream` (`objects: { hub: null, hub_mv: null }`): the table's
 * view and the errors view both read the Kafka table. SPEC §4: when the flow stops, every reader
 * stops at once. On plain models, with the plan tests' machinery (diffModels + planSteps).
 */
import { describe, expect, it } from 'vitest';
import { diffModels } from '../../src/diff/diff.js';
import { makeModel, type DbObject, type KafkaTable, type MaterializedView, type Model, type Role, type Table } from '../../src/model/model.js';
import { ownershipComment } from '../../src/model/ownership.js';
import { planSteps } from '../../src/plan/plan.js';

const own = (role: Role) => ({ owner: { pipeline: 'p', role }, comment: ownershipComment({ pipeline: 'p', role }) });
const W = { name: 'w', type: 'UInt8' };

function queue(over: Partial<KafkaTable> = {}): KafkaTable {
  return { kind: 'kafka', name: 'p_queue', columns: [{ name: 'id', type: 'Int32' }], brokers: 'localhost:9092', topics: ['t'], group: 'g', format: 'JSONEachRow', settings: { kafka_handle_error_mode: 'stream' }, ...own('queue'), ...over };
}
function table(over: Partial<Table> = {}): Table {
  return { kind: 'table', name: 'p', engine: 'MergeTree', columns: [{ name: 'id', type: 'Int32', inKey: true }], orderBy: 'id', settings: {}, ...own('table'), ...over };
}
function mainView(items = ['id']): MaterializedView {
  return { kind: 'mv', name: 'p_mv', to: 'p', from: ['p_queue'], select: `SELECT ${items.join(', ')} FROM db.p_queue WHERE length(_error) = 0`, query: { items: items.map((n) => ({ name: n, expr: n })), from: 'db.p_queue', where: 'length(_error) = 0' }, ...own('mv') };
}
const errorsTable: Table = { kind: 'table', name: 'p_errors', engine: 'MergeTree', columns: [{ name: 'raw_message', type: 'String' }, { name: 'error', type: 'String' }], orderBy: 'tuple()', settings: {}, ...own('errors') };
const errorsView: MaterializedView = { kind: 'mv', name: 'p_errors_mv', to: 'p_errors', from: ['p_queue'], select: 'SELECT _raw_message AS raw_message, _error AS error FROM db.p_queue WHERE length(_error) > 0', query: { items: [{ name: 'raw_message', expr: '_raw_message' }, { name: 'error', expr: '_error' }], from: 'db.p_queue', where: 'length(_error) > 0' }, ...own('errors_mv') };
const model = (...objects: DbObject[]): Model => makeModel({ database: 'db' }, objects);

function plan(from: Model, to: Model): { steps: string[]; reasons: string[] } {
  const steps = planSteps({ changes: diffModels(from, to, new Map()), from, to });
  return { steps: steps.map((s) => `${s.action} ${s.risk} ${s.object.replace(/^db\./, '')}`), reasons: steps.map((s) => s.reason) };
}

const base = model(table(), queue(), mainView(), errorsTable, errorsView);

describe('direct shape: both views read the Kafka table', () => {
  it('a column added end to end: ADD COLUMN, the queue dropped first (both readers stop at once, views stay attached), recreated (both resume at once), MODIFY QUERY', () => {
    const to = model(table({ columns: [...table().columns, W] }), queue({ columns: [...queue().columns, W] }), mainView(['id', 'w']), errorsTable, errorsView);
    const r = plan(base, to);
    expect(r.steps).toEqual(['alter safe p', 'stop caution p_queue', 'create safe p_queue', 'modify_query safe p_mv']);
    // Never one view dropped while the other still reads: no view is dropped at all.
    expect(r.steps.some((s) => s.startsWith('stop') && s.endsWith('_mv'))).toBe(false);
    expect(r.reasons[1]).toMatch(/it has 2 readers \(p_errors_mv, p_mv\), and dropping it stops consumption for all of them at once; its views stay attached/);
    expect(r.reasons[2]).toMatch(/its views p_errors_mv, p_mv, still attached, resume reading it at once/);
  });

  it('a setting of the queue: the same, with no query to swap', () => {
    const r = plan(base, model(table(), queue({ settings: { kafka_handle_error_mode: 'stream', kafka_max_block_size: 1000 } }), mainView(), errorsTable, errorsView));
    expect(r.steps).toEqual(['stop caution p_queue', 'create safe p_queue']);
  });

  it('a change that recreates a reader (its table rebuilt): the queue still stops first, and the readers that start one after the other are caution, with the hub shape as the way around', () => {
    const to = model(table({ orderBy: '(id, w)', columns: [...table().columns, { ...W, inKey: true }] }), queue({ columns: [...queue().columns, W] }), mainView(['id', 'w']), errorsTable, errorsView);
    const r = plan(base, to);
    const stopQueue = r.steps.indexOf('stop caution p_queue');
    expect(stopQueue).toBeGreaterThanOrEqual(0);
    // Every reader stops after the queue is gone.
    for (const v of ['p_mv', 'p_errors_mv']) expect(r.steps.findIndex((s) => s.startsWith('stop') && s.endsWith(` ${v}`))).toBeGreaterThan(stopQueue);
    const starts = r.steps.flatMap((s, i) => (s.startsWith('start') ? [i] : []));
    expect(starts.length).toBe(2);
    for (const i of starts) {
      expect(r.steps[i]).toMatch(/^start (caution|destructive) /);
      expect(r.reasons[i]).toMatch(/created one after the other.*move the pipeline to the hub shape first/);
    }
  });

  it('moving a direct-shape pipeline to the hub shape: the queue stops first, the hub reader starts last, nothing flagged as a window', () => {
    const hub: DbObject = { kind: 'null', name: 'p_hub', columns: queue().columns, ...own('hub') };
    const hubMv: MaterializedView = { ...mainView(), name: 'p_hub_mv', to: 'p_hub', ...own('hub_mv') };
    const viaHub = (v: MaterializedView): MaterializedView => ({ ...v, from: ['p_hub'] });
    const r = plan(base, model(table(), queue(), hub, hubMv, viaHub(mainView()), errorsTable, viaHub(errorsView)));
    expect(r.steps.at(-1)).toBe('start safe p_hub_mv');
    expect(r.steps.indexOf('stop caution p_queue')).toBeLessThan(r.steps.indexOf('stop safe p_mv'));
    expect(r.reasons.join('\n')).not.toMatch(/one after the other/);
  });
});
