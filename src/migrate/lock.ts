/**
 * A folder's lock file, created with O_EXCL, holding who has it (pid, host,
 * since, command, and the URL it serves the folder at, if it does).
 *
 * - The migrations folder's lock, `chpipe.lock`: whatever writes the folder
 *   (`plan --save`, `migrate hash`) holds it, so two concurrent saves never
 *   write two files with one version.
 * - An embedded target's lock, `target.lock` in its data folder (`file`
 *   option; see `openEmbeddedTarget` in `engine/target.ts`): one engine
 *   process at a time opens the folder.
 *
 * It is removed on release, at exit, and on SIGINT/SIGTERM; a lock left by a
 * process that died on this host is taken over. After Atlas's `Locker`: a
 * named lock, a wait, and the release function handed back.
 */
import { closeSync, constants, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

export const LOCK_FILE = 'chpipe.lock';

/** Who holds the lock, as written in the lock file. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** ISO time the lock was taken. */
  readonly since: string;
  /** What the holder runs, e.g. `plan --save add_country`. */
  readonly command: string;
  /** Tells this holder's file from a later one. */
  readonly token: string;
  /** Where the holder serves the locked folder over HTTP (`chpipe serve`, `chpipe dev`), e.g. `http://127.0.0.1:8123`. */
  readonly url?: string;
  /** The password its server requires (`serve --password`), for chpipe's own commands on this machine; the file is the user's alone (0600). */
  readonly password?: string;
}

export interface MigrationLock {
  readonly path: string;
  /** Who holds it: this process (as last written). */
  readonly holder: LockHolder;
  /** Rewrite the holder with its URL (once a server knows its port) and the password it requires; the lock stays held throughout. */
  setUrl(url: string, password?: string): void;
  /** Remove the lock (if it is still ours); safe to call twice. */
  release(): void;
}

/** The lock is held by a live process (or one on another host) for longer than the wait. */
export class LockBusyError extends Error {
  constructor(
    readonly path: string,
    readonly holder: LockHolder | undefined,
    readonly display: string,
  ) {
    super(
      holder
        ? `${display} is held by \`chpipe ${holder.command}\` (pid ${holder.pid} on ${holder.host}, since ${holder.since}); wait for it to finish, or, if that process is gone, delete ${display}`
        : `${display} is held by another chpipe that is still writing it; wait for it to finish, or, if no chpipe runs, delete ${display}`,
    );
    this.name = 'LockBusyError';
  }
}

export interface LockOptions {
  /** How long to wait for a live holder, in milliseconds (0: try once). */
  readonly waitMs: number;
  /** What this process runs, recorded for whoever waits. */
  readonly command: string;
  /** How the lock file is named in messages (default: its path). */
  readonly display?: string;
  /** Between tries, in milliseconds. */
  readonly pollMs?: number;
  /** Called once, when the lock is busy and the wait begins (to tell the user why nothing happens). */
  readonly onWait?: (holder: LockHolder | undefined) => void;
  /** The lock file's name in the folder (default `chpipe.lock`). */
  readonly file?: string;
  /** Recorded in the holder: where this process serves the folder over HTTP. */
  readonly url?: string;
  /** Stop waiting at once for a live holder this returns true for (one that will not let go soon, such as a server). */
  readonly giveUp?: (holder: LockHolder) => boolean;
}

/** A lock file without a readable holder older than this was left by a process killed while writing it. */
const UNREADABLE_GRACE_MS = 5_000;

/** Take the lock file in `dir` (`chpipe.lock` unless `options.file` names another), waiting up to `options.waitMs` for a live holder. */
export async function acquireMigrationLock(dir: string, options: LockOptions): Promise<MigrationLock> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, options.file ?? LOCK_FILE);
  const display = options.display ?? path;
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    command: options.command,
    token: randomUUID(),
    ...(options.url !== undefined ? { url: options.url } : {}),
  };
  const deadline = Date.now() + options.waitMs;
  let waited = false;
  for (;;) {
    if (tryCreate(path, holder)) return hold(path, holder);
    const current = readHolder(path);
    if (current.state === 'gone') continue;
    if (isStale(current)) {
      if (takeOver(path, current)) continue;
    } else if (Date.now() >= deadline || (current.state === 'held' && options.giveUp?.(current.holder) === true)) {
      throw new LockBusyError(path, current.state === 'held' ? current.holder : undefined, display);
    } else if (!waited) {
      waited = true;
      options.onWait?.(current.state === 'held' ? current.holder : undefined);
    }
    await new Promise((r) => setTimeout(r, Math.min(options.pollMs ?? 100, Math.max(1, deadline - Date.now()))));
  }
}

/** Create the lock file; false when it exists. */
function tryCreate(path: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(holder) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

type Seen = { state: 'gone' } | { state: 'held'; holder: LockHolder; text: string } | { state: 'unreadable'; text: string; ageMs: number };

function readHolder(path: string): Seen {
  let text: string;
  let ageMs: number;
  try {
    ageMs = Date.now() - statSync(path).mtimeMs;
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'gone' };
    throw e;
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string') {
      const holder: LockHolder = {
        pid: h.pid,
        host: h.host,
        since: String(h.since ?? '?'),
        command: String(h.command ?? '?'),
        token: String(h.token ?? ''),
        ...(typeof h.url === 'string' ? { url: h.url } : {}),
        ...(typeof h.password === 'string' ? { password: h.password } : {}),
      };
      return { state: 'held', text, holder };
    }
  } catch {
    // a holder that has created the file but not yet written it, or a damaged file
  }
  return { state: 'unreadable', text, ageMs };
}

/** A lock whose holder died on this host, or one nobody finished writing long ago. */
function isStale(seen: Seen): boolean {
  if (seen.state === 'unreadable') return seen.ageMs > UNREADABLE_GRACE_MS;
  if (seen.state !== 'held') return false;
  return !holderAlive(seen.holder);
}

/**
 * The live holder of the lock file `file` in `dir`, or undefined when nobody
 * holds it (no file, a holder that died on this host, a file still being
 * written). A holder on another host counts as live: its process cannot be checked.
 */
export function currentLockHolder(dir: string, file: string = LOCK_FILE): LockHolder | undefined {
  const seen = readHolder(join(dir, file));
  return seen.state === 'held' && holderAlive(seen.holder) ? seen.holder : undefined;
}

/** A holder on this host is alive while its process is; one on another host is taken to be. */
export function holderAlive(holder: Pick<LockHolder, 'pid' | 'host'>): boolean {
  return holder.host !== hostname() || processAlive(holder.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove a stale lock so the caller can try to create its own (false: another
 * waiter is at it; wait and look again). Two waiters may
 * see the same stale lock: a second lock file, also O_EXCL, lets one of them at
 * a time check again and remove it, so a live lock that replaced the stale one
 * is never removed.
 */
function takeOver(path: string, stale: Seen): boolean {
  const guard = `${path}.takeover`;
  const guardHolder: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), command: 'take over a stale lock', token: randomUUID() };
  if (!tryCreate(guard, guardHolder)) {
    const other = readHolder(guard);
    if (isStale(other) || (other.state !== 'gone' && guardAgeMs(guard) > UNREADABLE_GRACE_MS)) removeQuietly(guard);
    return false;
  }
  try {
    const now = readHolder(path);
    if (now.state !== 'gone' && stale.state !== 'gone' && now.text === stale.text) removeQuietly(path);
    return true;
  } finally {
    removeQuietly(guard);
  }
}

function guardAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** The lock, released at exit and on SIGINT/SIGTERM as well as by `release()`. */
function hold(path: string, first: LockHolder): MigrationLock {
  let holder = first;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    const current = readHolder(path);
    if (current.state === 'held' && current.holder.token === holder.token) removeQuietly(path);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    // Another handler ends the process its own way (the CLI finishes the engine's running
    // statements, then exits): the lock stays held until then and goes with the exit hook.
    if (process.listenerCount(signal) > 1) return;
    // Ours is the only handler: release, then end the way the signal would have without one.
    release();
    process.kill(process.pid, signal);
  };
  const setUrl = (url: string, password?: string): void => {
    if (released) return;
    const current = readHolder(path);
    if (current.state !== 'held' || current.holder.token !== holder.token) return;
    const next: LockHolder = { ...holder, url, ...(password !== undefined ? { password } : {}) };
    // Written beside and renamed over: the lock file exists, whole, at every moment.
    const temporary = `${path}.${holder.token}.tmp`;
    writeFileSync(temporary, JSON.stringify(next) + '\n', { mode: 0o600 });
    renameSync(temporary, path);
    holder = next;
  };
  process.on('exit', release);
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    path,
    get holder() {
      return holder;
    },
    setUrl,
    release,
  };
}
