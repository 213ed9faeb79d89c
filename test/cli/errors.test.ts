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
