import { createRequire } from 'node:module';
import { relative, resolve } from 'node:path';
import { migrationSlug, modelHash, nextVersion, renderMigration } from '../../migrate/files.js';
import { readMigrationDir, sameHistory, writeMigration } from '../../migrate/dir.js';
import { reviewHistory } from '../../migrate/history.js';
import { acquireMigrationLock, LockBusyError, type LockHolder, type MigrationLock } from '../../migrate/lock.js';
import { computePlan, migratedStateKey } from '../../migrate/planner.js';
import { worstRisk } from '../../plan/plan.js';
import { diagnosticsJson, renderDiagnostics } from '../../report/diagnostics.js';
import type { Diagnostic } from '../../spec/diagnostic.js';
import { renderPlan, summarize } from '../../report/plan.js';
import { makeProgress, PROGRESS_MIN_PIPELINES } from '../../report/progress.js';
import { makeIo, projectMemo, UserError, type GlobalOptions } from '../context.js';
import { loadProject } from '../project.js';
import { namesTarget } from '../../engine/connect.js';
import { Scratch } from '../../check/scratch.js';
import type { Memo } from '../../check/memo.js';
import type { MigrationDir } from '../../migrate/dir.js';
import type { ProjectSpec } from '../../spec/types.js';
import type { Drift } from '../../diff/drift.js';
import { renderDrift } from '../../report/status.js';
import { openProjectTarget, parseLockTimeout } from '../target.js';

const require = createRequire(import.meta.url);
const { version: chpipeVersion } = require('../../../package.json') as { version: string };

export interface PlanOptions {
  readonly save?: string;
  readonly allowDestructive?: boolean;
  readonly detailedExitcode?: boolean;
  readonly sql?: boolean;
}

export default async function plan(g: GlobalOptions, options: PlanOptions): Promise<number> {
  const io = await makeIo(g);
  const loaded = loadProject(g.config);
  const project = loaded.project;
  if (!project || loaded.diagnostics.length) return fail(io, loaded.diagnostics);
  const migrationsPath = resolve(loaded.root, project.migrationsDir);
  const display = relative(process.cwd(), migrationsPath) || '.';
  let dir = readMigrationDir(migrationsPath);
  for (const stray of dir.strays) io.err(`warning: ${display}/${stray} is not named NNNN_name.sql and is ignored`);
  // The history first: a broken one is reported as itself, never as a failure of a later file.
  const review = reviewHistory(dir, display, options.save !== undefined ? 'write' : 'read');
  if (review.errors.length) return fail(io, [...review.errors, ...review.warnings]);
  for (const w of review.warnings) io.err(renderWarning(w));

  const memo = await projectMemo(g, loaded.root);
  const progress = makeProgress(io.stderr, io.interactive && project.pipelines.length >= PROGRESS_MIN_PIPELINES);
  progress.show(`planning ${project.pipelines.length} pipelines: ${dir.files.length ? `replaying ${dir.files.length} migrations, ` : ''}compiling, proving the steps on the scratch engine`);
  let result = await computePlan(project, dir.files, display, memo);
  progress.clear();
  if (result.diagnostics.length) return fail(io, result.diagnostics);
  const refusing = () => worstRisk(result.steps) === 'destructive' && !options.allowDestructive;

  let saved: string | undefined;
  if (options.save !== undefined && result.steps.length && !refusing()) {
    // Under the folder's lock, the folder is read again: a save that landed while this one
    // planned is planned on top of, so two saves never write one version twice.
    const lock = await lockMigrations(migrationsPath, display, `plan --save ${options.save}`, (text) => io.err(text));
    try {
      const current = readMigrationDir(migrationsPath);
      if (!sameHistory(current, dir)) {
        const again = reviewHistory(current, display, 'write');
        if (again.errors.length) return fail(io, again.errors);
        const landed = current.files.filter((f) => !dir.files.some((d) => d.file === f.file && d.text === f.text)).map((f) => `${display}/${f.file}`);
        io.err(`note: ${landed.length ? landed.join(', ') : `${display}/chpipe.sum`} changed while this plan ran (another save); planning again on top of it.`);
        dir = current;
        result = await computePlan(project, dir.files, display, memo);
        if (result.diagnostics.length) return fail(io, result.diagnostics);
      }
      if (result.steps.length && !refusing() && result.migrated && result.declared) {
        const version = nextVersion(dir.files);
        const name = migrationSlug(options.save);
        const text = renderMigration({ version, name, chpipeVersion, before: modelHash(result.migrated), after: modelHash(result.declared), steps: result.steps });
        const file = { version, name, file: `${version}_${name}.sql`, text };
        writeMigration(dir, file);
        saved = `${display}/${file.file}`;
        // The file holds exactly the steps the plan ran on the scratch engine: what they reached is the new migrated state.
        if (result.reached) memo.putState(migratedStateKey(memo, project, [...dir.files, file]), result.reached);
      }
    } finally {
      lock.release();
    }
  }
  const steps = result.steps;
  const onTarget = namesTarget({ url: g.url, env: g.env, processEnv: process.env }) ? await targetView(g, io, loaded.root, project, dir, display, memo) : undefined;
  const title = dir.files.length ? `the migrated state (${dir.files.length} migration${dir.files.length === 1 ? '' : 's'})` : 'an empty database (no migrations yet)';
  const open = steps.length + (onTarget ? onTarget.pending.length + onTarget.drift.length : 0);
  let code = options.detailedExitcode && open ? 2 : 0;
  if (options.save !== undefined && steps.length && refusing()) code = 3;

  if (io.json) {
    io.out(
      JSON.stringify(
        {
          schemaVersion: 1,
          steps: steps.map((s) => ({ object: s.object, action: s.action, risk: s.risk, reason: s.reason, sql: s.sql, ...(s.pipeline ? { pipeline: s.pipeline } : {}) })),
          pending: onTarget?.pending ?? [],
          drift: onTarget?.drift ?? [],
          ...(onTarget ? { target: onTarget.target } : {}),
          summary: summarize(steps),
          stats: { stateReadQueries: result.stateQueries, pipelines: project.pipelines.length, migrations: dir.files.length },
          ...(saved ? { saved } : {}),
          ...(code === 3 ? { refused: 'destructive steps need --allow-destructive' } : {}),
        },
        null,
        2,
      ),
    );
  } else {
    io.out(renderPlan(steps, io.paint, { sql: options.sql === true, title, width: io.width }));
    if (onTarget) {
      io.out(`\n${io.paint.bold(`target: ${onTarget.target}`)}`);
      io.out(onTarget.pending.length ? `pending: ${onTarget.pending.map((m) => `${m.version}_${m.name}`).join(', ')} (\`chpipe apply\` runs them)` : 'pending: none');
      io.out(renderDrift(onTarget.drift, io.paint));
    }
    if (saved) io.out(`\nSaved ${saved} and updated ${display}/chpipe.sum.`);
    else if (code === 3) io.err(`\nRefused to save: the plan has destructive steps. Review them, then run again with --allow-destructive. Nothing was written.`);
    else if (options.save !== undefined && !steps.length) io.out('Nothing to save.');
  }
  return code;
}

/** A target's pending migrations and drift (plan with --url, --env or CHPIPE_URL). */
async function targetView(g: GlobalOptions, io: Awaited<ReturnType<typeof makeIo>>, root: string, project: ProjectSpec, dir: MigrationDir, display: string, memo: Memo): Promise<{ target: string; pending: { version: string; name: string }[]; drift: Drift[] }> {
  const placement = { database: project.database, ...(project.cluster ? { cluster: project.cluster } : {}) };
  const connection = await openProjectTarget(g, io, { project, root, placement, dir, display }, 'plan', parseLockTimeout(undefined));
  try {
    const { migrationStatuses, driftOf } = await import('../../migrate/status.js');
    const statuses = await migrationStatuses(connection.driver, placement, dir.files, display);
    if (statuses.problems.length) throw new UserError(statuses.problems[0] as string);
    const scratch = await Scratch.open(memo, project.cluster !== undefined ? { cluster: project.cluster } : {});
    const { drift } = await driftOf({
      driver: connection.driver,
      scratch,
      placement,
      applied: statuses.applied,
      dirDisplay: display,
      env: process.env,
      ...(project.kafka.namedCollection ? { namedCollection: project.kafka.namedCollection } : {}),
    });
    if (project.cluster !== undefined) {
      const { targetBudgetWarnings } = await import('../../cluster/budget.js');
      for (const w of await targetBudgetWarnings(connection.driver, project, project.cluster, scratch.oracle())) io.err(`warning[consumer-budget]: ${w}`);
    }
    return { target: connection.description, pending: statuses.migrations.filter((m) => m.state !== 'applied').map((m) => ({ version: m.version, name: m.name })), drift };
  } finally {
    await connection.release();
  }
}

function fail(io: Awaited<ReturnType<typeof makeIo>>, diagnostics: Parameters<typeof renderDiagnostics>[0]): number {
  if (io.json) io.out(JSON.stringify(diagnosticsJson(diagnostics), null, 2));
  else io.err(renderDiagnostics(diagnostics, io.errPaint));
  return 1;
}

/** One line per warning on stderr, like a diagnostic but not an error. */
function renderWarning(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: warning[${d.code}]: ${d.message}${d.hint ? `\n  hint: ${d.hint}` : ''}`;
}

/** How long a save waits for another one to finish writing the folder. */
const LOCK_WAIT_MS = 30_000;

async function lockMigrations(path: string, display: string, command: string, note: (text: string) => void): Promise<MigrationLock> {
  const lockDisplay = `${display}/chpipe.lock`;
  const onWait = (h: LockHolder | undefined) =>
    note(`waiting for ${lockDisplay}, held by ${h ? `\`chpipe ${h.command}\` (pid ${h.pid} on ${h.host})` : 'another chpipe'} (up to ${LOCK_WAIT_MS / 1000} s)…`);
  try {
    return await acquireMigrationLock(path, { waitMs: LOCK_WAIT_MS, command, display: lockDisplay, onWait });
  } catch (e) {
    if (e instanceof LockBusyError) throw new UserError(`cannot save: ${e.message}`);
    throw e;
  }
}
