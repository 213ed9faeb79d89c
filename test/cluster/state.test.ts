/**
 * `chpipe status` on a cluster target (src/cluster/state.ts): every host's
 * objects in a constant number of queries over one connection
 * (`clusterAllReplicas` over system.tables, system.columns, system.macros,
 * system.one), drift per host, and the migrated state's layout against the
 * hosts' macros.
 *
 * chdb answers `clusterAllReplicas` only for a cluster whose every replica is
 * itself (`<tcp_port>9000</tcp_port>` and a replica at 127.0.0.1:9000: the
 * engine counts it as local); several embedded engines cannot answer it (no
 * TCP server; apply.test.ts). So the cluster here is one host, with a real
 * ZooKeeper for its Replicated tables; the rows are still grouped per host.
 * The CLI's embedded target (`.chpipe/`) becomes that host by
 * `.chpipe/engine-config.d/cluster.xml`, which the engine merges into the
 * config chpipe writes.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Memo } from '../../src/check/memo.js';
import { Scratch } from '../../src/check/scratch.js';
import { appliedState, ClusterDriver } from '../../src/cluster/executor.js';
import { clusterStatus, readClusterState } from '../../src/cluster/state.js';
import type { Driver } from '../../src/engine/driver.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import { inspectDatabase } from '../../src/inspect/inspect.js';
import { applyMigrations } from '../../src/migrate/apply.js';
import { readMigrationDir } from '../../src/migrate/dir.js';
import type { Model } from '../../src/model/model.js';
import { selectClusterColumns, selectClusterReplicas, selectClusterTables } from '../../src/sql/cluster.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { chpipe, ROOT, tempDir } from '../helpers/cli.js';
import { selfClusterConfig } from '../helpers/cluster.js';

const DATABASE = 'state_check';
const PLACEMENT = { database: DATABASE, cluster: 'prod' };
const HOST = `${hostname()}:9000`;
const MACROS = { shard: '01', replica: 'r1' };

let dir: string;
let scratch: Scratch;
let driver: ProcessDriver | undefined;

/** A port nothing listens on: the second shard of `with_down_host`. */
const DOWN_PORT = 9;

/** A server config that makes an embedded engine the one host of `cluster` (see the file's comment), and a member of `with_down_host`, whose other host is down. */
function hostConfig(cluster: string, macros: Record<string, string>): string {
  return selfClusterConfig([cluster], {
    macros,
    zookeeperPort: inject('zookeeperPort'),
    otherClusters: [`<with_down_host><shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard><shard><replica><host>127.0.0.1</host><port>${DOWN_PORT}</port></replica></shard></with_down_host>`],
  });
}

/** Open the project's `.chpipe/` in this process as the host (closed again before the CLI opens the folder). */
async function openHost(macros: Record<string, string> = MACROS): Promise<ProcessDriver> {
  const configFile = join(dir, 'host.xml');
  writeFileSync(configFile, hostConfig('prod', macros));
  driver = await openTarget(join(dir, '.chpipe'), { configFile });
  return driver;
}

async function closeHost(): Promise<void> {
  await driver?.close();
  driver = undefined;
}

/** What the CLI's engine on `.chpipe/` merges into its config. */
function cliHostConfig(cluster: string, macros: Record<string, string>): void {
  mkdirSync(join(dir, '.chpipe', 'engine-config.d'), { recursive: true });
  writeFileSync(join(dir, '.chpipe', 'engine-config.d', 'cluster.xml'), hostConfig(cluster, macros));
}

const files = () => readMigrationDir(join(dir, 'migrations')).files;
const migrated = (): Promise<Model> => appliedState(scratch, PLACEMENT, files(), {}, 'migrations');

/** `driver` with its queries counted. */
function counting(d: Driver): { driver: Driver; count: () => number } {
  let n = 0;
  const counted: Driver = { kind: d.kind, target: d.target, exec: (sql) => d.exec(sql), query: <T,>(sql: string) => {
      n++;
      return d.query<T>(sql);
    }, version: () => d.version(), close: () => d.close() };
  return { driver: counted, count: () => n };
}

type StatusJson = { problems: string[]; drift: { object: string }[]; hosts?: { host: string; shard: number; drift: { object: string; detail: string }[] }[]; stats: { stateReadQueries: number; clusterReadQueries?: number } };

beforeAll(async () => {
  scratch = await Scratch.open(Memo.none(), { cluster: 'prod' });
  dir = tempDir('chpipe-cluster-state-');
  for (const f of ['api_latency.yaml', 'marketing/campaign_hourly.yaml']) cpSync(join(ROOT, 'schemas', f), join(dir, 'schemas', f), { recursive: true });
  writeFileSync(join(dir, 'chpipe.yaml'), `version: 1\ndatabase: ${DATABASE}\ncluster: prod\nkafka:\n  brokers: localhost:9092\n`);
  const saved = chpipe(['plan', '--save', 'initial'], dir);
  expect(saved.stderr).toBe('');
  // The migrations on the host, through a one-node ClusterDriver (ON CLUSTER dropped, one UUID per table); the
  // history stays a plain table on the host (chdb cannot INSERT into a Replicated one).
  const host = await openHost();
  const result = await applyMigrations({ driver: new ClusterDriver('prod', [{ host: '127.0.0.1:9000', shard: 1, driver: host }]), placement: PLACEMENT, files: files(), dirDisplay: 'migrations', env: {}, chpipeVersion: 'test', lock: { waitMs: 0, ttlMs: 60_000, command: 'apply' }, sharedHistory: false });
  expect(result.applied.map((a) => a.name)).toEqual(['initial']);
}, 180_000);

afterAll(async () => {
  await closeHost();
  await scratch?.close();
});

describe('every host in one read (clusterAllReplicas over system.tables and system.columns)', () => {
  it('the SQL parses with formatQuery, the cluster name quoted as a string', async () => {
    for (const cluster of ['prod', 'metrics-prod', "it's"]) {
      for (const [sql, table] of [
        [selectClusterTables(cluster, ['database', 'name'], [DATABASE]), 'system.tables'],
        [selectClusterColumns(cluster, ['database', 'table'], [DATABASE]), 'system.columns'],
        [selectClusterReplicas(cluster), 'system.one'],
      ] as const) {
        const [row] = await driver!.query<{ q: string }>(`SELECT formatQuery(${stringLiteral(sql)}) AS q`);
        expect(row?.q).toContain(`clusterAllReplicas(${stringLiteral(cluster)}, ${table})`);
      }
    }
  });

  it('reads the host with its shard and macros, and the same model inspectDatabase reads on it', async () => {
    const state = await readClusterState(driver!, PLACEMENT, 'prod');
    expect(state?.hosts.map((h) => ({ host: h.host, shard: h.shard, macros: h.macros }))).toEqual([{ host: HOST, shard: 1, macros: MACROS }]);
    const inspected = (await inspectDatabase(driver!, PLACEMENT)).model;
    expect(inspected.objects.some((o) => o.kind === 'table' && o.replication !== undefined)).toBe(true);
    expect(inspected.objects.some((o) => o.kind === 'distributed')).toBe(true);
    expect(state?.hosts[0]?.model).toEqual(inspected);
  });

  it('uses the same number of queries whatever the objects: 4 (tables, columns, macros, hosts)', async () => {
    const before = counting(driver!);
    const first = await readClusterState(before.driver, PLACEMENT, 'prod');
    expect(first?.queries).toBe(4);
    expect(before.count()).toBe(4);
    for (let i = 0; i < 5; i++) await driver!.exec(`CREATE TABLE ${DATABASE}.extra_${i} (a UInt8, b String, c Float64) ENGINE = MergeTree ORDER BY a`);
    try {
      const after = counting(driver!);
      const second = await readClusterState(after.driver, PLACEMENT, 'prod');
      expect(second?.hosts[0]?.model.objects.length).toBe((first?.hosts[0]?.model.objects.length ?? 0) + 5);
      expect(second?.queries).toBe(4);
      expect(after.count()).toBe(4);
    } finally {
      for (let i = 0; i < 5; i++) await driver!.exec(`DROP TABLE ${DATABASE}.extra_${i} SYNC`);
    }
  });

  it('a cluster the server does not define reads as undefined (CLUSTER_DOESNT_EXIST), not an error', async () => {
    expect(await readClusterState(driver!, PLACEMENT, 'elsewhere')).toBeUndefined();
  });
});

describe('drift per host and the layout against the hosts\' macros', () => {
  it('no drift and no layout problem right after apply; the migrated state keeps its tables\' replication', async () => {
    const state = await migrated();
    expect(state.objects.filter((o) => o.kind === 'table' && o.replication).map((o) => o.name).sort()).toEqual(['api_latency_local', 'campaign_hourly_state_local']);
    const s = await clusterStatus({ driver: driver!, scratch, placement: PLACEMENT, cluster: 'prod', migrated: state });
    expect(s).toEqual({ hosts: [{ host: HOST, shard: 1, drift: [] }], queries: 4, problems: [] });
  });

  it('a view dropped on the host is that host\'s drift', async () => {
    const state = await migrated();
    await driver!.exec(`DROP VIEW ${DATABASE}.campaign_hourly`);
    const s = await clusterStatus({ driver: driver!, scratch, placement: PLACEMENT, cluster: 'prod', migrated: state });
    expect(s.hosts.map((h) => [h.host, h.drift.map((d) => d.object)])).toEqual([[HOST, [`${DATABASE}.campaign_hourly`]]]);
    expect(s.problems).toEqual([]);
  });

  it('a cluster the target does not define is one problem sentence, with no hosts', async () => {
    const state = await migrated();
    const s = await clusterStatus({ driver: driver!, scratch, placement: PLACEMENT, cluster: 'elsewhere', migrated: state });
    expect(s.hosts).toEqual([]);
    expect(s.problems).toEqual([expect.stringMatching(/ has no cluster "elsewhere" \(system\.clusters\): define it in the servers' <remote_servers>/)]);
  });

  it('a host that does not answer: one problem sentence naming the cluster and the engine\'s error, no hosts', async () => {
    const s = await clusterStatus({ driver: driver!, scratch, placement: PLACEMENT, cluster: 'with_down_host', migrated: await migrated() });
    expect(s.hosts).toEqual([]);
    expect(s.problems).toEqual([expect.stringMatching(/^every host of cluster with_down_host could not be read over this connection \((ALL_CONNECTION_TRIES_FAILED|NETWORK_ERROR|SOCKET_TIMEOUT): .*127\.0\.0\.1:9\b.*\): clusterAllReplicas connects to each host's TCP port/)]);
  });
});

describe('chpipe status on the cluster target', () => {
  it('lists the host with its drift, in text and in --json (hosts, stats.clusterReadQueries)', async () => {
    await closeHost();
    cliHostConfig('prod', MACROS);
    const text = chpipe(['status'], dir);
    expect(text.stderr).not.toMatch(/Error|at .*\.js:/);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('hosts: 1 host, 1 with drift');
    expect(text.stdout).toContain(`  ${HOST} (shard 1): 1 object differs from the applied migrations\n    ~ ${DATABASE}.campaign_hourly: `);
    const json = chpipe(['status', '--json'], dir);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout) as StatusJson;
    expect(s.problems).toEqual([]);
    expect(s.hosts?.map((h) => [h.host, h.shard, h.drift.map((d) => d.object)])).toEqual([[HOST, 1, [`${DATABASE}.campaign_hourly`]]]);
    expect(s.stats).toEqual({ stateReadQueries: 2, consumerReadQueries: 1, clusterReadQueries: 4 });
  });

  it('a host whose config lacks the {replica} macro: one problem sentence, exit 1, in text and --json', async () => {
    // A host replaced with a new server: its objects are gone (a Replicated table cannot load without its macros)
    // and its config has no {replica}.
    const host = await openHost();
    const objects = await host.query<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${stringLiteral(DATABASE)} AND NOT startsWith(name, '_chpipe_')`);
    const views = (e: string) => e === 'MaterializedView' || e === 'View';
    for (const o of [...objects.filter((x) => views(x.engine)), ...objects.filter((x) => !views(x.engine))]) await host.exec(`DROP TABLE ${DATABASE}.${o.name} SYNC`);
    await closeHost();
    cliHostConfig('prod', { shard: '01' });
    const text = chpipe(['status'], dir);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^problem: cluster prod's layout: ${HOST} defines no \\{replica\\} macro: CREATE TABLE api_latency_local fails there$`, 'm'));
    expect(text.stdout).toContain(`  ${HOST} (shard 1): `);
    const json = chpipe(['status', '--json'], dir);
    expect(json.code).toBe(1);
    const s = JSON.parse(json.stdout) as StatusJson;
    expect(s.problems).toEqual([`cluster prod's layout: ${HOST} defines no {replica} macro: CREATE TABLE api_latency_local fails there`, `cluster prod's layout: ${HOST} defines no {replica} macro: CREATE TABLE campaign_hourly_state_local fails there`]);
    expect(s.hosts?.[0]?.drift.map((d) => d.object)).toContain(`${DATABASE}.api_latency_local`);
  });

  it('a target without the project\'s cluster: one sentence naming it and what to do, exit 1, no crash', async () => {
    cliHostConfig('other', MACROS);
    const text = chpipe(['status'], dir);
    expect(text.code).toBe(1);
    expect(text.stderr).not.toMatch(/at .*\.js:/);
    const problems = text.stdout.split('\n').filter((l) => l.startsWith('problem: '));
    expect(problems).toEqual([expect.stringMatching(/^problem: .* has no cluster "prod" \(system\.clusters\): define it in the servers' <remote_servers> \(with a <macros> section on every host\), or set `cluster:` in chpipe\.yaml to one the servers have$/)]);
    expect(text.stdout).toContain('hosts: not read');
    rmSync(join(dir, '.chpipe', 'engine-config.d'), { recursive: true, force: true });
    const none = JSON.parse(chpipe(['status', '--json'], dir).stdout) as StatusJson;
    expect(none.problems).toEqual([expect.stringMatching(/ has no cluster "prod" /)]);
    expect(none.hosts).toEqual([]);
  });
});
