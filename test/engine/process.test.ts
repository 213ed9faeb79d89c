import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/driver.js';
import { embeddedRole } from '../../src/engine/embedded.js';
import { EngineProcessError, engineProcessEntry, type EngineReply, type EngineStats, type ProcessDriver } from '../../src/engine/process.js';
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
    // Requests go on fd 3; stdin is /dev/null (the engine reads stdin as INSERT data, see process.ts).
    const child = spawn(process.execPath, [engineProcessEntry(), '--data-dir', tempDir(), '--requests-fd', '3'], { stdio: ['ignore', 'pipe', 'ignore', 'pipe'] });
    const requests = child.stdio[3] as Writable;
    pids.push(child.pid as number);
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() as string;
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
    // Three requests in one write, before the child is even ready, and then the end of input.
    requests.end(
      [
        { id: 7, sql: 'CREATE TABLE default.t (x UInt8) ENGINE = MergeTree ORDER BY x', format: 'TSV' },
        { id: 3, sql: 'INSERT INTO default.t VALUES (1), (2)', format: 'TSV' },
        { id: 5, sql: 'SELECT x FROM default.t ORDER BY x', format: 'JSONEachRow' },
        { id: 4, sql: 'SELECT x FROM default.nope', format: 'TSV' },
        { id: 6, sql: "SELECT 1, 'a'", format: 'CSV' },
        { id: 8, sql: 'SELECT 1', format: 'CSV; DROP TABLE t' },
        { id: 9, sql: 'SELECT 1', format: 'TSV', settings: { max_threads: '1' } },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    expect(await exited).toBe(0);
    expect(lines[0]).toEqual({ ready: true, version: expect.stringMatching(/^26\.7\.\d+\.\d+$/), timezone: expect.any(String), displayName: expect.any(String) });
    expect(lines.slice(1).map((l) => l.id)).toEqual([7, 3, 5, 4, 6, 8, 9]);
    expect(lines[1]).toEqual({ id: 7, ok: true, text: '' });
    expect(lines[3]).toEqual({ id: 5, ok: true, text: '{"x":1}\n{"x":2}\n' });
    expect(lines[4]).toMatchObject({ id: 4, ok: false, error: expect.stringMatching(/^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\)$/) });
    // Any output format by name; a name that is not an identifier never reaches the engine.
    expect(lines[5]).toEqual({ id: 6, ok: true, text: '1,"a"\n' });
    expect(lines[6]).toEqual({ id: 8, ok: false, error: 'invalid request: "format" must be a format name (an identifier)' });
    expect(lines[7]).toEqual({ id: 9, ok: false, error: 'invalid request: "database", "settings", "readonly" and "params" need "isolated": true' });
  });

  it('says it is not ready, and why, when it is given no request pipe (stdin never carries requests)', async () => {
    const child = spawn(process.execPath, [engineProcessEntry(), '--data-dir', tempDir()], { stdio: ['pipe', 'pipe', 'ignore'] });
    pids.push(child.pid as number);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((done) => child.once('close', (c) => done(c)));
    expect(code).toBe(1);
    expect(JSON.parse(out.trim())).toEqual({ ready: false, error: expect.stringMatching(/^--requests-fd N is required: /) });
  });

  it('says it is not ready, and why, when it cannot open the data directory', async () => {
    const child = spawn(process.execPath, [engineProcessEntry(), '--data-dir', tempDir(), '--config-file', join(tempDir(), 'missing.xml'), '--requests-fd', '3'], { stdio: ['ignore', 'pipe', 'ignore', 'pipe'] });
    pids.push(child.pid as number);
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
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

describe('isolated requests (what chpipe serve sends)', () => {
  let target: ProcessDriver;
  beforeAll(async () => {
    target = await started(openTarget(tempDir()));
    await target.exec('CREATE DATABASE iso');
    await target.exec('CREATE TABLE iso.t (n UInt64, s String) ENGINE = MergeTree ORDER BY n');
    await target.exec("INSERT INTO iso.t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  });
  afterAll(async () => {
    await target?.close();
  });

  function ok(reply: EngineReply): { output: string; stats: EngineStats | undefined } {
    if (!reply.ok) throw new Error(`the engine refused: ${reply.error}`);
    return { output: reply.output.toString('utf8'), stats: reply.stats };
  }

  it('answers in any format, with the result\'s rows, bytes and time', async () => {
    const { output, stats } = ok(await target.request({ sql: 'SELECT n, s FROM iso.t ORDER BY n', format: 'CSVWithNames' }));
    expect(output).toBe('"n","s"\n1,"a"\n2,"b"\n3,"c"\n');
    expect(stats).toEqual({ elapsedNs: expect.any(Number), rows: 3, bytes: expect.any(Number) });
    expect(stats?.elapsedNs).toBeGreaterThan(0);
    expect(stats?.bytes).toBeGreaterThan(0);
    // A FORMAT clause wins over the request's format, as on a server.
    expect(ok(await target.request({ sql: 'SELECT n FROM iso.t ORDER BY n FORMAT JSONCompactEachRow', format: 'TSV' })).output).toBe('[1]\n[2]\n[3]\n');
  });

  it('sends binary output whole', async () => {
    const reply = await target.request({ sql: 'SELECT toUInt32(number) AS n FROM numbers(3)', format: 'RowBinary' });
    expect(reply.ok && [...reply.output]).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
    const native = await target.request({ sql: 'SELECT 200 :: UInt8 AS x', format: 'Native' });
    expect(native.ok && native.output.includes(Buffer.from([200]))).toBe(true);
  });

  it('applies its database, settings and parameters to itself alone', async () => {
    expect(ok(await target.request({ sql: 'SELECT count() FROM t', format: 'TSV', database: 'iso' })).output).toBe('3\n');
    expect(ok(await target.request({ sql: 'SELECT toUInt64(7) AS n', format: 'JSONEachRow', settings: { output_format_json_quote_64bit_integers: '1' } })).output).toBe('{"n":"7"}\n');
    expect(ok(await target.request({ sql: 'SELECT toUInt64(7) AS n', format: 'JSONEachRow' })).output).toBe('{"n":7}\n');
    expect(ok(await target.request({ sql: 'SELECT s FROM iso.t WHERE n = {n:UInt64} AND s != {s:String}', format: 'TSV', params: { n: '2', s: "it's\ta" } })).output).toBe('b\n');
    // Neither reached the shared session.
    expect(await target.query("SELECT currentDatabase() AS db, getSetting('output_format_json_quote_64bit_integers') AS q")).toEqual([{ db: 'default', q: false }]);
  });

  it('a SET or USE in the statement does not outlive it', async () => {
    ok(await target.request({ sql: 'SET max_threads = 1', format: 'TSV' }));
    ok(await target.request({ sql: 'USE iso', format: 'TSV' }));
    expect(ok(await target.request({ sql: "SELECT currentDatabase(), getSetting('max_threads') = 1", format: 'TSV' })).output).toBe('default\t0\n');
  });

  it('readonly 2 refuses writes and lets settings change; the engine\'s code comes with its text', async () => {
    const write = await target.request({ sql: 'INSERT INTO iso.t VALUES (9, \'z\')', format: 'TSV', readonly: 2 });
    expect(write).toMatchObject({ ok: false, code: 164, error: expect.stringMatching(/^Code: 164\. DB::Exception: .*readonly mode.*\(READONLY\)$/) });
    expect(ok(await target.request({ sql: 'SELECT count() FROM iso.t', format: 'TSV', readonly: 2, settings: { max_threads: '1' } })).output).toBe('3\n');
    const unknown = await target.request({ sql: 'SELECT 1', format: 'TSV', settings: { no_such_setting: '1' } });
    expect(unknown).toMatchObject({ ok: false, code: 115 });
    const database = await target.request({ sql: 'SELECT 1', format: 'TSV', database: 'nowhere' });
    expect(database).toMatchObject({ ok: false, code: 81 });
  });

  it('an engine process that speaks the old subset refuses them, and still answers the rest', async () => {
    const python = join(tempDir(), 'old-engine.py');
    writeFileSync(
      python,
      [
        'import json, sys',
        'print(json.dumps({"ready": True, "version": "24.8.0.1"}), flush=True)',
        'for line in sys.stdin:',
        '    r = json.loads(line)',
        '    if "isolated" in r: print(json.dumps({"id": r["id"], "ok": False, "error": "Code: 48. DB::Exception: isolated requests are not supported. (NOT_IMPLEMENTED)"}), flush=True)',
        '    else: print(json.dumps({"id": r["id"], "ok": True, "text": "1\\n"}), flush=True)',
      ].join('\n'),
    );
    const old = await started(openTarget(tempDir(), { command: { file: 'python3', args: [python] } }));
    try {
      expect(old.info).toEqual({ version: '24.8.0.1' });
      expect(await old.request({ sql: 'SELECT 1', format: 'TSV' })).toEqual({ ok: false, code: 48, error: expect.stringContaining('isolated requests are not supported') });
      expect(await old.query('SELECT 1')).toEqual([1]);
    } finally {
      await old.close();
    }
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
      // An isolated request's connection joins the same engine, configured as it is.
      const reply = await target.request({ sql: "SELECT getMacro('replica')", format: 'TSV' });
      expect(reply.ok && reply.output.toString()).toBe('r-one\n');
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
