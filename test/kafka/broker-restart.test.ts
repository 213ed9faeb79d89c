/**
 * Issue 8: the broker really stopped (SIGTERM to its JVM, waited until it exited),
 * left down ~10 s and started again on the same ports and log dir, while a producer
 * writes unique ids into a pipeline consumed by an embedded target in this process
 * (`useKafkaTarget()`; its statements from the real CLI, `chpipe compile`). The test
 * starts a broker of its own for this (the run's shared broker serves other files
 * meanwhile) and stops it by its PID.
 *
 * The producer is idempotent and retries long enough to outlast the outage, so the
 * messages handed to it while the broker was down are written once it is back.
 * Afterwards every id is present; duplicates (at-least-once allows them: a block
 * written before its offsets could be committed is read again) are counted and
 * printed, and the report is asserted to carry the count; consumption resumed
 * after the restart within a generous bound, and the measured time is printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitStatements } from '../../src/sql/parse.js';
import { chpipe, tempProject } from '../helpers/cli.js';
import { createTopic, endOffsets, ingestGaps, produceContinuously, produceProbe, uniqueTopic, waitCommitted, type ProducedMessage } from '../helpers/kafka.js';
import { startBroker, type Broker } from './broker.js';
import { useKafkaTarget } from './zero-loss.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

const TOTAL = 4_000;
const PARTITIONS = 2;
const DOWN_MS = 10_000;
/** Consumption must resume within this long after the broker is back (a generous bound, not a timing claim). */
const RESUME_BOUND_MS = 120_000;

const target = useKafkaTarget();
let broker: Broker | undefined;
beforeAll(async () => {
  broker = await startBroker({ ready: produceProbe, log: (line) => console.log(`[kafka restart] ${line}`) });
}, 120_000);
afterAll(async () => {
  await broker?.stop();
});

/** Poll `check` every 200 ms until it holds; throws `what` after `boundMs`. */
async function until(check: () => Promise<boolean>, boundMs: number, what: string): Promise<number> {
  const t = Date.now();
  while (!(await check())) {
    if (Date.now() - t > boundMs) throw new Error(what);
    await sleep(200);
  }
  return Date.now() - t;
}

describe('the broker stopped with SIGTERM for ~10 s and started again on the same ports and log dir, under continuous production', () => {
  it('keeps every id, reports the duplicates, and resumes consuming', { timeout: 300_000 }, async () => {
    const b = broker!;
    const driver = target();
    const bootstrap = b.bootstrap;
    const topic = uniqueTopic('restart');
    const db = `restart_${process.pid}`;
    await createTopic(bootstrap, topic, PARTITIONS);
    const dir = tempProject(
      {
        'schemas/events.yaml': ['name: events', 'source:', `  topic: ${topic}`, '  format: JSONEachRow', 'columns:', '  id: UInt64', '  value: Int32', '  ingested_at: { type: DateTime64(3), expr: now64(3) }', 'table:', '  order_by: [id]', ''].join('\n'),
      },
      `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`,
    );
    const compiled = chpipe(['compile'], dir, { KAFKA_BROKERS: bootstrap });
    if (compiled.code !== 0) throw new Error(`chpipe compile exited ${compiled.code}: ${compiled.stderr}`);
    try {
      for (const { sql } of splitStatements(compiled.stdout)) if (sql.trim() !== '') await driver.exec(sql);
      const assignedMs = await until(
        async () => {
          const [r] = await driver.query<{ n: string }>(`SELECT sum(length(assignments.partition_id)) AS n FROM system.kafka_consumers WHERE database = '${db}'`);
          return Number(r?.n ?? 0) > 0;
        },
        90_000,
        `${db}.events_queue had no partitions 90 s after it was created`,
      );

      const start = Date.now();
      let producerDone = false;
      const producing = produceContinuously(bootstrap, {
        topic,
        partitions: PARTITIONS,
        total: TOTAL,
        batch: 50,
        intervalMs: 200,
        message: (id) => ({ value: JSON.stringify({ id, value: id % 1000 }), malformed: false }),
        // ≥ 100 s of retries: the outage plus the JVM's restart (5–25 s here).
        retry: { retries: 400, retryDelay: 250 },
      }).finally(() => (producerDone = true));

      await sleep(3000);
      const oldPid = b.pid;
      const haltedAt = Date.now();
      const producingAtHalt = !producerDone;
      const haltMs = await b.halt();
      await sleep(DOWN_MS);
      const restartMs = await b.restart();
      const upAt = Date.now();
      const produced: ProducedMessage[] = await producing;
      const producedSeconds = (Date.now() - start) / 1000;

      const ends = await endOffsets(bootstrap, topic);
      const inTopic = Number([...ends.values()].reduce((s, o) => s + o, 0n));
      const settle = await waitCommitted({
        bootstrap,
        topic,
        groups: [`chpipe_${db}_events`],
        ends,
        boundMs: 120_000,
        quietMs: 2500,
        counts: async () => JSON.stringify(await driver.query(`SELECT count() AS c FROM ${db}.events`)),
      });

      const rows = await driver.query<{ id: string; t: string }>(`SELECT toString(id) AS id, toString(toUnixTimestamp64Milli(ingested_at)) AS t FROM ${db}.events`);
      const ids = new Set(produced.map((m) => m.id));
      const seen = new Map<number, number>();
      for (const r of rows) seen.set(Number(r.id), (seen.get(Number(r.id)) ?? 0) + 1);
      const missing = [...ids].filter((id) => !seen.has(id));
      const unexpected = [...seen.keys()].filter((id) => !ids.has(id));
      const duplicates = [...seen.values()].reduce((s, n) => s + n - 1, 0);
      const handedWhileDown = produced.filter((m) => m.sentAt >= haltedAt && m.sentAt < upAt).length;
      const afterUp = produced.filter((m) => m.sentAt >= upAt).length;

      const times = [...new Set(rows.map((r) => Number(r.t)))].sort((x, y) => x - y);
      const firstAfterUp = times.find((x) => x >= upAt);
      const resumeMs = firstAfterUp === undefined ? Infinity : firstAfterUp - upAt;
      const gap = ingestGaps(times, haltedAt, upAt);
      const report = [
        `[broker restart] produced ${produced.length} unique ids in ${producedSeconds.toFixed(1)} s (own broker; queue had partitions ${assignedMs} ms after creation)`,
        `  broker pid ${oldPid} SIGTERM at +${haltedAt - start} ms, exited after ${haltMs} ms; down ${DOWN_MS} ms; restarted as pid ${b.pid} on ${bootstrap}, ready (a produce succeeded) ${restartMs} ms after launch`,
        `  producer: ${producingAtHalt ? 'running' : 'DONE'} at the stop; ${handedWhileDown} messages handed to it while the broker was down, ${afterUp} after it was back; topic holds ${inTopic} (${inTopic - produced.length} more than produced)`,
        `  first row ingested ${resumeMs} ms after the broker was back; longest ingest gap ${gap.ms} ms from +${gap.fromMs - start} ms`,
        `  settled ${settle.settled ? 'yes' : 'NO'} ${settle.ms} ms after production (${settle.committed}); events ${rows.length} rows`,
        `  missing: ${missing.length}, unexpected: ${unexpected.length}, duplicates: ${duplicates}`,
      ].join('\n');
      console.log(report);

      expect(producingAtHalt).toBe(true);
      expect(afterUp).toBeGreaterThan(0);
      expect(b.pid).not.toBe(oldPid);
      expect(settle.settled).toBe(true);
      expect({ missing: missing.slice(0, 20), unexpected: unexpected.slice(0, 20) }).toEqual({ missing: [], unexpected: [] });
      expect(rows.length).toBe(produced.length + duplicates);
      // The duplicates are counted and reported, not hidden.
      expect(report).toContain(`duplicates: ${duplicates}`);
      expect(resumeMs).toBeLessThan(RESUME_BOUND_MS);
    } finally {
      await driver.exec(`DROP DATABASE IF EXISTS ${db} SYNC`).catch(() => {});
    }
  });
});
