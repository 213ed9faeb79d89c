/**
 * The repository's own example pipelines, end to end on the run's real Kafka broker:
 * chpipe.yaml, schemas/ and migrations/ copied into a temporary project, `chpipe
 * serve` consuming, `chpipe apply --url` creating the 28 statements of
 * migrations/0001_initial.sql with KAFKA_BROKERS from the environment, a seeded
 * set of messages per topic, and then, per pipeline, what the engine stored
 * compared with what this file computes itself from the messages it produced.
 *
 * Exactness: integer and Decimal columns are compared exactly; Float64 values are
 * multiples of 0.25, so every sum is exact in binary floating point whatever the
 * order of addition, and avg (the sum divided by the count) is compared exactly
 * too. Two measures are approximate by documentation:
 * - `uniq` (campaign_hourly.users) keeps a sample of up to 65,536 element hashes;
 *   below that it counts every distinct hash, so with ≤ 400 users per group it is
 *   compared exactly (a 32-bit hash collision would show up as a finding).
 * - `quantile(0.95)` (sensor_5m.p95_value) samples a reservoir of 8,192 values and
 *   interpolates; the tolerance: the value must lie between the two order
 *   statistics around rank 0.95·(n−1), and its distance from the exactly
 *   interpolated value is printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpDriver } from '../../src/engine/http.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { committedOffsets, consumeAll, createTopic, endOffsets, kafkaBootstrap, produceValues, type SentMessage } from '../helpers/kafka.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
const PARTITIONS = 2;
/** How long the flows may take after the last message was produced, and the output topic's read. */
const SETTLE_BOUND_MS = 90_000;
const ALERTS_READ_BOUND_MS = 30_000;

/** mulberry32: a small seeded generator, so every run produces the same messages. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
function weighted<T extends string>(r: () => number, ws: Record<T, number>): T {
  let x = r();
  for (const [k, w] of Object.entries(ws) as [T, number][]) if ((x -= w) < 0) return k;
  return Object.keys(ws)[0] as T;
}

/** `YYYY-MM-DD hh:mm:ss[.mmm]` of epoch ms, in UTC (the engine's time zone is checked to be UTC). */
function wall(ms: number, withMs = false): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, withMs ? 23 : 19)}`;
}
const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;

/** Every timestamp lies in the 6 hours before the current hour (app_logs keeps 30 days: recent data stays). */
const BASE = floorTo(Date.now(), 3_600_000) - 6 * 3_600_000;
const WINDOW_S = 6 * 3600;

// ---- the messages ------------------------------------------------------------------------------

interface Latency {
  api_id: number;
  time_taken: number;
}
function apiLatency(): Latency[] {
  const r = seeded(1);
  return Array.from({ length: 600 }, () => ({ api_id: 1 + Math.floor(r() * 20), time_taken: Math.floor(r() * 5000) - 100 }));
}

interface LogLine {
  text: string;
  good?: { tsMs: number; ts: string; service: string; level: string; message: string; host: string };
}
function appLogs(): LogLine[] {
  const r = seeded(2);
  const services = ['checkout', 'search', 'auth', 'payments', 'catalog'];
  const malformed = (k: number, ts: string) =>
    [
      `{"ts":"${ts}","service":"auth","level":"ERROR","message":"cut off`,
      'this is not JSON at all',
      `{"ts":"not a time","service":"auth","level":"FATAL","message":"bad ts","host":"web-1"}`,
    ][k % 3] as string;
  const out: LogLine[] = [];
  for (let i = 0; i < 1212; i++) {
    const tsMs = BASE + Math.floor(r() * WINDOW_S * 1000);
    const ts = wall(tsMs, true);
    if (i % 101 === 50) {
      out.push({ text: malformed(out.length, ts) });
      continue;
    }
    const level = weighted(r, { DEBUG: 0.2, INFO: 0.5, WARN: 0.15, ERROR: 0.12, FATAL: 0.03 });
    const service = pick(r, services);
    const host = `web-${1 + Math.floor(r() * 4)}`;
    const message = i % 17 === 0 ? `naïve "quoted" ✓ request ${i}\ttab` : `request ${i} took ${Math.floor(r() * 900)} ms`;
    out.push({ text: JSON.stringify({ ts, service, level, message, host }), good: { tsMs, ts, service, level, message, host } });
  }
  return out;
}

interface CampaignEvent {
  campaign_id: number;
  event_type: string;
  user_id: string;
  /** cost in units of 0.0001 */
  costUnits: number;
  eventMs: number;
}
function campaignEvents(): CampaignEvent[] {
  const r = seeded(3);
  return Array.from({ length: 1500 }, () => ({
    campaign_id: 1 + Math.floor(r() * 8),
    event_type: weighted(r, { impression: 0.8, click: 0.15, conversion: 0.05 }),
    user_id: `u${1 + Math.floor(r() * 400)}`,
    costUnits: Math.floor(r() * 20_000),
    eventMs: BASE + Math.floor(r() * WINDOW_S) * 1000,
  }));
}
const campaignJson = (e: CampaignEvent) =>
  `{"campaign_id":${e.campaign_id},"event_type":"${e.event_type}","user_id":"${e.user_id}","cost":${(e.costUnits / 10_000).toFixed(4)},"event_time":"${wall(e.eventMs)}"}`;

interface Reading {
  device_id: string;
  metric: string;
  value: number;
  measuredMs: number;
}
const METRICS = ['temperature', 'humidity', 'pressure'] as const;
/** 1,000 readings, unique per (device, metric, time), a NaN every 97th, then 40 exact re-sends (at-least-once). */
function sensorReadings(): Reading[] {
  const r = seeded(4);
  const out: Reading[] = [];
  for (let i = 0; i < 1000; i++) {
    const metric = METRICS[Math.floor(i / 6) % 3] as string;
    const quarters = metric === 'temperature' ? 80 + Math.floor(r() * 320) : metric === 'humidity' ? Math.floor(r() * 400) : 3800 + Math.floor(r() * 400);
    out.push({ device_id: `d${(i % 6) + 1}`, metric, value: i % 97 === 50 ? NaN : quarters / 4, measuredMs: BASE + Math.floor(i / 18) * 20_000 });
  }
  for (let k = 0; k < 40; k++) out.push({ ...(out[7 + 24 * k] as Reading) });
  return out;
}
const readingJson = (x: Reading) => `{"device_id":"${x.device_id}","metric":"${x.metric}","value":${Number.isNaN(x.value) ? '"nan"' : String(x.value)},"measured_at":"${wall(x.measuredMs)}"}`;

/** ClickHouse's `quantile` on a full reservoir: linear interpolation at rank level·(n−1) of the sorted values. */
function interpolated(sorted: number[], level: number): { exact: number; lo: number; hi: number } {
  const at = level * (sorted.length - 1);
  const i = Math.floor(at);
  const lo = sorted[i] as number;
  const hi = sorted[Math.min(i + 1, sorted.length - 1)] as number;
  return { exact: lo + (at - i) * (hi - lo), lo, hi };
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const g = m.get(k);
    if (g) g.push(x);
    else m.set(k, [x]);
  }
  return m;
}
const sum = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0);
const sortedEntries = <V>(m: Map<string, V>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

// ---- the run -----------------------------------------------------------------------------------

const TOPICS = { api: 'kafka_topic_1', logs: 'app-logs', campaigns: 'campaign_events', sensors: 'sensor-readings', alerts: 'sensor-alerts' } as const;
/** Each reading pipeline's consumer group (chpipe's default: chpipe_<database>_<pipeline>) and its topic. */
const GROUPS: Record<string, string> = {
  api_latency: TOPICS.api,
  app_logs: TOPICS.logs,
  errors_per_minute: TOPICS.logs,
  campaign_hourly: TOPICS.campaigns,
  sensor_readings: TOPICS.sensors,
  sensor_5m: TOPICS.sensors,
};

const data = {
  api: apiLatency(),
  logs: appLogs(),
  campaigns: campaignEvents(),
  sensors: sensorReadings(),
};

let project = '';
let serve: ChildProcess | undefined;
let db: HttpDriver | undefined;
const sent: Record<keyof typeof data, SentMessage[]> = { api: [], logs: [], campaigns: [], sensors: [] };
const timings: string[] = [];
/** When the sensor readings were produced (ms): their Kafka timestamps, hence received_at, lie in between. */
const sensorsSent = { from: 0, to: 0 };
const settledAfterMs: Record<string, number> = {};
const firstAssignedMs: Record<string, number> = {};

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: project, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', fail);
    child.once('close', (code) => ok({ code: code ?? -1, stdout, stderr }));
  });
}

async function startServe(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json'], { cwd: project, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  serve = child;
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`chpipe serve exited with ${code}: ${stderr}`)));
  });
  return (JSON.parse(line) as { url: string }).url;
}

async function stopServe(): Promise<void> {
  const child = serve;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

const q = <T>(sql: string) => db!.query<T>(sql);

beforeAll(async () => {
  const bootstrap = kafkaBootstrap();
  const env = { KAFKA_BROKERS: bootstrap };
  project = mkdtempSync(join(tmpdir(), 'chpipe-examples-'));
  for (const p of ['chpipe.yaml', 'schemas', 'migrations']) cpSync(join(ROOT, p), join(project, p), { recursive: true });
  for (const t of Object.values(TOPICS)) await createTopic(bootstrap, t, PARTITIONS);

  let t0 = Date.now();
  const url = await startServe(env);
  timings.push(`serve up in ${Date.now() - t0} ms`);
  t0 = Date.now();
  const applied = await run(['apply', '--url', url, '--json'], env);
  if (applied.code !== 0) throw new Error(`chpipe apply exited ${applied.code}:\n${applied.stdout}\n${applied.stderr}`);
  const appliedAt = Date.now();
  timings.push(`apply ${appliedAt - t0} ms: ${JSON.stringify((JSON.parse(applied.stdout) as { applied: unknown }).applied)}`);
  db = await HttpDriver.connect(url);

  const produceStart = Date.now();
  sent.api = await produceValues(bootstrap, TOPICS.api, data.api.map((x) => `${x.api_id},${x.time_taken}`), PARTITIONS);
  sent.logs = await produceValues(bootstrap, TOPICS.logs, data.logs.map((x) => x.text), PARTITIONS);
  sent.campaigns = await produceValues(bootstrap, TOPICS.campaigns, data.campaigns.map(campaignJson), PARTITIONS);
  sensorsSent.from = Date.now();
  sent.sensors = await produceValues(bootstrap, TOPICS.sensors, data.sensors.map(readingJson), PARTITIONS);
  sensorsSent.to = Date.now();
  const producedAt = Date.now();
  timings.push(`produced ${Object.values(sent).reduce((s, m) => s + m.length, 0)} messages in ${producedAt - produceStart} ms, starting ${produceStart - appliedAt} ms after apply`);

  // Settle: every group committed its topic's end offsets (ClickHouse commits after the block is written).
  const ends = new Map<string, Map<number, bigint>>();
  for (const t of new Set(Object.values(GROUPS))) ends.set(t, await endOffsets(bootstrap, t));
  while (Date.now() - producedAt < SETTLE_BOUND_MS) {
    const assigned = await q<{ table: string; n: string }>(
      "SELECT table, toString(sum(length(assignments.partition_id))) AS n FROM system.kafka_consumers WHERE database = 'analytics' GROUP BY table",
    );
    for (const a of assigned) if (Number(a.n) > 0 && firstAssignedMs[a.table] === undefined) firstAssignedMs[a.table] = Date.now() - appliedAt;
    for (const [pipeline, topic] of Object.entries(GROUPS)) {
      if (settledAfterMs[pipeline] !== undefined) continue;
      const committed = await committedOffsets(bootstrap, `chpipe_analytics_${pipeline}`, topic);
      if ([...ends.get(topic)!].every(([p, end]) => committed.get(p) === end)) settledAfterMs[pipeline] = Date.now() - producedAt;
    }
    if (Object.keys(GROUPS).every((p) => settledAfterMs[p] !== undefined)) break;
    await sleep(1000);
  }
  const [pool] = await q<{ value: string }>("SELECT value FROM system.server_settings WHERE name = 'background_message_broker_schedule_pool_size'");
  timings.push(`background_message_broker_schedule_pool_size ${pool?.value}`);
  timings.push(`queues first had partitions (ms after apply): ${JSON.stringify(firstAssignedMs)}`);
  timings.push(`groups committed everything (ms after production ended; bound ${SETTLE_BOUND_MS}): ${JSON.stringify(settledAfterMs)}`);
}, 300_000);

afterAll(async () => {
  console.log(`[examples e2e]\n  ${timings.join('\n  ')}`);
  await db?.close();
  await stopServe();
  if (project) rmSync(project, { recursive: true, force: true });
}, 60_000);

describe('the example pipelines on a real broker (chpipe serve + chpipe apply --url, KAFKA_BROKERS from the environment)', () => {
  it('runs in UTC and every consuming pipeline committed all it was sent within the bound', async () => {
    const [tz] = await q<{ tz: string }>('SELECT timezone() AS tz');
    expect(['UTC', 'Etc/UTC']).toContain(tz?.tz);
    expect(Object.keys(settledAfterMs).sort()).toEqual(Object.keys(GROUPS).sort());
  });

  it('api_latency (CSV): every line once, per api_id count/sum/min/max of time_taken exact', async () => {
    const expected = new Map(
      sortedEntries(groupBy(data.api, (x) => String(x.api_id).padStart(3, '0'))).map(([k, xs]) => {
        const t = xs.map((x) => x.time_taken);
        return [k, { c: xs.length, s: sum(t), mn: Math.min(...t), mx: Math.max(...t) }];
      }),
    );
    const rows = await q<{ id: number; c: string; s: string; mn: number; mx: number }>(
      'SELECT api_id AS id, toString(count()) AS c, toString(sum(time_taken)) AS s, min(time_taken) AS mn, max(time_taken) AS mx FROM analytics.api_latency GROUP BY api_id ORDER BY api_id',
    );
    const actual = new Map(rows.map((r) => [String(r.id).padStart(3, '0'), { c: Number(r.c), s: Number(r.s), mn: r.mn, mx: r.mx }]));
    expect(actual).toEqual(expected);
    const [tot] = await q<{ c: string; ids: string }>('SELECT toString(count()) AS c, toString(uniqExact(api_id)) AS ids FROM analytics.api_latency');
    expect({ c: Number(tot?.c), ids: Number(tot?.ids) }).toEqual({ c: data.api.length, ids: expected.size });
  });

  it('app_logs (JSONEachRow, on_error: stream): each good line once with every column; each malformed line in app_logs_errors with its raw text, error, topic, partition, offset', async () => {
    const expected = new Map<string, Record<string, string>>();
    const malformed = new Map<string, string>();
    data.logs.forEach((line, i) => {
      const s = sent.logs[i]!;
      const key = `${s.partition}:${s.offset}`;
      if (line.good) expected.set(key, { ts: line.good.ts, service: line.good.service, level: line.good.level, message: line.good.message, host: line.good.host, day: line.good.ts.slice(0, 10) });
      else malformed.set(key, line.text);
    });
    expect(malformed.size).toBe(12);
    const rows = await q<Record<string, string>>(
      'SELECT toString(ts) AS ts, service, level, message, host, toString(day) AS day, toString(kafka_partition) AS p, toString(kafka_offset) AS o FROM analytics.app_logs',
    );
    expect(rows.length).toBe(expected.size);
    const actual = new Map(rows.map(({ p, o, ...rest }) => [`${p}:${o}`, rest]));
    expect(actual.size).toBe(rows.length);
    expect(actual).toEqual(expected);

    const errors = await q<{ topic: string; p: string; o: string; raw: string; error: string }>(
      'SELECT topic, toString(partition) AS p, toString(offset) AS o, raw_message AS raw, error FROM analytics.app_logs_errors',
    );
    expect(errors.length).toBe(malformed.size);
    expect(new Map(errors.map((e) => [`${e.p}:${e.o}`, e.raw]))).toEqual(malformed);
    for (const e of errors) {
      expect(e.topic).toBe(TOPICS.logs);
      expect(e.error.length).toBeGreaterThan(0);
    }
  });

  it('errors_per_minute (aggregate, on_error: skip): per service and minute errors, warnings and last_seen exact; malformed lines skipped', async () => {
    const good = data.logs.flatMap((l) => (l.good && ['ERROR', 'FATAL', 'WARN'].includes(l.good.level) ? [l.good] : []));
    const expected = new Map(
      sortedEntries(groupBy(good, (g) => `${g.service}|${wall(floorTo(g.tsMs, 60_000))}`)).map(([k, gs]) => [
        k,
        {
          errors: gs.filter((g) => g.level !== 'WARN').length,
          warnings: gs.filter((g) => g.level === 'WARN').length,
          last_seen: wall(Math.max(...gs.map((g) => g.tsMs)), true),
        },
      ]),
    );
    const rows = await q<{ service: string; m: string; errors: string; warnings: string; last_seen: string }>(
      'SELECT service, toString(minute) AS m, toString(errors) AS errors, toString(warnings) AS warnings, toString(last_seen) AS last_seen FROM analytics.errors_per_minute',
    );
    const actual = new Map(rows.map((r) => [`${r.service}|${r.m}`, { errors: Number(r.errors), warnings: Number(r.warnings), last_seen: r.last_seen }]));
    expect(rows.length).toBe(actual.size);
    expect(actual).toEqual(expected);
  });

  it('campaign_hourly (aggregate): per campaign and hour impressions, clicks, conversions, spend (Decimal) and users exact', async () => {
    const expected = new Map(
      sortedEntries(groupBy(data.campaigns, (e) => `${e.campaign_id}|${wall(floorTo(e.eventMs, 3_600_000))}`)).map(([k, es]) => [
        k,
        {
          impressions: es.filter((e) => e.event_type === 'impression').length,
          clicks: es.filter((e) => e.event_type === 'click').length,
          conversions: es.filter((e) => e.event_type === 'conversion').length,
          spendUnits: sum(es.map((e) => e.costUnits)),
          users: new Set(es.map((e) => e.user_id)).size,
        },
      ]),
    );
    const rows = await q<{ id: number; h: string; i: string; c: string; v: string; su: string; u: string }>(
      'SELECT campaign_id AS id, toString(hour) AS h, toString(impressions) AS i, toString(clicks) AS c, toString(conversions) AS v, toString(toInt64(spend * 10000)) AS su, toString(users) AS u FROM analytics.campaign_hourly',
    );
    const actual = new Map(
      rows.map((r) => [`${r.id}|${r.h}`, { impressions: Number(r.i), clicks: Number(r.c), conversions: Number(r.v), spendUnits: Number(r.su), users: Number(r.u) }]),
    );
    expect(rows.length).toBe(actual.size);
    expect(actual).toEqual(expected);
  });

  it('sensor_readings (ReplacingMergeTree): with FINAL one row per (device, metric, time); count, NaN count, sum/min/max of value exact; received_at from the message timestamp', async () => {
    const unique = new Map(data.sensors.map((x) => [`${x.device_id}|${x.metric}|${x.measuredMs}`, x]));
    expect(unique.size).toBe(1000);
    const expected = new Map(
      sortedEntries(groupBy([...unique.values()], (x) => `${x.device_id}|${x.metric}`)).map(([k, xs]) => {
        const finite = xs.map((x) => x.value).filter(Number.isFinite);
        return [k, { c: xs.length, nan: xs.length - finite.length, s: sum(finite), mn: Math.min(...finite), mx: Math.max(...finite), first: wall(Math.min(...xs.map((x) => x.measuredMs))), last: wall(Math.max(...xs.map((x) => x.measuredMs))) }];
      }),
    );
    const rows = await q<{ d: string; m: string; c: string; nan: string; s: number; mn: number; mx: number; first: string; last: string }>(
      `SELECT device_id AS d, metric AS m, toString(count()) AS c, toString(countIf(isNaN(value))) AS nan, sumIf(value, isFinite(value)) AS s,
              minIf(value, isFinite(value)) AS mn, maxIf(value, isFinite(value)) AS mx, toString(min(measured_at)) AS first, toString(max(measured_at)) AS last
       FROM analytics.sensor_readings FINAL GROUP BY device_id, metric`,
    );
    const actual = new Map(rows.map((r) => [`${r.d}|${r.m}`, { c: Number(r.c), nan: Number(r.nan), s: r.s, mn: r.mn, mx: r.mx, first: r.first, last: r.last }]));
    expect(actual).toEqual(expected);
    const [raw] = await q<{ c: string; lo: string; hi: string }>(
      'SELECT toString(count()) AS c, toString(toUnixTimestamp(min(received_at))) AS lo, toString(toUnixTimestamp(max(received_at))) AS hi FROM analytics.sensor_readings',
    );
    // Without FINAL the re-sent copies are there until a merge removes them.
    timings.push(`sensor_readings: ${raw?.c} rows without FINAL, ${rows.reduce((n, r) => n + Number(r.c), 0)} with FINAL (${data.sensors.length} messages, ${data.sensors.length - unique.size} re-sent)`);
    expect(Number(raw?.c)).toBeGreaterThanOrEqual(1000);
    expect(Number(raw?.c)).toBeLessThanOrEqual(data.sensors.length);
    expect(Number(raw?.lo)).toBeGreaterThanOrEqual(Math.floor(sensorsSent.from / 1000));
    expect(Number(raw?.hi)).toBeLessThanOrEqual(Math.ceil(sensorsSent.to / 1000));
  });

  it('sensor_5m (aggregate, filter isFinite): per device, metric and 5 minutes readings, avg, min, max exact; p95 within the reservoir quantile’s bracket', async () => {
    const finite = data.sensors.filter((x) => Number.isFinite(x.value));
    const groups = groupBy(finite, (x) => `${x.device_id}|${x.metric}|${wall(floorTo(x.measuredMs, 300_000))}`);
    const expected = new Map(
      sortedEntries(groups).map(([k, xs]) => {
        const v = xs.map((x) => x.value);
        return [k, { readings: xs.length, avg: sum(v) / xs.length, min: Math.min(...v), max: Math.max(...v) }];
      }),
    );
    const rows = await q<{ d: string; m: string; b: string; n: string; avg: number; mn: number; mx: number; p95: number }>(
      'SELECT device_id AS d, metric AS m, toString(bucket) AS b, toString(readings) AS n, avg_value AS avg, min_value AS mn, max_value AS mx, p95_value AS p95 FROM analytics.sensor_5m',
    );
    const actual = new Map(rows.map((r) => [`${r.d}|${r.m}|${r.b}`, { readings: Number(r.n), avg: r.avg, min: r.mn, max: r.mx }]));
    expect(rows.length).toBe(actual.size);
    expect(actual).toEqual(expected);

    let worst = 0;
    const outside: string[] = [];
    for (const r of rows) {
      const sorted = groups
        .get(`${r.d}|${r.m}|${r.b}`)!
        .map((x) => x.value)
        .sort((a, b) => a - b);
      const { exact, lo, hi } = interpolated(sorted, 0.95);
      worst = Math.max(worst, Math.abs(r.p95 - exact));
      if (r.p95 < lo || r.p95 > hi) outside.push(`${r.d}|${r.m}|${r.b}: ${r.p95} not in [${lo}, ${hi}] (n ${sorted.length})`);
    }
    timings.push(`sensor_5m: ${rows.length} groups; p95 largest distance from the exactly interpolated value ${worst}`);
    expect(outside).toEqual([]);
  });

  it('overheat_alerts (publish): exactly the temperature readings over 90 arrive on sensor-alerts, with device_id, value, measured_at only', async () => {
    const expected = data.sensors
      .filter((x) => x.metric === 'temperature' && x.value > 90)
      .map((x) => JSON.stringify({ device_id: x.device_id, value: x.value, measured_at: wall(x.measuredMs) }))
      .sort();
    expect(expected.length).toBeGreaterThan(20);
    const t0 = Date.now();
    // The alerts are written when sensor_readings gets its rows; read until that many are on the topic (bounded).
    while (Date.now() - t0 < ALERTS_READ_BOUND_MS) {
      const ends = await endOffsets(kafkaBootstrap(), TOPICS.alerts);
      if (sum([...ends.values()].map(Number)) >= expected.length) break;
      await sleep(500);
    }
    const messages = await consumeAll(kafkaBootstrap(), TOPICS.alerts, ALERTS_READ_BOUND_MS);
    timings.push(`overheat_alerts: ${messages.length} messages read from ${TOPICS.alerts} in ${Date.now() - t0} ms (expected ${expected.length} rows)`);
    const rows = messages.flatMap((m) => m.value.split('\n').filter((l) => l.trim() !== ''));
    const parsed = rows.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const p of parsed) expect(Object.keys(p)).toEqual(['device_id', 'value', 'measured_at']);
    expect(parsed.map((p) => JSON.stringify(p)).sort()).toEqual(expected);
    expect(new Set(messages.map((m) => m.partition)).size).toBeGreaterThanOrEqual(1);
  });
});
