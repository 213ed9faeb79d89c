import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

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

export const PROJECT_YAML = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: localhost:9092\n';

/** A temporary project: chpipe.yaml plus the given files (paths relative to the project). */
export function tempProject(files: Record<string, string>, projectYaml = PROJECT_YAML): string {
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-test-'));
  writeFileSync(join(dir, 'chpipe.yaml'), projectYaml);
  mkdirSync(join(dir, 'schemas'), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
