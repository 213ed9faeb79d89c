/**
 * The shapes the language gained (issue 19) compile to the DDL pinned in golden/language.sql: message
 * fields parsed but not stored (read by filter, expr, by keys and measures, behind a hub too), and
 * Kafka virtual columns stored under their own names. The same statements run on every version of
 * the matrix (test/matrix/examples.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { chpipe, ROOT } from '../helpers/cli.js';

const FIXTURE = join(ROOT, 'test/cli/fixtures/language');

it('compiles the language fixture to the DDL pinned in golden/language.sql', () => {
  const r = chpipe(['compile'], FIXTURE);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(readFileSync(join(ROOT, 'test/cli/golden/language.sql'), 'utf8'));
});
