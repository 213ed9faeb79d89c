/**
 * Faults under continuous production with unique ids, through `chpipe serve`
 * and `chpipe apply --url`:
 *
 * (a) the broker stopped for 10 s and let run again: SIGSTOP / SIGCONT of its
 *     PID (its connections stay open and nothing answers, as with a hung host
 *     or a network partition; a real stop and start of the JVM takes 5–25 s on
 *     this machine). The test starts a broker of its own for this, so the
 *     run's shared broker (other files run against it meanwhile) never stops.
 * (b) the `chpipe serve` process killed with SIGKILL (its engine process, its
 *     child, must end with it: checked by PID), then `chpipe serve` started
 *     again on the same data dir.
 *
 * Afterwards every id is present (duplicates are counted and printed: after a
 * kill the at-least-once contract allows them), and consumption resumed within
 * a stated time after each fault (printed, and bounded).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpDriver } from '../../src/engine/http.js';
import { chpipeAsync, tempDir, tempProject } from '../helpers/cli.js';
import { createTopic, endOffsets, ingestGaps, produceContinuously, produceProbe, uniqueTopic, waitCommitted, type ProducedMessage } from '../helpers/kafka.js';
import { isAlive } from '../helpers/processes.js';
import { startServe, type Server } from '../migrate/target.js';
import { startBroker, type Broker } from './broker.js';
import { events } from './zero-loss.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** The PIDs of a process's children (`ps --ppid`). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when nothing matched
  }
}

/** Whether `ps` still lists a PID (a zombie counts as gone). */
function psAlive(pid: number): boolean {
  try {
    const state = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return state !== '' && !state.startsWith('Z');
  } catch {
    return false;
  }
}

const TOTAL = 5_000;
const MALFORMED_EVERY = 50;
const PARTITIONS = 2;
/** Consumption must resume within this long after a fault ends (librdkafka's default 45 s session timeout plus a rebalance). */
const RESUME_BOUND_MS = 90_000;

let broker: Broker | undefined;
const servers: Server[] = [];
const strays: number[] = [];
beforeAll(async () => {
  broker = await startBroker({ ready: produceProbe, log: (line) => console.log(`[kafka faults] ${line}`) });
}, 120_000);
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const pid of strays) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await broker?.stop();
});

describe('faults under load: the broker stopped for 10 s, chpipe serve killed with -9 and restarted', () => {
  it('keeps every id and resumes consuming within a bound after each fault', { timeout: 300_000 }, async () => {
    const bootstrap = broker!.bootstrap;
    const env = { KAFKA_BROKERS: bootstrap };
    const topic = uniqueTopic('zl_faults');
    const db = `zl_faults_${process.pid}`;
    await createTopic(bootstrap, topic, PARTITIONS);
    const dir = tempProject(
      {
        'schemas/events.yaml': events(topic, 1),
      },
      `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 500 }\n`,
    );
    const saved = await chpipeAsync(['plan', '--save', 'initial'], dir, env);
    if (saved.code !== 0) throw new Error(`chpipe plan --save exited ${saved.code}: ${saved.stderr}`);

    const dataDir = join(tempDir('chpipe-faults-data-'), 'data');
    let server = await startServe(dataDir);
    servers.push(server);
    const applied = await chpipeAsync(['apply', '--url', server.url], dir, env);
    if (applied.code !== 0) throw new Error(`chpipe apply --url exited ${applied.code}:\n${applied.stdout}\n${applied.stderr}`);
    let driver = await HttpDriver.connect(server.url);
    const assigned = async (d: HttpDriver) => {
      const [r] = await d.query<{ n: string }>(`SELECT sum(length(assignments.partition_id)) AS n FROM system.kafka_consumers WHERE database = '${db}'`);
      return Number(r?.n ?? 0) > 0;
    };
    const created = Date.now();
    while (!(await assigned(driver))) {
      if (Date.now() - created > 90_000) throw new Error(`${db}.events_queue had no partitions 90 s after it was created`);
      await sleep(200);
    }

    const start = Date.now();
    const producing = produceContinuously(bootstrap, {
      topic,
      partitions: PARTITIONS,
      total: TOTAL,
      batch: 50,
      intervalMs: 250,
      message: (id) => (id % MALFORMED_EVERY === 0 ? { value: `{"id":${id},"value":`, malformed: true } : { value: JSON.stringify({ id, value: id % 1000 }), malformed: false }),
    });
    let producerDone = false;
    void producing.then(
      () => (producerDone = true),
      () => (producerDone = true),
    );

    // (a) the broker stopped for 10 s.
    await sleep(3000);
    const pausedAt = Date.now();
    broker!.pause();
    await sleep(10_000);
    broker!.resume();
    const resumedAt = Date.now();

    // (b) chpipe serve and its engine process killed with -9, serve started again on the same data dir.
    await sleep(5000);
    const servePid = server.child.pid!;
    const engines = childPids(servePid);
    await driver.close();
    const killedAt = Date.now();
    const exited = new Promise((ok) => server.child.once('exit', ok));
    process.kill(servePid, 'SIGKILL');
    await exited;
    while (engines.some(psAlive) && Date.now() - killedAt < 15_000) await sleep(100);
    const enginesLeft = engines.filter(psAlive);
    strays.push(...enginesLeft);
    const engineGoneMs = Date.now() - killedAt;
    // Kill a stray engine by PID so the restart can open the data dir (a finding either way, asserted below).
    for (const pid of enginesLeft) process.kill(pid, 'SIGKILL');
    const producingAtKill = !producerDone;
    server = await startServe(dataDir);
    servers.push(server);
    const restartedAt = Date.now();
    driver = await HttpDriver.connect(server.url);
    try {
      const produced: ProducedMessage[] = await producing;
      const producedEnd = Date.now();
      const producedSeconds = (producedEnd - start) / 1000;

      const ends = await endOffsets(bootstrap, topic);
      const inTopic = [...ends.values()].reduce((s, o) => s + o, 0n);
      if (inTopic !== BigInt(produced.length)) throw new Error(`the topic holds ${inTopic} messages but ${produced.length} were produced`);
      const settle = await waitCommitted({
        bootstrap,
        topic,
        groups: [`chpipe_${db}_events`],
        ends,
        boundMs: 120_000,
        quietMs: 2500,
        counts: async () => {
          const [r] = await driver.query<{ c: string }>(`SELECT concat(toString((SELECT count() FROM ${db}.events)), '/', toString((SELECT count() FROM ${db}.events_errors))) AS c`);
          return r?.c ?? '';
        },
      });

      const rows = await driver.query<{ id: string; t: string }>(`SELECT id, toUnixTimestamp64Milli(ingested_at) AS t FROM ${db}.events`);
      const errors = await driver.query<{ p: string; o: string }>(`SELECT partition AS p, offset AS o FROM ${db}.events_errors`);
      const good = new Map(produced.filter((m) => !m.malformed).map((m) => [m.id, m]));
      const bad = new Set(produced.filter((m) => m.malformed).map((m) => `${m.partition}:${m.offset}`));
      const seen = new Map<number, number>();
      let unexpectedRows = 0;
      for (const r of rows) {
        const id = Number(r.id);
        if (!good.has(id)) unexpectedRows++;
        else seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      const seenErr = new Map<string, number>();
      let unexpectedErrors = 0;
      for (const e of errors) {
        const key = `${e.p}:${e.o}`;
        if (!bad.has(key)) unexpectedErrors++;
        else seenErr.set(key, (seenErr.get(key) ?? 0) + 1);
      }
      const counts = {
        missingGood: [...good.keys()].filter((id) => !seen.has(id)).length,
        missingErrors: [...bad].filter((k) => !seenErr.has(k)).length,
        unexpectedRows,
        unexpectedErrors,
      };
      const duplicates = { good: [...seen.values()].reduce((s, n) => s + n - 1, 0), errors: [...seenErr.values()].reduce((s, n) => s + n - 1, 0) };

      // Resumption: the first row ingested after each fault ended.
      const times = [...new Set(rows.map((r) => Number(r.t)))].sort((a, b) => a - b);
      const firstAfter = (t: number) => times.find((x) => x >= t);
      const brokerResumeMs = (firstAfter(resumedAt) ?? Infinity) - resumedAt;
      const serveResumeMs = (firstAfter(restartedAt) ?? Infinity) - restartedAt;
      const pauseGap = ingestGaps(times, pausedAt, resumedAt);
      const killGap = ingestGaps(times, killedAt, restartedAt);
      console.log(
        [
          `[faults] produced ${good.size} good + ${bad.size} malformed in ${producedSeconds.toFixed(1)} s (own broker, SIGSTOP/SIGCONT for the stop)`,
          `  (a) broker stopped +${pausedAt - start}…+${resumedAt - start} ms; first row after it ${brokerResumeMs} ms after SIGCONT; ingest gap ${pauseGap.ms} ms from +${pauseGap.fromMs - start} ms`,
          `  (b) serve (pid ${servePid}) killed -9 at +${killedAt - start} ms, producer ${producingAtKill ? 'still running' : 'already done'}; engine pid(s) ${engines.join(',') || 'none found'} ${enginesLeft.length ? `STILL ALIVE after ${engineGoneMs} ms (killed by the test)` : `gone within ${engineGoneMs} ms`}`,
          `      serve restarted ${restartedAt - killedAt} ms after the kill; first row after the restart ${serveResumeMs} ms after it; ingest gap ${killGap.ms} ms from +${killGap.fromMs - start} ms`,
          `  settled ${settle.settled ? 'yes' : 'NO'} ${settle.ms} ms after production (${settle.committed}); events ${rows.length} rows, events_errors ${errors.length}`,
          `  duplicates: ${duplicates.good} good, ${duplicates.errors} error rows; ${JSON.stringify(counts)}`,
        ].join('\n'),
      );

      expect(good.size + bad.size).toBe(TOTAL);
      expect(producedSeconds).toBeGreaterThanOrEqual(10);
      expect(producingAtKill).toBe(true);
      expect(engines.length).toBeGreaterThan(0);
      expect(enginesLeft).toEqual([]);
      expect(settle.settled).toBe(true);
      expect(counts).toEqual({ missingGood: 0, missingErrors: 0, unexpectedRows: 0, unexpectedErrors: 0 });
      expect(brokerResumeMs).toBeLessThan(RESUME_BOUND_MS);
      expect(serveResumeMs).toBeLessThan(RESUME_BOUND_MS);
    } finally {
      await driver.close();
    }
  });
});
