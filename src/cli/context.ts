import { join } from 'node:path';
import { EngineError } from '../engine/driver.js';
import { makePaint, type Paint } from '../report/paint.js';

export interface GlobalOptions {
  readonly config: string;
  readonly url?: string;
  readonly env?: string;
  readonly json?: boolean;
  readonly color: boolean;
  /** false with --no-cache */
  readonly cache: boolean;
}

export interface Io {
  readonly json: boolean;
  /** Colours for stdout. */
  readonly paint: Paint;
  /** Colours for stderr, where diagnostics and warnings go. */
  readonly errPaint: Paint;
  /** Results: stdout. */
  out(text: string): void;
  /** Progress and errors: stderr (never stdout, so --json stays clean). */
  err(text: string): void;
}

export async function makeIo(g: GlobalOptions): Promise<Io> {
  const color = g.color !== false && !process.env.NO_COLOR && !g.json && process.stdout.isTTY === true;
  const errColor = g.color !== false && !process.env.NO_COLOR && process.stderr.isTTY === true;
  const paint = await makePaint(color);
  const errPaint = await makePaint(errColor);
  return {
    json: g.json === true,
    paint,
    errPaint,
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : text + '\n'),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : text + '\n'),
  };
}

/** Run a command; errors that are not bugs end in a message and exit 1, never a stack trace. */
export async function runCommand(g: GlobalOptions, body: (g: GlobalOptions) => Promise<number>): Promise<number> {
  try {
    return await body(g);
  } catch (e) {
    if (e instanceof UserError || e instanceof EngineError) {
      process.stderr.write(`error: ${e.message}\n`);
      if (e instanceof EngineError && e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
      return 1;
    }
    throw e;
  }
}

/** The memo of engine answers for a project: `.chpipe/cache/` beside chpipe.yaml, unless --no-cache or CHPIPE_NO_CACHE. */
export async function projectMemo(g: GlobalOptions, root: string): Promise<import('../check/memo.js').Memo> {
  const { Memo } = await import('../check/memo.js');
  const off = g.cache === false || ['1', 'true'].includes(process.env.CHPIPE_NO_CACHE ?? '');
  return off ? Memo.none() : Memo.open(join(root, '.chpipe', 'cache'));
}

/** A failure the user can act on (bad flag, missing file): message, no stack. */
export class UserError extends Error {}
