/**
 * The version matrix: ClickHouse 24.8 and 25.8 (PyPI chdb wheels, each in an
 * engine process speaking src/engine/process.ts's protocol, see engine.py)
 * and 26.7 (npm's chdb, in this process). Statements run through
 * `Scratch.over`, so Kafka tables are diverted exactly as on chpipe's scratch
 * engine: nothing ever consumes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Scratch } from '../../src/check/scratch.js';
import { EngineError, type Driver } from '../../src/engine/driver.js';
import { EmbeddedDriver } from '../../src/engine/embedded.js';
import { ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import type { MigrationFile } from '../../src/migrate/files.js';
import { replayMigrations } from '../../src/migrate/replay.js';
import type { Model, Placement } from '../../src/model/model.js';
import type { Diagnostic } from '../../src/spec/diagnostic.js';
import { statementTarget } from '../../src/sql/parse.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { ensureVenv, PYTHON_ENGINES, type PythonEngine } from './venv.mjs';

const ENGINE_PY = resolve(import.meta.dirname, 'engine.py');

/** Long enough for a first run that creates both virtualenvs (about 80 s each, in parallel, here). */
export const MATRIX_SETUP_TIMEOUT_MS = 20 * 60_000;

export interface MatrixEngine {
  /** `24.8`, `25.8`, `26.7`. */
  readonly label: string;
  /** The full version the engine reports, e.g. `24.8.4.1`. */
  readonly version: string;
  readonly driver: Driver;
  /** The engine process's PID, when the engine runs in a child process. */
  readonly pid?: number;
  /** A fresh scratch over this engine, running statements exactly as written (Kafka tables diverted). */
  scratch(): Scratch;
  stop(): Promise<void>;
}

/**
 * The PyPI wheels embed ClickHouse without the catalog's background task that
 * finally removes dropped tables of an Atomic database, so a `DROP … SYNC`,
 * which waits for that task, fails on 24.8 ("Did not finish dropping the table
 * … because the server is shutting down", code 341, though the table is gone)
 * and never returns on 25.8. A server runs that task; the embedding does not
 * (docs/engine-versions.md). So on these engines a DROP ending in SYNC is first
 * parsed as written (formatQuery: the keyword is checked) and then run without
 * the wait. Every other statement runs exactly as given.
 */
class WheelDriver implements Driver {
  readonly kind = 'embedded' as const;
  constructor(readonly inner: ProcessDriver) {}
  get target(): string {
    return this.inner.target;
  }
  async exec(sql: string): Promise<void> {
    if (process.env.CHPIPE_MATRIX_TRACE) process.stderr.write(`[matrix ${this.target}] ${sql.replace(/\s+/g, ' ').slice(0, 300)}\n`);
    const trailingSync = /\s+SYNC\s*;?\s*$/i;
    // A migration's statement starts with its step comments.
    const statement = sql.replace(/^(?:\s*--[^\n]*(?:\n|$)|\s*\/\*[\s\S]*?\*\/)*\s*/, '');
    if (statementTarget(statement).verb !== 'DROP' || !trailingSync.test(statement)) return this.inner.exec(sql);
    await this.inner.query(`SELECT formatQuery(${stringLiteral(sql)}) AS q`);
    await this.inner.exec(sql.replace(trailingSync, ''));
  }
  query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return this.inner.query<T>(sql);
  }
  version(): Promise<string> {
    return this.inner.version();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A bare engine process over one PyPI wheel (its virtualenv created first if
 * needed), on a temporary data directory removed by `stop()`.
 */
export async function startWheelProcess(
  engine: PythonEngine,
  options: { closeTimeoutMs?: number } = {},
): Promise<{ driver: ProcessDriver; stop(): Promise<void> }> {
  const venv = await ensureVenv(engine);
  const dir = mkdtempSync(join(tmpdir(), `chpipe-matrix-${engine.clickhouse}-`));
  const dataDir = join(dir, 'data');
  try {
    const driver = await ProcessDriver.start({
      dataDir,
      command: { file: venv.python, args: [ENGINE_PY, '--data-dir', dataDir] },
      startTimeoutMs: 120_000,
      ...(options.closeTimeoutMs !== undefined ? { closeTimeoutMs: options.closeTimeoutMs } : {}),
    });
    return {
      driver,
      async stop() {
        try {
          await driver.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function startPythonEngine(engine: PythonEngine): Promise<MatrixEngine> {
  const wheel = await startWheelProcess(engine);
  const driver = new WheelDriver(wheel.driver);
  const version = await driver.version();
  if (!version.startsWith(`${engine.clickhouse}.`)) {
    await wheel.stop();
    throw new Error(`chdb==${engine.chdb} reported ClickHouse ${version}, expected ${engine.clickhouse}.x`);
  }
  // A throwaway data directory needs no durable metadata (as chpipe's own scratch engine).
  await driver.exec('SET fsync_metadata = 0');
  return {
    label: engine.clickhouse,
    version,
    driver,
    pid: wheel.driver.pid,
    scratch: () => Scratch.over(driver, { asWritten: true }),
    stop: () => wheel.stop(),
  };
}

async function startEmbeddedEngine(): Promise<MatrixEngine> {
  const driver = await EmbeddedDriver.scratch();
  const version = await driver.version();
  return {
    label: version.split('.').slice(0, 2).join('.'),
    version,
    driver,
    scratch: () => Scratch.over(driver, { asWritten: true }),
    stop: () => driver.close(),
  };
}

/**
 * One engine of the matrix as a *target* (what `chpipe apply` runs on), on a
 * fresh data directory: 24.8 and 25.8 through the wheels (`WheelDriver`),
 * 26.7 through chpipe's own engine process (`openTarget`, as the embedded
 * target), so that the test process keeps its embedded engine for the
 * scratch. `stop()` stops the process and removes the data.
 */
export async function startTarget(label: string): Promise<MatrixEngine> {
  const wheel = PYTHON_ENGINES.find((e) => e.clickhouse === label);
  if (wheel) return startPythonEngine(wheel);
  const dir = mkdtempSync(join(tmpdir(), `chpipe-matrix-target-${label}-`));
  try {
    const driver = await openTarget(join(dir, 'data'));
    const version = await driver.version();
    if (!version.startsWith(`${label}.`)) {
      await driver.close();
      throw new Error(`chpipe's engine process reported ClickHouse ${version}, expected ${label}.x`);
    }
    return {
      label,
      version,
      driver,
      pid: driver.pid,
      scratch: () => Scratch.over(driver, { asWritten: true }),
      async stop() {
        try {
          await driver.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Every engine of the matrix, oldest first; the virtualenvs are created first if they are not cached. */
export async function startMatrix(): Promise<MatrixEngine[]> {
  const started = await Promise.allSettled([...PYTHON_ENGINES.map(startPythonEngine), startEmbeddedEngine()]);
  const engines = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
  if (failed.length) {
    await stopMatrix(engines);
    throw new Error(failed.map((e) => e.message).join('\n'));
  }
  return engines;
}

export async function stopMatrix(engines: readonly MatrixEngine[]): Promise<void> {
  await Promise.all(engines.map((e) => e.stop()));
}

export interface StatementFailure {
  readonly sql: string;
  readonly error: string;
}

/**
 * Run statements in order on a fresh database (and the scratch's Kafka side
 * database); every refusal is kept, not only the first, so one run names
 * every statement an engine rejects.
 */
export async function runStatements(engine: MatrixEngine, placement: Placement, statements: readonly string[], namedCollection?: string): Promise<{ failures: StatementFailure[]; model: Model }> {
  const scratch = engine.scratch();
  await scratch.reset(placement, namedCollection);
  const failures: StatementFailure[] = [];
  for (const sql of statements) {
    try {
      await scratch.run(sql);
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      failures.push({ sql, error: `${e.engineMessage}${e.codeName ? ` (${e.codeName})` : ''}` });
    }
  }
  return { failures, model: (await scratch.inspect(placement)).model };
}

/** Replay migration files as chpipe does (`replayMigrations`), on one engine of the matrix. */
export async function replayOn(
  engine: MatrixEngine,
  placement: Placement,
  files: readonly MigrationFile[],
  dirDisplay: string,
  namedCollection?: string,
): Promise<{ diagnostics: Diagnostic[]; model?: Model }> {
  const scratch = engine.scratch();
  const diagnostics = await replayMigrations(scratch, placement, files, dirDisplay, namedCollection);
  if (diagnostics.length) return { diagnostics };
  return { diagnostics, model: (await scratch.inspect(placement)).model };
}

/** One line per diagnostic, for an assertion message that says where and why. */
export function describeDiagnostics(engine: MatrixEngine, diagnostics: readonly Diagnostic[]): string[] {
  return diagnostics.map((d) => `ClickHouse ${engine.version}: ${d.file}:${d.line}:${d.col}: ${d.message}`);
}
