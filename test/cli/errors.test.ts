/**
 * Every file-system error is one sentence naming the path, exit 1, no stack
 * trace; an error nobody expected (a bug) is its message plus a hint to rerun
 * with --debug, which shows the trace. Through the real CLI process.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, symlinkSync, ftruncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, chpipe, ROOT, tempProject } from '../helpers/cli.js';

const PIPELINE = 'name: api_latency\nsource: { topic: t, format: JSONEachRow }\ncolumns:\n  api_id: Int32\ntable:\n  order_by: [api_id]\n';
const STACK = /^\s+at /m;

/** One line on stderr, `error: <sentence>`, exit 1, nothing on stdout. */
function expectOneSentence(r: { code: number; stdout: string; stderr: string }, sentence: string): void {
  expect(r.stderr).toBe(`error: ${sentence}\n`);
  expect(r.stderr).not.toMatch(STACK);
  expect(r.stdout).toBe('');
  expect(r.code).toBe(1);
}

describe('file-system errors', () => {
  it('a dangling symbolic link among the pipelines (ENOENT) names the link and its target', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    symlinkSync('/nonexistent/gone.yaml', join(dir, 'schemas/gone.yaml'));
    expectOneSentence(chpipe(['validate'], dir), 'cannot read schemas/gone.yaml: it is a link to /nonexistent/gone.yaml, which does not exist');
  });

  it('a link to itself (ELOOP)', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    symlinkSync('self.yaml', join(dir, 'schemas/self.yaml'));
    expectOneSentence(chpipe(['validate'], dir), 'cannot read schemas/self.yaml: its symbolic links form a loop');
  });

  it('a folder given as the project file (EISDIR)', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    expectOneSentence(chpipe(['validate', '-c', 'schemas'], dir), 'cannot read schemas: it is a folder, not a file');
  });

  it('a migration file that is a folder (EISDIR, read by plan)', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    mkdirSync(join(dir, 'migrations/0001_initial.sql'), { recursive: true });
    const r = chpipe(['plan'], dir);
    expect(r.stderr).toContain('migrations/0001_initial.sql');
    expect(r.stderr).toMatch(/^error: cannot read migrations\/0001_initial\.sql: it is a folder, not a file$/m);
    expect(r.stderr).not.toMatch(STACK);
    expect(r.code).toBe(1);
  });

  it('a 2 GB migration file is refused from its size, never read', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    mkdirSync(join(dir, 'migrations'));
    const fd = openSync(join(dir, 'migrations/0001_initial.sql'), 'w');
    ftruncateSync(fd, 2 * 1024 ** 3);
    closeSync(fd);
    const r = chpipe(['plan'], dir);
    expect(r.stderr).toMatch(/^error: cannot read migrations\/0001_initial\.sql: it is 2048 MiB; the limit is 64 MiB$/m);
    expect(r.stderr).not.toMatch(STACK);
    expect(r.code).toBe(1);
    rmSync(join(dir, 'migrations/0001_initial.sql'));
  });

  it('a file where a folder is expected on the path (ENOTDIR)', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    expectOneSentence(chpipe(['validate', '-c', 'chpipe.yaml/chpipe.yaml'], dir), 'cannot read chpipe.yaml/chpipe.yaml: chpipe.yaml is a file, not a folder');
  });

  it('a name longer than the file system allows (ENAMETOOLONG)', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    const r = chpipe(['validate', '-c', `${'a'.repeat(300)}.yaml`], dir);
    expect(r.stderr).toMatch(/^error: cannot read a+…a+\.yaml: the name is too long for the file system\n$/);
    expect(r.code).toBe(1);
  });

  it('a 2 GB pipeline file is refused from its size, never read', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    const fd = openSync(join(dir, 'schemas/dump.yaml'), 'w');
    ftruncateSync(fd, 2 * 1024 ** 3); // sparse: no disk used
    closeSync(fd);
    const started = Date.now();
    const r = chpipe(['validate'], dir);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.stderr).toContain('schemas/dump.yaml:1:1: error[file-too-large]: file is 2048.0 MiB; the limit is 4 MiB');
    expect(r.stderr).not.toMatch(STACK);
    expect(r.code).toBe(1);
    rmSync(join(dir, 'schemas/dump.yaml'));
  });

  it('a 2 GB project file too', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    const fd = openSync(join(dir, 'chpipe.yaml'), 'r+');
    ftruncateSync(fd, 2 * 1024 ** 3);
    closeSync(fd);
    const r = chpipe(['validate'], dir);
    expect(r.stderr).toContain('chpipe.yaml:1:1: error[file-too-large]: file is 2048.0 MiB');
    expect(r.code).toBe(1);
    writeFileSync(join(dir, 'chpipe.yaml'), '');
  });

  it('a named pipe is not read (it would block)', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    expect(spawnSync('mkfifo', [join(dir, 'schemas/fifo.yaml')]).status).toBe(0);
    expectOneSentence(chpipe(['validate'], dir), 'cannot read schemas/fifo.yaml: it is not a regular file');
  });
});

describe('an error nobody expected', () => {
  const bug = (args: string[]) => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    const r = spawnSync(process.execPath, ['--import', join(ROOT, 'test/cli/fixtures/simulated-bug.mjs'), BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('is its message and a hint to rerun with --debug, exit 1, no stack trace', () => {
    const r = bug(['validate']);
    expect(r.stderr).toBe('error: simulated bug: cannot read properties of undefined\n  hint: run again with --debug for the stack trace\n');
    expect(r.code).toBe(1);
  });

  it('shows its stack trace with --debug', () => {
    const r = bug(['validate', '--debug']);
    expect(r.stderr).toMatch(/^error: simulated bug: cannot read properties of undefined\nTypeError: simulated bug/);
    expect(r.stderr).toMatch(STACK);
    expect(r.stderr).not.toContain('--debug for the stack trace');
    expect(r.code).toBe(1);
  });

  it('a user error has no trace and no --debug hint', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': PIPELINE });
    const r = chpipe(['compile', 'nope'], dir);
    expect(r.stderr).toMatch(/^error: no pipeline named "nope"/);
    expect(r.stderr).not.toContain('--debug');
    expect(r.code).toBe(1);
  });
});
