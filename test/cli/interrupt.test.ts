/**
 * Ctrl-C and SIGTERM in the middle of a long run: "interrupted" on stderr,
 * exit 130 / 143, the scratch engine's temporary data folder removed, and no
 * file half written. The real CLI process, a project big enough to still be
 * running when the signal arrives, and a private TMPDIR so the test sees
 * exactly the folders its process made.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BIN, tempProject } from '../helpers/cli.js';

const PIPELINES = 400;

function bigProject(): string {
  const files: Record<string, string> = {};
  for (let i = 0; i < PIPELINES; i++) {
    files[`schemas/p${i}.yaml`] = `name: p${i}\nsource: { topic: t${i}, format: JSONEachRow }\ncolumns:\n  id: Int32\n  ms: UInt32\n  at: { type: DateTime, from: _timestamp }\ntable:\n  order_by: [id, at]\n`;
  }
  const dir = tempProject(files);
  mkdirSync(join(dir, 'tmp'));
  return dir;
}

interface Interrupted {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The scratch folder existed while the run was going. */
  sawScratch: boolean;
}

/** Start `chpipe args` in `dir`, wait until its scratch engine has been working for a while, send `signal`. */
async function interrupt(dir: string, args: string[], signal: NodeJS.Signals): Promise<Interrupted> {
  const tmp = join(dir, 'tmp');
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1', TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, sig) => done({ code, signal: sig })));
  let running = true;
  void exited.then(() => (running = false));
  try {
    let sawScratch = false;
    for (let waited = 0; running && waited < 30_000 && !sawScratch; waited += 50) {
      sawScratch = readdirSync(tmp).some((f) => f.startsWith('chpipe-scratch-'));
      await sleep(50);
    }
    await sleep(1500); // statements are running on the engine now
    expect(running, `chpipe ${args.join(' ')} finished before the signal; make the project bigger\n${stderr}`).toBe(true);
    child.kill(signal);
    const end = await exited;
    // the streams are flushed by the time the process has exited and its pipes closed
    await new Promise((done) => (child.stderr.readableEnded ? done(undefined) : child.stderr.on('end', done)));
    return { ...end, stdout, stderr, sawScratch };
  } finally {
    if (running && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }
}

describe('an interrupted run', () => {
  it('Ctrl-C during validate: "interrupted", exit 130, no temp folder left', async () => {
    const dir = bigProject();
    const r = await interrupt(dir, ['validate', '--no-cache'], 'SIGINT');
    expect(r.sawScratch).toBe(true);
    expect(r.stderr).toBe('interrupted\n');
    expect(r.stdout).toBe('');
    expect(r.code).toBe(130);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('SIGTERM during plan --save: exit 143, no temp folder, nothing half written in migrations/', async () => {
    const dir = bigProject();
    mkdirSync(join(dir, 'migrations'));
    const r = await interrupt(dir, ['plan', '--save', 'initial', '--no-cache'], 'SIGTERM');
    expect(r.sawScratch).toBe(true);
    expect(r.stderr).toBe('interrupted\n');
    expect(r.code).toBe(143);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    // Whole files or none: a migration only with its chpipe.sum, no temporary or lock files.
    const left = readdirSync(join(dir, 'migrations'));
    expect(left.filter((f) => !/^(\d{4}_\w+\.sql|chpipe\.sum)$/.test(f)), left.join(', ')).toEqual([]);
    expect(left.some((f) => f.endsWith('.sql'))).toBe(left.includes('chpipe.sum'));
  });
});
