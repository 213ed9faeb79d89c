/**
 * `chpipe --help` and `--version` start fast because they load neither the
 * embedded engine nor the YAML and schema machinery (ARCHITECTURE.md). A
 * module loader hook records what a run resolves; `validate` is the control
 * that shows the probe sees those modules when they are loaded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';

const PRELOAD = join(ROOT, 'test/cli/fixtures/record-modules.mjs');
const HEAVY = ['chdb', 'yaml', 'ajv'] as const;

interface Loaded {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Bare specifiers resolved, and every file loaded (ESM URLs and CommonJS paths). */
  specifiers: Set<string>;
  files: string[];
}

function runRecorded(args: string[], cwd = ROOT): Loaded {
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-modules-'));
  const log = join(dir, 'modules.log');
  try {
    const r = spawnSync(process.execPath, ['--import', PRELOAD, BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', CHPIPE_MODULE_LOG: log }, timeout: 120_000 });
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const specifiers = new Set<string>();
    const files: string[] = [];
    for (const line of lines) {
      const [kind, a, b] = line.split(' ');
      if (kind === 'resolve') {
        specifiers.add(a as string);
        files.push(b as string);
      } else files.push(a as string);
    }
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, specifiers, files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Which of the heavy packages a run touched, by specifier or by a file under node_modules/<name>/. */
function heavyLoaded(run: Loaded): string[] {
  return HEAVY.filter((name) => [...run.specifiers].some((s) => s === name || s.startsWith(`${name}/`)) || run.files.some((f) => f.includes(`/node_modules/${name}/`)));
}

describe('chpipe --help', () => {
  it('loads neither chdb, yaml nor ajv', () => {
    const run = runRecorded(['--help']);
    expect(run.code).toBe(0);
    expect(heavyLoaded(run)).toEqual([]);
  });

  it('lists the commands and the examples', () => {
    const { stdout } = runRecorded(['--help']);
    for (const command of ['init', 'validate', 'compile', 'plan', 'apply', 'status', 'check', 'pull', 'serve', 'dev']) expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b(?!.*not built yet)`, 'm'));
    expect(stdout).toContain('Examples:');
    expect(stdout).toContain('$ chpipe init');
    expect(stdout).toContain('$ chpipe validate');
    expect(stdout).toContain('Exit codes:');
    expect(stdout).toContain('$ chpipe pull');
    expect(stdout).not.toContain('not built yet');
    expect(stdout).toMatch(/^\s+--debug\s+show the stack trace/m);
  });
});

describe('the --help fast path', () => {
  it('prints exactly what commander prints', () => {
    const fast = runRecorded(['--help']);
    const slow = spawnSync(process.execPath, [BIN, '--help'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CHPIPE_NO_FAST_HELP: '1', NO_COLOR: '1' } });
    expect(slow.status).toBe(0);
    expect(fast.stdout).toBe(slow.stdout);
    expect(fast.specifiers.has('commander')).toBe(false);
  });
});

describe('chpipe --version', () => {
  it('prints the package version and loads neither chdb, yaml nor ajv', () => {
    const run = runRecorded(['--version']);
    expect(run.code).toBe(0);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(run.stdout.trim()).toBe(version);
    expect(heavyLoaded(run)).toEqual([]);
  });
});

describe('the probe', () => {
  it('sees chdb, yaml and ajv when validate loads them', () => {
    // --no-cache: with a warm memo, validate rightly answers without loading the engine.
    const run = runRecorded(['validate', '--no-cache']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.specifiers.has('yaml')).toBe(true);
    expect(run.files.some((f) => f.includes('/node_modules/chdb/'))).toBe(true); // chdb is required (CommonJS), not imported
    expect(heavyLoaded(run)).toEqual([...HEAVY]);
  });
});
