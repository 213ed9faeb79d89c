/**
 * The executor: run a target's pending migration files in order, statement by
 * statement, under the target's lock, recording progress in its history
 * table, so a rerun after a crash (kill -9, lost connection) continues where
 * the last one stopped and ends in the declared state.
 *
 * Every statement chpipe writes is safe to run again (IF [NOT] EXISTS, CREATE
 * OR REPLACE); the few that are not safe on their own (a rebuild's copy and
 * swap) carry `rerun from step K` in their step comment and restart their
 * group. So progress need not be written after every statement: it is written
 * at least once per `progressIntervalMs`, on a failure, and at the end; a
 * rerun runs again at most the statements of that last interval.
 */
import { hostname } from 'node:os';
import { EngineError, type Driver } from '../engine/driver.js';
import type { Placement } from '../model/model.js';
import { fillReferences } from '../spec/env.js';
import { explainAst } from '../sql/query.js';
import { CURRENT_USER, type RevisionRow } from '../sql/history.js';
import { statementShape } from '../sql/statement.js';
import { fileHash, migrationEnvironment, parseMigration, statementsHash, type MigrationFile, type MigrationStatement } from './files.js';
import { ensureHistoryTable, readRevisions, reviewRevisions, revisionProblemMessage, writeRevision, type Revision } from './revisions.js';
import { acquireTargetLock, osUser, type TargetLockOptions } from './target-lock.js';
import { MigrationError, MigrationFailed } from './errors.js';

export { MigrationError, MigrationFailed };

/** A statement ready to run: environment values filled in, and the same text with secrets masked for display. */
export interface PreparedStatement extends MigrationStatement {
  readonly run: string;
  readonly shown: string;
}

export interface PreparedMigration {
  readonly file: MigrationFile;
  readonly checksum: string;
  readonly statements: readonly PreparedStatement[];
  readonly revision?: Revision;
  /** 0-based statement the run starts at (0, or where an interrupted run stopped). */
  readonly startAt: number;
}

export const MASK = '[HIDDEN]';

/** Fill a migration's environment references; masked text hides the values of secret variables. */
export function prepareMigration(file: MigrationFile, env: Readonly<Record<string, string | undefined>>, dirDisplay: string, revision?: Revision): PreparedMigration {
  const { variables, secrets } = migrationEnvironment(file.text);
  const missing = new Set<string>();
  const masked = Object.fromEntries(variables.map((v) => [v, secrets.includes(v) && env[v] ? MASK : env[v]]));
  const statements = parseMigration(file.text).map((s) => {
    const run = fillReferences(s.sql, variables, env);
    run.missing.forEach((m) => missing.add(m));
    return { ...s, run: run.value, shown: fillReferences(s.sql, variables, masked).value };
  });
  if (missing.size) {
    const names = [...missing];
    throw new MigrationError(`${dirDisplay}/${file.file} needs the environment variable${names.length > 1 ? 's' : ''} ${names.join(', ')} (no default in chpipe.yaml); set ${names.length > 1 ? 'them' : 'it'} and run again`);
  }
  const done = revision && revision.status !== 'applied' ? Math.min(revision.statements_done, statements.length) : 0;
  const startAt = done < statements.length ? (statements[done] as PreparedStatement).rerunFrom : done;
  return { file, checksum: fileHash(file.text), statements, ...(revision ? { revision } : {}), startAt };
}

export type ApplyEvent =
  | { readonly kind: 'lock-wait'; readonly holder: string }
  | { readonly kind: 'migration-start'; readonly file: string; readonly statements: number; readonly startAt: number }
  | { readonly kind: 'statement-start'; readonly file: string; readonly index: number; readonly total: number; readonly label: string }
  | { readonly kind: 'statement-done'; readonly file: string; readonly index: number; readonly total: number; readonly label: string; readonly ms: number }
  | { readonly kind: 'migration-done'; readonly file: string; readonly statements: number; readonly ms: number };

/** Where a test kills the process (kill -9) to prove a rerun finishes: after the Nth statement run, before or after it is recorded. */
export interface Fault {
  readonly afterStatement: number;
  readonly recorded: boolean;
}

export interface ApplyOptions {
  readonly driver: Driver;
  readonly placement: Placement;
  readonly files: readonly MigrationFile[];
  readonly dirDisplay: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly chpipeVersion: string;
  readonly lock: Omit<TargetLockOptions, 'onWait'>;
  readonly progressIntervalMs?: number;
  readonly onEvent?: (e: ApplyEvent) => void;
  readonly fault?: Fault;
  /**
   * Cluster mode: keep the history in the table every host shares (the default) or on the host chpipe is
   * connected to (`false`: the test cluster, whose Replicated tables the engine keeps read-only).
   */
  readonly sharedHistory?: boolean;
}

export interface AppliedMigration {
  readonly version: string;
  readonly name: string;
  readonly file: string;
  readonly statements: number;
  /** 0-based statement a resumed run started at; 0 for a fresh one. */
  readonly startAt: number;
  readonly ms: number;
}

export interface ApplyResult {
  readonly applied: readonly AppliedMigration[];
  /** Migrations that had been applied before this run. */
  readonly alreadyApplied: number;
}

/** The migrations the target has not finished, prepared (environment checked), and the count already applied. */
export async function pendingMigrations(driver: Driver, placement: Placement, files: readonly MigrationFile[], dirDisplay: string, env: Readonly<Record<string, string | undefined>>): Promise<{ pending: PreparedMigration[]; applied: number }> {
  const review = reviewRevisions(files, await readRevisions(driver, placement));
  if (review.problems.length) throw new MigrationError(revisionProblemMessage(review.problems[0] as (typeof review.problems)[number], dirDisplay));
  const pending = review.migrations.filter((m) => m.revision?.status !== 'applied');
  return { pending: pending.map((m) => prepareMigration(m.file, env, dirDisplay, m.revision)), applied: review.migrations.length - pending.length };
}

/** A one-line label for a statement: its step comment, or its first line. */
export function statementLabel(s: MigrationStatement): string {
  const lines = s.sql.split('\n');
  const step = lines.find((l) => l.startsWith('-- step '));
  if (step) return step.slice(3);
  return (lines.find((l) => !l.startsWith('--')) ?? '').trim().slice(0, 100);
}

export async function applyMigrations(options: ApplyOptions): Promise<ApplyResult> {
  const { driver, placement, dirDisplay, env } = options;
  const lock = await acquireTargetLock(driver, placement, { ...options.lock, onWait: (h) => options.onEvent?.({ kind: 'lock-wait', holder: h ? `chpipe ${h.command} (pid ${h.pid} on ${h.host})` : 'another chpipe' }) });
  try {
    await ensureHistoryTable(driver, placement, options.sharedHistory);
    // Every pending file gets its environment (or the run stops) before any statement runs.
    const { pending, applied } = await pendingMigrations(driver, placement, options.files, dirDisplay, env);
    const dbUser = (await driver.query<{ user: string }>(CURRENT_USER))[0]?.user ?? '';
    await preflight(options, pending);
    const results: AppliedMigration[] = [];
    let executed = 0;
    for (const m of pending) {
      results.push(
        await runMigration(options, m, dbUser, () => {
          if (lock.lost()) throw new MigrationError(`the lock on ${placement.database} was taken over by another chpipe (this run was silent longer than the lock's TTL); stopped before the next statement; run apply again`);
          executed++;
          return executed;
        }),
      );
    }
    return { applied: results, alreadyApplied: applied };
  } finally {
    await lock.release().catch(() => {});
  }
}

/**
 * Before any statement runs, the target reads each CREATE statement it will be sent (EXPLAIN AST: parsed,
 * never run). A server that would refuse one (`chpipe serve` refuses a Kafka table that would fence a
 * consumer it runs with static membership) refuses it here, and the run stops with nothing changed.
 */
async function preflight(options: ApplyOptions, pending: readonly PreparedMigration[]): Promise<void> {
  for (const m of pending) {
    for (let i = m.startAt; i < m.statements.length; i++) {
      const s = m.statements[i] as PreparedStatement;
      if (statementShape(s.run).keyword !== 'CREATE') continue;
      try {
        await options.driver.exec(explainAst(s.run));
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        throw new MigrationFailed(`${options.dirDisplay}/${m.file.file}`, m.file.version, i + 1, m.statements.length, s.line, maskValues(e.engineMessage, m, options.env), e.hint);
      }
    }
  }
}

/**
 * What to do when a statement fails on a cluster, where a server runs it through its distributed DDL queue and its
 * message names the hosts that failed or did not answer. Every statement chpipe writes may run again on the hosts
 * that ran it, so the answer is always a rerun; a timeout also means the statement is still queued on the others.
 */
export function clusterFailureHint(codeName: string | undefined, cluster: string): string {
  const rerun = 'then run `chpipe apply` again: it resumes at this statement and runs it on every host again, which is safe for the statements chpipe writes';
  if (codeName === 'TIMEOUT_EXCEEDED') {
    return `the statement did not finish on every host of cluster ${cluster} within distributed_ddl_task_timeout (the message names them); they run it from the DDL queue once they can (system.distributed_ddl_queue shows where it stands). Bring those hosts back, ${rerun}`;
  }
  return `on cluster ${cluster} the message names the host that failed; fix the cause there, ${rerun}`;
}

async function runMigration(options: ApplyOptions, m: PreparedMigration, dbUser: string, nextStatement: () => number): Promise<AppliedMigration> {
  const { driver, placement } = options;
  const interval = options.progressIntervalMs ?? 1000;
  const total = m.statements.length;
  const fault = options.fault;
  /** The fault point is this migration's last statement, recorded: the kill comes after the `applied` row. */
  let killWhenApplied = false;
  const started = Date.now();
  const attempt = (m.revision?.attempt ?? 0) + 1;
  let seq = 0;
  const row = (status: RevisionRow['status'], done: number, extra: Partial<RevisionRow> = {}): RevisionRow => ({
    version: m.file.version,
    name: m.file.name,
    checksum: m.checksum,
    status,
    statements_done: done,
    statements_total: total,
    done_checksum: statementsHash(m.statements, done),
    failed_statement: 0,
    error: '',
    started_at: new Date(started).toISOString(),
    finished_at: '',
    duration_ms: Date.now() - started,
    host: hostname(),
    os_user: osUser(),
    db_user: dbUser,
    chpipe_version: options.chpipeVersion,
    attempt,
    seq: ++seq,
    ...extra,
  });
  const record = (r: RevisionRow) => writeRevision(driver, placement, r);

  options.onEvent?.({ kind: 'migration-start', file: m.file.file, statements: total, startAt: m.startAt });
  await record(row('running', m.startAt));
  let lastRecord = Date.now();
  for (let i = m.startAt; i < total; i++) {
    const s = m.statements[i] as PreparedStatement;
    const faultHere = fault?.afterStatement === nextStatement();
    const label = statementLabel(s);
    options.onEvent?.({ kind: 'statement-start', file: m.file.file, index: i, total, label });
    const t0 = Date.now();
    try {
      await driver.exec(s.run);
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      const message = maskValues(e.engineMessage, m, options.env);
      await record(row('failed', i, { failed_statement: i + 1, error: message, finished_at: new Date().toISOString() }));
      const hint = placement.cluster !== undefined ? clusterFailureHint(e.codeName, placement.cluster) : e.hint;
      throw new MigrationFailed(`${options.dirDisplay}/${m.file.file}`, m.file.version, i + 1, total, s.line, message, hint);
    }
    options.onEvent?.({ kind: 'statement-done', file: m.file.file, index: i, total, label, ms: Date.now() - t0 });
    if (faultHere && !fault?.recorded) process.kill(process.pid, 'SIGKILL');
    if (i + 1 < total && (faultHere || Date.now() - lastRecord >= interval)) {
      await record(row('running', i + 1));
      lastRecord = Date.now();
      if (faultHere) process.kill(process.pid, 'SIGKILL');
    }
    if (faultHere) killWhenApplied = true;
  }
  await record(row('applied', total, { finished_at: new Date().toISOString() }));
  if (killWhenApplied) process.kill(process.pid, 'SIGKILL');
  const ms = Date.now() - started;
  options.onEvent?.({ kind: 'migration-done', file: m.file.file, statements: total, ms });
  return { version: m.file.version, name: m.file.name, file: m.file.file, statements: total, startAt: m.startAt, ms };
}

/** An engine message with the values of the migration's secret variables masked. */
function maskValues(text: string, m: PreparedMigration, env: Readonly<Record<string, string | undefined>>): string {
  let out = text;
  for (const v of migrationEnvironment(m.file.text).secrets) {
    const value = env[v];
    if (value) out = out.split(value).join(MASK);
  }
  return out;
}
