import { createRequire } from 'node:module';
import type { ApplyEvent, ApplyResult, Fault, PreparedMigration } from '../../migrate/apply.js';
import { inspectDatabase } from '../../inspect/inspect.js';
import { makeProgress } from '../../report/progress.js';
import { renderObjectsByPipeline } from '../../report/target.js';
import type { Driver } from '../../engine/driver.js';
import { currentStreams, makeIo, projectMemo, UserError, type GlobalOptions, type Io } from '../context.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject, type TargetProject } from '../target.js';

const require = createRequire(import.meta.url);
const { version: chpipeVersion } = require('../../../package.json') as { version: string };

export interface ApplyOptions {
  readonly dryRun?: boolean;
  readonly detailedExitcode?: boolean;
  readonly lockTimeout?: string;
  readonly yes?: boolean;
}

/**
 * On a terminal, the destructive steps apply is about to run, and the question whether to run them, as
 * Terraform asks before it applies: only `yes` goes ahead. `--yes`, `--json`, or a stdin that is not a
 * terminal (CI, a pipe) go ahead without asking. True to go on.
 */
async function approveDestructive(io: Io, readPending: () => Promise<readonly PreparedMigration[]>, yes: boolean): Promise<boolean> {
  if (yes || io.json || process.stdin.isTTY !== true || currentStreams().stderr.isTTY !== true) return true;
  const destructive = (await readPending()).flatMap((m) => m.statements.slice(m.startAt).flatMap((s) => (s.step?.risk === 'destructive' ? [{ file: m.file.file, step: s.step }] : [])));
  if (!destructive.length) return true;
  io.err(io.errPaint.bold(`apply will run ${destructive.length} destructive step${destructive.length === 1 ? '' : 's'}:`));
  for (const d of destructive) io.err(`  ${io.errPaint.red('-')} ${d.file}: ${d.step.action} ${d.step.object}: ${d.step.reason}`);
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`Run them? Only 'yes' is accepted (--yes skips this question): `);
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

/** A statement slower than this gets a line of its own on a terminal. */
const SLOW_STATEMENT_MS = 1000;

/**
 * `CHPIPE_TEST_KILL=N` (or `N:recorded`): kill this process with SIGKILL right
 * after the Nth statement of the run, before (or after) its progress is recorded.
 * Used by the tests that prove a rerun after kill -9 finishes each migration.
 */
function faultFromEnv(): Fault | undefined {
  const text = process.env.CHPIPE_TEST_KILL;
  if (!text) return undefined;
  const [n, phase] = text.split(':');
  const afterStatement = Number(n);
  if (!Number.isInteger(afterStatement) || afterStatement < 1) throw new UserError(`CHPIPE_TEST_KILL=${text} is not N or N:recorded`);
  return { afterStatement, recorded: phase === 'recorded' };
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export default async function apply(g: GlobalOptions, options: ApplyOptions): Promise<number> {
  const io = await makeIo(g);
  const waitMs = parseLockTimeout(options.lockTimeout);
  const fault = faultFromEnv();
  const p = readTargetProject(g, io, 'write');
  if (Array.isArray(p)) return failWith(io, p);
  const { applyMigrations, pendingMigrations } = await import('../../migrate/apply.js');
  const connection = await openProjectTarget(g, io, p, options.dryRun ? 'apply --dry-run' : 'apply', waitMs);
  try {
    const { driver } = connection;
    const serverVersion = await driver.version();
    // Cluster mode: every host's macros checked against the tables the migrations build, before anything runs.
    if (p.project.cluster !== undefined) await checkClusterTarget(g, p, driver, p.project.cluster);
    if (options.dryRun) {
      const { pending } = await pendingMigrations(driver, p.placement, p.dir.files, p.display, process.env);
      reportDryRun(io, connection.description, serverVersion, pending);
      return options.detailedExitcode && pending.length ? 2 : 0;
    }
    if (!io.json) io.err(`target: ${connection.description} (ClickHouse ${serverVersion})`);
    const readPending = async () => (await pendingMigrations(driver, p.placement, p.dir.files, p.display, process.env)).pending;
    if (!(await approveDestructive(io, readPending, options.yes === true))) {
      io.err('apply cancelled: nothing was run');
      return 1;
    }
    // Asked while the migrations run (2 s at most): brokers that do not answer are said, never refused.
    const probing = (await import('../../kafka/probe.js')).brokerWarnings(p.project, process.env);
    const progress = makeProgress(io.stderr, io.interactive);
    const onEvent = (e: ApplyEvent) => reportEvent(io, progress, e);
    let result: ApplyResult;
    try {
      result = await applyMigrations({
        driver,
        placement: p.placement,
        files: p.dir.files,
        dirDisplay: p.display,
        env: process.env,
        chpipeVersion,
        lock: { waitMs, ttlMs: (await import('../../migrate/target-lock.js')).DEFAULT_LOCK_TTL_MS, command: 'apply' },
        onEvent,
        ...(fault ? { fault } : {}),
      });
    } finally {
      progress.clear();
    }
    for (const w of await probing) io.err(`warning[brokers]: ${w}`);
    const { model } = await inspectDatabase(driver, p.placement);
    if (io.json) {
      io.out(
        JSON.stringify(
          {
            schemaVersion: 1,
            target: connection.description,
            serverVersion,
            applied: result.applied.map((m) => ({ version: m.version, name: m.name, statements: m.statements, ...(m.startAt ? { resumedAt: m.startAt + 1 } : {}), ms: m.ms })),
            alreadyApplied: result.alreadyApplied,
          },
          null,
          2,
        ),
      );
    } else {
      if (!result.applied.length) io.out(`Nothing to apply: all ${result.alreadyApplied} migration${result.alreadyApplied === 1 ? ' is' : 's are'} applied on ${connection.description}.`);
      else io.out(`Applied ${result.applied.length} migration${result.applied.length === 1 ? '' : 's'} to ${connection.description}.`);
      io.out(renderObjectsByPipeline(model, io.paint));
    }
    return options.detailedExitcode && result.applied.length ? 2 : 0;
  } finally {
    await connection.release();
  }
}

/**
 * The tables all the migrations build (replayed on the scratch engine in cluster mode, which keeps their
 * replication) checked against every host of the cluster (src/cluster/executor.ts): a layout that would fail on
 * some host, or silently merge two replicas, is refused with nothing applied.
 */
async function checkClusterTarget(g: GlobalOptions, p: TargetProject, driver: Driver, cluster: string): Promise<void> {
  const [{ Scratch }, { appliedState, checkTargetLayout }] = await Promise.all([import('../../check/scratch.js'), import('../../cluster/executor.js')]);
  const scratch = await Scratch.open(await projectMemo(g, p.root), { cluster });
  const model = await appliedState(scratch, p.placement, p.dir.files, process.env, p.display);
  await checkTargetLayout(driver, cluster, model);
}

function reportEvent(io: Io, progress: ReturnType<typeof makeProgress>, e: ApplyEvent): void {
  if (io.json) return;
  switch (e.kind) {
    case 'lock-wait':
      progress.clear();
      io.err(`waiting for the target's lock, held by ${e.holder}…`);
      return;
    case 'migration-start':
      progress.clear();
      io.err(e.startAt ? `resuming ${e.file} at statement ${e.startAt + 1} of ${e.statements} (an earlier run stopped there)` : `applying ${e.file}: ${e.statements} statement${e.statements === 1 ? '' : 's'}`);
      return;
    case 'statement-start':
      progress.show(`${e.file} ${e.index + 1}/${e.total} · ${e.label}`);
      return;
    case 'statement-done':
      if (io.interactive && e.ms >= SLOW_STATEMENT_MS) {
        progress.clear();
        io.err(`  ${e.index + 1}/${e.total} ${e.label} (${seconds(e.ms)})`);
      }
      return;
    case 'migration-done':
      progress.clear();
      io.err(`applied ${e.file} in ${seconds(e.ms)}`);
      return;
  }
}

function reportDryRun(io: Io, target: string, serverVersion: string, pending: readonly PreparedMigration[]): void {
  if (io.json) {
    io.out(
      JSON.stringify(
        {
          schemaVersion: 1,
          target,
          serverVersion,
          pending: pending.map((m) => ({ version: m.file.version, name: m.file.name, ...(m.startAt ? { resumesAt: m.startAt + 1 } : {}), statements: m.statements.slice(m.startAt).map((s) => s.shown) })),
        },
        null,
        2,
      ),
    );
    return;
  }
  if (!pending.length) {
    io.out(`-- nothing to apply on ${target} (ClickHouse ${serverVersion})`);
    return;
  }
  io.out(`-- dry run: what \`chpipe apply\` would run on ${target} (ClickHouse ${serverVersion}); environment values filled in, secrets masked`);
  for (const m of pending) {
    io.out(`\n-- ${m.file.file}${m.startAt ? ` (resumes at statement ${m.startAt + 1} of ${m.statements.length})` : ''}`);
    for (const s of m.statements.slice(m.startAt)) io.out(`${s.shown};\n`);
  }
}
