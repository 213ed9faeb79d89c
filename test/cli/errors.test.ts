/**
 * `chpipe errors` through the real CLI on the embedded target: the latest
 * rows of the errors tables (when, topic/partition/offset, the error, the raw
 * message), per pipeline, --since, --limit, --json; pipelines without an
 * errors table and an unknown pipeline said in one sentence.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n';
const pipeline = (name: string, onError: string) => `name: ${name}\nsource:\n  topic: ${name}\n  on_error: ${onError}\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n`;

interface Json {
  schemaVersion: number;
  pipelines: string[];
  errors: { pipeline: string; received_at: string; topic: string; partition: number; offset: number; error: string; raw_message: string }[];
}

describe('chpipe errors', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempProject({ 'schemas/clicks.yaml': pipeline('clicks', 'stream'), 'schemas/views.yaml': pipeline('views', 'stream'), 'schemas/plain.yaml': pipeline('plain', 'skip') }, PROJECT);
    expect(chpipe(['plan', '--save', 'init'], dir).code).toBe(0);
    expect(chpipe(['apply'], dir).code).toBe(0);
    // What the Kafka tables would have kept: a recent error per stream, and an old one in clicks.
    const insert = (table: string, when: string, offset: number, raw: string) =>
      expect(chpipe(['query', `INSERT INTO analytics.${table} (received_at, topic, partition, offset, raw_message, error) VALUES (${when}, '${table.replace('_errors', '')}', 1, ${offset}, '${raw}', 'Cannot parse input: expected \\'{\\' before: ${raw}')`], dir).code).toBe(0);
    insert('clicks_errors', 'now() - INTERVAL 3 HOUR', 10, 'old garbage');
    insert('clicks_errors', 'now() - INTERVAL 1 MINUTE', 11, 'id=7');
    insert('views_errors', 'now()', 5, '{"id": ');
  });

  it('lists the latest errors of every pipeline, newest first, with where and what', () => {
    const r = chpipe(['errors'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ {2}clicks {2}clicks\/1 offset 11\n {2}error: Cannot parse input: expected '\{' before: id=7\n {2}message: "id=7"/);
    expect(r.stdout).toContain('views  views/1 offset 5');
    expect(r.stdout).toContain('clicks/1 offset 10');
    const json = JSON.parse(chpipe(['errors', '--json'], dir).stdout) as Json;
    expect(json.pipelines.sort()).toEqual(['clicks', 'views']);
    expect(json.errors.map((e) => [e.pipeline, e.offset])).toEqual([
      ['views', 5],
      ['clicks', 11],
      ['clicks', 10],
    ]);
    expect(json.errors[0]).toMatchObject({ topic: 'views', partition: 1, raw_message: '{"id": ' });
  });

  it('one pipeline, --since and --limit', () => {
    const clicks = JSON.parse(chpipe(['errors', 'clicks', '--json'], dir).stdout) as Json;
    expect(clicks.errors.map((e) => e.offset)).toEqual([11, 10]);
    const recent = JSON.parse(chpipe(['errors', 'clicks', '--since', '1h', '--json'], dir).stdout) as Json;
    expect(recent.errors.map((e) => e.offset)).toEqual([11]);
    const limited = JSON.parse(chpipe(['errors', '--limit', '1', '--json'], dir).stdout) as Json;
    expect(limited.errors.map((e) => [e.pipeline, e.offset])).toEqual([
      ['views', 5],
      ['clicks', 11],
    ]);
  });

  it('says so in one sentence: no errors table, an unknown pipeline, a bad --since', () => {
    expect(chpipe(['errors', 'plain'], dir).stdout).toContain('pipeline plain has no errors table');
    const unknown = chpipe(['errors', 'nope'], dir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no pipeline nope is declared; the pipelines are');
    expect(chpipe(['errors', '--since', 'yesterday'], dir).stderr).toContain('is not a duration');
  });
});

describe('chpipe errors replay', () => {
  it('inserts the kept messages that parse with today\'s declaration, each once; a second replay inserts nothing', () => {
    const pipeline = (amountType: string) => `name: orders\nsource:\n  topic: orders\n  on_error: stream\ncolumns:\n  id: Int64\n  amount: ${amountType}\ntable:\n  order_by: [id]\n`;
    const dir = tempProject({ 'schemas/orders.yaml': pipeline('String') }, PROJECT);
    expect(chpipe(['plan', '--save', 'init'], dir).code).toBe(0);
    expect(chpipe(['apply'], dir).code).toBe(0);
    // Kept by the errors stream while amount was declared another way: two now parse, one never will.
    const keep = (offset: number, raw: string) =>
      expect(chpipe(['query', `INSERT INTO analytics.orders_errors (received_at, topic, partition, offset, raw_message, error) VALUES (now(), 'orders', 0, ${offset}, ${JSON.stringify(raw).replace(/^"|"$/g, "'")}, 'Cannot parse input')`], dir).code).toBe(0);
    keep(3, '{"id": 3, "amount": "12.50"}');
    keep(4, '{"id": 4, "amount": "7"}');
    keep(5, 'not a message');
    const first = chpipe(['errors', 'replay', 'orders', '--json'], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ pipeline: 'orders', candidates: 3, replayed: 2, stillFailing: 1, firstFailure: { at: 'orders/0 offset 5' } });
    expect(chpipe(['query', 'SELECT id, amount FROM analytics.orders ORDER BY id', '--format', 'TSV'], dir).stdout).toBe('3\t12.50\n4\t7\n');
    // The errors flow did not keep them again.
    expect(chpipe(['query', 'SELECT count() FROM analytics.orders_errors', '--format', 'TSV'], dir).stdout).toBe('3\n');
    const second = chpipe(['errors', 'replay', 'orders'], dir);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('replayed 0 of 1 kept message');
    expect(second.stdout).toContain('1 still do not parse');
    expect(chpipe(['query', 'SELECT count() FROM analytics.orders', '--format', 'TSV'], dir).stdout).toBe('2\n');
  }, 60_000);

  it('refuses in one sentence a pipeline without an errors table, and one not declared', () => {
    const dir = tempProject({ 'schemas/plain.yaml': pipeline('plain', 'skip') }, PROJECT);
    expect(chpipe(['plan', '--save', 'init'], dir).code).toBe(0);
    expect(chpipe(['apply'], dir).code).toBe(0);
    expect(chpipe(['errors', 'replay', 'plain'], dir).stderr).toContain('pipeline plain has no errors table on the target');
    expect(chpipe(['errors', 'replay', 'nope'], dir).stderr).toContain('no pipeline nope is declared');
    expect(chpipe(['errors', 'replay'], dir).stderr).toContain('name the pipeline to replay');
  }, 60_000);
});
