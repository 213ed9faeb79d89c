/**
 * Control for the zero-loss test: the same change under the same load on a
 * pipeline whose queue has one reader (no `on_error: stream`; no malformed
 * messages, which would stall the partition by design). Passes on today's
 * planner: what the stream test loses is lost by the second reader.
 */
import { describe, expect, it } from 'vitest';
import { addColumnUnderLoad, describeReport, NO_LOSS, useKafkaTarget } from './zero-loss.js';

const target = useKafkaTarget();

describe('zero loss control: a column added under load, one reader per queue', () => {
  it('keeps every message exactly once and the new column after the change', { timeout: 240_000 }, async () => {
    const r = await addColumnUnderLoad(target(), { label: 'control', onError: 'stall', malformedEvery: 0 });
    console.log(describeReport('control', r));
    expect(r.produced.good).toBeGreaterThanOrEqual(5000);
    expect(r.produced.seconds).toBeGreaterThanOrEqual(8);
    expect(r.settled).toBe(true);
    expect(r.counts).toEqual(NO_LOSS);
  });
});
