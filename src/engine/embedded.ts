/**
 * The embedded ClickHouse (chdb) in this process. chdb allows one engine per
 * process, bound to one data directory, so a process holds the engine in one
 * role only, for its whole life:
 *
 * - **scratch** (`EmbeddedDriver.scratch()`): a throwaway data directory that
 *   never consumes; it checks and normalizes statements, replays migrations and
 *   proves plans, and runs `DROP DATABASE` freely. This is the only role the CLI
 *   process takes.
 * - **target** (`EmbeddedDriver.open(dir)`): real data (`.chpipe/` or any
 *   folder), consuming from Kafka. Only an engine process
 *   (`engine-process.ts`, started by `openTarget()` in `target.ts`) takes it.
 *
 * Asking for the other role in a process that already has one throws an
 * internal error instead of sharing the session: a scratch engine on a
 * target's session would drop the target's database. chdb is imported lazily,
 * and only ever through a Session (a call on chdb's default connection before
 * `new Session(...)` breaks Kafka tables in the process).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseJsonEachRow, toEngineError, type Driver, type EngineOutputFormat } from './driver.js';

interface ChdbSession {
  query(sql: string, format?: string): string;
  queryAsync(sql: string, opts?: { format?: string }): Promise<{ text(): string }>;
  close(): void;
}

/** What the embedded engine of a process is for; fixed by the first session it opens. */
export type EngineRole = 'scratch' | 'target';

/** Options of a target engine. */
export interface EmbeddedTargetOptions {
  /** A ClickHouse server configuration file (macros, remote_servers, zookeeper, pool sizes…). */
  readonly configFile?: string;
}

/** A bug in chpipe, not a user error: the engine was asked for a second role in one process. */
export class EngineRoleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineRoleError';
  }
}

let processRole: { role: EngineRole; path: string } | undefined;
let current: { path: string; session: ChdbSession; role: EngineRole; users: number } | undefined;

const require = createRequire(import.meta.url);

/** The role the embedded engine of this process has taken, if any. */
export function embeddedRole(): EngineRole | undefined {
  return processRole?.role;
}

function claimRole(role: EngineRole, path: string): void {
  if (!processRole) {
    processRole = { role, path };
    return;
  }
  if (processRole.role === role) return;
  throw new EngineRoleError(
    role === 'scratch'
      ? `internal error: this process holds a target engine on ${processRole.path}, so it cannot also run a scratch engine (it would share the target's session); a target runs in an engine process of its own (openTarget)`
      : `internal error: this process runs the scratch engine (${processRole.path}), so it cannot also open the target ${path} in process; open a target with openTarget(), which runs it in an engine process of its own`,
  );
}

function openSession(path: string, role: EngineRole, options: EmbeddedTargetOptions = {}): ChdbSession {
  claimRole(role, path);
  if (current) {
    if (current.path !== path) throw new EngineRoleError(`internal error: the embedded engine is already open on ${current.path}; it cannot also open ${path}`);
    current.users++;
    return current.session;
  }
  if (options.configFile !== undefined && !existsSync(options.configFile)) {
    // chdb ignores a missing config file silently; a target must not run without the configuration it was given.
    throw new Error(`the ClickHouse config file ${options.configFile} does not exist`);
  }
  const { Session } = require('chdb') as { Session: new (path: string, opts?: { connectionArgs?: readonly string[] }) => ChdbSession };
  const session = options.configFile !== undefined ? new Session(path, { connectionArgs: [`--config-file=${resolve(options.configFile)}`] }) : new Session(path);
  current = { path, session, role, users: 1 };
  if (role === 'scratch') process.once('exit', closeAtExit);
  return session;
}

/**
 * The engine cannot be started again in a process once it is shut down
 * ("Shutdown was called"), so a scratch session stays open until the process
 * exits, and its directory is removed then. A target session is closed when
 * its last user releases it.
 */
function release(): void {
  if (!current) return;
  if (--current.users > 0 || current.role === 'scratch') return;
  const { session } = current;
  current = undefined;
  session.close();
}

function closeAtExit(): void {
  if (!current) return;
  const { session, role, path } = current;
  current = undefined;
  try {
    session.close();
  } finally {
    // The engine's last files may still be landing as it shuts down: retry instead of failing the exit.
    if (role === 'scratch') rmSync(path, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
  }
}

/** Statements the engine is running now (async); an interrupt waits for them. */
const running = new Set<Promise<unknown>>();
let interrupted = false;

/**
 * Take no more statements and wait for those running: on Ctrl-C or SIGTERM the
 * CLI calls this before it exits, because closing chdb in the middle of a
 * statement crashes the process, and the scratch folder is removed only after
 * a clean close. Statements asked for after this never answer (the process is
 * about to exit), so no half-finished work reports anything.
 */
export async function quiesceEmbedded(): Promise<void> {
  interrupted = true;
  while (running.size) await Promise.allSettled([...running]);
}

function runAsync(session: ChdbSession, sql: string, format: EngineOutputFormat): Promise<{ text(): string }> {
  if (interrupted) return new Promise(() => undefined);
  const query = session.queryAsync(sql, { format });
  running.add(query);
  const done = () => void running.delete(query);
  query.then(done, done);
  return query;
}

export class EmbeddedDriver implements Driver {
  readonly kind = 'embedded' as const;
  private closed = false;

  private constructor(
    readonly target: string,
    private readonly session: ChdbSession,
    /** The engine runs on a throwaway data directory of its own (scratch), not on a real target. */
    readonly temporary = false,
  ) {}

  /**
   * Open a target: the embedded engine on a real data directory (created if
   * missing), in this process. Only the engine process does this
   * (`engine-process.ts`); everything else reaches a target through
   * `openTarget()`. Throws an `EngineRoleError` if this process has run a
   * scratch engine.
   */
  static async open(path: string, options: EmbeddedTargetOptions = {}): Promise<EmbeddedDriver> {
    const full = resolve(path);
    return new EmbeddedDriver(full, openSession(full, 'target', options));
  }

  /**
   * A driver for scratch work: the scratch engine of this process, opened on a
   * fresh temporary data directory (removed at exit) the first time. Never a
   * session on real data: throws an `EngineRoleError` if this process holds a
   * target.
   */
  static async scratch(): Promise<EmbeddedDriver> {
    return EmbeddedDriver.scratchSync();
  }

  /**
   * As `scratch()`, synchronously: chdb loads and answers in process.
   * `config` (a server configuration's XML) is written into the scratch
   * folder and given to the engine when this call opens it (cluster mode:
   * the cluster in `<remote_servers>`); an engine already open keeps its own.
   */
  static scratchSync(config?: string): EmbeddedDriver {
    if (current?.role === 'scratch') return new EmbeddedDriver(current.path, openSession(current.path, 'scratch'), true);
    if (processRole) claimRole('scratch', '');
    const dir = mkdtempSync(join(tmpdir(), 'chpipe-scratch-'));
    try {
      if (config === undefined) return new EmbeddedDriver(dir, openSession(dir, 'scratch'), true);
      const configFile = join(dir, 'scratch-config.xml');
      writeFileSync(configFile, config);
      return new EmbeddedDriver(dir, openSession(dir, 'scratch', { configFile }), true);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Run a statement and return the engine's raw output in `format`. */
  async text(sql: string, format: EngineOutputFormat): Promise<string> {
    try {
      return (await runAsync(this.session, sql, format)).text();
    } catch (e) {
      throw toEngineError(sql, e);
    }
  }

  /**
   * Run a statement and return what the engine said, untouched: its output, or
   * its exception text (`Code: 60. DB::Exception: ... (UNKNOWN_TABLE)`). This
   * is what an engine process answers over its protocol.
   */
  async answer(sql: string, format: EngineOutputFormat): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
    try {
      return { ok: true, text: (await runAsync(this.session, sql, format)).text() };
    } catch (e) {
      return { ok: false, error: (e instanceof Error ? e.message : String(e)).replace(/^Query failed: /, '') };
    }
  }

  async exec(sql: string): Promise<void> {
    await this.text(sql, 'TSV');
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return parseJsonEachRow<T>(await this.text(sql, 'JSONEachRow'));
  }

  /** Synchronous query, for the compiler's Oracle (the engine answers in-process). */
  querySync<T = Record<string, unknown>>(sql: string): T[] {
    let text: string;
    try {
      text = this.session.query(sql, 'JSONEachRow');
    } catch (e) {
      throw toEngineError(sql, e);
    }
    return parseJsonEachRow<T>(text);
  }

  async version(): Promise<string> {
    const rows = await this.query<{ v: string }>('SELECT version() AS v');
    return rows[0]?.v ?? 'unknown';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    release();
  }
}
