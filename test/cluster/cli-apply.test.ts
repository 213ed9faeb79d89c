/**
 * `chpipe apply` on a cluster project, through the CLI: before anything runs it reads every host's macros in
 * one query (`clusterAllReplicas` over system.macros) and refuses a layout that would fail on a host, or a
 * server that does not know the cluster, with nothing written.
 *
 * The target is the project's embedded engine (`.chpipe/`) made a one-node cluster by a file in
 * `.chpipe/engine-config.d/` (merged into the engine's config as a server merges `config.d/`): the only kind of
 * cluster the embedded engine answers `clusterAllReplicas` for (it serves no TCP port to other engines).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { openTarget } from '../../src/engine/target.js';
import { chpipe, ROOT, tempDir } from '../helpers/cli.js';
import { selfClusterConfig } from '../helpers/cluster.js';

const CLUSTER = 'metrics-prod';

/** The iot examples as a cluster project, with its first migration saved. */
function project(): string {
  const dir = tempDir('chpipe-cluster-cli-');
  cpSync(join(ROOT, 'schemas/iot'), join(dir, 'schemas/iot'), { recursive: true });
  writeFileSync(join(dir, 'chpipe.yaml'), `version: 1\ndatabase: analytics\ncluster: ${CLUSTER}\nkafka:\n  brokers: localhost:9092\nschemas: schemas/\nmigrations: migrations/\n`);
  const saved = chpipe(['plan', '--save', 'initial'], dir);
  expect(saved.stderr).toBe('');
  expect(saved.code).toBe(0);
  return dir;
}

/** Make `.chpipe/` a one-node cluster: the remote_servers entry is this engine itself (tcp_port 9000). */
function serverConfig(dir: string, options: { cluster?: string; macros: Record<string, string> }): void {
  const conf = join(dir, '.chpipe/engine-config.d');
  mkdirSync(conf, { recursive: true });
  writeFileSync(join(conf, 'cluster.xml'), selfClusterConfig([options.cluster ?? CLUSTER], { macros: options.macros, zookeeperPort: inject('zookeeperPort') }));
}

/** The databases the embedded target holds (opened after the CLI has exited: one process per folder). */
async function databases(dir: string): Promise<string[]> {
  const driver = await openTarget(join(dir, '.chpipe'));
  try {
    return (await driver.query<{ name: string }>("SELECT name FROM system.databases WHERE name NOT IN ('system', 'default', 'INFORMATION_SCHEMA', 'information_schema') ORDER BY name")).map((r) => r.name);
  } finally {
    await driver.close();
  }
}

describe.concurrent('apply on a cluster project checks every host before it runs anything', { timeout: 180_000 }, () => {
  it('a host without the {shard} macro the Replicated tables use: refused, naming the host and the table, nothing created', async () => {
    const dir = project();
    serverConfig(dir, { macros: { replica: 'r1' } });
    for (const args of [['apply'], ['apply', '--dry-run']]) {
      const r = chpipe(args, dir);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`the cluster's layout is wrong for these tables, so nothing was applied: ${hostname()}:9000 defines no {shard} macro: CREATE TABLE sensor_5m_state_local fails there`);
      expect(r.stderr).toContain(`; ${hostname()}:9000 defines no {shard} macro: CREATE TABLE sensor_readings_local fails there`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(await databases(dir)).toEqual([]);
  });

  it('a server that does not know the cluster: one sentence naming it, nothing created', async () => {
    const dir = project();
    serverConfig(dir, { cluster: 'other', macros: { shard: '01', replica: 'r1' } });
    const r = chpipe(['apply'], dir);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`has no cluster "${CLUSTER}" (system.clusters): define it in the servers' <remote_servers>`);
    expect(r.stderr).toContain('nothing was applied');
    expect(await databases(dir)).toEqual([]);
  });

  it('a layout every host can build passes the check: what stops this run is the embedded engine refusing ON CLUSTER itself', async () => {
    const dir = project();
    serverConfig(dir, { macros: { shard: '01', replica: 'r1' } });
    const r = chpipe(['apply'], dir);
    expect(r.stderr).not.toContain('layout');
    // Past the check, apply takes the cluster-wide lock and creates the shared history ON CLUSTER: a statement a
    // server's DDL queue runs and this engine refuses (docs/cluster.md).
    expect(r.stderr).toContain('error: Replicated DDL queries are disabled');
    expect(r.code).toBe(1);
    // The lock was released: no lock table is left on the host.
    expect(existsSync(join(dir, '.chpipe'))).toBe(true);
    const driver = await openTarget(join(dir, '.chpipe'));
    try {
      expect(await driver.query("SELECT name FROM system.tables WHERE database = 'analytics' AND name LIKE '_chpipe%'")).toEqual([]);
    } finally {
      await driver.close();
    }
    expect(readdirSync(join(dir, 'migrations')).filter((f) => f.endsWith('.sql'))).toHaveLength(1);
  });
});
