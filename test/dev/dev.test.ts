/**
 * A real `chpipe dev --json --port 0` process in a temporary project (brokers
 * 127.0.0.1:9: no broker; rows are inserted over the served HTTP port): it
 * applies and serves, its JSON lines follow the rows, saved changes apply
 * live (invalid or destructive ones apply nothing), and SIGTERM stops it
 * within 5 s with the data kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, chpipe, tempProject } from '../helpers/cli.js';
import { stop } from '../engine/pids.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n';
const pipeline = (columns: string) => `name: api_latency\nsource:\n  topic: t1\n  format: CSV\ncolumns:\n${columns}table:\n  order_by: [api_id]\n`;
const OTHER = 'name: clicks\nsource:\n  topic: t2\n  format: JSONEachRow\n  on_error: stream\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n';

interface Line {
  url: string;
  pipelines: { name: string; rows: number; errors: number; lag: number | null }[];
  lastChange: { seq: number; outcome: string } | null;
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started.splice(0)) stop(child.pid);
});

async function post(url: string, sql: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', body: sql });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${sql}: ${text}`);
  return text;
}

describe('chpipe dev', () => {
  it('applies, serves, follows rows, applies saved changes live, refuses invalid and destructive ones, and stops on SIGTERM with the data kept', async () => {
    const dir = tempProject({ 'schemas/api.yaml': pipeline('  api_id: Int32\n  time_taken: Int32\n'), 'schemas/clicks.yaml': OTHER }, PROJECT);
    const child = spawn(process.execPath, [BIN, 'dev', '--json', '--port', '0', '--interval', '0.5'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('close', (code, signal) => done({ code, signal })));
    const lines = (): Line[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
    /** The first line after `after` lines that satisfies `ok`. */
    const next = async (after: number, ok: (l: Line) => boolean, what: string): Promise<Line> => {
      for (let i = 0; i < 400; i++) {
        const found = lines().slice(after).find(ok);
        if (found) return found;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no line with ${what}; stderr: ${stderr}`);
    };

    const first = await next(0, (l) => l.lastChange?.seq === 1, 'the start applied');
    expect(first.lastChange?.outcome).toBe('applied');
    expect(first.pipelines.map((p) => p.name)).toEqual(['api_latency', 'clicks']);
    expect(first.pipelines.map((p) => [p.rows, p.errors])).toEqual([[0, 0], [0, 0]]);
    expect(await post(first.url, 'SELECT 1')).toBe('1\n');
    expect(stderr).toContain('not saved: run `chpipe plan --save NAME` to keep it');
    // A consumer thread per Kafka table (plus a margin), from the config dev wrote.
    // Two pipelines, two Kafka tables: 2 + the margin of 8 (the engine's default on 2 cores is 2).
    expect(Number(await post(first.url, "SELECT value FROM system.server_settings WHERE name = 'background_message_broker_schedule_pool_size'"))).toBe(10);
    // The consumers' 6 s session timeout (the handover after a recreate), in the engine config dev wrote.
    expect(readFileSync(join(dir, '.chpipe', 'engine-config.xml'), 'utf8')).toContain('<session_timeout_ms>6000</session_timeout_ms>');

    await post(first.url, 'INSERT INTO analytics.api_latency VALUES (1, 2), (3, 4), (5, 6)');
    await post(first.url, "INSERT INTO analytics.clicks_errors (received_at, topic, partition, offset, raw_message, error) VALUES (now(), 't2', 0, 7, 'x', 'Cannot parse input')");
    let seen = lines().length;
    const counted = await next(seen, (l) => l.pipelines[0]?.rows === 3, '3 rows');
    expect(counted.pipelines[1]).toMatchObject({ name: 'clicks', rows: 0, errors: 1 });

    // Add a column: applied live, lines keep coming.
    writeFileSync(join(dir, 'schemas/api.yaml'), pipeline('  api_id: Int32\n  time_taken: Int32\n  region: String\n'));
    seen = lines().length;
    const added = await next(seen, (l) => l.lastChange?.seq === 2, 'the change handled');
    expect(added.lastChange?.outcome).toBe('applied');
    expect(await post(first.url, "SELECT name FROM system.columns WHERE database = 'analytics' AND table = 'api_latency' ORDER BY position")).toBe('api_id\ntime_taken\nregion\n');
    await next(lines().length, (l) => l.pipelines[0]?.rows === 3, 'lines after the change');

    // Invalid YAML: diagnostics, nothing applied.
    writeFileSync(join(dir, 'schemas/api.yaml'), 'name: api_latency\nsourse: 1\n');
    const invalid = await next(lines().length, (l) => l.lastChange?.seq === 3, 'the invalid file handled');
    expect(invalid.lastChange?.outcome).toBe('invalid');
    expect(stderr).toContain('error[unknown-key]: unknown key "sourse"');

    // Destructive (a column dropped): refused without --allow-destructive, nothing applied.
    writeFileSync(join(dir, 'schemas/api.yaml'), pipeline('  api_id: Int32\n  time_taken: Int32\n'));
    const refused = await next(lines().length, (l) => l.lastChange?.seq === 4, 'the destructive change handled');
    expect(refused.lastChange?.outcome).toBe('refused');
    expect(stderr).toContain('--allow-destructive');
    expect(await post(first.url, "SELECT count() FROM system.columns WHERE database = 'analytics' AND table = 'api_latency'")).toBe('3\n');

    const t0 = Date.now();
    child.kill('SIGTERM');
    const end = await ended;
    const ms = Date.now() - t0;
    expect([end.code, end.signal]).toEqual([0, null]);
    expect(ms).toBeLessThan(5000);
    console.log(`[dev] stopped ${ms} ms after SIGTERM`);

    const status = chpipe(['status', '--json'], dir);
    expect(status.code).toBe(0);
    // status opened .chpipe/ itself: the rows dev kept are there for the next start.
    const again = spawn(process.execPath, [BIN, 'dev', '--json', '--port', '0'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(again);
    let out2 = '';
    again.stdout?.setEncoding('utf8').on('data', (c: string) => (out2 += c));
    const closed = new Promise((done) => again.once('close', done));
    for (let i = 0; i < 400 && !out2.includes('\n'); i++) await new Promise((r) => setTimeout(r, 100));
    const line = JSON.parse(out2.split('\n')[0] as string) as Line;
    expect(line.pipelines[0]).toMatchObject({ name: 'api_latency', rows: 3 });
    again.kill('SIGTERM');
    await closed;
  }, 90_000);
});
