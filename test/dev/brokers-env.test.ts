/**
 * `chpipe dev` on a project whose brokers are written as `init` writes them,
 * `${KAFKA_BROKERS:-…}`: the declared queue and the one dev created compare
 * equal once both are filled in, so a start on an existing .chpipe/ and a
 * saved change to another pipeline recreate no Kafka table (they did: every
 * queue was dropped and recreated, "brokers change", on every save).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempProject } from '../helpers/cli.js';
import { startDev } from '../helpers/dev.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: ${KAFKA_BROKERS:-127.0.0.1:9}\n';
const CLICKS = 'name: clicks\nsource:\n  topic: clicks\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n';
const VIEWS = 'name: views\nsource:\n  topic: views\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n';

describe('chpipe dev with ${KAFKA_BROKERS:-…} brokers', () => {
  it('recreates no Kafka table on a restart or on a change to another pipeline', async () => {
    const dir = tempProject({ 'schemas/clicks.yaml': CLICKS, 'schemas/views.yaml': VIEWS }, PROJECT);
    const first = startDev(dir, ['--interval', '0.5'], { KAFKA_BROKERS: '' });
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
    const again = startDev(dir, ['--interval', '0.5'], { KAFKA_BROKERS: '' });
    const start = await again.next((l) => l.lastChange?.seq === 1, 'the restart');
    expect(start.lastChange?.outcome).toBe('unchanged');
    expect(again.stderr()).not.toContain('brokers change');
    await again.end();
  }, 120_000);
});
