/**
 * `chpipe status --producers` on the run's real broker and a `chpipe serve`
 * target: producers of one topic add a field (status names it: no column reads
 * it, the engine drops it), producers of another stop sending a declared
 * column (status names it), a CSVWithNames topic in step says so, and a queue
 * whose brokers cannot be reached is a note, status still exit 0. The sample
 * joins no consumer group.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chpipeAsync, tempDir } from '../helpers/cli.js';
import { createTopic, groupsTouching, kafkaBootstrap, produceValues, uniqueTopic } from '../helpers/kafka.js';
import { project } from '../helpers/plan.js';
import { freePort } from '../helpers/processes.js';
import { startServe, type Server } from '../migrate/target.js';

const DATABASE = 'producer_drift';

interface Producers {
  pipeline: string | null;
  table: string;
  topics: string[];
  format: string;
  sampled: number;
  unread: string[] | null;
  missing: string[] | null;
  notes: string[];
}


describe('chpipe status --producers', () => {
  const bootstrap = kafkaBootstrap();
  const topics = { orders: uniqueTopic('drift_orders'), visits: uniqueTopic('drift_visits'), clicks: uniqueTopic('drift_clicks') };
  let dir: string;
  let server: Server;

  beforeAll(async () => {
    await Promise.all(Object.values(topics).map((t) => createTopic(bootstrap, t, 2)));
    const closed = await freePort();
    const p = project(
      {
        'schemas/orders.yaml': `name: orders\nsource:\n  topic: ${topics.orders}\n  format: JSONEachRow\ncolumns:\n  id: UInt64\n  amount: Int32\ntable:\n  order_by: [id]\n`,
        'schemas/visits.yaml': `name: visits\nsource:\n  topic: ${topics.visits}\n  format: JSONEachRow\ncolumns:\n  id: UInt64\n  city: String\n  score: Float64\ntable:\n  order_by: [id]\n`,
        'schemas/clicks.yaml': `name: clicks\nsource:\n  topic: ${topics.clicks}\n  format: CSVWithNames\ncolumns:\n  id: UInt64\n  url: String\ntable:\n  order_by: [id]\n`,
        // An aggregate over the orders topic: it declares the fields it uses, so `country` is unread on purpose.
        'schemas/revenue.yaml': `name: revenue\nsource:\n  topic: ${topics.orders}\n  format: JSONEachRow\ncolumns:\n  id: UInt64\n  amount: Int32\naggregate:\n  by:\n    bucket: id % 2\n  measures:\n    total: sum(amount)\n`,
        'schemas/dead.yaml': `name: dead\nsource:\n  topic: dead_topic\n  format: JSONEachRow\n  brokers: 127.0.0.1:${closed}\ncolumns:\n  id: UInt64\ntable:\n  order_by: [id]\n`,
      },
      `version: 1\ndatabase: ${DATABASE}\nkafka:\n  brokers: ${bootstrap}\n`,
    );
    await p.save('initial');
    dir = p.dir;
    server = await startServe(tempDir('chpipe-drift-served-'));
    const applied = await chpipeAsync(['apply', '--url', server.url], dir);
    expect(applied.code, applied.stderr).toBe(0);
    // orders: producers added `country` (older messages lack it); visits: producers stopped sending `score`.
    await produceValues(bootstrap, topics.orders, [...Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: i, amount: i })), ...Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: 100 + i, amount: i, country: 'FR' }))], 2, 5);
    await produceValues(bootstrap, topics.visits, Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i, city: `c${i}` })), 2, 5);
    await produceValues(bootstrap, topics.clicks, Array.from({ length: 20 }, (_, i) => `id,url\n${i},https://example.com/${i}\n`), 2, 5);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('names fields no column reads and columns no message carries; an unreachable broker is a note', async () => {
    const touching = () => groupsTouching(bootstrap, Object.values(topics), 'chpipe-sample-never-joined');
    const before = await touching();
    const r = await chpipeAsync(['status', '--json', '--producers', '--url', server.url], dir);
    expect(r.code, r.stderr).toBe(0);
    const producers = new Map((JSON.parse(r.stdout) as { producers: Producers[] }).producers.map((p) => [p.pipeline, p]));
    expect([...producers.keys()].sort()).toEqual(['clicks', 'dead', 'orders', 'revenue', 'visits']);
    // Not out of step: the aggregate reads only what it declares (it was flagged for every field it leaves).
    expect(producers.get('revenue')).toMatchObject({ sampled: 30, unread: [], missing: [], notes: ['an aggregate reads only the fields it declares: the message field country is not read on purpose, not drift'] });
    expect(producers.get('orders')).toEqual({ pipeline: 'orders', table: 'orders_queue', topics: [topics.orders], format: 'JSONEachRow', sampled: 30, unread: ['country'], missing: [], notes: [] });
    expect(producers.get('visits')).toMatchObject({ sampled: 20, unread: [], missing: ['score'], notes: [] });
    expect(producers.get('clicks')).toMatchObject({ format: 'CSVWithNames', sampled: 20, unread: [], missing: [], notes: [] });
    const dead = producers.get('dead')!;
    expect(dead).toMatchObject({ sampled: 0, unread: null, missing: null });
    expect(dead.notes.join(' ')).toMatch(/^producer drift unknown for topic dead_topic: the Kafka brokers 127\.0\.0\.1:\d+ (cannot be reached|did not answer)/);

    const human = await chpipeAsync(['status', '--producers', '--url', server.url], dir);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('producers: 2 Kafka tables out of step with their messages');
    expect(human.stdout).toContain(`  orders_queue (pipeline orders), topic ${topics.orders}, 30 messages sampled\n    + fields no column reads (dropped): country`);
    expect(human.stdout).toContain(`  visits_queue (pipeline visits), topic ${topics.visits}, 20 messages sampled\n    - columns no sampled message carries (defaults stored): score`);
    expect(human.stdout).toContain('in step: every field is read and every column is carried');

    // Without the flag, status samples nothing and says nothing about producers.
    const plain = await chpipeAsync(['status', '--json', '--url', server.url], dir);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).not.toHaveProperty('producers');
    // The sample joined no group: the only groups that may have appeared are the target's own consumers'.
    const after = await touching();
    expect(after.filter((line) => !before.includes(line) && !line.startsWith(`chpipe_${DATABASE}_`))).toEqual([]);
    expect(after.some((line) => line.includes('marker'))).toBe(false);
  });
});
