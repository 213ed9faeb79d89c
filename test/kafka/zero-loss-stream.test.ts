/**
 * Issue 6, defect 2: with `on_error: stream` a queue has two readers (the
 * table's view and the errors view). Adding a column under load must lose no
 * message: every good id exactly once in NAME, every malformed message's
 * offset exactly once in NAME_errors, and rows produced after the change carry
 * the new column. Real broker, real CLI, embedded target.
 *
 * On the planner that dropped the two views one after the other (before the
 * `NAME_hub` fan-out) this lost 15 of 300 malformed messages, in each of
 * three runs: `NAME_mv` kept consuming and committing while `NAME_errors_mv`
 * was already gone.
 */
import { describe, expect, it } from 'vitest';
import { addColumnUnderLoad, describeReport, NO_LOSS, useKafkaTarget } from './zero-loss.js';

const target = useKafkaTarget();

describe('zero loss: a column added under load, on_error: stream (a table and an errors table fed from one queue)', () => {
  it('keeps every good message exactly once, every malformed one exactly once in NAME_errors, and the new column after the change', { timeout: 240_000 }, async () => {
    const r = await addColumnUnderLoad(target(), { label: 'stream', onError: 'stream', malformedEvery: 20 });
    console.log(describeReport('stream', r));
    expect(r.produced.good + r.produced.malformed).toBeGreaterThanOrEqual(5000);
    expect(r.produced.seconds).toBeGreaterThanOrEqual(8);
    expect(r.settled).toBe(true);
    expect(r.counts).toEqual(NO_LOSS);
  });
});
