/**
 * The plan use case: declared state (compiled DDL run on a scratch engine and
 * read back) against migrated state (migrations replayed on a scratch engine
 * and read back), diffed and planned. The plan then proves itself: its steps
 * run on top of the migrated state must reach the declared state exactly.
 */
import { Memo } from '../check/memo.js';
import { Scratch } from '../check/scratch.js';
import { validateProject } from '../check/validate.js';
import { EngineError } from '../engine/driver.js';
import { diffModels, type RenameHints } from '../diff/diff.js';
import { objectName, type Model } from '../model/model.js';
import { planSteps, type Step } from '../plan/plan.js';
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import type { ProjectSpec } from '../spec/types.js';
import type { MigrationFile } from './files.js';
import { replayMigrations } from './replay.js';

export interface PlanResult {
  readonly steps: readonly Step[];
  readonly migrated?: Model;
  readonly declared?: Model;
  readonly diagnostics: readonly Diagnostic[];
  /** Queries used to read each state back (constant by design). */
  readonly stateQueries: number;
  /** The state the steps reached when the plan proved itself on the scratch engine. */
  readonly reached?: Model;
}

/** The memo key of the state that replaying these files builds. */
export function migratedStateKey(memo: Memo, spec: ProjectSpec, migrations: readonly MigrationFile[]): string {
  return memo.stateKey('migrated', spec.database, spec.kafka.namedCollection ?? '', ...migrations.flatMap((f) => [f.file, f.text]));
}

export function renameHints(spec: ProjectSpec): RenameHints {
  const hints = new Map<string, Map<string, string>>();
  for (const p of spec.pipelines) {
    if (p.kind !== 'ingest') continue;
    const renames = new Map(p.columns.filter((c) => c.renamedFrom !== undefined).map((c) => [c.name, c.renamedFrom as string]));
    if (renames.size) hints.set(objectName(p.name, 'table'), renames);
  }
  return hints;
}

export async function computePlan(spec: ProjectSpec, migrations: readonly MigrationFile[], migrationsDisplay: string, memo: Memo = Memo.none()): Promise<PlanResult> {
  const scratch = await Scratch.open(memo);
  try {
    const validation = await validateProject(spec, scratch);
    if (!validation.model || !validation.declared) return { steps: [], diagnostics: validation.diagnostics, stateQueries: 0 };
    const compiled = validation.model;
    const declared = validation.declared;

    const migratedKey = migratedStateKey(memo, spec, migrations);
    let migrated = memo.getState(migratedKey);
    let stateQueries = 0;
    /** Whether the scratch engine now holds the migrated state (replayed, not remembered). */
    let replayedHere = false;
    if (!migrated) {
      const replayed = await replayMigrations(scratch, compiled, migrations, migrationsDisplay, spec.kafka.namedCollection);
      if (replayed.length) return { steps: [], diagnostics: replayed, stateQueries };
      const inspection = await scratch.inspect(compiled);
      migrated = inspection.model;
      stateQueries = inspection.queries;
      replayedHere = true;
      memo.putState(migratedKey, migrated);
    }
    const changes = diffModels(migrated, declared, renameHints(spec));
    const steps = planSteps({ changes, from: migrated, to: declared, compiled });
    const result = { steps, migrated, declared, stateQueries };
    if (steps.length === 0) return { ...result, diagnostics: [] };

    // The migrated state must be in the scratch engine to prove the plan on it.
    if (!replayedHere) {
      const replayed = await replayMigrations(scratch, compiled, migrations, migrationsDisplay, spec.kafka.namedCollection);
      if (replayed.length) return { ...result, diagnostics: replayed };
    }

    // Prove the plan: run it over the migrated state (still in the scratch engine) and compare.
    for (const step of steps) {
      try {
        await scratch.run(step.sql);
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        return { ...result, diagnostics: [planFailure(spec, `step "${step.reason}" on ${step.object} was refused by ClickHouse: ${e.engineMessage}`)] };
      }
    }
    const reached = await scratch.inspect(compiled);
    const left = diffModels(reached.model, declared, new Map());
    if (left.length) {
      const what = left.map((c) => ('object' in c ? c.object.name : c.to.name) + ` (${c.kind})`).join(', ');
      return { ...result, diagnostics: [planFailure(spec, `the planned steps do not reach the declared state; still different: ${what}`)] };
    }
    return { ...result, reached: reached.model, diagnostics: [] };
  } finally {
    await scratch.close();
  }
}

function planFailure(spec: ProjectSpec, message: string) {
  return diagnostic({ file: spec.source.path, line: 1, col: 1 }, 'plan-unverified', message, { hint: 'this change cannot be planned automatically yet; please report it with the YAML diff' });
}
