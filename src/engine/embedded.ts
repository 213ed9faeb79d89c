/**
 * The embedded ClickHouse (chdb): chpipe's default target and its scratch
 * engine. The engine is a process singleton bound to one data directory, so
 * this module keeps one Session and refuses a second path. chdb is imported
 * lazily: nothing loads it until a command needs an engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toEngineError, type Driver } from './driver.js';

interface ChdbSession {
  query(sql: string, format?: string): string;
  queryAsync(sql: string, opts?: { format?: string }): Promise<{ text(): string }>;
  close(): void;
}

let current: { path: string; session: ChdbSession; temporary: boolean; users: number } | undefined;

const require = createRequire(import.meta.url);

function openSession(path: string, temporary: boolean): ChdbSession {
  if (current) {
    if (current.path !== path) throw new Error(`the embedded engine is already open on ${current.path}; it cannot also open ${path}`);
    current.users++;
    return current.session;
  }
  const { Session } = require('chdb') as { Session: new (path: string) => ChdbSession };
  const session = new Session(path);
  current = { path, session, temporary, users: 1 };
  if (temporary) process.once('exit', closeAtExit);
  return session;
}

/**
 * The engine cannot be started again in a process once it is shut down
 * ("Shutdown was called"), so a temporary scratch session stays open until the
 * process exits, and its directory is removed then. A session on a real data
 * directory is closed when its last user releases it.
 */
function release(): void {
  if (!current) return;
  if (--current.users > 0 || current.temporary) return;
  const { session } = current;
  current = undefined;
  session.close();
}

function closeAtExit(): void {
  if (!current) return;
  const { session, temporary, path } = current;
  current = undefined;
  try {
    session.close();
  } finally {
    if (temporary) rmSync(path, { recursive: true, force: true });
  }
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

  /** Open the embedded engine on a data directory (created if missing). */
  static async open(path: string): Promise<EmbeddedDriver> {
    const full = resolve(path);
    return new EmbeddedDriver(full, openSession(full, false));
  }

  /**
   * A driver for scratch work: the engine already open in this process if
   * there is one (scratch objects then live in databases of their own), else a
   * fresh temporary data directory removed on close.
   */
  static async scratch(): Promise<EmbeddedDriver> {
    return EmbeddedDriver.scratchSync();
  }

  /** As `scratch()`, synchronously: chdb loads and answers in process. */
  static scratchSync(): EmbeddedDriver {
    if (current) {
      const { path, temporary } = current;
      return new EmbeddedDriver(path, openSession(path, temporary), temporary);
    }
    const dir = mkdtempSync(join(tmpdir(), 'chpipe-scratch-'));
    return new EmbeddedDriver(dir, openSession(dir, true), true);
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.session.queryAsync(sql, { format: 'TSV' });
    } catch (e) {
      throw toEngineError(sql, e);
    }
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    let text: string;
    try {
      text = (await this.session.queryAsync(sql, { format: 'JSONEachRow' })).text();
    } catch (e) {
      throw toEngineError(sql, e);
    }
    return parseRows<T>(text);
  }

  /** Synchronous query, for the compiler's Oracle (the engine answers in-process). */
  querySync<T = Record<string, unknown>>(sql: string): T[] {
    let text: string;
    try {
      text = this.session.query(sql, 'JSONEachRow');
    } catch (e) {
      throw toEngineError(sql, e);
    }
    return parseRows<T>(text);
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

function parseRows<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.trim()) rows.push(JSON.parse(line) as T);
  return rows;
}
