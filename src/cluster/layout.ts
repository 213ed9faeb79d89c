/**
 * Cluster mode: the layout of a model's Replicated tables checked against a
 * cluster's topology (its hosts, their shard and their macros), before any
 * statement runs. Pure. Each problem is one the engine would raise on one
 * node after others succeeded, or would not raise at all:
 *
 * - two hosts expanding to the same replica at the same path (a hard-coded
 *   replica name; a path without `{shard}` where replica names repeat per
 *   shard) → the second `CREATE` fails with REPLICA_ALREADY_EXISTS, or,
 *   measured with chdb 26.7 on ZooKeeper 3.9, when both carry the same table
 *   UUID (what ON CLUSTER hands every node, so `{uuid}` paths) it succeeds
 *   and the second server silently attaches to the first's replica;
 * - hosts of different shards at one path → the shards replicate each
 *   other's rows (a path without `{shard}`); nothing fails;
 * - hosts of one shard at different paths → its replicas never meet;
 * - two tables at one path → METADATA_MISMATCH / "Table columns structure
 *   in ZooKeeper is different" on the second (a path without `{uuid}` or
 *   `{table}`);
 * - a macro a host does not define → the `CREATE` fails on that host.
 */
import type { Model, Table } from '../model/model.js';

export interface ClusterHost {
  /** `host:port`, as system.clusters names it. */
  readonly host: string;
  /** system.clusters.shard_num */
  readonly shard: number;
  /** The host's system.macros. */
  readonly macros: Readonly<Record<string, string>>;
  /** The host's default_replica_path and default_replica_name (server settings), for `replication_path: default`. */
  readonly defaultReplicaPath?: string;
  readonly defaultReplicaName?: string;
}

export type LayoutProblemCode = 'missing-macro' | 'replica-collision' | 'shards-share-path' | 'replicas-apart' | 'tables-share-path';

export interface LayoutProblem {
  readonly code: LayoutProblemCode;
  /** The table (per-node name) the problem is about. */
  readonly table: string;
  /** One sentence: what happens, on which hosts, and what the engine says. */
  readonly message: string;
}

/** ClickHouse's own defaults (default_replica_path, default_replica_name), when a host does not say. */
export const SERVER_DEFAULT_PATH = '/clickhouse/tables/{uuid}/{shard}';
export const SERVER_DEFAULT_REPLICA = '{replica}';

/** Expand `{macro}`s the way a server does for a table: `{database}`, `{table}`, `{uuid}` (one per table, the same on every host under ON CLUSTER), then the host's macros. */
function expand(template: string, host: ClusterHost, database: string, table: string): { value: string; missing: string[] } {
  const missing: string[] = [];
  const value = template.replace(/\{([A-Za-z0-9_]+)\}/g, (all, name: string) => {
    if (name === 'database') return database;
    if (name === 'table') return table;
    if (name === 'uuid') return `<uuid of ${table}>`;
    const v = host.macros[name];
    if (v === undefined) {
      missing.push(name);
      return all;
    }
    return v;
  });
  return { value, missing };
}

export function checkLayout(model: Model, hosts: readonly ClusterHost[]): LayoutProblem[] {
  const problems: LayoutProblem[] = [];
  const replicated = model.objects.filter((o): o is Table & { replication: NonNullable<Table['replication']> } => o.kind === 'table' && o.replication !== undefined);
  /** Per host: expanded path → the table there. */
  const pathsByHost = new Map<string, Map<string, string>>();
  for (const t of replicated) {
    const seen = new Map<string, string>(); // path + replica → host
    const shardsOfPath = new Map<string, Set<number>>();
    const pathsOfShard = new Map<number, Set<string>>();
    for (const h of hosts) {
      const path = expand(t.replication.path ?? h.defaultReplicaPath ?? SERVER_DEFAULT_PATH, h, model.database, t.name);
      const replica = expand(t.replication.replica ?? h.defaultReplicaName ?? SERVER_DEFAULT_REPLICA, h, model.database, t.name);
      const missing = [...new Set([...path.missing, ...replica.missing])];
      if (missing.length) {
        problems.push({ code: 'missing-macro', table: t.name, message: `${h.host} defines no ${missing.map((m) => `{${m}}`).join(', ')} macro${missing.length > 1 ? 's' : ''}: CREATE TABLE ${t.name} fails there` });
        continue;
      }
      const key = `${path.value}\u0000${replica.value}`;
      const other = seen.get(key);
      if (other !== undefined) problems.push({ code: 'replica-collision', table: t.name, message: `${other} and ${h.host} both are replica "${replica.value}" at ${path.value}: the second CREATE TABLE ${t.name} fails with REPLICA_ALREADY_EXISTS, or, when both carry the table's UUID (ON CLUSTER), silently takes over the first's replica, and two servers write as one` });
      else seen.set(key, h.host);
      shardsOfPath.set(path.value, (shardsOfPath.get(path.value) ?? new Set()).add(h.shard));
      pathsOfShard.set(h.shard, (pathsOfShard.get(h.shard) ?? new Set()).add(path.value));
      const onHost = pathsByHost.get(h.host) ?? new Map<string, string>();
      const sharing = onHost.get(path.value);
      if (sharing !== undefined && sharing !== t.name) problems.push({ code: 'tables-share-path', table: t.name, message: `${sharing} and ${t.name} share the Keeper path ${path.value} on ${h.host}: the second fails with METADATA_MISMATCH (columns or ORDER BY differ), or replicates the first's rows` });
      onHost.set(path.value, t.name);
      pathsByHost.set(h.host, onHost);
    }
    for (const [path, shards] of shardsOfPath) {
      if (shards.size > 1) problems.push({ code: 'shards-share-path', table: t.name, message: `shards ${[...shards].sort((a, b) => a - b).join(', ')} share the Keeper path ${path} for ${t.name}: each shard would hold every shard's rows (the path needs {shard})` });
    }
    for (const [shard, paths] of pathsOfShard) {
      if (paths.size > 1) problems.push({ code: 'replicas-apart', table: t.name, message: `the replicas of shard ${shard} use ${paths.size} Keeper paths for ${t.name} (${[...paths].join(', ')}): they never replicate (their {shard} macros differ)` });
    }
  }
  // One problem per table and code is enough to act on; keep the first of each.
  const kept = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.code}\u0000${p.table}`;
    if (p.code !== 'missing-macro' && kept.has(key)) return false;
    kept.add(key);
    return true;
  });
}
