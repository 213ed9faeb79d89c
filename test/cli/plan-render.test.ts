/** The human plan at a terminal's width: reasons wrap under their step, between words, never inside one. */
import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/plan/plan.js';
import { renderPlan, wrap } from '../../src/report/plan.js';
import { makePaint } from '../../src/report/paint.js';

const paint = await makePaint(false);

function step(object: string, action: Step['action'], risk: Step['risk'], reason: string, pipeline = 'api_latency'): Step {
  // Rendering reads object, pipeline, action, risk, reason and sql; the typed operation is not shown.
  return { object, pipeline, action, risk, reason, sql: `-- ${object}`, op: undefined as unknown as Step['op'] };
}

const LONG = 'consumer group changes from chpipe_analytics_api_latency to latency_v2: the new group starts at the earliest retained offset; messages will be re-read';
const STEPS = [
  step('analytics.api_latency', 'alter', 'safe', 'add column country (existing rows take its default; metadata only)'),
  step('analytics.api_latency_queue', 'create', 'caution', LONG),
  step('analytics.api_latency_mv', 'start', 'safe', 'restart the flow api_latency_mv'),
];

describe('wrap', () => {
  it('breaks between words only, each line within the width', () => {
    const lines = wrap(LONG, 40, '    ');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
    expect(lines.map((l) => l.trim()).join(' ')).toBe(LONG);
  });

  it('gives a word longer than the width a line of its own, whole', () => {
    const word = 'x'.repeat(50);
    expect(wrap(`a ${word} b`, 20)).toEqual(['a', word, 'b']);
  });
});

describe('renderPlan', () => {
  it('at 80 columns: every line fits, each reason under its step, its words intact', () => {
    const text = renderPlan(STEPS, paint, { sql: false, title: 'the migrated state (1 migration)', width: 80 });
    const lines = text.split('\n');
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(lines).toContain('    2. + create       analytics.api_latency_queue  caution');
    const at = lines.indexOf('    2. + create       analytics.api_latency_queue  caution');
    const under: string[] = [];
    for (let i = at + 1; lines[i]?.startsWith('         '); i++) under.push((lines[i] as string).trim());
    expect(under.length).toBeGreaterThan(1);
    expect(under.join(' ')).toBe(LONG);
    expect(text).toContain('Plan: 2 to create, 1 to change, 0 to recreate, 0 to destroy\n      3 steps: 2 safe, 1 caution, 0 destructive');
  });

  it('honours a wide terminal: each step and its reason on one line', () => {
    const text = renderPlan(STEPS, paint, { sql: false, title: 'x', width: 240 });
    expect(text).toContain(`    2. + create       analytics.api_latency_queue  caution     ${LONG}`);
    expect(text).toContain('Plan: 2 to create, 1 to change, 0 to recreate, 0 to destroy · 3 steps: 2 safe, 1 caution, 0 destructive');
  });

  it('defaults to 80 columns', () => {
    expect(renderPlan(STEPS, paint, { sql: false, title: 'x' })).toBe(renderPlan(STEPS, paint, { sql: false, title: 'x', width: 80 }));
  });
});
