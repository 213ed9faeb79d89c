/**
 * `chpipe errors [PIPELINE]`: the latest messages the pipelines could not
 * parse, as their errors tables keep them (`on_error: stream`): when, where
 * (topic/partition/offset), the engine's error and the raw message. On the
 * target `status` reads; `--since 1h`, `--limit N`, `--json`. `chpipe errors
 * replay PIPELINE` inserts the kept messages that parse with today's
 * declaration, each once.
 */
import { inspectDatabase } from '../../inspect/inspect.js';
import { latestErrorsQuery, type ErrorRow, type ErrorsTable } from '../../sql/errors.js';
import { makeIo, UserError, type GlobalOptions, type Io } from '../context.js';
import { parseDuration } from './infer.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject, type TargetProject } from '../target.js';

export interface ErrorsOptions {
  readonly since?: string;
  readonly limit?: string;
  readonly lockTimeout?: string;
}

const DEFAULT_LIMIT = 20;

/** A pipeline the project declares, or one sentence naming those it does. */
function declaredPipeline(p: TargetProject, pipeline: string): string {
  const names = p.project.pipelines.map((x) => x.name);
  if (!names.includes(pipeline)) throw new UserError(`no pipeline ${pipeline} is declared; the pipelines are ${names.join(', ') || 'none'}`);
  return pipeline;
}

export default async function errors(g: GlobalOptions, first: string | undefined, second: string | undefined, options: ErrorsOptions): Promise<number> {
  const io = await makeIo(g);
  const p = readTargetProject(g, io, 'read');
  if (Array.isArray(p)) return failWith(io, p);
  // `errors replay PIPELINE` (a pipeline named replay is listed with `errors replay`).
  if (first === 'replay' && (second !== undefined || !p.project.pipelines.some((x) => x.name === 'replay'))) {
    if (second === undefined) throw new UserError('name the pipeline to replay: chpipe errors replay PIPELINE');
    return replay(g, io, p, declaredPipeline(p, second), options);
  }
  if (second !== undefined) throw new UserError(`chpipe errors takes one pipeline, not ${first} and ${second} (to replay: chpipe errors replay PIPELINE)`);
  const pipeline = first === undefined ? undefined : declaredPipeline(p, first);
  const limit = options.limit === undefined ? DEFAULT_LIMIT : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UserError(`--limit ${JSON.stringify(options.limit)} is not a positive whole number; write e.g. --limit 50`);
  const sinceMs = options.since === undefined ? undefined : parseDuration(options.since, '--since');
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

/** `errors replay PIPELINE`: the kept messages parsed again with today's declaration, each inserted once (src/migrate/replay-errors.ts). */
async function replay(g: GlobalOptions, io: Io, p: TargetProject, pipeline: string, options: ErrorsOptions): Promise<number> {
  const { replayErrors, ReplayRefused } = await import('../../migrate/replay-errors.js');
  const connection = await openProjectTarget(g, io, p, 'errors replay', parseLockTimeout(options.lockTimeout));
  try {
    const outcome = await replayErrors(connection.driver, p.placement, pipeline).catch((e: unknown) => {
      throw e instanceof ReplayRefused ? new UserError(e.message) : e;
    });
    if (io.json) {
      io.out(JSON.stringify({ schemaVersion: 1, ...outcome }, null, 2));
      return 0;
    }
    if (!outcome.candidates) {
      io.out(`nothing to replay: every message pipeline ${pipeline} kept was replayed before, or none was kept`);
      return 0;
    }
    io.out(`replayed ${outcome.replayed} of ${outcome.candidates} kept message${outcome.candidates === 1 ? '' : 's'} into pipeline ${pipeline} (each once: a second replay inserts none of them again)`);
    if (outcome.stillFailing) {
      io.out(`${outcome.stillFailing} still do not parse with today's declaration; the first, at ${outcome.firstFailure?.at}: ${outcome.firstFailure?.error}`);
    }
    return 0;
  } finally {
    await connection.release();
  }
}
