/**
 * `chpipe query "SQL"` (or `-f FILE`, `-f -` for stdin): one statement on the
 * same target as `status` — the embedded `.chpipe/` (through the serve or dev
 * process that holds it, if one runs), `--url`, `--env NAME` — printed in a
 * ClickHouse output format: `PrettyCompact` on a terminal, `TSVWithNames`
 * otherwise, `--format NAME` for any other (a FORMAT clause in the statement
 * wins). `--json`: `{schemaVersion, rows}`. So a user never needs curl to look
 * at their rows. An engine error is one sentence, exit 1.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userFilesDir } from '../../engine/user-files.js';
import { ProcessDriver } from '../../engine/process.js';
import { reachProblem } from '../../serve/reach.js';
import { statementShape } from '../../sql/statement.js';
import { currentStreams, displayPath, makeIo, UserError, type GlobalOptions } from '../context.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject } from '../target.js';

export interface QueryOptions {
  readonly file?: string;
  readonly format?: string;
  readonly lockTimeout?: string;
}

const FORMAT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** The statement: the argument, or the file's text (`-`: standard input); exactly one of them. */
function statementText(sql: string | undefined, file: string | undefined): string {
  if (sql !== undefined && file !== undefined) throw new UserError('give the statement as an argument or with -f FILE, not both');
  if (file !== undefined) {
    try {
      return readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (e) {
      throw new UserError(`cannot read ${file === '-' ? 'the statement from standard input' : file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (sql === undefined) throw new UserError('no statement: write e.g. chpipe query "SELECT count() FROM analytics.api_latency", or -f FILE');
  return sql;
}

export default async function query(g: GlobalOptions, sql: string | undefined, options: QueryOptions): Promise<number> {
  const io = await makeIo(g);
  const text = statementText(sql, options.file);
  const shape = statementShape(text);
  if (shape.empty) throw new UserError('the statement is empty');
  if (shape.secondStatementAt !== undefined) throw new UserError('chpipe query runs one statement; run the others one by one');
  if (options.format !== undefined && !FORMAT_NAME.test(options.format)) throw new UserError(`--format ${JSON.stringify(options.format)} is not a format name; write e.g. --format CSVWithNames`);
  if (g.json && options.format !== undefined) throw new UserError('--json prints JSON rows; drop --format (or drop --json and use --format JSON)');
  const p = readTargetProject(g, io, 'read');
  if (Array.isArray(p)) return failWith(io, p);
  const connection = await openProjectTarget(g, io, p, 'query', parseLockTimeout(options.lockTimeout));
  try {
    // On the embedded target in this process's own engine, file() reaches only .chpipe/user_files/, as through
    // serve (whose server checks it itself); the engine's grants refuse other hosts either way.
    if (connection.driver instanceof ProcessDriver) {
      const folder = userFilesDir(join(p.root, '.chpipe'));
      const refused = reachProblem(text, { userFiles: [folder], shownUserFiles: `${displayPath(folder)}/`, remoteSources: false, command: 'query' });
      if (refused) throw new UserError(refused.message);
    }
    if (g.json) {
      const rows = await connection.driver.query(text);
      io.out(JSON.stringify({ schemaVersion: 1, rows }, null, 2));
      return 0;
    }
    const { statementOutput } = await import('../../engine/connect.js');
    const format = options.format ?? (currentStreams().stdout.isTTY === true ? 'PrettyCompact' : 'TSVWithNames');
    const output = await statementOutput(connection.driver, text, format);
    if (output !== '') currentStreams().stdout.write(output);
    return 0;
  } finally {
    await connection.release();
  }
}
