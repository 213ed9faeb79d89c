/**
 * The migration history on a target (`_chpipe_migrations`): read it into one
 * revision per migration, compare it with the files, and append its rows.
 * After Atlas's `RevisionReadWriter`.
 */
import { EngineError, type Driver } from '../engine/driver.js';
import type { Placement } from '../model/model.js';
import { createDatabase } from '../sql/ddl.js';
import { createClusterHistoryTable, createHistoryTable, historyTableExists, insertRevision, selectRevisions, type RevisionRow } from '../sql/history.js';
import { fileHash, parseMigration, statementsHash, type MigrationFile } from './files.js';

/** A migration's state on the target: its latest history row. */
export type Revision = RevisionRow;

/** Every migration the target has a record of, by version, in version order. */
export async function readRevisions(driver: Driver, p: Placement): Promise<Revision[]> {
  let rows: RevisionRow[];
  try {
    rows = await driver.query<RevisionRow>(selectRevisions(p));
  } catch (e) {
    // No history table (or no database) yet: nothing was applied.
    if (e instanceof EngineError && (e.codeName === 'UNKNOWN_TABLE' || e.codeName === 'UNKNOWN_DATABASE')) return [];
    throw e;
  }
  const latest = new Map<string, RevisionRow>();
  for (const row of rows) {
    const r = { ...row, statements_done: Number(row.statements_done), statements_total: Number(row.statements_total), failed_statement: Number(row.failed_statement), duration_ms: Number(row.duration_ms), attempt: Number(row.attempt), seq: Number(row.seq) };
    const before = latest.get(r.version);
    if (!before || r.attempt > before.attempt || (r.attempt === before.attempt && r.seq > before.seq)) latest.set(r.version, r);
  }
  return [...latest.values()].sort((a, b) => Number(a.version) - Number(b.version));
}

/**
 * Create the history table if it is missing. In cluster mode it is shared by default: the database and the
 * table are created ON CLUSTER, the table Replicated at one Keeper path with a replica on every host
 * (src/sql/history.ts), so an apply through any host reads what an apply through another wrote. `shared: false`
 * keeps it on the host chpipe is connected to (the test cluster's embedded engines, whose Replicated tables
 * are read-only: docs/cluster.md).
 */
export async function ensureHistoryTable(driver: Driver, p: Placement, shared = p.cluster !== undefined): Promise<void> {
  if (shared && p.cluster !== undefined) {
    // Already here: no ON CLUSTER statement, which would wait on every host (a host down would stop each apply).
    if ((await driver.query(historyTableExists(p))).length) return;
    await driver.exec(createDatabase(p));
    await driver.exec(createClusterHistoryTable({ ...p, cluster: p.cluster }));
    return;
  }
  await driver.exec(createHistoryTable(p));
}

export async function writeRevision(driver: Driver, p: Placement, row: RevisionRow): Promise<void> {
  await driver.exec(insertRevision(p, row));
}

/** Where the files and the target's history disagree in a way that must stop apply and check. */
export type RevisionProblem =
  /** A migration the target ran (or started) whose file changed since. */
  | { readonly kind: 'edited'; readonly file: string; readonly version: string }
  /** A migration the target ran whose file is gone. */
  | { readonly kind: 'missing'; readonly version: string; readonly name: string }
  /** A file older than one the target already applied: it would run out of order. */
  | { readonly kind: 'out-of-order'; readonly file: string; readonly after: string };

/** Each file with its revision on the target (if any), and the problems that stop an apply. */
export interface RevisionReview {
  readonly migrations: readonly { readonly file: MigrationFile; readonly revision?: Revision }[];
  readonly problems: readonly RevisionProblem[];
}

export function reviewRevisions(files: readonly MigrationFile[], revisions: readonly Revision[]): RevisionReview {
  const byVersion = new Map(revisions.map((r) => [Number(r.version), r]));
  const problems: RevisionProblem[] = [];
  const migrations = files.map((file) => {
    const revision = byVersion.get(Number(file.version));
    byVersion.delete(Number(file.version));
    if (revision && revision.checksum !== fileHash(file.text) && !fixedAfterDone(file, revision)) problems.push({ kind: 'edited', file: file.file, version: file.version });
    return { file, ...(revision ? { revision } : {}) };
  });
  for (const r of byVersion.values()) problems.push({ kind: 'missing', version: r.version, name: r.name });
  const lastApplied = [...migrations].reverse().find((m) => m.revision?.status === 'applied');
  if (lastApplied) {
    for (const m of migrations) {
      if (m === lastApplied) break;
      if (!m.revision) problems.push({ kind: 'out-of-order', file: m.file.file, after: lastApplied.file.file });
    }
  }
  return { migrations, problems };
}

/** A migration that stopped part way may be fixed, but only in the statements it has not finished. */
function fixedAfterDone(file: MigrationFile, revision: Revision): boolean {
  if (revision.status === 'applied') return false;
  return statementsHash(parseMigration(file.text), revision.statements_done) === revision.done_checksum;
}

export function revisionProblemMessage(p: RevisionProblem, dirDisplay: string): string {
  switch (p.kind) {
    case 'edited':
      return `${dirDisplay}/${p.file} was edited after the target ran it (its checksum differs from the one in the target's history); restore the file as it was (git checkout), and put the change in a new migration with \`chpipe plan --save NAME\` (a migration that failed part way may be fixed, in the statements it has not finished only)`;
    case 'missing':
      return `the target ran migration ${p.version}_${p.name}, which ${dirDisplay}/ no longer has; restore the file (git checkout) so history and files agree`;
    case 'out-of-order':
      return `${dirDisplay}/${p.file} has not run on the target, but the later ${p.after} has: it would run out of order; give it a version after the applied ones (rename the file and run \`chpipe migrate hash\`)`;
  }
}
