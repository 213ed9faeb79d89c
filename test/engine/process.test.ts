import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/driver.js';
import { embeddedRole } from '../../src/engine/embedded.js';
import { EngineProcessError, engineProcessEntry, type ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import { alive, gone, stop } from './pids.js';

const dirs: string[] = [];
const pids: number[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-engine-process-'));
  dirs.push(dir);
  return dir;
}
async function started(promise: Promise<ProcessDriver>): Promise<ProcessDriver> {
  const driver = await promise;
  pids.push(driver.pid);
  return driver;
}

afterAll(() => {
  for (const pid of pids) stop(pid);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the engine-process protocol on the wire', () => {
  it('says it is ready with the engine version, then answers pipelined requests by id, in order', async () => {
    const child = spawn(process.execPath, [engineProcessEntry(), '--data-dir', tempDir()], { stdio: ['pipe', 'pipe', 'ignore'] });
    pids.push(child.pid as number);
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() as string;
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
    // Three requests in one write, before the child is even ready, and then the end of input.
    child.stdin.end(
      [
        { id: 7, sql: 'CREATE TABLE default.t (x UInt8) ENGINE = MergeTree ORDER BY x', format: 'TSV' },
        { id: 3, sql: 'INSERT INTO default.t VALUES (1), (2)', format: 'TSV' },
        { id: 5, sql: 'SELECT x FROM default.t ORDER BY x', format: 'JSONEachRow' },
        { id: 4, sql: 'SELECT x FROM default.nope', format: 'TSV' },
        { id: 6, sql: 'SELECT 1', format: 'CSV' },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    expect(await exited).toBe(0);
    expect(lines[0]).toEqual({ ready: true, version: expect.stringMatching(/^26\.7\.\d+\.\d+$/) });
    expect(lines.slice(1).map((l) => l.id)).toEqual([7, 3, 5, 4, 6]);
    expect(lines[1]).toEqual({ id: 7, ok: true, text: '' });
    expect(lines[3]).toEqual({ id: 5, ok: true, text: '{"x":1}\n{"x":2}\n' });
    expect(lines[4]).toMatchObject({ id: 4, ok: false, error: expect.stringMatching(/^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\)$/) });
    expect(lines[5]).toMatchObject({ id: 6, ok: false, error: expect.stringContaining('"format" must be one of JSONEachRow, TSV') });
  });

  it('says it is not ready, and why, when it cannot open the data directory', async () => {
    const child = spawn(process.execPath, [engineProcessEntry(), '--data-dir', tempDir(), '--config-file', join(tempDir(), 'missing.xml')], { stdio: ['pipe', 'pipe', 'ignore'] });
    pids.push(child.pid as number);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((done) => child.once('close', (c) => done(c)));
    expect(code).toBe(1);
    expect(JSON.parse(out.trim())).toEqual({ ready: false, error: expect.stringMatching(/^the ClickHouse config file .*missing\.xml does not exist$/) });
  });
});

describe('ProcessDriver', () => {
  let target: ProcessDriver;
  beforeAll(async () => {
    target = await started(openTarget(tempDir()));
  });
  afterAll(async () => {
    await target?.close();
  });

  it('runs the engine in another process; this one has not loaded an engine', async () => {
    expect(target.pid).not.toBe(process.pid);
    expect(alive(target.pid)).toBe(true);
    expect(await target.version()).toMatch(/^26\.7\./);
    expect(embeddedRole()).toBeUndefined();
  });

  it('maps an engine error to EngineError with the statement and the code name', async () => {
    const error = await target.query('SELECT * FROM nowhere.nothing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ sql: 'SELECT * FROM nowhere.nothing', codeName: 'UNKNOWN_DATABASE', engineMessage: 'Database nowhere does not exist' });
    const unknownFunction = await target.query('SELECT avgg(1)').catch((e: unknown) => e);
    expect(unknownFunction).toMatchObject({ codeName: 'UNKNOWN_FUNCTION', hint: expect.stringContaining('"avg"') });
  });

  it('matches pipelined answers to their requests, successes and failures mixed', async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 7 === 3
          ? target.query(`SELECT * FROM nowhere.t${i}`).then(
              () => 'resolved',
              (e: EngineError) => `${e.codeName} ${e.sql}`,
            )
          : target.query<{ n: number; s: string }>(`SELECT ${i} AS n, repeat('x', ${i * 100}) AS s`).then((rows) => `${rows[0]?.n} ${rows[0]?.s.length}`),
      ),
    );
    answers.forEach((answer, i) => expect(answer).toBe(i % 7 === 3 ? `UNKNOWN_DATABASE SELECT * FROM nowhere.t${i}` : `${i} ${i * 100}`));
  });

  it('runs statements sent together in the order they were sent', async () => {
    const [, , , rows] = await Promise.all([
      target.exec('CREATE DATABASE IF NOT EXISTS ordered'),
      target.exec('CREATE TABLE ordered.t (x UInt32) ENGINE = MergeTree ORDER BY x'),
      target.exec('INSERT INTO ordered.t SELECT number FROM numbers(1000)'),
      target.query<{ c: number }>('SELECT count() AS c FROM ordered.t'),
    ]);
    expect(rows).toEqual([{ c: 1000 }]);
  });

  it('a second engine process cannot open a data directory that is in use', async () => {
    const error = await openAgain(target.target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineProcessError);
    expect((error as Error).message).toMatch(/^the engine process could not open .*: .*Another server instance in same directory is already running/);
  });
});

function openAgain(dir: string): Promise<ProcessDriver> {
  return started(openTarget(dir));
}

describe('engine process lifetime', () => {
  it('loads a ClickHouse config file', async () => {
    const dir = tempDir();
    const config = join(dir, 'config.xml');
    writeFileSync(config, '<clickhouse><macros><replica>r-one</replica></macros></clickhouse>\n');
    const target = await started(openTarget(join(dir, 'data'), { configFile: config }));
    try {
      expect(await target.query("SELECT getMacro('replica') AS r")).toEqual([{ r: 'r-one' }]);
    } finally {
      await target.close();
    }
  });

  it('close() stops the child and keeps the data; later requests are refused', async () => {
    const dir = tempDir();
    const first = await started(openTarget(dir));
    await first.exec('CREATE TABLE default.kept (x UInt8) ENGINE = MergeTree ORDER BY x');
    await first.exec('INSERT INTO default.kept VALUES (4), (2)');
    const pending = first.query('SELECT sum(x) AS s FROM default.kept');
    await first.close();
    expect(await pending).toEqual([{ s: 6 }]);
    expect(alive(first.pid)).toBe(false);
    await expect(first.query('SELECT 1')).rejects.toThrow(EngineProcessError);
    await expect(first.query('SELECT 1')).rejects.toThrow(/is closed/);

    const second = await started(openTarget(dir));
    try {
      expect(await second.query('SELECT x FROM default.kept ORDER BY x')).toEqual([{ x: 2 }, { x: 4 }]);
    } finally {
      await second.close();
    }
  });

  it('close() kills a child that does not exit in time, by PID', async () => {
    const target = await started(openTarget(tempDir(), { closeTimeoutMs: 300 }));
    const slow = target.query('SELECT sleep(3)').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await target.close();
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(alive(target.pid)).toBe(false);
    expect(await slow).toBeInstanceOf(EngineProcessError);
  });

  it('a killed child rejects its pending requests with a clear error, and every later one', async () => {
    const target = await started(openTarget(tempDir()));
    await target.query('SELECT 1');
    const pending = [target.query('SELECT sleep(3)'), target.query('SELECT 2')].map((p) => p.then(() => 'resolved', (e: unknown) => e));
    await new Promise((r) => setTimeout(r, 100));
    process.kill(target.pid, 'SIGKILL');
    for (const error of await Promise.all(pending)) {
      expect(error).toBeInstanceOf(EngineProcessError);
      expect((error as Error).message).toBe(`the engine process for ${target.target} (pid ${target.pid}) was killed by SIGKILL`);
    }
    await expect(target.exec('SELECT 1')).rejects.toThrow(/was killed by SIGKILL/);
    await target.close();
  });

  for (const [how, signal] of [
    ['SIGTERM', 'SIGTERM'],
    ['SIGINT', 'SIGINT'],
    ['SIGKILL', 'SIGKILL'],
    ['process.exit() without close()', undefined],
  ] as const) {
    it(`the child does not outlive its parent (${how})`, async () => {
      const fixture = join(import.meta.dirname, 'fixtures/hold-target.mjs');
      const parent = spawn(process.execPath, [fixture, tempDir(), signal ? 'wait' : 'exit'], { stdio: ['ignore', 'pipe', 'inherit'] });
      pids.push(parent.pid as number);
      const line = await new Promise<string>((done) => {
        let out = '';
        parent.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (out.includes('\n')) done(out.split('\n')[0] as string);
        });
      });
      const { engine } = JSON.parse(line) as { engine: number };
      pids.push(engine);
      if (signal) {
        expect(alive(engine)).toBe(true);
        process.kill(parent.pid as number, signal);
      }
      expect(await gone(parent.pid as number)).toBe(true);
      expect(await gone(engine)).toBe(true);
    });
  }
});
