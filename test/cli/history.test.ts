/**
 * A team's migration history through the real CLI (dist/, `npm run build`
 * first): two branches that each saved the next version and were merged with
 * git, a migration deleted but still in chpipe.sum, two `plan --save` at once,
 * and `chpipe migrate hash` after a hand merge.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireMigrationLock } from '../../src/migrate/lock.js';
import { BIN, chpipe, tempProject, type CliResult } from '../helpers/cli.js';

const A = 'name: api_latency\nsource: { topic: t_api, format: JSONEachRow }\ncolumns:\n  api_id: Int32\n  time_taken: Int32\ntable:\n  order_by: [api_id]\n';
const A_COUNTRY = A.replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: String\n');
const B = 'name: page_views\nsource: { topic: t_pages, format: JSONEachRow }\ncolumns:\n  url: String\n  ms: UInt32\ntable:\n  order_by: [url]\n';

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const dir = tempProject(files);
  temps.push(dir);
  return dir;
}

function git(dir: string, ...args: string[]): { code: number; out: string } {
  const r = spawnSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: dir },
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

function sqlFiles(dir: string): string[] {
  return readdirSync(join(dir, 'migrations'))
    .filter((f) => f.endsWith('.sql'))
    .sort();
}

/** The real CLI, without waiting for it. */
function chpipeAsync(args: string[], cwd: string): { pid: number; stderr: () => string; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return { pid: child.pid as number, stderr: () => stderr, done };
}

async function until(what: string, condition: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a team history', () => {
  it('two branches that each saved 0002, merged with git: exit 1 naming both files and the fix; following it makes plan work again', () => {
    const dir = project({ 'schemas/api_latency.yaml': A });
    expect(git(dir, 'init', '-q', '-b', 'main').code).toBe(0);
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'initial');

    git(dir, 'checkout', '-q', '-b', 'feature');
    writeFileSync(join(dir, 'schemas/page_views.yaml'), B);
    expect(chpipe(['plan', '--save', 'page_views'], dir).stdout).toContain('Saved migrations/0002_page_views.sql');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'page views');

    git(dir, 'checkout', '-q', 'main');
    writeFileSync(join(dir, 'schemas/api_latency.yaml'), A_COUNTRY);
    expect(chpipe(['plan', '--save', 'country'], dir).stdout).toContain('Saved migrations/0002_country.sql');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'country');

    // The YAML merges cleanly; chpipe.sum conflicts, and migrations/ now holds two 0002 files.
    const merge = git(dir, 'merge', 'feature');
    expect(merge.code).toBe(1);
    expect(merge.out).toContain('CONFLICT (content): Merge conflict in migrations/chpipe.sum');
    expect(sqlFiles(dir)).toEqual(['0001_initial.sql', '0002_country.sql', '0002_page_views.sql']);

    for (const args of [['plan'], ['plan', '--save', 'more'], ['plan', '--detailed-exitcode']]) {
      const r = chpipe(args, dir);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(
        'migrations/0002_page_views.sql:1:1: error[duplicate-version]: 0002_country.sql and 0002_page_views.sql have the same version 0002 (two branches each saved a migration)\n' +
          '  hint: keep the file that was merged first, delete the other (its YAML change stays in your schemas), run `chpipe migrate hash`, then run `chpipe plan --save NAME` to write that change again on top, as version 0003\n',
      );
      expect(r.stderr).toContain('migrations/chpipe.sum:1:1: error[sum-conflict]: chpipe.sum still has merge-conflict markers');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(sqlFiles(dir)).toEqual(['0001_initial.sql', '0002_country.sql', '0002_page_views.sql']);

    // migrate hash will not vouch for two files with one version.
    const refused = chpipe(['migrate', 'hash'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error[duplicate-version]');
    expect(refused.stderr).toContain('chpipe.sum was not written');
    expect(readFileSync(join(dir, 'migrations/chpipe.sum'), 'utf8')).toContain('<<<<<<<');

    // The README's steps: delete the file of the branch merged last, rehash, save its change again on top.
    expect(git(dir, 'rm', '-q', '-f', 'migrations/0002_page_views.sql').code).toBe(0);
    const hashed = chpipe(['migrate', 'hash'], dir);
    expect(hashed.code).toBe(0);
    expect(hashed.stdout).toBe('Wrote migrations/chpipe.sum for 2 migrations: dropped 0002_page_views.sql (no such file).\n');
    const pending = chpipe(['plan', '--detailed-exitcode'], dir);
    expect(pending.code).toBe(2);
    expect(pending.stdout).toContain('analytics.page_views');
    expect(pending.stdout).not.toContain('api_latency');
    const saved = chpipe(['plan', '--save', 'page_views'], dir);
    expect(saved.code).toBe(0);
    expect(saved.stdout).toContain('Saved migrations/0003_page_views.sql');
    const clean = chpipe(['plan', '--detailed-exitcode'], dir);
    expect(clean.code).toBe(0);
    expect(clean.stderr).toBe('');
    expect(clean.stdout).toContain('No changes.');
    expect(sqlFiles(dir)).toEqual(['0001_initial.sql', '0002_country.sql', '0003_page_views.sql']);
    git(dir, 'add', '-A');
    expect(git(dir, 'commit', '-q', '-m', 'merge feature').code).toBe(0);
  });

  it('a deleted migration still listed in chpipe.sum is reported as itself, not as a failure of a later file', () => {
    const dir = project({ 'schemas/api_latency.yaml': A });
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    writeFileSync(join(dir, 'schemas/api_latency.yaml'), A_COUNTRY);
    expect(chpipe(['plan', '--save', 'country'], dir).code).toBe(0);
    const first = join(dir, 'migrations/0001_initial.sql');
    const text = readFileSync(first, 'utf8');
    unlinkSync(first);

    for (const args of [['plan'], ['plan', '--save', 'more']]) {
      const r = chpipe(args, dir);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toBe(
        'migrations/chpipe.sum:2:1: error[missing-migration]: 0001_initial.sql is listed in chpipe.sum but missing from migrations/\n' +
          '  hint: restore migrations/0001_initial.sql from version control, or, if it was never applied anywhere, remove its line with `chpipe migrate hash`\n' +
          '1 error\n',
      );
      expect(r.stderr).not.toContain('0002_country');
    }
    expect(sqlFiles(dir)).toEqual(['0002_country.sql']);
    writeFileSync(first, text);
    const restored = chpipe(['plan', '--detailed-exitcode'], dir);
    expect(restored.code).toBe(0);
    expect(restored.stderr).toBe('');
  });

  it('two plan --save at once, both planned before either wrote: one history, distinct versions, a sum that matches', async () => {
    // Two project files share migrations/: the first adds a column, the second the column and a pipeline.
    const dir = project({ 'schemas/api_latency.yaml': A });
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    writeFileSync(join(dir, 'schemas/api_latency.yaml'), A_COUNTRY);
    mkdirSync(join(dir, 'more'));
    writeFileSync(join(dir, 'more/api_latency.yaml'), A_COUNTRY);
    writeFileSync(join(dir, 'more/page_views.yaml'), B);
    writeFileSync(join(dir, 'more.yaml'), readFileSync(join(dir, 'chpipe.yaml'), 'utf8') + 'schemas: more/\n');

    // The test holds the folder's lock until both have planned and wait for it, so they overlap for certain.
    const held = await acquireMigrationLock(join(dir, 'migrations'), { waitMs: 0, command: 'hold (test)' });
    let first: ReturnType<typeof chpipeAsync> | undefined;
    let second: ReturnType<typeof chpipeAsync> | undefined;
    try {
      first = chpipeAsync(['plan', '--save', 'country'], dir);
      second = chpipeAsync(['-c', 'more.yaml', 'plan', '--save', 'country_and_pages'], dir);
      const a = first;
      const b = second;
      let exited = 0;
      void a.done.then(() => exited++);
      void b.done.then(() => exited++);
      await until('both saves to wait for the lock', () => exited > 0 || (a.stderr().includes('waiting for migrations/chpipe.lock') && b.stderr().includes('waiting for migrations/chpipe.lock')));
      expect(a.stderr()).toContain(`waiting for migrations/chpipe.lock, held by \`chpipe hold (test)\` (pid ${process.pid}`);
    } finally {
      held.release();
    }
    const [r1, r2] = await Promise.all([first?.done, second?.done]);
    const files = sqlFiles(dir);
    // Whichever took the lock second read the folder again and planned on top of the first one's file.
    const replanned = 'changed while this plan ran (another save); planning again on top of it';
    expect([r1?.stderr, r2?.stderr].filter((e) => e?.includes(replanned))).toHaveLength(1);
    if (r1?.stderr.includes(replanned)) {
      // The pipeline and the column went in as 0002; on top of that, the first project file would drop the pipeline: refused, nothing written.
      expect(r2?.code).toBe(0);
      expect(r1.code).toBe(3);
      expect(r1.stderr).toContain('Refused to save: the plan has destructive steps');
      expect(files).toEqual(['0001_initial.sql', '0002_country_and_pages.sql']);
    } else {
      // The column went in as 0002; the second planned only the pipeline, as 0003.
      expect([r1?.code, r2?.code]).toEqual([0, 0]);
      expect(files).toEqual(['0001_initial.sql', '0002_country.sql', '0003_country_and_pages.sql']);
      expect(readFileSync(join(dir, 'migrations/0003_country_and_pages.sql'), 'utf8')).not.toContain('country String');
    }
    const all = chpipe(['-c', 'more.yaml', 'plan', '--detailed-exitcode'], dir);
    expect(all.code).toBe(0);
    expect(all.stderr).toBe('');
    expect(all.stdout).toContain('No changes.');
    expect(existsSync(join(dir, 'migrations/chpipe.lock'))).toBe(false);
  });

  it('Ctrl-C while plan --save waits for the lock: "interrupted", exit 130, nothing written, the holder\'s lock untouched', async () => {
    const dir = project({ 'schemas/api_latency.yaml': A });
    const held = await acquireMigrationLock(join(dir, 'migrations'), { waitMs: 0, command: 'hold (test)' });
    try {
      const save = chpipeAsync(['plan', '--save', 'initial'], dir);
      await until('the save to wait for the lock', () => save.stderr().includes('waiting for migrations/chpipe.lock'));
      process.kill(save.pid, 'SIGINT');
      const r = await save.done;
      expect(r.code).toBe(130);
      expect(r.stderr).toContain('interrupted');
      expect(readdirSync(join(dir, 'migrations'))).toEqual(['chpipe.lock']);
      expect(JSON.parse(readFileSync(join(dir, 'migrations/chpipe.lock'), 'utf8')).pid).toBe(process.pid);
    } finally {
      held.release();
    }
  });

  it('plan --save takes over a lock left by a dead process, and removes its own', () => {
    const dir = project({ 'schemas/api_latency.yaml': A });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    mkdirSync(join(dir, 'migrations'));
    const host = hostname();
    writeFileSync(join(dir, 'migrations/chpipe.lock'), JSON.stringify({ pid: Number(dead.stdout), host, since: '2020-01-01T00:00:00.000Z', command: 'plan --save killed', token: 't' }));
    const r = chpipe(['plan', '--save', 'initial'], dir);
    expect(r.code).toBe(0);
    expect(sqlFiles(dir)).toEqual(['0001_initial.sql']);
    expect(readdirSync(join(dir, 'migrations')).sort()).toEqual(['0001_initial.sql', 'chpipe.sum']);
  });

  it('migrate hash records a hand-written file and an intended edit, after which plan --save works again', () => {
    const dir = project({ 'schemas/api_latency.yaml': A });
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    const first = join(dir, 'migrations/0001_initial.sql');
    writeFileSync(first, readFileSync(first, 'utf8') + '-- reviewed by the team\n');
    writeFileSync(join(dir, 'migrations/0002_data_fix.sql'), '-- a data fix written by hand\nALTER TABLE analytics.api_latency DELETE WHERE api_id < 0;\n');

    const plan = chpipe(['plan'], dir);
    expect(plan.code).toBe(0);
    expect(plan.stderr).toContain('migrations/0001_initial.sql:1:1: warning[edited-migration]: 0001_initial.sql was edited after it was generated (chpipe.sum records another hash)');
    expect(plan.stderr).toContain('migrations/0002_data_fix.sql:1:1: warning[unrecorded-migration]: 0002_data_fix.sql is not recorded in chpipe.sum (written by hand, or merged without its line)');

    writeFileSync(join(dir, 'schemas/api_latency.yaml'), A_COUNTRY);
    const refused = chpipe(['plan', '--save', 'country'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error[edited-migration]');
    expect(refused.stderr).toContain('  hint: if it belongs in the history, record it with `chpipe migrate hash`; otherwise delete it');
    expect(sqlFiles(dir)).toEqual(['0001_initial.sql', '0002_data_fix.sql']);

    const hashed = chpipe(['migrate', 'hash', '--json'], dir);
    expect(hashed.code).toBe(0);
    expect(JSON.parse(hashed.stdout)).toEqual({
      schemaVersion: 1,
      sum: 'migrations/chpipe.sum',
      written: true,
      files: ['0001_initial.sql', '0002_data_fix.sql'],
      recorded: ['0002_data_fix.sql'],
      rehashed: ['0001_initial.sql'],
      dropped: [],
    });
    expect(chpipe(['migrate', 'hash'], dir).stdout).toBe('migrations/chpipe.sum already matches the 2 migrations; nothing written.\n');
    const saved = chpipe(['plan', '--save', 'country'], dir);
    expect(saved.code).toBe(0);
    expect(saved.stderr).toBe('');
    expect(sqlFiles(dir)).toEqual(['0001_initial.sql', '0002_data_fix.sql', '0003_country.sql']);
  });

  it('a chpipe.sum edited by hand stops plan; migrate hash rewrites it', () => {
    const dir = project({ 'schemas/api_latency.yaml': A });
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    const sum = join(dir, 'migrations/chpipe.sum');
    writeFileSync(sum, readFileSync(sum, 'utf8') + '0002_ghost.sql h1:AAAA\n');
    const r = chpipe(['plan'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('migrations/chpipe.sum:1:1: error[sum-corrupt]: chpipe.sum was edited by hand (its first line is not the hash of the lines below it)');
    expect(r.stderr).toContain('hint: restore it from version control, or run `chpipe migrate hash` to rewrite it from the files on disk');
    const hashed = chpipe(['migrate', 'hash'], dir);
    expect(hashed.stdout).toBe('Wrote migrations/chpipe.sum for 1 migration: dropped 0002_ghost.sql (no such file).\n');
    expect(chpipe(['plan', '--detailed-exitcode'], dir).code).toBe(0);
  });
});
