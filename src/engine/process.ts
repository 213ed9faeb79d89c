/**
 * A `Driver` over an engine process: a child process that holds an embedded
 * ClickHouse on a data directory (`engine-process.ts`, or any program that
 * speaks the same protocol, such as a Python chdb of another version).
 *
 * Protocol: newline-delimited JSON, one object per line.
 * - The child's first line on stdout: `{"ready":true,"version":"26.7.2.1"}`,
 *   or `{"ready":false,"error":"..."}` (then it exits).
 * - Request, on the child's stdin: `{"id":N,"sql":"...","format":"JSONEachRow"|"TSV"}`.
 * - Response, on its stdout: `{"id":N,"ok":true,"text":"<raw output>"}` or
 *   `{"id":N,"ok":false,"error":"<the engine's exception text>"}`, e.g.
 *   `Code: 60. DB::Exception: ... (UNKNOWN_TABLE)`. A request that cannot be
 *   read is answered with `ok:false` (and `"id":null` if it has no id).
 * - Requests may be pipelined; answers are matched by id.
 * - End of stdin asks the child to answer what it has received, close the
 *   session and exit. SIGTERM asks it to close and exit at once.
 *
 * Lifetime: the process that starts an engine process owns it. `close()` ends
 * the child's stdin, waits for it to exit, and kills it by PID after a
 * timeout. If the parent exits, its 'exit' hook sends SIGTERM to every live
 * child; if the parent dies without running it (SIGINT, SIGTERM, SIGKILL), the
 * child's stdin closes and the child exits by itself. A child that dies
 * rejects every pending request with an `EngineProcessError`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJsonEachRow, toEngineError, type Driver, type EngineOutputFormat } from './driver.js';

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
  readonly sql: string;
  resolve(text: string): void;
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
  private ready: ((version: string) => void) | undefined;
  private notReady: ((error: EngineProcessError) => void) | undefined;
  private engineVersion = 'unknown';

  private constructor(
    readonly target: string,
    private readonly child: ChildProcess,
    private readonly closeTimeoutMs: number,
  ) {
    // 'close', not 'exit': the answers the child wrote just before exiting are read by then.
    this.exited = new Promise((done) => child.once('close', () => done()));
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.receive(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    // Writes to a child that just died fail with EPIPE; the exit handler reports it.
    child.stdin?.on('error', () => {});
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
      args: [engineProcessEntry(), '--data-dir', dataDir, ...(options.configFile !== undefined ? ['--config-file', resolve(options.configFile)] : [])],
    };
    const child = spawn(command.file, [...command.args], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', killLiveChildrenAtExit);
    }
    const driver = new ProcessDriver(dataDir, child, options.closeTimeoutMs ?? 10_000);
    const startTimeoutMs = options.startTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      driver.engineVersion = await new Promise<string>((resolveReady, rejectReady) => {
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
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new EngineProcessError(`the engine process for ${this.target} is closed`));
    const id = this.nextId++;
    return new Promise<string>((resolveText, rejectText) => {
      this.pending.set(id, { sql, resolve: resolveText, reject: rejectText });
      this.child.stdin?.write(`${JSON.stringify({ id, sql, format })}\n`);
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
    return this.engineVersion;
  }

  /** Ask the child to finish and exit (end of its stdin); kill it by PID if it has not exited in time. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.child.stdin?.end();
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
      if (message.ready) this.ready?.(typeof message.version === 'string' ? message.version : 'unknown');
      else this.notReady?.(new EngineProcessError(`the engine process could not open ${this.target}: ${String(message.error)}${this.lastStderrLine() ? ` (${this.lastStderrLine()})` : ''}`));
      return;
    }
    const id = typeof message.id === 'number' ? message.id : undefined;
    const request = id !== undefined ? this.pending.get(id) : undefined;
    if (!request || id === undefined) return;
    this.pending.delete(id);
    if (message.ok === true) request.resolve(typeof message.text === 'string' ? message.text : '');
    else request.reject(toEngineError(request.sql, typeof message.error === 'string' ? message.error : 'the engine process gave no error text'));
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
