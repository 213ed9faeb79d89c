/**
 * The randomized change generator (test/helpers/generator.ts) under live
 * production, on the run's real broker and a `chpipe serve` target.
 *
 * For a few fixed seeds: the case's base project is saved (`chpipe plan
 * --save base`) and applied (`chpipe apply --url`); the generated change is
 * saved as the next migration before production starts (`--allow-destructive`
 * only when `plan --save` refused it with exit 3); then every consuming
 * pipeline's topic receives unique ids continuously while `chpipe apply --url`
 * runs the change, and production goes on after it. Once every group
 * committed the topic's end offsets, each ingest table is checked id by id
 * with the shared checker (zero-loss.ts), the pipeline's filter deciding which
 * ids it keeps:
 *
 *   every step safe or caution  no id lost (each produced id is in the table at
 *                               least once). Duplicates are counted and
 *                               printed: a new consumer group (the `group`
 *                               change, a caution step that says it reads the
 *                               topic again) re-reads everything.
 *   a destructive step          what the step destroys is its point (a column,
 *                               a table rebuilt), so loss during the change is
 *                               printed, not judged; checked instead: `plan
 *                               --save` refuses it without --allow-destructive,
 *                               and every id sent after the apply ended is in the
 *                               table (the pipeline runs again after the change).
 *
 * Every case also checks that ids sent after the apply are present, and no row
 * appears that was not produced. The cases are adapted to the live broker and
 * nothing else: a database, topics and groups of their own, the run's broker
 * for every source, 500 ms flushes; the chosen seeds read JSONEachRow, so the
 * generated fields are sent as JSON objects. Aggregates are not checked by id
 * (the chosen seeds have none).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/cli/project.js';
import { HttpDriver } from '../../src/engine/http.js';
import { qualified, stringLiteral } from '../../src/sql/quote.js';
import { chpipeAsync, tempProject, type CliResult } from '../helpers/cli.js';
import { CHANGE_KINDS, generateCase, messageFields, messagesFor, renderSchemas, type Case, type ChangeKind, type PipelineDraft, type ProjectDraft } from '../helpers/generator.js';
import { createTopic, endOffsets, kafkaBootstrap, produceContinuously, waitCommitted, type ProducedMessage } from '../helpers/kafka.js';
import { startServe, type Server } from '../migrate/target.js';
import { accountForIds, type IdCounts } from './zero-loss.js';

/**
 * The change kinds run live, each on the first seed that draws it with a case this test can run (see
 * `liveCase`): a metadata change, a rename, a queue recreated, a re-read (new group), a column added beside a
 * publish flow, two destructive ones (a rebuild, a dropped column), and a message field parsed without being
 * stored (`source.fields`: the queue recreated with one more field), and a path into a nested field changed
 * (the view's query swapped while nested messages flow). Chosen by kind, not by seed number, so a
 * generator that gains a change kind (which moves every seed to another kind) keeps this test's coverage.
 */
const KINDS: readonly { kind: ChangeKind; publish?: boolean }[] = [
  { kind: 'retype_column' },
  { kind: 'rename_column' },
  { kind: 'consumers' },
  { kind: 'group' },
  { kind: 'add_column', publish: true },
  { kind: 'order_by' },
  { kind: 'drop_column' },
  { kind: 'add_field' },
  { kind: 'path' },
];
/** Messages per consuming pipeline, in batches of BATCH every INTERVAL_MS (≈ 8 s). */
const TOTAL = 3000;
const BATCH = 40;
const INTERVAL_MS = 100;
const PARTITIONS = 2;
/**
 * Cases at a time. One: two `chpipe apply --url` at once on one `chpipe serve` (different
 * databases) failed here, one with the engine's NOT_IMPLEMENTED "Processing async inserts with
 * both inlined and external data", the other hanging past 120 s.
 */
const PARALLEL = 1;

/**
 * The first case of `kind` this test can run: ingest pipelines only, read as JSONEachRow before and after, a
 * filter it can evaluate and the change leaves alone, a topic read before and after, and no partition_by
 * toYYYYMM(ts) (the generated times span 117 months: a Kafka block over more than 100 partitions stalls).
 */
function liveCase(kind: ChangeKind, publish = false): Case {
  for (let seed = CHANGE_KINDS.indexOf(kind); seed < 40_000; seed += CHANGE_KINDS.length) {
    const c = generateCase(seed);
    if (c.change.kind !== kind || (publish && !c.base.pipelines.some((p) => p.kind === 'publish'))) continue;
    const runnable = c.changed.pipelines.every((p) => {
      if (p.kind === 'publish') return true;
      const before = c.base.pipelines.find((b) => b.name === p.name);
      if (!before) return false;
      if (before.kind !== 'ingest' || p.kind !== 'ingest' || before.partitionBy !== undefined || p.partitionBy !== undefined) return false;
      if (before.source.format !== 'JSONEachRow' || p.source.format !== 'JSONEachRow' || p.filter !== before.filter) return false;
      return (p.filter === undefined || FILTERS[p.filter] !== undefined) && before.source.topics.some((t) => p.source.topics.includes(t));
    });
    if (runnable && c.base.pipelines.every((p) => p.kind !== 'aggregate')) return c;
  }
  throw new Error(`no generated case of ${kind} that this test can run live`);
}

/** The filters the generator draws, evaluated on a message's fields. */
const FILTERS: Readonly<Record<string, (m: Record<string, unknown>) => boolean>> = {
  'id > 1': (m) => Number(m.id) > 1,
  'id > 3': (m) => Number(m.id) > 3,
  'id % 3 != 0': (m) => Number(m.id) % 3 !== 0,
  'qty > -45': (m) => Number(m.qty) > -45,
  'qty > 0': (m) => Number(m.qty) > 0,
  'amount >= 0': (m) => Number(m.amount) >= 0,
  "country != 'zz'": (m) => m.country !== 'zz',
  "level != 'zz'": (m) => m.level !== 'zz',
  "level != 'debug'": (m) => m.level !== 'debug',
};

/** The case on the live broker: its own database, topics and groups; every source on the run's broker. */
function liveDraft(d: ProjectDraft, database: string, suffix: string, brokers: string): ProjectDraft {
  const pipelines = d.pipelines.map((p): PipelineDraft => {
    if (p.kind === 'publish') return { ...p, topic: `${p.topic}_${suffix}` };
    const { brokers: _brokers, ...source } = p.source;
    return { ...p, source: { ...source, topics: source.topics.map((t) => `${t}_${suffix}`), ...(source.group !== undefined ? { group: `${source.group}_${suffix}` } : {}) } };
  });
  return { ...d, database, brokers, pipelines };
}

function topicsOf(d: ProjectDraft): string[] {
  return d.pipelines.flatMap((p) => (p.kind === 'publish' ? [p.topic] : p.source.topics));
}

/** A tiny semaphore: at most `n` holders at a time. */
function limit(n: number): <T>(run: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (run) => {
    if (active >= n) await new Promise<void>((go) => waiting.push(go));
    active++;
    try {
      return await run();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function must(r: CliResult, what: string, codes: readonly number[] = [0]): CliResult {
  if (!codes.includes(r.code)) throw new Error(`${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface PlannedStep {
  object: string;
  action: string;
  risk: 'safe' | 'caution' | 'destructive';
  reason: string;
}

interface Checked {
  pipeline: string;
  table: string;
  produced: number;
  expected: number;
  counts: IdCounts;
  /** Expected ids sent after the apply ended that have no row. */
  missingAfterApply: number;
}

let server: Server | undefined;
let driver: HttpDriver | undefined;
const dataRoot = mkdtempSync(join(tmpdir(), 'chpipe-generator-live-'));
const slot = limit(PARALLEL);

beforeAll(async () => {
  server = await startServe(join(dataRoot, 'data'));
  driver = await HttpDriver.connect(server.url);
}, 120_000);
afterAll(async () => {
  await driver?.close();
  await server?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
});

async function runCase(c: Case): Promise<{ steps: PlannedStep[]; refusedWithout: boolean; checked: Checked[]; applyMs: number; report: string }> {
  const bootstrap = kafkaBootstrap();
  const http = driver!;
  const url = server!.url;
  const suffix = `${c.seed}_${process.pid}_${Date.now().toString(36)}`;
  const database = `gen_live_${c.seed}_${process.pid}`;
  const base = liveDraft(c.base, database, suffix, bootstrap);
  const changed = liveDraft(c.changed, database, suffix, bootstrap);
  for (const topic of new Set([...topicsOf(base), ...topicsOf(changed)])) await createTopic(bootstrap, topic, PARTITIONS);
  const projectYaml = `version: 1\ndatabase: ${database}\nkafka:\n  brokers: ${bootstrap}\n  settings: { kafka_flush_interval_ms: 500 }\n`;
  const dir = tempProject(renderSchemas(base), projectYaml);

  // The base, saved and applied; then the change saved while nothing is produced yet.
  must(await chpipeAsync(['plan', '--save', 'base'], dir), `seed ${c.seed}: chpipe plan --save base`);
  must(await chpipeAsync(['apply', '--url', url], dir), `seed ${c.seed}: chpipe apply (base)`);
  for (const f of readdirSync(join(dir, 'schemas'))) rmSync(join(dir, 'schemas', f));
  for (const [path, text] of Object.entries(renderSchemas(changed))) writeFileSync(join(dir, path), text);
  const first = must(await chpipeAsync(['plan', '--save', 'change', '--json'], dir), `seed ${c.seed}: chpipe plan --save change`, [0, 3]);
  const refusedWithout = first.code === 3;
  if (refusedWithout) must(await chpipeAsync(['plan', '--save', 'change', '--allow-destructive'], dir), `seed ${c.seed}: chpipe plan --save change --allow-destructive`);
  const steps = (JSON.parse(first.stdout) as { steps: PlannedStep[] }).steps;

  // The consuming pipelines: what they read, from where, keeping which messages.
  const spec = loadProject(join(dir, 'chpipe.yaml'), {}).project;
  if (!spec) throw new Error(`seed ${c.seed}: the changed project does not load`);
  const flows = changed.pipelines.flatMap((p) => {
    const before = base.pipelines.find((b) => b.name === p.name);
    if (p.kind === 'publish' || !before || before.kind === 'publish') return [];
    if (p.source.format !== 'JSONEachRow' || before.source.format !== 'JSONEachRow') throw new Error(`seed ${c.seed}: ${p.name} reads ${before.source.format}/${p.source.format}; this test sends JSON objects (choose another seed)`);
    if (p.filter !== before.filter) throw new Error(`seed ${c.seed}: the change alters ${p.name}'s filter; this test keeps one filter per pipeline (choose another seed)`);
    const filter = p.filter === undefined ? () => true : FILTERS[p.filter];
    if (!filter) throw new Error(`seed ${c.seed}: filter ${p.filter} of ${p.name} is not among this test's FILTERS`);
    // The topic read before and after the change: the producer writes there.
    const topic = before.source.topics.find((t) => p.source.topics.includes(t));
    if (!topic) throw new Error(`seed ${c.seed}: ${p.name} reads no topic both before and after the change (choose another seed)`);
    const fields = new Map([...messageFields(before), ...messageFields(p)]);
    const messages = messagesFor(c.seed, p.name, fields, TOTAL).map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('_'))));
    const group = spec.pipelines.find((x) => x.name === p.name && x.kind !== 'publish');
    return [{ pipeline: p, topic, messages, filter, group: group && 'source' in group ? group.source.group : '' }];
  });
  // The consuming pipelines' queues (a publish pipeline's Kafka table writes and is listed with no partitions).
  const queues = base.pipelines.filter((p) => p.kind !== 'publish').map((p) => `${p.name}_queue`);

  // Every queue has partitions before production starts.
  const created = Date.now();
  for (;;) {
    const rows = await http.query<{ table: string; n: string }>(
      `SELECT table, sum(length(assignments.partition_id)) AS n FROM system.kafka_consumers WHERE database = ${stringLiteral(database)} AND table IN (${queues.map(stringLiteral).join(', ')}) GROUP BY table`,
    );
    if (rows.length === queues.length && rows.every((r) => Number(r.n) > 0)) break;
    if (Date.now() - created > 90_000) throw new Error(`seed ${c.seed}: the queues of ${database} had no partitions 90 s after the base was applied`);
    await new Promise((ok) => setTimeout(ok, 200));
  }

  const start = Date.now();
  const producing = Promise.all(
    flows.map((f) =>
      produceContinuously(bootstrap, { topic: f.topic, partitions: PARTITIONS, total: TOTAL, batch: BATCH, intervalMs: INTERVAL_MS, message: (id) => ({ value: JSON.stringify(f.messages[id - 1]), malformed: false }) }),
    ),
  );
  let productionFailed: unknown;
  producing.catch((e: unknown) => (productionFailed = e));
  await new Promise((ok) => setTimeout(ok, 2000));
  if (productionFailed) throw productionFailed;
  const applyStart = Date.now();
  must(await chpipeAsync(['apply', '--url', url], dir), `seed ${c.seed}: chpipe apply (change)`);
  const applyEnd = Date.now();
  const produced: ProducedMessage[][] = await producing;
  const producedEnd = Date.now();
  if (applyEnd > producedEnd) throw new Error(`seed ${c.seed}: the change was applied after the producer finished (+${applyEnd - start} vs +${producedEnd - start} ms): not a change under load`);

  const checked: Checked[] = [];
  for (const [i, f] of flows.entries()) {
    if (f.pipeline.kind !== 'ingest') continue;
    const table = qualified(database, f.pipeline.name);
    const ends = await endOffsets(bootstrap, f.topic);
    const settle = await waitCommitted({
      bootstrap,
      topic: f.topic,
      groups: [f.group],
      ends,
      boundMs: 90_000,
      quietMs: 2000,
      counts: async () => (await http.query<{ n: string }>(`SELECT count() AS n FROM ${table}`))[0]?.n ?? '',
    });
    if (!settle.settled) throw new Error(`seed ${c.seed}: ${f.pipeline.name}'s group ${f.group} did not commit ${f.topic}'s end offsets within 90 s (${settle.committed})`);
    const rows = await http.query<{ id: string }>(`SELECT id FROM ${table}`);
    const sent = produced[i]!;
    const expected = (m: ProducedMessage) => f.filter(f.messages[m.id - 1]!);
    const all = accountForIds({ produced: sent, rows, expected });
    const after = accountForIds({ produced: sent, rows, expected: (m) => m.sentAt > applyEnd && expected(m) });
    checked.push({
      pipeline: f.pipeline.name,
      table,
      produced: sent.length,
      expected: sent.filter(expected).length,
      counts: all.counts,
      missingAfterApply: after.missingIds.length,
    });
  }
  const report = [
    `[generator-live] seed ${c.seed}: ${c.change.kind} — ${c.change.summary}; change applied +${applyStart - start}…+${applyEnd - start} ms (${applyEnd - applyStart} ms), production ended +${producedEnd - start} ms`,
    ...steps.map((s, i) => `  ${i + 1}. ${s.risk} · ${s.action} ${s.object.replace(`${database}.`, '')}: ${s.reason}`),
    ...checked.map(
      (k) =>
        `  ${k.pipeline}: ${k.expected}/${k.produced} ids kept by the filter; missing ${k.counts.missingGood} (after the apply ${k.missingAfterApply}), duplicates ${k.counts.duplicateGood}, unexpected rows ${k.counts.unexpectedRows}`,
    ),
  ].join('\n');
  return { steps, refusedWithout, checked, applyMs: applyEnd - applyStart, report };
}

describe.concurrent('the generated changes under live production (chpipe plan --save, chpipe apply --url against chpipe serve)', () => {
  for (const { kind, publish } of KINDS) {
    const c = liveCase(kind, publish);
    it(`seed ${c.seed}: ${c.change.kind} — ${c.change.summary}`, { timeout: 300_000 }, async () => {
      const r = await slot(() => runCase(c));
      console.log(r.report);
      expect(r.checked.length, r.report).toBeGreaterThan(0);
      const destructive = r.steps.some((s) => s.risk === 'destructive');
      expect(r.refusedWithout, r.report).toBe(destructive);
      for (const k of r.checked) {
        // Every case: nothing appears that was not produced, and the pipeline runs after the change.
        expect(k.counts.unexpectedRows, r.report).toBe(0);
        expect(k.missingAfterApply, r.report).toBe(0);
        // safe and caution steps lose nothing; duplicates are printed above.
        if (!destructive) expect(k.counts.missingGood, r.report).toBe(0);
      }
    });
  }
});
