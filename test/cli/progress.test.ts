/**
 * Progress of long runs: drawn in place on stderr only when stderr is a
 * terminal and --json is off. The unit tests drive the renderer; the last
 * test runs the real CLI under a pseudo-terminal (util-linux `script`).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { clearAllProgress, makeProgress } from '../../src/report/progress.js';
import { BIN, chpipe, tempProject } from '../helpers/cli.js';

function terminal(columns = 80) {
  const written: string[] = [];
  return { written, columns, write: (s: string) => written.push(s) };
}

describe('makeProgress', () => {
  it('draws nothing when not interactive', () => {
    const t = terminal();
    const p = makeProgress(t, false);
    p.show('compiling');
    p.update('validating', 1, 10, 'pipelines');
    p.clear();
    expect(t.written).toEqual([]);
  });

  it('redraws one line in place, at most ten times a second, always the last count, and clears it', () => {
    const t = terminal();
    let now = 0;
    const p = makeProgress(t, true, () => now);
    p.update('validating', 1, 1000, 'pipelines');
    now = 50;
    p.update('validating', 2, 1000, 'pipelines'); // too soon: skipped
    now = 150;
    p.update('validating', 312, 1000, 'pipelines');
    now = 160;
    p.update('validating', 1000, 1000, 'pipelines'); // the end is always drawn
    p.clear();
    expect(t.written).toEqual(['\r\x1b[Kvalidating 1/1000 pipelines', '\r\x1b[Kvalidating 312/1000 pipelines', '\r\x1b[Kvalidating 1000/1000 pipelines', '\r\x1b[K']);
  });

  it('never draws wider than the terminal, and is cleared on an interrupt', () => {
    const t = terminal(30);
    const p = makeProgress(t, true);
    p.show('planning 1000 pipelines: replaying 12 migrations, compiling');
    expect((t.written[0] as string).replace('\r\x1b[K', '').length).toBeLessThanOrEqual(29);
    clearAllProgress();
    expect(t.written.at(-1)).toBe('\r\x1b[K');
  });
});

describe('chpipe validate on a terminal', () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`schemas/p${i}.yaml`] = `name: p${i}\nsource: { topic: t${i} }\ncolumns:\n  id: Int32\ntable:\n  order_by: [id]\n`;

  it('shows "validating N/40 pipelines" on stderr, and nothing of it when piped or with --json', () => {
    const dir = tempProject(files);
    // `script` gives the command a pseudo-terminal: stdout and stderr are both a TTY there.
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${BIN} validate --no-cache`, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: '100' }, timeout: 60_000 });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toContain('\r\x1b[Kvalidating 40/40 pipelines');
    expect(tty.stdout).toContain('\r\x1b[K✓ 40 pipelines valid');
    const piped = chpipe(['validate', '--no-cache'], dir);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toContain('validating');
    const json = spawnSync('script', ['-qec', `${process.execPath} ${BIN} validate --no-cache --json`, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
    expect(json.status).toBe(0);
    expect(json.stdout).not.toContain('validating');
    expect(JSON.parse(json.stdout.replace(/\r\n/g, '\n'))).toMatchObject({ ok: true, pipelines: 40 });
  });
});

describe('chpipe apply on a terminal', () => {
  it('shows the running statement in place and a line with its time for each slow one; piped, one line per migration', () => {
    const slow = '-- a hand-written migration\n\nSELECT 1;\n\nSELECT sleep(1.2);\n';
    const dir = tempProject({ 'schemas/p.yaml': 'name: p\nsource: { topic: t }\ncolumns:\n  id: Int32\ntable:\n  order_by: [id]\n', 'migrations/0001_slow.sql': slow });
    expect(chpipe(['migrate', 'hash'], dir).code).toBe(0);
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${BIN} apply`, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: '100' }, timeout: 60_000 });
    expect(tty.status, tty.stdout).toBe(0);
    expect(tty.stdout).toContain('\r\x1b[K0001_slow.sql 2/2 · SELECT sleep(1.2)');
    expect(tty.stdout).toMatch(/ {2}2\/2 SELECT sleep\(1\.2\) \(1\.\d s\)/);
    expect(tty.stdout).toMatch(/applied 0001_slow\.sql in 1\.\d s/);
    const again = tempProject({ 'schemas/p.yaml': 'name: p\nsource: { topic: t }\ncolumns:\n  id: Int32\ntable:\n  order_by: [id]\n', 'migrations/0001_slow.sql': slow });
    expect(chpipe(['migrate', 'hash'], again).code).toBe(0);
    const piped = chpipe(['apply'], again);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toMatch(/^target: \.chpipe\/ \(ClickHouse [\d.]+\)\napplying 0001_slow\.sql: 2 statements\napplied 0001_slow\.sql in 1\.\d s\n(warning\[brokers\]: the Kafka brokers localhost:9092 .*\n)?$/);
  });
});
