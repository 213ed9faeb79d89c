/**
 * chpipe benchmark (d): `chpipe apply` and reading a target's state. Prints figures, asserts nothing.
 * Run after `npm run build`, alone or as section (d) of bench/run.mjs:
 *
 *   node bench/apply.mjs [--pipelines N] [--runs N] [--read-runs N]
 *
 * 1. The initial migration of a generated project (bench/generate.mjs, 1,000 pipelines by default,
 *    saved with `chpipe plan --save initial`) applied by `chpipe apply --json` to a fresh embedded
 *    target (the project's .chpipe/), beside the same statements run directly through the same
 *    driver (`openTarget` + `driver.exec`, `${VAR:-default}` references filled as apply fills them)
 *    on a fresh data folder, by a script in a process of its own. Timed from process start to exit,
 *    and the statements alone (chpipe's own figure: `applied[].ms`). Goal: chpipe ≤ 1.2× direct.
 * 2. The same over HTTP: `chpipe serve --port 0 --json --data-dir DIR` on a fresh folder and
 *    `chpipe apply --url URL`, beside the statements run through `HttpDriver` on another fresh
 *    served folder (starting the servers is not timed). Same goal.
 * 3. Reading a target's state: `inspectDatabase` on the applied target at a tenth of the pipelines
 *    and at all of them, through an engine process and over HTTP: median of --read-runs reads
 *    (default 5), with its query count (constant by design: 2).
 *
 * --runs N (default 1): each apply measurement N times (chpipe and direct alternate, each on a fresh
 * target), median shown. The Kafka tables point at `${KAFKA_BROKERS:-127.0.0.1:9}` with KAFKA_BROKERS
 * unset, a broker that refuses connections: they retry in the background.
 *
 *   node bench/apply.mjs --profile [--pipelines N] [--via embedded|http]
 *
 * where chpipe's apply spends its time: `applyMigrations` (dist/migrate/apply.js) run in this
 * process through a driver that times each call, by phase (setup, statements, history writes,
 * chpipe's own work between statements, release), beside the bare statement loop on another fresh
 * target of the same kind.
 *
 *   node bench/apply.mjs --direct embedded DATA_DIR FILE | --direct http URL FILE
 *
 * the direct script of 1. and 2.: prints `{"statements","ms","openMs","closeMs"}` (ms: the statements alone).
 *
 * Every temporary folder is removed and every process started is stopped (by PID), also on Ctrl-C;
 * CHPIPE_BENCH_KEEP=1 keeps the folders.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout } from 'node:timers';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateProject, writeProject } from './generate.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin/chpipe.js');
const SELF = fileURLToPath(import.meta.url);
const dist = (path) => import(pathToFileURL(join(ROOT, 'dist', path)).href);
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** The project's brokers: an environment reference (so the fill-in path runs) whose default refuses connections. */
const BROKERS = '${KAFKA_BROKERS:-127.0.0.1:9}';
const DATABASE = 'bench';
const GOAL = 1.2;

/** A migration file's statements with their `${VAR:-default}` references filled in, as `chpipe apply` fills them. */
async function filledStatements(file, env) {
  const { parseMigration, migrationEnvironment } = await dist('migrate/files.js');
  const { fillReferences } = await dist('spec/env.js');
  const text = readFileSync(file, 'utf8');
  const { variables } = migrationEnvironment(text);
  return parseMigration(text).map((s) => {
    const filled = fillReferences(s.sql, variables, env);
    if (filled.missing.length) throw new Error(`${file} needs ${filled.missing.join(', ')}`);
    return filled.value;
  });
}

// ---------------------------------------------------------------------------------------------
// The direct script: the statements of a migration file through a driver, nothing else.

async function direct(via, where, file) {
  const started = now();
  const statements = await filledStatements(file, process.env);
  const driver = via === 'embedded' ? await (await dist('engine/target.js')).openTarget(where) : await (await dist('engine/http.js')).HttpDriver.connect(where);
  const opened = now();
  let ran;
  try {
    for (const sql of statements) await driver.exec(sql);
    ran = now();
  } finally {
    await driver.close();
  }
  process.stdout.write(`${JSON.stringify({ statements: statements.length, ms: ran - opened, openMs: opened - started, closeMs: now() - ran })}\n`);
}

if (process.argv[2] === '--direct') {
  await direct(process.argv[3], process.argv[4], process.argv[5]);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Helpers (as in run.mjs).

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : fallback;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmt = (ms) => (typeof ms !== 'number' || Number.isNaN(ms) ? '?' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const times = (a, b) => (a > 0 && b > 0 ? `${(a / b).toFixed(2)}×` : '?');
const verdict = (a, b) => (a > 0 && b > 0 ? (a / b <= GOAL ? 'met' : 'MISSED') : '?');

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Processes and folders this run starts and makes: stopped and removed at the end or on a signal.

const children = new Set();
const folders = new Set();
const keep = Boolean(process.env.CHPIPE_BENCH_KEEP);

const running = (child) => child.exitCode === null && child.signalCode === null;
process.on('exit', () => {
  for (const child of children) if (running(child)) process.kill(child.pid, 'SIGTERM');
  if (!keep) for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});
// On Ctrl-C or SIGTERM: stop the children (by PID) and let them exit (up to 20 s) before their folders go.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    const live = [...children].filter(running);
    for (const child of live) process.kill(child.pid, 'SIGTERM');
    const exited = Promise.all(live.map((child) => new Promise((done) => (running(child) ? child.once('close', done) : done()))));
    void Promise.race([exited, new Promise((done) => setTimeout(done, 20_000).unref())]).then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

/** The environment of every child: no target named from outside, and no broker, so the migration's default applies. */
const childEnv = { ...process.env, NO_COLOR: '1' };
for (const name of ['KAFKA_BROKERS', 'CHPIPE_URL', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CHPIPE_TEST_KILL']) delete childEnv[name];

/** Run a node script to its end: wall time (process start to exit), exit code, output. */
function run(args, cwd) {
  return new Promise((resolve) => {
    const started = now();
    const child = spawn(process.execPath, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => {
      children.delete(child);
      resolve({ ms: now() - started, code, stdout, stderr });
    });
  });
}

/** `chpipe serve` on a data folder, once it has printed its URL; `stop()` sends SIGTERM to its PID and waits for its exit. */
function serve(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json', '--data-dir', dataDir], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const closed = new Promise((done) => child.once('close', done));
    let stderr = '';
    child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
    const failed = (code) => {
      children.delete(child);
      reject(new Error(`chpipe serve exited with ${code}: ${stderr.trim()}`));
    };
    child.once('exit', failed);
    createInterface({ input: child.stdout }).once('line', (line) => {
      child.off('exit', failed);
      resolve({
        url: JSON.parse(line).url,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
          await closed;
          children.delete(child);
        },
      });
    });
  });
}

/** Why a command failed, in a few lines. */
function failure(what, r) {
  return `note: ${what} exited ${r.code}:\n${(r.stderr || r.stdout).trim().split('\n').slice(0, 8).join('\n')}`;
}

/** A generated project with its initial migration saved: its folder and migration file. */
async function savedProject(pipelines) {
  const dir = writeProject(generateProject({ pipelines, brokers: BROKERS }));
  folders.add(dir);
  const save = await run([BIN, 'plan', '--save', 'initial'], dir);
  if (save.code !== 0) throw new Error(failure('chpipe plan --save initial', save));
  return { dir, file: join(dir, 'migrations/0001_initial.sql') };
}

function haveDist() {
  if (existsSync(join(ROOT, 'dist/cli/main.js'))) return true;
  console.log('dist/ is missing: run `npm run build` first.');
  return false;
}

// ---------------------------------------------------------------------------------------------
// 1–3: the benchmark.

async function bench() {
  const PIPELINES = option('pipelines', 1000);
  const RUNS = Math.max(1, option('runs', 1));
  const READ_RUNS = Math.max(1, option('read-runs', 5));
  const SMALL = Math.max(1, Math.round(PIPELINES / 10));
  const notes = [];
  const began = Date.now();

  const big = await savedProject(PIPELINES);
  const statements = readFileSync(big.file, 'utf8').split('\n').filter((l) => l.startsWith('-- step ')).length;

  /** One chpipe apply on a fresh target: wall time and chpipe's own figure for the migration. */
  async function chpipeApply(via, n) {
    const dataDir = join(big.dir, via === 'embedded' ? '.chpipe' : `served-chpipe-${n}`);
    rmSync(dataDir, { recursive: true, force: true });
    const server = via === 'http' ? await serve(dataDir) : undefined;
    try {
      const r = await run([BIN, 'apply', '--json', ...(server ? ['--url', server.url] : [])], big.dir);
      if (r.code !== 0) notes.push(failure(`chpipe apply (${via})`, r));
      let own = NaN;
      try {
        own = JSON.parse(r.stdout).applied.reduce((sum, m) => sum + m.ms, 0);
      } catch {
        // reported through the exit code
      }
      return { wall: r.ms, statements: own };
    } finally {
      await server?.stop();
      // The embedded target stays: the last one applied is read in 3.
      if (server) rmSync(dataDir, { recursive: true, force: true });
    }
  }

  /** One run of the direct script on a fresh data folder. */
  async function directApply(via, n) {
    const dataDir = join(big.dir, `direct-${via}-${n}`);
    const server = via === 'http' ? await serve(dataDir) : undefined;
    try {
      const r = await run([SELF, '--direct', via, server ? server.url : dataDir, big.file], big.dir);
      if (r.code !== 0) notes.push(failure(`the direct script (${via})`, r));
      let ms = NaN;
      try {
        ms = JSON.parse(r.stdout).ms;
      } catch {
        // reported through the exit code
      }
      return { wall: r.ms, statements: ms };
    } finally {
      await server?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  const results = {};
  for (const via of ['embedded', 'http']) {
    const chpipe = [];
    const plain = [];
    for (let n = 0; n < RUNS; n++) {
      // Alternate which goes first, so drift (other load, caches) hits both alike.
      if (n % 2 === 0) {
        chpipe.push(await chpipeApply(via, n));
        plain.push(await directApply(via, n));
      } else {
        plain.push(await directApply(via, n));
        chpipe.push(await chpipeApply(via, n));
      }
    }
    const med = (list) => ({ wall: median(list.map((x) => x.wall)), statements: median(list.map((x) => x.statements)) });
    results[via] = { chpipe: med(chpipe), direct: med(plain) };
  }

  // 3. Reading the state back, at a tenth of the pipelines and at all of them.
  const small = await savedProject(SMALL);
  const smallApply = await run([BIN, 'apply', '--json'], small.dir);
  if (smallApply.code !== 0) notes.push(failure(`chpipe apply (${SMALL} pipelines)`, smallApply));
  const { openTarget } = await dist('engine/target.js');
  const { HttpDriver } = await dist('engine/http.js');
  const { inspectDatabase } = await dist('inspect/inspect.js');
  async function reads(driver) {
    const ms = [];
    const queries = new Set();
    let objects = 0;
    for (let i = 0; i < READ_RUNS; i++) {
      const t0 = now();
      const inspection = await inspectDatabase(driver, { database: DATABASE });
      ms.push(now() - t0);
      queries.add(inspection.queries);
      objects = inspection.model.objects.length;
    }
    return { median: median(ms), min: Math.min(...ms), first: ms[0], queries: [...queries].join('/'), objects };
  }
  const readRows = [];
  for (const [pipelines, dir] of [
    [SMALL, small.dir],
    [PIPELINES, big.dir],
  ]) {
    const dataDir = join(dir, '.chpipe');
    const engine = await openTarget(dataDir);
    try {
      readRows.push([`${pipelines} pipelines, engine process`, await reads(engine)]);
    } finally {
      await engine.close();
    }
    const server = await serve(dataDir);
    try {
      const http = await HttpDriver.connect(server.url);
      try {
        readRows.push([`${pipelines} pipelines, HTTP (chpipe serve)`, await reads(http)]);
      } finally {
        await http.close();
      }
    } finally {
      await server.stop();
    }
  }

  const rows = [['apply of the initial migration', 'runs', 'wall (process)', 'statements', 'outside them', 'goal', '']];
  for (const via of ['embedded', 'http']) {
    const { chpipe, direct: plain } = results[via];
    const name = via === 'embedded' ? 'embedded (.chpipe/)' : 'HTTP (chpipe serve)';
    rows.push([`${name}: chpipe apply`, RUNS, fmt(chpipe.wall), fmt(chpipe.statements), fmt(chpipe.wall - chpipe.statements), '', '']);
    rows.push([`${name}: direct driver.exec`, RUNS, fmt(plain.wall), fmt(plain.statements), fmt(plain.wall - plain.statements), '', '']);
    rows.push(['  chpipe / direct', '', times(chpipe.wall, plain.wall), times(chpipe.statements, plain.statements), '', `≤ ${GOAL.toFixed(2)}×`, `${verdict(chpipe.wall, plain.wall)} / ${verdict(chpipe.statements, plain.statements)}`]);
  }
  console.log(`${PIPELINES} pipelines: ${statements} statements in migrations/0001_initial.sql; brokers ${BROKERS}, which refuses connections\n`);
  console.log(table(rows));
  console.log("  wall: process start to exit; statements: chpipe's applied[].ms (its migration, history writes included), the direct script's loop\n");
  console.log(
    table([
      ['inspectDatabase (read the state back)', 'reads', 'median', 'min', 'first', 'queries', 'objects'],
      ...readRows.map(([name, r]) => [name, READ_RUNS, fmt(r.median), fmt(r.min), fmt(r.first), r.queries, r.objects]),
    ]),
  );
  console.log('  queries per read: goal constant (2)\n');
  if (['embedded', 'http'].some((via) => results[via].chpipe.wall / results[via].direct.wall > GOAL)) console.log('where the time goes: node bench/apply.mjs --profile [--via embedded|http]');
  for (const note of notes) console.log(note);
  console.log(`section (d) took ${((Date.now() - began) / 1000).toFixed(0)} s`);
  if (keep) console.log(`projects kept in ${[...folders].join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// --profile: applyMigrations in this process, its driver calls timed by phase.

/** A driver that adds each call's time to `acc[phase()]`. */
function timedDriver(driver, phase, acc) {
  const timed = (call) => async (sql) => {
    const t0 = now();
    try {
      return await call(sql);
    } finally {
      const slot = (acc[phase()] ??= { calls: 0, ms: 0 });
      slot.calls++;
      slot.ms += now() - t0;
    }
  };
  return {
    kind: driver.kind,
    target: driver.target,
    exec: timed((sql) => driver.exec(sql)),
    query: timed((sql) => driver.query(sql)),
    version: () => driver.version(),
    close: () => driver.close(),
  };
}

async function profile() {
  const PIPELINES = option('pipelines', 1000);
  const i = process.argv.indexOf('--via');
  const via = i > 0 ? process.argv[i + 1] : 'embedded';
  if (via !== 'embedded' && via !== 'http') throw new Error(`--via takes embedded or http, not ${via}`);
  const p = await savedProject(PIPELINES);
  const { applyMigrations } = await dist('migrate/apply.js');
  const { readMigrationDir } = await dist('migrate/dir.js');
  const { parseMigration } = await dist('migrate/files.js');
  const { openTarget } = await dist('engine/target.js');
  const { HttpDriver } = await dist('engine/http.js');
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

  const t0 = now();
  parseMigration(readFileSync(p.file, 'utf8'));
  const parseMs = now() - t0;

  async function open(name) {
    const dataDir = join(p.dir, name);
    if (via === 'embedded') {
      const driver = await openTarget(dataDir);
      return { driver, close: () => driver.close() };
    }
    const server = await serve(dataDir);
    const driver = await HttpDriver.connect(server.url);
    return {
      driver,
      close: async () => {
        await driver.close();
        await server.stop();
      },
    };
  }

  // chpipe's apply: phases follow its events; the lock's heartbeat (every 30 s) lands in whichever phase is on.
  const chpipe = {};
  let phase = 'setup';
  let migrationMs = NaN;
  const a = await open('profile-chpipe');
  const started = now();
  let total;
  try {
    await applyMigrations({
      driver: timedDriver(a.driver, () => phase, chpipe),
      placement: { database: DATABASE },
      files: readMigrationDir(join(p.dir, 'migrations')).files,
      dirDisplay: 'migrations',
      env: childEnv,
      chpipeVersion: version,
      lock: { waitMs: 0, ttlMs: 120_000, command: 'apply' },
      onEvent: (e) => {
        if (e.kind === 'migration-start' || e.kind === 'statement-done') phase = 'history';
        else if (e.kind === 'statement-start') phase = 'statement';
        else if (e.kind === 'migration-done') {
          phase = 'release';
          migrationMs = e.ms;
        }
      },
    });
    total = now() - started;
  } finally {
    await a.close();
  }

  // The bare loop, on another fresh target of the same kind.
  const plain = {};
  const statements = await filledStatements(p.file, childEnv);
  const b = await open('profile-direct');
  const loopStarted = now();
  let loopMs;
  try {
    const driver = timedDriver(b.driver, () => 'statement', plain);
    for (const sql of statements) await driver.exec(sql);
    loopMs = now() - loopStarted;
  } finally {
    await b.close();
  }

  const slot = (acc, name) => acc[name] ?? { calls: 0, ms: 0 };
  const engineMs = ['setup', 'statement', 'history', 'release'].reduce((sum, k) => sum + slot(chpipe, k).ms, 0);
  const inMigration = slot(chpipe, 'statement').ms + slot(chpipe, 'history').ms;
  console.log(`where chpipe apply's time goes: ${PIPELINES} pipelines, ${statements.length} statements, ${via} target, in one process\n`);
  console.log(
    table([
      ['phase', 'driver calls', 'driver time', 'per call'],
      ['setup: lock, history table, revisions, user', slot(chpipe, 'setup').calls, fmt(slot(chpipe, 'setup').ms), ''],
      ['  of it, parseMigration of the file (no driver)', '', fmt(parseMs), ''],
      ['migration: statements', slot(chpipe, 'statement').calls, fmt(slot(chpipe, 'statement').ms), fmt(slot(chpipe, 'statement').ms / slot(chpipe, 'statement').calls)],
      ['migration: history writes', slot(chpipe, 'history').calls, fmt(slot(chpipe, 'history').ms), fmt(slot(chpipe, 'history').ms / Math.max(1, slot(chpipe, 'history').calls))],
      ["migration: chpipe's work between calls", '', fmt(migrationMs - inMigration), ''],
      ['release: lock dropped', slot(chpipe, 'release').calls, fmt(slot(chpipe, 'release').ms), ''],
      ['applyMigrations in all (migration alone)', '', `${fmt(total)} (${fmt(migrationMs)})`, ''],
      ['  outside driver calls', '', fmt(total - engineMs), ''],
      ['direct loop: statements', slot(plain, 'statement').calls, fmt(slot(plain, 'statement').ms), fmt(slot(plain, 'statement').ms / slot(plain, 'statement').calls)],
      ['direct loop in all', '', fmt(loopMs), ''],
    ]),
  );
  console.log(
    `\napplyMigrations / the bare loop: ${times(total, loopMs)} in all (parsing the file included: the loop's file was parsed before its clock started), ${times(migrationMs, loopMs)} for the migration, ${times(slot(chpipe, 'statement').ms, slot(plain, 'statement').ms)} for the statements alone`,
  );
}

if (haveDist()) await (process.argv.includes('--profile') ? profile() : bench());
