/**
 * `chpipe status` reports each Kafka table's consumers (system.kafka_consumers)
 * and its group's lag per partition (from the broker), on the run's real broker
 * and a `chpipe serve` target: lag 0 once everything is consumed, lag equal to
 * what was produced while the flow was detached, and a table whose brokers
 * cannot be reached gives `lag: null` with a note, status still exit 0.
 */
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Driver } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import { inspectDatabase } from '../../src/inspect/inspect.js';
import { readLag } from '../../src/kafka/lag.js';
import { consumerHealth } from '../../src/migrate/status.js';
import { chpipeAsync, tempDir, type CliResult } from '../helpers/cli.js';
import { committedOffsets, createTopic, kafkaBootstrap, stringProducer, uniqueTopic } from '../helpers/kafka.js';
import { project } from '../helpers/plan.js';
import { freePort } from '../helpers/processes.js';
import { until } from '../helpers/wait.js';
import { startServe, type Server } from '../migrate/target.js';

const DATABASE = 'status_consumers';

interface Queue {
  pipeline: string | null;
  table: string;
  group: string;
  topics: string[];
  consumers: { id: string; assignments: { topic: string; partition: number; offset: number | null }[]; lastPoll: string | null; lastCommit: string | null; messagesRead: number; exceptions: { time: string; text: string }[] }[] | null;
  lag: { topic: string; partition: number; committed: number | null; end: number; lag: number }[] | null;
  lagTotal: number | null;
  notes: string[];
}

describe('chpipe status: consumers and lag', () => {
  const bootstrap = kafkaBootstrap();
  const topic = uniqueTopic('status_orders');
  const group = `${topic}_group`;
  let dir: string;
  let server: Server;
  let driver: Driver;

  const produce = async (perPartition: readonly number[], from: number) => {
    const producer = stringProducer(bootstrap);
    try {
      let id = from;
      const messages = perPartition.flatMap((n, partition) => Array.from({ length: n }, () => ({ topic, partition, value: JSON.stringify({ id: id++, amount: 1 }) })));
      await producer.send({ messages });
    } finally {
      await producer.close();
    }
  };
  const status = async (json = true): Promise<{ r: CliResult; ms: number }> => {
    const started = Date.now();
    const r = await chpipeAsync(['status', ...(json ? ['--json'] : []), '--url', server.url], dir);
    return { r, ms: Date.now() - started };
  };
  const queues = (r: CliResult): Map<string, Queue> => new Map((JSON.parse(r.stdout) as { consumers: Queue[] }).consumers.map((q) => [q.table, q]));
  const rows = async () => Number((await driver.query<{ n: string }>(`SELECT toString(count()) AS n FROM ${DATABASE}.orders`))[0]?.n);
  const committedTotal = async () => [...(await committedOffsets(bootstrap, group, topic)).values()].reduce((a, b) => a + b, 0n);

  beforeAll(async () => {
    await createTopic(bootstrap, topic, 2);
    // Nothing listens there: the `dead` pipeline's brokers cannot be reached.
    const closed = await freePort();
    const p = project(
      {
        'schemas/orders.yaml': `name: orders\nsource:\n  topic: ${topic}\n  group: ${group}\n  format: JSONEachRow\n  settings: { kafka_flush_interval_ms: 300 }\ncolumns:\n  id: UInt64\n  amount: Int32\ntable:\n  order_by: [id]\n`,
        'schemas/dead.yaml': `name: dead\nsource:\n  topic: dead_topic\n  format: JSONEachRow\n  brokers: 127.0.0.1:${closed}\ncolumns:\n  id: UInt64\ntable:\n  order_by: [id]\n`,
      },
      `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: ${bootstrap}\n`,
    );
    await p.save('initial');
    dir = p.dir;
    server = await startServe(tempDir('chpipe-status-served-'));
    driver = await HttpDriver.connect(server.url);
    const applied = await chpipeAsync(['apply', '--url', server.url], dir);
    expect(applied.code, applied.stderr).toBe(0);
  });

  afterAll(async () => {
    await driver?.close();
    await server?.stop();
  });

  it('shows the consumer, its assignments and lag 0 once consumed; lag = what was produced while the flow was detached; an unreachable broker gives lag null', async () => {
    await produce([12, 8], 1);
    await until('20 rows in orders', async () => (await rows()) === 20, 30_000, 250);
    await until('the group to commit 20 messages', async () => (await committedTotal()) === 20n, 30_000, 250);

    const first = await status();
    expect(first.r.code, first.r.stderr).toBe(0);
    const all = queues(first.r);
    expect([...all.keys()].sort()).toEqual(['dead_queue', 'orders_queue'].sort());
    const orders = all.get('orders_queue')!;
    expect(orders).toMatchObject({ pipeline: 'orders', group, topics: [topic], notes: [] });
    expect(orders.consumers?.length).toBeGreaterThanOrEqual(1);
    const assigned = orders.consumers!.flatMap((c) => c.assignments.map((a) => `${a.topic}/${a.partition}`)).sort();
    expect(assigned).toEqual([`${topic}/0`, `${topic}/1`]);
    expect(orders.consumers!.reduce((a, c) => a + c.messagesRead, 0)).toBeGreaterThanOrEqual(20);
    expect(orders.consumers!.some((c) => c.lastPoll !== null && c.lastCommit !== null)).toBe(true);
    expect(orders.lag).toEqual([
      { topic, partition: 0, committed: 12, end: 12, lag: 0 },
      { topic, partition: 1, committed: 8, end: 8, lag: 0 },
    ]);
    expect(orders.lagTotal).toBe(0);

    const dead = all.get('dead_queue')!;
    expect(dead.lag).toBeNull();
    expect(dead.lagTotal).toBeNull();
    expect(dead.notes.join(' ')).toContain(`lag unknown: the brokers 127.0.0.1:`);
    expect(dead.consumers).not.toBeNull();
    // The unreachable broker costs at most the lag deadline (3 s), besides the usual work.
    console.log(`status --json with one unreachable broker: ${first.ms} ms`);
    // With --detailed-exitcode a queue whose brokers cannot be asked needs attention: exit 2, and the JSON says which and why.
    const detailed = await chpipeAsync(['status', '--json', '--detailed-exitcode', '--url', server.url], dir);
    expect(detailed.code, detailed.stderr).toBe(2);
    expect((JSON.parse(detailed.stdout) as { unhealthyConsumers: unknown }).unhealthyConsumers).toEqual([{ table: 'dead_queue', reasons: [expect.stringContaining('lag unknown: the brokers 127.0.0.1:')] }]);

    // Stop the flow: the queue's consumers stay in the group but nothing commits.
    const { model } = await inspectDatabase(driver, { database: DATABASE });
    const flow = model.objects.find((o) => o.kind === 'mv' && o.owner?.pipeline === 'orders');
    expect(flow).toBeDefined();
    await driver.exec(`DETACH TABLE ${DATABASE}.${flow!.name}`);
    // A stream that started before the DETACH runs to its end (it holds the view): wait until no stream uses the consumers.
    const inUse = async () => Number((await driver.query<{ n: string }>(`SELECT toString(max(is_currently_used)) AS n FROM system.kafka_consumers WHERE database = '${DATABASE}' AND table = 'orders_queue'`))[0]?.n);
    await until('the queue’s stream to end', async () => (await inUse()) === 0, 30_000, 250);
    expect(await committedTotal()).toBe(20n);
    await produce([4, 3], 100);

    const second = await status();
    expect(second.r.code).toBe(0);
    const after = queues(second.r).get('orders_queue')!;
    expect(after.lag).toEqual([
      { topic, partition: 0, committed: 12, end: 16, lag: 4 },
      { topic, partition: 1, committed: 8, end: 11, lag: 3 },
    ]);
    expect(after.lagTotal).toBe(7);

    const human = await status(false);
    expect(human.r.code).toBe(0);
    expect(human.r.stdout).toContain('consumers: 2 Kafka tables');
    expect(human.r.stdout).toMatch(/orders_queue .*group .*\n {4}lag 7 on 2 partitions; \d+ consumers?, 2 partitions assigned, \d+ read; last poll \d{4}-/);
    expect(human.r.stdout).toMatch(/dead_queue .*\n {4}lag unknown.*\n(.*\n)* {4}note: lag unknown: the brokers 127\.0\.0\.1:\d+ could not be asked \(/);
  });

  it('a server without system.kafka_consumers (before 23.8) gives consumers null and a note, and still the lag', async () => {
    const { model } = await inspectDatabase(driver, { database: DATABASE });
    const { queues, queries } = await consumerHealth(driver, { database: DATABASE }, '23.3.1.1', model);
    expect(queries).toBe(0);
    const orders = queues.find((q) => q.table === 'orders_queue')!;
    expect(orders.consumers).toBeNull();
    expect(orders.notes[0]).toBe('ClickHouse 23.3.1.1 has no system.kafka_consumers (23.8 and later have it): consumers unknown');
    expect(orders.lag?.map((p) => p.partition)).toEqual([0, 1]);
  });

  it('a broker that accepts connections and never answers gives lag null within the deadline', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await new Promise((ok) => silent.once('listening', ok));
    try {
      const { port } = silent.address() as { port: number };
      const started = Date.now();
      const [result] = await readLag([{ brokers: `127.0.0.1:${port}`, group: 'g', topics: ['t'] }]);
      const ms = Date.now() - started;
      expect(result).toEqual({ lag: null, notes: [`lag unknown: the brokers 127.0.0.1:${port} did not answer within 2.5 s`] });
      expect(ms).toBeLessThanOrEqual(3100);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((ok) => silent.close(ok));
    }
  });
});
