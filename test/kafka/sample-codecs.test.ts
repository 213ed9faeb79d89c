/**
 * chpipe's own reads of compressed topics (src/kafka/client.ts): the sample that `infer` and
 * `status --producers` read decompresses every codec Kafka has, whoever produced the batches. gzip,
 * Snappy and LZ4 batches come from the test's Node producer; Snappy, LZ4 and ZSTD batches also from
 * librdkafka, through a Kafka table of the embedded engine (`kafka_compression_codec`), the producer
 * a ClickHouse publish pipeline is. Each sample must hold every message sent, byte for byte.
 */
import { Producer, stringSerializers } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { sampleTopic } from '../../src/kafka/sample.js';
import { useScratchEngine } from '../helpers/engine.js';
import { createTopic, kafkaBootstrap, uniqueTopic } from '../helpers/kafka.js';
import { until } from '../helpers/wait.js';

const N = 60;
const message = (codec: string, i: number) => JSON.stringify({ id: i, codec, text: `ünïcode ${'x'.repeat(i % 7)} "quoted"\n${i}` });
const expected = (codec: string) => Array.from({ length: N }, (_, i) => message(codec, i + 1));

/** The values of a sample of `topic`, in offset order. */
async function sampled(bootstrap: string, topic: string): Promise<string[]> {
  const r = await sampleTopic(bootstrap, topic, { maxMessages: 1000, timeoutMs: 10_000 });
  if (!r.ok) throw new Error(r.problem.message);
  expect(r.sample.timedOut).toBe(false);
  return [...r.sample.messages].sort((a, b) => Number(a.offset - b.offset)).map((m) => m.value ?? '');
}

describe('samples of compressed topics', () => {
  const bootstrap = kafkaBootstrap();
  const engine = useScratchEngine();

  for (const codec of ['gzip', 'snappy', 'lz4'] as const) {
    it(`reads ${codec} batches written by a Node producer`, async () => {
      const topic = uniqueTopic(`codec_node_${codec}`);
      await createTopic(bootstrap, topic, 1);
      const producer = new Producer({ clientId: 'chpipe-test-codecs', bootstrapBrokers: [bootstrap], serializers: stringSerializers, compression: codec });
      try {
        const values = expected(codec);
        // Three batches of 20: each is one compressed record batch.
        for (let b = 0; b < N; b += 20) await producer.send({ messages: values.slice(b, b + 20).map((value) => ({ topic, partition: 0, value })) });
      } finally {
        await producer.close();
      }
      expect(await sampled(bootstrap, topic)).toEqual(expected(codec));
    });
  }

  for (const codec of ['snappy', 'lz4', 'zstd'] as const) {
    it(`reads ${codec} batches written by librdkafka (a Kafka table of the engine)`, async () => {
      const topic = uniqueTopic(`codec_rdkafka_${codec}`);
      await createTopic(bootstrap, topic, 1);
      const table = `out_${codec}`;
      await engine().exec(
        `CREATE TABLE ${table} (id UInt64, codec String, text String) ENGINE = Kafka SETTINGS kafka_broker_list = '${bootstrap}', kafka_topic_list = '${topic}', kafka_group_name = 'unused_${topic}', kafka_format = 'JSONEachRow', kafka_compression_codec = '${codec}'`,
      );
      const values = expected(codec).map((v) => JSON.parse(v) as { id: number; codec: string; text: string });
      await engine().exec(`INSERT INTO ${table} FORMAT JSONEachRow ${values.map((v) => JSON.stringify(v)).join('\n')}`);
      await engine().exec(`DROP TABLE ${table}`);
      // librdkafka writes each message as a JSON line of its own; the batch is compressed as a whole.
      let got: string[] = [];
      await until(`${N} ${codec} messages on ${topic}`, async () => (got = await sampled(bootstrap, topic)).length >= N, 20_000, 200);
      expect(got.map((v) => JSON.parse(v))).toEqual(values);
    });
  }
});
