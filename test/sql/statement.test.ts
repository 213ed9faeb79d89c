/**
 * The statement shape `chpipe serve` reads before running a request: empty,
 * a second statement, the FORMAT clause, INTO OUTFILE, an INSERT's inline
 * data. The multi-statement verdict is checked against the engine's own parser
 * (formatQuery, which refuses multi-statements as a server does).
 */
import { describe, expect, it } from 'vitest';
import { EmbeddedDriver } from '../../src/engine/embedded.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { statementShape } from '../../src/sql/statement.js';

describe('statementShape', () => {
  it('empty: nothing but whitespace and comments', () => {
    for (const sql of ['', '  \n\t', '-- note\n', '/* a /* nested */ comment */', '# hash comment\n', '#!/usr/bin/env clickhouse\n']) {
      expect(statementShape(sql)).toEqual({ empty: true, intoOutfile: false });
    }
    expect(statementShape('SELECT 1 -- a comment').empty).toBe(false);
  });

  it('finds a second statement after a top-level semicolon, not one in strings, names, comments or heredocs', () => {
    expect(statementShape('SELECT 1; SELECT 2').secondStatementAt).toBe(8);
    expect(statementShape('SELECT 1;\n  DROP TABLE t').secondStatementAt).toBe(8);
    expect(statementShape('SELECT 1;; SELECT 2').secondStatementAt).toBe(8);
    for (const sql of ['SELECT 1;', 'SELECT 1;;', 'SELECT 1 ; -- done\n', "SELECT ';' AS x", 'SELECT 1 AS `a;b`', 'SELECT "x;y" FROM t', 'SELECT 1 /* ; SELECT 2 */', 'SELECT $$a;b$$', "SELECT 'it''s; fine'", "SELECT 'a\\'; b'"]) {
      expect(statementShape(sql).secondStatementAt, sql).toBeUndefined();
    }
  });

  it("reads the FORMAT clause, not a column or function called format", () => {
    expect(statementShape('SELECT 1 FORMAT JSONEachRow').format).toBe('JSONEachRow');
    expect(statementShape('SELECT 1 FORMAT CSV SETTINGS max_threads = 1').format).toBe('CSV');
    expect(statementShape('SELECT 1 SETTINGS max_threads = 1 FORMAT CSV;').format).toBe('CSV');
    expect(statementShape('select 1 format TSVWithNames').format).toBe('TSVWithNames');
    expect(statementShape('SELECT format FROM t').format).toBeUndefined();
    expect(statementShape("SELECT format('{}', 'x')").format).toBeUndefined();
    expect(statementShape('SELECT 1 AS format').format).toBeUndefined();
    expect(statementShape('SELECT * FROM (SELECT 1 FORMAT JSON)').format).toBeUndefined();
  });

  it('an INSERT: its data begins after FORMAT name or at VALUES, and is never read as SQL', () => {
    const sql = 'INSERT INTO t FORMAT JSONEachRow\n{"a":";"}; SELECT 1\n';
    expect(statementShape(sql)).toEqual({ empty: false, keyword: 'INSERT', intoOutfile: false, format: 'JSONEachRow', insertData: { at: sql.indexOf('\n'), blank: false } });
    expect(statementShape('INSERT INTO t (a, b) SETTINGS async_insert = 0 FORMAT CSV\n1,2').format).toBe('CSV');
    expect(statementShape('INSERT INTO format FORMAT CSV 1').format).toBe('CSV');
    expect(statementShape('INSERT INTO t FORMAT TabSeparated\n  \n').insertData).toEqual({ at: 33, blank: true });
    expect(statementShape("INSERT INTO t VALUES (1, ';'), (2, 'b')")).toMatchObject({ insertData: { at: 14, blank: false } });
    expect(statementShape("INSERT INTO t VALUES (1, ';'), (2, 'b')").secondStatementAt).toBeUndefined();
    expect(statementShape('INSERT INTO t VALUES (1); SELECT 2').secondStatementAt).toBe(24);
    expect(statementShape('INSERT INTO t SELECT * FROM u').insertData).toBeUndefined();
    expect(statementShape('INSERT INTO t SELECT * FROM u; DROP TABLE u').secondStatementAt).toBe(29);
  });

  it('INTO OUTFILE, which a server refuses over HTTP', () => {
    expect(statementShape("SELECT 1 INTO OUTFILE '/tmp/x'").intoOutfile).toBe(true);
    expect(statementShape("SELECT 'INTO OUTFILE'").intoOutfile).toBe(false);
    expect(statementShape('INSERT INTO outfile VALUES (1)').intoOutfile).toBe(false);
  });

  it('agrees with the engine on which queries are several statements', async () => {
    const engine = await EmbeddedDriver.scratch();
    const corpus = [
      'SELECT 1',
      'SELECT 1;',
      'SELECT 1; SELECT 2',
      'SELECT 1;;',
      'SELECT 1;; SELECT 2',
      "SELECT ';'",
      "SELECT 1; -- trailing comment",
      'SELECT 1 /* ; */ ; /* c */',
      'SELECT 1 ; SELECT 2 ; SELECT 3',
      'SELECT [1, 2]; SELECT (3)',
      'SELECT `a;b` FROM t',
      "SELECT 'x\\';' ; SHOW TABLES",
      'SELECT $tag$ ; $tag$',
      'CREATE TABLE t (a UInt8) ENGINE = Memory; DROP TABLE t',
      'SELECT 1 FORMAT CSV; SELECT 2',
    ];
    for (const sql of corpus) {
      const several = await engine.query(`SELECT formatQuery(${stringLiteral(sql)}) AS q`).then(
        () => false,
        (e: Error) => /Multi-statements are not allowed/.test(e.message),
      );
      expect(statementShape(sql).secondStatementAt !== undefined, sql).toBe(several);
    }
  });
});
