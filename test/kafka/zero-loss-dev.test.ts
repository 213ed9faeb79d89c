/**
 * Zero loss through `chpipe dev`: the scenario of zero-loss-apply.test.ts, but
 * every change is made the way a user of the local loop makes it, by saving
 * the YAML files while `chpipe dev --json --allow-destructive` runs (it applies
 * to its embedded target, serves it over HTTP, watches `schemas/`). A producer
 * writes 20,000 unique ids (every 25th malformed) over more than 10 s; the five
 * changes are saved one after the other, each once dev's JSON lines report the
 * previous one applied (`lastChange.seq`): a column added end to end (2), a
 * rename with `renamed_from` (3), a Kafka setting (4), a new measure on the
 * aggregate (5), a rebuild with a new `order_by` (6, destructive).
 *
 * Afterwards (both consumer groups committed the topic's end offsets): every
 * good id in `events` exactly once, every malformed message in
 * `events_errors` exactly once (the shared checker of zero-loss.ts), rows sent
 * after change 2 carry the new column, the aggregate's counts equal the
 * table's. The handover gap around each change is printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpDriver } from '../../src/engine/http.js';
import { BIN, tempProject } from '../helpers/cli.js';
import { createTopic, ingestGaps, kafkaBootstrap, uniqueTopic, type ProducedMessage } from '../helpers/kafka.js';
import { stop } from '../engine/pids.js';
import { accountForIds, aggregate, events, NO_STAGED_LOSS, PARTITIONS, produceStaged, settleStaged, STAGES, stagedAggregateCounts } from './zero-loss.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));


/** One JSON line of `chpipe dev --json`. */
interface DevLine {
  url: string;
  pipelines: { name: string; rows: number | null; errors: number; lag: number | null }[];
  lastChange: { seq: number; cause: string; outcome: string; at: string; steps: number } | null;
}

interface Change {
  stage: number;
  name: string;
  /** When the files were saved, and when dev's JSON line first reported the change handled (ms since the epoch). */
  savedMs: number;
  reportedMs: number;
  outcome: string;
  steps: number;
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started.splice(0)) stop(child.pid);
});

describe('zero loss through chpipe dev: five changes saved to the YAML files under load', () => {
  it('keeps every good id exactly once, every malformed one in NAME_errors, the new column, and the aggregate equal to the table', { timeout: 360_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    const topic = uniqueTopic('zl_dev');
    const db = `zl_dev_${process.pid}`;
    await createTopic(bootstrap, topic, PARTITIONS);
    const dir = tempProject({ 'schemas/events.yaml': events(topic, 1), 'schemas/events_agg.yaml': aggregate(topic, 1) }, `version: 1\ndatabase: ${db}\nkafka:\n  brokers: ${bootstrap}\n  settings: { kafka_flush_interval_ms: 500 }\n`);

    // 1. dev applies the declared state, serves it, and prints a JSON line per refresh.
    const child = spawn(process.execPath, [BIN, 'dev', '--json', '--allow-destructive', '--port', '0', '--interval', '0.5'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('close', (code, signal) => done({ code, signal })));
    const lines = (): DevLine[] =>
      stdout
        .split('\n')
        .slice(0, -1)
        .filter(Boolean)
        .map((l) => JSON.parse(l) as DevLine);
    /** The first JSON line whose last change is `seq` (dev handles changes one at a time, numbered from 1 for the start). */
    const handled = async (seq: number, boundMs: number): Promise<{ line: DevLine; at: number }> => {
      const t0 = Date.now();
      while (Date.now() - t0 < boundMs) {
        const found = lines().find((l) => (l.lastChange?.seq ?? 0) >= seq);
        if (found) return { line: found, at: Date.now() };
        if (child.exitCode !== null) break;
        await sleep(50);
      }
      throw new Error(`chpipe dev reported no change ${seq} within ${boundMs} ms; stderr:\n${stderr}`);
    };

    let driver: HttpDriver | undefined;
    try {
      const start1 = await handled(1, 120_000);
      expect(start1.line.lastChange?.outcome, stderr).toBe('applied');
      const url = start1.line.url;
      driver = await HttpDriver.connect(url);
      const http = driver;
      const created = Date.now();
      let firstAssignmentMs = -1;
      while (Date.now() - created < 90_000) {
        const rows = await http.query<{ table: string; n: string }>(`SELECT table, sum(length(assignments.partition_id)) AS n FROM system.kafka_consumers WHERE database = '${db}' GROUP BY table`);
        if (rows.length === 2 && rows.every((r) => Number(r.n) > 0)) {
          firstAssignmentMs = Date.now() - created;
          break;
        }
        await sleep(200);
      }
      if (firstAssignmentMs < 0) throw new Error(`the queues of ${db} had no partitions 90 s after dev applied the declared state`);

      // 2. Produce; save changes 2…6 one at a time meanwhile, each after dev reported the one before.
      const start = Date.now();
      const producing = produceStaged(bootstrap, topic);
      let productionFailed: unknown;
      producing.catch((e: unknown) => (productionFailed = e));
      const changes: Change[] = [];
      await sleep(3000);
      for (let stage = 2; stage <= STAGES.length; stage++) {
        if (productionFailed) break;
        const savedMs = Date.now();
        // Only the files that change: a save of an unchanged file would be a change of its own.
        if (events(topic, stage) !== events(topic, stage - 1)) writeFileSync(join(dir, 'schemas/events.yaml'), events(topic, stage));
        if (aggregate(topic, stage) !== aggregate(topic, stage - 1)) writeFileSync(join(dir, 'schemas/events_agg.yaml'), aggregate(topic, stage));
        const { line, at } = await handled(stage, 120_000);
        changes.push({ stage, name: STAGES[stage - 1]!, savedMs, reportedMs: at, outcome: line.lastChange?.outcome ?? '-', steps: line.lastChange?.steps ?? 0 });
        if (line.lastChange?.seq !== stage || line.lastChange.outcome !== 'applied') break;
        await sleep(2500);
      }
      const produced: ProducedMessage[] = await producing;
      const producedEnd = Date.now();
      const producedSeconds = (producedEnd - start) / 1000;
      expect(
        changes.map((c) => `${c.stage} ${c.outcome}`),
        stderr,
      ).toEqual([2, 3, 4, 5, 6].map((s) => `${s} applied`));
      const last = changes.at(-1)!;
      if (last.reportedMs > producedEnd) throw new Error(`change 6 was reported after the producer finished (+${last.reportedMs - start} ms vs +${producedEnd - start} ms): not a change under load`);

      // 3. Settle: both groups committed the end offsets (bounded), the counts stopped growing.
      const settle = await settleStaged(http, bootstrap, topic, db, produced);

      // 4. Every message accounted for, with the checker zero-loss-apply uses.
      const rows = await http.query<{ id: string; amount: string; note: string; t: string }>(`SELECT id, amount, note, toUnixTimestamp64Milli(ingested_at) AS t FROM ${db}.events`);
      const errors = await http.query<{ p: string; o: string; raw: string }>(`SELECT partition AS p, offset AS o, raw_message AS raw FROM ${db}.events_errors`);
      const agg = await http.query<{ bucket: string; n: string }>(`SELECT bucket, sum(n) AS n FROM ${db}.events_agg GROUP BY bucket`);
      const aggErrors = await http.query<{ p: string; o: string; raw: string }>(`SELECT partition AS p, offset AS o, raw_message AS raw FROM ${db}.events_agg_errors`);
      const added = changes.find((c) => c.stage === 2)!;
      const ids = accountForIds({ produced, rows, errors, newColumn: { value: (id) => `n${id}`, since: added.reportedMs } });
      const aggErrorIds = accountForIds({ produced, rows: [], errors: aggErrors });
      const good = new Map(produced.filter((m) => !m.malformed).map((m) => [m.id, m]));
      const { wrongAmount, aggBucketsDiffering, aggTotal } = stagedAggregateCounts(good, rows, agg);
      const counts = {
        ...ids.counts,
        wrongAmount,
        aggBucketsDiffering,
        aggMissingErrors: aggErrorIds.counts.missingErrors,
        aggDuplicateErrors: aggErrorIds.counts.duplicateErrors,
        aggUnexpectedErrors: aggErrorIds.counts.unexpectedErrors,
      };

      const consumers = await http.query<{ table: string; read: string; commits: string; err: string }>(
        `SELECT table, sum(num_messages_read) AS read, sum(num_commits) AS commits, arrayStringConcat(groupArray(exceptions.text[-1]), ' | ') AS err FROM system.kafka_consumers WHERE database = '${db}' GROUP BY table ORDER BY table`,
      );
      const times = [...new Set(rows.map((r) => Number(r.t)))].sort((a, b) => a - b);
      const gaps = changes.map((c) => ({ ...c, gap: ingestGaps(times, c.savedMs, c.reportedMs), resumedMs: (times.find((t) => t >= c.reportedMs) ?? Infinity) - c.reportedMs }));
      const overall = ingestGaps(times, start, producedEnd);
      const missingBy = changes.map((c, i) => {
        const until = changes[i + 1]?.savedMs ?? Infinity;
        return `${c.stage}:${ids.missingIds.filter((id) => good.get(id)!.sentAt >= c.savedMs && good.get(id)!.sentAt < until).length}`;
      });
      console.log(
        [
          `[zero-loss dev] produced ${good.size} good + ${produced.length - good.size} malformed in ${producedSeconds.toFixed(1)} s; queues had partitions ${firstAssignmentMs} ms after dev applied the declared state`,
          ...gaps.map(
            (g) =>
              `  ${g.stage} ${g.name}: saved +${g.savedMs - start} ms, reported ${g.outcome} (${g.steps} steps) +${g.reportedMs - start} ms (${g.reportedMs - g.savedMs} ms); handover gap ${g.gap.ms} ms from +${g.gap.fromMs - start} ms; first row ${g.resumedMs} ms after the report`,
          ),
          `  longest gap overall ${overall.ms} ms from +${overall.fromMs - start} ms; settled ${settle.settled ? 'yes' : 'NO'} ${settle.ms} ms after production (committed ${settle.committed})`,
          `  events ${rows.length} rows, events_errors ${errors.length}, events_agg sum(n) ${aggTotal}, events_agg_errors ${aggErrors.length}; missing good ids sent after change N: ${missingBy.join(' ')}`,
          ...consumers.map((c) => `  consumers of ${c.table}: ${c.read} messages read, ${c.commits} commits${c.err.replace(/[ |]/g, '') ? `; last error: ${c.err.slice(0, 300)}` : ''}`),
          `  ${JSON.stringify(counts)}`,
        ].join('\n'),
      );

      expect(produced.length).toBeGreaterThanOrEqual(20_000);
      expect(producedSeconds).toBeGreaterThanOrEqual(10);
      expect(settle.settled).toBe(true);
      // No kill here: the at-least-once contract allows no duplicate, and no message may be lost.
      expect(counts).toEqual(NO_STAGED_LOSS);
      expect(aggTotal).toBe(good.size);
    } finally {
      await driver?.close();
      child.kill('SIGTERM');
      const end = await Promise.race([ended, sleep(30_000).then(() => undefined)]);
      if (!end) stop(child.pid);
    }
  });
});
