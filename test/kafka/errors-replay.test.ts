/**
 * `chpipe errors replay` on the run's real broker and a `chpipe serve`
 * target: a pipeline declares `amount: Int32`, producers send 50 of 100
 * orders with the amount as text, and those 50 land in orders_errors (the
 * stream keeps the partition going). The type is fixed (`amount: String`),
 * planned and applied; `errors replay orders` inserts the 50 kept messages:
 * every order is in the table exactly once, and a second replay adds nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Driver } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import { chpipeAsync, tempDir, tempProject } from '../helpers/cli.js';
import { createTopic, kafkaBootstrap, produceValues, uniqueTopic } from '../helpers/kafka.js';
import { until } from '../helpers/wait.js';
import { startServe, type Server } from '../migrate/target.js';

const DATABASE = 'errors_replay';
const pipeline = (topic: string, amount: string) => `name: orders\nsource:\n  topic: ${topic}\n  format: JSONEachRow\n  on_error: stream\ncolumns:\n  id: UInt64\n  amount: ${amount}\ntable:\n  order_by: [id]\n`;

describe('chpipe errors replay on a real broker', () => {
  const bootstrap = kafkaBootstrap();
  const topic = uniqueTopic('replay_orders');
  let dir: string;
  let server: Server;
  let driver: Driver;
  const count = async (sql: string) => Number((await driver.query<{ n: string }>(sql))[0]?.n);

  beforeAll(async () => {
    await createTopic(bootstrap, topic, 2);
    dir = tempProject({ 'schemas/orders.yaml': pipeline(topic, 'Int32') }, `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: ${bootstrap}\n`);
    server = await startServe(tempDir('chpipe-replay-served-'));
    driver = await HttpDriver.connect(server.url);
    expect((await chpipeAsync(['plan', '--save', 'init'], dir)).code).toBe(0);
    const applied = await chpipeAsync(['apply', '--url', server.url], dir);
    expect(applied.code, applied.stderr).toBe(0);
  });

  afterAll(async () => {
    await driver?.close();
    await server?.stop();
  });

  it('fix a type that made 50 messages fail, replay: every order arrives once; a second replay adds nothing', async () => {
    const orders = Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i + 1, amount: i % 2 ? `${i}.50` : i }));
    await produceValues(bootstrap, topic, orders, 2, 10);
    await until('50 rows and 50 kept errors', async () => (await count(`SELECT toString(count()) AS n FROM ${DATABASE}.orders`)) === 50 && (await count(`SELECT toString(count()) AS n FROM ${DATABASE}.orders_errors`)) === 50, 60_000, 300);

    // The producers were right: amount is text. Fixed, planned, applied.
    writeFileSync(join(dir, 'schemas/orders.yaml'), pipeline(topic, 'String'));
    const saved = await chpipeAsync(['plan', '--save', 'amount_as_text', '--allow-destructive'], dir);
    expect(saved.code, saved.stderr).toBe(0);
    const fixed = await chpipeAsync(['apply', '--url', server.url], dir);
    expect(fixed.code, fixed.stderr).toBe(0);

    const first = await chpipeAsync(['errors', 'replay', 'orders', '--url', server.url, '--json'], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ candidates: 50, replayed: 50, stillFailing: 0 });
    const ids = async () => (await driver.query<{ i: string; n: string }>(`SELECT toString(id) AS i, toString(count()) AS n FROM ${DATABASE}.orders GROUP BY id ORDER BY id`)).map((r) => [Number(r.i), Number(r.n)]);
    expect(await ids()).toEqual(Array.from({ length: 100 }, (_, i) => [i + 1, 1]));
    expect((await driver.query<{ amount: string }>(`SELECT amount FROM ${DATABASE}.orders WHERE id = 2`))[0]?.amount).toBe('1.50');

    const second = await chpipeAsync(['errors', 'replay', 'orders', '--url', server.url, '--json'], dir);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ candidates: 0, replayed: 0 });
    expect(await ids()).toEqual(Array.from({ length: 100 }, (_, i) => [i + 1, 1]));
  }, 120_000);
});
