/**
 * Zero loss through the real path a user takes: `chpipe serve` (the embedded
 * target behind HTTP, consuming Kafka while it runs) and `chpipe apply --url`,
 * one migration at a time while a producer writes 20,000 unique ids.
 *
 * The project: `events` (ingest, `on_error: stream`) and `events_agg`
 * (aggregate, `on_error: stream` too, its own consumer group) on one topic.
 * (The aggregate does not use `on_error: skip`: with it, a message cut off
 * after a key (`{"id":25,"value":`) stalls the queue for good, ClickHouse's
 * ATTEMPT_TO_READ_AFTER_EOF is not among the errors kafka_skip_broken_messages
 * skips, so the aggregate would read nothing after offset 24.) Migrations, saved with the
 * real planner before the run: 0001 initial; 0002 a column added end to end;
 * 0003 a rename (`renamed_from`); 0004 a Kafka setting (kafka_max_block_size);
 * 0005 a new measure on the aggregate; 0006 a rebuild (new order_by). Each apply
 * runs with a migrations folder holding the files up to it (prepared
 * beforehand, `chpipe migrate hash` for its chpipe.sum).
 *
 * Afterwards (both groups committed the topic's end offsets): every good id is
 * in `events` exactly once (duplicates counted and printed apart: there is no
 * kill here, so the contract allows none), every malformed one in
 * `events_errors`, rows sent after 0002 carry the new column, the aggregate's
 * counts equal the ingest table's. The handover gap around each apply is
 * printed. `chpipe serve` runs with librdkafka's default session timeout
 * (45 s): a recreated Kafka table waits for the dropped one's consumer to time
 * out of the group, which is what a user of `chpipe serve` gets.
 */
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpDriver } from '../../src/engine/http.js';
import { chpipe, chpipeAsync, tempDir, type CliResult } from '../helpers/cli.js';
import { createTopic, ingestGaps, kafkaBootstrap, uniqueTopic, type ProducedMessage } from '../helpers/kafka.js';
import { project } from '../helpers/plan.js';
import { accountForIds, aggregate, events, NO_STAGED_LOSS, PARTITIONS, produceStaged, settleStaged, STAGES, stagedAggregateCounts, waitForAssignments } from './zero-loss.js';
import { startServe, type Server } from '../migrate/target.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));


interface Applied {
  version: number;
  name: string;
  startMs: number;
  endMs: number;
}

let server: Server | undefined;
afterAll(async () => {
  await server?.stop();
});

describe('zero loss through chpipe apply --url against chpipe serve, five migrations under load', () => {
  it('keeps every good id exactly once, every malformed one in NAME_errors, the new column, and the aggregate equal to the table', { timeout: 420_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    process.env.KAFKA_BROKERS = bootstrap;
    const topic = uniqueTopic('zl_apply');
    const db = `zl_apply_${process.pid}`;
    await createTopic(bootstrap, topic, PARTITIONS);
    const yaml = `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`;

    // 1. The six migrations, saved in turn with the real planner.
    const p = project({ 'schemas/events.yaml': events(topic, 1), 'schemas/events_agg.yaml': aggregate(topic, 1) }, yaml);
    const risks: string[] = [];
    for (let stage = 1; stage <= STAGES.length; stage++) {
      p.write('schemas/events.yaml', events(topic, stage));
      p.write('schemas/events_agg.yaml', aggregate(topic, stage));
      const r = await p.save(STAGES[stage - 1]!);
      expect(r.steps.length, `stage ${stage} planned no steps`).toBeGreaterThan(0);
      risks.push(`${String(stage).padStart(4, '0')}: ${r.steps.map((s) => `${s.action} ${s.risk} ${s.object.replace(`${db}.`, '')}`).join(', ')}`);
    }
    const files = readdirSync(join(p.dir, 'migrations')).filter((f) => f.endsWith('.sql')).sort();
    expect(files).toHaveLength(STAGES.length);
    // A project folder per stage: the same chpipe.yaml and schemas, migrations up to that file.
    const stageDirs = files.map((_, i) => {
      const dir = tempDir('chpipe-zl-stage-');
      cpSync(join(p.dir, 'chpipe.yaml'), join(dir, 'chpipe.yaml'));
      cpSync(join(p.dir, 'schemas'), join(dir, 'schemas'), { recursive: true });
      mkdirSync(join(dir, 'migrations'));
      for (const f of files.slice(0, i + 1)) cpSync(join(p.dir, 'migrations', f), join(dir, 'migrations', f));
      const h = chpipe(['migrate', 'hash'], dir);
      if (h.code !== 0) throw new Error(`chpipe migrate hash in stage ${i + 1} exited ${h.code}: ${h.stderr}`);
      return dir;
    });

    // 2. serve on a fresh data dir, apply 0001, wait until both queues have partitions.
    const dataDir = join(tempDir('chpipe-zl-data-'), 'data');
    server = await startServe(dataDir);
    const url = server.url;
    const apply = async (i: number): Promise<CliResult> => {
      const r = await chpipeAsync(['apply', '--url', url], stageDirs[i]!, {}, 180_000);
      if (r.code !== 0) throw new Error(`chpipe apply --url of ${files[i]} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    await apply(0);
    const driver = await HttpDriver.connect(url);
    try {
      const firstAssignmentMs = await waitForAssignments(driver, db);

      // 3. Produce; apply 0002…0006 one at a time meanwhile.
      const start = Date.now();
      const producing = produceStaged(bootstrap, topic);
      let productionFailed: unknown;
      producing.catch((e: unknown) => (productionFailed = e));
      const applied: Applied[] = [];
      await sleep(3000);
      for (let i = 1; i < files.length; i++) {
        if (productionFailed) break;
        const t = Date.now();
        await apply(i);
        applied.push({ version: i + 1, name: STAGES[i]!, startMs: t, endMs: Date.now() });
        await sleep(2500);
      }
      const produced: ProducedMessage[] = await producing;
      const producedEnd = Date.now();
      const producedSeconds = (producedEnd - start) / 1000;
      const lastApply = applied.at(-1)!;
      if (lastApply.endMs > producedEnd) throw new Error(`0006 was applied after the producer finished (${lastApply.endMs - start} ms vs ${producedEnd - start} ms): not a change under load`);

      // 4. Settle: both groups committed the end offsets (bounded), the counts stopped growing.
      const settle = await settleStaged(driver, bootstrap, topic, db, produced);

      // 5. Every message accounted for.
      const rows = await driver.query<{ id: string; amount: string; note: string; t: string }>(`SELECT id, amount, note, toUnixTimestamp64Milli(ingested_at) AS t FROM ${db}.events`);
      const errors = await driver.query<{ p: string; o: string; raw: string }>(`SELECT partition AS p, offset AS o, raw_message AS raw FROM ${db}.events_errors`);
      const agg = await driver.query<{ bucket: string; n: string }>(`SELECT bucket, n FROM ${db}.events_agg`);
      const aggErrors = await driver.query<{ p: string; o: string }>(`SELECT partition AS p, offset AS o FROM ${db}.events_agg_errors`);
      const good = new Map(produced.filter((m) => !m.malformed).map((m) => [m.id, m]));
      const bad = new Map(produced.filter((m) => m.malformed).map((m) => [`${m.partition}:${m.offset}`, m]));
      const added = applied.find((a) => a.version === 2)!;
      const ids = accountForIds({ produced, rows, errors, newColumn: { value: (id) => `n${id}`, since: added.endMs } });
      const { wrongAmount, aggBucketsDiffering, aggTotal } = stagedAggregateCounts(good, rows, agg);
      // What each queue's consumers did (messages read, commits, their last error): the first place to look when a group falls behind.
      const consumers = await driver.query<{ table: string; read: string; commits: string; err: string }>(
        `SELECT table, sum(num_messages_read) AS read, sum(num_commits) AS commits, arrayStringConcat(groupArray(exceptions.text[-1]), ' | ') AS err FROM system.kafka_consumers WHERE database = '${db}' GROUP BY table ORDER BY table`,
      );
      const [pool] = await driver.query<{ value: string }>(`SELECT value FROM system.server_settings WHERE name = 'background_message_broker_schedule_pool_size'`);
      const seenAggErr = new Map<string, number>();
      for (const e of aggErrors) if (bad.has(`${e.p}:${e.o}`)) seenAggErr.set(`${e.p}:${e.o}`, (seenAggErr.get(`${e.p}:${e.o}`) ?? 0) + 1);
      const missingIds = ids.missingIds;
      const counts = {
        ...ids.counts,
        wrongAmount,
        aggBucketsDiffering,
        aggMissingErrors: [...bad.keys()].filter((k) => !seenAggErr.has(k)).length,
        aggDuplicateErrors: [...seenAggErr.values()].reduce((s, n) => s + n - 1, 0),
        aggUnexpectedErrors: aggErrors.length - [...seenAggErr.values()].reduce((s, n) => s + n, 0),
      };

      // The handover gap around each apply: the longest pause between consecutive ingest times that spans it.
      const times = [...new Set(rows.map((r) => Number(r.t)))].sort((a, b) => a - b);
      const gaps = applied.map((a) => ({ ...a, gap: ingestGaps(times, a.startMs, a.endMs), resumedMs: (times.find((t) => t >= a.endMs) ?? Infinity) - a.endMs }));
      const overall = ingestGaps(times, start, producedEnd);
      const missingBy = applied.map((a, i) => {
        const until = applied[i + 1]?.startMs ?? Infinity;
        return `${a.version}:${missingIds.filter((id) => good.get(id)!.sentAt >= a.startMs && good.get(id)!.sentAt < until).length}`;
      });
      console.log(
        [
          `[zero-loss apply] produced ${good.size} good + ${bad.size} malformed in ${producedSeconds.toFixed(1)} s; queues had partitions ${firstAssignmentMs} ms after 0001 (serve: librdkafka default session timeout; background_message_broker_schedule_pool_size ${pool?.value})`,
          ...risks.map((r) => `  plan ${r}`),
          ...gaps.map(
            (g) =>
              `  ${String(g.version).padStart(4, '0')}_${g.name}: applied +${g.startMs - start}…+${g.endMs - start} ms (${g.endMs - g.startMs} ms); handover gap ${g.gap.ms} ms from +${g.gap.fromMs - start} ms; first row ${g.resumedMs} ms after it ended`,
          ),
          `  longest gap overall ${overall.ms} ms from +${overall.fromMs - start} ms; settled ${settle.settled ? 'yes' : 'NO'} ${settle.ms} ms after production (committed ${settle.committed})`,
          `  events ${rows.length} rows, events_errors ${errors.length}, events_agg sum(n) ${aggTotal}, events_agg_errors ${aggErrors.length}; missing good ids sent after apply N: ${missingBy.join(' ')}`,
          ...consumers.map((c) => `  consumers of ${c.table}: ${c.read} messages read, ${c.commits} commits${c.err.replace(/[ |]/g, '') ? `; last error: ${c.err.slice(0, 300)}` : ''}`),
          `  ${JSON.stringify(counts)}`,
        ].join('\n'),
      );

      expect(good.size + bad.size).toBeGreaterThanOrEqual(20_000);
      expect(producedSeconds).toBeGreaterThanOrEqual(10);
      expect(applied.map((a) => a.version)).toEqual([2, 3, 4, 5, 6]);
      expect(settle.settled).toBe(true);
      // No kill here: the at-least-once contract allows no duplicate, and no message may be lost.
      expect(counts).toEqual(NO_STAGED_LOSS);
      expect(aggTotal).toBe(good.size);
    } finally {
      await driver.close();
    }
  });
});
