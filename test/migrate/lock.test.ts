/**
 * The migrations folder's lock, with real processes: holders are child node
 * processes running the built lock (dist/, `npm run build` first), stopped by
 * their PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireMigrationLock, LOCK_FILE, LockBusyError } from '../../src/migrate/lock.js';
import { ROOT } from '../helpers/cli.js';

const LOCK_JS = pathToFileURL(join(ROOT, 'dist/migrate/lock.js')).href;

const temps: string[] = [];
const children: ChildProcess[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-lock-'));
  temps.push(dir);
  return dir;
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A child process that takes the lock, says "locked", and waits to be stopped. */
async function holder(dir: string): Promise<ChildProcess> {
  const code = `const { acquireMigrationLock } = await import(${JSON.stringify(LOCK_JS)});
await acquireMigrationLock(${JSON.stringify(dir)}, { waitMs: 10000, command: 'plan --save held_by_test' });
process.stdout.write('locked\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.once('exit', (c) => reject(new Error(`holder exited with ${c} before taking the lock`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** The pid of a process that has exited (so no process has it, barring reuse). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('the migrations lock', () => {
  it('is an exclusive file naming its holder; a second taker waits, then fails naming the holder; release removes it', async () => {
    const dir = tempDir();
    const lock = await acquireMigrationLock(dir, { waitMs: 0, command: 'plan --save first', display: 'migrations/chpipe.lock' });
    const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(held).toMatchObject({ pid: process.pid, host: hostname(), command: 'plan --save first' });
    expect(Number.isNaN(Date.parse(held.since))).toBe(false);

    const started = Date.now();
    const second = await acquireMigrationLock(dir, { waitMs: 300, command: 'plan --save second', display: 'migrations/chpipe.lock' }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(second).toBeInstanceOf(LockBusyError);
    expect((second as Error).message).toBe(
      `migrations/chpipe.lock is held by \`chpipe plan --save first\` (pid ${process.pid} on ${hostname()}, since ${held.since}); wait for it to finish, or, if that process is gone, delete migrations/chpipe.lock`,
    );
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lock.release(); // twice is harmless
    (await acquireMigrationLock(dir, { waitMs: 0, command: 'again' })).release();
  });

  it('a lock left by a dead process on this host is taken over; one from another host is not', async () => {
    const dir = tempDir();
    const pid = deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), since: '2020-01-01T00:00:00.000Z', command: 'plan --save killed', token: 'x' }));
    const lock = await acquireMigrationLock(dir, { waitMs: 0, command: 'plan --save next' });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();

    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: 'build-agent-7', since: '2020-01-01T00:00:00.000Z', command: 'plan --save remote', token: 'y' }));
    const busy = await acquireMigrationLock(dir, { waitMs: 100, command: 'x' }).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(LockBusyError);
    expect((busy as Error).message).toContain(`(pid ${pid} on build-agent-7, since 2020-01-01T00:00:00.000Z)`);
  });

  it('an empty lock file is a holder still writing it, unless it is old', async () => {
    const dir = tempDir();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, '');
    const busy = await acquireMigrationLock(dir, { waitMs: 100, command: 'x', display: 'chpipe.lock' }).catch((e: unknown) => e);
    expect((busy as Error).message).toBe('chpipe.lock is held by another chpipe that is still writing it; wait for it to finish, or, if no chpipe runs, delete chpipe.lock');
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    (await acquireMigrationLock(dir, { waitMs: 0, command: 'x' })).release();
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`a holder stopped by ${signal} removes its lock, and a waiter gets it`, async () => {
      const dir = tempDir();
      const child = await holder(dir);
      const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
      expect(held).toMatchObject({ pid: child.pid, command: 'plan --save held_by_test' });
      const busy = await acquireMigrationLock(dir, { waitMs: 200, command: 'x' }).catch((e: unknown) => e);
      expect((busy as Error).message).toContain(`pid ${child.pid} on ${hostname()}`);

      const waiting = acquireMigrationLock(dir, { waitMs: 10_000, command: 'waiter' });
      process.kill(child.pid as number, signal);
      expect(await exited(child)).toEqual({ code: null, signal });
      const lock = await waiting;
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
      lock.release();
    });
  }

  it('when the process has its own SIGTERM handler (the CLI finishing its statements), the lock stays held until the process exits', async () => {
    const dir = tempDir();
    const code = `const { acquireMigrationLock } = await import(${JSON.stringify(LOCK_JS)});
process.on('SIGTERM', () => { process.stdout.write('stopping\\n'); setTimeout(() => process.exit(143), 700); });
await acquireMigrationLock(${JSON.stringify(dir)}, { waitMs: 10000, command: 'plan --save own_handler' });
process.stdout.write('locked\\n');
setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!out.includes('locked') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    process.kill(child.pid as number, 'SIGTERM');
    while (!out.includes('stopping') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(child.pid);
    expect(await exited(child)).toEqual({ code: 143, signal: null });
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('a holder killed outright (SIGKILL) leaves its lock, which the next taker takes over', async () => {
    const dir = tempDir();
    const child = await holder(dir);
    process.kill(child.pid as number, 'SIGKILL');
    await exited(child);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(child.pid);
    const lock = await acquireMigrationLock(dir, { waitMs: 0, command: 'x' });
    expect(lock.holder.pid).toBe(process.pid);
    lock.release();
  });

  it('four processes taking turns never hold it at once (no increment of a shared counter is lost)', async () => {
    const dir = tempDir();
    const counter = join(dir, 'counter');
    writeFileSync(counter, '0');
    const rounds = 15;
    const code = `const { acquireMigrationLock } = await import(${JSON.stringify(LOCK_JS)});
const { readFileSync, writeFileSync } = await import('node:fs');
for (let i = 0; i < ${rounds}; i++) {
  const lock = await acquireMigrationLock(${JSON.stringify(dir)}, { waitMs: 60000, pollMs: 2, command: 'count' });
  const n = Number(readFileSync(${JSON.stringify(counter)}, 'utf8'));
  await new Promise((r) => setTimeout(r, 3));
  writeFileSync(${JSON.stringify(counter)}, String(n + 1));
  lock.release();
}`;
    const racers = Array.from({ length: 4 }, () => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(c);
      return exited(c);
    });
    expect(await Promise.all(racers)).toEqual(Array.from({ length: 4 }, () => ({ code: 0, signal: null })));
    expect(Number(readFileSync(counter, 'utf8'))).toBe(4 * rounds);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});
