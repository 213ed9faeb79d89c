/**
 * The cluster-wide lock (src/migrate/target-lock.ts in cluster mode, SQL in src/sql/history.ts) on the harness:
 * 4 embedded engines sharing one real ZooKeeper. The lock is a Replicated table at one Keeper path per database
 * with one fixed replica name, so two applies connected to different hosts never both hold it; a holder that ran
 * on the same host and exited is taken over.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TargetError } from '../../src/engine/driver.js';
import { acquireTargetLock, type TargetLock } from '../../src/migrate/target-lock.js';
import { clusterLockPath, createClusterLockTable, LOCK_TABLE, retireLockTable } from '../../src/sql/history.js';
import { startCluster, type TestCluster } from './nodes.js';

const PLACEMENT = { database: 'locked', cluster: 'prod' } as const;
const OPTIONS = { waitMs: 0, ttlMs: 600_000, command: 'apply' } as const;

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster({ name: 'prod', zookeeperPort: inject('zookeeperPort') });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

const attempt = (i: number): Promise<TargetLock | Error> =>
  acquireTargetLock(cluster.nodes[i]!.driver, PLACEMENT, OPTIONS).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));

async function lockTables(): Promise<number[]> {
  return Promise.all(cluster.nodes.map(async (n) => Number((await n.driver.query<{ c: string }>(`SELECT count() AS c FROM system.tables WHERE database = 'locked' AND name = '${LOCK_TABLE}'`))[0]?.c)));
}

describe('the cluster-wide lock', () => {
  it('of two applies on different hosts trying at once exactly one wins; after its release the other takes it', async () => {
    const [a, b] = await Promise.all([attempt(0), attempt(2)]);
    const won = [a, b].filter((r): r is TargetLock => !(r instanceof Error));
    const lost = [a, b].filter((r): r is Error => r instanceof Error);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toBeInstanceOf(TargetError);
    expect(lost[0]!.message).toContain(`locked by a chpipe connected to another host of cluster prod`);
    expect(lost[0]!.message).toContain(clusterLockPath(PLACEMENT));
    const winner = a instanceof Error ? 2 : 0;
    const loser = winner === 0 ? 2 : 0;
    // The table exists on the winner's host only; the failed CREATE left nothing on the other.
    expect((await lockTables()).filter((c) => c === 1)).toHaveLength(1);
    expect((await lockTables())[winner]).toBe(1);

    // Every other host, and the winner's own host, is refused while it holds the lock.
    for (const i of [1, 3, winner]) expect(await attempt(i)).toBeInstanceOf(TargetError);
    const [holder] = await cluster.nodes[winner]!.driver.query<{ replica_name: string; zookeeper_path: string }>(`SELECT replica_name, zookeeper_path FROM system.replicas WHERE database = 'locked' AND table = '${LOCK_TABLE}'`);
    expect(holder).toEqual({ replica_name: 'holder', zookeeper_path: clusterLockPath(PLACEMENT) });

    await won[0]!.release();
    expect(await lockTables()).toEqual([0, 0, 0, 0]);
    const second = await attempt(loser);
    expect(second).not.toBeInstanceOf(Error);
    expect((await lockTables())[loser]).toBe(1);
    expect(await attempt(winner)).toBeInstanceOf(TargetError);
    await (second as TargetLock).release();
    expect(await lockTables()).toEqual([0, 0, 0, 0]);
  });

  it('a waiting apply takes the lock once the holder on another host releases it', async () => {
    const first = await acquireTargetLock(cluster.nodes[1]!.driver, PLACEMENT, OPTIONS);
    let waitedFor: unknown = 'not called';
    const waiting = acquireTargetLock(cluster.nodes[3]!.driver, PLACEMENT, { ...OPTIONS, waitMs: 60_000, pollMs: 100, onWait: (h) => (waitedFor = h) });
    // The waiter polls; release only after it has seen the lock busy.
    while (waitedFor === 'not called') await new Promise((r) => setTimeout(r, 50));
    expect(waitedFor).toBeUndefined(); // the holder's details live on the other host
    await first.release();
    const second = await waiting;
    expect((await lockTables())[3]).toBe(1);
    await second.release();
  });
  it('a lock whose holder ran on this host and exited (kill -9) is taken over there; another host still sees it held', async () => {
    const dead = spawnSync('true').pid as number;
    const stale = { id: 'stale-holder', host: hostname(), pid: dead, user: 'u', command: 'apply', since: '2026-01-01T00:00:00.000Z', heartbeat: '2026-01-01T00:00:00.000Z' };
    const node = cluster.nodes[0]!.driver;
    await node.exec("CREATE DATABASE IF NOT EXISTS locked");
    await node.exec(createClusterLockTable(PLACEMENT, JSON.stringify(stale)));
    // Through another host the holder's details cannot be read: it stays held.
    expect(await attempt(2)).toBeInstanceOf(TargetError);
    const taken = await attempt(0);
    expect(taken).not.toBeInstanceOf(Error);
    expect((taken as TargetLock).holder.pid).toBe(process.pid);
    // The retired table left nothing behind: one lock table, one replica at the lock's path.
    expect(await lockTables()).toEqual([1, 0, 0, 0]);
    expect(await node.query(`SELECT name FROM system.tables WHERE database = 'locked'`)).toEqual([{ name: LOCK_TABLE }]);
    expect(await attempt(2)).toBeInstanceOf(TargetError);
    await (taken as TargetLock).release();
    expect(await lockTables()).toEqual([0, 0, 0, 0]);
  });

  it('a takeover that died between retiring the stale lock and dropping it: the retired table is freed and the lock taken', async () => {
    const node = cluster.nodes[1]!.driver;
    const stale = { id: 'died-mid-takeover', host: hostname(), pid: spawnSync('true').pid as number, user: 'u', command: 'apply', since: '2026-01-01T00:00:00.000Z', heartbeat: '2026-01-01T00:00:00.000Z' };
    await node.exec("CREATE DATABASE IF NOT EXISTS locked");
    await node.exec(createClusterLockTable(PLACEMENT, JSON.stringify(stale)));
    await node.exec(retireLockTable(PLACEMENT, stale.id));
    const taken = await attempt(1);
    expect(taken).not.toBeInstanceOf(Error);
    expect(await node.query(`SELECT name FROM system.tables WHERE database = 'locked'`)).toEqual([{ name: LOCK_TABLE }]);
    await (taken as TargetLock).release();
    expect(await lockTables()).toEqual([0, 0, 0, 0]);
  });
});
