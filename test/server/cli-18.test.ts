/**
 * The built CLI (dist/, `npm run build` first) named a target with a password,
 * against the run's ClickHouse 18.16: the commands that reach a target answer
 * with the version gate's one sentence (so the credentials did reach the
 * server), exit 1, and never print the password, whether it came in --url,
 * CHPIPE_URL, CLICKHOUSE_PASSWORD or chpipe.yaml's environments. `pull` (not
 * built yet) must not print it either.
 */
import { describe, expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';
import { USERS } from './clickhouse-18.js';
import { clickhouse18 } from './server.js';

const { httpPort } = clickhouse18();
const WITH_PASSWORD = `http://tester:${USERS.tester}@127.0.0.1:${httpPort}`;
const API = ['name: api_latency', 'source: { topic: api, format: CSV }', 'columns:', '  api_id: Int32', '  time_taken: Int32', 'table:', '  order_by: [api_id]', ''].join('\n');

const GATE = `error: the target at http://127.0.0.1:${httpPort} runs ClickHouse 18.16.1, and chpipe needs 24.8 or later\n`;

function expectOneErrorLineWithoutPassword(r: { code: number; stdout: string; stderr: string }, expected?: string): void {
  expect(r.code).toBe(1);
  expect(r.stdout).not.toContain(USERS.tester);
  expect(r.stderr).not.toContain(USERS.tester);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^error: /);
  if (expected !== undefined) expect(r.stderr).toBe(expected);
}

describe('a target URL with a password, given to the CLI', () => {
  const project = tempProject({ 'schemas/api_latency.yaml': API });

  for (const command of ['plan', 'apply', 'status', 'check']) {
    it(`${command} --url http://tester:PASSWORD@127.0.0.1:PORT: the version gate's sentence, no password`, () => {
      expectOneErrorLineWithoutPassword(chpipe([command, '--url', WITH_PASSWORD], project), GATE);
    });
  }

  it('pull --url http://tester:PASSWORD@127.0.0.1:PORT: exit 1, one error line, no password', () => {
    expectOneErrorLineWithoutPassword(chpipe(['pull', '--url', WITH_PASSWORD], project));
  });

  it('CHPIPE_URL with the password in it', () => {
    expectOneErrorLineWithoutPassword(chpipe(['plan'], project, { CHPIPE_URL: WITH_PASSWORD }), GATE);
  });

  it('CLICKHOUSE_USER and CLICKHOUSE_PASSWORD', () => {
    expectOneErrorLineWithoutPassword(chpipe(['status', '--url', `http://127.0.0.1:${httpPort}`], project, { CLICKHOUSE_USER: 'tester', CLICKHOUSE_PASSWORD: USERS.tester }), GATE);
  });

  it('a wrong password: the credentials sentence, without it', () => {
    const r = chpipe(['status', '--url', `http://tester:n0t-the-pass@127.0.0.1:${httpPort}`], project);
    expectOneErrorLineWithoutPassword(r);
    expect(r.stderr).toMatch(/^error: the target at http:\/\/127\.0\.0\.1:\d+ refused the credentials of user "tester"/);
    expect(r.stderr).not.toContain('n0t-the-pass');
  });

  it('--env NAME from chpipe.yaml environments', () => {
    const dir = tempProject({ 'schemas/api_latency.yaml': API }, `version: 1\ndatabase: analytics\nkafka:\n  brokers: localhost:9092\nenvironments:\n  old:\n    url: ${WITH_PASSWORD}\n`);
    expectOneErrorLineWithoutPassword(chpipe(['plan', '--env', 'old'], dir), GATE);
  });
});
