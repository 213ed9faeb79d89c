/**
 * What `chpipe dev` and `chpipe serve` write for their engine: the server
 * configuration of the embedded target they run (a ClickHouse
 * `<clickhouse>…</clickhouse>` file), and the one query dev's live view reads
 * every pipeline's counts with. Pure.
 */
import { qualified, stringLiteral } from './quote.js';

/** Threads for Kafka consumers beyond one per Kafka table: pipelines added while dev runs, and the engine's own streaming work. */
export const BROKER_POOL_MARGIN = 8;

/**
 * The Kafka consumers' session timeout on the local loop's engine: the broker's
 * minimum (`group.min.session.timeout.ms`, 6 s by default) instead of
 * librdkafka's 45 s. ClickHouse closes a dropped Kafka table's consumer without
 * leaving the group, so a recreated table, or an engine started again after a
 * crash, waits for the old member's session to expire before it gets the
 * partitions: 45 s with the default, about 6 s with this. Heartbeats run on
 * librdkafka's own thread, so a busy engine does not lose its session.
 */
export const LOCAL_SESSION_TIMEOUT_MS = 6000;
export const LOCAL_HEARTBEAT_INTERVAL_MS = 2000;

export interface DevEngineConfig {
  /** Kafka tables the engine will run (declared and present); the pool gets this many threads plus `BROKER_POOL_MARGIN`. */
  readonly kafkaTables: number;
  /**
   * Static membership (`group.instance.id`, KIP-345) for the consumers of these topics: a recreated Kafka
   * table, or the engine started again after a crash, takes its partitions over at once instead of
   * after the old member's session timeout. See `staticMembershipTopics` for which topics may have it.
   */
  readonly staticMembership?: { readonly instanceId: string; readonly topics: readonly string[] };
  /** The users file (`engineUsersXml`): the grants of the `default` user, and for dev the freshness of the engine's background work. */
  readonly usersConfigFile?: string;
  /** The folder `file()` may reach (a server's `user_files_path`; dictionaries' FILE sources honour it). */
  readonly userFilesPath?: string;
}

/** What decides whether a Kafka table's consumers may use static membership: its topics, group and consumer count. */
export interface KafkaConsumerFacts {
  readonly topics: readonly string[];
  readonly group: string;
  /** kafka_num_consumers (1 when not set). */
  readonly consumers: number;
  /** `database.table`, when known: a declared queue and the same table already on the target count once. */
  readonly table?: string;
}

/** The consumer facts of a Kafka table read into the model (from a target, its data folder or a CREATE statement). */
export function kafkaTableConsumers(database: string, table: { readonly name: string; readonly topics: readonly string[]; readonly group: string; readonly settings: Readonly<Record<string, unknown>> }): KafkaConsumerFacts {
  const n = Number(table.settings.kafka_num_consumers ?? 1);
  return { topics: table.topics, group: table.group, consumers: Number.isFinite(n) ? n : 1, table: `${database}.${table.name}` };
}

/**
 * The Kafka tables an engine runs now and those it will run: `declared` replaces a table of the same
 * `database.table` among `present`, and adds the rest.
 */
export function mergeConsumers(present: readonly KafkaConsumerFacts[], declared: readonly KafkaConsumerFacts[]): KafkaConsumerFacts[] {
  const replaced = new Set(declared.flatMap((d) => (d.table !== undefined ? [d.table] : [])));
  return [...present.filter((p) => p.table === undefined || !replaced.has(p.table)), ...declared];
}

/** Every Kafka table of the engine, one row each (one read, whatever the number of tables): what `kafkaTableFromEngine` reads. */
export const KAFKA_TABLES_QUERY = "SELECT database, name, engine_full FROM system.tables WHERE engine = 'Kafka' AND NOT is_temporary";

/** A statement as the engine normalizes it, on one line (the statement rides as the parameter `statement`). */
export const NORMALIZE_STATEMENT_QUERY = 'SELECT formatQuerySingleLine({statement:String}) AS statement';

/**
 * The topics whose consumers may carry the engine's one `group.instance.id`: a topic read only by Kafka
 * tables that have one consumer and are the only Kafka table of their consumer group. Instance ids are
 * scoped per group, so pipelines of different groups may share the id; two consumers of one group
 * sharing it fence each other (`Local: Fatal error`, with loss and duplicates), so a table with
 * `kafka_num_consumers > 1`, or two tables of one group, keep every topic they read out of the list.
 * The engine reads this per topic (`<kafka><consumer><kafka_topic>`), so a table whose topics are
 * not listed runs as a dynamic member with the 6 s session timeout.
 */
export function staticMembershipTopics(tables: readonly KafkaConsumerFacts[]): string[] {
  const perGroup = new Map<string, number>();
  for (const t of tables) perGroup.set(t.group, (perGroup.get(t.group) ?? 0) + 1);
  const ok = new Map<string, boolean>();
  for (const t of tables) {
    const single = t.consumers <= 1 && perGroup.get(t.group) === 1;
    for (const topic of t.topics) ok.set(topic, (ok.get(topic) ?? true) && single);
  }
  return [...ok].filter(([, single]) => single).map(([topic]) => topic).sort();
}

/**
 * Does an engine that runs static membership for `staticTopics` run these tables correctly? The
 * topics of the tables that must not carry the instance id (see `staticMembershipTopics`) that the
 * engine gives it anyway; empty when every table is fine.
 */
export function staticMembershipConflicts(staticTopics: readonly string[], tables: readonly KafkaConsumerFacts[]): string[] {
  const allowed = new Set(staticMembershipTopics(tables));
  const running = new Set(staticTopics);
  return [...new Set(tables.flatMap((t) => t.topics))].filter((topic) => running.has(topic) && !allowed.has(topic)).sort();
}

/** `chpipe dev`'s flush interval: how long the engine collects a Kafka block before writing it (the server default 7.5 s is the floor of produce-to-queryable latency). */
export const DEV_STREAM_FLUSH_INTERVAL_MS = 250;

/**
 * What an embedded target's engine may reach outside its data folder. The embedded engine runs as
 * clickhouse-local, which has none of a server's confinement (`user_files_path` is not applied to
 * `file()`, `remote_url_allow_hosts` is not applied to `url()`; measured on 26.7), but it does
 * enforce grants: the users file (`engineUsersXml`) takes every source away from the built-in
 * `default` user but Kafka (and the local filesystem, whose paths `chpipe serve` checks at the
 * request edge, see src/serve/reach.ts), and with `table_engines_require_grant` the table engines
 * that read or write outside the data folder (File, URL, S3, …) too.
 */
export interface EngineAccess {
  /**
   * `serve --allow-remote-sources`: the sources that reach other hosts (`url()`, `s3()`, `remote()`,
   * `mysql()`, `postgresql()`, …, their table engines, and dictionaries, whose HTTP and ClickHouse
   * sources no grant covers).
   */
  readonly remoteSources?: boolean;
  /** Cluster mode: `cluster()` and `clusterAllReplicas()` (the REMOTE source), which status and a rebuild's copy run. */
  readonly clusterFunctions?: boolean;
}

/** Sources that reach other hosts (ClickHouse's `SOURCES` privileges): granted only with `remoteSources`. */
const REMOTE_SOURCES = ['URL', 'REMOTE', 'MONGO', 'REDIS', 'MYSQL', 'POSTGRES', 'ODBC', 'JDBC', 'HDFS', 'S3', 'HIVE', 'AZURE', 'NATS', 'RABBITMQ'];

/** Table engines that keep their data in the engine's own folder, or only read other tables: always allowed. */
const LOCAL_TABLE_ENGINES = [
  'MergeTree',
  'ReplacingMergeTree',
  'SummingMergeTree',
  'AggregatingMergeTree',
  'CollapsingMergeTree',
  'VersionedCollapsingMergeTree',
  'GraphiteMergeTree',
  'CoalescingMergeTree',
  'ReplicatedMergeTree',
  'ReplicatedReplacingMergeTree',
  'ReplicatedSummingMergeTree',
  'ReplicatedAggregatingMergeTree',
  'ReplicatedCollapsingMergeTree',
  'ReplicatedVersionedCollapsingMergeTree',
  'ReplicatedGraphiteMergeTree',
  'ReplicatedCoalescingMergeTree',
  'Kafka',
  'Distributed',
  'Buffer',
  'Null',
  'Memory',
  'Log',
  'TinyLog',
  'StripeLog',
  'Join',
  'Set',
  'Dictionary',
  'Merge',
  'MaterializedView',
  'View',
  'WindowView',
  'GenerateRandom',
  'KeeperMap',
  'TimeSeries',
  'Alias',
  'Loop',
];

/** Table engines that reach other hosts: allowed with `remoteSources`. */
const REMOTE_TABLE_ENGINES = ['URL', 'S3', 'S3Queue', 'AzureBlobStorage', 'AzureQueue', 'HDFS', 'MySQL', 'PostgreSQL', 'MaterializedPostgreSQL', 'MongoDB', 'Redis', 'ODBC', 'JDBC', 'GCS', 'OSS', 'COSN', 'Remote', 'RemoteSecure', 'Iceberg', 'IcebergS3', 'IcebergAzure', 'IcebergHDFS', 'DeltaLake', 'DeltaLakeS3', 'DeltaLakeAzure', 'Hudi', 'Paimon', 'PaimonS3', 'PaimonAzure', 'PaimonHDFS', 'YTsaurus'];

/** The grants of the engine's `default` user, as `GRANT`/`REVOKE` statements in order (see `EngineAccess`). */
export function engineGrants(access: EngineAccess): string[] {
  const sources = ['KAFKA', 'FILE', ...(access.remoteSources ? REMOTE_SOURCES : access.clusterFunctions ? ['REMOTE'] : [])];
  const engines = [...LOCAL_TABLE_ENGINES, ...(access.remoteSources ? REMOTE_TABLE_ENGINES : [])];
  return [
    'GRANT ALL ON *.*',
    'REVOKE READ, WRITE ON *',
    ...sources.map((source) => `GRANT READ, WRITE ON ${source}`),
    'REVOKE TABLE ENGINE ON *',
    ...engines.map((engine) => `GRANT TABLE ENGINE ON ${engine}`),
    ...(access.remoteSources ? [] : ['REVOKE CREATE DICTIONARY ON *.*']),
  ];
}

/**
 * The users file of an embedded target's engine: the built-in `default` user with the grants of
 * `engineGrants`, and for `chpipe dev` (`devFreshness`) a `default` profile that sets
 * `stream_flush_interval_ms` to `DEV_STREAM_FLUSH_INTERVAL_MS`. The engine's background streaming
 * runs with the default profile's settings, and chdb reads profiles from a users file only (a
 * `<profiles>` section in the server config, or `--stream_flush_interval_ms` on the command line,
 * changes the session but not the Kafka tables). A pipeline's own `kafka_flush_interval_ms` still wins.
 */
export function engineUsersXml(options: { readonly devFreshness?: boolean; readonly access: EngineAccess }): string {
  return [
    '<!-- written by chpipe for its embedded engine; rewritten at every start -->',
    '<clickhouse>',
    '  <profiles>',
    '    <default>',
    ...(options.devFreshness ? [`      <stream_flush_interval_ms>${DEV_STREAM_FLUSH_INTERVAL_MS}</stream_flush_interval_ms>`] : []),
    '    </default>',
    '  </profiles>',
    '  <users>',
    '    <default>',
    '      <password></password>',
    '      <networks><ip>::/0</ip></networks>',
    '      <profile>default</profile>',
    '      <quota>default</quota>',
    '      <grants>',
    ...engineGrants(options.access).map((grant) => `        <query>${xmlText(grant)}</query>`),
    '      </grants>',
    '    </default>',
    '  </users>',
    '  <quotas><default></default></quotas>',
    '</clickhouse>',
    '',
  ].join('\n');
}

function xmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The pool size that gives every Kafka table a thread, with a margin (the default on 2 cores is 2: the rest wait for partitions). */
export function brokerPoolSize(kafkaTables: number): number {
  return Math.max(0, Math.floor(kafkaTables)) + BROKER_POOL_MARGIN;
}

/**
 * The engine's server configuration for `chpipe dev` and `chpipe serve`: the
 * message-broker pool (a server setting, read once at start) and the Kafka
 * consumers' session timeout (`LOCAL_SESSION_TIMEOUT_MS`), static membership
 * for the topics that may have it (`staticMembership`), and the users
 * file with the `default` user's grants and dev's freshness (`usersConfigFile`, see `engineUsersXml`),
 * and the user files folder (`userFilesPath`).
 */
export function devEngineConfigXml(config: DevEngineConfig): string {
  const membership = config.staticMembership;
  const topics = membership?.topics ?? [];
  return [
    '<!-- written by chpipe dev / chpipe serve for its embedded engine; rewritten at every start -->',
    '<clickhouse>',
    `  <background_message_broker_schedule_pool_size>${brokerPoolSize(config.kafkaTables)}</background_message_broker_schedule_pool_size>`,
    ...(config.usersConfigFile !== undefined
      ? [
          `  <users_config>${xmlText(config.usersConfigFile)}</users_config>`,
          // Creating a table of an engine that reads or writes outside the data folder needs its grant (see engineGrants).
          '  <access_control_improvements><table_engines_require_grant>true</table_engines_require_grant></access_control_improvements>',
        ]
      : []),
    ...(config.userFilesPath !== undefined ? [`  <user_files_path>${xmlText(config.userFilesPath)}</user_files_path>`] : []),
    '  <kafka>',
    `    <session_timeout_ms>${LOCAL_SESSION_TIMEOUT_MS}</session_timeout_ms>`,
    `    <heartbeat_interval_ms>${LOCAL_HEARTBEAT_INTERVAL_MS}</heartbeat_interval_ms>`,
    ...(membership && topics.length
      ? [
          '    <consumer>',
          ...topics.map((topic) => `      <kafka_topic><name>${xmlText(topic)}</name><group_instance_id>${xmlText(membership.instanceId)}</group_instance_id></kafka_topic>`),
          '    </consumer>',
        ]
      : []),
    '  </kafka>',
    '</clickhouse>',
    '',
  ].join('\n');
}

/** A pipeline's objects the live view counts: what users query (`NAME`), and `NAME_errors` when it exists. */
export interface CountedPipeline {
  readonly pipeline: string;
  /** The object users query: a table or the finalizing view. */
  readonly object: string;
  /** `NAME_errors` (columns `received_at`, `offset`, `error`), when the pipeline streams its errors. */
  readonly errors?: string;
}

/** One row of `liveCountsQuery`: a pipeline's rows or errors, and for errors the latest one's message. */
export interface CountRow {
  readonly pipeline: string;
  readonly what: 'rows' | 'errors';
  readonly n: string;
  readonly last: string;
}

/**
 * Every pipeline's counts in one statement (one round trip, whatever the
 * number of pipelines): `count()` of what users query and of `NAME_errors`,
 * and the `error` of the latest `NAME_errors` row. Undefined when there is nothing to count.
 */
export function liveCountsQuery(database: string, pipelines: readonly CountedPipeline[]): string | undefined {
  const parts: string[] = [];
  for (const p of pipelines) {
    const name = stringLiteral(p.pipeline);
    parts.push(`SELECT ${name} AS pipeline, 'rows' AS what, toString(count()) AS n, '' AS last FROM ${qualified(database, p.object)}`);
    if (p.errors !== undefined) {
      parts.push(`SELECT ${name} AS pipeline, 'errors' AS what, toString(count()) AS n, toString(argMax(error, (received_at, \`offset\`))) AS last FROM ${qualified(database, p.errors)}`);
    }
  }
  return parts.length ? parts.join('\nUNION ALL\n') : undefined;
}
