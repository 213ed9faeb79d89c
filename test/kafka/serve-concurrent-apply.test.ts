/**
 * Two `chpipe apply --url` processes at once against one `chpipe serve`, while
 * a producer writes to the topics their Kafka tables read.
 *
 * Before the fix, the engine process took its requests on stdin, and the
 * embedded engine reads the process's stdin as more data for every INSERT with
 * inline data (the history row): while one apply's INSERT ran, the other
 * apply's request waiting in that pipe was read by the engine, so the INSERT
 * failed with NOT_IMPLEMENTED ("Processing async inserts with both inlined and
 * external data") and the swallowed request was never answered (the other
 * apply hung until its 5-minute request timeout).
 *
 * Two projects on two databases, each an ingest pipeline on its own topic;
 * both apply 0001 at once, then both apply 0002 (a column added end to end:
 * the Kafka table and view dropped and created again) at once. Then the same
 * project twice at once on one database: the target's lock lets one apply and
 * the other finds nothing left to do. Every apply exits 0, each database holds
 * its own history, and each table holds rows from its own topic only.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpDriver } from '../../src/engine/http.js';
import { chpipeAsync, tempDir, type CliResult } from '../helpers/cli.js';
import { createTopic, kafkaBootstrap, produceContinuously, uniqueTopic } from '../helpers/kafka.js';
import { project, type Project } from '../helpers/plan.js';
import { startServe, type Server } from '../migrate/target.js';

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

const events = (topic: string, stage: number) =>
  [
    'name: events',
    'source:',
    `  topic: ${topic}`,
    '  format: JSONEachRow',
    '  on_error: stream',
    'columns:',
    '  id: UInt64',
    '  origin: String',
    ...(stage >= 2 ? ['  note: String'] : []),
    'table:',
    '  order_by: [id]',
    '',
  ].join('\n');

let server: Server | undefined;
let driver: HttpDriver | undefined;
afterAll(async () => {
  await driver?.close();
  await server?.stop();
});

interface Side {
  readonly label: string;
  readonly db: string;
  readonly topic: string;
  readonly project: Project;
}

/** Per version in a database's history (one row per event): its number, how many attempts ran, its latest status. */
async function history(d: HttpDriver, db: string): Promise<[number, number, string][]> {
  const rows = await d.query<{ version: string; attempts: string; status: string }>(
    `SELECT version, uniqExact(attempt) AS attempts, argMax(status, (attempt, seq)) AS status FROM ${db}._chpipe_migrations GROUP BY version ORDER BY version`,
  );
  return rows.map((r) => [Number(r.version), Number(r.attempts), r.status]);
}

function applied(r: CliResult, what: string): void {
  expect(r.code, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stderr).not.toMatch(/NOT_IMPLEMENTED|Timeout|at .*\.js:\d+/);
}

describe('chpipe serve with two chpipe apply --url at once', () => {
  it('applies two projects on two databases at once, twice, and one project twice at once, under production', { timeout: 240_000 }, async () => {
    const bootstrap = kafkaBootstrap();
    process.env.KAFKA_BROKERS = bootstrap;
    const sides: Side[] = [];
    for (const label of ['a', 'b']) {
      const db = `cc_${label}_${process.pid}`;
      const topic = uniqueTopic(`cc_${label}`);
      await createTopic(bootstrap, topic, 1);
      const yaml = `version: 1\ndatabase: ${db}\nkafka:\n  brokers: \${KAFKA_BROKERS}\n  settings: { kafka_flush_interval_ms: 300 }\n`;
      const p = project({ 'schemas/events.yaml': events(topic, 1) }, yaml);
      await p.save('initial');
      sides.push({ label, db, topic, project: p });
    }

    server = await startServe(join(tempDir('chpipe-cc-data-'), 'data'));
    const url = server.url;
    driver = await HttpDriver.connect(url);
    const d = driver;

    // Production runs through both rounds: messages arrive while the Kafka tables are created and recreated.
    let stop = false;
    const producing = sides.map((s) =>
      (async () => {
        let sent = 0;
        while (!stop) {
          const batch = await produceContinuously(bootstrap, { topic: s.topic, partitions: 1, total: 50, batch: 50, intervalMs: 0, message: (id) => ({ value: JSON.stringify({ id: sent + id, origin: s.label, note: 'n' }), malformed: false }) });
          sent += batch.length;
          await sleep(100);
        }
        return sent;
      })(),
    );

    try {
      // Round 1: 0001 on both databases at once.
      const round1 = await Promise.all(sides.map((s) => chpipeAsync(['apply', '--url', url], s.project.dir, { KAFKA_BROKERS: bootstrap })));
      round1.forEach((r, i) => applied(r, `apply 0001 of ${sides[i]!.db}`));

      // Round 2: 0002 (the Kafka table and its view dropped and created again) on both at once.
      for (const s of sides) {
        s.project.write('schemas/events.yaml', events(s.topic, 2));
        const plan = await s.project.save('add_note');
        expect(plan.steps.length).toBeGreaterThan(0);
      }
      const round2 = await Promise.all(sides.map((s) => chpipeAsync(['apply', '--url', url], s.project.dir, { KAFKA_BROKERS: bootstrap })));
      round2.forEach((r, i) => applied(r, `apply 0002 of ${sides[i]!.db}`));

      // Each database: its own history, both versions applied, each in one attempt.
      for (const s of sides) expect(await history(d, s.db), s.db).toEqual([[1, 1, 'applied'], [2, 1, 'applied']]);

      // Rows flow into each database from its own topic only (waiting for the recreated consumers, within a bound).
      const bound = Date.now() + 120_000;
      let counts: { db: string; own: number; other: number }[] = [];
      while (Date.now() < bound) {
        counts = [];
        for (const s of sides) {
          const [row] = await d.query<{ own: string; other: string }>(`SELECT countIf(origin = '${s.label}') AS own, countIf(origin != '${s.label}') AS other FROM ${s.db}.events WHERE note = 'n'`);
          counts.push({ db: s.db, own: Number(row?.own ?? 0), other: Number(row?.other ?? 0) });
        }
        if (counts.every((c) => c.own > 0)) break;
        await sleep(500);
      }
      expect(counts.map((c) => c.other)).toEqual([0, 0]);
      expect(counts.every((c) => c.own > 0), `rows with the new column in each database: ${JSON.stringify(counts)}`).toBe(true);

      // The same project twice at once on one database: the target's lock lets one apply 0003, the other waits and finds it applied.
      const s = sides[0]!;
      s.project.write('schemas/events.yaml', events(s.topic, 2).replace('  note: String', '  note: String\n  extra: UInt8'));
      await s.project.save('add_extra');
      const twin = tempDir('chpipe-cc-twin-');
      cpSync(s.project.dir, twin, { recursive: true });
      const same = await Promise.all([chpipeAsync(['apply', '--url', url], s.project.dir, { KAFKA_BROKERS: bootstrap }), chpipeAsync(['apply', '--url', url], twin, { KAFKA_BROKERS: bootstrap })]);
      same.forEach((r, i) => applied(r, `apply 0003 of ${s.db}, copy ${i + 1}`));
      expect(await history(d, s.db)).toEqual([[1, 1, 'applied'], [2, 1, 'applied'], [3, 1, 'applied']]);
    } finally {
      stop = true;
      await Promise.allSettled(producing);
    }
    const sent = await Promise.all(producing);
    console.log(`[serve concurrent apply] produced ${sent.join(' + ')} messages during the applies`);
  });
});
