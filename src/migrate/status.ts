/**
 * A target's status: each migration applied, pending or failed (from the
 * target's history), and drift between the target and the state its applied
 * migrations build. Both states go through the same scratch engine: the
 * applied files are replayed on it (environment values filled in, as apply
 * ran them), and the target's objects, read in a constant number of queries,
 * are created on it again and read back. So a server of another version,
 * which prints queries and types its own way, compares in the scratch
 * engine's normal form; secret settings compare as `[HIDDEN]`.
 *
 * Asked for (`withConsumers`), it also reports each Kafka table's consumer
 * health: its consumers from `system.kafka_consumers` (one query for the
 * database, on servers that have the table) and the group's lag per partition
 * from the brokers (src/kafka/lag.ts, loaded only then). Neither can fail the
 * status: what cannot be read is `null` with a note.
 */
import type { Scratch } from '../check/scratch.js';
import type { Driver } from '../engine/driver.js';
import { diffModels } from '../diff/diff.js';
import { describeDrift, maskSecrets, type Drift } from '../diff/drift.js';
import { inspectDatabase } from '../inspect/inspect.js';
import { makeModel, type DbObject, type KafkaTable, type MaterializedView, type Model, type Placement, type View } from '../model/model.js';
import { fillReferences } from '../spec/env.js';
import { createStatements } from '../sql/ddl.js';
import { explainAst, parseSelect } from '../sql/query.js';
import { EngineError } from '../engine/driver.js';
import { supports } from '../engine/version.js';
import { readKafkaConsumers, type KafkaConsumer } from '../inspect/consumers.js';
import type { LagOptions, PartitionLag } from '../kafka/lag.js';
import type { SampleOptions } from '../kafka/sample.js';
import type { ProducerDrift } from '../infer/producers.js';
import type { HostStatus } from '../cluster/state.js';
import { OWN_OBJECT_PREFIX } from '../sql/history.js';
import { MigrationError } from './errors.js';
import { migrationEnvironment, type MigrationFile } from './files.js';
import { replayMigrations } from './replay.js';
import { readRevisions, reviewRevisions, revisionProblemMessage, type Revision } from './revisions.js';

export type MigrationState = 'applied' | 'pending' | 'failed';

export interface MigrationStatus {
  readonly version: string;
  readonly name: string;
  readonly file: string;
  readonly state: MigrationState;
  readonly statementsDone: number;
  readonly statements?: number;
  /** A failed (or interrupted) run: the 1-based statement and the engine's message. */
  readonly failedStatement?: number;
  readonly error?: string;
  /** An interrupted run (killed, connection lost): `apply` continues it. */
  readonly interrupted?: boolean;
  readonly finishedAt?: string;
}

export interface TargetStatus {
  readonly target: string;
  readonly serverVersion: string;
  readonly migrations: readonly MigrationStatus[];
  readonly drift: readonly Drift[];
  /** Edited or missing applied files, out-of-order files: apply refuses to run until they are fixed. */
  readonly problems: readonly string[];
  /** Queries used to read the target's objects (constant by design). */
  readonly stateQueries: number;
  /** Consumer health per Kafka table, by table name; empty unless asked for (`withConsumers`). */
  readonly consumers: readonly QueueHealth[];
  /** Queries used to read the consumers (0 or 1, whatever the number of tables). */
  readonly consumerQueries: number;
  /** Producer drift per ingest queue (src/infer/producers.ts); absent unless asked for (`producers`). */
  readonly producers?: readonly ProducerDrift[];
  /**
   * Cluster mode (`cluster`): every host's drift, read over this one connection (cluster/state.ts); absent on a
   * single server. Empty when the cluster could not be read (`problems` says why).
   */
  readonly hosts?: readonly HostStatus[];
  /** Cluster mode: queries used to read every host (constant by design, whatever the number of hosts). */
  readonly clusterQueries?: number;
}

/** A Kafka table's consumers and its group's lag. */
export interface QueueHealth {
  /** The pipeline the table serves (its ownership marker), `null` for a table chpipe does not manage. */
  readonly pipeline: string | null;
  readonly table: string;
  readonly group: string;
  readonly topics: readonly string[];
  /** The table's consumers; `null` when the server cannot say (no system.kafka_consumers). */
  readonly consumers: readonly KafkaConsumer[] | null;
  /** Per partition of the topics; `null` when the brokers could not be asked or did not answer. */
  readonly lag: readonly PartitionLag[] | null;
  /** Why something is `null` or missing, one sentence each. */
  readonly notes: readonly string[];
}

/** A Kafka table whose consumers cannot be vouched for: its brokers could not be asked for its lag (down, unreachable, or not named). */
export interface UnhealthyQueue {
  readonly table: string;
  /** Why, one sentence each (the queue's notes). */
  readonly reasons: readonly string[];
}

/** The Kafka tables whose lag could not be read: what `status --detailed-exitcode` counts as needing attention. */
export function unhealthyQueues(queues: readonly QueueHealth[]): UnhealthyQueue[] {
  return queues.filter((q) => q.lag === null).map((q) => ({ table: q.table, reasons: q.notes.length ? q.notes : ['lag unknown'] }));
}

function statusOf(file: MigrationFile, r: Revision | undefined): MigrationStatus {
  const base = { version: file.version, name: file.name, file: file.file };
  if (!r) return { ...base, state: 'pending', statementsDone: 0 };
  if (r.status === 'applied') return { ...base, state: 'applied', statementsDone: r.statements_done, statements: r.statements_total, ...(r.finished_at ? { finishedAt: r.finished_at } : {}) };
  if (r.status === 'failed') return { ...base, state: 'failed', statementsDone: r.statements_done, statements: r.statements_total, failedStatement: r.failed_statement, error: r.error };
  // Started and never finished: the process died or lost the target; apply resumes it.
  return { ...base, state: 'failed', statementsDone: r.statements_done, statements: r.statements_total, interrupted: true };
}

/** The target's migrations, by the history on it. */
export async function migrationStatuses(driver: Driver, placement: Placement, files: readonly MigrationFile[], dirDisplay: string): Promise<{ migrations: MigrationStatus[]; problems: string[]; applied: MigrationFile[] }> {
  const review = reviewRevisions(files, await readRevisions(driver, placement));
  return {
    migrations: review.migrations.map((m) => statusOf(m.file, m.revision)),
    problems: review.problems.map((p) => revisionProblemMessage(p, dirDisplay)),
    applied: review.migrations.filter((m) => m.revision?.status === 'applied').map((m) => m.file),
  };
}

/** A file with its environment references filled in, as apply ran it. */
export function filled(file: MigrationFile, env: Readonly<Record<string, string | undefined>>): MigrationFile {
  const { variables } = migrationEnvironment(file.text);
  return { ...file, text: fillReferences(file.text, variables, env).value };
}

/** A target's objects without chpipe's own history and lock tables. */
export function withoutOwnObjects(model: Model): Model {
  return makeModel(model, model.objects.filter((o) => !o.name.startsWith(OWN_OBJECT_PREFIX)));
}

/** The target's objects, without chpipe's own history and lock tables. */
export async function readTarget(driver: Driver, placement: Placement): Promise<{ model: Model; queries: number }> {
  const { model, queries } = await inspectDatabase(driver, placement);
  return { model: withoutOwnObjects(model), queries };
}

/** What differs on a target (its objects normalized on the scratch engine) from the migrated state, per object; secrets compare as hidden. */
export function driftAgainst(database: string, migrated: Model, normalized: Model): Drift[] {
  return describeDrift(database, diffModels(maskSecrets(migrated), maskSecrets(normalized)));
}

/**
 * The target's objects created again on the scratch engine and read back: its
 * normal form. Then each view or flow whose SELECT is, by the scratch engine's
 * parse, the one the migrations built takes the migrated text (`sameQueries`).
 */
export async function normalizeOnScratch(scratch: Scratch, target: Model, migrated: Model, namedCollection?: string): Promise<Model> {
  await scratch.reset(target, namedCollection);
  for (const s of createStatements(target)) {
    try {
      await scratch.run(s.sql);
    } catch (e) {
      // An object the scratch engine refuses (say, it reads a table outside the database) is compared as read.
      if (!(e instanceof EngineError)) throw e;
    }
  }
  return sameQueries(scratch, migrated, (await scratch.inspect(target)).model);
}

type Query = MaterializedView | View;

/**
 * Why the text of a view's SELECT is not enough: ClickHouse 26.x prints
 * parentheses as they were written (chpipe writes a filter as `WHERE (cond)`),
 * where 24.8 and 25.8 drop the ones around a whole condition when they store
 * the view (docs/engine-versions.md). A flow read from an older target says
 * `WHERE cond`, and the scratch engine keeps that when the flow is created
 * again, while the same migration replayed on the scratch says `WHERE (cond)`:
 * "its SELECT differs" where nothing does.
 *
 * Parentheses leave no node in the engine's syntax tree, so the two compare
 * by `EXPLAIN AST` on the scratch engine, and only when both have the usual
 * shape (`SELECT … FROM … [WHERE …] [GROUP BY …]`, split by `parseSelect`)
 * with the same clauses: the tree's dump does not name the clause a child
 * belongs to, nor flags such as DISTINCT, which that shape excludes. Queries
 * that differ in text only are asked about (none, when the target runs the
 * scratch's version).
 */
async function sameQueries(scratch: Scratch, migrated: Model, normalized: Model): Promise<Model> {
  const before = new Map(migrated.objects.map((o) => [o.name, o]));
  const objects: DbObject[] = [];
  for (const o of normalized.objects) {
    const m = before.get(o.name);
    const same = (o.kind === 'mv' || o.kind === 'view') && m?.kind === o.kind && m.select !== o.select && (await sameQuery(scratch, m, o));
    objects.push(same ? { ...o, select: m.select, ...(o.kind === 'mv' && m.kind === 'mv' && m.query ? { query: m.query } : {}) } : o);
  }
  return makeModel(normalized, objects);
}

async function sameQuery(scratch: Scratch, a: Query, b: Query): Promise<boolean> {
  const pa = parseSelect(a.select);
  const pb = parseSelect(b.select);
  if (!pa || !pb || (pa.where === undefined) !== (pb.where === undefined) || (pa.groupBy === undefined) !== (pb.groupBy === undefined)) return false;
  try {
    const tree = async (q: Query) => (await scratch.query<{ explain: string }>(explainAst(q.select))).map((r) => r.explain);
    const ta = await tree(a);
    const tb = await tree(b);
    return ta.length > 0 && ta.length === tb.length && ta.every((line, i) => line === tb[i]);
  } catch (e) {
    if (e instanceof EngineError) return false;
    throw e;
  }
}

/** What reading a target's state needs: the target, the scratch engine, and how apply ran the migrations. */
export interface TargetInput {
  readonly driver: Driver;
  readonly scratch: Scratch;
  readonly placement: Placement;
  readonly dirDisplay: string;
  /** The environment `${VAR}` references are filled in from, as apply filled them. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly namedCollection?: string;
}

export async function driftOf(args: TargetInput & { readonly applied: readonly MigrationFile[] }): Promise<{ drift: Drift[]; queries: number; target: Model; migrated: Model }> {
  const { driver, scratch, placement } = args;
  const target = await readTarget(driver, placement);
  const replayed = await replayMigrations(scratch, placement, args.applied.map((f) => filled(f, args.env)), args.dirDisplay, args.namedCollection);
  const failed = replayed[0];
  if (failed) throw new MigrationError(`${failed.file}:${failed.line}: ${failed.message}`);
  const migrated = (await scratch.inspect(placement)).model;
  const normalized = await normalizeOnScratch(scratch, target.model, migrated, args.namedCollection);
  return { drift: driftAgainst(placement.database, migrated, normalized), queries: target.queries, target: target.model, migrated };
}

export async function targetStatus(
  args: TargetInput & {
    readonly files: readonly MigrationFile[];
    readonly withConsumers?: boolean;
    readonly lag?: LagOptions;
    /** Sample each ingest topic for producer drift. */
    readonly producers?: SampleOptions;
    /** Cluster mode: also read every host of this cluster (drift per host, the layout against the hosts' macros). */
    readonly cluster?: string;
  },
): Promise<TargetStatus> {
  const { migrations, problems, applied } = await migrationStatuses(args.driver, args.placement, args.files, args.dirDisplay);
  const { drift, queries, target, migrated } = await driftOf({ ...args, applied });
  // Loaded only in cluster mode; after driftOf, which this reuses the migrated state of (each host resets the scratch).
  const cluster = args.cluster !== undefined ? await (await import('../cluster/state.js')).clusterStatus({ ...args, cluster: args.cluster, migrated }) : undefined;
  const serverVersion = await args.driver.version();
  const health = args.withConsumers ? await consumerHealth(args.driver, args.placement, serverVersion, target, args.lag) : { queues: [], queries: 0 };
  // Loaded only when asked for: sampling needs the Kafka client.
  const producers = args.producers ? await (await import('../infer/producers.js')).producerDrift(args.scratch, target, args.producers) : undefined;
  return {
    target: args.driver.target,
    serverVersion,
    migrations,
    drift,
    problems: [...problems, ...(cluster?.problems ?? [])],
    stateQueries: queries,
    consumers: health.queues,
    consumerQueries: health.queries,
    ...(producers ? { producers } : {}),
    ...(cluster ? { hosts: cluster.hosts, clusterQueries: cluster.queries } : {}),
  };
}

/**
 * Each Kafka table of `target` (as read back from the server, so its brokers
 * are the ones the server uses) with its consumers and its group's lag.
 */
export async function consumerHealth(driver: Driver, placement: Placement, serverVersion: string, target: Model, lag?: LagOptions): Promise<{ queues: QueueHealth[]; queries: number }> {
  const tables = target.objects.filter((o): o is KafkaTable => o.kind === 'kafka');
  if (!tables.length) return { queues: [], queries: 0 };
  let consumers: KafkaConsumer[] | undefined;
  let queries = 0;
  let consumersNote: string | undefined;
  if (!supports(serverVersion, 'kafka_consumers')) consumersNote = `ClickHouse ${serverVersion} has no system.kafka_consumers (23.8 and later have it): consumers unknown`;
  else {
    try {
      queries++;
      consumers = (await readKafkaConsumers(driver, placement)).consumers;
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      consumersNote = `system.kafka_consumers could not be read: ${e.engineMessage}`;
    }
  }
  const askable = tables.filter((t) => t.brokers !== undefined && t.group !== '' && t.topics.length > 0);
  const lags = askable.length ? await (await import('../kafka/lag.js')).readLag(askable.map((t) => ({ brokers: t.brokers as string, group: t.group, topics: t.topics })), lag) : [];
  const lagOf = new Map(askable.map((t, i) => [t.name, lags[i]]));
  const queues = tables.map((t): QueueHealth => {
    const l = lagOf.get(t.name);
    const notes = [...(consumersNote ? [consumersNote] : []), ...(l?.notes ?? [])];
    if (!l) notes.push(t.namedCollection && t.brokers === undefined ? `lag unknown: the brokers are in the named collection ${t.namedCollection}` : 'lag unknown: the table names no brokers, group or topics');
    return {
      pipeline: t.owner?.pipeline ?? null,
      table: t.name,
      group: t.group,
      topics: t.topics,
      consumers: consumers ? consumers.filter((c) => c.table === t.name) : null,
      lag: l?.lag ?? null,
      notes,
    };
  });
  return { queues, queries };
}
