/**
 * The plan use case: declared state (compiled DDL run on a scratch engine and
 * read back) against migrated state (migrations replayed on a scratch engine
 * and read back), diffed and planned. The plan then proves itself: its steps
 * run on top of the migrated state must reach the declared state exactly.
 */
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

export async function computePlan(spec: ProjectSpec, migrations: readonly MigrationFile[], migrationsDisplay: string): Promise<PlanResult> {
  const scratch = await Scratch.open();
  try {
    const validation = await validateProject(spec, scratch);
    if (!validation.model) return { steps: [], diagnostics: validation.diagnostics, stateQueries: 0 };
    const compiled = validation.model;
    const declared = await scratch.inspect(compiled);

    const replayed = await replayMigrations(scratch, compiled, migrations, migrationsDisplay, spec.kafka.namedCollection);
    if (replayed.length) return { steps: [], diagnostics: replayed, stateQueries: declared.queries };
    const migrated = await scratch.inspect(compiled);

    const changes = diffModels(migrated.model, declared.model, renameHints(spec));
    const steps = planSteps({ changes, from: migrated.model, to: declared.model, compiled });
    const result = { steps, migrated: migrated.model, declared: declared.model, stateQueries: migrated.queries };
    if (steps.length === 0) return { ...result, diagnostics: [] };

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
    const left = diffModels(reached.model, declared.model, new Map());
    if (left.length) {
      const what = left.map((c) => ('object' in c ? c.object.name : c.to.name) + ` (${c.kind})`).join(', ');
      return { ...result, diagnostics: [planFailure(spec, `the planned steps do not reach the declared state; still different: ${what}`)] };
    }
    return { ...result, diagnostics: [] };
  } finally {
    await scratch.close();
  }
}

function planFailure(spec: ProjectSpec, message: string) {
  return diagnostic({ file: spec.source.path, line: 1, col: 1 }, 'plan-unverified', message, { hint: 'this change cannot be planned automatically yet; please report it with the YAML diff' });
}
