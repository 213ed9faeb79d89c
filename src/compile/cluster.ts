/**
 * Cluster mode: a single-server Model → the same pipelines laid out on a
 * cluster. Pure. Called at the end of compile when chpipe.yaml has `cluster:`.
 *
 * - Every table that stores rows (an ingest's table, an aggregate's state, an
 *   errors table) becomes a per-node `NAME_local` on `Replicated*MergeTree`
 *   (Keeper path and replica name with macros each server expands), and a
 *   `Distributed` table takes its name: what users query reads every shard.
 *   An aggregate's finalizing view keeps reading `NAME_state`, now the
 *   Distributed one, so it re-aggregates the states of every shard.
 * - Kafka tables, hubs and views stay as they are, on every node (the
 *   placement's `cluster` puts ON CLUSTER on every statement): every node
 *   consumes with the pipeline's one consumer group, so Kafka spreads the
 *   topic's partitions over all nodes' consumers. Flows write into the local
 *   table of their node; a publish flow reads its node's local table, so each
 *   block is produced once, by the node whose consumer inserted it (a replica
 *   that fetches a part does not run views).
 */
import { localName, makeModel, type DbObject, type DistributedTable, type LocalRole, type MaterializedView, type Model, type Replication, type Table } from '../model/model.js';
import { ownershipComment, parseOwnership } from '../model/ownership.js';
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import { locate, type PathKey } from '../spec/source.js';
import type { ClusterLayout, ProjectSpec } from '../spec/types.js';

/** The roles whose tables store rows, and the role of their per-node table. */
const LOCAL_ROLE: Readonly<Record<string, LocalRole>> = { table: 'table_local', state: 'state_local', errors: 'errors_local' };

export function replicationOf(layout: ClusterLayout): Replication {
  return layout.replication === 'default' ? {} : { path: layout.replication.path, replica: layout.replication.replica };
}

export function toCluster(model: Model, cluster: string, layout: ClusterLayout): Model {
  const renamed = new Map<string, string>();
  const objects: DbObject[] = [];
  for (const o of model.objects) {
    const localRole = o.kind === 'table' && o.owner ? LOCAL_ROLE[o.owner.role] : undefined;
    if (o.kind !== 'table' || !o.owner || !localRole) {
      objects.push(o);
      continue;
    }
    const owner = { pipeline: o.owner.pipeline, role: localRole };
    const local: Table = Object.freeze({ ...o, name: localName(o.name), owner, comment: ownershipComment(owner, parseOwnership(o.comment).description || undefined), replication: replicationOf(layout) });
    const distributed: DistributedTable = Object.freeze({
      kind: 'distributed',
      name: o.name,
      // What it reads back as: a Distributed table has no key of its own.
      columns: o.columns.map(({ inKey: _inKey, ...c }) => c),
      cluster,
      local: local.name,
      shardingKey: layout.shardingKey,
      comment: o.comment,
      owner: o.owner,
    });
    renamed.set(o.name, local.name);
    objects.push(local, distributed);
  }
  const retarget = (o: DbObject): DbObject => {
    if (o.kind !== 'mv' || !renamed.has(o.to)) return o;
    const mv: MaterializedView = Object.freeze({ ...o, to: renamed.get(o.to) as string });
    return mv;
  };
  return makeModel({ database: model.database, cluster }, objects.map(retarget));
}

/**
 * Layout mistakes that can be told from chpipe.yaml alone (the servers'
 * topology is checked against a target in cluster/layout.ts): each one is
 * what the engine refuses, or worse, accepts and replicates wrongly.
 */
export function clusterDiagnostics(spec: ProjectSpec, objects: readonly DbObject[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const layout = spec.clusterLayout;
  if (!layout) return out;
  const at = (key: string): PathKey[] => (spec.source.doc.hasIn(['cluster', key]) ? ['cluster', key] : ['cluster']);
  if (layout.replication !== 'default') {
    const { path, replica } = layout.replication;
    if (!path.includes('{shard}')) {
      out.push(
        diagnostic(locate(spec.source, at('replication_path')), 'cluster-layout', `cluster.replication_path "${path}" has no {shard} macro: the replicas of every shard would meet at one Keeper path (the same replica name on two shards fails with REPLICA_ALREADY_EXISTS; different ones copy each other's rows)`, {
          expected: 'a path with {shard}, e.g. /clickhouse/tables/{uuid}/{shard}',
        }),
      );
    }
    if (!path.includes('{uuid}')) {
      const why = path.includes('{table}')
        ? 'a rebuild creates its new table with CREATE OR REPLACE, which expands {table} to a temporary name that differs on every node, so that table\'s replicas never meet'
        : 'every table would share one Keeper path (METADATA_MISMATCH, or "Table columns structure in ZooKeeper is different")';
      out.push(diagnostic(locate(spec.source, at('replication_path')), 'cluster-layout', `cluster.replication_path "${path}" has no {uuid} macro: ${why}`, { expected: 'a path with {uuid} and {shard}, e.g. /clickhouse/tables/{uuid}/{shard}', hint: 'leave replication_path out for that default' }));
    }
    if (!replica.includes('{replica}')) {
      out.push(diagnostic(locate(spec.source, at('replica_name')), 'cluster-layout', `cluster.replica_name "${replica}" has no {replica} macro: every replica of a shard would take the same name, and the second fails with REPLICA_ALREADY_EXISTS`, { expected: '{replica} (the default), or a name built on it' }));
    }
  }
  for (const o of objects) {
    if (o.kind !== 'kafka' || !o.owner || !/\{(replica|shard)\}/.test(o.group)) continue;
    const p = spec.pipelines.find((x) => x.name === o.owner?.pipeline);
    if (!p || p.kind === 'publish') continue;
    out.push(diagnostic(locate(p.file, p.file.doc.hasIn(['source', 'group']) ? ['source', 'group'] : ['source']), 'cluster-layout', `consumer group "${o.group}" differs per node: every node would read every message, and the Replicated tables would hold each row once per node`, { expected: 'one group per pipeline, the same on every node', hint: 'remove the macro from source.group' }));
  }
  return out;
}
