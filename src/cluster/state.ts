/**
 * Cluster mode: every host's state read over one connection in a constant
 * number of queries, whatever the number of hosts or objects (docs/cluster.md).
 *
 * Inspection's two SELECTs (inspect/inspect.ts) run over
 * `clusterAllReplicas(cluster, system.tables)` and `system.columns`, each row
 * carrying the host that answered it (`hostName()`, `tcpPort()`) and its
 * shard (`shardNum()`); the rows are grouped per host and read into one Model
 * each by `modelFromRows`. The hosts' macros come from `readClusterHosts`
 * (cluster/executor.ts), and one row per host from `system.one`, so a host
 * with no objects yet (or no macros) is in the list too.
 *
 * Then, per host, drift against the migrated state (each host's objects
 * normalized on the scratch engine, as `status` does for the target), and the
 * layout of the migrated state's Replicated tables against the hosts' macros
 * (`checkLayout`).
 */
import type { Scratch } from '../check/scratch.js';
import { EngineError, type Driver } from '../engine/driver.js';
import type { Drift } from '../diff/drift.js';
import { COLUMN_FIELDS, modelFromRows, TABLE_FIELDS, type ColumnRow, type TableRow } from '../inspect/inspect.js';
import { driftAgainst, normalizeOnScratch, withoutOwnObjects } from '../migrate/status.js';
import type { Model, Placement } from '../model/model.js';
import { selectClusterColumns, selectClusterReplicas, selectClusterTables, type HostFields } from '../sql/cluster.js';
import { readClusterHosts, unknownClusterMessage } from './executor.js';
import { checkLayout, type ClusterHost } from './layout.js';

/** One host of the cluster: its topology (what checkLayout reads) and its objects. */
export interface HostState extends ClusterHost {
  /** The host's objects in the project's database, as `inspectDatabase` reads them on that host. */
  readonly model: Model;
}

export interface ClusterState {
  /** Every host of the cluster, by shard, then host. */
  readonly hosts: readonly HostState[];
  /** Queries used (constant by design). */
  readonly queries: number;
}

/** The engine's answer when the server's `<remote_servers>` has no such cluster. */
const NO_SUCH_CLUSTER = 'CLUSTER_DOESNT_EXIST';

const hostOf = (r: HostFields) => `${r.host_name}:${r.tcp_port}`;

/**
 * Every host's objects, macros and shard, over `driver` (one server of the cluster), in `queries` queries.
 * Undefined when the server has no cluster of that name. Needs every node's TCP port: `clusterAllReplicas`
 * connects to each (a host that does not answer fails the read with the engine's error).
 */
export async function readClusterState(driver: Driver, placement: Placement, cluster: string): Promise<ClusterState | undefined> {
  const databases = [placement.database];
  let queries = 0;
  const counted = <T>(read: Promise<T>) => {
    queries++;
    return read;
  };
  try {
    const [replicas, tables, columns, macros] = await Promise.all([
      counted(driver.query<HostFields>(selectClusterReplicas(cluster))),
      counted(driver.query<HostFields & TableRow>(selectClusterTables(cluster, TABLE_FIELDS, databases))),
      counted(driver.query<HostFields & ColumnRow>(selectClusterColumns(cluster, COLUMN_FIELDS, databases))),
      counted(readClusterHosts(driver, cluster)),
    ]);
    const topology = new Map(macros.map((h) => [h.host, h]));
    const rowsOf = <R extends HostFields>(rows: readonly R[]) => {
      const by = new Map<string, R[]>();
      for (const r of rows) by.set(hostOf(r), [...(by.get(hostOf(r)) ?? []), r]);
      return by;
    };
    const tablesOf = rowsOf(tables);
    const columnsOf = rowsOf(columns);
    const seen = new Map<string, number>();
    for (const r of [...replicas, ...tables]) seen.set(hostOf(r), Number(r.shard_num));
    for (const h of macros) seen.set(h.host, h.shard);
    const hosts = [...seen].map(([host, shard]): HostState => ({
      host,
      shard,
      macros: topology.get(host)?.macros ?? {},
      model: modelFromRows(placement, tablesOf.get(host) ?? [], columnsOf.get(host) ?? []),
    }));
    hosts.sort((a, b) => a.shard - b.shard || a.host.localeCompare(b.host));
    return { hosts, queries };
  } catch (e) {
    if (e instanceof EngineError && e.codeName === NO_SUCH_CLUSTER) return undefined;
    throw e;
  }
}

/** One host in `chpipe status`: what differs there from the migrated state. */
export interface HostStatus {
  /** `host:port` (the host's hostName() and tcpPort()). */
  readonly host: string;
  readonly shard: number;
  readonly drift: readonly Drift[];
}

export interface ClusterStatus {
  /** Per host; empty when the cluster could not be read (then `problems` says why). */
  readonly hosts: readonly HostStatus[];
  /** Queries used to read every host (constant). */
  readonly queries: number;
  /** The cluster missing on the target, or the migrated state's layout wrong for the hosts' macros: one sentence each. */
  readonly problems: readonly string[];
}

/**
 * Every host's drift from the migrated state (`migrated`, as the scratch engine in cluster mode reads it back,
 * with its tables' replication), and the layout problems of that state on the hosts. Each host's objects go
 * through the scratch engine one host after another (`normalizeOnScratch` resets it).
 */
export async function clusterStatus(args: { readonly driver: Driver; readonly scratch: Scratch; readonly placement: Placement; readonly cluster: string; readonly migrated: Model; readonly namedCollection?: string }): Promise<ClusterStatus> {
  const { cluster, migrated } = args;
  let state: ClusterState | undefined;
  try {
    state = await readClusterState(args.driver, args.placement, cluster);
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
    const why = e.engineMessage.split('\n')[0] as string;
    return { hosts: [], queries: 0, problems: [`every host of cluster ${cluster} could not be read over this connection (${e.codeName ?? 'error'}: ${why}): clusterAllReplicas connects to each host's TCP port, so bring the hosts back or make them reachable from this server, then run status again`] };
  }
  if (!state) {
    return { hosts: [], queries: 0, problems: [unknownClusterMessage(args.driver.target, cluster)] };
  }
  const hosts: HostStatus[] = [];
  for (const h of state.hosts) {
    const normalized = await normalizeOnScratch(args.scratch, withoutOwnObjects(h.model), migrated, args.namedCollection);
    hosts.push({ host: h.host, shard: h.shard, drift: driftAgainst(args.placement.database, migrated, normalized) });
  }
  const problems = checkLayout(migrated, state.hosts).map((p) => `cluster ${cluster}'s layout: ${p.message}`);
  return { hosts, queries: state.queries, problems };
}
