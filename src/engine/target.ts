/**
 * Targets: the engines chpipe applies to. An embedded target (the project's
 * `.chpipe/` data or any folder) always runs in an engine process of its own,
 * never in the calling process, whose embedded engine is the scratch engine
 * (see `embedded.ts`): the two never share a session.
 *
 * A data folder is opened by one engine process at a time: whoever opens it
 * (`openEmbeddedTarget`) holds `target.lock` in it for as long as its engine
 * runs. `chpipe serve` and `chpipe dev` hold it for their lifetime and record
 * the URL they serve it at, so other commands reach the data through them
 * (`servingTarget`) instead of opening it.
 */
import { hostname } from 'node:os';
import { relative, resolve } from 'node:path';
import { acquireMigrationLock, currentLockHolder, LockBusyError, type LockHolder } from '../migrate/lock.js';
import { TargetError } from './driver.js';
import { EngineProcessError, ProcessDriver, type EngineProcessOptions } from './process.js';

export type TargetOptions = Omit<EngineProcessOptions, 'dataDir'>;

/** The lock file an embedded target's holder keeps in its data folder. */
export const TARGET_LOCK_FILE = 'target.lock';

/** Open the embedded target on a data directory (created if missing), in an engine process; `close()` stops it. */
export async function openTarget(dataDir: string, options: TargetOptions = {}): Promise<ProcessDriver> {
  return ProcessDriver.start({ ...options, dataDir });
}

export interface EmbeddedTargetOptions {
  /** What this process runs (`serve`, `apply`, …), recorded for whoever finds the folder busy. */
  readonly command: string;
  /** How long to wait for another holder, in milliseconds (0: try once). A holder that serves the folder is never waited for. */
  readonly waitMs: number;
  /** Called once when the folder is busy and the wait begins. */
  readonly onWait?: (holder: LockHolder | undefined) => void;
  /** Where this process serves the folder over HTTP, when it is known before the engine starts (else `announce()` it). */
  readonly url?: string;
  /** How the folder is named in messages (default: relative to the current folder when shorter). */
  readonly display?: string;
  /** How the engine process is started (config file, timeouts, another engine program). */
  readonly engine?: TargetOptions;
  /**
   * Called once the folder is held, just before its engine starts: what to add to `engine` (e.g. a config
   * file written now, so a process that finds the folder busy never rewrites the config of the engine that runs).
   */
  readonly configure?: () => TargetOptions;
}

export interface EmbeddedTarget {
  readonly driver: ProcessDriver;
  /** This process, as recorded in `target.lock`. */
  readonly holder: LockHolder;
  /** Record the URL this process serves the folder at (a server, once its port is known). */
  announce(url: string, password?: string): void;
  /** Stop the engine process (it closes its session; the data stays), then free the folder. Safe to call twice. */
  release(): Promise<void>;
}

/**
 * Take the data folder's `target.lock` and start an engine process on it.
 * A folder held by another live process is waited for up to `waitMs`, unless
 * its holder serves it over HTTP (it will not let go): then, or when the wait
 * runs out, a `TargetError` names the holder and, for a server, how to reach it.
 */
export async function openEmbeddedTarget(dataDir: string, options: EmbeddedTargetOptions): Promise<EmbeddedTarget> {
  const dir = resolve(dataDir);
  const display = options.display ?? shortPath(dir);
  const { command, waitMs, onWait, url } = options;
  let lock;
  try {
    lock = await acquireMigrationLock(dir, {
      file: TARGET_LOCK_FILE,
      command,
      waitMs,
      display: `${display}/${TARGET_LOCK_FILE}`,
      giveUp: (holder) => holder.url !== undefined,
      ...(onWait ? { onWait } : {}),
      ...(url !== undefined ? { url } : {}),
    });
  } catch (e) {
    if (e instanceof LockBusyError) throw new TargetError(busyMessage(display, e.holder));
    throw e;
  }
  let driver: ProcessDriver;
  try {
    driver = await openTarget(dir, { ...options.engine, ...options.configure?.() });
  } catch (e) {
    lock.release();
    if (e instanceof EngineProcessError) throw new TargetError(`cannot open the embedded target ${display}: ${e.message}`);
    throw e;
  }
  let released: Promise<void> | undefined;
  return {
    driver,
    get holder() {
      return lock.holder;
    },
    announce: (at, password) => lock.setUrl(at, password),
    release: () =>
      (released ??= (async () => {
        try {
          await driver.close();
        } finally {
          lock.release();
        }
      })()),
  };
}

/** The process that serves a data folder over HTTP (`chpipe serve`, `chpipe dev`), if one runs on this host. */
export function servingTarget(dataDir: string): { url: string; pid: number; command: string; password?: string } | undefined {
  const holder = currentLockHolder(resolve(dataDir), TARGET_LOCK_FILE);
  if (!holder?.url || !holderIsLocal(holder)) return undefined;
  return { url: holder.url, pid: holder.pid, command: holder.command, ...(holder.password !== undefined ? { password: holder.password } : {}) };
}

function holderIsLocal(holder: LockHolder): boolean {
  // A server binds the loopback interface: one on another host (a shared folder) cannot be reached from here.
  return holder.host === hostname();
}

/** One sentence: who holds the folder, and what to do. */
function busyMessage(display: string, holder: LockHolder | undefined): string {
  if (!holder) return `the embedded target ${display} is being opened by another chpipe; try again in a moment, or, if no chpipe runs, delete ${display}/${TARGET_LOCK_FILE}`;
  const who = `\`chpipe ${holder.command}\` (pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`})`;
  if (holder.url !== undefined) {
    return `the embedded target ${display} is held by ${who}, which serves it at ${holder.url}; reach it there (\`--url ${holder.url}\`), or stop that process first`;
  }
  return `the embedded target ${display} is held by ${who} since ${holder.since}; wait for it to finish, or stop it`;
}

function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && rel.length < path.length ? rel : path;
}
