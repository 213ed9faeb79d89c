/**
 * A `Driver` over an engine process: a child process that holds an embedded
 * ClickHouse on a data directory (`engine-process.ts`, or any program that
 * speaks the same protocol, such as a Python chdb of another version).
 *
 * Protocol: newline-delimited JSON, one object per line.
 * - The child's first line on stdout: `{"ready":true,"version":"26.7.2.1"}`
 *   (chpipe's own engine process adds `"timezone"` and `"displayName"`, the
 *   engine's `timezone()` and `displayName()`), or
 *   `{"ready":false,"error":"..."}` (then it exits).
 * - Request, on the child's request channel (see below): `{"id":N,"sql":"...","format":"JSONEachRow"}`;
 *   `format` is any output format name (an identifier; the engine says
 *   whether it exists). Such a request runs on the engine's shared session.
 * - Response, on its stdout: `{"id":N,"ok":true,"text":"<raw output>"}` or
 *   `{"id":N,"ok":false,"error":"<the engine's exception text>","code":60}`, e.g.
 *   `Code: 60. DB::Exception: ... (UNKNOWN_TABLE)` (`code`, the exception's
 *   number, may be missing: it is also in the text). A request that cannot be
 *   read is answered with `ok:false` (and `"id":null` if it has no id).
 * - An isolated request (what `chpipe serve` sends for each HTTP request) adds
 *   `"isolated":true` and optionally `"database":"db"` (its current database),
 *   `"settings":{"name":"value",...}`, `"readonly":1|2` (set before the
 *   settings) and `"params":{"name":"value",...}` (values of `{name:Type}`
 *   placeholders). It runs on a connection of its own, so these, and any SET
 *   or USE in the statement, apply to it alone. Its answer adds
 *   `"stats":{"elapsedNs":N,"rows":N,"bytes":N}` (the result's rows and bytes,
 *   as the engine counts them) and carries the output as `"base64"` instead of
 *   `"text"` when it is not UTF-8 text (Native, RowBinary, Parquet, …). An
 *   engine process that does not take isolated requests answers them `ok:false`.
 * - Requests may be pipelined; answers are matched by id; they run one at a
 *   time, in the order received.
 * - End of the request channel asks the child to answer what it has received,
 *   close the session and exit. SIGTERM asks it to close and exit at once.
 *
 * The request channel: chpipe's own engine process reads its requests from
 * file descriptor 3 (`--requests-fd 3`), and its stdin is /dev/null. The embedded engine's client
 * reads the process's stdin (fd 0) as more data for every INSERT that carries
 * inline data (`VALUES …`, `FORMAT CSV …`): on a pipe holding the next request
 * line it fails the INSERT (NOT_IMPLEMENTED "Processing async inserts with both
 * inlined and external data") or inserts it, and the request it swallowed is
 * never answered. Requests arrive while a statement runs whenever two callers
 * share the process (`chpipe serve` with two clients), so they must never pass
 * through fd 0. A program given as `command` gets its requests on stdin, as
 * before, and must keep its own engine off that pipe (test/matrix/engine.py
 * moves it to another descriptor and puts /dev/null on fd 0).
 *
 * Lifetime: the process that starts an engine process owns it. `close()` ends
 * the child's request channel, waits for it to exit, and kills it by PID after a
 * timeout. If the parent exits, its 'exit' hook sends SIGTERM to every live
 * child; if the parent dies without running it (SIGINT, SIGTERM, SIGKILL), the
 * child's request channel closes and the child exits by itself. A child that dies
 * rejects every pending request with an `EngineProcessError`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseJsonEachRow, toEngineError, type Driver, type EngineOutputFormat } from './driver.js';

/** What an engine process says about its engine when it is ready. */
export interface EngineInfo {
  readonly version: string;
  /** The engine's time zone (`timezone()`), when the engine process says. */
  readonly timezone?: string;
  /** The engine's `displayName()` (the host name by default), when the engine process says. */
  readonly displayName?: string;
}

/** A statement for the engine's HTTP face (`chpipe serve`): run on a connection of its own. */
export interface EngineRequest {
  readonly sql: string;
  /** The output format's name (an identifier); a FORMAT clause in `sql` wins, as on a server. */
  readonly format: string;
  /** The statement's current database. */
  readonly database?: string;
  /** Settings for this statement alone, applied in order after `readonly`. */
  readonly settings?: Readonly<Record<string, string>>;
  /** `readonly` for this statement (2: what a server sets for HTTP GET). */
  readonly readonly?: 1 | 2;
  /** Values of the statement's `{name:Type}` placeholders, as raw values (not escaped). */
  readonly params?: Readonly<Record<string, string>>;
}

/** What the engine counted for a statement: its result's rows and bytes, and the time it took. */
export interface EngineStats {
  readonly elapsedNs: number;
  readonly rows: number;
  readonly bytes: number;
}

/** The engine's answer to an `EngineRequest`: its output, or the exception it raised (its code number, when known, and text). */
export type EngineReply =
  | { readonly ok: true; readonly output: Buffer; readonly stats?: EngineStats }
  | { readonly ok: false; readonly code: number | undefined; readonly error: string };

/** The engine process failed as a process: it could not start, died, or was closed. Not a statement error. */
export class EngineProcessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineProcessError';
  }
}

export interface EngineProcessOptions {
  /** The data directory the engine holds (created if missing). */
  readonly dataDir: string;
  /** A ClickHouse server configuration file for the engine (macros, remote_servers, zookeeper, pool sizes…). */
  readonly configFile?: string;
  /**
   * The program to run instead of chpipe's own engine process (which gets
   * `--data-dir DIR [--config-file FILE]`); it must speak the protocol above.
   */
  readonly command?: { readonly file: string; readonly args: readonly string[] };
  /** How long the child may take to say it is ready (default 60 s). */
  readonly startTimeoutMs?: number;
  /** How long `close()` waits for the child to exit before killing it (default 10 s). */
  readonly closeTimeoutMs?: number;
}

interface Pending {
  /** Settle with the child's answer line for this request. */
  answer(message: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** The compiled child entry: beside this module in dist/, or dist/ itself when this module runs from src/ (tests). */
export function engineProcessEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const entry = here.endsWith('.ts') ? resolve(here, '../../../dist/engine/engine-process.js') : resolve(here, '../engine-process.js');
  if (!existsSync(entry)) throw new EngineProcessError(`the engine process entry ${entry} is missing; run \`npm run build\``);
  return entry;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killLiveChildrenAtExit(): void {
  for (const child of live) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

const STDERR_TAIL_BYTES = 8 * 1024;

export class ProcessDriver implements Driver {
  readonly kind = 'embedded' as const;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = '';
  private stderrTail = '';
  /** Set once the child is gone (or going): every later request is refused with it. */
  private failure: EngineProcessError | undefined;
  private closing = false;
  private readonly exited: Promise<void>;
  /** Where requests are written: fd 3 of chpipe's own engine process, the stdin of a `command`. */
  private readonly requests: Writable | null;
  private ready: ((info: EngineInfo) => void) | undefined;
  private notReady: ((error: EngineProcessError) => void) | undefined;
  private engineInfo: EngineInfo = { version: 'unknown' };

  private constructor(
    readonly target: string,
    private readonly child: ChildProcess,
    private readonly closeTimeoutMs: number,
  ) {
    this.requests = (child.stdio[3] as Writable | null | undefined) ?? child.stdin;
    // 'close', not 'exit': the answers the child wrote just before exiting are read by then.
    this.exited = new Promise((done) => child.once('close', () => done()));
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.receive(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    // Writes to a child that just died fail with EPIPE; the exit handler reports it.
    this.requests?.on('error', () => {});
    child.once('error', (e) => this.fail(new EngineProcessError(`the engine process for ${this.target} could not start: ${e.message}`)));
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      live.delete(child);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const said = this.lastStderrLine();
      this.fail(new EngineProcessError(this.closing ? `the engine process for ${this.target} is closed` : `the engine process for ${this.target} (pid ${child.pid}) ${how}${said ? `: ${said}` : ''}`));
    });
  }

  /** Start an engine process on a data directory and wait until it is ready. */
  static async start(options: EngineProcessOptions): Promise<ProcessDriver> {
    const dataDir = resolve(options.dataDir);
    const command = options.command ?? {
      file: process.execPath,
      args: [engineProcessEntry(), '--data-dir', dataDir, ...(options.configFile !== undefined ? ['--config-file', resolve(options.configFile)] : []), '--requests-fd', '3'],
    };
    // chpipe's own engine process: requests on fd 3, /dev/null on stdin (see "The request channel" above).
    const child = spawn(command.file, [...command.args], { stdio: options.command ? ['pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'pipe'] });
    live.add(child);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', killLiveChildrenAtExit);
    }
    const driver = new ProcessDriver(dataDir, child, options.closeTimeoutMs ?? 10_000);
    const startTimeoutMs = options.startTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      driver.engineInfo = await new Promise<EngineInfo>((resolveReady, rejectReady) => {
        driver.ready = resolveReady;
        driver.notReady = rejectReady;
        timer = setTimeout(() => rejectReady(new EngineProcessError(`the engine process for ${dataDir} did not become ready within ${startTimeoutMs} ms`)), startTimeoutMs);
      });
    } catch (e) {
      driver.kill();
      await driver.exited;
      throw e;
    } finally {
      clearTimeout(timer);
      driver.ready = undefined;
      driver.notReady = undefined;
    }
    return driver;
  }

  /** The child's process id (to stop it, or to check it is gone). */
  get pid(): number {
    return this.child.pid as number;
  }

  /** Run a statement in the child and return the engine's raw output. */
  text(sql: string, format: EngineOutputFormat): Promise<string> {
    return this.send({ sql, format }, (message, resolveText, rejectText) => {
      if (message.ok === true) resolveText(typeof message.text === 'string' ? message.text : '');
      else rejectText(toEngineError(sql, typeof message.error === 'string' ? message.error : 'the engine process gave no error text'));
    });
  }

  /**
   * Run a statement on a connection of its own in the child (an isolated
   * request: its database, settings, readonly and params apply to it alone).
   * A statement the engine refuses is an answer (`ok: false`, with the
   * engine's code and text), not a failure; the promise rejects only when the
   * engine process fails (`EngineProcessError`).
   */
  request(request: EngineRequest): Promise<EngineReply> {
    const { sql, format, database, settings, readonly, params } = request;
    const line = {
      sql,
      format,
      isolated: true,
      ...(database !== undefined ? { database } : {}),
      ...(settings !== undefined && Object.keys(settings).length ? { settings } : {}),
      ...(readonly !== undefined ? { readonly } : {}),
      ...(params !== undefined && Object.keys(params).length ? { params } : {}),
    };
    return this.send(line, (message, resolveReply) => resolveReply(readReply(message)));
  }

  private send<T>(request: Record<string, unknown>, settle: (message: Record<string, unknown>, resolve: (value: T) => void, reject: (error: Error) => void) => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new EngineProcessError(`the engine process for ${this.target} is closed`));
    const id = this.nextId++;
    return new Promise<T>((resolveValue, rejectValue) => {
      this.pending.set(id, { answer: (message) => settle(message, resolveValue, rejectValue), reject: rejectValue });
      this.requests?.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  }

  async exec(sql: string): Promise<void> {
    await this.text(sql, 'TSV');
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return parseJsonEachRow<T>(await this.text(sql, 'JSONEachRow'));
  }

  /** The engine's version, as the child said when it became ready. */
  async version(): Promise<string> {
    return this.engineInfo.version;
  }

  /** What the child said about its engine when it became ready. */
  get info(): EngineInfo {
    return this.engineInfo;
  }

  /** Ask the child to finish and exit (end of its request channel); kill it by PID if it has not exited in time. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.requests?.end();
    }
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((done) => {
      timer = setTimeout(() => done(true), this.closeTimeoutMs);
    });
    const late = await Promise.race([this.exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.kill();
      await this.exited;
    }
  }

  private kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      if (line.trim()) this.answer(line);
    }
  }

  private answer(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Not the protocol (a library printing to stdout): keep it for a crash report.
      this.stderrTail = `${this.stderrTail}${line}\n`.slice(-STDERR_TAIL_BYTES);
      return;
    }
    if (typeof message.ready === 'boolean') {
      if (message.ready) {
        const { version, timezone, displayName } = message;
        this.ready?.({
          version: typeof version === 'string' ? version : 'unknown',
          ...(typeof timezone === 'string' ? { timezone } : {}),
          ...(typeof displayName === 'string' ? { displayName } : {}),
        });
      }
      else this.notReady?.(new EngineProcessError(`the engine process could not open ${this.target}: ${String(message.error)}${this.lastStderrLine() ? ` (${this.lastStderrLine()})` : ''}`));
      return;
    }
    const id = typeof message.id === 'number' ? message.id : undefined;
    const request = id !== undefined ? this.pending.get(id) : undefined;
    if (!request || id === undefined) return;
    this.pending.delete(id);
    request.answer(message);
  }

  private fail(error: EngineProcessError): void {
    this.failure ??= error;
    this.notReady?.(error);
    for (const request of this.pending.values()) request.reject(error);
    this.pending.clear();
  }

  private lastStderrLine(): string | undefined {
    return this.stderrTail.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
  }
}

/** An answer line to an isolated request, as an `EngineReply`; the exception's code is read from its text when the child did not send it. */
function readReply(message: Record<string, unknown>): EngineReply {
  if (message.ok !== true) {
    const error = typeof message.error === 'string' ? message.error : 'the engine process gave no error text';
    const code = typeof message.code === 'number' && Number.isInteger(message.code) ? message.code : codeOf(error);
    return { ok: false, code, error };
  }
  const output = typeof message.base64 === 'string' ? Buffer.from(message.base64, 'base64') : Buffer.from(typeof message.text === 'string' ? message.text : '', 'utf8');
  const stats = readStats(message.stats);
  return stats ? { ok: true, output, stats } : { ok: true, output };
}

function readStats(value: unknown): EngineStats | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { elapsedNs, rows, bytes } = value as Record<string, unknown>;
  if (typeof elapsedNs !== 'number' || typeof rows !== 'number' || typeof bytes !== 'number') return undefined;
  return { elapsedNs, rows, bytes };
}

/** `Code: 60. DB::Exception: …` → 60: the engine's exception text, read once, here at the edge. */
function codeOf(error: string): number | undefined {
  const match = /^(?:Query failed: )?Code: (\d+)\./.exec(error);
  return match ? Number(match[1]) : undefined;
}
