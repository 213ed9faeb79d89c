/**
 * Cluster mode: reading statements and engines the way a server's DDL worker
 * and `system.tables` present them. Pure.
 *
 * - `onClusterClause` finds the `ON CLUSTER name` clause of a statement the
 *   engine has normalized (`formatQuery`): the engine prints it once, in the
 *   statement's head line, as the words ON CLUSTER and the cluster's name
 *   (quoted when it needs quoting). The head is scanned token by token
 *   (quoted names skipped), and the name read as an identifier and compared
 *   with the project's cluster: a clause for another cluster is not this one's.
 * - `replicatedEngine` splits `ReplicatedX('path', 'replica', args…)` into X
 *   and its replication (what compile/cluster.ts built, read back).
 * - `distributedEngine` reads `Distributed('cluster', 'db', 'local', key)`.
 */
import type { Replication } from '../model/model.js';
import { readIdentifier, skipQuoted } from './parse.js';
import { stringLiteral } from './quote.js';

/** Where the ` ON CLUSTER name` clause of a normalized statement is (offsets of its leading space and its end), and the cluster it names. */
export function onClusterClause(normalized: string): { start: number; end: number; cluster: string } | undefined {
  const head = normalized.indexOf('\n') < 0 ? normalized.length : normalized.indexOf('\n');
  for (let i = 0; i < head; i++) {
    const ch = normalized[i];
    if (ch === "'" || ch === '`' || ch === '"') {
      i = skipQuoted(normalized, i) - 1;
      continue;
    }
    if (ch !== ' ' || !normalized.startsWith(' ON CLUSTER ', i)) continue;
    const name = readIdentifier(normalized, i + ' ON CLUSTER '.length);
    if (name) return { start: i, end: name.end, cluster: name.name };
  }
  return undefined;
}

/** The statement without its `ON CLUSTER` clause for `cluster` (what each node's DDL worker runs), or undefined when it has none. */
export function withoutOnCluster(normalized: string, cluster: string): string | undefined {
  const clause = onClusterClause(normalized);
  if (!clause || clause.cluster !== cluster) return undefined;
  return normalized.slice(0, clause.start) + normalized.slice(clause.end);
}

/** The top-level arguments of `Name(a, b, …)`, as written; `[]` without parentheses. */
export function engineArguments(engine: string): { name: string; args: string[] } {
  const open = engine.indexOf('(');
  if (open < 0) return { name: engine.trim(), args: [] };
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open + 1; i < engine.length; i++) {
    const ch = engine[i];
    if (ch === "'" || ch === '`' || ch === '"') {
      i = skipQuoted(engine, i) - 1;
      continue;
    }
    if (ch === '(') depth++;
    else if (ch === ')') {
      if (depth === 0) {
        const last = engine.slice(start, i).trim();
        if (last) args.push(last);
        break;
      }
      depth--;
    } else if (ch === ',' && depth === 0) {
      args.push(engine.slice(start, i).trim());
      start = i + 1;
    }
  }
  return { name: engine.slice(0, open).trim(), args };
}

/** `'it''s'` → `it's`; undefined when the text is not one string literal. */
function stringValue(literal: string | undefined): string | undefined {
  if (literal === undefined || literal[0] !== "'" || skipQuoted(literal, 0) !== literal.length) return undefined;
  return literal.slice(1, -1).replace(/\\(.)|''/gs, (m, c: string | undefined) => (c !== undefined ? c : "'"));
}

/**
 * `ReplicatedReplacingMergeTree('/p', '{replica}', v)` → `ReplacingMergeTree(v)` with `{ path, replica }`;
 * `ReplicatedMergeTree` (the server's default path and name) → `MergeTree` with `{}`; any other engine as it is.
 */
export function replicatedEngine(engine: string): { engine: string; replication?: Replication } {
  const { name, args } = engineArguments(engine);
  if (!name.startsWith('Replicated') || !name.endsWith('MergeTree')) return { engine };
  const base = name.slice('Replicated'.length);
  const path = stringValue(args[0]);
  const replica = stringValue(args[1]);
  const rest = path !== undefined && replica !== undefined ? args.slice(2) : args;
  return { engine: rest.length ? `${base}(${rest.join(', ')})` : base, replication: path !== undefined && replica !== undefined ? { path, replica } : {} };
}

/** `Distributed('c', 'db', 'local', key)` → its parts; undefined for anything else. */
export function distributedEngine(engine: string): { cluster: string; database: string; local: string; shardingKey: string } | undefined {
  const { name, args } = engineArguments(engine);
  if (name !== 'Distributed') return undefined;
  const [cluster, database, local] = args.slice(0, 3).map((a) => stringValue(a) ?? readIdentifier(a, 0)?.name);
  if (cluster === undefined || database === undefined || local === undefined) return undefined;
  return { cluster, database, local, shardingKey: args[3] ?? 'rand()' };
}

/**
 * A normalized statement as a node without replication runs it: a `ReplicatedX(path, replica, args…)` engine
 * replaced by `X(args…)`, anything else unchanged (what the scratch engine does, check/scratch.ts, for a
 * non-replicated copy of the cluster DDL).
 */
export function withPlainEngine(normalized: string): string {
  const at = normalized.indexOf('\nENGINE = ');
  if (at < 0) return normalized;
  const start = at + '\nENGINE = '.length;
  const end = normalized.indexOf('\n', start) < 0 ? normalized.length : normalized.indexOf('\n', start);
  const { engine, replication } = replicatedEngine(normalized.slice(start, end));
  return replication ? normalized.slice(0, start) + engine + normalized.slice(end) : normalized;
}

/**
 * Every node's macros in one query on a real server: one row per host and macro, with the host (`hostName()`,
 * `tcpPort()`) and its shard (`shardNum()`), each evaluated on the host that answers. Needs every node's TCP port
 * (`clusterAllReplicas` connects to each; the embedded engine serves none, so on it only a cluster of the local
 * node answers).
 */
export function selectClusterMacros(cluster: string): string {
  return `SELECT hostName() AS host, tcpPort() AS port, shardNum() AS shard, macro, substitution FROM clusterAllReplicas(${stringLiteral(cluster)}, system.macros) ORDER BY shard, host, port, macro`;
}

/** What each row of a cluster-wide read carries, evaluated on the host that answers it: the host (`host_name:tcp_port`) and its shard. */
export interface HostFields {
  readonly host_name: string;
  readonly tcp_port: number | string;
  readonly shard_num: number | string;
}

const HOST_FIELDS = 'hostName() AS host_name, tcpPort() AS tcp_port, shardNum() AS shard_num';

/** `db1, db2` as string literals, for `database IN (…)`. */
const databaseList = (databases: readonly string[]) => databases.map(stringLiteral).join(', ');

/**
 * Every node's rows of system.tables for `databases` in one query (inspection's SELECT over
 * `clusterAllReplicas`), each with `HostFields`; `fields` are the columns inspect/inspect.ts reads.
 */
export function selectClusterTables(cluster: string, fields: readonly string[], databases: readonly string[]): string {
  return `SELECT ${HOST_FIELDS}, ${fields.join(', ')} FROM clusterAllReplicas(${stringLiteral(cluster)}, system.tables) WHERE database IN (${databaseList(databases)}) AND NOT is_temporary ORDER BY shard_num, host_name, tcp_port, database, name`;
}

/** Every node's rows of system.columns for `databases` in one query, each with `HostFields`, in column order. */
export function selectClusterColumns(cluster: string, fields: readonly string[], databases: readonly string[]): string {
  return `SELECT ${HOST_FIELDS}, ${fields.join(', ')} FROM clusterAllReplicas(${stringLiteral(cluster)}, system.columns) WHERE database IN (${databaseList(databases)}) ORDER BY shard_num, host_name, tcp_port, database, table, position`;
}

/** One row per node of the cluster (`system.one` on each): the hosts, including those with no objects and no macros. */
export function selectClusterReplicas(cluster: string): string {
  return `SELECT ${HOST_FIELDS} FROM clusterAllReplicas(${stringLiteral(cluster)}, system.one) ORDER BY shard_num, host_name, tcp_port`;
}
