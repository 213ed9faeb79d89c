/**
 * Cluster mode's defaults (docs/cluster.md). The Keeper path of a Replicated
 * table is ClickHouse's own default: `{uuid}` keeps one path per table through
 * renames, EXCHANGE TABLES and CREATE OR REPLACE (which expands `{table}` to a
 * temporary name, different on every node), and ON CLUSTER hands every node
 * the same UUID. `{shard}` separates shards; `{replica}` names each replica.
 */
export const DEFAULT_REPLICATION_PATH = '/clickhouse/tables/{uuid}/{shard}';
export const DEFAULT_REPLICA_NAME = '{replica}';
