import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { chpipe, tempDir } from '../helpers/cli.js';

it('init scaffolds a project that validates, compiles and plans; it never overwrites', () => {
  const parent = tempDir('chpipe-init-');
  const r = chpipe(['init', 'shop'], parent);
  expect(r.code).toBe(0);
  // What to run next, as typed in a shell (test/cli/newcomer.test.ts runs it in an installed project).
  expect(r.stdout).toMatch(/^Next: cd shop && npx chpipe validate && npx chpipe plan$/m);
  expect(chpipe(['init', 'my shop'], parent).stdout).toMatch(/^Next: cd 'my shop' && npx chpipe validate && npx chpipe plan$/m);
  const dir = join(parent, 'shop');
  for (const f of ['chpipe.yaml', 'schemas/api_latency.yaml', '.gitignore']) expect(existsSync(join(dir, f)), f).toBe(true);
  expect(existsSync(join(dir, 'migrations'))).toBe(true);
  // The project's own node_modules/ (chpipe installed from npm) stays out of git too.
  expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toBe('.chpipe/\nnode_modules/\n');
  expect(readFileSync(join(dir, 'chpipe.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=/);
  expect(chpipe(['validate'], dir).code).toBe(0);
  const ddl = chpipe(['compile'], dir);
  expect(ddl.code).toBe(0);
  expect(ddl.stdout).toContain("kafka_group_name = 'chpipe_analytics_api_latency'");
  expect(chpipe(['plan', '--detailed-exitcode'], dir).code).toBe(2);

  const again = chpipe(['init', 'shop'], parent);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/already exists; chpipe init never overwrites/);
  expect(again.stderr).not.toMatch(/\n\s+at /);
});

it('init DIR --from-topic that fails leaves nothing behind: no half-made DIR, and an existing folder as it was', () => {
  const parent = tempDir('chpipe-init-failed-');
  const r = chpipe(['init', 'shop', '--from-topic', 'orders', '--brokers', 'http://127.0.0.1:39292'], parent);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('has a scheme (http://)');
  expect(existsSync(join(parent, 'shop'))).toBe(false);
  mkdirSync(join(parent, 'kept'));
  expect(chpipe(['init', 'kept', '--from-topic', 'orders', '--brokers', '127.0.0.1'], parent).code).toBe(1);
  expect(readdirSync(join(parent, 'kept'))).toEqual([]);
});
