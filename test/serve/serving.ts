/**
 * Real `chpipe serve` processes for the tests (the built CLI: `npm run build`
 * first), started with `--port 0 --json`, stopped by their PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { stop } from '../engine/pids.js';

export interface Served {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly version: string;
  readonly child: ChildProcess;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** Send `signal` and wait for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<Ended>;
  /** Wait for the process to end by itself. */
  exited(): Promise<Ended>;
}

export interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started.splice(0)) stop(child.pid);
});

/** Start `chpipe serve --port 0 --json ARGS` in `cwd`; resolves once it has said where it serves. */
export async function startServe(args: readonly string[], cwd = ROOT, env: Readonly<Record<string, string>> = {}): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json', ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const ended = new Promise<Ended>((done) => child.once('close', (code, signal) => done({ code, signal, stdout, stderr })));
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chpipe serve did not start within 60 s: ${stderr}`)), 60_000);
    const check = () => {
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        resolve(stdout.split('\n')[0] as string);
      }
    };
    child.stdout?.on('data', check);
    void ended.then((e) => {
      clearTimeout(timer);
      reject(new Error(`chpipe serve exited (${e.code ?? e.signal}) before serving: ${e.stderr}`));
    });
  });
  const said = JSON.parse(first) as { url: string; port: number; dataDir: string; version: string };
  return {
    ...said,
    child,
    stderr: () => stderr,
    exited: () => ended,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return ended;
    },
  };
}

/** Run `chpipe serve ARGS` that is expected to end by itself (a refusal); its result. */
export async function runServe(args: readonly string[], cwd = ROOT): Promise<Ended & { ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('close', (c, s) => done({ code: c, signal: s })));
  return { code, signal, stdout, stderr, ms: Date.now() - t0 };
}
