/**
 * A `chpipe serve` process's life: what it says when it starts, SIGTERM and
 * Ctrl-C stop it with the data kept (and the next start finds it), one serve
 * per data folder (a second one is told where the first serves), the
 * project's `.chpipe/` by default, and its refusals in one sentence.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TARGET_LOCK_FILE } from '../../src/engine/target.js';
import { alive } from '../engine/pids.js';
import { tempDir, tempProject } from '../helpers/cli.js';
import { runServe, startServe } from './serving.js';
import { displayPath } from '../../src/cli/context.js';

/** How chpipe names a folder in messages: relative to the current folder when that is shorter (serve runs in this process's folder). */
const shown = (dir: string): string => displayPath(dir);

/** The PIDs of the processes `pid` started (its engine process), from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid …: the command name may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

async function post(url: string, sql: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', body: sql });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${sql}: ${text}`);
  return text;
}

describe('chpipe serve', () => {
  it('says where it serves; SIGTERM and Ctrl-C stop it with the data kept, and the next start finds it', async () => {
    const dataDir = tempDir('chpipe-serve-life-');
    const first = await startServe(['--data-dir', dataDir]);
    expect(first).toMatchObject({ url: `http://127.0.0.1:${first.port}`, dataDir, version: expect.stringMatching(/^26\.7\./) });
    expect(first.port).toBeGreaterThan(0);
    // stderr is another pipe: its line may land just after stdout's.
    for (let i = 0; i < 100 && first.stderr().split('\n').length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(first.stderr()).toBe(`serving ${shown(dataDir)} at ${first.url} (ClickHouse ${first.version}); Ctrl-C stops\nconnect to ${first.url} as user default, no password\n`);
    expect(JSON.parse(readFileSync(join(dataDir, TARGET_LOCK_FILE), 'utf8'))).toMatchObject({ pid: first.child.pid, command: 'serve', url: first.url });
    await post(first.url, 'CREATE TABLE default.kept (id UInt32, note String) ENGINE = MergeTree ORDER BY id');
    await post(first.url, "INSERT INTO default.kept VALUES (1, 'before the restart')");
    const engines = childrenOf(first.child.pid as number);
    expect(engines).toHaveLength(1);

    const ended = await first.stop('SIGTERM');
    expect([ended.code, ended.signal]).toEqual([0, null]);
    // The engine process was closed before serve exited, not left behind or killed with it.
    expect(engines.filter(alive)).toEqual([]);
    expect(ended.stderr).toMatch(new RegExp(`stopped; the data stays in ${shown(dataDir)}\\n$`));
    expect(existsSync(join(dataDir, TARGET_LOCK_FILE))).toBe(false);

    const second = await startServe(['--data-dir', dataDir]);
    expect(await post(second.url, 'SELECT id, note FROM default.kept')).toBe('1\tbefore the restart\n');
    await post(second.url, "INSERT INTO default.kept VALUES (2, 'after')");
    const interrupted = await second.stop('SIGINT');
    expect([interrupted.code, interrupted.signal]).toEqual([0, null]);

    const third = await startServe(['--data-dir', dataDir]);
    try {
      expect(await post(third.url, 'SELECT count() FROM default.kept')).toBe('2\n');
    } finally {
      await third.stop();
    }
  });

  it('an engine process that dies ends the serve: the request in hand gets a 503, then exit 1 with the reason', async () => {
    const served = await startServe(['--data-dir', tempDir('chpipe-serve-died-')]);
    const [engine] = childrenOf(served.child.pid as number);
    process.kill(engine as number, 'SIGKILL');
    const response = await fetch(served.url, { method: 'POST', body: 'SELECT 1' });
    expect([response.status, response.headers.get('x-clickhouse-exception-code')]).toEqual([503, '1002']);
    expect(await response.text()).toMatch(/^Code: 1002\. DB::Exception: the engine process of chpipe serve failed: .*killed by SIGKILL/);
    const ended = await served.exited();
    expect(ended.code).toBe(1);
    expect(ended.stderr.split('\n').filter(Boolean).at(-1)).toMatch(/^error: stopped serving .*: its engine process failed \(.*was killed by SIGKILL\)$/);
  });

  it('one serve per data folder: a second is told, in one sentence, where the first serves it', async () => {
    const dataDir = tempDir('chpipe-serve-busy-');
    const first = await startServe(['--data-dir', dataDir]);
    try {
      const second = await runServe(['--port', '0', '--data-dir', dataDir]);
      expect(second.code).toBe(1);
      expect(second.stderr).toBe(
        `error: the embedded target ${shown(dataDir)} is held by \`chpipe serve\` (pid ${first.child.pid}), which serves it at ${first.url}; reach it there (\`--url ${first.url}\`), or stop that process first\n`,
      );
      // Not waited for: a server does not let go (the default wait is 60 s).
      expect(second.ms).toBeLessThan(15_000);
      // The first is undisturbed.
      expect(await post(first.url, 'SELECT 1')).toBe('1\n');
    } finally {
      await first.stop();
    }
  });

  it("serves the project's .chpipe/ by default, from any folder of the project", async () => {
    const project = tempProject({});
    const served = await startServe([], join(project, 'schemas'));
    try {
      expect(served.dataDir).toBe(join(realpathSync(project), '.chpipe'));
      expect(existsSync(join(project, '.chpipe', TARGET_LOCK_FILE))).toBe(true);
    } finally {
      await served.stop();
    }
  });

  it('refuses in one sentence: no project and no --data-dir, a bad --port, a port in use', async () => {
    const empty = tempDir('chpipe-serve-noproject-');
    const noProject = await runServe([], empty);
    expect(noProject.code).toBe(1);
    expect(noProject.stderr).toBe('error: no project file chpipe.yaml here or in a folder above; serve any data folder with `chpipe serve --data-dir DIR`, or create a project with `chpipe init`\n');

    const badPort = await runServe(['--port', '80000', '--data-dir', tempDir()]);
    expect([badPort.code, badPort.stderr]).toEqual([1, 'error: --port takes a port number from 0 to 65535 (0: any free port), not "80000"\n']);

    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = (taken.address() as { port: number }).port;
    try {
      const dataDir = tempDir('chpipe-serve-port-');
      const inUse = await runServe(['--port', String(port), '--data-dir', dataDir]);
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toBe(`error: cannot serve ${shown(dataDir)}: port ${port} on 127.0.0.1 is in use; pick another with --port N (--port 0: any free port)\n`);
      expect(existsSync(join(dataDir, TARGET_LOCK_FILE))).toBe(false);
    } finally {
      taken.close();
    }
  });
});
