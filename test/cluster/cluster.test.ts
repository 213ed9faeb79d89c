/**
 * Cluster mode on 2 shards × 2 replicas of embedded engines sharing one real
 * ZooKeeper (test/cluster/nodes.ts): the examples' cluster DDL, pinned and
 * parsed; created on every node the way the DDL worker runs it; and the
 * layout mistakes chpipe refuses before apply, each shown to be real by the
 * engine. docs/cluster.md says what this does and does not verify.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Scratch } from '../../src/check/scratch.js';
import { loadProject } from '../../src/cli/project.js';
import { checkLayout, type ClusterHost } from '../../src/cluster/layout.js';
import { compileProject } from '../../src/compile/compile.js';
import type { Model } from '../../src/model/model.js';
import { fillReferences, envReferences } from '../../src/spec/env.js';
import { createStatements } from '../../src/sql/ddl.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { chpipe, ROOT, tempDir } from '../helpers/cli.js';
import { startCluster, type TestCluster } from './nodes.js';

const PROJECT = readFileSync(join(ROOT, 'chpipe.yaml'), 'utf8');

/** The repository's example project with a `cluster:` key. */
function clusterProject(cluster: string): string {
  const dir = tempDir('chpipe-cluster-project-');
  cpSync(join(ROOT, 'schemas'), join(dir, 'schemas'), { recursive: true });
  writeFileSync(join(dir, 'chpipe.yaml'), PROJECT.replace(/^database: analytics$/m, `database: analytics\ncluster: ${cluster}`));
  return dir;
}

let scratch: Scratch;
beforeAll(async () => {
  scratch = await Scratch.open();
});
afterAll(async () => {
  await scratch?.close();
});

async function compileDir(dir: string): Promise<{ model?: Model; diagnostics: readonly { message: string; line: number }[] }> {
  const loaded = loadProject(join(dir, 'chpipe.yaml'), {});
  if (!loaded.project) return { diagnostics: loaded.diagnostics };
  const r = compileProject(loaded.project, scratch.oracle());
  return { ...(r.model ? { model: r.model } : {}), diagnostics: [...loaded.diagnostics, ...r.diagnostics] };
}

describe('the cluster DDL of the examples', () => {
  it('compiles to the DDL pinned in the golden file: ON CLUSTER everywhere, Replicated NAME_local tables under Distributed NAME tables', () => {
    const r = chpipe(['compile'], clusterProject('prod'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'test/cluster/golden/examples-cluster.sql'), 'utf8'));
  });

  it('validates: the engine runs the single-server rendering and parses every cluster statement', () => {
    const r = chpipe(['validate', '--json'], clusterProject('prod'));
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, diagnostics: [], pipelines: 7, statements: 35 });
    expect(r.code).toBe(0);
  });

  it('every statement parses and normalizes with formatQuery, keeping its ON CLUSTER clause (also for a cluster name that needs quoting)', async () => {
    for (const cluster of ['prod', 'metrics-prod']) {
      const { model } = await compileDir(clusterProject(cluster));
      const statements = createStatements(model as Model);
      expect(statements).toHaveLength(35);
      for (const s of statements) {
        const [row] = await scratch.query<{ q: string }>(`SELECT formatQuery(${stringLiteral(s.sql)}) AS q`);
        const clause = cluster === 'prod' ? 'ON CLUSTER prod' : 'ON CLUSTER `metrics-prod`';
        expect(row?.q, s.sql).toContain(clause);
      }
    }
  });

  it('every flow writes into its node\'s local table, every stored table has its Distributed table, and the publish flow reads the local table', async () => {
    const { model } = await compileDir(clusterProject('prod'));
    const objects = (model as Model).objects;
    const byName = new Map(objects.map((o) => [o.name, o]));
    for (const o of objects) {
      if (o.kind === 'mv') expect(byName.get(o.to)?.kind, o.name).not.toBe('distributed');
      if (o.kind === 'table') {
        expect(o.name).toMatch(/_local$/);
        expect(o.replication).toEqual({ path: '/clickhouse/tables/{uuid}/{shard}', replica: '{replica}' });
        expect(byName.get(o.name.replace(/_local$/, ''))).toMatchObject({ kind: 'distributed', local: o.name, cluster: 'prod' });
      }
    }
    expect(byName.get('overheat_alerts_mv')).toMatchObject({ from: ['sensor_readings_local'], to: 'overheat_alerts_queue' });
    // The finalizing view re-aggregates over the Distributed state table: every shard's states.
    expect(byName.get('sensor_5m')).toMatchObject({ kind: 'view' });
    expect((byName.get('sensor_5m') as { select: string }).select).toContain('FROM analytics.sensor_5m_state\n');
  });

  it('refuses the layout mistakes it can tell from chpipe.yaml, each at its key', async () => {
    const cases: [string, RegExp][] = [
      ['{ name: prod, replica_name: node1 }', /replica_name "node1" has no \{replica\} macro.*REPLICA_ALREADY_EXISTS/],
      ["{ name: prod, replication_path: '/clickhouse/tables/{uuid}' }", /has no \{shard\} macro/],
      ["{ name: prod, replication_path: '/clickhouse/tables/{shard}/events' }", /has no \{uuid\} macro: every table would share one Keeper path \(METADATA_MISMATCH/],
      ["{ name: prod, replication_path: '/clickhouse/tables/{shard}/{database}/{table}' }", /CREATE OR REPLACE, which expands \{table\} to a temporary name/],
    ];
    for (const [yaml, message] of cases) {
      const dir = clusterProject(yaml);
      const r = await compileDir(dir);
      expect(r.model).toBeUndefined();
      expect(r.diagnostics.map((d) => d.message).join('\n')).toMatch(message);
      expect(r.diagnostics[0]?.line).toBe(4);
      const cli = chpipe(['validate'], dir);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(/^chpipe\.yaml:4:\d+: error\[cluster-layout\]/m);
      expect(cli.stderr).not.toMatch(/\n\s+at /);
    }
    const ok = await compileDir(clusterProject('{ name: prod, replication_path: default }'));
    expect(ok.diagnostics).toEqual([]);
    expect(createStatements(ok.model as Model).find((s) => s.object?.name === 'api_latency_local')?.sql).toContain('ENGINE = ReplicatedMergeTree\nORDER BY api_id');
  });
});

describe('on 2 shards × 2 replicas sharing one ZooKeeper', () => {
  let cluster: TestCluster;
  let model: Model;
  let hosts: ClusterHost[];
  beforeAll(async () => {
    // Replica names repeat per shard (r1, r2 in each), a common convention: the path's {shard} keeps them apart.
    cluster = await startCluster({ name: 'prod', zookeeperPort: inject('zookeeperPort'), macros: (shard, replica) => ({ shard: `0${shard}`, replica: `r${replica}` }) });
    hosts = cluster.nodes.map((n) => ({ host: n.host, shard: n.shard, macros: n.macros }));
    model = (await compileDir(clusterProject('prod'))).model as Model;
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('chpipe finds nothing wrong with the default layout on this topology', () => {
    expect(checkLayout(model, hosts)).toEqual([]);
  });

  it('creates every example on all 4 nodes; the replicas of a shard meet at one Keeper path, the shards at two', async () => {
    for (const s of createStatements(model)) {
      const sql = fillReferences(s.sql, envReferences(s.sql), {}).value;
      expect(await cluster.onCluster(sql), sql).toEqual([]);
    }
    const paths: string[][] = [];
    for (const n of cluster.nodes) {
      const tables = await n.driver.query<{ name: string; engine: string }>("SELECT name, engine FROM system.tables WHERE database = 'analytics' ORDER BY name");
      expect(tables).toHaveLength(model.objects.length);
      expect(tables.filter((t) => t.engine === 'Distributed')).toHaveLength(7);
      const replicas = await n.driver.query<{ table: string; zookeeper_path: string; replica_name: string; total_replicas: number }>("SELECT table, zookeeper_path, replica_name, total_replicas FROM system.replicas WHERE database = 'analytics' ORDER BY table");
      expect(replicas.map((r) => r.table)).toEqual(['api_latency_local', 'app_logs_errors_local', 'app_logs_local', 'campaign_hourly_state_local', 'errors_per_minute_state_local', 'sensor_5m_state_local', 'sensor_readings_local']);
      for (const r of replicas) {
        expect(r.replica_name).toBe(n.macros.replica);
        expect(r.zookeeper_path).toMatch(new RegExp(`^/clickhouse/tables/[0-9a-f-]{36}/0${n.shard}$`));
        expect(Number(r.total_replicas)).toBe(2);
      }
      paths.push(replicas.map((r) => r.zookeeper_path));
    }
    expect(paths[0]).toEqual(paths[1]);
    expect(paths[2]).toEqual(paths[3]);
    expect(paths[0]?.[0]).not.toBe(paths[2]?.[0]);
  });

  it('a hard-coded replica name: chpipe names the hosts that collide; the engine refuses the second replica (REPLICA_ALREADY_EXISTS), or with ON CLUSTER\'s shared UUID silently merges them', async () => {
    const plain = replaceReplication(model, 'api_latency_local', { path: '/clickhouse/tables/{shard}/hardcoded', replica: 'node1' });
    expect(checkLayout(plain, hosts)).toEqual([expect.objectContaining({ code: 'replica-collision', table: 'api_latency_local', message: expect.stringContaining('REPLICA_ALREADY_EXISTS') })]);
    // Created host by host (each node its own UUID), the engine refuses the second replica of each shard.
    const failures = await hostByHost(cluster, createFor(plain, 'api_latency_local', 'hardcoded'));
    expect(failures.map((f) => [f.host, f.codeName])).toEqual([
      ['127.0.0.1:9102', 'REPLICA_ALREADY_EXISTS'],
      ['127.0.0.1:9104', 'REPLICA_ALREADY_EXISTS'],
    ]);
    // Run ON CLUSTER, every node carries the table's one UUID, and the engine accepts the second server of each
    // shard as the first's replica: 4 servers, 2 replicas in Keeper, nothing fails. Only chpipe's check stops it.
    const uuid = replaceReplication(model, 'api_latency_local', { path: '/clickhouse/tables/{uuid}/{shard}', replica: 'node1' });
    expect(checkLayout(uuid, hosts).map((p) => p.code)).toEqual(['replica-collision']);
    expect(await cluster.onCluster(createFor(uuid, 'api_latency_local', 'hardcoded_uuid'))).toEqual([]);
    const [replicas] = await cluster.nodes[1]!.driver.query<{ total_replicas: number; replica_name: string }>("SELECT total_replicas, replica_name FROM system.replicas WHERE table = 'api_latency_local_hardcoded_uuid'");
    expect(replicas).toMatchObject({ replica_name: 'node1' });
    expect(Number(replicas?.total_replicas)).toBe(1);
  });

  it('a path without {shard}: chpipe says the shards would share it; the engine refuses the other shard\'s replicas (REPLICA_ALREADY_EXISTS)', async () => {
    const bad = replaceReplication(model, 'api_latency_local', { path: '/clickhouse/tables/noshard', replica: '{replica}' });
    expect(checkLayout(bad, hosts).map((p) => p.code)).toEqual(['replica-collision', 'shards-share-path']);
    const failures = await hostByHost(cluster, createFor(bad, 'api_latency_local', 'noshard'));
    expect(failures.map((f) => [f.host, f.codeName])).toEqual([
      ['127.0.0.1:9103', 'REPLICA_ALREADY_EXISTS'],
      ['127.0.0.1:9104', 'REPLICA_ALREADY_EXISTS'],
    ]);
  });

  it('two tables at one path: chpipe says they share it; the engine refuses the second, whose columns and ORDER BY differ (METADATA_MISMATCH)', async () => {
    const shared = { path: '/clickhouse/tables/{shard}/shared', replica: '{replica}' };
    const bad = replaceReplication(replaceReplication(model, 'api_latency_local', shared), 'app_logs_local', shared);
    expect(checkLayout(bad, hosts).map((p) => p.code)).toEqual(['tables-share-path']);
    // api_latency on node 1 (shard 1, r1), then app_logs at the same path on node 2 (shard 1, r2).
    const [n1, n2] = cluster.nodes;
    expect(await cluster.on(n1!, createFor(bad, 'api_latency_local', 'shared_a').replace(' ON CLUSTER prod', ''))).toBeUndefined();
    const second = await cluster.on(n2!, createFor(bad, 'app_logs_local', 'shared_b').replace(' ON CLUSTER prod', ''));
    // The second table is checked against the first's metadata in Keeper: its ORDER BY names a column it lacks.
    expect(second, JSON.stringify(second)).toMatchObject({ host: '127.0.0.1:9102', codeName: 'UNKNOWN_IDENTIFIER', message: expect.stringContaining("Missing columns: 'api_id'") });
  });

  it('macros a host lacks, or shards whose replicas use different paths, are named per host', () => {
    const lacking = hosts.map((h, i) => (i === 3 ? { ...h, macros: { shard: '02' } } : h));
    expect(checkLayout(model, lacking).filter((p) => p.table === 'api_latency_local')).toEqual([{ code: 'missing-macro', table: 'api_latency_local', message: '127.0.0.1:9104 defines no {replica} macro: CREATE TABLE api_latency_local fails there' }]);
    const apart = hosts.map((h, i) => (i === 1 ? { ...h, macros: { ...h.macros, shard: '1' } } : h));
    expect(checkLayout(model, apart).map((p) => p.code)).toContain('replicas-apart');
    // Replica names unique per host (node1..node4) and a path without {shard}: nothing fails, shards silently share.
    const unique = hosts.map((h, i) => ({ ...h, macros: { ...h.macros, replica: `node${i + 1}` } }));
    expect(checkLayout(replaceReplication(model, 'api_latency_local', { path: '/clickhouse/tables/{uuid}', replica: '{replica}' }), unique).map((p) => p.code)).toEqual(['shards-share-path']);
  });
});

function replaceReplication(model: Model, table: string, replication: { path: string; replica: string }): Model {
  return { ...model, objects: model.objects.map((o) => (o.kind === 'table' && o.name === table ? { ...o, replication } : o)) };
}

/** The CREATE statement of one table of `model`, under another name (each mistake gets fresh tables). */
function createFor(model: Model, table: string, suffix: string): string {
  const o = model.objects.find((x) => x.name === table);
  if (!o || o.kind !== 'table') throw new Error(`no table ${table}`);
  const s = createStatements({ ...model, objects: [{ ...o, name: `${table}_${suffix}` }] }).at(-1);
  return s?.sql ?? '';
}

/** Run a cluster statement on each node by itself, without the DDL worker (so each node gives the table its own UUID). */
async function hostByHost(cluster: TestCluster, sql: string) {
  const failures = [];
  for (const n of cluster.nodes) {
    const f = await cluster.on(n, sql.replace(` ON CLUSTER ${cluster.name}`, ''));
    if (f) failures.push(f);
  }
  return failures;
}

describe('the consumer budget: nodes × consumers against the partitions', () => {
  it('says which queues leave consumers idle, spread partitions unevenly, or are balanced', async () => {
    const { consumerBudget } = await import('../../src/cluster/budget.js');
    const { model } = await compileDir(clusterProject('prod'));
    const m = model as Model;
    const topics = new Map(m.objects.flatMap((o) => (o.kind === 'kafka' ? o.topics.map((t) => [t, 0] as const) : [])));
    // 4 nodes; every topic with 4 partitions, but api_latency's with 2 and app_logs' with 6; one topic unknown.
    const partitions = new Map([...topics.keys()].map((t) => [t, 4]));
    const queue = (name: string) => m.objects.find((o) => o.name === name && o.kind === 'kafka') as { topics: readonly string[] };
    partitions.set(queue('api_latency_queue').topics[0] as string, 2);
    partitions.set(queue('app_logs_queue').topics[0] as string, 6);
    partitions.delete(queue('sensor_5m_queue').topics[0] as string);
    const budget = new Map(consumerBudget(m, 4, partitions).map((b) => [b.queue, b]));
    // Publish queues are producers: not in the budget.
    expect([...budget.keys()].sort()).toEqual(['api_latency_queue', 'app_logs_queue', 'campaign_hourly_queue', 'errors_per_minute_queue', 'sensor_5m_queue', 'sensor_readings_queue']);
    expect(budget.get('api_latency_queue')).toMatchObject({ verdict: 'idle', consumers: 4, partitions: 2, message: expect.stringContaining('2 consumers sit idle') });
    expect(budget.get('app_logs_queue')).toMatchObject({ verdict: 'uneven', message: expect.stringContaining('2 consumers read 2 partitions, the others 1') });
    expect(budget.get('campaign_hourly_queue')).toMatchObject({ verdict: 'balanced', message: expect.stringContaining('1 of 4 partitions each') });
    expect(budget.get('sensor_5m_queue')).toMatchObject({ verdict: 'unknown' });
  });
});
