/**
 * `chpipe errors [PIPELINE]`: the latest messages the pipelines could not
 * parse, as their errors tables keep them (`on_error: stream`): when, where
 * (topic/partition/offset), the engine's error and the raw message. On the
 * target `status` reads; `--since 1h`, `--limit N`, `--json`.
 */
import { inspectDatabase } from '../../inspect/inspect.js';
import { latestErrorsQuery, type ErrorRow, type ErrorsTable } from '../../sql/errors.js';
import { makeIo, UserError, type GlobalOptions } from '../context.js';
import { parseDuration } from './infer.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject } from '../target.js';

export interface ErrorsOptions {
  readonly since?: string;
  readonly limit?: string;
  readonly lockTimeout?: string;
}

const DEFAULT_LIMIT = 20;

export default async function errors(g: GlobalOptions, pipeline: string | undefined, options: ErrorsOptions): Promise<number> {
  const io = await makeIo(g);
  const limit = options.limit === undefined ? DEFAULT_LIMIT : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UserError(`--limit ${JSON.stringify(options.limit)} is not a positive whole number; write e.g. --limit 50`);
  const sinceMs = options.since === undefined ? undefined : parseDuration(options.since, '--since');
  const p = readTargetProject(g, io, 'read');
  if (Array.isArray(p)) return failWith(io, p);
  const declared = p.project.pipelines.map((x) => x.name);
  if (pipeline !== undefined && !declared.includes(pipeline)) throw new UserError(`no pipeline ${pipeline} is declared; the pipelines are ${declared.join(', ') || 'none'}`);
  const connection = await openProjectTarget(g, io, p, 'errors', parseLockTimeout(options.lockTimeout));
  try {
    // The errors tables the target holds, told by their ownership (a pipeline's `errors` role), whatever their names.
    const { model } = await inspectDatabase(connection.driver, p.placement);
    const tables: ErrorsTable[] = model.objects.flatMap((o) => (o.owner?.role === 'errors' && (o.kind === 'table' || o.kind === 'distributed') && (pipeline === undefined || o.owner.pipeline === pipeline) ? [{ pipeline: o.owner.pipeline, table: o.name }] : []));
    const sql = latestErrorsQuery(p.placement.database, tables, limit, sinceMs === undefined ? undefined : sinceMs / 1000);
    const rows = sql === undefined ? [] : await connection.driver.query<ErrorRow>(sql);
    if (io.json) {
      io.out(JSON.stringify({ schemaVersion: 1, pipelines: tables.map((t) => t.pipeline), errors: rows }, null, 2));
      return 0;
    }
    if (!tables.length) {
      io.out(`${pipeline !== undefined ? `pipeline ${pipeline} has` : 'no pipeline has'} no errors table on ${connection.description}: messages that do not parse are kept only with on_error: stream`);
      return 0;
    }
    if (!rows.length) {
      io.out(`no errors${sinceMs !== undefined ? ` in the last ${options.since}` : ''} in ${tables.map((t) => t.table).join(', ')}`);
      return 0;
    }
    for (const r of rows) {
      io.out(`${r.received_at}  ${r.pipeline}  ${r.topic}/${r.partition} offset ${r.offset}\n  ${io.paint.red('error')}: ${r.error.split('\n')[0] ?? ''}\n  message: ${JSON.stringify(r.raw_message.length > 200 ? `${r.raw_message.slice(0, 200)}…` : r.raw_message)}`);
    }
    return 0;
  } finally {
    await connection.release();
  }
}
