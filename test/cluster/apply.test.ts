/**
 * Apply on 2 shards × 2 replicas of embedded engines sharing one ZooKeeper
 * (test/cluster/nodes.ts), through ClusterDriver (src/cluster/executor.ts):
 * every ON CLUSTER statement run on every node the way the DDL worker runs
 * it; the layout checked against every node's macros before anything runs;
 * every node's state read and drift reported per host; a node stopped
 * mid-apply reported by host, and a rerun that finishes. What this does not
 * prove (a real DDL queue, Replicated history, data between replicas) is in
 * docs/cluster.md.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Memo } from '../../src/check/memo.js';
import { Scratch } from '../../src/check/scratch.js';
import { loadProject } from '../../src/cli/project.js';
import { budgetWarnings, clusterNodeCount } from '../../src/cluster/budget.js';
import { appliedState, checkClusterLayout, ClusterDriver, clusterDrift, type ClusterNodeConnection } from '../../src/cluster/executor.js';
import { applyMigrations, clusterFailureHint, MigrationError, MigrationFailed, type ApplyOptions } from '../../src/migrate/apply.js';
import { readMigrationDir } from '../../src/migrate/dir.js';
import { computePlan } from '../../src/migrate/planner.js';
import { ensureHistoryTable, readRevisions } from '../../src/migrate/revisions.js';
import type { Model } from '../../src/model/model.js';
import { chpipe, ROOT, tempDir } from '../helpers/cli.js';
import { startCluster, type TestCluster } from './nodes.js';

const PLACEMENT = { database: 'analytics', cluster: 'prod' };
const LOCK = { waitMs: 0, ttlMs: 60_000, command: 'apply' };

let cluster: TestCluster;
let scratch: Scratch;
let dir: string;

function connections(): ClusterNodeConnection[] {
  return cluster.nodes.map((n) => ({ host: n.host, shard: n.shard, driver: n.driver }));
}

/**
 * The history stays on the initiator (`sharedHistory: false`): these engines keep Replicated tables read-only,
 * so the shared history's rows could not be written (its creation is tested below).
 */
function applyOptions(driver: ClusterDriver, onEvent?: ApplyOptions['onEvent']): ApplyOptions {
  return { driver, placement: PLACEMENT, files: readMigrationDir(join(dir, 'migrations')).files, dirDisplay: 'migrations', env: {}, chpipeVersion: 'test', lock: LOCK, sharedHistory: false, ...(onEvent ? { onEvent } : {}) };
}

/** The project's compiled model and the declared state the plan reads back (the scratch engine in cluster mode). */
async function planned(): Promise<{ model: Model; declared: Model; steps: number }> {
  const loaded = loadProject(join(dir, 'chpipe.yaml'), {});
  const project = loaded.project;
  if (!project) throw new Error(JSON.stringify(loaded.diagnostics));
  const result = await computePlan(project, readMigrationDir(join(dir, 'migrations')).files, 'migrations', Memo.none());
  expect(result.diagnostics).toEqual([]);
  const { compileProject } = await import('../../src/compile/compile.js');
  return { model: compileProject(project, scratch.oracle()).model as Model, declared: result.declared as Model, steps: result.steps.length };
}

/** The migrated state as apply filled it (no environment: the defaults). */
async function migrated(): Promise<Model> {
  return appliedState(scratch, PLACEMENT, readMigrationDir(join(dir, 'migrations')).files, {}, 'migrations');
}

const noDrift = () => cluster.nodes.map((n) => ({ host: n.host, drift: [] }));

async function databases(): Promise<number[]> {
  return Promise.all(cluster.nodes.map(async (n) => Number((await n.driver.query<{ c: number }>("SELECT count() AS c FROM system.databases WHERE name = 'analytics'"))[0]?.c)));
}

beforeAll(async () => {
  scratch = await Scratch.open(Memo.none(), { cluster: 'prod' });
  cluster = await startCluster({ name: 'prod', zookeeperPort: inject('zookeeperPort') });
  dir = tempDir('chpipe-cluster-apply-');
  cpSync(join(ROOT, 'schemas'), join(dir, 'schemas'), { recursive: true });
  writeFileSync(join(dir, 'chpipe.yaml'), readFileSync(join(ROOT, 'chpipe.yaml'), 'utf8').replace(/^database: analytics$/m, 'database: analytics\ncluster: prod'));
  const saved = chpipe(['plan', '--save', 'initial'], dir);
  expect(saved.stderr).toBe('');
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await scratch?.close();
});

describe('apply on 2 shards × 2 replicas', () => {
  it('refuses a layout the nodes\' macros would break before any statement runs: nothing is created anywhere', async () => {
    const { model } = await planned();
    const hardcoded: Model = { ...model, objects: model.objects.map((o) => (o.kind === 'table' && o.name === 'api_latency_local' ? { ...o, replication: { path: '/clickhouse/tables/{uuid}/{shard}', replica: 'node1' } } : o)) };
    const refused = await checkClusterLayout(hardcoded, connections()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(MigrationError);
    expect((refused as Error).message).toMatch(/nothing was applied: 127\.0\.0\.1:9101 and 127\.0\.0\.1:9102 both are replica "node1".*REPLICA_ALREADY_EXISTS/);
    expect(await databases()).toEqual([0, 0, 0, 0]);
  });

  it('applies the examples on every node, with the history and lock on the initiator; every node reads back as declared (drift per host: none)', async () => {
    const { model } = await planned();
    await checkClusterLayout(model, connections());
    const result = await applyMigrations(applyOptions(new ClusterDriver('prod', connections())));
    expect(result.applied.map((a) => [a.name, a.statements])).toEqual([['initial', 35]]);
    expect(await databases()).toEqual([1, 1, 1, 1]);
    expect(await clusterDrift(connections(), PLACEMENT, await migrated())).toEqual(noDrift());
    // The replicas of each shard share a Keeper path per table (the UUID the initiator gave every node).
    const paths = await Promise.all(cluster.nodes.map((n) => n.driver.query<{ p: string }>("SELECT zookeeper_path AS p FROM system.replicas WHERE table = 'api_latency_local'")));
    expect(paths[0]).toEqual(paths[1]);
    expect(paths[2]).toEqual(paths[3]);
    expect(paths[0]?.[0]?.p.replace(/01$/, '')).toBe(paths[2]?.[0]?.p.replace(/02$/, ''));
    // History and lock: on the initiator only (the harness's Replicated tables are read-only; see docs/cluster.md).
    const history = await Promise.all(cluster.nodes.map((n) => n.driver.query<{ c: number }>("SELECT count() AS c FROM system.tables WHERE database = 'analytics' AND name = '_chpipe_migrations'")));
    expect(history.map((h) => Number(h[0]?.c))).toEqual([1, 0, 0, 0]);
  });

  it('clusterAllReplicas cannot read the harness nodes (chdb serves no TCP): state is read node by node', async () => {
    const n1 = cluster.nodes[0]!;
    const failed = await n1.driver.query("SELECT hostName() AS h, count() AS c FROM clusterAllReplicas('prod', system.tables) GROUP BY h").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String((failed as Error | undefined)?.message)).toMatch(/Connection refused|ALL_CONNECTION_TRIES_FAILED|NETWORK_ERROR/);
  });

  it('a node stopped mid-apply: the failing statement names the host and what to do; the rerun after it is back finishes, and no host drifts', async () => {
    const file = join(dir, 'schemas', 'api_latency.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {2}format: CSV$/m, '  format: CSV\n  consumers: 2'));
    const saved = chpipe(['plan', '--save', 'two-consumers'], dir);
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    expect((await planned()).steps).toBe(0);
    const expected = await migrated();
    // Node 4's engine process is stopped as the second statement reaches it.
    let stopped = false;
    let execs = 0;
    const nodes = connections().map((n, i) =>
      i !== 3
        ? n
        : {
            ...n,
            driver: {
              ...n.driver,
              kind: n.driver.kind,
              target: n.driver.target,
              query: <T,>(sql: string) => n.driver.query<T>(sql),
              version: () => n.driver.version(),
              close: () => n.driver.close(),
              exec: async (sql: string) => {
                if (++execs === 2 && !stopped) {
                  stopped = true;
                  await cluster.stopNode(3);
                }
                return n.driver.exec(sql);
              },
            },
          },
    );
    const failed = await applyMigrations(applyOptions(new ClusterDriver('prod', nodes))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(stopped).toBe(true);
    expect(failed).toBeInstanceOf(MigrationFailed);
    const message = (failed as MigrationFailed).message;
    expect(message).toMatch(/failed on 1 of 4 hosts: 127\.0\.0\.1:9104 \(/);
    expect(message).toMatch(/it ran on 127\.0\.0\.1:9101, 127\.0\.0\.1:9102, 127\.0\.0\.1:9103/);
    expect(message).toMatch(/bring the failed hosts back, then run apply again/);
    expect((failed as MigrationFailed).hint).toMatch(/^on cluster prod the message names the host that failed; fix the cause there, then run `chpipe apply` again: it resumes at this statement/);
    await cluster.startNode(3);
    const drift = await clusterDrift(connections(), PLACEMENT, expected);
    // Half-applied: the three hosts that ran the statements agree with one another; the host that was down does not.
    const words = drift.map((d) => JSON.stringify(d.drift));
    expect(words[1]).toBe(words[0]);
    expect(words[2]).toBe(words[0]);
    expect(words[3]).not.toBe(words[0]);
    const rerun = await applyMigrations(applyOptions(new ClusterDriver('prod', connections())));
    expect(rerun.applied.map((a) => a.name)).toEqual(['two_consumers']);
    expect(rerun.applied[0]?.startAt).toBeGreaterThan(0);
    expect(await clusterDrift(connections(), PLACEMENT, expected)).toEqual(noDrift());
  });

  it('drift is reported for the host that has it only', async () => {
    const expected = await migrated();
    await cluster.on(cluster.nodes[2]!, 'DROP VIEW analytics.campaign_hourly');
    const drift = await clusterDrift(connections(), PLACEMENT, expected);
    expect(drift.map((d) => [d.host, d.drift.map((x) => x.object)])).toEqual(cluster.nodes.map((n, i) => [n.host, i === 2 ? ['analytics.campaign_hourly'] : []]));
  });
});

describe('the consumer budget from the declared partitions and the cluster\'s hosts', () => {
  it('reads the node count from system.clusters and warns for idle and uneven queues; a bad partitions value is refused at its line', async () => {
    expect(await clusterNodeCount(cluster.nodes[0]!.driver, 'prod')).toBe(4);
    expect(await clusterNodeCount(cluster.nodes[0]!.driver, 'elsewhere')).toBeUndefined();
    const budgetDir = tempDir('chpipe-cluster-budget-');
    cpSync(join(ROOT, 'schemas'), join(budgetDir, 'schemas'), { recursive: true });
    writeFileSync(join(budgetDir, 'chpipe.yaml'), readFileSync(join(ROOT, 'chpipe.yaml'), 'utf8').replace(/^database: analytics$/m, 'database: analytics\ncluster: prod'));
    const setPartitions = (file: string, n: string) => {
      const path = join(budgetDir, 'schemas', file);
      writeFileSync(path, readFileSync(path, 'utf8').replace(/^source:\n/m, `source:\n  partitions: ${n}\n`));
    };
    setPartitions('api_latency.yaml', '2');
    setPartitions('logs/app_logs.yaml', '6');
    const loaded = loadProject(join(budgetDir, 'chpipe.yaml'), {});
    expect(loaded.diagnostics).toEqual([]);
    const project = loaded.project!;
    const { compileProject } = await import('../../src/compile/compile.js');
    const model = compileProject(project, scratch.oracle()).model as Model;
    const warnings = budgetWarnings(model, project, 4);
    expect(warnings).toEqual([
      expect.stringMatching(/^api_latency_queue: 4 nodes × 1 consumer = 4 in group chpipe_analytics_api_latency over 2 partitions: 2 consumers sit idle/),
      expect.stringMatching(/^app_logs_queue: 4 nodes × 1 consumer = 4 .* over 6 partitions: 2 consumers read 2 partitions, the others 1/),
      // errors_per_minute reads the same topic (app-logs): its partitions are the ones app_logs declares.
      expect.stringMatching(/^errors_per_minute_queue: 4 nodes × 1 consumer = 4 .* over 6 partitions/),
    ]);
    setPartitions('marketing/campaign_hourly.yaml', '0');
    const bad = chpipe(['validate'], budgetDir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^schemas\/marketing\/campaign_hourly\.yaml:\d+:\d+: error/m);
    expect(bad.stderr).toMatch(/partitions/);
  });
});

describe("what apply says when a server's distributed DDL fails", () => {
  it('a timeout (TIMEOUT_EXCEEDED: hosts that did not finish in distributed_ddl_task_timeout) says the statement stays queued there, and to rerun', () => {
    const hint = clusterFailureHint('TIMEOUT_EXCEEDED', 'prod');
    expect(hint).toMatch(/^the statement did not finish on every host of cluster prod within distributed_ddl_task_timeout/);
    expect(hint).toContain('system.distributed_ddl_queue');
    expect(hint).toContain('run `chpipe apply` again');
    expect(clusterFailureHint('UNKNOWN_TABLE', 'prod')).toMatch(/^on cluster prod the message names the host that failed/);
  });
});

describe('the cluster-wide history table (what apply and pull create in cluster mode; its rows are not written here)', () => {
  it('created ON CLUSTER with its database, its 4 replicas — one per host, across both shards — meet at one Keeper path; any host reads it', async () => {
    const driver = new ClusterDriver('prod', connections());
    const placement = { database: 'chpipe_history_check', cluster: 'prod' };
    // What applyMigrations runs first in cluster mode (sharedHistory defaults to true there).
    await ensureHistoryTable(driver, placement);
    await ensureHistoryTable(driver, placement);
    const replicas = await Promise.all(cluster.nodes.map(async (n) => (await n.driver.query<{ zookeeper_path: string; replica_name: string; total_replicas: number }>("SELECT zookeeper_path, replica_name, total_replicas FROM system.replicas WHERE database = 'chpipe_history_check'"))[0]));
    expect(new Set(replicas.map((r) => r?.zookeeper_path)).size).toBe(1);
    expect(replicas.map((r) => r?.replica_name)).toEqual(cluster.nodes.map((n) => `${n.macros.shard}-${n.macros.replica}`));
    expect(replicas.map((r) => Number(r?.total_replicas))).toEqual([4, 4, 4, 4]);
    // Every host reads the same (empty) history from it.
    for (const n of cluster.nodes) expect(await readRevisions(n.driver, placement)).toEqual([]);
    // Writing to it is not tried: on these engines an INSERT into a Replicated table blocks (over 60 s measured) instead of failing.
  });
});
