/** The memo in .chpipe/cache reuses the engine's answers only for identical questions on the same engine version. */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

const SEED = 'name: api_latency\nsource: { topic: t, format: CSV }\ncolumns:\n  api_id: Int32\n  time_taken: Int32\ntable:\n  order_by: [api_id]\n';

it('validate remembers a passing set of statements, and checks any change again', () => {
  const dir = tempProject({ 'schemas/a.yaml': SEED });
  const first = JSON.parse(chpipe(['validate', '--json'], dir).stdout);
  expect(first).toMatchObject({ ok: true, cached: false });
  expect(readdirSync(join(dir, '.chpipe/cache')).some((f) => f.startsWith('declared-'))).toBe(true);
  expect(JSON.parse(chpipe(['validate', '--json'], dir).stdout)).toMatchObject({ ok: true, cached: true });
  expect(JSON.parse(chpipe(['validate', '--json', '--no-cache'], dir).stdout)).toMatchObject({ ok: true, cached: false });
  expect(JSON.parse(chpipe(['validate', '--json'], dir, { CHPIPE_NO_CACHE: '1' }).stdout)).toMatchObject({ ok: true, cached: false });

  // A change the compiler accepts but the engine refuses when it runs the table: found, not hidden by the memo.
  writeFileSync(join(dir, 'schemas/a.yaml'), SEED.replace('order_by: [api_id]', 'order_by: [api_id]\n  ttl: toDate(\'2020-01-01\') + INTERVAL 1 DAY'));
  const changed = chpipe(['validate', '--json'], dir);
  expect(changed.code).toBe(1);
  expect(JSON.parse(changed.stdout).diagnostics[0]).toMatchObject({ code: 'engine-rejected', file: 'schemas/a.yaml' });
});

it('--no-cache writes no cache; plan after --save finds the saved state without replaying', () => {
  const dir = tempProject({ 'schemas/a.yaml': SEED });
  expect(chpipe(['validate', '--no-cache'], dir).code).toBe(0);
  expect(existsSync(join(dir, '.chpipe/cache'))).toBe(false);
  expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
  const migrated = readdirSync(join(dir, '.chpipe/cache')).filter((f) => f.startsWith('migrated-'));
  expect(migrated.length).toBe(2); // the empty history, and the state after 0001 as the proven plan reached it
  expect(chpipe(['plan', '--detailed-exitcode'], dir).code).toBe(0);
  // An edited migration is another history: replayed, not taken from the memo.
  writeFileSync(join(dir, 'migrations/0001_initial.sql'), '-- emptied by hand\n');
  const r = chpipe(['plan', '--detailed-exitcode'], dir);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('0001_initial.sql was edited after it was generated');
});
