/**
 * Facts that differ between ClickHouse 24.8, 25.8 and 26.7, asked of the
 * engines themselves. docs/engine-versions.md lists them; each row there
 * names the test here that keeps it true.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/driver.js';
import { EngineProcessError } from '../../src/engine/process.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { MATRIX_SETUP_TIMEOUT_MS, startMatrix, startWheelProcess, stopMatrix, type MatrixEngine } from './engines.js';
import { PYTHON_ENGINES } from './venv.mjs';

const MV_AFTER_FROM = "CREATE MATERIALIZED VIEW IF NOT EXISTS facts.mv TO facts.t AS SELECT x FROM facts.q COMMENT 'c [chpipe:p/mv]'";
const MV_PARENTHESIZED = "CREATE MATERIALIZED VIEW IF NOT EXISTS facts.mv TO facts.t AS (SELECT x FROM facts.q) COMMENT 'c [chpipe:p/mv]'";
const MV_COMMENT_FIRST = "CREATE MATERIALIZED VIEW IF NOT EXISTS facts.mv TO facts.t COMMENT 'c [chpipe:p/mv]' AS SELECT x FROM facts.q";
const VIEW_AFTER_FROM = "CREATE VIEW IF NOT EXISTS facts.v AS SELECT x FROM facts.t COMMENT 'c [chpipe:p/view]'";
const VIEW_PARENTHESIZED = "CREATE VIEW IF NOT EXISTS facts.v AS (SELECT x FROM facts.t) COMMENT 'c [chpipe:p/view]'";

async function refusal(e: MatrixEngine, sql: string): Promise<string | undefined> {
  try {
    await e.driver.exec(sql);
    return undefined;
  } catch (err) {
    if (err instanceof EngineError) return err.codeName ?? err.engineMessage;
    throw err;
  }
}

async function formatted(e: MatrixEngine, sql: string): Promise<string> {
  const rows = await e.driver.query<{ f: string }>(`SELECT formatQuerySingleLine(${stringLiteral(sql)}) AS f`);
  return rows[0]?.f ?? '';
}

describe('version matrix: what each version accepts and how it prints it', () => {
  let engines: MatrixEngine[] = [];
  const byLabel = (label: string) => engines.find((e) => e.label === label) as MatrixEngine;
  const perVersion = async <T>(f: (e: MatrixEngine) => Promise<T>): Promise<Record<string, T>> =>
    Object.fromEntries(await Promise.all(engines.map(async (e) => [e.label, await f(e)] as const)));

  beforeAll(async () => {
    engines = await startMatrix();
    for (const e of engines) {
      await e.driver.exec('DROP DATABASE IF EXISTS facts');
      await e.driver.exec('CREATE DATABASE facts');
      await e.driver.exec('CREATE TABLE facts.t (x Int32) ENGINE = MergeTree ORDER BY x');
      await e.driver.exec('CREATE TABLE facts.q (x Int32) ENGINE = Null');
    }
  }, MATRIX_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await stopMatrix(engines);
  }, 60_000);

  it('the matrix is 24.8.4, 25.8.2 and 26.7.2', () => {
    expect(engines.map((e) => e.version.split('.').slice(0, 3).join('.'))).toEqual(['24.8.4', '25.8.2', '26.7.2']);
  });

  it('a COMMENT after a view query that ends at FROM db.t is a syntax error before 26 (read as the table alias)', async () => {
    expect(await perVersion((e) => refusal(e, MV_AFTER_FROM))).toEqual({ '24.8': 'SYNTAX_ERROR', '25.8': 'SYNTAX_ERROR', '26.7': undefined });
    expect(await perVersion((e) => refusal(e, VIEW_AFTER_FROM))).toEqual({ '24.8': 'SYNTAX_ERROR', '25.8': 'SYNTAX_ERROR', '26.7': undefined });
    await byLabel('26.7').driver.exec('DROP VIEW facts.mv');
    await byLabel('26.7').driver.exec('DROP VIEW facts.v');
  });

  it('COMMENT before AS is refused before 26', async () => {
    const accepted = await perVersion((e) => refusal(e, MV_COMMENT_FIRST));
    expect(accepted).toEqual({ '24.8': 'SYNTAX_ERROR', '25.8': 'SYNTAX_ERROR', '26.7': undefined });
    await byLabel('26.7').driver.exec('DROP VIEW facts.mv');
  });

  it("chpipe's form, AS (SELECT ...) COMMENT, is accepted everywhere and reads back with the same as_select and comment", async () => {
    expect(await perVersion((e) => refusal(e, MV_PARENTHESIZED))).toEqual({ '24.8': undefined, '25.8': undefined, '26.7': undefined });
    expect(await perVersion((e) => refusal(e, VIEW_PARENTHESIZED))).toEqual({ '24.8': undefined, '25.8': undefined, '26.7': undefined });
    const readBack = await perVersion((e) =>
      e.driver.query<{ name: string; as_select: string; comment: string }>("SELECT name, as_select, comment FROM system.tables WHERE database = 'facts' AND name IN ('mv', 'v') ORDER BY name"),
    );
    const expected = [
      { name: 'mv', as_select: 'SELECT x FROM facts.q', comment: 'c [chpipe:p/mv]' },
      { name: 'v', as_select: 'SELECT x FROM facts.t', comment: 'c [chpipe:p/view]' },
    ];
    expect(readBack).toEqual({ '24.8': expected, '25.8': expected, '26.7': expected });
  });

  it('a view prints as AS (SELECT ...) COMMENT before 26, as COMMENT ... AS SELECT on 26.7 (formatQuery and create_table_query)', async () => {
    const before26 = "CREATE MATERIALIZED VIEW IF NOT EXISTS facts.mv TO facts.t AS (SELECT x FROM facts.q) COMMENT 'c [chpipe:p/mv]'";
    expect(await perVersion((e) => formatted(e, MV_PARENTHESIZED))).toEqual({
      '24.8': before26,
      '25.8': before26,
      '26.7': "CREATE MATERIALIZED VIEW IF NOT EXISTS facts.mv TO facts.t COMMENT 'c [chpipe:p/mv]' AS SELECT x FROM facts.q",
    });
    const stored = await perVersion(async (e) => (await e.driver.query<{ q: string }>("SELECT create_table_query AS q FROM system.tables WHERE database = 'facts' AND name = 'mv'"))[0]?.q);
    expect(stored).toEqual({
      '24.8': "CREATE MATERIALIZED VIEW facts.mv TO facts.t (`x` Int32) AS (SELECT x FROM facts.q) COMMENT 'c [chpipe:p/mv]'",
      '25.8': "CREATE MATERIALIZED VIEW facts.mv TO facts.t (`x` Int32) AS (SELECT x FROM facts.q) COMMENT 'c [chpipe:p/mv]'",
      '26.7': "CREATE MATERIALIZED VIEW facts.mv TO facts.t (`x` Int32) COMMENT 'c [chpipe:p/mv]' AS SELECT x FROM facts.q",
    });
  });

  it('redundant parentheses around a whole WHERE condition: kept by 26.7, dropped before 26 (formatQuery and as_select)', async () => {
    const sql = 'SELECT x FROM facts.t WHERE (x = 1)';
    expect(await perVersion((e) => formatted(e, sql))).toEqual({ '24.8': 'SELECT x FROM facts.t WHERE x = 1', '25.8': 'SELECT x FROM facts.t WHERE x = 1', '26.7': sql });
    expect(await perVersion((e) => formatted(e, 'SELECT x FROM facts.t WHERE (x = 1) AND (x < 2)'))).toEqual({
      '24.8': 'SELECT x FROM facts.t WHERE (x = 1) AND (x < 2)',
      '25.8': 'SELECT x FROM facts.t WHERE (x = 1) AND (x < 2)',
      '26.7': 'SELECT x FROM facts.t WHERE (x = 1) AND (x < 2)',
    });
    await Promise.all(engines.map((e) => e.driver.exec(`CREATE VIEW facts.w AS (${sql}) COMMENT 'w'`)));
    const asSelect = await perVersion(async (e) => (await e.driver.query<{ s: string }>("SELECT as_select AS s FROM system.tables WHERE database = 'facts' AND name = 'w'"))[0]?.s);
    expect(asSelect).toEqual({ '24.8': 'SELECT x FROM facts.t WHERE x = 1', '25.8': 'SELECT x FROM facts.t WHERE x = 1', '26.7': sql });
  });

  it('engine_full of a Null table: Null on 24.8, `Null` from 25.8', async () => {
    const engineFull = await perVersion(async (e) => (await e.driver.query<{ f: string }>("SELECT engine_full AS f FROM system.tables WHERE database = 'facts' AND name = 'q'"))[0]?.f);
    expect(engineFull).toEqual({ '24.8': 'Null', '25.8': '`Null`', '26.7': '`Null`' });
  });

  it('Kafka tables can be created (never consumed: no view) in a session of every version', async () => {
    const kafka =
      "CREATE TABLE facts.k (x Int32) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:9', kafka_topic_list = 't', kafka_group_name = 'g', kafka_format = 'JSONEachRow'";
    expect(await perVersion((e) => refusal(e, kafka))).toEqual({ '24.8': undefined, '25.8': undefined, '26.7': undefined });
    const engine = await perVersion(async (e) => (await e.driver.query<{ engine: string }>("SELECT engine FROM system.tables WHERE database = 'facts' AND name = 'k'"))[0]?.engine);
    expect(engine).toEqual({ '24.8': 'Kafka', '25.8': 'Kafka', '26.7': 'Kafka' });
  });
});

describe('version matrix: limits of the PyPI wheels (not of ClickHouse servers)', () => {
  const [v24, v25] = PYTHON_ENGINES;

  it('chdb 3.3.0 (24.8): DROP TABLE ... SYNC on an Atomic database says "server is shutting down" (UNFINISHED), yet the table is gone', async () => {
    const wheel = await startWheelProcess(v24);
    try {
      await wheel.driver.exec('CREATE DATABASE a');
      await wheel.driver.exec('CREATE TABLE a.t (x Int32) ENGINE = MergeTree ORDER BY x');
      const error = await wheel.driver.exec('DROP TABLE a.t SYNC').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EngineError);
      expect((error as EngineError).codeName).toBe('UNFINISHED');
      expect(await wheel.driver.query("SELECT name FROM system.tables WHERE database = 'a'")).toEqual([]);
    } finally {
      await wheel.stop();
    }
  }, MATRIX_SETUP_TIMEOUT_MS);

  it('chdb 4.0.0 (25.8): DROP TABLE ... SYNC on an Atomic database does not return (3 s here), and the same DROP without SYNC does', async () => {
    const wheel = await startWheelProcess(v25, { closeTimeoutMs: 1_000 });
    try {
      await wheel.driver.exec('CREATE DATABASE a');
      await wheel.driver.exec('CREATE TABLE a.t (x Int32) ENGINE = MergeTree ORDER BY x');
      await wheel.driver.exec('CREATE TABLE a.u (x Int32) ENGINE = MergeTree ORDER BY x');
      await wheel.driver.exec('DROP TABLE a.u');
      const answer = wheel.driver.exec('DROP TABLE a.t SYNC').then(
        () => 'answered',
        () => 'answered',
      );
      const outcome = await Promise.race([answer, new Promise<string>((done) => setTimeout(() => done('still waiting'), 3_000))]);
      expect(outcome).toBe('still waiting');
    } finally {
      // close() ends stdin; the engine is still inside the DROP, so it is killed by PID after 1 s.
      await wheel.stop();
    }
  }, MATRIX_SETUP_TIMEOUT_MS);

  it('chdb 4.0.0 (25.8): CREATE NAMED COLLECTION aborts the process (chdb 3.3.0 accepts it)', async () => {
    const statement = "CREATE NAMED COLLECTION kc AS kafka_broker_list = '127.0.0.1:9', kafka_format = 'JSONEachRow'";
    const older = await startWheelProcess(v24);
    try {
      await older.driver.exec(statement);
    } finally {
      await older.stop();
    }
    const wheel = await startWheelProcess(v25);
    try {
      const pid = wheel.driver.pid;
      await expect(wheel.driver.exec(statement)).rejects.toBeInstanceOf(EngineProcessError);
      expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await wheel.stop();
    }
  }, MATRIX_SETUP_TIMEOUT_MS);
});
