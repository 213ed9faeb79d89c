/**
 * What `chpipe serve` (and `chpipe dev`'s server) lets a statement reach
 * outside the engine's data, decided before it runs. The embedded engine runs
 * as clickhouse-local: `file()` reaches any path the user can, with none of a
 * server's `user_files_path` confinement. Its grants (src/sql/dev.ts,
 * `engineGrants`) refuse every other source (URL, S3, remote hosts, …) and the
 * table engines that reach outside; the filesystem stays granted so that
 * `file()` works, and is confined here, as a server confines it:
 *
 * - `file(path, …)` (table function, `INSERT INTO FUNCTION file(…)`, and the
 *   scalar `file(path)`) only with a string literal path inside the user files
 *   folder (`.chpipe/user_files/`; a relative path is relative to it), without `..`;
 * - the other table functions that read local files (`fileCluster`,
 *   `filesystem`, `icebergLocal`, …) and `FROM INFILE` never;
 * - a database engine other than the local ones (Filesystem and SQLite read
 *   files; MySQL, PostgreSQL, … reach other hosts, allowed with
 *   `--allow-remote-sources`).
 *
 * Pure: the statement's calls come from the tokenizer (src/sql/statement.ts).
 */
import { isAbsolute, join, normalize, sep } from 'node:path';
import { statementReach } from '../sql/statement.js';
import { exception, type CodeName, type ServerException } from './protocol.js';

export interface ReachPolicy {
  /** The user files folder as an absolute path, and its real path when that differs (a folder behind a link). */
  readonly userFiles: readonly string[];
  /** How messages name it, e.g. `.chpipe/user_files/`. */
  readonly shownUserFiles: string;
  /** `--allow-remote-sources`: database engines that reach other hosts are allowed. */
  readonly remoteSources: boolean;
  /** The command whose request this is (`serve`, `dev`, `query`), for messages. */
  readonly command: string;
}

/** Table functions that read or write local files besides `file()` (lower-cased; names are matched case-insensitively). */
const OTHER_FILE_FUNCTIONS = new Set(['filecluster', 'filesystem', 'icebergLocal', 'icebergLocalCluster', 'deltaLakeLocal', 'paimonLocal', 'hudiLocal', 'arrowstream'].map((n) => n.toLowerCase()));

/** Database engines that keep to the engine's own data. */
const LOCAL_DATABASE_ENGINES = new Set(['Atomic', 'Ordinary', 'Memory', 'Lazy', 'Replicated', 'Dictionary']);
/** Database engines that reach other hosts (allowed with `remoteSources`); any other engine is refused. */
const REMOTE_DATABASE_ENGINES = new Set(['MySQL', 'PostgreSQL', 'MaterializedPostgreSQL', 'S3', 'HDFS', 'DataLakeCatalog']);

/** Why a statement reaches beyond what `chpipe serve` allows: the exception's name and one sentence; undefined to let it run. */
export interface ReachProblem {
  readonly code: CodeName;
  readonly message: string;
}

/** The refusal of a statement that reaches beyond what `chpipe serve` allows, worded as a server's exception, or undefined to let it run. */
export function reachRefusal(sql: string, policy: ReachPolicy, version: string): ServerException | undefined {
  const problem = reachProblem(sql, policy);
  return problem ? exception(problem.code, problem.message, version) : undefined;
}

/** See `reachRefusal`: the same decision, as a typed value. */
export function reachProblem(sql: string, policy: ReachPolicy): ReachProblem | undefined {
  const reach = statementReach(sql);
  const who = `chpipe ${policy.command}`;
  if (reach.fromInfile) {
    return { code: 'ACCESS_DENIED', message: `${who} refuses FROM INFILE, which would read a file of this machine; send the data in the request body instead` };
  }
  const engine = reach.databaseEngine;
  if (engine !== undefined && !LOCAL_DATABASE_ENGINES.has(engine) && !(policy.remoteSources && REMOTE_DATABASE_ENGINES.has(engine))) {
    const remote = REMOTE_DATABASE_ENGINES.has(engine);
    return {
      code: 'ACCESS_DENIED',
      message: remote
        ? `${who} refuses a database with ENGINE = ${engine}, which connects to other hosts; start ${who} with --allow-remote-sources to allow it`
        : `${who} refuses a database with ENGINE = ${engine}, which reaches files outside the data folder; use Atomic (the default)`,
    };
  }
  for (const call of reach.calls) {
    const name = call.name.toLowerCase();
    if (OTHER_FILE_FUNCTIONS.has(name)) {
      return { code: 'ACCESS_DENIED', message: `${who} refuses ${call.name}(), which reads files outside ${policy.shownUserFiles}; use file() with a path inside ${policy.shownUserFiles}` };
    }
    if (name !== 'file') continue;
    const path = call.firstString;
    if (path === undefined) {
      return { code: 'PATH_ACCESS_DENIED', message: `${who} lets file() reach only ${policy.shownUserFiles}, so it takes its path as a string literal (not an expression or a query parameter)` };
    }
    if (!insideUserFiles(path, policy.userFiles)) {
      return { code: 'PATH_ACCESS_DENIED', message: `File path ${path} is not inside ${policy.shownUserFiles}: ${who} lets file() reach only that folder, as a server's user_files_path; put the file there and name it relative to it` };
    }
  }
  return undefined;
}

/** A file() path (relative: to the user files folder) that stays inside it: no `..` anywhere (a glob could hide one). */
function insideUserFiles(path: string, userFiles: readonly string[]): boolean {
  if (path === '' || path.includes('..') || path.includes('\0')) return false;
  const base = userFiles[0] as string;
  const full = normalize(isAbsolute(path) ? path : join(base, path));
  return userFiles.some((folder) => full === folder || full.startsWith(folder.endsWith(sep) ? folder : folder + sep));
}
