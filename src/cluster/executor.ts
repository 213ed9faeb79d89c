/**
 * Apply on a cluster through a transport that reaches every node (docs/cluster.md).
 *
 * A server runs an `ON CLUSTER` statement through its distributed DDL queue:
 * the initiator gives a new table one UUID, every host runs the statement
 * without the clause and expands its own macros, and the initiator reports
 * the hosts that failed or did not finish in `distributed_ddl_task_timeout`.
 * `ClusterDriver` does the same over a transport that runs a statement on one
 * node (the test harness's per-node engines; any per-host connection): a
 * `Driver` the executor (migrate/apply.ts) uses unchanged. Statements without
 * `ON CLUSTER` (the history, the lock, a rebuild's copy) run on the initiator,
 * the first node.
 *
 * Before anything runs, `checkClusterLayout` reads every node's macros and
 * refuses a layout `checkLayout` finds wrong; `clusterDrift` reads every
 * node's objects and reports drift per host.
 */
import { randomUUID } from 'node:crypto';
import type { Scratch } from '../check/scratch.js';
import { diffModels } from '../diff/diff.js';
import { describeDrift, maskSecrets, type Drift } from '../diff/drift.js';
import type { MigrationFile } from '../migrate/files.js';
import { replayMigrations } from '../migrate/replay.js';
import { filled } from '../migrate/status.js';
import { EngineError, type Driver } from '../engine/driver.js';
import { inspectDatabase } from '../inspect/inspect.js';
import type { Model, Placement } from '../model/model.js';
import { selectClusterMacros, withoutOnCluster } from '../sql/cluster.js';
import { statementTarget } from '../sql/parse.js';
import { stringLiteral } from '../sql/quote.js';
import { MigrationError } from '../migrate/errors.js';
import { checkLayout, type ClusterHost, type LayoutProblem } from './layout.js';

export interface ClusterNodeConnection {
  /** `host:port`, as system.clusters names it. */
  readonly host: string;
  readonly shard: number;
  readonly driver: Driver;
}

export interface HostFailure {
  readonly host: string;
  readonly message: string;
}

/** An ON CLUSTER statement that failed on some hosts: which, why, and which ran it. */
export class ClusterStatementError extends EngineError {
  constructor(
    sql: string,
    readonly failures: readonly HostFailure[],
    readonly succeeded: readonly string[],
  ) {
    super(sql, `failed on ${failures.length} of ${failures.length + succeeded.length} hosts: ${failures.map((f) => `${f.host} (${f.message})`).join('; ')}${succeeded.length ? `; it ran on ${succeeded.join(', ')}` : ''}. Every statement chpipe writes is safe to run again on the hosts that ran it: bring the failed hosts back, then run apply again, which reruns this statement on every host`);
  }
}

/** The engine's message without the stack some builds append. */
function messageOf(e: unknown): string {
  const text = e instanceof EngineError ? e.engineMessage : e instanceof Error ? e.message : String(e);
  return text.split('\n')[0] as string;
}

export class ClusterDriver implements Driver {
  readonly kind: Driver['kind'];
  readonly target: string;
  constructor(
    readonly cluster: string,
    readonly nodes: readonly ClusterNodeConnection[],
  ) {
    if (!nodes.length) throw new Error(`cluster ${cluster} has no nodes`);
    this.kind = (nodes[0] as ClusterNodeConnection).driver.kind;
    this.target = `cluster ${cluster} (${nodes.map((n) => n.host).join(', ')})`;
  }

  private get initiator(): Driver {
    return (this.nodes[0] as ClusterNodeConnection).driver;
  }

  async exec(sql: string): Promise<void> {
    const [row] = await this.initiator.query<{ q: string }>(`SELECT formatQuery(${stringLiteral(sql)}) AS q`);
    const local = withoutOnCluster(row?.q ?? sql, this.cluster);
    if (local === undefined) return this.initiator.exec(sql);
    const resolved = await this.withUuid(local);
    const failures: HostFailure[] = [];
    const succeeded: string[] = [];
    for (const n of this.nodes) {
      try {
        await n.driver.exec(resolved);
        succeeded.push(n.host);
      } catch (e) {
        failures.push({ host: n.host, message: messageOf(e) });
      }
    }
    if (failures.length) throw new ClusterStatementError(sql, failures, succeeded);
  }

  /**
   * The initiator's part: a new table gets one UUID on every host (`{uuid}` in its Keeper path). A table some
   * host already has keeps its UUID (what a queued task carries to a host that was down); CREATE OR REPLACE
   * always makes a new table.
   */
  private async withUuid(local: string): Promise<string> {
    const t = statementTarget(local);
    if (t.verb !== 'CREATE' || t.objectKind !== 'TABLE' || t.name === undefined || t.nameEnd === undefined) return local;
    let uuid: string | undefined;
    if (!local.startsWith('CREATE OR REPLACE ')) {
      for (const n of this.nodes) {
        const rows = await n.driver.query<{ uuid: string }>(`SELECT toString(uuid) AS uuid FROM system.tables WHERE database = ${stringLiteral(t.database ?? 'default')} AND name = ${stringLiteral(t.name)}`).catch(() => []);
        uuid = rows[0]?.uuid;
        if (uuid) break;
      }
    }
    return `${local.slice(0, t.nameEnd)} UUID ${stringLiteral(uuid ?? randomUUID())}${local.slice(t.nameEnd)}`;
  }

  query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return this.initiator.query<T>(sql);
  }

  version(): Promise<string> {
    return this.initiator.version();
  }

  async close(): Promise<void> {
    // The nodes' drivers belong to the caller.
  }
}

/** Every node's topology as checkLayout reads it: its shard and its macros (one query per node). */
export async function readHosts(nodes: readonly ClusterNodeConnection[]): Promise<ClusterHost[]> {
  const hosts: ClusterHost[] = [];
  for (const n of nodes) {
    const rows = await n.driver.query<{ macro: string; substitution: string }>('SELECT macro, substitution FROM system.macros');
    hosts.push({ host: n.host, shard: n.shard, macros: Object.fromEntries(rows.map((r) => [r.macro, r.substitution])) });
  }
  return hosts;
}

/**
 * Every node's topology in one query over one connection to a real server (`clusterAllReplicas` over
 * system.macros): what `readHosts` reads node by node on the harness. A host is `hostName():tcpPort()`.
 */
export async function readClusterHosts(driver: Driver, cluster: string): Promise<ClusterHost[]> {
  const rows = await driver.query<{ host: string; port: number | string; shard: number | string; macro: string; substitution: string }>(selectClusterMacros(cluster));
  const hosts = new Map<string, ClusterHost & { macros: Record<string, string> }>();
  for (const r of rows) {
    const host = `${r.host}:${r.port}`;
    const h = hosts.get(host) ?? { host, shard: Number(r.shard), macros: {} };
    h.macros[r.macro] = r.substitution;
    hosts.set(host, h);
  }
  return [...hosts.values()];
}

/** Refuse, before any statement runs, a model whose Replicated tables the cluster's macros would lay out wrong. */
export async function checkClusterLayout(model: Model, nodes: readonly ClusterNodeConnection[]): Promise<void> {
  refuseLayout(checkLayout(model, await readHosts(nodes)));
}

function refuseLayout(problems: readonly LayoutProblem[]): void {
  if (problems.length) throw new MigrationError(`the cluster's layout is wrong for these tables, so nothing was applied: ${problems.map((p) => p.message).join('; ')}`);
}

/**
 * The same check over one connection to a server of the cluster (apply's first step in cluster mode): every host's
 * macros in one query (`readClusterHosts`). A server that does not know the cluster is refused in one sentence.
 */
export async function checkTargetLayout(driver: Driver, cluster: string, model: Model): Promise<ClusterHost[]> {
  let hosts: ClusterHost[];
  try {
    hosts = await readClusterHosts(driver, cluster);
  } catch (e) {
    if (e instanceof EngineError && e.codeName === 'CLUSTER_DOESNT_EXIST') throw new MigrationError(`${unknownClusterMessage(driver.target, cluster)}; nothing was applied`);
    throw e;
  }
  if (!hosts.length) throw new MigrationError(`${unknownClusterMessage(driver.target, cluster)}; nothing was applied`);
  refuseLayout(checkLayout(model, hosts));
  return hosts;
}

/** One sentence for a target whose servers do not define the project's cluster. */
export function unknownClusterMessage(target: string, cluster: string): string {
  return `${target} has no cluster ${JSON.stringify(cluster)} (system.clusters): define it in the servers' <remote_servers> (with a <macros> section on every host), or set \`cluster:\` in chpipe.yaml to one the servers have`;
}

export interface HostDrift {
  readonly host: string;
  /** What differs on this host from the migrated state, as `chpipe status` words it. */
  readonly drift: readonly Drift[];
}

/**
 * The migrated state as apply left it: the applied files, their environment references filled as apply filled
 * them, replayed on a scratch engine in cluster mode (check/scratch.ts) and read back.
 */
export async function appliedState(scratch: Scratch, placement: Placement, applied: readonly MigrationFile[], env: Readonly<Record<string, string | undefined>>, dirDisplay: string): Promise<Model> {
  const failed = (await replayMigrations(scratch, placement, applied.map((f) => filled(f, env)), dirDisplay))[0];
  if (failed) throw new MigrationError(`${failed.file}:${failed.line}: ${failed.message}`);
  return (await scratch.inspect(placement)).model;
}

/**
 * Each node's objects against the migrated state, per host, over the harness's per-node connections: one
 * inspection per node (two queries). Over one connection to a real server, `status` reads every host at once
 * (cluster/state.ts, `clusterAllReplicas`), which needs every node's TCP port: the embedded engines serve none
 * (measured: NETWORK_ERROR, connection refused).
 */
export async function clusterDrift(nodes: readonly ClusterNodeConnection[], placement: Placement, migrated: Model): Promise<HostDrift[]> {
  const out: HostDrift[] = [];
  for (const n of nodes) {
    const { model } = await inspectDatabase(n.driver, placement);
    out.push({ host: n.host, drift: describeDrift(placement.database, diffModels(maskSecrets(migrated), maskSecrets(model))) });
  }
  return out;
}
