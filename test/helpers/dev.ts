/**
 * Real `chpipe dev --json --port 0` processes for the tests (the built CLI),
 * stopped by their PID when the test file ends: their JSON lines, their
 * stderr, a wait for a line, and a stop by SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { stop } from '../engine/pids.js';
import { BIN } from './cli.js';

/** What every line of `dev --json` carries that the tests read. */
export interface DevLine {
  readonly url: string;
  readonly lastChange: { readonly seq: number; readonly outcome: string } | null;
}

export interface DevProcess {
  readonly child: ChildProcess;
  lines(): DevLine[];
  stderr(): string;
  /** The first line that satisfies `ok` (waiting up to `timeoutMs`); throws with stderr when none comes. */
  next(ok: (l: DevLine) => boolean, what: string, timeoutMs?: number): Promise<DevLine>;
  /** SIGTERM, and wait for the process to end. */
  end(): Promise<void>;
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started.splice(0)) stop(child.pid);
});

/** Start `chpipe dev --json --port 0 ARGS` in the project `dir`, with `env` added to this process's environment. */
export function startDev(dir: string, args: readonly string[] = [], env: Readonly<Record<string, string>> = {}): DevProcess {
  const child = spawn(process.execPath, [BIN, 'dev', '--json', '--port', '0', ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const closed = new Promise<void>((done) => child.once('close', () => done()));
  const lines = (): DevLine[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as DevLine);
  return {
    child,
    lines,
    stderr: () => stderr,
    next: async (ok, what, timeoutMs = 60_000) => {
      for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
        const found = lines().find(ok);
        if (found) return found;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no line with ${what}; stderr: ${stderr}`);
    },
    end: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
    },
  };
}
