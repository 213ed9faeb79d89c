/**
 * Cluster mode's data flow on a non-replicated copy (docs/cluster.md), on the run's real broker.
 *
 * The embedded engine keeps Replicated tables read-only and runs no distributed DDL queue, so the project's
 * cluster DDL (`chpipe compile` of an ingest + aggregate + publish project with `cluster: flow`) runs on one
 * engine process whose server config names the cluster `flow` as this node alone (`127.0.0.1:9000`, which
 * the engine counts as local: a Distributed table over it reads and writes in process). Each statement runs
 * as a node's DDL worker runs it: normalized by `formatQuery`, its `ON CLUSTER flow` dropped
 * (`withoutOnCluster`), and a `Replicated*MergeTree` engine replaced by its plain engine (`withPlainEngine`,
 * what the scratch engine does). Then: messages produced; every row read through the Distributed `events`;
 * the aggregate's finalizing view (over the Distributed `events_by_key_state`) equal to the aggregates this
 * file computes from the produced messages; the publish flow's rows on its topic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessDriver } from '../../src/engine/process.js';
import { withoutOnCluster, withPlainEngine } from '../../src/sql/cluster.js';
import { splitStatements } from '../../src/sql/parse.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { chpipe, tempProject } from '../helpers/cli.js';
import { consumeAll, createTopic, kafkaBootstrap, produceValues, uniqueTopic } from '../helpers/kafka.js';
import { openSelfClusterEngine } from '../helpers/cluster.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
const PARTITIONS = 2;
const MESSAGES = 600;

let driver: ProcessDriver | undefined;
beforeAll(async () => {
  driver = await openSelfClusterEngine('chpipe-cluster-flow-', ['flow']);
});
afterAll(async () => {
  await driver?.close();
});

async function until(check: () => Promise<boolean>, boundMs: number, what: string): Promise<void> {
  const t = Date.now();
  while (!(await check())) {
    if (Date.now() - t > boundMs) throw new Error(what);
    await sleep(250);
  }
}

describe('cluster DDL on a non-replicated copy, on the real broker', () => {
  it('ingests into NAME_local, reads through the Distributed NAME, re-aggregates over the Distributed state, and publishes', { timeout: 180_000 }, async () => {
    const d = driver as ProcessDriver;
    const bootstrap = kafkaBootstrap();
    const input = uniqueTopic('cluster_flow_in');
    const output = uniqueTopic('cluster_flow_out');
    await createTopic(bootstrap, input, PARTITIONS);
    await createTopic(bootstrap, output, 1);
    const db = `cluster_flow_${process.pid}`;
    const dir = tempProject(
      {
        'schemas/events.yaml': ['name: events', 'source:', `  topic: ${input}`, '  format: JSONEachRow', 'columns:', '  id: UInt64', '  key: String', '  value: Int64', 'table:', '  order_by: [id]', ''].join('\n'),
        'schemas/events_by_key.yaml': [
          'name: events_by_key',
          'source:',
          `  topic: ${input}`,
          '  format: JSONEachRow',
          'columns:',
          '  key: String',
          '  value: Int64',
          'aggregate:',
          '  by:',
          '    key: key',
          '  measures:',
          '    n: count()',
          '    total: sum(value)',
          '    top: max(value)',
          '',
        ].join('\n'),
        'schemas/big_events.yaml': ['name: big_events', 'publish:', '  from: events', '  where: value >= 900', '  columns: [id, value]', `  topic: ${output}`, '  format: JSONEachRow', ''].join('\n'),
      },
      `version: 1\ndatabase: ${db}\ncluster: flow\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`,
    );
    const compiled = chpipe(['compile'], dir, { KAFKA_BROKERS: bootstrap });
    expect(compiled.stderr).toBe('');
    expect(compiled.code).toBe(0);

    // Each statement as a node without replication runs it.
    const statements = splitStatements(compiled.stdout).map((s) => s.sql).filter((s) => s.trim() !== '');
    let replicated = 0;
    for (const sql of statements) {
      const [row] = await d.query<{ q: string }>(`SELECT formatQuery(${stringLiteral(sql)}) AS q`);
      const local = withoutOnCluster(row?.q as string, 'flow');
      expect(local, `a statement without ON CLUSTER flow: ${sql.slice(0, 100)}`).toBeDefined();
      const plain = withPlainEngine(local as string);
      if (plain !== local) replicated++;
      await d.exec(plain);
    }
    // events_local and events_by_key_state_local were Replicated; events, events_by_key_state Distributed.
    expect(replicated).toBe(2);
    const engines = Object.fromEntries(
      (await d.query<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${stringLiteral(db)}`)).map((r) => [r.name, r.engine]),
    );
    expect(engines).toMatchObject({ events_local: 'MergeTree', events: 'Distributed', events_by_key_state_local: 'AggregatingMergeTree', events_by_key_state: 'Distributed', events_by_key: 'View' });

    const keys = ['a', 'b', 'c', 'order', 'from'];
    const sent = await produceValues(
      bootstrap,
      input,
      Array.from({ length: MESSAGES }, (_, i) => JSON.stringify({ id: i + 1, key: keys[i % keys.length], value: (i * 37) % 1000 })),
      PARTITIONS,
    );
    expect(sent).toHaveLength(MESSAGES);
    const produced = sent.map((m) => JSON.parse(m.value) as { id: number; key: string; value: number });

    await until(async () => Number((await d.query<{ n: string }>(`SELECT count() AS n FROM ${db}.events`))[0]?.n) >= MESSAGES, 120_000, `${db}.events did not reach ${MESSAGES} rows in 120 s`);
    await until(
      async () => Number((await d.query<{ n: string }>(`SELECT sum(n) AS n FROM ${db}.events_by_key`))[0]?.n) >= MESSAGES,
      60_000,
      `${db}.events_by_key did not count ${MESSAGES} messages in 60 s`,
    );

    // Every row, through the Distributed table, once; the local table holds the same rows.
    const rows = await d.query<{ id: string; key: string; value: string }>(`SELECT toString(id) AS id, key, toString(value) AS value FROM ${db}.events`);
    expect(rows.map((r) => ({ id: Number(r.id), key: r.key, value: Number(r.value) })).sort((x, y) => x.id - y.id)).toEqual([...produced].sort((x, y) => x.id - y.id));
    const [local] = await d.query<{ n: string }>(`SELECT count() AS n FROM ${db}.events_local`);
    expect(Number(local?.n)).toBe(MESSAGES);

    // The finalizing view over the Distributed state equals the aggregates of the produced messages.
    const expected = new Map<string, { n: number; total: number; top: number }>();
    for (const m of produced) {
      const e = expected.get(m.key) ?? { n: 0, total: 0, top: -Infinity };
      expected.set(m.key, { n: e.n + 1, total: e.total + m.value, top: Math.max(e.top, m.value) });
    }
    const aggregated = await d.query<{ key: string; n: string; total: string; top: string }>(`SELECT key, toString(n) AS n, toString(total) AS total, toString(top) AS top FROM ${db}.events_by_key ORDER BY key`);
    expect(aggregated.map((r) => [r.key, { n: Number(r.n), total: Number(r.total), top: Number(r.top) }])).toEqual([...expected].sort(([a], [b]) => (a < b ? -1 : 1)));
    const [state] = await d.query<{ n: string }>(`SELECT count() AS n FROM ${db}.events_by_key_state`);
    expect(Number(state?.n)).toBeGreaterThanOrEqual(keys.length);

    // The publish flow's rows on its topic: every message with value ≥ 900, once.
    const wanted = produced.filter((m) => m.value >= 900).map((m) => ({ id: m.id, value: m.value }));
    expect(wanted.length).toBeGreaterThan(0);
    let published: { id: number; value: number }[] = [];
    await until(
      async () => {
        published = (await consumeAll(bootstrap, output, 5_000)).map((m) => JSON.parse(m.value) as { id: number; value: number });
        return published.length >= wanted.length;
      },
      60_000,
      `${output} did not receive ${wanted.length} messages in 60 s`,
    );
    expect(published.map((m) => ({ id: Number(m.id), value: Number(m.value) })).sort((x, y) => x.id - y.id)).toEqual(wanted.sort((x, y) => x.id - y.id));
  });
});
