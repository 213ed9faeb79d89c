/**
 * `chpipe pull` on a cluster project (`cluster:` in chpipe.yaml): pipelines laid out by hand the way chpipe
 * compiles them for a cluster (a Distributed table over a per-node `NAME_local` on a Replicated engine, the
 * same Kafka tables and views on every node) are recognized, and the YAML proposed is the one a single-server
 * pull writes; it compiles in cluster mode to exactly the target's objects, and the baseline is the cluster
 * DDL (ON CLUSTER). A layout that differs from the project's (Keeper path, replica name, sharding key, the
 * cluster, the per-node table's name), a single-server layout on a cluster project and the reverse are left
 * unmanaged with the reason.
 *
 * The target is an embedded engine made a one-node cluster (its <remote_servers> name it, with <macros> and a
 * real ZooKeeper: the only cluster the embedded engine answers for). The hand-made objects are created through
 * `ClusterDriver` with that one node, as a server's DDL worker runs ON CLUSTER. The embedded engine keeps
 * Replicated tables read-only, so pull's history write (the shared Replicated history, created ON CLUSTER)
 * cannot happen here: the CLI is run with --dry-run, and the rest through the library (src/pull/pull.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ClusterDriver } from '../../src/cluster/executor.js';
import { loadProject } from '../../src/cli/project.js';
import type { Driver } from '../../src/engine/driver.js';
import { openTarget } from '../../src/engine/target.js';
import { inspectDatabase } from '../../src/inspect/inspect.js';
import { parseMigration } from '../../src/migrate/files.js';
import { makeModel, type DbObject, type Model } from '../../src/model/model.js';
import { proposePull, type PullProposal } from '../../src/pull/pull.js';
import type { ProjectSpec } from '../../src/spec/types.js';
import { chpipe, tempDir } from '../helpers/cli.js';
import { selfClusterConfig } from '../helpers/cluster.js';

const C = 'pulled';
const DB = 'analytics';
const ON = `ON CLUSTER ${C}`;
const BROKER = "kafka_broker_list = 'localhost:9092'";
const RMT = "('/clickhouse/tables/{uuid}/{shard}', '{replica}')";
const dist = (local: string, key = 'rand()', cluster = C) => `ENGINE = Distributed(${cluster}, ${DB}, ${local}, ${key})`;

/** The seed recipe on a cluster: its table a Distributed `latency` over the Replicated `latency_local`. */
const SEED = [
  `CREATE DATABASE IF NOT EXISTS ${DB} ${ON}`,
  `CREATE TABLE ${DB}.kafka_table ${ON} (api_id Int32, time_taken Int32) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'kafka_topic_1', kafka_group_name = 'group1', kafka_format = 'CSV'`,
  `CREATE TABLE ${DB}.latency_local ${ON} (api_id Int32, time_taken Int32) ENGINE = ReplicatedMergeTree${RMT} ORDER BY api_id`,
  `CREATE TABLE ${DB}.latency ${ON} (api_id Int32, time_taken Int32) ${dist('latency_local')}`,
  `CREATE MATERIALIZED VIEW ${DB}.consumer ${ON} TO ${DB}.latency_local AS SELECT api_id, time_taken FROM ${DB}.kafka_table WHERE time_taken >= 0`,
];

/** An aggregate: the state on every shard, the finalizing view over the Distributed state. */
const AGGREGATE = [
  `CREATE TABLE ${DB}.raw_api_events ${ON} (api_id Int32, time_taken Int32, ts DateTime) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'api_events', kafka_group_name = 'api_1m', kafka_format = 'JSONEachRow'`,
  `CREATE TABLE ${DB}.api_1m_agg_local ${ON} (api_id Int32, minute DateTime, requests AggregateFunction(count), p95_ms AggregateFunction(quantile(0.95), Int32)) ENGINE = ReplicatedAggregatingMergeTree${RMT} ORDER BY (api_id, minute) PARTITION BY toYYYYMM(minute)`,
  `CREATE TABLE ${DB}.api_1m_agg ${ON} (api_id Int32, minute DateTime, requests AggregateFunction(count), p95_ms AggregateFunction(quantile(0.95), Int32)) ${dist('api_1m_agg_local')}`,
  `CREATE MATERIALIZED VIEW ${DB}.api_1m_feed ${ON} TO ${DB}.api_1m_agg_local AS SELECT api_id, toStartOfMinute(ts) AS minute, countState() AS requests, quantileState(0.95)(time_taken) AS p95_ms FROM ${DB}.raw_api_events GROUP BY api_id, minute`,
  `CREATE VIEW ${DB}.api_1m ${ON} AS SELECT api_id, minute, countMerge(requests) AS requests, quantileMerge(0.95)(p95_ms) AS p95_ms FROM ${DB}.api_1m_agg GROUP BY api_id, minute`,
];

/** An errors stream through a Null hub: both the table and the errors table Distributed over Replicated ones. */
const STREAM_HUB = [
  `CREATE TABLE ${DB}.logs_in ${ON} (msg String, level String) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'logs', kafka_group_name = 'logs', kafka_format = 'JSONEachRow', kafka_handle_error_mode = 'stream'`,
  `CREATE TABLE ${DB}.logs_fanout ${ON} (msg String, level String, _topic LowCardinality(String), _key String, _offset UInt64, _partition UInt64, _timestamp Nullable(DateTime), _timestamp_ms Nullable(DateTime64(3)), \`_headers.name\` Array(String), \`_headers.value\` Array(String), _raw_message String, _error String) ENGINE = Null`,
  `CREATE MATERIALIZED VIEW ${DB}.logs_fanout_mv ${ON} TO ${DB}.logs_fanout AS SELECT msg, level, _topic, _key, _offset, _partition, _timestamp, _timestamp_ms, \`_headers.name\`, \`_headers.value\`, _raw_message, _error FROM ${DB}.logs_in`,
  `CREATE TABLE ${DB}.logs_local ${ON} (msg String, level String) ENGINE = ReplicatedMergeTree${RMT} ORDER BY level`,
  `CREATE TABLE ${DB}.logs ${ON} (msg String, level String) ${dist('logs_local')}`,
  `CREATE MATERIALIZED VIEW ${DB}.logs_mv ${ON} TO ${DB}.logs_local AS SELECT msg, level FROM ${DB}.logs_fanout WHERE _error = ''`,
  `CREATE TABLE ${DB}.logs_bad_local ${ON} (received_at DateTime, topic LowCardinality(String), \`partition\` UInt64, \`offset\` UInt64, raw_message String, error String) ENGINE = ReplicatedMergeTree${RMT} PARTITION BY toYYYYMM(received_at) ORDER BY (topic, \`partition\`, \`offset\`)`,
  `CREATE TABLE ${DB}.logs_bad ${ON} (received_at DateTime, topic LowCardinality(String), \`partition\` UInt64, \`offset\` UInt64, raw_message String, error String) ${dist('logs_bad_local')}`,
  `CREATE MATERIALIZED VIEW ${DB}.logs_bad_mv ${ON} TO ${DB}.logs_bad_local AS SELECT now() AS received_at, _topic AS topic, _partition AS \`partition\`, _offset AS \`offset\`, _raw_message AS raw_message, _error AS error FROM ${DB}.logs_fanout WHERE _error != ''`,
];

/** Publish back: each node sends the rows its own flow wrote into its local table. */
const PUBLISH = [
  `CREATE TABLE ${DB}.slow_out ${ON} (api_id Int32, time_taken Int32) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = 'slow_requests', kafka_group_name = 'slow_out', kafka_format = 'JSONEachRow'`,
  `CREATE MATERIALIZED VIEW ${DB}.slow_out_mv ${ON} TO ${DB}.slow_out AS SELECT api_id, time_taken FROM ${DB}.latency_local WHERE time_taken > 1000`,
];

/** An ingest laid out by hand with `table`'s engine, Distributed engine arguments and view target given. */
function ingest(name: string, options: { engine?: string; table?: string; distributed?: string | null; writesTo?: string } = {}): string[] {
  const local = options.table ?? `${name}_local`;
  return [
    `CREATE TABLE ${DB}.${name}_in ${ON} (id UInt64, v String) ENGINE = Kafka SETTINGS ${BROKER}, kafka_topic_list = '${name}', kafka_group_name = '${name}', kafka_format = 'JSONEachRow'`,
    `CREATE TABLE ${DB}.${local} ${ON} (id UInt64, v String) ENGINE = ${options.engine ?? `ReplicatedMergeTree${RMT}`} ORDER BY id`,
    ...(options.distributed === null ? [] : [`CREATE TABLE ${DB}.${name} ${ON} (id UInt64, v String) ${options.distributed ?? dist(local)}`]),
    `CREATE MATERIALIZED VIEW ${DB}.${name}_mv ${ON} TO ${DB}.${options.writesTo ?? local} AS SELECT id, v FROM ${DB}.${name}_in`,
  ];
}

/** Layouts that differ from a default `cluster: pulled` project, one pipeline each. */
const DIFFERENT = [
  ...ingest('other_path', { engine: "ReplicatedMergeTree('/clickhouse/elsewhere/{uuid}/{shard}', '{replica}')" }),
  ...ingest('other_replica', { engine: "ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', 'r-{replica}')" }),
  ...ingest('sharded', { distributed: dist('sharded_local', 'cityHash64(id)') }),
  ...ingest('other_cluster', { distributed: dist('other_cluster_local', 'rand()', 'second') }),
  ...ingest('odd_local', { table: 'odd_local_shard' }),
  ...ingest('through', { writesTo: 'through' }),
  ...ingest('single', { table: 'single', engine: 'MergeTree', distributed: null }),
  ...ingest('lone', { table: 'lone', distributed: null }),
  // No Kafka flow at all: a Distributed table over a table, and one over nothing.
  `CREATE TABLE ${DB}.stray_local ${ON} (id UInt64) ENGINE = ReplicatedMergeTree${RMT} ORDER BY id`,
  `CREATE TABLE ${DB}.stray ${ON} (id UInt64) ${dist('stray_local')}`,
  `CREATE TABLE ${DB}.dangling ${ON} (id UInt64) ${dist('nowhere')}`,
];

/**
 * A Replicated table created without arguments: the server writes its default path and replica name into the
 * table's engine (measured: it reads back as `ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}',
 * '{replica}')`), which are the project's default layout: adopted.
 */
const SERVER_DEFAULT = ingest('server_default', { engine: 'ReplicatedMergeTree' });

const PIPELINES = [...SEED, ...AGGREGATE, ...STREAM_HUB, ...PUBLISH, ...SERVER_DEFAULT];

/** A one-node cluster `pulled` (and `second`), this engine itself, with its macros and the test's ZooKeeper. */
function clusterConfig(): string {
  return selfClusterConfig([C, 'second'], { macros: { shard: '01', replica: 'r1' }, zookeeperPort: inject('zookeeperPort') });
}

const CLUSTER_PROJECT = `version: 1\ndatabase: ${DB}\ncluster: ${C}\nkafka:\n  brokers: localhost:9092\nschemas: schemas/\nmigrations: migrations/\n`;

/** A project folder whose `.chpipe/` target is a one-node cluster; `configFile`: the same config, for engines opened here. */
function project(yaml = CLUSTER_PROJECT): { dir: string; configFile: string } {
  const dir = tempDir('chpipe-cluster-pull-');
  writeFileSync(join(dir, 'chpipe.yaml'), yaml);
  mkdirSync(join(dir, 'schemas'));
  mkdirSync(join(dir, '.chpipe/engine-config.d'), { recursive: true });
  const configFile = join(dir, 'cluster-config.xml');
  writeFileSync(configFile, clusterConfig());
  writeFileSync(join(dir, '.chpipe/engine-config.d/cluster.xml'), clusterConfig());
  return { dir, configFile };
}

/** Run `statements` on an engine as the DDL worker of its one-node cluster runs them (ON CLUSTER dropped, one UUID per new table). */
async function onCluster(driver: Driver, statements: readonly string[]): Promise<void> {
  const cluster = new ClusterDriver(C, [{ host: '127.0.0.1:9000', shard: 1, driver }]);
  for (const s of statements) await cluster.exec(s);
}

/** Open `.chpipe/` in an engine process of its own (never while a CLI holds it), run `body`, close it. */
async function withTarget<T>(dir: string, configFile: string, body: (driver: Driver) => Promise<T>): Promise<T> {
  const driver = await openTarget(join(dir, '.chpipe'), { configFile });
  try {
    return await body(driver);
  } finally {
    await driver.close();
  }
}

function spec(dir: string): ProjectSpec {
  const loaded = loadProject(join(dir, 'chpipe.yaml'), {});
  expect(loaded.diagnostics).toEqual([]);
  return loaded.project as ProjectSpec;
}

async function propose(driver: Driver, dir: string): Promise<PullProposal> {
  const s = spec(dir);
  return proposePull({ driver, spec: s, placement: { database: s.database, ...(s.cluster !== undefined ? { cluster: s.cluster } : {}) }, migrations: [], migrationsDisplay: 'migrations', schemasDisplay: 'schemas/', env: {} }, '0.0.0-test');
}

/** A database's objects without what pull changes (comments, ownership) and views' query text (compared by syntax tree), to compare two engines' objects. */
function shape(model: Model): Model {
  return makeModel(
    model,
    model.objects.map((o): DbObject => {
      const { owner: _owner, ...rest } = o;
      const noQuery = o.kind === 'mv' || o.kind === 'view' ? { select: '', query: undefined } : {};
      return { ...rest, comment: '', ...noQuery } as DbObject;
    }),
  );
}

describe('chpipe pull on a cluster project', { timeout: 600_000 }, () => {
  it('adopts the cluster layout: the YAML a single-server pull writes, compiled in cluster mode to exactly the target, the baseline ON CLUSTER; --dry-run writes nothing', async () => {
    const { dir, configFile } = project();
    const proposal = await withTarget(dir, configFile, async (driver) => {
      await onCluster(driver, [...PIPELINES, ...DIFFERENT]);
      return propose(driver, dir);
    });

    expect(proposal.files.map((f) => [f.pipeline, f.kind, [...f.objects].sort()]).sort()).toEqual([
      ['api_1m', 'aggregate', ['api_1m', 'api_1m_agg', 'api_1m_agg_local', 'api_1m_feed', 'raw_api_events']],
      ['latency', 'ingest', ['consumer', 'kafka_table', 'latency', 'latency_local']],
      ['logs', 'ingest', ['logs', 'logs_bad', 'logs_bad_local', 'logs_bad_mv', 'logs_fanout', 'logs_fanout_mv', 'logs_in', 'logs_local', 'logs_mv']],
      ['server_default', 'ingest', ['server_default', 'server_default_in', 'server_default_local', 'server_default_mv']],
      ['slow_out', 'publish', ['slow_out', 'slow_out_mv']],
    ]);
    const yaml = (name: string) => proposal.files.find((f) => f.pipeline === name)?.text ?? '';
    // The YAML a single-server pull writes: nothing in it (but the comment naming the objects) says cluster, `_local` or Replicated.
    for (const f of proposal.files) expect(f.text.split('\n').filter((l) => !l.startsWith('#'))).not.toContainEqual(expect.stringMatching(/_local|Replicated|Distributed|cluster/));
    expect(yaml('latency')).toMatch(/^# Pulled by `chpipe pull` from objects that already existed: kafka_table, consumer, latency, latency_local\.\n/);
    expect(yaml('latency')).toMatch(/objects:\n {2}queue: kafka_table\n {2}mv: consumer\n/);
    expect(yaml('latency')).toContain('filter: time_taken >= 0');
    expect(yaml('api_1m')).toContain('p95_ms: quantile(0.95)(time_taken)');
    expect(yaml('api_1m')).toContain('state: api_1m_agg');
    expect(yaml('logs')).toContain('errors: logs_bad');
    expect(yaml('slow_out')).toContain('from: latency');

    const reasons = Object.fromEntries(proposal.unmanaged.map((u) => [u.object, u.reason]));
    // Every object of a pipeline whose layout differs is listed, its tables both.
    for (const name of ['other_path', 'other_replica', 'sharded', 'other_cluster', 'through']) {
      for (const object of [`${name}_in`, name, `${name}_local`, `${name}_mv`]) expect(reasons[object], object).toBe(reasons[name]);
    }
    expect(reasons.other_path).toBe("other_path_local replicates at Keeper path '/clickhouse/elsewhere/{uuid}/{shard}' as replica '{replica}', and chpipe.yaml declares Keeper path '/clickhouse/tables/{uuid}/{shard}' as replica '{replica}' (cluster.replication_path, cluster.replica_name)");
    expect(reasons.other_replica).toBe("other_replica_local replicates at Keeper path '/clickhouse/tables/{uuid}/{shard}' as replica 'r-{replica}', and chpipe.yaml declares Keeper path '/clickhouse/tables/{uuid}/{shard}' as replica '{replica}' (cluster.replication_path, cluster.replica_name)");
    expect(reasons.sharded).toBe('its Distributed table sharded shards rows by cityHash64(id), and chpipe.yaml declares cluster.sharding_key rand()');
    expect(reasons.other_cluster).toBe(`its Distributed table other_cluster reads cluster second, and chpipe.yaml declares cluster ${C}`);
    expect(reasons.through).toBe("its view through_mv writes into the Distributed table through itself, where chpipe's views write into each node's through_local");
    for (const object of ['odd_local_in', 'odd_local', 'odd_local_shard', 'odd_local_mv']) expect(reasons[object], object).toBe('its Distributed table odd_local reads odd_local_shard, and chpipe names the per-node table under odd_local odd_local_local');
    for (const object of ['single_in', 'single', 'single_mv']) expect(reasons[object], object).toBe(`a single-server layout (single is a MergeTree table), and chpipe.yaml declares cluster ${C}, where single is a Distributed table over single_local on a Replicated engine`);
    for (const object of ['stray', 'stray_local']) expect(reasons[object], object).toBe('a Distributed table over stray_local, and that table, no Kafka flow writes');
    expect(reasons.dangling).toBe('a Distributed table over nowhere, which is not a MergeTree table of this database');
    for (const object of ['lone_in', 'lone', 'lone_mv']) expect(reasons[object], object).toBe(`its table lone is ReplicatedMergeTree with no Distributed table over it, and on cluster ${C} chpipe reads lone through a Distributed table over lone_local`);
    expect(Object.keys(reasons).sort()).toEqual(
      DIFFERENT.map((s) => /^CREATE (?:TABLE|MATERIALIZED VIEW) analytics\.(\w+)/.exec(s)?.[1] as string).sort(),
    );

    // The baseline is the cluster DDL, as `plan --save` writes it: every statement ON CLUSTER.
    const baseline = proposal.baseline;
    expect(baseline).toBeDefined();
    const statements = parseMigration(baseline?.text ?? '').map((s) => s.sql);
    expect(statements.length).toBeGreaterThan(15);
    for (const s of statements) expect(s.split('\n').find((l) => l.trim() !== '' && !l.startsWith('--'))).toContain(`ON CLUSTER ${C}`);
    expect(baseline?.text).toContain("ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')");
    expect(baseline?.text).toContain(`ENGINE = Distributed('${C}', '${DB}', 'latency_local', rand())`);
    // Ownership comments for every adopted object, the per-node tables and Distributed ones included.
    expect(proposal.comments.map((c) => c.object)).toContain(`${DB}.latency_local`);
    expect(proposal.comments.map((c) => c.object)).toContain(`${DB}.latency`);
    for (const c of proposal.comments) expect(c.sql.split('\n')[0]).toContain(`ON CLUSTER ${C}`);

    // The baseline run on a fresh one-node cluster builds exactly the target's objects (Replicated, Distributed and all).
    const adopted = new Set(proposal.files.flatMap((f) => f.objects));
    const target = await withTarget(dir, configFile, async (driver) => (await inspectDatabase(driver, { database: DB })).model);
    const fresh = await openTarget(tempDir('chpipe-cluster-pull-fresh-'), { configFile });
    try {
      await onCluster(fresh, statements);
      const built = (await inspectDatabase(fresh, { database: DB })).model;
      expect(built.objects.map((o) => o.name).sort()).toEqual([...adopted].sort());
      const ast = async (select: string) => (await fresh.query<{ explain: string }>(`EXPLAIN AST ${select}`)).map((r) => r.explain);
      const queries = async (m: Model) => Object.fromEntries(await Promise.all(m.objects.filter((o) => o.kind === 'mv' || o.kind === 'view').map(async (o) => [o.name, await ast(o.select)] as const)));
      const theirs = makeModel(target, target.objects.filter((o) => adopted.has(o.name)));
      // Views compare by their syntax tree: 26.x prints the parentheses chpipe writes around a filter (docs/engine-versions.md).
      expect(await queries(built)).toEqual(await queries(theirs));
      expect(shape(built)).toEqual(shape(theirs));
    } finally {
      await fresh.close();
    }

    // With the files and the baseline in the project, `chpipe plan` (cluster mode) has nothing left to do.
    const planned = tempDir('chpipe-cluster-pull-plan-');
    writeFileSync(join(planned, 'chpipe.yaml'), CLUSTER_PROJECT);
    mkdirSync(join(planned, 'schemas'));
    mkdirSync(join(planned, 'migrations'));
    for (const f of proposal.files) writeFileSync(join(planned, 'schemas', f.path), f.text);
    writeFileSync(join(planned, 'migrations', baseline?.file ?? ''), baseline?.text ?? '');
    expect(chpipe(['migrate', 'hash'], planned).code).toBe(0);
    const plan = chpipe(['plan', '--json'], planned);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect((JSON.parse(plan.stdout) as { steps: unknown[] }).steps).toEqual([]);

    // The CLI: --dry-run proposes the same, and writes nothing, here or on the target.
    const before = await withTarget(dir, configFile, async (driver) => driver.query<{ name: string; comment: string }>(`SELECT name, comment FROM system.tables WHERE database = '${DB}' ORDER BY name`));
    const r = chpipe(['pull', '--dry-run', '--json'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as { dryRun: boolean; pipelines: { name: string; objects: string[] }[]; unmanaged: { object: string; reason: string }[]; baseline: { recorded: boolean } | null };
    expect(json.dryRun).toBe(true);
    expect(json.pipelines.map((p) => [p.name, p.objects])).toEqual(proposal.files.map((f) => [f.pipeline, f.objects]));
    expect(json.unmanaged).toEqual(proposal.unmanaged);
    expect(json.baseline?.recorded).toBe(false);
    const text = chpipe(['pull', '--dry-run'], dir);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('would write schemas/latency.yaml  (ingest: kafka_table, consumer, latency, latency_local)');
    expect(text.stdout).toContain(`  ${DB}.single: a single-server layout (single is a MergeTree table)`);
    expect(readdirSync(join(dir, 'schemas'))).toEqual([]);
    expect(existsSync(join(dir, 'migrations'))).toBe(false);
    expect(await withTarget(dir, configFile, async (driver) => driver.query(`SELECT name, comment FROM system.tables WHERE database = '${DB}' ORDER BY name`))).toEqual(before);

    // Without --dry-run, pull takes the cluster-wide lock and creates the shared history ON CLUSTER before it
    // writes anything: a statement a server's DDL queue runs, and this engine refuses. Nothing is written.
    const pulled = chpipe(['pull'], dir);
    expect(pulled.stderr).toMatch(/^error: cannot pull from \S+: Replicated DDL queries are disabled; nothing was written\n$/);
    expect(pulled.code).toBe(1);
    expect(readdirSync(join(dir, 'schemas'))).toEqual([]);
    expect(existsSync(join(dir, 'migrations'))).toBe(false);
    expect(await withTarget(dir, configFile, async (driver) => driver.query(`SELECT name, comment FROM system.tables WHERE database = '${DB}' ORDER BY name`))).toEqual(before);
  });

  it('on a single-server project, the cluster layouts are left alone with one sentence, and a single-server pipeline is adopted', async () => {
    const { dir, configFile } = project(`version: 1\ndatabase: ${DB}\nkafka:\n  brokers: localhost:9092\n`);
    const proposal = await withTarget(dir, configFile, async (driver) => {
      await onCluster(driver, [...SEED, ...ingest('single', { table: 'single', engine: 'MergeTree', distributed: null }), ...ingest('lone', { table: 'lone', distributed: null })]);
      return propose(driver, dir);
    });
    expect(proposal.files.map((f) => [f.pipeline, f.objects])).toEqual([['single', ['single_in', 'single_mv', 'single']]]);
    const reasons = Object.fromEntries(proposal.unmanaged.map((u) => [u.object, u.reason]));
    for (const object of ['kafka_table', 'consumer', 'latency', 'latency_local']) expect(reasons[object], object).toBe('a cluster layout (latency is a Distributed table over latency_local), and chpipe.yaml declares no cluster: add cluster: to chpipe.yaml to adopt it');
    for (const object of ['lone_in', 'lone_mv', 'lone']) expect(reasons[object], object).toBe('its table lone is ReplicatedMergeTree, a cluster\'s engine, and chpipe.yaml declares no cluster: add cluster: to chpipe.yaml to adopt it');
    expect(proposal.baseline?.text).not.toContain('ON CLUSTER');
    expect(readFileSync(join(dir, 'chpipe.yaml'), 'utf8')).not.toContain('cluster');
  });

  it('a project that declares another Keeper path leaves every pipeline unmanaged, saying both; one that leaves it to the servers adopts tables at ClickHouse\'s defaults', async () => {
    const { dir, configFile } = project(`version: 1\ndatabase: ${DB}\ncluster:\n  name: ${C}\n  replication_path: /chpipe/{uuid}/{shard}\nkafka:\n  brokers: localhost:9092\n`);
    const [elsewhere, serverDefaults] = await withTarget(dir, configFile, async (driver) => {
      await onCluster(driver, SEED);
      const first = await propose(driver, dir);
      writeFileSync(join(dir, 'chpipe.yaml'), `version: 1\ndatabase: ${DB}\ncluster:\n  name: ${C}\n  replication_path: default\nkafka:\n  brokers: localhost:9092\n`);
      return [first, await propose(driver, dir)];
    });
    const layout = ['consumer', 'kafka_table', 'latency', 'latency_local'];
    const target = "latency_local replicates at Keeper path '/clickhouse/tables/{uuid}/{shard}' as replica '{replica}', and chpipe.yaml";
    expect(elsewhere?.files).toEqual([]);
    expect(elsewhere?.baseline).toBeUndefined();
    expect(elsewhere?.unmanaged).toEqual(layout.map((object) => ({ object, reason: `${target} declares Keeper path '/chpipe/{uuid}/{shard}' as replica '{replica}' (cluster.replication_path, cluster.replica_name)` })));
    // replication_path: default: chpipe creates the tables without engine arguments, which a server stores as its
    // defaults (the scratch engine remembers them so too): the proof passes and the pipeline is adopted.
    expect(serverDefaults?.unmanaged).toEqual([]);
    expect(serverDefaults?.files.map((f) => f.pipeline)).toEqual(['latency']);
    expect(serverDefaults?.baseline?.text).toContain("ENGINE = ReplicatedMergeTree\n");
  });
});
