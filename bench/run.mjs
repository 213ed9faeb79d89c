/**
 * chpipe benchmarks: prints figures, asserts nothing. Run after `npm run build`:
 *
 *   npm run bench                     # or: node bench/run.mjs [--pipelines N] [--startup-runs N] [--runs N] [--apply-runs N]
 *
 * (a) start-up: `chpipe --help` beside a bare `node -e 0` (goal: ≤ 1.3×);
 * (b) a generated project of 1,000 pipelines (bench/generate.mjs):
 *     `chpipe compile` (goal ≤ 1 s) and `chpipe validate` (goal ≤ 5 s),
 *     cold (--no-cache: every question asked of the engine, every statement run)
 *     and warm (the memo in .chpipe/cache answers what this engine already said);
 * (c) the same project saved as one migration: a no-op `chpipe plan` (goal ≤ 3 s),
 *     warm and cold, and the queries used to read a state back (goal: constant, ≤ 5),
 *     also on a tenth of the project to show it does not grow;
 * (d) bench/apply.mjs (also runnable alone: node bench/apply.mjs [--pipelines N] [--runs N]):
 *     `chpipe apply` of the initial migration of a project like (b)'s, on a fresh embedded target and over HTTP
 *     (`chpipe serve`), beside the same statements run directly through the same driver
 *     (goal: chpipe ≤ 1.2× direct), and the time to read a target's state back (`inspectDatabase`)
 *     at a tenth of the pipelines and all of them, with its query count (constant: 2);
 *     --apply-runs N (default 1) is its --runs. `node bench/apply.mjs --profile` shows where
 *     apply's time goes.
 * (e) bench/kafka.mjs (also runnable alone: node bench/kafka.mjs [--messages N] [--samples N]), on a real
 *     Kafka broker (the test harness's; Java 17+ and Maven): ingest throughput of a generated pipeline
 *     beside the same pipeline written by hand (goal ratio ≥ 1.0), produce-to-queryable latency in
 *     `chpipe dev` (goal p50 ≤ 0.5 s), and the handover gap when chpipe recreates a Kafka table
 *     (goal ≤ 2 s with one consumer), and with `consumers: 3`. --kafka-messages N is its --messages;
 *     --no-kafka skips it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateProject, writeProject } from './generate.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin/chpipe.js');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : fallback;
}

const PIPELINES = option('pipelines', 1000);
const STARTUP_RUNS = Math.max(15, option('startup-runs', 21));
const RUNS = option('runs', 3);

/** Wall time of one child process, in ms, with its exit code. */
function timeOnce(args, cwd = ROOT) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, code: r.status, stderr: r.stderr ?? '', stdout: r.stdout ?? '' };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Run `args` `runs` times. No warm-up run: each takes seconds, and the disk cache is warm after generating. */
function measure(args, runs, cwd) {
  const times = [];
  let last;
  for (let i = 0; i < runs; i++) {
    last = timeOnce(args, cwd);
    times.push(last.ms);
  }
  return { times, median: median(times), min: Math.min(...times), last };
}

const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
  console.log('dist/ is missing: run `npm run build` first.');
  process.exit(0);
}

console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);

// (a) start-up. Alternate the two commands so drift (CPU frequency, caches) hits both alike.
const bare = [];
const help = [];
timeOnce(['-e', '0']);
timeOnce([BIN, '--help']);
for (let i = 0; i < STARTUP_RUNS; i++) {
  bare.push(timeOnce(['-e', '0']).ms);
  help.push(timeOnce([BIN, '--help']).ms);
}
const ratio = median(help) / median(bare);

// (b) a generated project.
const project = generateProject({ pipelines: PIPELINES });
const dir = writeProject(project);
const { counts } = project;
const compileCold = measure([BIN, 'compile', '--no-cache'], RUNS, dir);
const validateCold = measure([BIN, 'validate', '--json', '--no-cache'], RUNS, dir);
timeOnce([BIN, 'validate'], dir); // fills the memo
const compile = measure([BIN, 'compile'], RUNS, dir);
const validate = measure([BIN, 'validate', '--json'], RUNS, dir);
let statements = '?';
try {
  statements = JSON.parse(validateCold.last.stdout).statements;
} catch {
  // reported below
}

// (c) plan over the project saved as one migration.
const save = timeOnce([BIN, 'plan', '--save', 'initial'], dir);
const planWarm = measure([BIN, 'plan', '--json'], RUNS, dir);
const planCold = measure([BIN, 'plan', '--json', '--no-cache'], 1, dir);
const readQueries = (m) => {
  try {
    const p = JSON.parse(m.last.stdout);
    return { steps: p.steps.length, queries: p.stats.stateReadQueries };
  } catch {
    return { steps: '?', queries: '?' };
  }
};
const small = generateProject({ pipelines: Math.max(1, Math.round(PIPELINES / 10)) });
const smallDir = writeProject(small);
timeOnce([BIN, 'plan', '--save', 'initial'], smallDir);
const smallPlan = measure([BIN, 'plan', '--json', '--no-cache'], 1, smallDir);
rmSync(smallDir, { recursive: true, force: true });

const verdict = (ok) => (ok ? 'met' : 'MISSED');
console.log(
  table([
    ['measure', 'runs', 'median', 'min', 'goal', ''],
    ['node -e 0', STARTUP_RUNS, fmt(median(bare)), fmt(Math.min(...bare)), '', ''],
    ['chpipe --help', STARTUP_RUNS, fmt(median(help)), fmt(Math.min(...help)), '', ''],
    ['  --help / node -e 0', '', `${ratio.toFixed(2)}×`, `${(Math.min(...help) / Math.min(...bare)).toFixed(2)}×`, '≤ 1.30×', verdict(ratio <= 1.3)],
    [`compile, cold (${PIPELINES} pipelines)`, RUNS, fmt(compileCold.median), fmt(compileCold.min), '≤ 1 s', verdict(compileCold.median <= 1000)],
    [`compile, warm`, RUNS, fmt(compile.median), fmt(compile.min), '≤ 1 s', verdict(compile.median <= 1000)],
    [`validate, cold`, RUNS, fmt(validateCold.median), fmt(validateCold.min), '≤ 5 s', verdict(validateCold.median <= 5000)],
    [`validate, warm`, RUNS, fmt(validate.median), fmt(validate.min), '≤ 5 s', verdict(validate.median <= 5000)],
    [`plan --save initial (first, cold)`, 1, fmt(save.ms), fmt(save.ms), '', ''],
    [`no-op plan, warm`, RUNS, fmt(planWarm.median), fmt(planWarm.min), '≤ 3 s', verdict(planWarm.median <= 3000)],
    [`no-op plan, cold`, 1, fmt(planCold.median), fmt(planCold.min), '≤ 3 s', verdict(planCold.median <= 3000)],
  ]),
);
const big = readQueries(planCold);
const tenth = readQueries(smallPlan);
console.log(`\nqueries to read the migrated state back: ${big.queries} for ${PIPELINES} pipelines, ${tenth.queries} for ${small.counts.ingest + small.counts.aggregate + small.counts.publish} (goal: constant, ≤ 5); no-op plan steps: ${big.steps}`);
console.log(`\nproject: ${counts.ingest} ingest, ${counts.aggregate} aggregate, ${counts.publish} publish; ${statements} statements checked`);
if (save.code !== 0) console.log(`note: chpipe plan --save exited ${save.code}:\n${save.stderr.split('\n').slice(0, 10).join('\n')}`);
for (const [name, m] of [
  ['compile', compile],
  ['validate', validate],
  ['plan', planWarm],
]) {
  if (m.last.code !== 0) console.log(`note: chpipe ${name} exited ${m.last.code}:\n${m.last.stderr.split('\n').slice(0, 10).join('\n')}`);
}
if (process.env.CHPIPE_BENCH_KEEP) console.log(`project kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });

// (d) apply, and reading a target's state back: bench/apply.mjs, in a process of its own.
console.log("\n(d) chpipe apply beside the same statements run directly; reading a target's state back\n");
const applyBench = spawnSync(process.execPath, [join(ROOT, 'bench/apply.mjs'), '--pipelines', String(PIPELINES), '--runs', String(option('apply-runs', 1))], { cwd: ROOT, stdio: 'inherit' });
if (applyBench.status !== 0) console.log(`note: bench/apply.mjs exited ${applyBench.status ?? applyBench.signal}`);

// (e) Kafka, on a real broker: bench/kafka.mjs, in a process of its own.
if (!process.argv.includes('--no-kafka')) {
  console.log('\n(e) Kafka on a real broker: ingest throughput, dev latency, handover gap\n');
  const kafkaBench = spawnSync(process.execPath, [join(ROOT, 'bench/kafka.mjs'), '--messages', String(option('kafka-messages', 200_000))], { cwd: ROOT, stdio: 'inherit' });
  if (kafkaBench.status !== 0) console.log(`note: bench/kafka.mjs exited ${kafkaBench.status ?? kafkaBench.signal}`);
}
