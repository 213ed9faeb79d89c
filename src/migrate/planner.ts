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
import { pipelineObjectName, type Model } from '../model/model.js';
import { planSteps, type Step } from '../plan/plan.js';
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import { locate } from '../spec/source.js';
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
    if (renames.size) hints.set(pipelineObjectName(p, 'table'), renames);
  }
  return hints;
}

export async function computePlan(spec: ProjectSpec, migrations: readonly MigrationFile[], migrationsDisplay: string, memo: Memo = Memo.none()): Promise<PlanResult> {
  const scratch = await Scratch.open(memo);
  try {
    const validation = await validateProject(spec, scratch);
    if (spec.cluster !== undefined && validation.diagnostics.length === 0) {
      // Cluster mode (docs/cluster.md): the scratch engine cannot replay ON CLUSTER statements (no Keeper, no DDL worker), so no migrated state to plan from yet.
      const at = locate(spec.source, ['cluster']);
      return { steps: [], diagnostics: [diagnostic(at, 'unsupported', `plan in cluster mode is not supported yet: the migrated state of cluster statements cannot be replayed on the embedded engine`, { hint: '`chpipe compile` prints the cluster DDL; docs/cluster.md says what runs on a cluster today' })], stateQueries: 0 };
    }
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
      const moved = await databaseMoved(scratch, spec);
      if (moved) return { steps: [], diagnostics: [moved], stateQueries };
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
        return { ...result, diagnostics: [planFailure(spec, `step "${step.reason}" on ${step.object} was refused by ClickHouse: ${e.engineMessage}`, step.pipeline)] };
      }
    }
    const reached = await scratch.inspect(compiled);
    const left = diffModels(reached.model, declared, new Map());
    if (left.length) {
      const objects = left.map((c) => ('object' in c ? c.object : c.to));
      const what = left.map((c, i) => `${objects[i]?.name} (${c.kind})`).join(', ');
      return { ...result, diagnostics: [planFailure(spec, `the planned steps do not reach the declared state; still different: ${what}`, objects[0]?.owner?.pipeline)] };
    }
    return { ...result, reached: reached.model, diagnostics: [] };
  } finally {
    await scratch.close();
  }
}

/**
 * The planned steps failed their proof: that is chpipe's bug, not the user's. Say so at the pipeline
 * whose objects differ, with what to do meanwhile.
 */
function planFailure(spec: ProjectSpec, message: string, pipeline?: string) {
  const file = spec.pipelines.find((p) => p.name === pipeline)?.file;
  const at = file ? locate(file, ['name']) : locate(spec.source, ['database']);
  return diagnostic(at, 'plan-unverified', message, {
    hint: 'nothing was written; split the change into smaller ones (one pipeline, one key at a time) and plan each, and report this change to chpipe with its YAML diff',
  });
}

/**
 * `database:` changed: the history creates every object in another database. chpipe does not move
 * pipelines between databases (the default consumer groups, chpipe_<database>_<name>, would change
 * too, and every topic would be re-read); say so at the `database:` line, with what to do instead.
 */
async function databaseMoved(scratch: Scratch, spec: ProjectSpec): Promise<Diagnostic | undefined> {
  const elsewhere = await scratch.ownedDatabases();
  const previous = elsewhere.filter((d) => d !== spec.database);
  if (!previous.length || elsewhere.includes(spec.database)) return undefined;
  return diagnostic(locate(spec.source, ['database']), 'database-changed', `database changes from ${previous.join(', ')} to ${spec.database}, but migrations/ creates the pipelines in ${previous.join(', ')}: chpipe does not move pipelines between databases (their tables, and the default consumer groups chpipe_<database>_<name>, which would re-read every topic)`, {
    expected: `database: ${previous[0]}`,
    hint: `keep database: ${previous[0]}; to start over in ${spec.database}, move migrations/ aside and run \`chpipe plan --save initial\` (the old database is left as it is)`,
  });
}
