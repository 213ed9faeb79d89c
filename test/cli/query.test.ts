/**
 * `chpipe query` through the real CLI: one statement on the embedded target
 * (.chpipe/) and on a served one (--url), in the formats people read and
 * pipe, with --json, from a file or stdin; errors in one sentence.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, chpipe, tempDir, tempProject } from '../helpers/cli.js';
import { startServe, type Served } from '../serve/serving.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n';
const CLICKS = 'name: clicks\nsource:\n  topic: clicks\ncolumns:\n  id: Int64\n  page: String\ntable:\n  order_by: [id]\n';

describe('chpipe query', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempProject({ 'schemas/clicks.yaml': CLICKS }, PROJECT);
    expect(chpipe(['plan', '--save', 'init'], dir).code).toBe(0);
    expect(chpipe(['apply'], dir).code).toBe(0);
  });

  it('runs a statement on .chpipe/ and prints TSVWithNames when piped, any format with --format, rows with --json', () => {
    expect(chpipe(['query', "INSERT INTO analytics.clicks VALUES (1, '/a'), (2, '/b')"], dir)).toMatchObject({ code: 0, stdout: '' });
    expect(chpipe(['query', 'SELECT id, page FROM analytics.clicks ORDER BY id'], dir)).toMatchObject({ code: 0, stdout: 'id\tpage\n1\t/a\n2\t/b\n' });
    expect(chpipe(['query', 'SELECT id, page FROM analytics.clicks ORDER BY id', '--format', 'CSVWithNames'], dir).stdout).toBe('"id","page"\n1,"/a"\n2,"/b"\n');
    // A FORMAT clause wins.
    expect(chpipe(['query', 'SELECT count() AS n FROM analytics.clicks FORMAT JSONEachRow'], dir).stdout).toBe('{"n":2}\n');
    const json = chpipe(['query', '--json', 'SELECT id FROM analytics.clicks ORDER BY id'], dir);
    expect(JSON.parse(json.stdout)).toEqual({ schemaVersion: 1, rows: [{ id: 1 }, { id: 2 }] });
  });

  it('reads the statement from a file or standard input', () => {
    const file = join(tempDir('chpipe-query-file-'), 'q.sql');
    writeFileSync(file, '-- how many\nSELECT count() FROM analytics.clicks\n');
    expect(chpipe(['query', '-f', file, '--format', 'TSV'], dir).stdout).toBe('2\n');
    const piped = spawnSync(process.execPath, [BIN, 'query', '-f', '-', '--format', 'TSV'], { cwd: dir, input: 'SELECT max(id) FROM analytics.clicks', encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(piped.stdout).toBe('2\n');
  });

  it('refuses in one sentence: an engine error, no statement, two statements, both an argument and -f', () => {
    const unknown = chpipe(['query', 'SELECT nope FROM analytics.clicks'], dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Unknown expression identifier `nope`');
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    expect(chpipe(['query'], dir).stderr).toContain('no statement: write e.g. chpipe query');
    expect(chpipe(['query', 'SELECT 1; SELECT 2'], dir).stderr).toContain('runs one statement');
    expect(chpipe(['query', 'SELECT 1', '-f', 'x.sql'], dir).stderr).toContain('not both');
    expect(chpipe(['query', 'SELECT 1', '--format', 'a;b'], dir).code).toBe(1);
  });

  it('on .chpipe/ the engine of this command is confined as serve\'s is: file() inside .chpipe/user_files/ only, no other hosts', () => {
    const passwd = chpipe(['query', "SELECT * FROM file('/etc/passwd', 'LineAsString')"], dir);
    expect(passwd.code).toBe(1);
    expect(passwd.stderr).toContain('File path /etc/passwd is not inside .chpipe/user_files/');
    expect(passwd.stdout).not.toContain('root:');
    expect(chpipe(['query', "INSERT INTO FUNCTION file('kept.csv', 'CSV', 'a UInt8') VALUES (7)"], dir).code).toBe(0);
    expect(readFileSync(join(dir, '.chpipe', 'user_files', 'kept.csv'), 'utf8')).toBe('7\n');
    expect(chpipe(['query', "SELECT * FROM file('kept.csv', 'CSV', 'a UInt8')", '--format', 'TSV'], dir).stdout).toBe('7\n');
    // The engine's own grants (the config every embedded target starts with), not the edge, refuse url().
    const url = chpipe(['query', "SELECT * FROM url('http://127.0.0.1:1/x', 'LineAsString')"], dir);
    expect(url.code).toBe(1);
    expect(url.stderr).toContain('READ ON URL');
  });

  describe('on a served target', () => {
    let served: Served;
    afterAll(async () => {
      await served?.stop();
    });
    it('--url reaches it; without --url the data is reached through the serve that holds .chpipe/', async () => {
      served = await startServe([], dir);
      expect(chpipe(['query', '--url', served.url, 'SELECT count() FROM analytics.clicks', '--format', 'TSV'], dir).stdout).toBe('2\n');
      expect(chpipe(['query', 'SELECT count() FROM analytics.clicks', '--format', 'TSV'], dir).stdout).toBe('2\n');
    });
  });
});
