import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chpipe, ROOT } from '../helpers/cli.js';

describe('the example project at the repository root', () => {
  it('validates: every statement runs on the embedded engine', () => {
    const r = chpipe(['validate', '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ schemaVersion: 1, ok: true, diagnostics: [], pipelines: 7 });
    expect(out.statements).toBe(28);
    expect(r.code).toBe(0);
  });

  it('compiles to the DDL pinned in the golden file', () => {
    const r = chpipe(['compile']);
    expect(r.code).toBe(0);
    const golden = readFileSync(join(ROOT, 'test/cli/golden/examples.sql'), 'utf8');
    expect(r.stdout).toBe(golden);
  });

  it('is deterministic: two compiles give the same bytes', () => {
    expect(chpipe(['compile']).stdout).toBe(chpipe(['compile']).stdout);
  });
});
