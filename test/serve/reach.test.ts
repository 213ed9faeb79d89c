/**
 * The request edge's reading of what a statement may reach (pure): file()
 * paths however they are spelled, the other file functions, FROM INFILE and
 * database engines. The real server's answers are in web-safety.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { reachRefusal, type ReachPolicy } from '../../src/serve/reach.js';
import { statementReach } from '../../src/sql/statement.js';

const policy: ReachPolicy = { userFiles: ['/p/.chpipe/user_files', '/real/user_files'], shownUserFiles: '.chpipe/user_files/', remoteSources: false, command: 'serve' };
const refused = (sql: string, p = policy) => reachRefusal(sql, p, '26.7')?.text;

describe('statementReach', () => {
  it('reads every call, its first string argument however it is quoted, FROM INFILE and a database engine', () => {
    expect(statementReach("SELECT file('a.txt'), `file`($$b$$), \"FILE\"('c\\x2fd'), lower(x) FROM t").calls).toEqual([
      { name: 'file', firstString: 'a.txt' },
      { name: 'file', firstString: 'b' },
      { name: 'FILE', firstString: 'c/d' },
      { name: 'lower' },
    ]);
    expect(statementReach("SELECT file('a' || 'b')").calls).toEqual([{ name: 'file' }]);
    expect(statementReach("INSERT INTO t FROM INFILE '/etc/passwd' FORMAT CSV").fromInfile).toBe(true);
    // After FORMAT an INSERT's data is not SQL; VALUES are.
    expect(statementReach("INSERT INTO t FORMAT CSV file('/etc/passwd')").calls).toEqual([]);
    expect(statementReach("INSERT INTO t VALUES (file('/etc/passwd'))").calls).toContainEqual({ name: 'file', firstString: '/etc/passwd' });
    expect(statementReach('CREATE DATABASE IF NOT EXISTS x ENGINE = Filesystem(\'/etc\')').databaseEngine).toBe('Filesystem');
    expect(statementReach('CREATE TABLE x (a Int8) ENGINE = Memory').databaseEngine).toBeUndefined();
    // Comments and strings hide nothing and invent nothing.
    expect(statementReach("SELECT 'file(1)' /* file('/x') */ -- file('/y')\n").calls).toEqual([]);
  });
});

describe('reachRefusal', () => {
  it('lets file() reach the user files folder only', () => {
    expect(refused("SELECT * FROM file('in.csv')")).toBeUndefined();
    expect(refused("SELECT * FROM file('sub/*.csv')")).toBeUndefined();
    expect(refused("SELECT * FROM file('/p/.chpipe/user_files/in.csv')")).toBeUndefined();
    expect(refused("SELECT * FROM file('/real/user_files/in.csv')")).toBeUndefined();
    expect(refused("SELECT * FROM file('/etc/passwd')")).toContain('File path /etc/passwd is not inside .chpipe/user_files/');
    expect(refused("SELECT * FROM file('/p/.chpipe/user_files_other/x')")).toContain('is not inside');
    expect(refused("SELECT * FROM file('sub/../../../etc/passwd')")).toContain('is not inside');
    expect(refused("SELECT * FROM file('{a,../../x}')")).toContain('is not inside');
    expect(refused("SELECT * FROM FILE('/etc/passwd')")).toContain('is not inside');
    expect(refused('SELECT * FROM file({p:String})')).toContain('as a string literal');
    expect(refused("SELECT * FROM fileCluster('c', 'in.csv')")).toContain('refuses fileCluster()');
    expect(refused("SELECT * FROM filesystem('/')")).toContain('refuses filesystem()');
    expect(refused("INSERT INTO t FROM INFILE 'in.csv' FORMAT CSV")).toContain('refuses FROM INFILE');
  });

  it('allows local database engines, remote ones only with --allow-remote-sources, file ones never', () => {
    expect(refused('CREATE DATABASE a')).toBeUndefined();
    expect(refused('CREATE DATABASE a ENGINE = Atomic')).toBeUndefined();
    expect(refused("CREATE DATABASE a ENGINE = PostgreSQL('h:5432', 'db', 'u', 'p')")).toContain('--allow-remote-sources');
    expect(refused("CREATE DATABASE a ENGINE = PostgreSQL('h:5432', 'db', 'u', 'p')", { ...policy, remoteSources: true })).toBeUndefined();
    expect(refused("ATTACH DATABASE a ENGINE = SQLite('/x.db')", { ...policy, remoteSources: true })).toContain('ENGINE = SQLite');
    expect(refused("CREATE DATABASE a ENGINE = Filesystem('/')", { ...policy, remoteSources: true })).toContain('ENGINE = Filesystem');
  });
});
