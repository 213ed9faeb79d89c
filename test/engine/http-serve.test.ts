/**
 * HttpDriver against a modern engine: `chpipe serve` (the embedded ClickHouse
 * behind an HTTP interface), started here as `node bin/chpipe.js serve --port 0
 * --json --data-dir <tmp>`, whose first stdout line is `{"url": "..."}`. The
 * driver must behave exactly like the embedded target (an engine process from
 * `openTarget`): same version, same rows, same EngineError for a refused
 * statement. Needs `npm run build` (bin/chpipe.js runs dist/); if `serve`
 * cannot start, the tests fail with what it printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError, TargetError, type Driver } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import { compareVersions, MINIMUM_VERSION } from '../../src/engine/version.js';
import { BIN, tempDir } from '../helpers/cli.js';

interface Served {
  readonly url: string;
  readonly child: ChildProcess;
}

/** Start `chpipe serve` and read its URL from the first stdout line; rejects with its output if it exits first. */
function startServe(dataDir: string): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  return new Promise((ok, fail) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`chpipe serve printed no URL within 60 s:\n${out}${err}`));
    }, 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        const url = (JSON.parse(out.slice(0, nl)) as { url?: unknown }).url;
        if (typeof url !== 'string') throw new Error('no "url" string');
        ok({ url, child });
      } catch (e) {
        child.kill('SIGKILL');
        fail(new Error(`chpipe serve's first stdout line is not {"url": "..."} (${String(e)}): ${out.slice(0, nl)}`));
      }
    });
    child.stderr?.on('data', (d: Buffer) => void (err += d.toString()));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`chpipe serve exited (${code ?? signal}) before printing its URL:\n${out}${err}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
  });
}

/** Stop a child by its PID: SIGTERM, then SIGKILL after 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  process.kill(child.pid, 'SIGTERM');
  const done = await Promise.race([exited.then(() => true), new Promise<boolean>((ok) => setTimeout(() => ok(false), 10_000))]);
  if (!done) {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

async function refusal(driver: Driver, sql: string): Promise<EngineError> {
  try {
    await driver.exec(sql);
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    return e as EngineError;
  }
  throw new Error(`${driver.kind} accepted: ${sql}`);
}

describe('HttpDriver against `chpipe serve` (a modern engine)', () => {
  let served: Served | undefined;
  let http: HttpDriver;
  let embedded: ProcessDriver;

  beforeAll(async () => {
    served = await startServe(tempDir('chpipe-serve-'));
    http = await HttpDriver.connect(served.url);
    embedded = await openTarget(tempDir('chpipe-embedded-'));
  }, 120_000);

  afterAll(async () => {
    await http?.close();
    await embedded?.close();
    if (served) await stopChild(served.child);
  });

  it('passes the version gate and reports the same version as the embedded engine', async () => {
    expect(http.kind).toBe('http');
    expect(http.target).toBe(new URL(served?.url ?? '').origin);
    const version = await http.version();
    expect(compareVersions(version, MINIMUM_VERSION)).toBeGreaterThanOrEqual(0);
    expect(version).toBe(await embedded.version());
  });

  it('runs DDL and returns the same JSONEachRow rows as the embedded engine', async () => {
    const statements = [
      'CREATE DATABASE IF NOT EXISTS http_test',
      'CREATE TABLE http_test.t (id UInt64, name String, at DateTime, v Nullable(Float64), tags Array(String)) ENGINE = MergeTree ORDER BY id',
      "INSERT INTO http_test.t VALUES (1, 'a', '2026-01-02 03:04:05', 1.5, ['x']), (18446744073709551615, 'ünï\\'q', '2026-01-02 03:04:06', NULL, [])",
    ];
    for (const sql of statements) {
      await http.exec(sql);
      await embedded.exec(sql);
    }
    const select = 'SELECT * FROM http_test.t ORDER BY id';
    const rows = await http.query(select);
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(await embedded.query(select));
    const tables = "SELECT name, engine FROM system.tables WHERE database = 'http_test' ORDER BY name";
    expect(await http.query(tables)).toEqual(await embedded.query(tables));
  });

  it('a statement the engine refuses is the same EngineError as from the embedded engine', async () => {
    for (const sql of ['SELECT avgg(1)', 'SELECT * FROM http_test.no_such_table', 'CREATE TABLE http_test.bad (x Int3) ENGINE = Memory', 'SELEC 1']) {
      const over = await refusal(http, sql);
      const local = await refusal(embedded, sql);
      expect({ sql: over.sql, message: over.message, codeName: over.codeName, hint: over.hint }).toEqual({ sql: local.sql, message: local.message, codeName: local.codeName, hint: local.hint });
      expect(over.codeName).toMatch(/^[A-Z_]+$/);
    }
  });

  it('a closed driver refuses further statements with one sentence', async () => {
    const d = await HttpDriver.connect(served?.url ?? '');
    await d.close();
    await expect(d.exec('SELECT 1')).rejects.toThrow(TargetError);
  });
});
