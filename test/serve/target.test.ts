/**
 * One engine process at a time on a data folder: `openEmbeddedTarget` holds
 * `target.lock` (the migrations lock generalized: another file name, the URL a
 * server records), `servingTarget` finds the server that holds it. Real engine
 * processes (the built dist/, `npm run build` first) and real holder processes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TargetError } from '../../src/engine/driver.js';
import { openEmbeddedTarget, openTarget, servingTarget, TARGET_LOCK_FILE } from '../../src/engine/target.js';
import { acquireMigrationLock, currentLockHolder, LOCK_FILE, LockBusyError } from '../../src/migrate/lock.js';
import { gone, stop } from '../engine/pids.js';

const dirs: string[] = [];
const pids: number[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-target-lock-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const pid of pids) stop(pid);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function lockFile(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, TARGET_LOCK_FILE), 'utf8')) as Record<string, unknown>;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('openEmbeddedTarget', () => {
  it('holds target.lock while its engine runs, records the URL it is served at, and frees both on release', async () => {
    const dir = tempDir();
    const target = await openEmbeddedTarget(dir, { command: 'serve', waitMs: 0 });
    pids.push(target.driver.pid);
    expect(lockFile(dir)).toMatchObject({ pid: process.pid, host: hostname(), command: 'serve' });
    expect(lockFile(dir).url).toBeUndefined();
    expect(servingTarget(dir)).toBeUndefined();
    await target.driver.exec('CREATE TABLE default.kept (x UInt8) ENGINE = MergeTree ORDER BY x');
    await target.driver.exec('INSERT INTO default.kept VALUES (7)');

    const token = lockFile(dir).token;
    target.announce('http://127.0.0.1:18123');
    expect(lockFile(dir)).toMatchObject({ pid: process.pid, command: 'serve', url: 'http://127.0.0.1:18123', token });
    expect(target.holder.url).toBe('http://127.0.0.1:18123');
    expect(servingTarget(dir)).toEqual({ url: 'http://127.0.0.1:18123', pid: process.pid, command: 'serve' });

    await target.release();
    await target.release(); // twice is harmless
    expect(await gone(target.driver.pid)).toBe(true);
    expect(existsSync(join(dir, TARGET_LOCK_FILE))).toBe(false);
    expect(servingTarget(dir)).toBeUndefined();

    const again = await openEmbeddedTarget(dir, { command: 'apply', waitMs: 0 });
    pids.push(again.driver.pid);
    try {
      expect(await again.driver.query('SELECT x FROM default.kept')).toEqual([{ x: 7 }]);
    } finally {
      await again.release();
    }
  });

  it('waits for a holder that does not serve the folder, then names it in one sentence', async () => {
    const dir = tempDir();
    const lock = await acquireMigrationLock(dir, { file: TARGET_LOCK_FILE, command: 'apply', waitMs: 0 });
    try {
      const waits: unknown[] = [];
      const started = Date.now();
      const error = await openEmbeddedTarget(dir, { command: 'status', waitMs: 400, display: '.chpipe', onWait: (h) => waits.push(h) }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeGreaterThanOrEqual(390);
      expect(error).toBeInstanceOf(TargetError);
      expect((error as Error).message).toBe(`the embedded target .chpipe is held by \`chpipe apply\` (pid ${process.pid}) since ${lock.holder.since}; wait for it to finish, or stop it`);
      expect(waits).toEqual([expect.objectContaining({ command: 'apply', pid: process.pid })]);
    } finally {
      lock.release();
    }
  });

  it('does not wait for a holder that serves the folder: it says where to reach it', async () => {
    const dir = tempDir();
    const lock = await acquireMigrationLock(dir, { file: TARGET_LOCK_FILE, command: 'serve', waitMs: 0, url: 'http://127.0.0.1:8123' });
    try {
      const started = Date.now();
      const error = await openEmbeddedTarget(dir, { command: 'apply', waitMs: 10_000, display: '.chpipe' }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect((error as Error).message).toBe(
        `the embedded target .chpipe is held by \`chpipe serve\` (pid ${process.pid}), which serves it at http://127.0.0.1:8123; reach it there (\`--url http://127.0.0.1:8123\`), or stop that process first`,
      );
      expect(servingTarget(dir)).toEqual({ url: 'http://127.0.0.1:8123', pid: process.pid, command: 'serve' });
    } finally {
      lock.release();
    }
  });

  it('a lock left by a dead server is no server: servingTarget ignores it and the next opener takes it over', async () => {
    const dir = tempDir();
    const pid = deadPid();
    writeFileSync(join(dir, TARGET_LOCK_FILE), JSON.stringify({ pid, host: hostname(), since: '2020-01-01T00:00:00.000Z', command: 'serve', token: 'x', url: 'http://127.0.0.1:9' }));
    expect(servingTarget(dir)).toBeUndefined();
    expect(currentLockHolder(dir, TARGET_LOCK_FILE)).toBeUndefined();
    const target = await openEmbeddedTarget(dir, { command: 'apply', waitMs: 0 });
    pids.push(target.driver.pid);
    try {
      expect(lockFile(dir)).toMatchObject({ pid: process.pid, command: 'apply' });
    } finally {
      await target.release();
    }
  });

  it('a server on another host cannot be reached from here, and its folder is still busy', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, TARGET_LOCK_FILE), JSON.stringify({ pid: 4242, host: 'build-agent-7', since: '2020-01-01T00:00:00.000Z', command: 'dev', token: 'y', url: 'http://127.0.0.1:8123' }));
    expect(servingTarget(dir)).toBeUndefined();
    const error = await openEmbeddedTarget(dir, { command: 'apply', waitMs: 0, display: 'data' }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'the embedded target data is held by `chpipe dev` (pid 4242 on build-agent-7), which serves it at http://127.0.0.1:8123; reach it there (`--url http://127.0.0.1:8123`), or stop that process first',
    );
  });

  it('an engine that cannot open the folder is a TargetError, and the lock is not kept', async () => {
    const dir = tempDir();
    // An engine process that holds the folder without the lock (as a chpipe from before it would).
    const squatter = await openTarget(dir);
    pids.push(squatter.pid);
    try {
      const error = await openEmbeddedTarget(dir, { command: 'apply', waitMs: 0, display: 'data' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TargetError);
      expect((error as Error).message).toMatch(/^cannot open the embedded target data: the engine process could not open .*Another server instance in same directory is already running/);
      expect(existsSync(join(dir, TARGET_LOCK_FILE))).toBe(false);
    } finally {
      await squatter.close();
    }
  });
});

describe('the lock, generalized', () => {
  it('keeps chpipe.lock as the default name; another file is another lock', async () => {
    const dir = tempDir();
    const migrations = await acquireMigrationLock(dir, { command: 'plan --save x', waitMs: 0 });
    const target = await acquireMigrationLock(dir, { command: 'serve', waitMs: 0, file: TARGET_LOCK_FILE });
    try {
      expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
      expect(existsSync(join(dir, TARGET_LOCK_FILE))).toBe(true);
      const busy = await acquireMigrationLock(dir, { command: 'y', waitMs: 0 }).catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(LockBusyError);
      expect((busy as LockBusyError).holder?.command).toBe('plan --save x');
    } finally {
      migrations.release();
      target.release();
    }
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(existsSync(join(dir, TARGET_LOCK_FILE))).toBe(false);
  });

  it('setUrl rewrites the holder in place: the lock is held throughout, and a released lock is not rewritten', async () => {
    const dir = tempDir();
    const lock = await acquireMigrationLock(dir, { command: 'serve', waitMs: 0, file: TARGET_LOCK_FILE });
    lock.setUrl('http://127.0.0.1:1234');
    expect(currentLockHolder(dir, TARGET_LOCK_FILE)).toEqual({ ...lock.holder, url: 'http://127.0.0.1:1234' });
    const busy = await acquireMigrationLock(dir, { command: 'apply', waitMs: 5_000, file: TARGET_LOCK_FILE, giveUp: (h) => h.url !== undefined }).catch((e: unknown) => e);
    expect((busy as LockBusyError).holder).toMatchObject({ command: 'serve', url: 'http://127.0.0.1:1234' });
    lock.release();
    lock.setUrl('http://127.0.0.1:9999');
    expect(existsSync(join(dir, TARGET_LOCK_FILE))).toBe(false);
  });
});
