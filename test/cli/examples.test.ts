import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chpipe, ROOT, tempDir } from '../helpers/cli.js';

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

describe("the README's main job: `chpipe apply` on a fresh clone", () => {
  it('applies the example migrations to the embedded default in .chpipe/ and prints the objects per pipeline; then nothing is pending and nothing drifted', () => {
    // A fresh clone's project files, without a .chpipe/ folder.
    const dir = tempDir('chpipe-clone-');
    for (const f of ['chpipe.yaml', 'schemas', 'migrations']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    const r = chpipe(['apply'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^target: \.chpipe\/ \(ClickHouse 26\.7[\d.]*\)\napplying 0001_initial\.sql: 28 statements\napplied 0001_initial\.sql in /);
    expect(r.stdout).toContain('Applied 1 migration to .chpipe/.\nanalytics: 7 pipelines, 27 objects\n');
    for (const pipeline of ['api_latency', 'app_logs', 'campaign_hourly', 'errors_per_minute', 'overheat_alerts', 'sensor_5m', 'sensor_readings']) expect(r.stdout).toMatch(new RegExp(`^  ${pipeline}\\n    ${pipeline}_`, 'm'));
    expect(r.stdout).toContain('    app_logs_hub_mv (view app_logs_queue → app_logs_hub)');
    const again = chpipe(['apply', '--detailed-exitcode'], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to apply: all 1 migration is applied on .chpipe/.');
    const status = chpipe(['status', '--json'], dir);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as { consumers: { table: string; lag: unknown; notes: string[] }[] };
    expect(s).toMatchObject({ schemaVersion: 1, migrations: [{ version: '0001', name: 'initial', state: 'applied' }], drift: [] });
    // No broker on localhost:9092 here: each of the 7 queues says its lag is unknown, and status still succeeds.
    expect(s.consumers.map((c) => c.table).sort()).toEqual(['api_latency_queue', 'app_logs_queue', 'campaign_hourly_queue', 'errors_per_minute_queue', 'overheat_alerts_queue', 'sensor_5m_queue', 'sensor_readings_queue']);
    for (const c of s.consumers) {
      expect(c.lag).toBeNull();
      expect(c.notes.join(' ')).toMatch(/^lag unknown:/);
    }
  });
});
