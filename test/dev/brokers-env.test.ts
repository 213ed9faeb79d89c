/**
 * `chpipe dev` on a project whose brokers are written as `init` writes them,
 * `${KAFKA_BROKERS:-…}`: the declared queue and the one dev created compare
 * equal once both are filled in, so a start on an existing .chpipe/ and a
 * saved change to another pipeline recreate no Kafka table (they did: every
 * queue was dropped and recreated, "brokers change", on every save).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, tempProject } from '../helpers/cli.js';
import { stop } from '../engine/pids.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: ${KAFKA_BROKERS:-127.0.0.1:9}\n';
const CLICKS = 'name: clicks\nsource:\n  topic: clicks\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n';
const VIEWS = 'name: views\nsource:\n  topic: views\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n';

interface Line {
  lastChange: { seq: number; outcome: string; steps?: number } | null;
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started.splice(0)) stop(child.pid);
});

/** A dev process; its JSON lines and stderr, and a wait for a line. */
function startDev(dir: string) {
  const child = spawn(process.execPath, [BIN, 'dev', '--json', '--port', '0', '--interval', '0.5'], { cwd: dir, env: { ...process.env, NO_COLOR: '1', KAFKA_BROKERS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const lines = (): Line[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  const next = async (ok: (l: Line) => boolean, what: string): Promise<Line> => {
    for (let i = 0; i < 600; i++) {
      const found = lines().find(ok);
      if (found) return found;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no line with ${what}; stderr: ${stderr}`);
  };
  const end = async () => {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('close', done));
  };
  return { next, stderr: () => stderr, end };
}

describe('chpipe dev with ${KAFKA_BROKERS:-…} brokers', () => {
  it('recreates no Kafka table on a restart or on a change to another pipeline', async () => {
    const dir = tempProject({ 'schemas/clicks.yaml': CLICKS, 'schemas/views.yaml': VIEWS }, PROJECT);
    const first = startDev(dir);
    const applied = await first.next((l) => l.lastChange?.seq === 1, 'the start applied');
    expect(applied.lastChange?.outcome).toBe('applied');
    // A change to one pipeline: only its table changes; the other pipeline's queue stays.
    writeFileSync(join(dir, 'schemas/views.yaml'), VIEWS.replace('  id: Int64\n', '  id: Int64\n  page: String\n'));
    const changed = await first.next((l) => l.lastChange?.seq === 2, 'the change handled');
    expect(changed.lastChange?.outcome).toBe('applied');
    expect(first.stderr()).not.toContain('brokers change');
    expect(first.stderr()).not.toContain('drop analytics.clicks_queue');
    // The default broker does not answer: dev says so, once, and goes on.
    expect(first.stderr()).toContain('warning[brokers]: the Kafka brokers 127.0.0.1:9 could not be asked');
    // A save that changes nothing declared: nothing to do.
    appendFileSync(join(dir, 'schemas/clicks.yaml'), '# a comment\n');
    const same = await first.next((l) => l.lastChange?.seq === 3, 'the comment handled');
    expect(same.lastChange?.outcome).toBe('unchanged');
    await first.end();

    // Started again on the same .chpipe/: the target already matches.
    const again = startDev(dir);
    const start = await again.next((l) => l.lastChange?.seq === 1, 'the restart');
    expect(start.lastChange?.outcome).toBe('unchanged');
    expect(again.stderr()).not.toContain('brokers change');
    await again.end();
  }, 120_000);
});
