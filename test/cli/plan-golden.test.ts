/** The human plan a reviewer reads in a PR, pinned: the seed pipeline gains a column and its group changes. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { chpipe, ROOT, tempProject } from '../helpers/cli.js';

const SEED = 'name: api_latency\ndescription: API response times\nsource: { topic: kafka_topic_1, format: CSV }\ncolumns:\n  api_id: Int32\n  time_taken: Int32\ntable:\n  order_by: [api_id]\n';

it('renders the plan as pinned in golden/plan-add-column.txt', () => {
  const dir = tempProject({ 'schemas/api_latency.yaml': SEED });
  expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
  writeFileSync(join(dir, 'schemas/api_latency.yaml'), SEED.replace('  time_taken: Int32\n', '  time_taken: Int32\n  country: LowCardinality(String)\n').replace('format: CSV }', 'format: CSV, group: latency_v2 }'));
  const r = chpipe(['plan', '--no-color'], dir);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(readFileSync(join(ROOT, 'test/cli/golden/plan-add-column.txt'), 'utf8'));
  // Not a terminal: 80 columns, reasons wrapped under their steps.
  for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
});
