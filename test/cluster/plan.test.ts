/**
 * `chpipe plan` in cluster mode (docs/cluster.md): migration files with ON
 * CLUSTER replayed on the scratch engine the way each node's DDL worker runs
 * them; plan --save, replay and check; a change planned with the same
 * Kafka-safe steps as on one server plus the Distributed table's ALTER; and
 * switching a single-server project to a cluster, planned as a rebuild.
 */
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitStatements } from '../../src/sql/parse.js';
import { chpipe, ROOT, tempDir } from '../helpers/cli.js';

const PROJECT = readFileSync(join(ROOT, 'chpipe.yaml'), 'utf8');

function project(cluster?: string): string {
  const dir = tempDir('chpipe-cluster-plan-');
  cpSync(join(ROOT, 'schemas'), join(dir, 'schemas'), { recursive: true });
  writeFileSync(join(dir, 'chpipe.yaml'), cluster === undefined ? PROJECT : withCluster(PROJECT, cluster));
  return dir;
}

function withCluster(yaml: string, cluster: string): string {
  return yaml.replace(/^database: analytics$/m, `database: analytics\ncluster: ${cluster}`);
}

type PlanStep = { object: string; action: string; risk: string; reason: string; sql: string };

function planJson(dir: string): { steps: PlanStep[] } {
  const r = chpipe(['plan', '--json'], dir);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

function migration(dir: string, n: number): string {
  const files = readdirSync(join(dir, 'migrations')).filter((f) => f.endsWith('.sql')).sort();
  return readFileSync(join(dir, 'migrations', files[n - 1] as string), 'utf8');
}

/**
 * The same change to api_latency's `time_taken` line in a single-server project and in a cluster project, both
 * with their first migration saved: the cluster project and both plans' steps.
 */
function sameChange(timeTaken: string): { cluster: string; one: PlanStep[]; many: PlanStep[] } {
  const single = project();
  const cluster = project('prod');
  for (const dir of [single, cluster]) {
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    const file = join(dir, 'schemas', 'api_latency.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {2}time_taken: Int32$/m, timeTaken));
  }
  return { cluster, one: planJson(single).steps, many: planJson(cluster).steps };
}

// Each test runs the CLI synchronously (several runs of about 10 s each): under a loaded machine the first took over 60 s.
describe.concurrent('plan on a cluster project', { timeout: 180_000 }, () => {
  it('plans the examples, saves migration files with ON CLUSTER on every statement, replays them to "no changes", and check passes', () => {
    const dir = project('prod');
    const first = planJson(dir);
    expect(first.steps).toHaveLength(35);
    for (const s of first.steps) expect(s.sql, s.object).toContain(' ON CLUSTER prod');
    const saved = chpipe(['plan', '--save', 'initial'], dir);
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    const statements = splitStatements(migration(dir, 1));
    expect(statements).toHaveLength(35);
    for (const s of statements) expect(s.sql).toContain(' ON CLUSTER prod');
    expect(migration(dir, 1)).toContain("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')");
    const again = chpipe(['plan'], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^No changes\./m);
    const check = chpipe(['check'], dir);
    expect(check.stderr).toBe('');
    expect(check.stdout).toMatch(/ok: the migrations build exactly the declared pipelines/);
    expect(check.code).toBe(0);
  });

  it('a cluster name that needs quoting works the same', () => {
    const dir = project('metrics-prod');
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    expect(migration(dir, 1)).toContain('ON CLUSTER `metrics-prod`');
    expect(chpipe(['plan'], dir).stdout).toMatch(/^No changes\./m);
  });

  it('adding a column plans the single-server steps, ON CLUSTER, plus ADD COLUMN on the Distributed table', () => {
    const { cluster, one, many } = sameChange('  time_taken: Int32\n  region: String');
    // The same steps, in the same order, on the per-node table; and the Distributed table's ALTER first.
    const rename = (o: string) => o.replace('analytics.api_latency_local', 'analytics.api_latency');
    expect(many.filter((s) => s.object !== 'analytics.api_latency').map((s) => [rename(s.object), s.action, s.risk])).toEqual(one.map((s) => [s.object, s.action, s.risk]));
    const distributed = many.find((s) => s.object === 'analytics.api_latency');
    expect(distributed).toMatchObject({ action: 'alter', risk: 'safe', reason: expect.stringContaining('Distributed table api_latency over api_latency_local: add column region') });
    expect(distributed?.sql).toBe('ALTER TABLE analytics.api_latency ON CLUSTER prod\n    ADD COLUMN IF NOT EXISTS region String AFTER time_taken');
    expect(many.find((s) => s.object === 'analytics.api_latency_local')?.sql).toBe('ALTER TABLE analytics.api_latency_local ON CLUSTER prod\n    ADD COLUMN IF NOT EXISTS region String AFTER time_taken');
    for (const s of many) expect(s.sql).toContain(' ON CLUSTER prod');
    const saved = chpipe(['plan', '--save', 'region'], cluster);
    expect(saved.code).toBe(0);
    expect(chpipe(['plan'], cluster).stdout).toMatch(/^No changes\./m);
  });

  it('renaming a column (renamed_from) plans the single-server steps, ON CLUSTER, plus RENAME COLUMN on the Distributed table; saved, replayed and checked', () => {
    const { cluster, one, many } = sameChange('  duration_ms: { type: Int32, renamed_from: time_taken }');
    const rename = (o: string) => o.replace('analytics.api_latency_local', 'analytics.api_latency');
    expect(many.filter((s) => s.object !== 'analytics.api_latency' || s.action !== 'alter').map((s) => [rename(s.object), s.action, s.risk])).toEqual(one.map((s) => [s.object, s.action, s.risk]));
    expect(many.every((s) => s.risk === 'safe')).toBe(true);
    const distributed = many.find((s) => s.object === 'analytics.api_latency' && s.action === 'alter');
    expect(distributed?.sql).toBe('ALTER TABLE analytics.api_latency ON CLUSTER prod\n    RENAME COLUMN IF EXISTS time_taken TO duration_ms');
    expect(many.find((s) => s.object === 'analytics.api_latency_local')?.sql).toBe('ALTER TABLE analytics.api_latency_local ON CLUSTER prod\n    RENAME COLUMN IF EXISTS time_taken TO duration_ms');
    for (const s of many) expect(s.sql).toContain(' ON CLUSTER prod');
    expect(chpipe(['plan', '--save', 'rename'], cluster).code).toBe(0);
    expect(chpipe(['plan'], cluster).stdout).toMatch(/^No changes\./m);
    expect(chpipe(['check'], cluster).code).toBe(0);
  });

  it("a rebuild (a new ORDER BY) copies every shard's rows, read once per shard and written back through the cluster; saved, replayed and checked", () => {
    const dir = project('prod');
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    const file = join(dir, 'schemas', 'api_latency.yaml');
    const before = readFileSync(file, 'utf8');
    const after = before.replace(/^ {2}order_by: .*$/m, '  order_by: [time_taken, api_id]');
    expect(after).not.toBe(before);
    writeFileSync(file, after);
    const steps = planJson(dir).steps;
    const copy = steps.find((s) => s.action === 'copy');
    expect(copy?.object).toBe('analytics.api_latency_local__chpipe_rebuild');
    expect(copy?.reason).toMatch(/^copy the rows of api_latency_local on every shard of cluster prod \(read once per shard, written back spread by the sharding key rand\(\)\) into api_latency_local__chpipe_rebuild/);
    expect(copy?.sql).toMatch(/^INSERT INTO FUNCTION cluster\('prod', 'analytics', 'api_latency_local__chpipe_rebuild', rand\(\)\) \(api_id, time_taken\)\nSELECT api_id, time_taken\nFROM cluster\('prod', 'analytics', 'api_latency_local'\)\nSETTINGS distributed_foreground_insert = 1$/);
    // Every other statement of the rebuild runs on every host.
    for (const s of steps.filter((x) => x.action !== 'copy')) expect(s.sql).toContain(' ON CLUSTER prod');
    expect(chpipe(['plan', '--save', 'reorder', '--allow-destructive'], dir).code).toBe(0);
    expect(chpipe(['plan'], dir).stdout).toMatch(/^No changes\./m);
    expect(chpipe(['check'], dir).code).toBe(0);
  });

  it('switching a single-server project to a cluster is a rebuild: every object dropped and recreated ON CLUSTER, the tables\' drops destructive and said so', () => {
    const dir = project();
    expect(chpipe(['plan', '--save', 'initial'], dir).code).toBe(0);
    writeFileSync(join(dir, 'chpipe.yaml'), withCluster(PROJECT, 'prod'));
    const steps = planJson(dir).steps;
    for (const s of steps) {
      expect(s.reason).toMatch(/^switch to cluster prod, a rebuild \(20 objects were created on one server; every object is recreated ON CLUSTER on every node\)/);
      expect(s.sql).toContain(' ON CLUSTER prod');
    }
    // Only the tables' drops lose anything: their rows are not copied. Flows and queues come back on every node.
    const destructive = steps.filter((s) => s.risk === 'destructive');
    expect(destructive.map((s) => s.object).sort()).toEqual(['api_latency', 'app_logs', 'app_logs_errors', 'campaign_hourly_state', 'errors_per_minute_state', 'sensor_5m_state', 'sensor_readings'].map((n) => `analytics.${n}`));
    for (const d of destructive) expect(d).toMatchObject({ action: 'drop', reason: expect.stringMatching(/: drop table \w+ and its rows; they are not copied \(docs\/cluster\.md says how to keep them\)$/) });
    expect(steps.find((s) => s.object === 'analytics.api_latency_queue' && s.action === 'drop')).toMatchObject({ risk: 'safe', reason: expect.stringContaining('group chpipe_analytics_api_latency keeps its offsets in Kafka') });
    expect(steps.filter((s) => s.action === 'create' || s.action === 'start').map((s) => s.object)).toContain('analytics.api_latency_local');
    const refused = chpipe(['plan', '--save', 'cluster'], dir);
    expect(refused.code).toBe(3);
    const saved = chpipe(['plan', '--save', 'cluster', '--allow-destructive'], dir);
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    expect(chpipe(['plan'], dir).stdout).toMatch(/^No changes\./m);
    expect(chpipe(['check'], dir).code).toBe(0);
  });
});
