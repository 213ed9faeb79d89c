/**
 * Cluster mode's consumer budget with the partition counts read from the run's real broker
 * (`targetBudgetWarnings`, src/cluster/budget.ts, over src/kafka/partitions.ts): the node count from an
 * embedded engine whose `system.clusters` lists a cluster of 4 replicas (nothing needs to listen at their
 * ports for that), the topics' partitions from the broker in one Metadata request, the declared
 * `source.partitions` where the broker cannot say. The read creates no topic and joins no group.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memo } from '../../src/check/memo.js';
import { Scratch } from '../../src/check/scratch.js';
import { loadProject } from '../../src/cli/project.js';
import { targetBudgetWarnings } from '../../src/cluster/budget.js';
import { KAFKA_REQUESTS } from '../../src/kafka/client.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import type { ProjectSpec } from '../../src/spec/types.js';
import { tempDir, tempProject } from '../helpers/cli.js';
import { createTopic, groupsTouching, kafkaBootstrap, uniqueTopic } from '../helpers/kafka.js';
import { freePort } from '../helpers/processes.js';
import { until } from '../helpers/wait.js';

const CLUSTER = 'budget';
const BROKERS_VAR = 'CHPIPE_TEST_BUDGET_BROKERS';
/** Metadata (3), and what may come before it: ApiVersions (18). A group join would add FindCoordinator (10) and JoinGroup (11); a topic creation CreateTopics (19). */
const METADATA = 3;
const API_VERSIONS = 18;

/** A cluster of 4 replicas in one shard at 127.0.0.1:9101..9104: system.clusters answers 4 from the config alone. */
const CONFIG = `<clickhouse>\n  <remote_servers>\n    <${CLUSTER}><shard><internal_replication>true</internal_replication>${[9101, 9102, 9103, 9104].map((p) => `<replica><host>127.0.0.1</host><port>${p}</port></replica>`).join('')}</shard></${CLUSTER}>\n  </remote_servers>\n</clickhouse>\n`;

const PROJECT_YAML = `version: 1\ndatabase: budget\ncluster: ${CLUSTER}\nkafka:\n  brokers: \${${BROKERS_VAR}}\n`;

/** An ingest pipeline reading `topic`, with `partitions` declared or not. */
function pipeline(name: string, topic: string, partitions?: number): string {
  return `name: ${name}\nsource:\n  topic: ${topic}\n  format: JSONEachRow\n${partitions !== undefined ? `  partitions: ${partitions}\n` : ''}columns:\n  id: UInt64\ntable:\n  order_by: [id]\n`;
}

function load(files: Record<string, string>, env: Record<string, string>): ProjectSpec {
  const dir = tempProject(files, PROJECT_YAML);
  const loaded = loadProject(join(dir, 'chpipe.yaml'), env);
  expect(loaded.diagnostics).toEqual([]);
  return loaded.project as ProjectSpec;
}

/**
 * The broker's topics once a marker topic, created after the read, is listed. A topic a Metadata request
 * auto-creates is created after the answer (this broker answers UNKNOWN_TOPIC_OR_PARTITION and creates it
 * then); the controller creates topics in the order asked, so one the read created is listed by then too.
 */
async function topicsAfterMarker(bootstrap: string): Promise<string[]> {
  const marker = uniqueTopic('budget_marker');
  await createTopic(bootstrap, marker, 1);
  const admin = new Admin({ clientId: 'chpipe-test-topics', bootstrapBrokers: [bootstrap] });
  try {
    let topics: string[] = [];
    await until(`topic ${marker} to be listed`, async () => (topics = await admin.listTopics()).includes(marker), 30_000, 100);
    return topics;
  } finally {
    await admin.close();
  }
}

/** The Kafka API keys of every request the client sends while `work` runs. */
async function requestsDuring<T>(work: () => Promise<T>): Promise<{ result: T; apiKeys: number[] }> {
  const apiKeys: number[] = [];
  const onStart = (message: unknown) => {
    const key = (message as { apiKey?: number }).apiKey;
    if (typeof key === 'number') apiKeys.push(key);
  };
  KAFKA_REQUESTS.subscribe(onStart);
  try {
    return { result: await work(), apiKeys };
  } finally {
    KAFKA_REQUESTS.unsubscribe(onStart);
  }
}

describe('the consumer budget against the partitions the broker reports', () => {
  const bootstrap = kafkaBootstrap();
  const env = { [BROKERS_VAR]: bootstrap };
  const topic = uniqueTopic('budget_events');
  const missing = uniqueTopic('budget_missing');
  let driver: ProcessDriver;
  let scratch: Scratch;

  beforeAll(async () => {
    await createTopic(bootstrap, topic, 3);
    const dir = tempDir('chpipe-budget-');
    const configFile = join(dir, 'config.xml');
    writeFileSync(configFile, CONFIG);
    driver = await openTarget(join(dir, 'data'), { configFile });
    scratch = await Scratch.open(Memo.none(), { cluster: CLUSTER });
  }, 60_000);
  afterAll(async () => {
    await driver?.close();
    await scratch?.close();
  });

  it('uses the broker\'s count: 4 nodes × 1 consumer over 3 partitions leaves one idle, in one Metadata request', async () => {
    const spec = load({ 'schemas/events.yaml': pipeline('events', topic) }, env);
    const { result, apiKeys } = await requestsDuring(() => targetBudgetWarnings(driver, spec, CLUSTER, scratch.oracle(), { env }));
    expect(result).toEqual([
      'events_queue: 4 nodes × 1 consumer = 4 in group chpipe_budget_events over 3 partitions: 1 consumer sits idle, each holding a thread of background_message_broker_schedule_pool_size; lower source.consumers or add partitions',
    ]);
    expect(apiKeys.filter((k) => k === METADATA)).toHaveLength(1);
    expect(apiKeys.filter((k) => k !== METADATA && k !== API_VERSIONS)).toEqual([]);
  });

  it('names the pipeline file and both numbers when the declared count differs from the broker\'s, and budgets with the broker\'s', async () => {
    const spec = load({ 'schemas/events.yaml': pipeline('events', topic, 6) }, env);
    const warnings = await targetBudgetWarnings(driver, spec, CLUSTER, scratch.oracle(), { env });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(new RegExp(`^\\S*schemas/events\\.yaml:5: source\\.partitions declares 6 for topic ${topic}, but the Kafka brokers ${bootstrap.replace(/\./g, '\\.')} have 3: the budget uses 3; set source\\.partitions to 3`));
    // Over 6 declared partitions 4 consumers would read unevenly; over the broker's 3, one sits idle.
    expect(warnings[1]).toMatch(/^events_queue: 4 nodes × 1 consumer = 4 in group chpipe_budget_events over 3 partitions: 1 consumer sits idle/);
  });

  it('falls back to the declared count, with a note, for a topic the broker does not have; the one request creates it not and joins no group', async () => {
    const groupsBefore = await groupsTouching(bootstrap, [topic, missing]);
    const spec = load({ 'schemas/events.yaml': pipeline('events', topic), 'schemas/late.yaml': pipeline('late', missing, 2), 'schemas/unsized.yaml': pipeline('unsized', `${missing}_unsized`) }, env);
    const { result, apiKeys } = await requestsDuring(() => targetBudgetWarnings(driver, spec, CLUSTER, scratch.oracle(), { env }));
    expect(result).toEqual([
      expect.stringMatching(/^events_queue: .* over 3 partitions: 1 consumer sits idle/),
      expect.stringMatching(/^late_queue: 4 nodes × 1 consumer = 4 in group chpipe_budget_late over 2 partitions: 2 consumers sit idle/),
      `partitions not read: topic ${missing} is not on the Kafka brokers ${bootstrap}; the budget uses the declared source.partitions of ${missing}`,
      `partitions not read: topic ${missing}_unsized is not on the Kafka brokers ${bootstrap}; no pipeline declares source.partitions for ${missing}_unsized, so its budget is unknown`,
    ]);
    // Three topics, one Metadata request, nothing else but the version handshake.
    expect(apiKeys.filter((k) => k === METADATA)).toHaveLength(1);
    expect(apiKeys.filter((k) => k !== METADATA && k !== API_VERSIONS)).toEqual([]);
    const topics = await topicsAfterMarker(bootstrap);
    expect(topics).toContain(topic);
    expect(topics).not.toContain(missing);
    expect(topics).not.toContain(`${missing}_unsized`);
    expect(await groupsTouching(bootstrap, [topic, missing])).toEqual(groupsBefore);
  });

  it('falls back to the declared counts, with one note, when the broker cannot be reached (a closed port refuses at once)', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const unreachable = { [BROKERS_VAR]: closed };
    const spec = load({ 'schemas/events.yaml': pipeline('events', topic, 6), 'schemas/late.yaml': pipeline('late', missing) }, unreachable);
    // A deadline far beyond the test's: the note must say the connection was refused, not that time ran out.
    const warnings = await targetBudgetWarnings(driver, spec, CLUSTER, scratch.oracle(), { env: unreachable, timeoutMs: 600_000 });
    expect(warnings).toEqual([
      expect.stringMatching(/^events_queue: 4 nodes × 1 consumer = 4 in group chpipe_budget_events over 6 partitions: 2 consumers read 2 partitions, the others 1/),
      expect.stringMatching(new RegExp(`^partitions not read: the Kafka brokers ${closed.replace(/\./g, '\\.')} could not be asked \\(.+\\); the budget uses the declared source\\.partitions of ${topic}; no pipeline declares source\\.partitions for ${missing}, so its budget is unknown$`)),
    ]);
    expect(warnings[1]).not.toMatch(/did not answer/);
  });

  it('falls back to the declared counts when the broker accepts the connection and never answers, by the deadline', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
    await new Promise((ok) => silent.once('listening', ok));
    try {
      const quiet = { [BROKERS_VAR]: `127.0.0.1:${(silent.address() as AddressInfo).port}` };
      const spec = load({ 'schemas/events.yaml': pipeline('events', topic, 2) }, quiet);
      const warnings = await targetBudgetWarnings(driver, spec, CLUSTER, scratch.oracle(), { env: quiet, timeoutMs: 300 });
      expect(warnings).toEqual([
        expect.stringMatching(/^events_queue: .* over 2 partitions: 2 consumers sit idle/),
        `partitions not read: the Kafka brokers ${quiet[BROKERS_VAR]} did not answer within 0.3 s; the budget uses the declared source.partitions of ${topic}`,
      ]);
      expect(sockets.length).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((ok) => silent.close(ok));
    }
  });

  it('says which variable is missing when the brokers name one that is not set, and asks no broker', async () => {
    const spec = load({ 'schemas/events.yaml': pipeline('events', topic, 3) }, env);
    const { result, apiKeys } = await requestsDuring(() => targetBudgetWarnings(driver, spec, CLUSTER, scratch.oracle(), { env: {} }));
    expect(result).toEqual([
      expect.stringMatching(/^events_queue: .* over 3 partitions: 1 consumer sits idle/),
      `partitions not read: the Kafka brokers need \${${BROKERS_VAR}}, which is not set; the budget uses the declared source.partitions of ${topic}`,
    ]);
    expect(apiKeys).toEqual([]);
  });
});
