/**
 * A server config that makes an embedded engine the one host of a cluster: `<tcp_port>9000</tcp_port>` and
 * each cluster's one replica at 127.0.0.1:9000, which the engine counts as local, so Distributed tables,
 * `cluster(...)` and `clusterAllReplicas` answer in process (the engine serves no TCP port to others).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessDriver } from '../../src/engine/process.js';
import { openTarget } from '../../src/engine/target.js';
import { tempDir } from './cli.js';

/** The `<remote_servers>` entry of a one-shard, one-replica cluster whose replica is the engine itself. */
export function selfCluster(name: string): string {
  return `<${name}><shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>9000</port></replica></shard></${name}>`;
}

export interface SelfClusterOptions {
  readonly macros?: Readonly<Record<string, string>>;
  /** A ZooKeeper for Replicated tables (the `cluster` project's `inject('zookeeperPort')`). */
  readonly zookeeperPort?: number;
  /** More `<remote_servers>` entries, as XML. */
  readonly otherClusters?: readonly string[];
  /** More top-level sections, as XML (e.g. `<kafka>…</kafka>`). */
  readonly sections?: readonly string[];
}

/** The config for `clusters`, each the engine alone, with the options' macros, ZooKeeper and sections. */
export function selfClusterConfig(clusters: readonly string[], options: SelfClusterOptions = {}): string {
  return [
    '<clickhouse>',
    '  <tcp_port>9000</tcp_port>',
    ...(options.macros ? [`  <macros>${Object.entries(options.macros).map(([k, v]) => `<${k}>${v}</${k}>`).join('')}</macros>`] : []),
    ...(options.zookeeperPort !== undefined ? [`  <zookeeper><node><host>127.0.0.1</host><port>${options.zookeeperPort}</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>`] : []),
    `  <remote_servers>${[...clusters.map(selfCluster), ...(options.otherClusters ?? [])].join('')}</remote_servers>`,
    ...(options.sections ?? []).map((s) => `  ${s}`),
    '</clickhouse>',
    '',
  ].join('\n');
}

/** An engine process on a fresh folder (removed when the test file ends), the one host of `clusters`. */
export async function openSelfClusterEngine(prefix: string, clusters: readonly string[], options: SelfClusterOptions = {}): Promise<ProcessDriver> {
  const dir = tempDir(prefix);
  const configFile = join(dir, 'config.xml');
  writeFileSync(configFile, selfClusterConfig(clusters, options));
  return openTarget(join(dir, 'data'), { configFile });
}
