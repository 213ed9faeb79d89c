import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/chpipe.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real CLI (built into dist/ by `npm run build`) in `cwd`. */
export function chpipe(args: string[], cwd = ROOT, env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The real CLI in a subprocess without blocking this process: `chpipe()` uses
 * spawnSync, which would stop a producer, a server or a timer running on the
 * same event loop. Killed (SIGKILL) when it runs longer than `killAfterMs`.
 */
export function chpipeAsync(args: string[], cwd: string, env: Record<string, string> = {}, killAfterMs = 120_000): Promise<CliResult> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      ok({ code: code ?? -1, stdout, stderr });
    });
  });
}

type Main = (argv: readonly string[], streams: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } }) => Promise<number>;
let loadedMain: Promise<Main> | undefined;

/**
 * Run the same built CLI (dist/cli/main.js, what bin/chpipe.js runs) inside
 * this process, with stdout and stderr captured: no process start and no
 * engine start per run, so a corpus of cases takes seconds. The embedded
 * engine is shared by the runs, as it is by the commands of one process.
 * Runs must not overlap (they change the current folder).
 */
export async function chpipeInProcess(args: string[], cwd = ROOT, env: Record<string, string> = {}): Promise<CliResult> {
  loadedMain ??= import(pathToFileURL(join(ROOT, 'dist/cli/main.js')).href).then((m: { main: Main }) => m.main);
  const main = await loadedMain;
  const out: string[] = [];
  const err: string[] = [];
  const before = process.cwd();
  const saved = Object.fromEntries(Object.keys({ NO_COLOR: '', ...env }).map((k) => [k, process.env[k]]));
  Object.assign(process.env, { NO_COLOR: '1', ...env });
  process.chdir(cwd);
  try {
    const code = await main([process.execPath, BIN, ...args], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } });
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.chdir(before);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export const PROJECT_YAML = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: localhost:9092\n';

/** Temporary folders made by this test file, removed when it ends. */
const temporary: string[] = [];
afterAll(() => {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temporary folder (under the OS temp folder), removed when the test file ends. */
export function tempDir(prefix = 'chpipe-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(dir);
  return dir;
}

/** A temporary project: chpipe.yaml plus the given files (paths relative to the project); removed when the test file ends. */
export function tempProject(files: Record<string, string>, projectYaml = PROJECT_YAML): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'chpipe.yaml'), projectYaml);
  mkdirSync(join(dir, 'schemas'), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
