/**
 * The driver's statement path against a real server before `chpipe serve`
 * exists: the version gate (version.ts, pure, tested on its own) is replaced
 * in this file only, so HttpDriver talks to ClickHouse 18.16 past it. The
 * server is real; nothing about its answers is made up.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EngineError, TargetError } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import { EXPECTED_VERSION, USERS } from './clickhouse-18.js';
import { clickhouse18 } from './server.js';

vi.mock('../../src/engine/version.js', () => ({ versionProblem: () => undefined }));

const { httpPort } = clickhouse18();
const TARGET = `http://127.0.0.1:${httpPort}`;

describe('HttpDriver past the version gate, on ClickHouse 18.16', () => {
  let tester: HttpDriver;
  beforeAll(async () => {
    tester = await HttpDriver.connect(`http://tester:${USERS.tester}@127.0.0.1:${httpPort}`);
  });
  afterAll(async () => {
    await tester?.close();
  });

  it('version, kind and target (without credentials)', async () => {
    expect(await tester.version()).toBe(EXPECTED_VERSION);
    expect(tester.kind).toBe('http');
    expect(tester.target).toBe(TARGET);
  });

  it('runs DDL and returns JSONEachRow rows', async () => {
    await tester.exec('CREATE TABLE IF NOT EXISTS default.past_gate (id UInt64, name String) ENGINE = Memory');
    await tester.exec("INSERT INTO default.past_gate VALUES (1, 'a'), (2, 'ü''q')");
    expect(await tester.query('SELECT id, name FROM default.past_gate ORDER BY id')).toEqual([
      { id: '1', name: 'a' },
      { id: '2', name: "ü'q" },
    ]);
    expect(await tester.query("SELECT name FROM system.tables WHERE database = 'default' AND name = 'past_gate'")).toEqual([{ name: 'past_gate' }]);
  });

  it('a refused statement is an EngineError with the server message', async () => {
    const e = await tester.exec('SELECT nosuch_function()').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).message).toBe('Unknown function nosuch_function');
    expect((e as EngineError).sql).toBe('SELECT nosuch_function()');
  });

  it('keeps working across the server closing idle keep-alive connections (3 s here)', async () => {
    expect(await tester.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await new Promise((ok) => setTimeout(ok, 3_500));
    expect(await tester.query('SELECT 2 AS two')).toEqual([{ two: 2 }]);
  });

  it('a user without grants: a TargetError of one sentence, through the driver', async () => {
    const nogrants = await HttpDriver.connect(TARGET, { user: 'nogrants', password: USERS.nogrants });
    try {
      const e = await nogrants.query('SELECT * FROM secret.t').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(TargetError);
      expect((e as Error).message).toBe(`the target at ${TARGET} denied user "nogrants" a privilege chpipe needs (Access denied to database secret for user nogrants); grant it or use another user`);
      expect((e as Error).message).not.toContain(USERS.nogrants);
    } finally {
      await nogrants.close();
    }
  });
});
