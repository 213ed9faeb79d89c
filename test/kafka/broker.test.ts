/** The broker harness itself: the run's broker accepts a topic per test, produces, and reports offsets. */
import { describe, expect, it } from 'vitest';
import { createTopic, endOffsets, kafkaBootstrap, stringProducer, uniqueTopic } from '../helpers/kafka.js';

describe('the test run’s Kafka broker', () => {
  it('creates a topic with partitions, takes messages, and reports each partition’s end offset', async () => {
    const bootstrap = kafkaBootstrap();
    expect(bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);
    const topic = uniqueTopic('harness');
    await createTopic(bootstrap, topic, 3);
    const producer = stringProducer(bootstrap);
    try {
      const messages = Array.from({ length: 30 }, (_, i) => ({ topic, partition: i % 3, value: JSON.stringify({ id: i }) }));
      const res = await producer.send({ messages });
      expect(res.offsets?.length).toBeGreaterThan(0);
    } finally {
      await producer.close();
    }
    const ends = await endOffsets(bootstrap, topic);
    expect([...ends.entries()].sort()).toEqual([
      [0, 10n],
      [1, 10n],
      [2, 10n],
    ]);
  });
});
