/**
 * Plans around rollups (`from:`, issue 19): an upstream table rebuilt (its sorting key changed) stops the
 * rollups' views before the copy and starts them after the swap, upstream flows last, so a rollup never
 * sees the copied rows twice nor misses a new one; a measure added to a rollup is a caution step on its
 * state table; a rollup removed drops its own objects only. Planned in process on the scratch engine.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

const ORDERS = 'name: orders\nsource: { topic: orders }\ncolumns:\n  order_id: UInt64\n  country: String\n  amount: Float64\n  created_at: DateTime\ntable:\n  order_by: [country, created_at]\n';
const HOURLY = 'name: orders_hourly\nfrom: orders\naggregate:\n  engine: SummingMergeTree\n  by: { country: country, hour: toStartOfHour(created_at) }\n  measures: { orders: count(), revenue: sum(amount) }\n';

type Step = { object: string; action: string; risk: string; reason: string };
const plan = (dir: string): Step[] => {
  const r = chpipe(['plan', '--json'], dir);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { steps: Step[] }).steps;
};

it('an upstream rebuild stops the rollup before the copy and starts it after the swap; a new measure is a caution step', () => {
  const dir = tempProject({ 'schemas/orders.yaml': ORDERS, 'schemas/orders_hourly.yaml': HOURLY });
  expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
  writeFileSync(join(dir, 'schemas/orders.yaml'), ORDERS.replace('order_by: [country, created_at]', 'order_by: [created_at, country]'));
  const steps = plan(dir).map((s) => `${s.action} ${s.object.replace(/^analytics\./, '')}`);
  const at = (step: string) => steps.indexOf(step);
  expect(at('stop orders_hourly_mv')).toBeGreaterThanOrEqual(0);
  expect(at('stop orders_hourly_mv')).toBeLessThan(at('copy orders__chpipe_rebuild'));
  expect(at('start orders_hourly_mv')).toBeGreaterThan(at('swap orders'));
  expect(at('start orders_hourly_mv')).toBeLessThan(at('start orders_mv'));
  expect(steps.filter((s) => s.includes('orders_hourly_state'))).toEqual([]);

  writeFileSync(join(dir, 'schemas/orders.yaml'), ORDERS);
  writeFileSync(join(dir, 'schemas/orders_hourly.yaml'), HOURLY.replace('revenue: sum(amount) }', 'revenue: sum(amount), big: countIf(amount > 100) }'));
  expect(plan(dir).map((s) => `${s.action} ${s.risk} ${s.object}`)).toEqual(['alter caution analytics.orders_hourly_state', 'replace safe analytics.orders_hourly', 'modify_query safe analytics.orders_hourly_mv']);
  expect(readFileSync(join(dir, 'schemas/orders_hourly.yaml'), 'utf8')).toContain('from: orders');
});
