/**
 * Is the migration history one straight line that chpipe.sum vouches for?
 * Checked before anything reads or replays the files (plan today; apply and
 * check later), so a broken history is reported as itself — two files with one
 * version, a file the sum lists but the folder lacks — and never as a failure
 * of some later file. Pure: the folder is read by `dir.ts`.
 *
 * After Atlas's `atlas.sum`: a team works on branches; when two branches each
 * saved the next version, the one merged last deletes its file, rehashes
 * (`chpipe migrate hash`) and plans its change again on top.
 *
 * A gap in versions (0001, 0002, 0004) is fine: order is what matters, and a
 * version is never reused.
 */
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import { fileHash, inVersionOrder, nextVersion, parseSum, type MigrationFile } from './files.js';

export type HistoryProblem =
  /** Two or more files with one version (two branches each saved the next migration). */
  | { readonly kind: 'duplicate-version'; readonly version: string; readonly files: readonly string[]; readonly unrecorded: readonly string[]; readonly next: string }
  /** chpipe.sum lists a file the folder does not have. */
  | { readonly kind: 'missing-migration'; readonly file: string; readonly sumLine: number }
  /** chpipe.sum still holds git's merge-conflict markers. */
  | { readonly kind: 'sum-conflict'; readonly line: number }
  /** chpipe.sum's first line is not the hash of the lines below it. */
  | { readonly kind: 'sum-corrupt' }
  /** Migration files but no chpipe.sum. */
  | { readonly kind: 'sum-missing'; readonly files: number }
  /** A file chpipe.sum does not list. */
  | { readonly kind: 'unrecorded-migration'; readonly file: string }
  /** A file whose hash is not the one chpipe.sum records. */
  | { readonly kind: 'edited-migration'; readonly file: string };

/** What the history is read for: `read` (plan shows steps), `write` (a save, an apply, a CI check). */
export type HistoryUse = 'read' | 'write';

export interface MigrationHistory {
  readonly files: readonly MigrationFile[];
  /** chpipe.sum's text, when the file exists. */
  readonly sum?: string;
}

/** Every problem of the history, in the order a person should fix them. */
export function checkHistory(history: MigrationHistory): HistoryProblem[] {
  const problems: HistoryProblem[] = [];
  const files = inVersionOrder(history.files);
  const sum = history.sum === undefined ? undefined : parseSum(history.sum);
  const recorded = new Map((sum?.entries ?? []).map((e) => [e.file, e]));

  const byVersion = new Map<number, MigrationFile[]>();
  for (const f of files) byVersion.set(Number(f.version), [...(byVersion.get(Number(f.version)) ?? []), f]);
  const duplicated = new Set<string>();
  for (const group of byVersion.values()) {
    if (group.length < 2) continue;
    for (const f of group) duplicated.add(f.file);
    const unrecorded = sum?.intact ? group.filter((f) => !recorded.has(f.file)).map((f) => f.file) : [];
    problems.push({ kind: 'duplicate-version', version: (group[0] as MigrationFile).version, files: group.map((f) => f.file), unrecorded, next: nextVersion(files) });
  }

  if (sum === undefined) {
    if (files.length) problems.push({ kind: 'sum-missing', files: files.length });
    return problems;
  }
  // A conflicted or hand-edited sum cannot say which files belong: report it alone.
  if (sum.conflictLine !== undefined) return [...problems, { kind: 'sum-conflict', line: sum.conflictLine }];
  if (!sum.intact) return [...problems, { kind: 'sum-corrupt' }];

  const onDisk = new Set(files.map((f) => f.file));
  for (const e of sum.entries) if (!onDisk.has(e.file)) problems.push({ kind: 'missing-migration', file: e.file, sumLine: e.line });
  for (const f of files) {
    const e = recorded.get(f.file);
    if (e === undefined) {
      // A duplicate's own message says what to do with it.
      if (!duplicated.has(f.file)) problems.push({ kind: 'unrecorded-migration', file: f.file });
    } else if (e.hash !== fileHash(f.text)) {
      problems.push({ kind: 'edited-migration', file: f.file });
    }
  }
  return problems;
}

/**
 * Whether a problem stops this use. Duplicates, missing files and a sum that
 * cannot be read stop everything (the history itself is in doubt); a file the
 * sum does not vouch for is a warning for a plan and stops anything that adds
 * to the history or runs it.
 */
export function blocks(problem: HistoryProblem, use: HistoryUse): boolean {
  switch (problem.kind) {
    case 'duplicate-version':
    case 'missing-migration':
    case 'sum-conflict':
    case 'sum-corrupt':
      return true;
    case 'sum-missing':
    case 'unrecorded-migration':
    case 'edited-migration':
      return use === 'write';
  }
}

/** A problem as a diagnostic: where it is, what is wrong (naming the files), and the fix in one sentence. */
export function historyDiagnostic(problem: HistoryProblem, dirDisplay: string): Diagnostic {
  const at = (file: string, line = 1) => ({ file: `${dirDisplay}/${file}`, line, col: 1 });
  switch (problem.kind) {
    case 'duplicate-version': {
      const names = problem.files.length === 2 ? `${problem.files[0]} and ${problem.files[1]}` : problem.files.join(', ');
      const only = problem.unrecorded.length === 1 && problem.files.length === 2 ? problem.unrecorded[0] : undefined;
      const hint = only
        ? `delete ${only}, the one chpipe.sum does not record (its YAML change stays in your schemas), then run \`chpipe plan --save NAME\` to write that change again on top, as version ${problem.next}`
        : `keep the file that was merged first, delete the other (its YAML change stays in your schemas), run \`chpipe migrate hash\`, then run \`chpipe plan --save NAME\` to write that change again on top, as version ${problem.next}`;
      return diagnostic(at(only ?? (problem.files[problem.files.length - 1] as string)), 'duplicate-version', `${names} have the same version ${problem.version} (two branches each saved a migration)`, { hint });
    }
    case 'missing-migration':
      return diagnostic(at('chpipe.sum', problem.sumLine), 'missing-migration', `${problem.file} is listed in chpipe.sum but missing from ${dirDisplay}/`, {
        hint: `restore ${dirDisplay}/${problem.file} from version control, or, if it was never applied anywhere, remove its line with \`chpipe migrate hash\``,
      });
    case 'sum-conflict':
      return diagnostic(at('chpipe.sum', problem.line), 'sum-conflict', 'chpipe.sum still has merge-conflict markers', {
        hint: 'resolve the migration files first (no two with one version), then run `chpipe migrate hash` to rewrite chpipe.sum from them',
      });
    case 'sum-corrupt':
      return diagnostic(at('chpipe.sum'), 'sum-corrupt', 'chpipe.sum was edited by hand (its first line is not the hash of the lines below it)', {
        hint: 'restore it from version control, or run `chpipe migrate hash` to rewrite it from the files on disk',
      });
    case 'sum-missing':
      return diagnostic(at('chpipe.sum'), 'sum-missing', `${dirDisplay}/chpipe.sum is missing, so nothing vouches for the ${problem.files} migration file${problem.files === 1 ? '' : 's'}`, {
        hint: 'restore it from version control, or run `chpipe migrate hash` to write it from the files on disk',
      });
    case 'unrecorded-migration':
      return diagnostic(at(problem.file), 'unrecorded-migration', `${problem.file} is not recorded in chpipe.sum (written by hand, or merged without its line)`, {
        hint: 'if it belongs in the history, record it with `chpipe migrate hash`; otherwise delete it',
      });
    case 'edited-migration':
      return diagnostic(at(problem.file), 'edited-migration', `${problem.file} was edited after it was generated (chpipe.sum records another hash)`, {
        hint: 'restore it from version control, or, if it was never applied anywhere and the edit is meant, run `chpipe migrate hash`',
      });
  }
}

export interface HistoryReview {
  /** Problems that stop this use, as diagnostics. */
  readonly errors: readonly Diagnostic[];
  /** Problems to show without stopping. */
  readonly warnings: readonly Diagnostic[];
}

/** The history check every command runs first: errors stop it (exit 1), warnings are shown. */
export function reviewHistory(history: MigrationHistory, dirDisplay: string, use: HistoryUse): HistoryReview {
  const problems = checkHistory(history);
  return {
    errors: problems.filter((p) => blocks(p, use)).map((p) => historyDiagnostic(p, dirDisplay)),
    warnings: problems.filter((p) => !blocks(p, use)).map((p) => historyDiagnostic(p, dirDisplay)),
  };
}
