/**
 * Zero loss through cluster-mode migrations, with data flowing (docs/cluster.md), on the run's real broker and a
 * non-replicated one-node copy of the cluster.
 *
 * The project (`cluster: flow`): the staged `events` ingest (`on_error: stream`) and `events_agg` aggregate of
 * test/kafka/zero-loss.ts on one topic of 2 partitions. `chpipe plan --save` (the real CLI) writes, before any
 * message is produced: 0001 initial; 0002 a column added end to end; 0003 a rename (`renamed_from`); 0004 a Kafka
 * setting (`kafka_max_block_size`: the queue dropped and recreated); 0005 a new measure on the aggregate; 0006 a
 * rebuild for a new ORDER BY (`--allow-destructive`), whose row copy reads every shard once through
 * `cluster(...)` and writes through the cluster by the sharding key. Every file carries `ON CLUSTER flow` and
 * `Replicated*MergeTree` engines, as saved for a real cluster. (On one node the copy's reading and writing across
 * hosts is not exercised: that the rows survive the rebuild is.)
 *
 * Apply: the real executor (`applyMigrations`, src/migrate/apply.ts, `sharedHistory: false` so the history is a
 * plain table) over a one-node `ClusterDriver` (src/cluster/executor.ts), which runs every `ON CLUSTER` statement
 * the way a node's DDL worker runs it: normalized by `formatQuery`, the clause dropped, a new table given one UUID.
 * Its node is `PlainNode`, a wrapper Driver over one embedded engine process: the engine keeps Replicated tables
 * read-only (and has no Keeper here), so every CREATE it is sent is normalized by `formatQuery` and a
 * `Replicated*MergeTree` engine replaced by its plain engine (`withPlainEngine`, what the scratch engine does);
 * every other statement runs as sent. The engine's server config names the cluster `flow` as this node alone
 * (`127.0.0.1:9000`, which the engine counts as local: the Distributed tables read in process), and gives the
 * Kafka consumers a 6 s session timeout (SESSION_TIMEOUT_MS: a recreated queue waits for the dropped one's
 * consumer to leave the group).
 *
 * 0001 is applied, then a producer writes unique ids (every 25th malformed) while 0002…0006 are applied one at a
 * time. Once both groups committed the topic's end offsets: every good id is read exactly once through the
 * Distributed `events` (and `events_local` holds the same rows), every malformed one once in `events_errors`, no
 * row nobody produced; rows sent after 0002 carry the new column; every amount is the message's value under its
 * new name; the aggregate's finalizing view over the Distributed `events_agg_state` counts per bucket what the ids
 * say, and its new measure `total` never exceeds a bucket's values; then a bucket of ids produced once everything
 * settled comes out of the view with its count and total exact. The figures (ids, missing, duplicates, the
 * handover gap around each apply) are printed. No process is killed, so the at-least-once contract allows no
 * duplicate either.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterDriver } from '../../src/cluster/executor.js';
import type { Driver } from '../../src/engine/driver.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { applyMigrations } from '../../src/migrate/apply.js';
import { readMigrationDir } from '../../src/migrate/dir.js';
import { withPlainEngine } from '../../src/sql/cluster.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { statementShape } from '../../src/sql/statement.js';
import { chpipe, tempProject } from '../helpers/cli.js';
import { createTopic, ingestGaps, kafkaBootstrap, produceContinuously, produceValues, uniqueTopic, type ProducedMessage } from '../helpers/kafka.js';
import { accountForIds, aggregate, events, NO_STAGED_LOSS, PARTITIONS, SESSION_TIMEOUT_MS, settleStaged, STAGES, stagedAggregateCounts, stagedMessage, waitForAssignments } from './zero-loss.js';
import { openSelfClusterEngine } from '../helpers/cluster.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
const CLUSTER = 'flow';
/** The changes applied under load: every stage, the rebuild last. */
const APPLIED_STAGES = STAGES;
/** Messages produced, ids 1..TOTAL: 50 every 100 ms, over 28 s. */
const TOTAL = 14_000;
/** A bucket of ids produced after everything settled, for the aggregate's new measure: LATE ids from LATE_FROM. */
const LATE_FROM = 1_000_000;
const LATE = 500;

/**
 * One node of the cluster as a node without replication runs it: a CREATE normalized by the engine and its
 * `Replicated*MergeTree` replaced by the plain engine; anything else as sent. `plain` counts the replacements.
 */
class PlainNode implements Driver {
  readonly kind: Driver['kind'];
  readonly target: string;
  plain = 0;
  constructor(private readonly engine: Driver) {
    this.kind = engine.kind;
    this.target = engine.target;
  }

  async exec(sql: string): Promise<void> {
    if (statementShape(sql).keyword !== 'CREATE') return this.engine.exec(sql);
    const [row] = await this.engine.query<{ q: string }>(`SELECT formatQuery(${stringLiteral(sql)}) AS q`);
    const normalized = row?.q ?? sql;
    const plain = withPlainEngine(normalized);
    if (plain === normalized) return this.engine.exec(sql);
    this.plain++;
    return this.engine.exec(plain);
  }

  query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return this.engine.query<T>(sql);
  }

  version(): Promise<string> {
    return this.engine.version();
  }

  async close(): Promise<void> {
    // The engine belongs to the file's hooks.
  }
}

let engine: ProcessDriver | undefined;
beforeAll(async () => {
  engine = await openSelfClusterEngine('chpipe-cluster-zero-loss-', [CLUSTER], { sections: [`<kafka><session_timeout_ms>${SESSION_TIMEOUT_MS}</session_timeout_ms></kafka>`] });
});
afterAll(async () => {
  await engine?.close();
});

interface Applied {
  version: string;
  name: string;
  startMs: number;
  endMs: number;
}

describe('zero loss through cluster-mode migrations (ON CLUSTER, one-node non-replicated copy), on the real broker', () => {
  it('keeps every id exactly once through the Distributed tables while a column is added, renamed, the queue recreated and a measure added', { timeout: 300_000 }, async () => {
    const d = engine as ProcessDriver;
    const bootstrap = kafkaBootstrap();
    const topic = uniqueTopic('czl');
    const db = `czl_${process.pid}`;
    const placement = { database: db, cluster: CLUSTER };
    await createTopic(bootstrap, topic, PARTITIONS);
    const env = { KAFKA_BROKERS: bootstrap };

    // 1. The migrations, saved in turn by the real CLI.
    const dir = tempProject({}, `version: 1\ndatabase: ${db}\ncluster: ${CLUSTER}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`);
    const plans: string[] = [];
    for (let stage = 1; stage <= APPLIED_STAGES.length; stage++) {
      writeFileSync(join(dir, 'schemas/events.yaml'), events(topic, stage));
      writeFileSync(join(dir, 'schemas/events_agg.yaml'), aggregate(topic, stage));
      const name = APPLIED_STAGES[stage - 1]!;
      const r = chpipe(['plan', '--save', name, ...(name === 'rebuild' ? ['--allow-destructive'] : [])], dir, env);
      if (r.code !== 0) throw new Error(`chpipe plan --save ${name} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
      plans.push(`${name}: ${r.stdout.split('\n').find((l) => /^\s+\d+ steps:/.test(l))?.trim()}`);
    }
    const files = readMigrationDir(join(dir, 'migrations')).files;
    expect(files.map((f) => f.name)).toEqual([...APPLIED_STAGES]);
    expect(readdirSync(join(dir, 'migrations')).filter((f) => f.endsWith('.sql'))).toHaveLength(APPLIED_STAGES.length);
    for (const f of files) {
      const text = readFileSync(join(dir, 'migrations', f.file), 'utf8');
      expect(text, f.file).toContain(`ON CLUSTER ${CLUSTER}`);
      if (f.name !== 'rebuild') expect(text, f.file).not.toMatch(/^-- step .* · destructive · /m);
    }
    // The rebuild's copy reads every shard's rows once and writes them back through the cluster.
    expect(files.at(-1)!.text).toContain(`INSERT INTO FUNCTION cluster('${CLUSTER}', '${db}', 'events_local__chpipe_rebuild', rand())`);
    expect(files[0]!.text).toContain('ReplicatedMergeTree(');

    // 2. The executor over a one-node cluster whose node runs Replicated tables as plain ones.
    const node = new PlainNode(d);
    const cluster = new ClusterDriver(CLUSTER, [{ host: '127.0.0.1:9000', shard: 1, driver: node }]);
    const apply = async (upTo: number): Promise<Applied> => {
      const t = Date.now();
      const result = await applyMigrations({
        driver: cluster,
        placement,
        files: files.slice(0, upTo + 1),
        dirDisplay: 'migrations',
        env,
        chpipeVersion: 'test',
        lock: { waitMs: 0, ttlMs: 60_000, command: 'apply' },
        sharedHistory: false,
      });
      expect(result.applied.map((a) => a.version)).toEqual([files[upTo]!.version]);
      return { version: files[upTo]!.version, name: files[upTo]!.name, startMs: t, endMs: Date.now() };
    };
    await apply(0);
    // The per-node tables were Replicated in the file, plain here; the tables users query are Distributed.
    const engines = Object.fromEntries(
      (await d.query<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${stringLiteral(db)}`)).map((r) => [r.name, r.engine]),
    );
    expect(engines).toMatchObject({
      events_local: 'MergeTree',
      events: 'Distributed',
      events_errors_local: 'MergeTree',
      events_errors: 'Distributed',
      events_agg_state_local: 'AggregatingMergeTree',
      events_agg_state: 'Distributed',
      events_queue: 'Kafka',
      events_agg_queue: 'Kafka',
    });
    expect(node.plain).toBeGreaterThanOrEqual(4);

    const firstAssignmentMs = await waitForAssignments(d, db);

    // 3. Produce; apply 0002…0006 one at a time meanwhile.
    const start = Date.now();
    const producing = produceContinuously(bootstrap, { topic, partitions: PARTITIONS, total: TOTAL, batch: 50, intervalMs: 100, message: stagedMessage });
    let productionFailed: unknown;
    producing.catch((e: unknown) => (productionFailed = e));
    const applied: Applied[] = [];
    await sleep(3000);
    for (let i = 1; i < files.length; i++) {
      if (productionFailed) break;
      applied.push(await apply(i));
      await sleep(2000);
    }
    const produced: ProducedMessage[] = await producing;
    const producedEnd = Date.now();
    const lastApply = applied.at(-1)!;
    if (lastApply.endMs > producedEnd) throw new Error(`${lastApply.version} was applied after the producer finished (+${lastApply.endMs - start} ms vs +${producedEnd - start} ms): not a change under load`);

    // 4. Settle: both groups committed the topic's end offsets (bounded) and the counts stopped growing.
    const settle = await settleStaged(d, bootstrap, topic, db, produced);

    // 5. Every message accounted for, read through the Distributed tables.
    const rows = await d.query<{ id: string; amount: string; note: string; t: string }>(`SELECT id, amount, note, toUnixTimestamp64Milli(ingested_at) AS t FROM ${db}.events`);
    const errors = await d.query<{ p: string; o: string; raw: string }>(`SELECT partition AS p, offset AS o, raw_message AS raw FROM ${db}.events_errors`);
    const aggErrors = await d.query<{ p: string; o: string; raw: string }>(`SELECT partition AS p, offset AS o, raw_message AS raw FROM ${db}.events_agg_errors`);
    const agg = await d.query<{ bucket: string; n: string; total: string }>(`SELECT bucket, n, total FROM ${db}.events_agg`);
    const localIds = await d.query<{ id: string }>(`SELECT id FROM ${db}.events_local`);
    const [localErrors] = await d.query<{ n: string }>(`SELECT count() AS n FROM ${db}.events_errors_local`);
    const good = new Map(produced.filter((m) => !m.malformed).map((m) => [m.id, m]));
    const added = applied.find((a) => a.name === 'add_note')!;
        const ids = accountForIds({ produced, rows, errors, newColumn: { value: (id) => `n${id}`, since: added.endMs } });
    const { wrongAmount } = stagedAggregateCounts(good, rows, agg);
    // The aggregate against the ids themselves (each good id once, its value id % 1000), not against the table.
    const fromIds = [...good.keys()].map((id) => ({ id: String(id), amount: String(id % 1000) }));
    const { aggBucketsDiffering, aggTotal } = stagedAggregateCounts(good, fromIds, agg);
    const aggIds = accountForIds({ produced, rows: [], errors: aggErrors });
    // total (added by 0005) never counts a message twice: per bucket, at most the sum of all its values. (Which
    // messages it covers depends on when they were read: the block being read when MODIFY QUERY swaps the flow's
    // query keeps the old one, as the plan says; measured, messages sent 250…500 ms after the ALTER returned.)
    const sums = new Map<number, number>();
    for (const m of good.values()) sums.set(Math.floor(m.id / 1000), (sums.get(Math.floor(m.id / 1000)) ?? 0) + (m.id % 1000));
    const totalOverSum = agg.filter((a) => Number(a.total) > (sums.get(Number(a.bucket)) ?? 0)).length;
    const totalCovered = agg.reduce((x, a) => x + Number(a.total), 0) / [...sums.values()].reduce((x, v) => x + v, 0);
    const counts = {
      ...ids.counts,
      wrongAmount,
      aggBucketsDiffering,
      aggMissingErrors: aggIds.counts.missingErrors,
      aggDuplicateErrors: aggIds.counts.duplicateErrors,
      aggUnexpectedErrors: aggIds.counts.unexpectedErrors,
    };

    // The handover gap around each apply: the longest pause between consecutive ingest times that spans it.
    const times = [...new Set(rows.map((r) => Number(r.t)))].sort((a, b) => a - b);
    const gaps = applied.map((a) => ({ ...a, gap: ingestGaps(times, a.startMs, a.endMs) }));
    const overall = ingestGaps(times, start, producedEnd);
    console.log(
      [
        `[cluster zero-loss] cluster ${CLUSTER} (one node, Replicated engines run plain: ${node.plain} CREATEs); produced ${good.size} good + ${produced.length - good.size} malformed in ${((producedEnd - start) / 1000).toFixed(1)} s; queues had partitions ${firstAssignmentMs} ms after 0001 (session timeout ${SESSION_TIMEOUT_MS} ms)`,
        ...plans.map((p) => `  plan ${p}`),
        ...gaps.map((g) => `  ${g.version}_${g.name}: applied +${g.startMs - start}…+${g.endMs - start} ms (${g.endMs - g.startMs} ms); handover gap ${g.gap.ms} ms from +${g.gap.fromMs - start} ms`),
        `  longest gap overall ${overall.ms} ms from +${overall.fromMs - start} ms; settled ${settle.settled ? 'yes' : 'NO'} ${settle.ms} ms after production (committed ${settle.committed})`,
        `  events (Distributed) ${rows.length} rows, events_local ${localIds.length}, events_errors ${errors.length} (local ${localErrors?.n}); events_agg sum(n) ${aggTotal} over ${agg.length} buckets, events_agg_errors ${aggErrors.length}; total covers ${(100 * totalCovered).toFixed(1)} % of the values (the measure counts from 0005 on), buckets whose total exceeds their values ${totalOverSum}`,
        `  missing ${counts.missingGood}, duplicates ${counts.duplicateGood}${counts.duplicateGood ? ' (at-least-once: delivered more than once, none lost)' : ''}, unexpected ${counts.unexpectedRows}; ${JSON.stringify(counts)}`,
      ].join('\n'),
    );

    expect(applied.map((a) => a.name)).toEqual(APPLIED_STAGES.slice(1));
    expect(produced).toHaveLength(TOTAL);
    expect(settle.settled).toBe(true);
    // No kill here: the at-least-once contract allows no duplicate, and no message may be lost.
    expect(counts).toEqual(NO_STAGED_LOSS);
    expect(rows).toHaveLength(good.size);
    expect(errors).toHaveLength(produced.length - good.size);
    // events_local holds exactly what the Distributed events reads.
    const sortedIds = (r: readonly { id: string }[]) => r.map((x) => Number(x.id)).sort((a, b) => a - b);
    expect(sortedIds(localIds)).toEqual(sortedIds(rows));
    expect(Number(localErrors?.n)).toBe(errors.length);
    expect(aggTotal).toBe(good.size);
    expect(totalOverSum).toBe(0);

    // 6. The new measure through the Distributed state: a bucket of ids produced once everything settled (read in
    // blocks that began long after 0005) comes out with its count and its total exact.
    const late = Array.from({ length: LATE }, (_, i) => LATE_FROM + i);
    await produceValues(bootstrap, topic, late.map((id) => JSON.stringify({ id, value: id % 1000, note: `n${id}` })), PARTITIONS);
    const bucket = Math.floor(LATE_FROM / 1000);
    const lateRow = async () => (await d.query<{ n: string; total: string }>(`SELECT n, total FROM ${db}.events_agg WHERE bucket = ${bucket}`))[0];
    const lateStarted = Date.now();
    while (Number((await lateRow())?.n ?? 0) < LATE && Date.now() - lateStarted < 60_000) await sleep(250);
    const lateAgg = await lateRow();
    console.log(`  bucket ${bucket} produced after settling: n ${lateAgg?.n}, total ${lateAgg?.total} (expected ${LATE}, ${late.reduce((x, id) => x + (id % 1000), 0)})`);
    expect({ n: Number(lateAgg?.n), total: Number(lateAgg?.total) }).toEqual({ n: LATE, total: late.reduce((x, id) => x + (id % 1000), 0) });
  });
});
