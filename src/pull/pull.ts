/**
 * `chpipe pull`: adopt the Kafka pipelines a target already runs.
 *
 *  1. read the target once (two queries: system.tables, system.columns);
 *  2. recognize pipelines by structure (recognize.ts) — a proposal;
 *  3. prove it: compile the proposed YAML with the project, create it on the
 *     scratch engine, create the target's objects there too, and compare the
 *     two in the engine's normal form. A pipeline whose objects differ in any
 *     way is not adopted: it is listed, with what differs, as unmanaged. On a
 *     cluster project (`cluster:`) the scratch engine runs in cluster mode:
 *     the proposal compiles to the cluster layout (Distributed tables over
 *     Replicated `_local` ones), compared with the target's the same way;
 *  4. the baseline: the steps that create the adopted pipelines from the
 *     migrated state become the next migration file (on a cluster project
 *     the cluster DDL, ON CLUSTER, as `plan --save` writes it), recorded on
 *     the target as applied without running (Atlas's `--baseline`), so `plan`
 *     is empty and `apply` does nothing;
 *  5. ownership: every adopted object gets chpipe's marker in its COMMENT
 *     (`ALTER TABLE … MODIFY COMMENT`, metadata only: no data, no consumer,
 *     no view is touched), so the target reads back as the migrations built it.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Memo } from '../check/memo.js';
import { Scratch } from '../check/scratch.js';
import { validateProject } from '../check/validate.js';
import { replicationOf } from '../compile/cluster.js';
import type { Driver } from '../engine/driver.js';
import { diffModels } from '../diff/diff.js';
import { describeDrift, maskSecrets } from '../diff/drift.js';
import { computePlan } from '../migrate/planner.js';
import { ensureHistoryTable, readRevisions, reviewRevisions, writeRevision } from '../migrate/revisions.js';
import { fileHash, migrationSlug, modelHash, nextVersion, parseMigration, renderMigration, statementsHash, type MigrationFile } from '../migrate/files.js';
import { normalizeOnScratch, readTarget } from '../migrate/status.js';
import { acquireTargetLock, DEFAULT_LOCK_TTL_MS, osUser } from '../migrate/target-lock.js';
import { makeModel, type DbObject, type Model, type Placement, type Settings } from '../model/model.js';
import { resolveBrokers } from '../spec/brokers.js';
import { parseProject, type InputFile } from '../spec/parse.js';
import type { ProjectSpec } from '../spec/types.js';
import { commentStatement } from '../sql/alter.js';
import { recognize, type PulledPipeline, type SecretReference, type Unmanaged } from './recognize.js';
import { renderPipelineYaml } from './yaml.js';

export interface PullInput {
  readonly driver: Driver;
  readonly spec: ProjectSpec;
  readonly placement: Placement;
  /** Migration files on disk, and how the folder is named in messages. */
  readonly migrations: readonly MigrationFile[];
  readonly migrationsDisplay: string;
  /** Where new pipeline files go, as shown in messages (e.g. `schemas/`), relative to the schemas folder. */
  readonly schemasDisplay: string;
  /** Path from a file in the schemas folder to pipeline.schema.json, when the project has one. */
  readonly schemaRef?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly memo?: Memo;
}

export interface PulledFile {
  readonly pipeline: string;
  readonly kind: PulledPipeline['kind'];
  /** Relative to the schemas folder. */
  readonly path: string;
  readonly text: string;
  readonly objects: readonly string[];
  readonly secrets: readonly SecretReference[];
}

export interface PullProposal {
  readonly files: readonly PulledFile[];
  readonly unmanaged: readonly Unmanaged[];
  /** The baseline migration (absent when the adopted pipelines are already in the migrations). */
  readonly baseline?: MigrationFile;
  /** COMMENT changes that put chpipe's ownership marker on adopted objects. */
  readonly comments: readonly { readonly object: string; readonly sql: string }[];
  /** Queries used to read the target (constant by design). */
  readonly stateQueries: number;
}

export class PullError extends Error {}

/** How many times a proposal is narrowed (a publish pipeline whose source was refused goes next round). */
const ROUNDS = 4;

/** Steps 1–4 without writing anything: the files, the baseline, the comments, and what stays unmanaged. */
export async function proposePull(input: PullInput, chpipeVersion: string): Promise<PullProposal> {
  const { driver, spec, placement } = input;
  const review = reviewRevisions(input.migrations, await readRevisions(driver, placement));
  if (review.problems.length) throw new PullError(`the target's history and ${input.migrationsDisplay}/ disagree; run \`chpipe status\` and fix that first`);
  const pending = review.migrations.filter((m) => m.revision?.status !== 'applied');
  if (pending.length) throw new PullError(`the target has ${pending.length} migration${pending.length > 1 ? 's' : ''} not applied (${pending.map((m) => m.file.file).join(', ')}); run \`chpipe apply\` first, so the baseline follows them`);

  const target = await readTarget(driver, placement);
  // Cluster mode: the scratch engine runs the ON CLUSTER DDL as one node (check/scratch.ts), as plan and status do.
  const scratch = await Scratch.open(input.memo, spec.cluster !== undefined ? { cluster: spec.cluster } : {});
  try {
    const defaults = await mergeTreeDefaults(scratch);
    const declaredObjects = new Set<string>();
    const compiledNow = await validateProject(spec, scratch);
    for (const o of compiledNow.model?.objects ?? []) declaredObjects.add(o.name);
    const recognition = recognize({
      model: target.model,
      kafka: {
        ...(spec.kafka.brokers !== undefined ? { brokers: projectBrokers(spec.kafka.brokers, input.env) } : {}),
        ...(spec.kafka.namedCollection !== undefined ? { namedCollection: spec.kafka.namedCollection } : {}),
        settings: spec.kafka.settings,
      },
      declaredPipelines: new Set(spec.pipelines.map((p) => p.name)),
      declaredObjects,
      defaultTableSettings: defaults,
      ...(spec.cluster !== undefined && spec.clusterLayout ? { cluster: { name: spec.cluster, replication: replicationOf(spec.clusterLayout) } } : {}),
    });
    let candidates = [...recognition.pipelines];
    const unmanaged: Unmanaged[] = [...recognition.unmanaged];
    let proven: { spec: ProjectSpec; declared: Model } | undefined;
    for (let round = 0; round < ROUNDS && candidates.length; round++) {
      const result = await prove(input, scratch, target.model, candidates);
      if (!result.refused.size) {
        proven = { spec: result.spec as ProjectSpec, declared: result.declared as Model };
        break;
      }
      for (const [name, reason] of result.refused) {
        const p = candidates.find((c) => c.name === name);
        for (const object of Object.values(p?.objects ?? {})) unmanaged.push({ object, reason });
      }
      candidates = candidates.filter((c) => !result.refused.has(c.name));
    }
    if (!proven) candidates = [];

    let baseline: MigrationFile | undefined;
    if (proven && candidates.length) {
      const plan = await computePlan(proven.spec, input.migrations, input.migrationsDisplay, input.memo);
      if (plan.diagnostics.length) throw new PullError(`the adopted pipelines do not plan: ${plan.diagnostics[0]?.message}`);
      const adopted = new Set(candidates.map((c) => c.name));
      // The database itself (no pipeline) and the adopted pipelines' objects, nothing else.
      const foreign = plan.steps.filter((s) => s.pipeline !== undefined && !adopted.has(s.pipeline));
      if (foreign.length) {
        throw new PullError(`the project has changes that are not saved as a migration (${foreign.map((s) => `${s.action} ${s.object}`).slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); run \`chpipe plan --save NAME\` and \`chpipe apply\` first, so the baseline holds only what pull adopts`);
      }
      if (plan.steps.length && plan.migrated && plan.declared) {
        const version = nextVersion(input.migrations);
        const name = migrationSlug('pull_baseline');
        const text = renderMigration({ version, name, chpipeVersion, before: modelHash(plan.migrated), after: modelHash(plan.declared), steps: plan.steps });
        baseline = { version, name, file: `${version}_${name}.sql`, text: baselineHeader(text) };
      }
    }

    const comments: { object: string; sql: string }[] = [];
    if (proven) {
      const declaredComment = new Map(proven.declared.objects.map((o) => [o.name, o.comment]));
      for (const c of candidates) {
        for (const name of Object.values(c.objects)) {
          const want = declaredComment.get(name);
          const have = target.model.objects.find((o) => o.name === name)?.comment;
          if (want !== undefined && want !== have) comments.push({ object: `${placement.database}.${name}`, sql: commentStatement(placement, name, want) });
        }
      }
    }
    const files = candidates.map(
      (c): PulledFile => ({
        pipeline: c.name,
        kind: c.kind,
        path: `${c.name}.yaml`,
        text: renderPipelineYaml(c, input.schemaRef),
        objects: Object.values(c.objects),
        secrets: c.secrets,
      }),
    );
    return { files, unmanaged: unmanaged.sort((a, b) => (a.object < b.object ? -1 : 1)), ...(baseline ? { baseline } : {}), comments, stateQueries: target.queries };
  } finally {
    await scratch.close();
  }
}

function baselineHeader(text: string): string {
  const lines = text.split('\n');
  const end = lines.findIndex((l) => !l.startsWith('--'));
  lines.splice(end < 0 ? lines.length : end, 0, '-- baseline: written by `chpipe pull` for objects that already existed on the target it pulled from; recorded there as applied without running');
  return lines.join('\n');
}

/** MergeTree settings at their default values on this engine: left out of the YAML. */
async function mergeTreeDefaults(scratch: Scratch): Promise<Settings> {
  const rows = await scratch.query<{ name: string; value: string }>("SELECT name, value FROM system.merge_tree_settings WHERE name IN ('index_granularity', 'index_granularity_bytes', 'min_bytes_for_wide_part')");
  return Object.fromEntries(rows.map((r) => [r.name, /^\d+$/.test(r.value) ? Number(r.value) : r.value]));
}

/**
 * Compile the candidates with the project and compare what chpipe would
 * create with the target's objects, both in the scratch engine's normal form.
 * The pipelines that differ, with the reason in words.
 */
async function prove(input: PullInput, scratch: Scratch, target: Model, candidates: readonly PulledPipeline[]): Promise<{ refused: Map<string, string>; spec?: ProjectSpec; declared?: Model }> {
  const { spec, placement } = input;
  const refused = new Map<string, string>();
  const pathOf = (c: PulledPipeline) => `${input.schemasDisplay}${c.name}.yaml`;
  const files: InputFile[] = [...spec.pipelines.map((p) => ({ path: p.file.path, text: p.file.text })), ...candidates.map((c) => ({ path: pathOf(c), text: renderPipelineYaml(c) }))];
  // Secrets are references the pipeline files name: give them a value for the proof only.
  const env = { ...input.env, ...Object.fromEntries(candidates.flatMap((c) => c.secrets.map((s) => [s.variable, input.env[s.variable] ?? 'x']))) };
  const parsed = parseProject({ path: spec.source.path, text: spec.source.text }, files, env);
  for (const d of parsed.diagnostics) {
    const c = candidates.find((x) => pathOf(x) === d.file);
    if (c) refused.set(c.name, `its pipeline file would not be valid: ${d.message}`);
  }
  if (refused.size || !parsed.project) return { refused };
  const validation = await validateProject(parsed.project, scratch);
  for (const d of validation.diagnostics) {
    const c = candidates.find((x) => pathOf(x) === d.file);
    if (c) refused.set(c.name, `chpipe cannot compile it: ${d.message}`);
  }
  if (refused.size) return { refused };
  if (!validation.declared || !validation.model) throw new PullError(`the project does not validate: ${validation.diagnostics[0]?.message ?? 'unknown problem'}`);
  const declared = validation.declared;
  const adopted = new Map<string, { pipeline: string; object: DbObject }>();
  for (const c of candidates) {
    for (const name of Object.values(c.objects)) {
      const object = declared.objects.find((o) => o.name === name);
      if (object) adopted.set(name, { pipeline: c.name, object });
    }
  }
  // The target's objects, each adopted one carrying the owner and comment chpipe gives it (pull writes that comment).
  const stamped = makeModel(
    placement,
    target.objects.map((o): DbObject => {
      const a = adopted.get(o.name);
      return a ? ({ ...o, comment: a.object.comment, ...(a.object.owner ? { owner: a.object.owner } : {}) } as DbObject) : o;
    }),
  );
  const normalized = await normalizeOnScratch(scratch, stamped, declared, spec.kafka.namedCollection);
  // Brokers and named collections were matched by recognize.ts on typed values; the scratch holds ${VAR} references inert.
  const comparable = (m: Model, names: ReadonlySet<string>) =>
    maskSecrets(
      makeModel(
        m,
        m.objects.filter((o) => names.has(o.name)).map((o): DbObject => (o.kind === 'kafka' ? { ...o, brokers: undefined, namedCollection: undefined } : o)),
      ),
    );
  const names = new Set(adopted.keys());
  for (const c of candidates) {
    const missing = Object.values(c.objects).filter((n) => !declared.objects.some((o) => o.name === n));
    if (missing.length) refused.set(c.name, `chpipe would not create ${missing.join(', ')}`);
    const extra = declared.objects.filter((o) => o.owner?.pipeline === c.name && !Object.values(c.objects).includes(o.name)).map((o) => o.name);
    if (extra.length) refused.set(c.name, `chpipe would also create ${extra.join(', ')}, which the target does not have`);
  }
  // Cluster mode: a Distributed table chpipe would spread rows by another key (both in the engine's normal form).
  for (const [name, { pipeline, object }] of adopted) {
    const have = normalized.objects.find((o) => o.name === name);
    if (object.kind !== 'distributed' || have?.kind !== 'distributed' || refused.has(pipeline)) continue;
    if (have.shardingKey !== object.shardingKey) refused.set(pipeline, `its Distributed table ${name} shards rows by ${have.shardingKey}, and chpipe.yaml declares cluster.sharding_key ${object.shardingKey}`);
  }
  const drift = describeDrift(placement.database, diffModels(comparable(declared, names), comparable(normalized, names)));
  for (const d of drift) {
    const name = d.object.slice(placement.database.length + 1);
    const pipeline = adopted.get(name)?.pipeline;
    if (pipeline && !refused.has(pipeline)) refused.set(pipeline, `chpipe would generate ${name} differently: ${d.detail.replace(/on the target, (.*?) in the migrations/g, 'on the target, $1 from the pulled YAML')}`);
  }
  return refused.size ? { refused } : { refused, spec: parsed.project, declared };
}

/**
 * Step 5 and the record: the baseline as applied on the target, then the ownership comments; under the target's
 * lock. `writeFiles` (the pipeline files and the baseline) runs once the history table is there, before the
 * record: creating the history is what most often fails (on a cluster it is created ON CLUSTER, on every host),
 * and then nothing was written.
 */
export async function adoptOnTarget(driver: Driver, placement: Placement, proposal: PullProposal, options: { chpipeVersion: string; waitMs: number; onWait?: () => void; writeFiles?: () => void | Promise<void> }): Promise<void> {
  const lock = await acquireTargetLock(driver, placement, { waitMs: options.waitMs, ttlMs: DEFAULT_LOCK_TTL_MS, command: 'pull', ...(options.onWait ? { onWait: options.onWait } : {}) });
  try {
    // In cluster mode the history is shared by the hosts: a Replicated table created ON CLUSTER (migrate/revisions.ts).
    if (proposal.baseline) await ensureHistoryTable(driver, placement);
    await options.writeFiles?.();
    if (proposal.baseline) {
      const statements = parseMigration(proposal.baseline.text);
      const now = new Date().toISOString();
      const dbUser = (await driver.query<{ user: string }>('SELECT currentUser() AS user'))[0]?.user ?? '';
      await writeRevision(driver, placement, {
        version: proposal.baseline.version,
        name: proposal.baseline.name,
        checksum: fileHash(proposal.baseline.text),
        status: 'applied',
        statements_done: statements.length,
        statements_total: statements.length,
        done_checksum: statementsHash(statements, statements.length),
        failed_statement: 0,
        error: '',
        started_at: now,
        finished_at: now,
        duration_ms: 0,
        host: hostname(),
        os_user: osUser(),
        db_user: dbUser,
        chpipe_version: options.chpipeVersion,
        attempt: 1,
        seq: 1,
      });
    }
    for (const c of proposal.comments) await driver.exec(c.sql);
  } finally {
    await lock.release().catch(() => {});
  }
}

/** A stable digest of what a pull would write, for tests that compare two pulls. */
export function proposalDigest(p: PullProposal): string {
  return createHash('sha256')
    .update(JSON.stringify(p.files.map((f) => [f.path, f.text])))
    .digest('hex')
    .slice(0, 16);
}

/** The project's brokers as its Kafka tables name them once applied: resolved from the environment (see resolveBrokers), `host:port,host:port`. */
function projectBrokers(text: string, env: Readonly<Record<string, string | undefined>>): string {
  const resolved = resolveBrokers(text, env);
  return resolved.ok ? resolved.brokers.join(',') : text;
}
