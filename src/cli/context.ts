import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { EngineError, TargetError } from '../engine/driver.js';
import { MigrationError, MigrationFailed } from '../migrate/errors.js';
import { makePaint, type Paint } from '../report/paint.js';
import { clearAllProgress } from '../report/progress.js';

export interface GlobalOptions {
  readonly config: string;
  readonly url?: string;
  readonly env?: string;
  readonly json?: boolean;
  readonly color: boolean;
  /** false with --no-cache */
  readonly cache: boolean;
  /** --debug: stack traces of unexpected errors. */
  readonly debug?: boolean;
}

/** Where a run writes: the process's streams, or a capture (tests run the CLI in process). */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface Streams {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
}

let streams: Streams = { stdout: process.stdout, stderr: process.stderr };

/** The streams of the current run (set by `main`). */
export function currentStreams(): Streams {
  return streams;
}

/** Run `body` with output going to `s`; runs do not overlap within a process. */
export async function withStreams<T>(s: Streams, body: () => Promise<T>): Promise<T> {
  const before = streams;
  streams = s;
  try {
    return await body();
  } finally {
    streams = before;
  }
}

export interface Io {
  readonly json: boolean;
  /** Colours for stdout. */
  readonly paint: Paint;
  /** Colours for stderr, where diagnostics and warnings go. */
  readonly errPaint: Paint;
  /** Columns of the terminal stdout is, else 80. */
  readonly width: number;
  /** stderr is a terminal and --json is off: progress may be drawn there. */
  readonly interactive: boolean;
  /** Results: stdout. */
  out(text: string): void;
  /** Progress and errors: stderr (never stdout, so --json stays clean). */
  err(text: string): void;
  /** Raw stderr, for progress drawn in place. */
  readonly stderr: OutputStream;
}

export async function makeIo(g: GlobalOptions): Promise<Io> {
  const { stdout, stderr } = streams;
  const color = g.color !== false && !process.env.NO_COLOR && !g.json && stdout.isTTY === true;
  const errColor = g.color !== false && !process.env.NO_COLOR && stderr.isTTY === true;
  const paint = await makePaint(color);
  const errPaint = await makePaint(errColor);
  return {
    json: g.json === true,
    paint,
    errPaint,
    width: stdout.isTTY === true && stdout.columns ? stdout.columns : 80,
    interactive: stderr.isTTY === true && g.json !== true,
    stderr,
    out: (text) => stdout.write(text.endsWith('\n') ? text : text + '\n'),
    err: (text) => stderr.write(text.endsWith('\n') ? text : text + '\n'),
  };
}

const DEBUG_HINT = 'run again with --debug for the stack trace';

/**
 * Run a command. Errors the user can act on (a bad flag, an unreadable file,
 * a statement the engine refused) end in one sentence and exit 1; anything
 * else is a bug: its message, and a hint to rerun with --debug for the trace.
 * Stack traces only with --debug.
 */
export async function runCommand(g: GlobalOptions, body: (g: GlobalOptions) => Promise<number>): Promise<number> {
  try {
    return await body(g);
  } catch (e) {
    return reportError(e, g.debug === true);
  }
}

/** Write an error that escaped a command, as one sentence (plus the stack with --debug); the exit code. */
export function reportError(e: unknown, debug: boolean): number {
  clearAllProgress();
  const err = (text: string) => streams.stderr.write(text.endsWith('\n') ? text : text + '\n');
  if (e instanceof UserError || e instanceof EngineError || e instanceof TargetError || e instanceof MigrationError || e instanceof MigrationFailed) {
    err(`error: ${e.message}`);
    if ((e instanceof EngineError || e instanceof MigrationFailed) && e.hint) err(`  hint: ${e.hint}`);
    if (debug && e.stack) err(e.stack);
    return 1;
  }
  const fs = fileSystemProblem(e);
  if (fs) {
    err(`error: ${fs}`);
    if (debug && e instanceof Error && e.stack) err(e.stack);
    return 1;
  }
  const message = e instanceof Error ? e.message || e.name : String(e);
  err(`error: ${message.split('\n')[0]}`);
  if (debug) err(e instanceof Error && e.stack ? e.stack : String(e));
  else err(`  hint: ${DEBUG_HINT}`);
  return 1;
}

/** A path for a message: relative to the current folder when that is shorter, and not absurdly long. */
export function displayPath(path: string): string {
  const full = resolve(path);
  const rel = relative(process.cwd(), full);
  const shown = rel && rel.length < full.length ? rel : full;
  return shown.length > 160 ? `${shown.slice(0, 80)}…${shown.slice(-60)}` : shown;
}

const VERB: Record<string, string> = {
  open: 'open',
  read: 'read',
  scandir: 'list the folder',
  opendir: 'list the folder',
  stat: 'read',
  lstat: 'read',
  mkdir: 'create the folder',
  write: 'write',
  rename: 'write',
  unlink: 'remove',
  rmdir: 'remove',
  rm: 'remove',
  readlink: 'read the link',
  realpath: 'read',
  copyfile: 'copy',
};

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(bytes % 1048576 ? 1 : 0)} MiB`;
}

/** The part of a path that is a file where a folder was expected (for ENOTDIR). */
function fileInTheWay(path: string): string | undefined {
  for (let p = dirname(resolve(path)); p !== dirname(p); p = dirname(p)) {
    try {
      if (!statSync(p).isDirectory()) return p;
    } catch {
      // keep climbing
    }
  }
  return undefined;
}

/** Why a path does not exist: a link whose target is missing, or nothing there. */
function missing(path: string): string {
  try {
    if (lstatSync(path).isSymbolicLink()) return `it is a link to ${readlinkSync(path)}, which does not exist`;
  } catch {
    // not a link
  }
  return 'it does not exist';
}

/**
 * A file-system error (EISDIR, ENOTDIR, ENOENT, EACCES, ENAMETOOLONG, ELOOP…)
 * as one sentence naming the path, or undefined when `e` is not one.
 */
export function fileSystemProblem(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const { code, path, syscall, dest, size, limit } = e as NodeJS.ErrnoException & { dest?: string; size?: number; limit?: number };
  if (typeof code !== 'string' || typeof path !== 'string') return undefined;
  const where = displayPath(path);
  const verb = VERB[syscall ?? ''] ?? 'use';
  const what = `cannot ${verb} ${where}`;
  switch (code) {
    case 'EISDIR':
      return `${what}: it is a folder, not a file`;
    case 'ENOTDIR': {
      const file = fileInTheWay(path);
      return `${what}: ${file ? `${displayPath(file)} is a file, not a folder` : 'a part of the path is a file, not a folder'}`;
    }
    case 'ENOENT':
      return `${what}: ${missing(path)}`;
    case 'EACCES':
    case 'EPERM':
      return `${what}: permission denied`;
    case 'ENAMETOOLONG':
      return `${what}: the name is too long for the file system`;
    case 'ELOOP':
      return `${what}: its symbolic links form a loop`;
    case 'EMFILE':
    case 'ENFILE':
      return `${what}: too many open files`;
    case 'ENOSPC':
      return `${what}: no space left on the device`;
    case 'EROFS':
      return `${what}: the file system is read-only`;
    case 'EEXIST':
      return `${what}${dest ? ` as ${displayPath(dest)}` : ''}: it already exists`;
    case 'EFBIG':
      return size === undefined ? `${what}: it is too large` : `${what}: it is ${mib(size)}${limit ? `; the limit is ${mib(limit)}` : ''}`;
    case 'EBUSY':
      return `${what}: it is busy`;
    default:
      return `${what}: ${code}`;
  }
}

/**
 * The project file a run uses: `-c FILE` as given, or by default the nearest
 * `chpipe.yaml` in the current folder or a folder above it (as git finds
 * `.git`). When there is none, `chpipe.yaml` in the current folder, so the
 * message says where it was expected.
 */
export function findProjectFile(start = process.cwd(), name = 'chpipe.yaml'): string {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const candidate = join(dir, name);
    try {
      statSync(candidate);
      return dir === resolve(start) ? name : candidate;
    } catch {
      // not here
    }
    if (dirname(dir) === dir) return name;
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
