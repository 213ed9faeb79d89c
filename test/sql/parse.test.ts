import { describe, expect, it } from 'vitest';
import { parseSettingsList, splitEngineClauses, splitStatements, statementTarget, stripComments } from '../../src/sql/parse.js';

describe('splitStatements', () => {
  it('splits on top-level semicolons only', () => {
    const script = "SELECT ';' AS a;\nSELECT \"x;y\", `a;b`;\nSELECT 'it''s; fine', 'esc\\'; still';";
    expect(splitStatements(script).map((s) => s.sql)).toEqual(["SELECT ';' AS a", 'SELECT "x;y", `a;b`', "SELECT 'it''s; fine', 'esc\\'; still'"]);
  });

  it('ignores semicolons in comments and drops comment-only pieces', () => {
    const script = '-- header; with a semicolon\nSELECT 1 /* a; b */;\n-- trailing; comment\n;\n  \n';
    const parts = splitStatements(script);
    expect(parts.map((s) => s.sql)).toEqual(['-- header; with a semicolon\nSELECT 1 /* a; b */']);
    expect(stripComments(parts[0]?.sql ?? '').trim()).toBe('SELECT 1');
  });

  it('reports where each statement starts', () => {
    const script = 'SELECT 1;\n\n  SELECT 2';
    expect(splitStatements(script)).toEqual([
      { sql: 'SELECT 1', offset: 0 },
      { sql: 'SELECT 2', offset: 13 },
    ]);
  });

  it('keeps a last statement without a semicolon, and returns nothing for an empty script', () => {
    expect(splitStatements('SELECT 1').map((s) => s.sql)).toEqual(['SELECT 1']);
    expect(splitStatements('  ;\n;')).toEqual([]);
  });
});

describe('stripComments', () => {
  it('keeps comment markers inside strings and quoted names', () => {
    expect(stripComments("SELECT '-- no', `/* no */` -- yes\n/* yes */1")).toBe("SELECT '-- no', `/* no */` \n1");
  });
});

describe('statementTarget', () => {
  it('reads verb, kind and qualified name of normalized statements', () => {
    expect(statementTarget('CREATE TABLE IF NOT EXISTS analytics.api_latency\n(\n    `a` Int32\n)\nENGINE = Null')).toEqual({ verb: 'CREATE', objectKind: 'TABLE', database: 'analytics', name: 'api_latency', nameStart: 27, nameEnd: 48 });
    expect(statementTarget('CREATE MATERIALIZED VIEW db.mv TO db.t AS SELECT 1')).toMatchObject({ verb: 'CREATE', objectKind: 'MATERIALIZED VIEW', database: 'db', name: 'mv' });
    expect(statementTarget('CREATE OR REPLACE VIEW db.v AS SELECT 1')).toMatchObject({ verb: 'CREATE', objectKind: 'VIEW', name: 'v' });
    expect(statementTarget('CREATE DATABASE IF NOT EXISTS analytics')).toMatchObject({ verb: 'CREATE', objectKind: 'DATABASE', name: 'analytics' });
    expect(statementTarget('DROP TABLE IF EXISTS t SYNC')).toEqual({ verb: 'DROP', objectKind: 'TABLE', name: 't', nameStart: 21, nameEnd: 22 });
    expect(statementTarget('DETACH TABLE db.t PERMANENTLY')).toMatchObject({ verb: 'DETACH', objectKind: 'TABLE', database: 'db', name: 't' });
    expect(statementTarget('INSERT INTO db.t SELECT 1')).toMatchObject({ verb: 'INSERT', database: 'db', name: 't' });
  });

  it('unquotes backquoted names and gives offsets to rewrite them', () => {
    const sql = 'ALTER TABLE `my-db`.`a\\`b` ADD COLUMN x Int32'; // as formatQuery writes it
    const t = statementTarget(sql);
    expect(t).toMatchObject({ verb: 'ALTER', objectKind: 'TABLE', database: 'my-db', name: 'a`b' });
    expect(sql.slice(t.nameStart, t.nameEnd)).toBe('`my-db`.`a\\`b`');
    expect(statementTarget('DROP TABLE `a``b`')).toMatchObject({ name: 'a`b' });
    expect(statementTarget('DROP TABLE `it\'\'s`')).toMatchObject({ name: "it''s" });
  });

  it('reads EXCHANGE TABLES and RENAME TABLE', () => {
    expect(statementTarget('EXCHANGE TABLES a.b AND a.c')).toMatchObject({ verb: 'EXCHANGE', objectKind: 'TABLE', database: 'a', name: 'b' });
    expect(statementTarget('RENAME TABLE a.b TO a.c')).toMatchObject({ verb: 'RENAME', objectKind: 'TABLE', database: 'a', name: 'b' });
  });

  it('does not take the start of a name for the kind', () => {
    expect(statementTarget('CREATE TABLE tables (a Int32)')).toMatchObject({ objectKind: 'TABLE', name: 'tables' });
    expect(statementTarget('DROP VIEW IF EXISTS db.viewer')).toMatchObject({ objectKind: 'VIEW', name: 'viewer' });
  });

  it('says OTHER for what it does not know', () => {
    expect(statementTarget('SELECT 1')).toEqual({ verb: 'OTHER' });
    expect(statementTarget('OPTIMIZE TABLE t')).toEqual({ verb: 'OTHER' });
  });
});

describe('parseSettingsList', () => {
  it('reads strings (unescaped), integers, decimals and bare words in order', () => {
    const settings = parseSettingsList("kafka_broker_list = 'a:1,b:2', kafka_num_consumers = 2, x = 'it\\'s\\n', y = 'it''s', ratio = 1.5, neg = -3, mode = stream");
    expect(settings).toEqual({ kafka_broker_list: 'a:1,b:2', kafka_num_consumers: 2, x: "it's\n", y: "it's", ratio: 1.5, neg: -3, mode: 'stream' });
    expect(Object.keys(settings)).toEqual(['kafka_broker_list', 'kafka_num_consumers', 'x', 'y', 'ratio', 'neg', 'mode']);
  });

  it('returns nothing for an empty list', () => {
    expect(parseSettingsList('')).toEqual({});
  });
});

describe('splitEngineClauses', () => {
  it('splits engine_full into its clauses', () => {
    expect(splitEngineClauses('ReplacingMergeTree(received_at) PARTITION BY toYYYYMM(day) ORDER BY (device_id, ts) PRIMARY KEY device_id TTL day + toIntervalDay(90) SETTINGS index_granularity = 8192')).toEqual({
      engine: 'ReplacingMergeTree(received_at)',
      'PARTITION BY': 'toYYYYMM(day)',
      'ORDER BY': '(device_id, ts)',
      'PRIMARY KEY': 'device_id',
      TTL: 'day + toIntervalDay(90)',
      SETTINGS: 'index_granularity = 8192',
    });
  });

  it('ignores keywords inside parentheses and strings', () => {
    expect(splitEngineClauses("MergeTree ORDER BY (a, 'x ORDER BY y') SETTINGS index_granularity = 8192")).toEqual({
      engine: 'MergeTree',
      'ORDER BY': "(a, 'x ORDER BY y')",
      SETTINGS: 'index_granularity = 8192',
    });
    expect(splitEngineClauses('MergeTree ORDER BY tuple(a) TTL if(a > 0, ts, ts) + toIntervalDay(1)')).toEqual({ engine: 'MergeTree', 'ORDER BY': 'tuple(a)', TTL: 'if(a > 0, ts, ts) + toIntervalDay(1)' });
  });

  it('returns the engine alone when there are no clauses', () => {
    expect(splitEngineClauses('Null')).toEqual({ engine: 'Null' });
  });
});
