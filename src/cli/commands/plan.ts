import { createRequire } from 'node:module';
import { relative, resolve } from 'node:path';
import { checkSum, describeSumProblem, migrationSlug, modelHash, nextVersion, renderMigration } from '../../migrate/files.js';
import { readMigrationDir, writeMigration } from '../../migrate/dir.js';
import { computePlan, migratedStateKey } from '../../migrate/planner.js';
import { worstRisk } from '../../plan/plan.js';
import { diagnosticsJson, renderDiagnostics } from '../../report/diagnostics.js';
import { renderPlan, summarize } from '../../report/plan.js';
import { makeIo, projectMemo, UserError, type GlobalOptions } from '../context.js';
import { loadProject } from '../project.js';

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
  if (g.url || g.env || process.env.CHPIPE_URL) {
    throw new UserError('plan against a target (pending migrations and drift) needs the migration history that `chpipe apply` keeps, which this version does not have yet; run `chpipe plan` without --url/--env/CHPIPE_URL');
  }
  const loaded = loadProject(g.config);
  const project = loaded.project;
  if (!project || loaded.diagnostics.length) return fail(io, loaded.diagnostics);
  const migrationsPath = resolve(loaded.root, project.migrationsDir);
  const display = relative(process.cwd(), migrationsPath) || '.';
  const dir = readMigrationDir(migrationsPath);
  const sumProblems = checkSum(dir.sum, dir.files);
  for (const stray of dir.strays) io.err(`warning: ${display}/${stray} is not named NNNN_name.sql and is ignored`);

  const memo = await projectMemo(g, loaded.root);
  const result = await computePlan(project, dir.files, display, memo);
  if (result.diagnostics.length) return fail(io, result.diagnostics);
  const steps = result.steps;
  const title = dir.files.length ? `the migrated state (${dir.files.length} migration${dir.files.length === 1 ? '' : 's'})` : 'an empty database (no migrations yet)';

  let saved: string | undefined;
  let code = options.detailedExitcode && steps.length ? 2 : 0;
  if (options.save !== undefined && steps.length) {
    if (sumProblems.length) {
      throw new UserError(`cannot save: ${sumProblems.map(describeSumProblem).join('; ')} (restore the files, or regenerate the migration)`);
    }
    if (worstRisk(steps) === 'destructive' && !options.allowDestructive) {
      code = 3;
    } else if (result.migrated && result.declared) {
      const version = nextVersion(dir.files);
      const name = migrationSlug(options.save);
      const text = renderMigration({ version, name, chpipeVersion, before: modelHash(result.migrated), after: modelHash(result.declared), steps });
      const file = { version, name, file: `${version}_${name}.sql`, text };
      writeMigration(dir, file);
      saved = `${display}/${file.file}`;
      // The file holds exactly the steps the plan ran on the scratch engine: what they reached is the new migrated state.
      if (result.reached) memo.putState(migratedStateKey(memo, project, [...dir.files, file]), result.reached);
    }
  }

  if (io.json) {
    io.out(
      JSON.stringify(
        {
          schemaVersion: 1,
          steps: steps.map((s) => ({ object: s.object, action: s.action, risk: s.risk, reason: s.reason, sql: s.sql, ...(s.pipeline ? { pipeline: s.pipeline } : {}) })),
          pending: [],
          drift: [],
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
    io.out(renderPlan(steps, io.paint, { sql: options.sql === true, title }));
    if (sumProblems.length) io.err(`warning: ${sumProblems.map(describeSumProblem).join('; ')}`);
    if (saved) io.out(`\nSaved ${saved} and updated ${display}/chpipe.sum.`);
    else if (code === 3) io.err(`\nRefused to save: the plan has destructive steps. Review them, then run again with --allow-destructive. Nothing was written.`);
    else if (options.save !== undefined && !steps.length) io.out('Nothing to save.');
  }
  return code;
}

function fail(io: Awaited<ReturnType<typeof makeIo>>, diagnostics: Parameters<typeof renderDiagnostics>[0]): number {
  if (io.json) io.out(JSON.stringify(diagnosticsJson(diagnostics), null, 2));
  else io.err(renderDiagnostics(diagnostics, io.errPaint));
  return 1;
}
