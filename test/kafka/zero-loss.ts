/**
 * The zero-loss scenario of issue 6 (defect 2), on the run's real broker and
 * an embedded ClickHouse target in this process: a pipeline consumes while a
 * producer writes unique ids, a column is added with `chpipe plan --save` (the
 * real CLI, in a subprocess) and the migration's statements are run in order on
 * the target, mid-stream. Afterwards every message is accounted for.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Driver } from '../../src/engine/driver.js';
import { EmbeddedDriver } from '../../src/engine/embedded.js';
import { splitStatements } from '../../src/sql/parse.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { chpipe, chpipeAsync, tempProject, type CliResult } from '../helpers/cli.js';
import { committedOffsets, createTopic, endOffsets, kafkaBootstrap, produceContinuously, uniqueTopic, waitCommitted, type ProducedMessage } from '../helpers/kafka.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/**
 * librdkafka's session timeout for the target's consumers, in ms. A recreated
 * Kafka table waits for the dropped table's consumer to time out of the group
 * (ClickHouse closes it without leaving): 45 s with the default (measured here:
 * a 46 s gap), 6 s with this, the broker's minimum. The loss this test looks
 * for happens before the queue is dropped, so the shorter wait changes nothing
 * but the test's length.
 */
export const SESSION_TIMEOUT_MS = 6000;

/**
 * The embedded target for the tests of one file, opened in this process on a
 * temporary data directory with a server config (the consumers' session
 * timeout), closed and removed after them. Nothing else in the process may
 * open the engine (a scratch engine must not share a target's session).
 */
export function useKafkaTarget(): () => EmbeddedDriver {
  let base = '';
  let driver: EmbeddedDriver | undefined;
  // An interrupted run skips afterAll; the worker still exits normally (test/engine/exit-on-sigterm.ts).
  const removeAtExit = () => rmSync(base, { recursive: true, force: true });
  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'chpipe-kafka-target-'));
    process.once('exit', removeAtExit);
    // A run interrupted by a signal to vitest's main process alone leaves this worker
    // running with its IPC channel closed: end it (the exit hook removes the folder).
    process.once('disconnect', () => process.exit(130));
    mkdirSync(join(base, 'data'));
    const config = join(base, 'config.xml');
    writeFileSync(config, `<clickhouse>\n  <kafka>\n    <session_timeout_ms>${SESSION_TIMEOUT_MS}</session_timeout_ms>\n  </kafka>\n</clickhouse>\n`);
    driver = await EmbeddedDriver.open(join(base, 'data'), { configFile: config });
  });
  afterAll(async () => {
    await driver?.close();
    process.removeListener('exit', removeAtExit);
    if (base) removeAtExit();
  });
  return () => {
    if (!driver) throw new Error('the embedded target is not open (useKafkaTarget() registers beforeAll)');
    return driver;
  };
}

/** The statements of a saved migration file, in order (comment-only pieces dropped). */
function migrationStatements(dir: string, name: string): string[] {
  const file = readdirSync(join(dir, 'migrations')).find((f) => f.endsWith(`_${name}.sql`));
  if (!file) throw new Error(`plan --save ${name} wrote no migrations/NNNN_${name}.sql`);
  const text = readFileSync(join(dir, 'migrations', file), 'utf8');
  return splitStatements(text)
    .map((s) => s.sql.trim())
    .filter((sql) => sql.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('--')));
}

function planSave(r: CliResult, name: string): void {
  if (r.code !== 0) throw new Error(`chpipe plan --save ${name} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
}

export interface ScenarioOptions {
  /** A short word for the database, topic and group names. */
  label: string;
  onError: 'stream' | 'stall';
  /** Messages produced, ids 1..total (≥ 5,000 over ≥ 8 s). */
  total?: number;
  /** Every how many messages one is malformed (20: 5 %; 0: none). */
  malformedEvery: number;
}

export interface StatementTiming {
  sql: string;
  ms: number;
}

export interface ScenarioReport {
  produced: { good: number; malformed: number; seconds: number };
  /** ms from the initial migration's last statement until the queue's consumer had partitions. */
  firstAssignmentMs: number;
  /** The engine's background_message_broker_schedule_pool_size (threads that run Kafka consumers). */
  brokerPoolSize: number;
  /** ms from production start until the add-column migration was saved, and until its last statement ran. */
  changeSavedAtMs: number;
  changeAppliedAtMs: number;
  statements: StatementTiming[];
  /** Longest time with no new row in NAME (from the rows' ingest times), and when it started relative to production start. */
  gap: { ms: number; fromMs: number };
  /** ms after production ended until nothing was left to read (or the bound was hit). */
  settleMs: number;
  settled: boolean;
  counts: IdCounts;
}

const FLUSH_MS = 500;

/** Run the scenario on `driver` (an embedded target opened by the caller) and return what happened. */
export async function addColumnUnderLoad(driver: EmbeddedDriver, opts: ScenarioOptions): Promise<ScenarioReport> {
  const bootstrap = kafkaBootstrap();
  const total = opts.total ?? 6000;
  const malformedEvery = opts.malformedEvery;
  const stream = opts.onError === 'stream';
  const topic = uniqueTopic(`zero_loss_${opts.label}`);
  const group = `${topic}_group`;
  const db = `zero_loss_${opts.label}`;
  const partitions = 2;
  await createTopic(bootstrap, topic, partitions);

  const pipeline = (withNote: boolean) =>
    [
      'name: events',
      'source:',
      `  topic: ${topic}`,
      `  group: ${group}`,
      '  format: JSONEachRow',
      `  on_error: ${opts.onError}`,
      `  settings: { kafka_flush_interval_ms: ${FLUSH_MS} }`,
      'columns:',
      '  id: UInt64',
      '  value: Int32',
      ...(withNote ? ['  note: String'] : []),
      '  ingested_at: { type: DateTime64(3), expr: now64(3) }',
      'table:',
      '  order_by: [id]',
      '',
    ].join('\n');
  const dir = tempProject({ 'schemas/events.yaml': pipeline(false) }, `version: 1\ndatabase: ${db}\nkafka:\n  brokers: ${bootstrap}\n`);
  try {
    planSave(chpipe(['plan', '--save', 'initial'], dir), 'initial');
    for (const sql of migrationStatements(dir, 'initial')) await driver.exec(sql);
    const initialDone = Date.now();
    let firstAssignmentMs = -1;
    while (Date.now() - initialDone < 60_000) {
      const [row] = await driver.query<{ n: string }>(`SELECT sum(length(assignments.partition_id)) AS n FROM system.kafka_consumers WHERE database = '${db}' AND table = 'events_queue'`);
      if (Number(row?.n ?? 0) > 0) {
        firstAssignmentMs = Date.now() - initialDone;
        break;
      }
      await sleep(100);
    }
    if (firstAssignmentMs < 0) throw new Error(`the queue ${db}.events_queue had no partitions 60 s after it was created`);

    const [pool] = await driver.query<{ value: string }>(`SELECT value FROM system.server_settings WHERE name = 'background_message_broker_schedule_pool_size'`);
    const brokerPoolSize = Number(pool?.value ?? -1);

    const start = Date.now();
    const producing = produceContinuously(bootstrap, {
      topic,
      partitions,
      total,
      batch: 50,
      intervalMs: 75,
      message: (id) =>
        malformedEvery > 0 && id % malformedEvery === 0
          ? { value: `{"id":${id},"value":`, malformed: true }
          : { value: JSON.stringify({ id, value: id % 1000, note: `n${id}` }), malformed: false },
    });
    // Change while the producer runs: the migration must not lose what is produced meanwhile.
    await sleep(3000);
    writeFileSync(join(dir, 'schemas/events.yaml'), pipeline(true));
    planSave(await chpipeAsync(['plan', '--save', 'add_col'], dir), 'add_col');
    const changeSavedAtMs = Date.now() - start;
    const statements: StatementTiming[] = [];
    for (const sql of migrationStatements(dir, 'add_col')) {
      const t = Date.now();
      await driver.exec(sql);
      statements.push({ sql: sql.split('\n').find((l) => l.trim() !== '' && !l.startsWith('--')) ?? sql, ms: Date.now() - t });
    }
    const changeAppliedAt = Date.now();
    const produced: ProducedMessage[] = await producing;
    const producedSeconds = (Date.now() - start) / 1000;
    if (changeAppliedAt > start + producedSeconds * 1000) throw new Error(`the change was applied after the producer finished (${changeAppliedAt - start} ms vs ${producedSeconds} s): the scenario did not test a change under load`);

    // Settle: the group committed everything produced and the counts stopped growing (bounded).
    const ends = await endOffsets(bootstrap, topic);
    const inTopic = [...ends.values()].reduce((sum, o) => sum + o, 0n);
    if (inTopic !== BigInt(produced.length)) throw new Error(`the topic holds ${inTopic} messages but ${produced.length} were produced: the producer's offsets cannot be trusted`);
    const producedEnd = Date.now();
    const count = async () => {
      const [r] = await driver.query<{ rows: string; errors: string }>(
        `SELECT (SELECT count() FROM ${db}.events) AS rows, ${stream ? `(SELECT count() FROM ${db}.events_errors)` : '0'} AS errors`,
      );
      return `${r?.rows}/${r?.errors}`;
    };
    let last = await count();
    let lastChange = Date.now();
    let settled = false;
    while (Date.now() - producedEnd < 120_000) {
      await sleep(FLUSH_MS);
      const now = await count();
      if (now !== last) {
        last = now;
        lastChange = Date.now();
        continue;
      }
      if (Date.now() - lastChange < 3 * FLUSH_MS + 1000) continue;
      const committed = await committedOffsets(bootstrap, group, topic);
      if ([...ends].every(([p, end]) => committed.get(p) === end)) {
        settled = true;
        break;
      }
    }
    const settleMs = Date.now() - producedEnd;

    const rows = await driver.query<{ id: string; note: string; t: string }>(`SELECT id, note, toUnixTimestamp64Milli(ingested_at) AS t FROM ${db}.events`);
    const errors = stream ? await driver.query<{ p: string; o: string; raw: string }>(`SELECT partition AS p, offset AS o, raw_message AS raw FROM ${db}.events_errors`) : [];

    const { counts } = accountForIds({
      produced,
      rows,
      ...(stream ? { errors } : {}),
      newColumn: { value: (id) => `n${id}`, since: changeAppliedAt },
    });
    const times = [...new Set(rows.map((r) => Number(r.t)))].sort((a, b) => a - b);
    let gap = { ms: 0, fromMs: 0 };
    for (let i = 1; i < times.length; i++) {
      const d = times[i]! - times[i - 1]!;
      if (d > gap.ms) gap = { ms: d, fromMs: times[i - 1]! - start };
    }
    return {
      produced: { good: produced.filter((m) => !m.malformed).length, malformed: produced.filter((m) => m.malformed).length, seconds: producedSeconds },
      firstAssignmentMs,
      brokerPoolSize,
      changeSavedAtMs,
      changeAppliedAtMs: changeAppliedAt - start,
      statements,
      gap,
      settleMs,
      settled,
      counts,
    };
  } finally {
    await driver.exec(`DROP DATABASE IF EXISTS ${db} SYNC`).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What one table (and its errors table) holds against what was produced, id by id. */
export interface IdCounts {
  missingGood: number;
  duplicateGood: number;
  missingErrors: number;
  duplicateErrors: number;
  /** Rows in NAME for ids that were not produced as good messages (or that the pipeline's filter drops). */
  unexpectedRows: number;
  /** Rows in NAME_errors whose (partition, offset) was not a malformed message. */
  unexpectedErrors: number;
  /** Good messages sent after the change was applied whose row lacks the new column's value. */
  afterChangeWithoutColumn: number;
  /** Rows whose new column holds neither its default nor the message's value. */
  wrongColumnValue: number;
}

export interface IdAccountingInput {
  produced: readonly ProducedMessage[];
  /** The table's rows: the id, and the new column's value when `newColumn` is given. */
  rows: readonly { id: string | number; note?: string }[];
  /** NAME_errors's rows (partition, offset, raw message); absent: the pipeline has no errors table, malformed messages are not looked for. */
  errors?: readonly { p: string | number; o: string | number; raw: string }[];
  /** The good messages the table should hold (a pipeline's filter); all by default. */
  expected?: (m: ProducedMessage) => boolean;
  /** A column added by a change: its value for an id, and when the change was applied (ms since the epoch). */
  newColumn?: { value: (id: number) => string; since: number };
}

export interface IdAccounting {
  counts: IdCounts;
  /** Expected good ids with no row. */
  missingIds: number[];
  /** Expected good ids with a row, and how many rows each has. */
  seen: Map<number, number>;
}

/**
 * Account for every produced message: each expected good id in the table
 * (once, or how many times), each malformed message's (partition, offset) in
 * the errors table, rows nobody produced, and the new column's values. The
 * one checker every zero-loss test uses.
 */
export function accountForIds(input: IdAccountingInput): IdAccounting {
  const expected = input.expected ?? (() => true);
  const good = new Map(input.produced.filter((m) => !m.malformed && expected(m)).map((m) => [m.id, m]));
  const bad = new Map(input.produced.filter((m) => m.malformed).map((m) => [`${m.partition}:${m.offset}`, m]));
  const seen = new Map<number, number>();
  let unexpectedRows = 0;
  let wrongColumnValue = 0;
  let afterChangeWithoutColumn = 0;
  for (const r of input.rows) {
    const id = Number(r.id);
    const m = good.get(id);
    if (!m) {
      unexpectedRows++;
      continue;
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
    if (input.newColumn) {
      const want = input.newColumn.value(id);
      if (r.note !== '' && r.note !== want) wrongColumnValue++;
      if (m.sentAt > input.newColumn.since && r.note !== want) afterChangeWithoutColumn++;
    }
  }
  const seenErr = new Map<string, number>();
  let unexpectedErrors = 0;
  for (const e of input.errors ?? []) {
    const key = `${e.p}:${e.o}`;
    const m = bad.get(key);
    // The raw message names its id: a check of the harness's offset accounting.
    if (!m || !e.raw.startsWith(`{"id":${m.id},`)) {
      unexpectedErrors++;
      continue;
    }
    seenErr.set(key, (seenErr.get(key) ?? 0) + 1);
  }
  const missingIds = [...good.keys()].filter((id) => !seen.has(id));
  return {
    counts: {
      missingGood: missingIds.length,
      duplicateGood: [...seen.values()].reduce((s, n) => s + n - 1, 0),
      missingErrors: input.errors ? [...bad.keys()].filter((k) => !seenErr.has(k)).length : 0,
      duplicateErrors: [...seenErr.values()].reduce((s, n) => s + n - 1, 0),
      unexpectedRows,
      unexpectedErrors,
      afterChangeWithoutColumn,
      wrongColumnValue,
    },
    missingIds,
    seen,
  };
}

export const NO_LOSS: ScenarioReport['counts'] = {
  missingGood: 0,
  duplicateGood: 0,
  missingErrors: 0,
  duplicateErrors: 0,
  unexpectedRows: 0,
  unexpectedErrors: 0,
  afterChangeWithoutColumn: 0,
  wrongColumnValue: 0,
};

export function describeReport(label: string, r: ScenarioReport): string {
  return [
    `[zero-loss ${label}] produced ${r.produced.good} good + ${r.produced.malformed} malformed in ${r.produced.seconds.toFixed(1)} s; queue had partitions ${r.firstAssignmentMs} ms after creation (background_message_broker_schedule_pool_size ${r.brokerPoolSize}, session timeout ${SESSION_TIMEOUT_MS} ms)`,
    `  change saved at +${r.changeSavedAtMs} ms, applied at +${r.changeAppliedAtMs} ms: ${r.statements.map((s) => `${s.sql.replace(/\s+/g, ' ').slice(0, 48)} (${s.ms} ms)`).join('; ')}`,
    `  handover gap ${r.gap.ms} ms from +${r.gap.fromMs} ms; settled ${r.settled ? 'yes' : 'NO'} ${r.settleMs} ms after production`,
    `  ${JSON.stringify(r.counts)}`,
  ].join('\n');
}

// ─── The five-change scenario shared by zero-loss-apply and zero-loss-dev ────

export const TOTAL = 20_000;
export const MALFORMED_EVERY = 25;
export const PARTITIONS = 2;
export const SETTLE_BOUND_MS = 120_000;
export const events = (topic: string, stage: number) =>
  [
    'name: events',
    'source:',
    `  topic: ${topic}`,
    '  format: JSONEachRow',
    '  on_error: stream',
    ...(stage >= 4 ? ['  settings: { kafka_max_block_size: 5000 }'] : []),
    'columns:',
    '  id: UInt64',
    stage >= 3 ? '  amount: { type: Int32, renamed_from: value }' : '  value: Int32',
    ...(stage >= 2 ? ['  note: String'] : []),
    '  ingested_at: { type: DateTime64(3), expr: now64(3) }',
    'table:',
    stage >= 6 ? '  order_by: [amount, id]' : '  order_by: [id]',
    '',
  ].join('\n');

export const aggregate = (topic: string, stage: number) =>
  [
    'name: events_agg',
    'source:',
    `  topic: ${topic}`,
    '  format: JSONEachRow',
    '  on_error: stream',
    'columns:',
    '  id: UInt64',
    '  value: Int32',
    'aggregate:',
    '  by:',
    '    bucket: intDiv(id, 1000)',
    '  measures:',
    '    n: count()',
    ...(stage >= 5 ? ['    total: sum(value)'] : []),
    '',
  ].join('\n');

/** Wait (at most 90 s) until both of `db`'s Kafka tables have partitions assigned; how long it took, in ms. */
export async function waitForAssignments(driver: Driver, db: string): Promise<number> {
  const created = Date.now();
  while (Date.now() - created < 90_000) {
    const rows = await driver.query<{ table: string; n: string }>(`SELECT table, sum(length(assignments.partition_id)) AS n FROM system.kafka_consumers WHERE database = ${stringLiteral(db)} GROUP BY table`);
    if (rows.length === 2 && rows.every((r) => Number(r.n) > 0)) return Date.now() - created;
    await sleep(200);
  }
  throw new Error(`the queues of ${db} had no partitions 90 s after 0001 was applied`);
}

export const STAGES = ['initial', 'add_note', 'rename_value', 'block_size', 'agg_total', 'rebuild'] as const;

/** Message `id` of the scenario: every MALFORMED_EVERY-th is JSON cut off after a key. */
export const stagedMessage = (id: number): { value: string; malformed: boolean } =>
  id % MALFORMED_EVERY === 0 ? { value: `{"id":${id},"value":`, malformed: true } : { value: JSON.stringify({ id, value: id % 1000, note: `n${id}` }), malformed: false };

/** The five-change scenario's producer: TOTAL messages (stagedMessage), 100 every 150 ms, over PARTITIONS partitions. */
export function produceStaged(bootstrap: string, topic: string): Promise<ProducedMessage[]> {
  return produceContinuously(bootstrap, { topic, partitions: PARTITIONS, total: TOTAL, batch: 100, intervalMs: 150, message: stagedMessage });
}

/** What the five-change scenario must end with: no id lost or doubled in events, and events_agg agreeing with it. */
export const NO_STAGED_LOSS = {
  ...NO_LOSS,
  wrongAmount: 0,
  aggBucketsDiffering: 0,
  aggMissingErrors: 0,
  aggDuplicateErrors: 0,
  aggUnexpectedErrors: 0,
};

/**
 * Settle the five-change scenario: the topic holds every produced message, both groups (events, events_agg)
 * committed its end offsets (bounded by SETTLE_BOUND_MS) and the tables' counts stopped growing.
 */
export async function settleStaged(driver: Pick<Driver, 'query'>, bootstrap: string, topic: string, db: string, produced: readonly ProducedMessage[]): ReturnType<typeof waitCommitted> {
  const ends = await endOffsets(bootstrap, topic);
  const inTopic = [...ends.values()].reduce((s, o) => s + o, 0n);
  if (inTopic !== BigInt(produced.length)) throw new Error(`the topic holds ${inTopic} messages but ${produced.length} were produced`);
  return waitCommitted({
    bootstrap,
    topic,
    groups: [`chpipe_${db}_events`, `chpipe_${db}_events_agg`],
    ends,
    boundMs: SETTLE_BOUND_MS,
    quietMs: 2500,
    counts: async () => {
      const [r] = await driver.query<{ c: string }>(`SELECT concat(toString((SELECT count() FROM ${db}.events)), '/', toString((SELECT count() FROM ${db}.events_errors)), '/', toString((SELECT sum(n) FROM ${db}.events_agg)), '/', toString((SELECT count() FROM ${db}.events_agg_errors))) AS c`);
      return r?.c ?? '';
    },
  });
}

/**
 * events and events_agg of the five-change scenario side by side: rows whose amount is not id % 1000, buckets
 * (id / 1000) whose count in events_agg differs from the good rows in events, and events_agg's total.
 */
export function stagedAggregateCounts(
  good: ReadonlyMap<number, ProducedMessage>,
  rows: readonly { id: string; amount: string }[],
  agg: readonly { bucket: string; n: string }[],
): { wrongAmount: number; aggBucketsDiffering: number; aggTotal: number } {
  let wrongAmount = 0;
  const perBucket = new Map<number, number>();
  for (const r of rows) {
    const id = Number(r.id);
    if (!good.has(id)) continue;
    perBucket.set(Math.floor(id / 1000), (perBucket.get(Math.floor(id / 1000)) ?? 0) + 1);
    if (Number(r.amount) !== id % 1000) wrongAmount++;
  }
  const aggBuckets = new Map(agg.map((a) => [Number(a.bucket), Number(a.n)]));
  const aggBucketsDiffering = [...new Set([...aggBuckets.keys(), ...perBucket.keys()])].filter((b) => (aggBuckets.get(b) ?? 0) !== (perBucket.get(b) ?? 0)).length;
  const aggTotal = [...aggBuckets.values()].reduce((s, n) => s + n, 0);
  return { wrongAmount, aggBucketsDiffering, aggTotal };
}
