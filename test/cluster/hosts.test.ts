/**
 * The one-query read of a cluster's topology for a real server (`readClusterHosts`, SQL `selectClusterMacros` in
 * src/sql/cluster.ts): parsed by the engine's formatQuery, and run on an embedded engine whose cluster is itself
 * (`<tcp_port>9000</tcp_port>` and a replica at 127.0.0.1:9000, which the engine counts as local, so
 * `clusterAllReplicas` answers in process). A cluster of several embedded engines cannot answer it (no TCP
 * server; apply.test.ts shows the NETWORK_ERROR), so several hosts in one answer are not verified here.
 */
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterHosts } from '../../src/cluster/executor.js';
import { checkLayout } from '../../src/cluster/layout.js';
import type { ProcessDriver } from '../../src/engine/process.js';
import { selectClusterMacros } from '../../src/sql/cluster.js';
import { stringLiteral } from '../../src/sql/quote.js';
import { openSelfClusterEngine } from '../helpers/cluster.js';

let driver: ProcessDriver | undefined;
beforeAll(async () => {
  driver = await openSelfClusterEngine('chpipe-cluster-hosts-', ['metrics-prod'], { macros: { shard: '01', replica: 'r1' } });
}, 60_000);
afterAll(async () => {
  await driver?.close();
});

describe('every node\'s macros in one query (clusterAllReplicas over system.macros)', () => {
  it('parses with formatQuery, the cluster name quoted as a string', async () => {
    for (const cluster of ['prod', 'metrics-prod', "it's"]) {
      const [row] = await driver!.query<{ q: string }>(`SELECT formatQuery(${stringLiteral(selectClusterMacros(cluster))}) AS q`);
      expect(row?.q).toContain(`clusterAllReplicas(${stringLiteral(cluster)}, system.macros)`);
    }
  });

  it('reads the host, its shard and its macros; checkLayout takes them as they are', async () => {
    const hosts = await readClusterHosts(driver!, 'metrics-prod');
    expect(hosts).toEqual([{ host: `${hostname()}:9000`, shard: 1, macros: { shard: '01', replica: 'r1' } }]);
    const table = { kind: 'table', name: 't_local', replication: { path: '/clickhouse/tables/{uuid}/{shard}', replica: '{cluster_replica}' } };
    const problems = checkLayout({ database: 'db', cluster: 'metrics-prod', objects: [table] } as never, hosts);
    expect(problems.map((p) => p.message).join('\n')).toContain('cluster_replica');
  });
});
