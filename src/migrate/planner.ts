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
import { localName, makeModel, pipelineObjectName, type Model } from '../model/model.js';
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
    if (!renames.size) continue;
    hints.set(pipelineObjectName(p, 'table'), renames);
    // Cluster mode: the rows are in the per-node table under the Distributed one.
    if (spec.cluster !== undefined) hints.set(localName(pipelineObjectName(p, 'table')), renames);
  }
  return hints;
}

export async function computePlan(spec: ProjectSpec, migrations: readonly MigrationFile[], migrationsDisplay: string, memo: Memo = Memo.none()): Promise<PlanResult> {
  // Cluster mode: the scratch engine runs ON CLUSTER statements as each node would (check/scratch.ts).
  const scratch = await Scratch.open(memo, spec.cluster !== undefined ? { cluster: spec.cluster } : {});
  try {
    const validation = await validateProject(spec, scratch);
    if (!validation.model || !validation.declared) return { steps: [], diagnostics: validation.diagnostics, stateQueries: 0 };
    const compiled = validation.model;
    const declared = validation.declared;

    const migratedKey = migratedStateKey(memo, spec, migrations);
    // Cluster mode replays every time: which objects the history created on one server only is read from the scratch engine.
    let migrated = spec.cluster === undefined ? memo.getState(migratedKey) : undefined;
    let singleServer: string[] = [];
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
      if (spec.cluster !== undefined) singleServer = await scratch.singleServerObjects(spec.database);
      replayedHere = true;
      memo.putState(migratedKey, migrated);
    }
    const steps = singleServer.length ? toClusterSteps(spec, migrated, declared, compiled, singleServer) : planSteps({ changes: diffModels(migrated, declared, renameHints(spec)), from: migrated, to: declared, compiled });
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
 * Cluster mode over a history that created objects on one server: switching a project to a cluster is a rebuild.
 * Every migrated object is dropped (ON CLUSTER, IF EXISTS: on the server that has it, a no-op elsewhere), then
 * every declared object is created ON CLUSTER on every node. The tables' rows are not copied (docs/cluster.md says
 * how to keep them): their drops are destructive.
 */
function toClusterSteps(spec: ProjectSpec, migrated: Model, declared: Model, compiled: Model, singleServer: readonly string[]): Step[] {
  const cluster = spec.cluster as string;
  const none = makeModel({ database: declared.database, cluster }, []);
  const why = `switch to cluster ${cluster}, a rebuild (${singleServer.length} object${singleServer.length === 1 ? ' was' : 's were'} created on one server; every object is recreated ON CLUSTER on every node)`;
  // The drops, in the order a removal would take (flows first), each said as part of the rebuild.
  const drops = planSteps({ changes: diffModels(migrated, none), from: migrated, to: none }).map((s): Step => {
    if (s.op.kind !== 'drop') return { ...s, reason: `${why}: ${s.reason}` };
    const o = migrated.objects.find((x) => x.name === (s.op.kind === 'drop' ? s.op.object.name : '')) ?? s.op.object;
    switch (o.kind) {
      case 'table':
        return { ...s, risk: 'destructive', reason: `${why}: drop table ${o.name} and its rows; they are not copied (docs/cluster.md says how to keep them)` };
      case 'mv':
        return { ...s, risk: 'safe', reason: `${why}: stop the flow ${o.name}; it is created again on every node below and resumes from its group's committed offsets` };
      case 'kafka':
        return { ...s, risk: 'safe', reason: `${why}: drop queue ${o.name} (${'group' in o ? `group ${o.group}` : 'its group'} keeps its offsets in Kafka; the queues created below on every node use the same group)` };
      default:
        return { ...s, risk: 'safe', reason: `${why}: drop ${o.kind === 'view' ? 'view' : o.kind === 'null' ? 'hub' : 'table'} ${o.name} (it stores nothing; created again below)` };
    }
  });
  const creates = planSteps({ changes: diffModels(none, declared), from: none, to: declared, compiled }).map((s) => ({ ...s, reason: `${why}: ${s.reason}`, ...(s.rerunFrom !== undefined ? { rerunFrom: s.rerunFrom + drops.length } : {}) }));
  return [...drops, ...creates];
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
