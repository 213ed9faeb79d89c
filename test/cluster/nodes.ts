/**
 * A cluster of embedded engines for the tests: 2 shards × 2 replicas, each
 * node a chdb engine process (src/engine/process.ts) with a server config of
 * its own (`<macros>`, `<remote_servers>`, `<zookeeper>`), all sharing one
 * real ZooKeeper (test/cluster/global-setup.ts).
 *
 * chdb runs no distributed DDL queue (`ON CLUSTER` → QUERY_IS_PROHIBITED) and
 * no interserver HTTP (Replicated tables stay read-only). So `onCluster()`
 * runs a statement the way a server's DDL worker would: the initiator gives a
 * CREATE TABLE one UUID (so `{uuid}` in a Keeper path is the same on every
 * node), each node runs it without the ON CLUSTER clause and expands its own
 * macros. Failures are collected per host, as a server reports them.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../src/engine/driver.js';
import { openTarget } from '../../src/engine/target.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { ident } from '../../src/sql/quote.js';

export interface ClusterNode {
  /** `127.0.0.1:PORT`, as remote_servers names it (nothing listens there: chdb has no TCP server). */
  readonly host: string;
  readonly shard: number;
  readonly macros: Readonly<Record<string, string>>;
  readonly driver: ProcessDriver;
  /** The node's data folder and server config (to start it again after `stopNode`). */
  readonly dataDir: string;
  readonly configFile: string;
}

export interface HostFailure {
  readonly host: string;
  readonly codeName?: string;
  readonly message: string;
}

export interface TestCluster {
  readonly name: string;
  readonly nodes: readonly ClusterNode[];
  /** Run one statement of the form chpipe generates (`... ON CLUSTER name ...`) on every node; the failures per host. */
  onCluster(sql: string): Promise<HostFailure[]>;
  /** Run a statement on one node. */
  on(node: ClusterNode, sql: string): Promise<HostFailure | undefined>;
  /** Stop the engine process of node `index` (0-based): its statements fail until `startNode`. */
  stopNode(index: number): Promise<void>;
  /** Start node `index` again on its data folder and config; `nodes[index]` is the new one. */
  startNode(index: number): Promise<ClusterNode>;
  stop(): Promise<void>;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface ClusterOptions {
  readonly name: string;
  readonly zookeeperPort: number;
  /** The macros of each node, by shard; default `{shard: '0N', replica: 'nodeK'}`. */
  readonly macros?: (shard: number, replica: number, index: number) => Record<string, string>;
  readonly shards?: number;
  readonly replicas?: number;
}

export async function startCluster(options: ClusterOptions): Promise<TestCluster> {
  const shards = options.shards ?? 2;
  const replicas = options.replicas ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-cluster-'));
  const hosts = Array.from({ length: shards * replicas }, (_, i) => ({ host: '127.0.0.1', port: 9101 + i, shard: Math.floor(i / replicas) + 1, replica: (i % replicas) + 1, index: i + 1 }));
  const remote = Array.from({ length: shards }, (_, s) =>
    `      <shard><internal_replication>true</internal_replication>${hosts
      .filter((h) => h.shard === s + 1)
      .map((h) => `<replica><host>${h.host}</host><port>${h.port}</port></replica>`)
      .join('')}</shard>`,
  ).join('\n');
  const nodes: ClusterNode[] = [];
  try {
    for (const h of hosts) {
      const macros = options.macros?.(h.shard, h.replica, h.index) ?? { shard: `0${h.shard}`, replica: `node${h.index}` };
      const config = join(dir, `node${h.index}.xml`);
      writeFileSync(
        config,
        `<clickhouse>
  <zookeeper><node><host>127.0.0.1</host><port>${options.zookeeperPort}</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
  <macros>${Object.entries(macros).map(([k, v]) => `<${k}>${xml(v)}</${k}>`).join('')}</macros>
  <remote_servers>
    <${options.name}>
${remote}
    </${options.name}>
  </remote_servers>
</clickhouse>
`,
      );
      const dataDir = join(dir, `node${h.index}`);
      nodes.push({ host: `${h.host}:${h.port}`, shard: h.shard, macros, dataDir, configFile: config, driver: await openTarget(dataDir, { configFile: config }) });
    }
  } catch (e) {
    await Promise.allSettled(nodes.map((n) => n.driver.close()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const on = async (node: ClusterNode, sql: string): Promise<HostFailure | undefined> => {
    try {
      await node.driver.exec(sql);
      return undefined;
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      return { host: node.host, message: e.engineMessage, ...(e.codeName ? { codeName: e.codeName } : {}) };
    }
  };
  const clause = ` ON CLUSTER ${ident(options.name)}`;
  return {
    name: options.name,
    nodes,
    on,
    async onCluster(sql) {
      if (!sql.includes(clause)) throw new Error(`not a statement for cluster ${options.name}: ${sql.slice(0, 120)}`);
      // The initiator's part: one UUID for a new table, the same on every node.
      const creates = /^CREATE (OR REPLACE )?TABLE /.test(sql);
      const resolved = sql.replace(clause, creates ? ` UUID '${randomUUID()}'` : '');
      const failures: HostFailure[] = [];
      for (const n of nodes) {
        const f = await on(n, resolved);
        if (f) failures.push(f);
      }
      return failures;
    },
    async stopNode(index) {
      await nodes[index]?.driver.close();
    },
    async startNode(index) {
      const n = nodes[index] as ClusterNode;
      const started = { ...n, driver: await openTarget(n.dataDir, { configFile: n.configFile }) };
      nodes[index] = started;
      return started;
    },
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.driver.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
