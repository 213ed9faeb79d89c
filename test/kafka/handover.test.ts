/**
 * The consumer handover when chpipe recreates a Kafka table, on chpipe's own
 * embedded engines, with their defaults (no setting in the project).
 *
 * ClickHouse closes a dropped Kafka table's consumer without leaving the
 * group, so the recreated table waits for the old member's session to end
 * (6 s on chpipe's engines). Static membership (`group.instance.id`) hands the
 * partitions over at once; chpipe's engines give it to the consumers of every
 * topic read only by single-consumer tables alone in their group, and keep it
 * away from a table with several consumers (they would share the id and fence
 * each other).
 *
 * 1. `chpipe serve` in a project with `single` (one consumer) and `multi`
 *    (`consumers: 3`), each on its own topic; `chpipe apply --url` of the
 *    initial migration, then of a Kafka setting change on both (DROP + CREATE
 *    of both queues), while a producer writes unique ids to both topics.
 *    Afterwards: every id exactly once in each table; `single`'s consumer is a
 *    static member (its member id starts with the engine's instance id),
 *    `multi`'s three are dynamic members with no exception (no fencing). The
 *    gaps are printed (bench/kafka.mjs measures them).
 * 2. `chpipe dev`: a live change that raises a static pipeline's consumers is
 *    not applied (it would fence); restarted, dev applies it, without static
 *    membership for that topic.
 * 3. dev's freshness: its engine's Kafka tables flush every 250 ms (a users
 *    profile; the engine reports the setting, and a message becomes queryable
 *    well inside the 7.5 s default flush).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { engineInstanceId, writeEngineConfig } from '../../src/engine/engine-config.js';
import { HttpDriver } from '../../src/engine/http.js';
import { openTarget } from '../../src/engine/target.js';
import { DEV_STREAM_FLUSH_INTERVAL_MS, staticMembershipConflicts, staticMembershipTopics } from '../../src/sql/dev.js';
import { BIN, chpipe, tempDir, tempProject, type CliResult } from '../helpers/cli.js';
import { createTopic, ingestGaps, kafkaBootstrap, produceContinuously, stringProducer, uniqueTopic } from '../helpers/kafka.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
});

function cliAsync(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
    started.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => ok({ code: code ?? -1, stdout, stderr }));
  });
}

/** `chpipe serve` or `chpipe dev` in a project folder: its URL (from the first JSON line) and how to stop it. */
async function startHolder(command: 'serve' | 'dev', cwd: string, env: Record<string, string>): Promise<{ url: string; stderr: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, command, '--port', '0', '--json', ...(command === 'dev' ? ['--interval', '0.5'] : [])], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const line = await new Promise<string>((ok, fail) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', ok);
    child.once('exit', (code) => fail(new Error(`chpipe ${command} exited with ${code}: ${stderr}`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  return {
    url,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const pipeline = (name: string, topic: string, extra: string[], stage: number) =>
  [
    `name: ${name}`,
    'source:',
    `  topic: ${topic}`,
    '  format: JSONEachRow',
    ...extra,
    ...(stage >= 2 ? ['  settings: { kafka_max_block_size: 5000 }'] : []),
    'columns:',
    '  id: UInt64',
    '  ingested_at: { type: DateTime64(3), expr: now64(3) }',
    'table:',
    '  order_by: [id]',
    '',
  ].join('\n');

interface ConsumerRow {
  table: string;
  consumer_id: string;
  exceptions: string[];
  partitions: number;
}

async function consumers(driver: HttpDriver, db: string): Promise<ConsumerRow[]> {
  return driver.query<ConsumerRow>(`SELECT table, consumer_id, exceptions.text AS exceptions, length(assignments.partition_id) AS partitions FROM system.kafka_consumers WHERE database = '${db}' ORDER BY table, consumer_id`);
}

describe('which topics get static membership', () => {
  it('only topics read by single-consumer tables alone in their group', () => {
    const tables = [
      { topics: ['a'], group: 'g1', consumers: 1 },
      { topics: ['a', 'b'], group: 'g2', consumers: 1 },
      { topics: ['c'], group: 'g3', consumers: 3 },
      { topics: ['b', 'c'], group: 'g4', consumers: 1 },
      { topics: ['d'], group: 'g5', consumers: 1 },
      { topics: ['e'], group: 'g5', consumers: 1 },
    ];
    expect(staticMembershipTopics(tables)).toEqual(['a', 'b']);
    // raising a's consumers on an engine that runs a statically: a conflict; c was never static.
    expect(staticMembershipConflicts(['a', 'b'], [{ topics: ['a'], group: 'g1', consumers: 2 }, ...tables.slice(1)])).toEqual(['a']);
    expect(staticMembershipConflicts(['a', 'b'], tables)).toEqual([]);
  });
});

describe.concurrent('the handover on chpipe serve, with its defaults', () => {
  it('hands a single-consumer queue over with static membership, keeps consumers: 3 dynamic and unfenced, and loses nothing', { timeout: 240_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const env = { KAFKA_BROKERS: bootstrap };
    const [single, multi] = [uniqueTopic('ho_single'), uniqueTopic('ho_multi')];
    await createTopic(bootstrap, single, 2);
    await createTopic(bootstrap, multi, 3);
    const db = `handover_${process.pid}`;
    const projectYaml = `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`;
    const write = (stage: number) => ({
      'schemas/single.yaml': pipeline('single', single, [], stage),
      'schemas/multi.yaml': pipeline('multi', multi, ['  consumers: 3'], stage),
    });
    const dir = tempProject(write(2), projectYaml);
    // The migrations: stage 1, then stage 2 (a Kafka setting on both: DROP + CREATE of both queues).
    for (const [path, text] of Object.entries(write(1))) writeFileSync(join(dir, path), text);
    expect(chpipe(['plan', '--save', 'initial'], dir, env).code).toBe(0);
    for (const [path, text] of Object.entries(write(2))) writeFileSync(join(dir, path), text);
    expect(chpipe(['plan', '--save', 'block_size'], dir, env).code).toBe(0);
    const migrations = join(dir, 'migrations');

    const serve = await startHolder('serve', dir, env);
    const driver = await HttpDriver.connect(serve.url);
    try {
      // The engine config serve wrote: static membership for `single`'s topic only.
      const config = readFileSync(join(dir, '.chpipe', 'engine-config.xml'), 'utf8');
      const instanceId = engineInstanceId(join(dir, '.chpipe'));
      expect(config).toContain(`<name>${single}</name><group_instance_id>${instanceId}</group_instance_id>`);
      expect(config).not.toContain(`<name>${multi}</name>`);

      // Apply the initial migration only (the second waits), then produce.
      const held = join(dir, 'held');
      mkdirSync(held);
      const files = readdirSync(migrations).filter((f) => f.startsWith('0002'));
      expect(files).toHaveLength(1);
      for (const f of files) renameSync(join(migrations, f), join(held, f));
      expect(chpipe(['migrate', 'hash'], dir, env).code).toBe(0);
      const first = await cliAsync(['apply', '--url', serve.url], dir, env);
      expect(first.code, first.stderr).toBe(0);

      const TOTAL = 6000;
      const produce = (topic: string, partitions: number) =>
        produceContinuously(bootstrap, { topic, partitions, total: TOTAL, batch: 20, intervalMs: 40, message: (id) => ({ value: JSON.stringify({ id }), malformed: false }) });
      const producing = Promise.all([produce(single, 2), produce(multi, 3)]);
      await sleep(5000);
      for (const f of files) renameSync(join(held, f), join(migrations, f));
      chpipe(['migrate', 'hash'], dir, env);
      const applyStart = Date.now();
      const applied = await cliAsync(['apply', '--url', serve.url], dir, env);
      const applyEnd = Date.now();
      expect(applied.code, applied.stderr).toBe(0);
      await producing;

      // Settle: every id arrived (bounded), then account for each.
      const deadline = Date.now() + 90_000;
      const count = async (t: string) => Number((await driver.query<{ n: string }>(`SELECT uniqExact(id) AS n FROM ${db}.${t}`))[0]?.n);
      while (Date.now() < deadline && ((await count('single')) < TOTAL || (await count('multi')) < TOTAL)) await sleep(1000);
      const report: string[] = [];
      for (const t of ['single', 'multi']) {
        const [row] = await driver.query<{ n: string; u: string; lo: string; hi: string }>(`SELECT count() AS n, uniqExact(id) AS u, min(id) AS lo, max(id) AS hi FROM ${db}.${t}`);
        const times = (await driver.query<{ t: string }>(`SELECT toUnixTimestamp64Milli(ingested_at) AS t FROM ${db}.${t} ORDER BY t`)).map((r) => Number(r.t));
        const gap = ingestGaps(times, applyStart, applyEnd);
        report.push(`${t}: rows ${row?.n}, unique ${row?.u}, handover gap ${(gap.ms / 1000).toFixed(2)} s (apply took ${((applyEnd - applyStart) / 1000).toFixed(2)} s)`);
        expect({ table: t, rows: Number(row?.n), unique: Number(row?.u), min: Number(row?.lo), max: Number(row?.hi) }).toEqual({ table: t, rows: TOTAL, unique: TOTAL, min: 1, max: TOTAL });
      }
      console.log(`[handover] chpipe serve, defaults: ${report.join('; ')}`);

      const rows = await consumers(driver, db);
      const singles = rows.filter((r) => r.table === 'single_queue');
      const multis = rows.filter((r) => r.table === 'multi_queue');
      expect(singles).toHaveLength(1);
      // A static member's id is its group.instance.id and a suffix; a dynamic one's is its client.id and a suffix.
      expect(singles[0]?.consumer_id.startsWith(`${instanceId}-`)).toBe(true);
      expect(multis).toHaveLength(3);
      for (const m of multis) expect(m.consumer_id.startsWith(instanceId)).toBe(false);
      expect(multis.map((m) => m.partitions).reduce((a, b) => a + b, 0)).toBe(3);
      expect(rows.flatMap((r) => r.exceptions)).toEqual([]);
    } finally {
      await driver.close();
      await serve.stop();
    }
  });

  it('serve refuses an apply --url that raises a static topic\'s consumers, before anything runs; after a restart the same apply completes', { timeout: 180_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const env = { KAFKA_BROKERS: bootstrap };
    const topic = uniqueTopic('ho_guard');
    await createTopic(bootstrap, topic, 3);
    const db = `handover_guard_${process.pid}`;
    const projectYaml = `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`;
    const dir = tempProject({ 'schemas/p.yaml': pipeline('p', topic, [], 1) }, projectYaml);
    expect(chpipe(['plan', '--save', 'initial'], dir, env).code).toBe(0);
    // serve starts with p's topic static (one consumer declared), before the change is declared.
    let serve = await startHolder('serve', dir, env);
    let driver = await HttpDriver.connect(serve.url);
    try {
      const first = await cliAsync(['apply', '--url', serve.url], dir, env);
      expect(first.code, first.stderr).toBe(0);
      const TOTAL = 3000;
      const producing = produceContinuously(bootstrap, { topic, partitions: 3, total: TOTAL, batch: 20, intervalMs: 40, message: (id) => ({ value: JSON.stringify({ id }), malformed: false }) });
      writeFileSync(join(dir, 'schemas/p.yaml'), pipeline('p', topic, ['  consumers: 3'], 1));
      expect(chpipe(['plan', '--save', 'consumers'], dir, env).code).toBe(0);
      const objects = async () => driver.query<{ name: string; engine_full: string }>(`SELECT name, engine_full FROM system.tables WHERE database = '${db}' ORDER BY name`);
      const before = await objects();
      const refused = await cliAsync(['apply', '--url', serve.url], dir, env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`chpipe serve runs topic '${topic}' with static membership`);
      expect(refused.stderr).toContain(`Kafka table ${db}.p_queue would read it with kafka_num_consumers = 3`);
      expect(refused.stderr).toContain('restart chpipe serve so the topic runs without static membership, then rerun');
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      expect(await objects()).toEqual(before);
      const history = await driver.query<{ version: string; status: string }>(`SELECT version, argMax(status, seq) AS status FROM ${db}._chpipe_migrations GROUP BY version ORDER BY version`);
      expect(history).toEqual([{ version: '0001', status: 'applied' }]);

      await driver.close();
      await serve.stop();
      serve = await startHolder('serve', dir, env);
      driver = await HttpDriver.connect(serve.url);
      expect(readFileSync(join(dir, '.chpipe', 'engine-config.xml'), 'utf8')).not.toContain(`<name>${topic}</name>`);
      const rerun = await cliAsync(['apply', '--url', serve.url], dir, env);
      expect(rerun.code, rerun.stderr).toBe(0);
      await producing;
      const deadline = Date.now() + 90_000;
      const unique = async () => Number((await driver.query<{ n: string }>(`SELECT uniqExact(id) AS n FROM ${db}.p`))[0]?.n);
      while (Date.now() < deadline && (await unique()) < TOTAL) await sleep(1000);
      const [row] = await driver.query<{ u: string; lo: string; hi: string }>(`SELECT uniqExact(id) AS u, min(id) AS lo, max(id) AS hi FROM ${db}.p`);
      expect({ unique: Number(row?.u), min: Number(row?.lo), max: Number(row?.hi) }).toEqual({ unique: TOTAL, min: 1, max: TOTAL });
      const rows = await consumers(driver, db);
      expect(rows.filter((r) => r.table === 'p_queue')).toHaveLength(3);
      expect(rows.flatMap((r) => r.exceptions)).toEqual([]);
    } finally {
      await driver.close();
      await serve.stop();
    }
  });

  it('dev does not apply a live change that raises a static pipeline\'s consumers, and applies it after a restart', { timeout: 180_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const env = { KAFKA_BROKERS: bootstrap };
    const topic = uniqueTopic('ho_dev');
    await createTopic(bootstrap, topic, 2);
    const db = `handover_dev_${process.pid}`;
    const projectYaml = `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n`;
    const dir = tempProject({ 'schemas/p.yaml': pipeline('p', topic, [], 1) }, projectYaml);
    const instanceId = engineInstanceId(join(dir, '.chpipe'));
    let dev = await startHolder('dev', dir, env);
    try {
      let driver = await HttpDriver.connect(dev.url);
      const waitFor = async (what: () => Promise<boolean>, label: string) => {
        const until = Date.now() + 60_000;
        while (!(await what())) {
          if (Date.now() > until) throw new Error(`${label} did not happen in 60 s; dev said:\n${dev.stderr()}`);
          await sleep(300);
        }
      };
      await waitFor(async () => (await consumers(driver, db)).some((r) => r.consumer_id.startsWith(`${instanceId}-`)), 'a static consumer for p');
      writeFileSync(join(dir, 'schemas/p.yaml'), pipeline('p', topic, ['  consumers: 3'], 1));
      await waitFor(async () => dev.stderr().includes('dev-restart-needed') || /start it again/.test(dev.stderr()), 'the refusal');
      expect(dev.stderr()).toMatch(/nothing applied/);
      const before = await consumers(driver, db);
      expect(before).toHaveLength(1);
      expect(before.flatMap((r) => r.exceptions)).toEqual([]);
      await driver.close();
      await dev.stop();

      dev = await startHolder('dev', dir, env);
      driver = await HttpDriver.connect(dev.url);
      await waitFor(async () => (await consumers(driver, db)).filter((r) => r.table === 'p_queue').length === 3, 'three consumers for p');
      const after = await consumers(driver, db);
      for (const r of after) expect(r.consumer_id.startsWith(instanceId)).toBe(false);
      expect(readFileSync(join(dir, '.chpipe', 'engine-config.xml'), 'utf8')).not.toContain('group_instance_id');
      await driver.close();
    } finally {
      await dev.stop();
    }
  });

  it('dev\'s engine flushes Kafka blocks every 250 ms', { timeout: 120_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const topic = uniqueTopic('ho_fresh');
    await createTopic(bootstrap, topic, 1);
    const dataDir = tempDir('chpipe-fresh-');
    const { file } = writeEngineConfig(dataDir, { kafkaTables: 1, dev: true });
    const driver = await openTarget(dataDir, { configFile: file });
    const producer = stringProducer(bootstrap);
    try {
      const [setting] = await driver.query<{ v: string }>("SELECT toString(getSetting('stream_flush_interval_ms')) AS v");
      expect(Number(setting?.v)).toBe(DEV_STREAM_FLUSH_INTERVAL_MS);
      await driver.exec('CREATE DATABASE fresh');
      await driver.exec('CREATE TABLE fresh.t (id UInt64) ENGINE = MergeTree ORDER BY id');
      // No kafka_flush_interval_ms on the table: the engine's profile decides.
      await driver.exec(`CREATE TABLE fresh.q (id UInt64) ENGINE = Kafka SETTINGS kafka_broker_list = '${bootstrap}', kafka_topic_list = '${topic}', kafka_group_name = '${topic}', kafka_format = 'JSONEachRow'`);
      await driver.exec('CREATE MATERIALIZED VIEW fresh.mv TO fresh.t AS SELECT id FROM fresh.q');
      await producer.send({ messages: [{ topic, value: JSON.stringify({ id: 0 }) }] });
      const until = Date.now() + 60_000;
      while (Number((await driver.query<{ n: string }>('SELECT count() AS n FROM fresh.t'))[0]?.n) === 0 && Date.now() < until) await sleep(100);
      const latencies: number[] = [];
      for (let id = 1; id <= 7; id++) {
        const sent = Date.now();
        await producer.send({ messages: [{ topic, value: JSON.stringify({ id }) }] });
        while (Number((await driver.query<{ n: string }>(`SELECT count() AS n FROM fresh.t WHERE id = ${id}`))[0]?.n) === 0 && Date.now() - sent < 30_000) await sleep(25);
        latencies.push(Date.now() - sent);
        await sleep(150);
      }
      latencies.sort((a, b) => a - b);
      const median = latencies[3] as number;
      console.log(`[handover] dev freshness: produce-to-queryable ${latencies.join(', ')} ms (median ${median} ms)`);
      // With the engine's default (7.5 s) the median measured here was 5.7 s; a generous bound.
      expect(median).toBeLessThan(3000);
    } finally {
      await producer.close();
      await driver.close();
    }
  });
});
