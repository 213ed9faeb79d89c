/**
 * chpipe benchmark (e): Kafka, on a real broker. Prints figures, asserts nothing. Run after
 * `npm run build`, alone or as section (e) of bench/run.mjs:
 *
 *   node bench/kafka.mjs [--messages N] [--samples N] [--runs N]
 *
 * The broker is the test harness's (test/kafka/broker.ts: Kafka 4.1.1 from Maven Central, fetched
 * once into node_modules/.cache; needs Java 17+ and Maven), loaded here by transpiling it with the
 * project's TypeScript; it is stopped by its PID at the end, also on Ctrl-C.
 *
 * (a) Ingest throughput: N JSON messages (default 200,000) written to a 4-partition topic first,
 *     then read by a generated pipeline (`chpipe apply --url` against `chpipe serve`) and by the
 *     same pipeline written by hand (the textbook Kafka table + MergeTree + materialized view, run
 *     through `chpipe serve` on another data folder: the same engine and config), one after the
 *     other, both with `kafka_flush_interval_ms = 500` (else the 7.5 s default flush, not the
 *     engine's speed, decides: 200,000 messages fit one block). Steady-state rows per second (the
 *     rows after the first block over the time from the first block to the last, from `ingested_at`),
 *     the time until every row is queryable after the statements (group join included), and the
 *     ratio of the steady-state rates generated / hand-written (goal ≥ 1.0); --runs N (default 2) times each, alternating which
 *     goes first, median shown.
 * (b) Produce-to-queryable latency in `chpipe dev` (no setting in the project): one message at a
 *     time, polled over HTTP until it can be read; p50 and p99 of --samples (default 40). Goal p50 ≤ 0.5 s.
 * (c) The handover gap when chpipe recreates a Kafka table (a Kafka setting changed, applied with
 *     `chpipe apply --url` against `chpipe serve`) under continuous production: the longest pause
 *     in `ingested_at` around the apply, for a pipeline with one consumer (static membership, goal
 *     ≤ 2 s) and one with `consumers: 3` (the 6 s session timeout). The project sets
 *     `kafka_flush_interval_ms: 500` so that blocks, not the 7.5 s default flush, pace the rows.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout } from 'node:timers';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin/chpipe.js');
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : fallback;
}
const MESSAGES = option('messages', 200_000);
const SAMPLES = option('samples', 40);
const THROUGHPUT_RUNS = Math.max(1, option('runs', 2));

if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
  console.log('dist/ is missing: run `npm run build` first.');
  process.exit(0);
}

const { Admin, Producer, stringSerializers } = await import('@platformatic/kafka');
const { HttpDriver } = await import(pathToFileURL(join(ROOT, 'dist/engine/http.js')).href);

/** test/kafka/broker.ts and its one import, transpiled into a temporary folder and imported. */
async function brokerHarness() {
  const ts = (await import('typescript')).default;
  const out = mkdtempSync(join(tmpdir(), 'chpipe-bench-harness-'));
  try {
    for (const rel of ['test/kafka/broker.ts', 'test/helpers/processes.ts']) {
      // The harness finds its cache from its own folder: keep pointing it at the real one.
      const source = readFileSync(join(ROOT, rel), 'utf8').replaceAll('import.meta.dirname', JSON.stringify(dirname(join(ROOT, rel))));
      const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      mkdirSync(dirname(join(out, rel)), { recursive: true });
      writeFileSync(join(out, rel.replace(/\.ts$/, '.js')), js);
    }
    return await import(pathToFileURL(join(out, 'test/kafka/broker.js')).href);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const children = new Set();
const folders = [];
let broker;
async function cleanUp() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await Promise.all([...children].map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  await broker?.stop();
  if (!process.env.CHPIPE_BENCH_KEEP) for (const dir of folders) rmSync(dir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143)));

function tempFolder(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

function cli(args, cwd, env) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
  if (r.status !== 0) throw new Error(`chpipe ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

function cliAsync(args, cwd, env) {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`chpipe ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** `chpipe serve` / `chpipe dev` with --json: resolves with its URL; the process is stopped by `stop()` (SIGTERM to its PID). */
async function holder(command, cwd, env, extra = []) {
  const child = spawn(process.execPath, [BIN, command, '--port', '0', '--json', ...extra], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const line = await new Promise((ok, fail) => {
    createInterface({ input: child.stdout }).once('line', ok);
    child.once('exit', (code) => fail(new Error(`chpipe ${command} exited ${code}: ${stderr}`)));
  });
  const { url } = JSON.parse(line);
  const driver = await HttpDriver.connect(url);
  return {
    url,
    driver,
    stop: async () => {
      await driver.close();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      children.delete(child);
    },
  };
}

async function createTopic(topic, partitions) {
  const admin = new Admin({ clientId: 'chpipe-bench', bootstrapBrokers: [broker.bootstrap] });
  try {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
}

const producer = () => new Producer({ clientId: 'chpipe-bench', bootstrapBrokers: [broker.bootstrap], serializers: stringSerializers, idempotent: true, acks: -1 });

const pipelineYaml = (name, topic, extra = []) =>
  [`name: ${name}`, 'source:', `  topic: ${topic}`, '  format: JSONEachRow', ...extra, 'columns:', '  id: UInt64', '  value: Int32', '  label: String', '  ingested_at: { type: DateTime64(3), expr: now64(3) }', 'table:', '  order_by: [id]', ''].join('\n');

function project(database, files, settings = '') {
  const dir = tempFolder('chpipe-bench-kafka-');
  writeFileSync(join(dir, 'chpipe.yaml'), `version: 1\ndatabase: ${database}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n${settings}`);
  mkdirSync(join(dir, 'schemas'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'schemas', name), text);
  return dir;
}

const count = async (driver, table) => Number((await driver.query(`SELECT count() AS n FROM ${table}`))[0].n);

/**
 * Wait (polling every 100 ms) until the table holds `total` rows; its steady-state rate (rows after
 * the first block over the time from the first block to the last, from `ingested_at`), and the rate
 * from `since` (the pipeline's statements done) until every row was there.
 */
async function rate(driver, table, total, since) {
  const until = Date.now() + 600_000;
  let n;
  while ((n = await count(driver, table).catch(() => 0)) < total && Date.now() < until) await sleep(100);
  const seconds = (Date.now() - since) / 1000;
  const [r] = await driver.query(
    `SELECT uniqExact(toUnixTimestamp64Milli(ingested_at)) AS blocks, uniqExact(id) AS u, toUnixTimestamp64Milli(max(ingested_at)) - toUnixTimestamp64Milli(min(ingested_at)) AS span, countIf(ingested_at = (SELECT min(ingested_at) FROM ${table})) AS first FROM ${table}`,
  );
  // Steady state: the rows after the first block, over the time from the first block to the last.
  const steady = (n - Number(r.first)) / Math.max(0.001, Number(r.span) / 1000);
  return { rows: n, unique: Number(r.u), seconds, perSecond: steady, toAll: n / seconds, blocks: Number(r.blocks) };
}

const env = () => ({ KAFKA_BROKERS: broker.bootstrap });
const fmtS = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** The generated pipeline: the project's migration applied by `chpipe apply --url` to `chpipe serve` (a fresh project, its own group). */
async function generatedRun(topic, run) {
  const database = `bench_gen${run}`;
  const dir = project(database, { 'events.yaml': pipelineYaml('events', topic) }, '  settings: { kafka_flush_interval_ms: 500 }\n');
  cli(['plan', '--save', 'initial'], dir, env());
  const gen = await holder('serve', dir, env());
  try {
    await cliAsync(['apply', '--url', gen.url], dir, env());
    return await rate(gen.driver, `${database}.events`, MESSAGES, Date.now());
  } finally {
    await gen.stop();
  }
}

/** The same pipeline by hand: the textbook three statements, on a served data folder of its own (its own group). */
async function handRun(topic, run) {
  const database = `bench_hand${run}`;
  const hand = await holder('serve', tempFolder('chpipe-bench-hand-'), env(), ['--data-dir', tempFolder('chpipe-bench-hand-data-')]);
  try {
    for (const sql of [
      `CREATE DATABASE ${database}`,
      `CREATE TABLE ${database}.events (id UInt64, value Int32, label String, ingested_at DateTime64(3)) ENGINE = MergeTree ORDER BY id`,
      `CREATE TABLE ${database}.events_queue (id UInt64, value Int32, label String) ENGINE = Kafka SETTINGS kafka_broker_list = '${broker.bootstrap}', kafka_topic_list = '${topic}', kafka_group_name = '${database}_events', kafka_format = 'JSONEachRow', kafka_flush_interval_ms = 500`,
      `CREATE MATERIALIZED VIEW ${database}.events_mv TO ${database}.events AS SELECT id, value, label, now64(3) AS ingested_at FROM ${database}.events_queue`,
    ])
      await hand.driver.exec(sql);
    return await rate(hand.driver, `${database}.events`, MESSAGES, Date.now());
  } finally {
    await hand.stop();
  }
}

async function throughput() {
  const topic = `bench_tp_${Date.now().toString(36)}`;
  await createTopic(topic, 4);
  const p = producer();
  const started = Date.now();
  for (let id = 1; id <= MESSAGES; id += 2000) {
    const messages = [];
    for (let i = id; i < Math.min(id + 2000, MESSAGES + 1); i++) messages.push({ topic, partition: i % 4, value: JSON.stringify({ id: i, value: i % 1000, label: `l${i % 97}` }) });
    await p.send({ messages });
  }
  await p.close();
  console.log(`(a) ${MESSAGES} messages produced to ${topic} (4 partitions) in ${fmtS(Date.now() - started)}`);

  const runs = { generated: [], handWritten: [] };
  for (let run = 0; run < THROUGHPUT_RUNS; run++) {
    // Alternate the order (generated first, then hand-written first, ...): drift hits both alike.
    const order = run % 2 === 0 ? ['generated', 'handWritten'] : ['handWritten', 'generated'];
    for (const which of order) runs[which].push(which === 'generated' ? await generatedRun(topic, run) : await handRun(topic, run));
  }
  const median = (list) => [...list].sort((a, b) => a.perSecond - b.perSecond)[Math.floor((list.length - 1) / 2)];
  const generated = median(runs.generated);
  const handWritten = median(runs.handWritten);
  return { generated, handWritten };
}

async function latency() {
  const topic = `bench_lat_${Date.now().toString(36)}`;
  await createTopic(topic, 1);
  const dir = project('bench_dev', { 'events.yaml': pipelineYaml('events', topic) });
  const dev = await holder('dev', dir, env());
  const p = producer();
  try {
    const until = Date.now() + 120_000;
    // Warm up: the first message waits for the group join.
    await p.send({ messages: [{ topic, value: JSON.stringify({ id: 0, value: 0, label: 'warm' }) }] });
    while (Date.now() < until && !(await dev.driver.query("SELECT name FROM system.tables WHERE database = 'bench_dev' AND name = 'events'")).length) await sleep(200);
    while (Date.now() < until && (await count(dev.driver, 'bench_dev.events').catch(() => 0)) === 0) await sleep(100);
    const samples = [];
    for (let id = 1; id <= SAMPLES; id++) {
      const sent = Date.now();
      await p.send({ messages: [{ topic, value: JSON.stringify({ id, value: id, label: 'x' }) }] });
      while (Number((await dev.driver.query(`SELECT count() AS n FROM bench_dev.events WHERE id = ${id}`))[0].n) === 0 && Date.now() - sent < 30_000) await sleep(10);
      samples.push(Date.now() - sent);
      await sleep(50 + Math.random() * 200);
    }
    samples.sort((a, b) => a - b);
    const at = (q) => samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)];
    return { p50: at(0.5), p99: at(0.99), min: samples[0], max: samples[samples.length - 1] };
  } finally {
    await p.close();
    await dev.stop();
  }
}

async function handover() {
  const [single, multi] = [`bench_ho1_${Date.now().toString(36)}`, `bench_ho3_${Date.now().toString(36)}`];
  await createTopic(single, 3);
  await createTopic(multi, 3);
  const files = (stage) => ({
    'single.yaml': pipelineYaml('single', single, stage > 1 ? ['  settings: { kafka_max_block_size: 5000 }'] : []),
    'multi.yaml': pipelineYaml('multi', multi, ['  consumers: 3', ...(stage > 1 ? ['  settings: { kafka_max_block_size: 5000 }'] : [])]),
  });
  const dir = project('bench_ho', files(1), '  settings: { kafka_flush_interval_ms: 500 }\n');
  cli(['plan', '--save', 'initial'], dir, env());
  for (const [name, text] of Object.entries(files(2))) writeFileSync(join(dir, 'schemas', name), text);
  cli(['plan', '--save', 'block_size'], dir, env());
  const held = tempFolder('chpipe-bench-held-');
  const second = readdirSync(join(dir, 'migrations')).filter((f) => f.startsWith('0002'));
  for (const f of second) renameSync(join(dir, 'migrations', f), join(held, f));
  cli(['migrate', 'hash'], dir, env());
  const serve = await holder('serve', dir, env());
  try {
    await cliAsync(['apply', '--url', serve.url], dir, env());
    let producing = true;
    let id = 0;
    const p = producer();
    const loop = (async () => {
      while (producing) {
        const messages = [];
        for (let k = 0; k < 10; k++) {
          id++;
          messages.push({ topic: single, partition: id % 3, value: JSON.stringify({ id, value: 1, label: 's' }) }, { topic: multi, partition: id % 3, value: JSON.stringify({ id, value: 1, label: 'm' }) });
        }
        await p.send({ messages });
        await sleep(20);
      }
    })();
    await sleep(8000);
    for (const f of second) renameSync(join(held, f), join(dir, 'migrations', f));
    cli(['migrate', 'hash'], dir, env());
    const from = Date.now();
    await cliAsync(['apply', '--url', serve.url], dir, env());
    const to = Date.now();
    await sleep(10_000);
    producing = false;
    await loop;
    await p.close();
    const until = Date.now() + 60_000;
    const result = {};
    for (const table of ['single', 'multi']) {
      while ((await count(serve.driver, `bench_ho.${table}`)) < id && Date.now() < until) await sleep(500);
      const times = (await serve.driver.query(`SELECT DISTINCT toUnixTimestamp64Milli(ingested_at) AS t FROM bench_ho.${table} ORDER BY t`)).map((r) => Number(r.t));
      let gap = 0;
      for (let i = 1; i < times.length; i++) if (times[i - 1] <= to && times[i] >= from) gap = Math.max(gap, times[i] - times[i - 1]);
      const [c] = await serve.driver.query(`SELECT count() AS n, uniqExact(id) AS u FROM bench_ho.${table}`);
      result[table] = { gap, rows: Number(c.n), unique: Number(c.u), produced: id };
    }
    result.applyMs = to - from;
    return result;
  } finally {
    await serve.stop();
  }
}

try {
  const { startBroker } = await brokerHarness();
  const probe = async (bootstrap) => {
    const p = new Producer({ clientId: 'chpipe-bench-ready', bootstrapBrokers: [bootstrap], serializers: stringSerializers, retries: 0, timeout: 2000 });
    try {
      await p.send({ messages: [{ topic: '_chpipe_ready', value: 'ready' }], autocreateTopics: true, acks: -1 });
    } finally {
      await p.close().catch(() => {});
    }
  };
  broker = await startBroker({ ready: probe, log: (line) => console.log(`[kafka] ${line}`) });

  const tp = await throughput();
  const ratio = tp.generated.perSecond / tp.handWritten.perSecond;
  const row = (name, r) =>
    `  ${name.padEnd(13)} ${Math.round(r.perSecond).toLocaleString('en-US').padStart(9)} rows/s between its first and last block (${r.blocks} blocks); ${r.rows} rows (${r.unique} ids) all in ${r.seconds.toFixed(2)} s after its statements (${Math.round(r.toAll).toLocaleString('en-US')} rows/s)`;
  console.log(`  median of ${THROUGHPUT_RUNS} runs each, alternating which goes first`);
  console.log(row('generated', tp.generated));
  console.log(row('hand-written', tp.handWritten));
  console.log(`  ratio generated / hand-written: ${ratio.toFixed(2)} (goal ≥ 1.00: ${ratio >= 1 ? 'met' : 'MISSED'})`);

  const lat = await latency();
  console.log(`\n(b) produce-to-queryable in chpipe dev, ${SAMPLES} messages: p50 ${lat.p50} ms, p99 ${lat.p99} ms (min ${lat.min}, max ${lat.max}); goal p50 ≤ 500 ms: ${lat.p50 <= 500 ? 'met' : 'MISSED'}`);

  const ho = await handover();
  console.log(`\n(c) handover gap when chpipe recreates a Kafka table (chpipe serve, apply --url took ${fmtS(ho.applyMs)}):`);
  console.log(`  one consumer (static membership): ${fmtS(ho.single.gap)}; goal ≤ 2 s: ${ho.single.gap <= 2000 ? 'met' : 'MISSED'}; ${ho.single.unique}/${ho.single.produced} ids, ${ho.single.rows - ho.single.unique} duplicates`);
  console.log(`  consumers: 3 (6 s session timeout): ${fmtS(ho.multi.gap)}; ${ho.multi.unique}/${ho.multi.produced} ids, ${ho.multi.rows - ho.multi.unique} duplicates`);
} finally {
  await cleanUp();
}
