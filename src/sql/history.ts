/**
 * The SQL of chpipe's own objects on a target: the migration history table and
 * the lock. Pure. Both live in the project's database, under names starting
 * with `_chpipe_`, which the inspector leaves out of the target's state.
 *
 *   _chpipe_migrations   append-only: one row per event of a migration run
 *                        (started, progress, failed, applied); a migration's
 *                        state is its latest row (highest attempt, then seq)
 *   _chpipe_lock         exists while an apply runs; its COMMENT says who holds it
 */
import type { Placement } from '../model/model.js';
import { ident, qualified, stringLiteral } from './quote.js';

export const HISTORY_TABLE = '_chpipe_migrations';
export const LOCK_TABLE = '_chpipe_lock';
/** Prefix of every object chpipe keeps for itself on a target (history, lock, a lock taken over). */
export const OWN_OBJECT_PREFIX = '_chpipe_';

export type RevisionStatus = 'running' | 'applied' | 'failed';

/** One row of the history table. */
export interface RevisionRow {
  readonly version: string;
  readonly name: string;
  /** chpipe.sum's hash of the file. */
  readonly checksum: string;
  readonly status: RevisionStatus;
  /** Statements finished, from the top (a rerun starts at this index or earlier). */
  readonly statements_done: number;
  readonly statements_total: number;
  /** Hash of the finished statements' text: a failed migration may be fixed below that point only. */
  readonly done_checksum: string;
  /** 1-based statement that failed; 0 when none. */
  readonly failed_statement: number;
  /** The engine's message for the failed statement (never a secret value). */
  readonly error: string;
  /** `YYYY-MM-DD hh:mm:ss.sss` UTC */
  readonly started_at: string;
  /** Empty until the migration is applied or failed. */
  readonly finished_at: string;
  readonly duration_ms: number;
  /** Where chpipe ran, and as whom (operating-system user, then the server's user). */
  readonly host: string;
  readonly os_user: string;
  readonly db_user: string;
  readonly chpipe_version: string;
  /** Runs of this migration so far (1 for the first). */
  readonly attempt: number;
  /** Rows written by this attempt so far. */
  readonly seq: number;
}

const COLUMNS: readonly [keyof RevisionRow, string][] = [
  ['version', 'String'],
  ['name', 'String'],
  ['checksum', 'String'],
  ['status', 'LowCardinality(String)'],
  ['statements_done', 'UInt32'],
  ['statements_total', 'UInt32'],
  ['done_checksum', 'String'],
  ['failed_statement', 'UInt32'],
  ['error', 'String'],
  ['started_at', 'String'],
  ['finished_at', 'String'],
  ['duration_ms', 'UInt32'],
  ['host', 'String'],
  ['os_user', 'String'],
  ['db_user', 'String'],
  ['chpipe_version', 'String'],
  ['attempt', 'UInt32'],
  ['seq', 'UInt32'],
];

export function createHistoryTable(p: Placement): string {
  return historyTable(p, '', 'MergeTree');
}

function historyTable(p: Placement, onCluster: string, engine: string): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${qualified(p.database, HISTORY_TABLE)}${onCluster}`,
    '(',
    COLUMNS.map(([name, type]) => `    ${ident(name)} ${type}`).join(',\n'),
    ')',
    `ENGINE = ${engine}`,
    'ORDER BY (version, attempt, seq)',
    `COMMENT ${stringLiteral('chpipe migration history: one row per event; a migration\'s state is its latest row')}`,
  ].join('\n');
}

/**
 * Cluster mode's history, shared by the whole cluster: created ON CLUSTER as one Replicated table whose replicas,
 * one per host, meet at one Keeper path (`{uuid}`, no `{shard}`: every shard's hosts share it), each named
 * `{shard}-{replica}` so replica names that repeat per shard stay apart. Any host then reads every run's rows.
 * Apply and pull create and write it in cluster mode (migrate/revisions.ts); the test cluster's embedded engines
 * keep Replicated tables read-only, so its writes are not verified here (docs/cluster.md).
 */
export function createClusterHistoryTable(p: Placement & { readonly cluster: string }): string {
  return historyTable(p, ` ON CLUSTER ${ident(p.cluster)}`, `ReplicatedMergeTree(${stringLiteral(CLUSTER_HISTORY_PATH)}, ${stringLiteral(CLUSTER_HISTORY_REPLICA)})`);
}

/** One row when the history table exists on the host queried. */
export function historyTableExists(p: Placement): string {
  return `SELECT 1 FROM system.tables WHERE database = ${stringLiteral(p.database)} AND name = ${stringLiteral(HISTORY_TABLE)}`;
}

export const CLUSTER_HISTORY_PATH = '/clickhouse/chpipe/{uuid}';
export const CLUSTER_HISTORY_REPLICA = '{shard}-{replica}';

export function insertRevision(p: Placement, row: RevisionRow): string {
  const values = COLUMNS.map(([name, type]) => (type.startsWith('UInt') ? String(Math.max(0, Math.trunc(row[name] as number))) : stringLiteral(String(row[name]))));
  return `INSERT INTO ${qualified(p.database, HISTORY_TABLE)} (${COLUMNS.map(([n]) => ident(n)).join(', ')}) VALUES (${values.join(', ')})`;
}

export function selectRevisions(p: Placement): string {
  return `SELECT ${COLUMNS.map(([n]) => ident(n)).join(', ')} FROM ${qualified(p.database, HISTORY_TABLE)} ORDER BY version, attempt, seq`;
}

/** Created without IF NOT EXISTS: of two applies, only one CREATE succeeds. */
export function createLockTable(p: Placement, holder: string): string {
  return `CREATE TABLE ${qualified(p.database, LOCK_TABLE)} (holder String) ENGINE = Memory COMMENT ${stringLiteral(holder)}`;
}

/**
 * Cluster mode's lock, shared by the whole cluster: a Replicated table at one fixed Keeper path for the database
 * with one fixed replica name, created on the host chpipe is connected to (no ON CLUSTER). Keeper lets one replica
 * of that name exist at that path: a second CREATE on the same host fails with TABLE_ALREADY_EXISTS, on any other
 * host of the cluster with REPLICA_ALREADY_EXISTS. `dropLockTableSync` releases it (SYNC: the replica leaves
 * Keeper before the DROP returns).
 */
export function createClusterLockTable(p: Placement, holder: string): string {
  return `CREATE TABLE ${qualified(p.database, LOCK_TABLE)} (holder String) ENGINE = ReplicatedMergeTree(${stringLiteral(clusterLockPath(p))}, ${stringLiteral(CLUSTER_LOCK_REPLICA)}) ORDER BY tuple() COMMENT ${stringLiteral(holder)}`;
}

/** The lock's Keeper path: one per database (a `{` or `}` in the name would read as a macro, so they are replaced). */
export function clusterLockPath(p: Placement): string {
  return `/clickhouse/chpipe/${p.database.replace(/[{}/]/g, '_')}/lock`;
}

export const CLUSTER_LOCK_REPLICA = 'holder';

/** Drop the cluster lock (or a retired one) with SYNC: its replica leaves Keeper before the DROP returns. */
export function dropLockTableSync(p: Placement, name: string = LOCK_TABLE): string {
  return `DROP TABLE IF EXISTS ${qualified(p.database, name)} SYNC`;
}

export function updateLockHolder(p: Placement, holder: string): string {
  return `ALTER TABLE ${qualified(p.database, LOCK_TABLE)} MODIFY COMMENT ${stringLiteral(holder)}`;
}

/** The lock table and any taken-over ones, with their holders. */
export function selectLocks(p: Placement): string {
  return `SELECT name, comment FROM system.tables WHERE database = ${stringLiteral(p.database)} AND startsWith(name, ${stringLiteral(LOCK_TABLE)})`;
}

/**
 * Taking over a stale lock: rename it to a name made of its holder's id. Only
 * one of several processes that found the same stale holder can succeed (the
 * name is taken after the first), so two never both take it over.
 */
export function retireLockTable(p: Placement, staleId: string): string {
  return `RENAME TABLE ${qualified(p.database, LOCK_TABLE)} TO ${qualified(p.database, retiredLockName(staleId))}`;
}

export function retiredLockName(staleId: string): string {
  return `${LOCK_TABLE}_retired_${staleId.replace(/[^A-Za-z0-9]/g, '')}`;
}

export function dropOwnTable(p: Placement, name: string): string {
  return `DROP TABLE IF EXISTS ${qualified(p.database, name)}`;
}

export const CURRENT_USER = 'SELECT currentUser() AS user';
