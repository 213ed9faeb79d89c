/**
 * The lock on a target: two applies never run at once on one database.
 *
 * The lock is a table, `_chpipe_lock`, created without IF NOT EXISTS: of two
 * processes that create it, the engine lets exactly one succeed. Its COMMENT
 * names the holder (host, pid, user, command, when) and a heartbeat the holder
 * refreshes while it runs. A lock whose holder is gone can be taken over:
 * at once when the holder ran on this host and its process no longer exists,
 * otherwise when its heartbeat is older than the TTL. Taking over renames the
 * stale lock to a name made of the stale holder's id, which only one process
 * can do, then creates the lock again. In cluster mode (a Replicated table at
 * one Keeper path) only a holder on this host whose process is gone is taken
 * over, and the retired table is dropped with SYNC to free the Keeper
 * replica. After Atlas's `Locker`: a named lock,
 * a wait, and the release function handed back.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { EngineError, TargetError, type Driver } from '../engine/driver.js';
import type { Placement } from '../model/model.js';
import { createDatabase } from '../sql/ddl.js';
import { holderAlive } from './lock.js';
import { clusterLockPath, createClusterLockTable, createLockTable, dropLockTableSync, dropOwnTable, LOCK_TABLE, retiredLockName, retireLockTable, selectLocks, updateLockHolder } from '../sql/history.js';

export interface TargetLockHolder {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly user: string;
  /** e.g. `apply` */
  readonly command: string;
  /** ISO time the lock was taken. */
  readonly since: string;
  /** ISO time of the holder's last sign of life. */
  readonly heartbeat: string;
}

export interface TargetLockOptions {
  /** How long to wait for a live holder, in milliseconds (0: try once). */
  readonly waitMs: number;
  /** A holder silent for longer than this (heartbeat) is taken over, in milliseconds. */
  readonly ttlMs: number;
  readonly command: string;
  /** Called once when the lock is busy and the wait begins. */
  readonly onWait?: (holder: TargetLockHolder | undefined) => void;
  readonly pollMs?: number;
}

export interface TargetLock {
  readonly holder: TargetLockHolder;
  /** Set when another process took the lock over (this one was silent past the TTL): stop before the next statement. */
  lost(): boolean;
  release(): Promise<void>;
}

export const DEFAULT_LOCK_TTL_MS = 120_000;

function describe(h: TargetLockHolder): string {
  return `\`chpipe ${h.command}\` (pid ${h.pid} on ${h.host}, user ${h.user}, since ${h.since})`;
}

function parseHolder(comment: string): TargetLockHolder | undefined {
  try {
    const value = JSON.parse(comment) as Partial<TargetLockHolder>;
    if (typeof value.id !== 'string' || typeof value.host !== 'string' || typeof value.pid !== 'number') return undefined;
    return value as TargetLockHolder;
  } catch {
    return undefined;
  }
}

/** A holder nobody will release: its process is gone (same host), or it has been silent past the TTL. */
export function isStaleHolder(h: TargetLockHolder | undefined, ttlMs: number, now: number): boolean {
  if (!h) return false;
  if (h.pid !== process.pid && !holderAlive(h)) return true;
  const beat = Date.parse(h.heartbeat ?? h.since);
  return Number.isFinite(beat) && now - beat > ttlMs;
}

async function currentLocks(driver: Driver, p: Placement): Promise<{ name: string; comment: string }[]> {
  return driver.query<{ name: string; comment: string }>(selectLocks(p));
}

export async function acquireTargetLock(driver: Driver, p: Placement, options: TargetLockOptions): Promise<TargetLock> {
  await driver.exec(createDatabase({ database: p.database }));
  const since = new Date().toISOString();
  let holder: TargetLockHolder = { id: randomUUID(), host: hostname(), pid: process.pid, user: osUser(), command: options.command, since, heartbeat: since };
  const deadline = Date.now() + options.waitMs;
  let waited = false;
  // Cluster mode: the lock is a Replicated table at one Keeper path for the whole cluster (sql/history.ts); a
  // holder on another host shows as REPLICA_ALREADY_EXISTS, its details on that host only.
  // Two hosts creating it at the same moment race on its Keeper nodes: the loser may get KEEPER_EXCEPTION (a node
  // exists, measured) instead; its CREATE is tried again, when the winner's replica answers REPLICA_ALREADY_EXISTS.
  const cluster = p.cluster;
  let keeperRaces = 0;
  for (;;) {
    let elsewhere: boolean;
    try {
      await driver.exec(cluster !== undefined ? createClusterLockTable(p, JSON.stringify(holder)) : createLockTable(p, JSON.stringify(holder)));
      break;
    } catch (e) {
      if (cluster !== undefined && e instanceof EngineError && e.codeName === 'KEEPER_EXCEPTION' && keeperRaces++ < 3) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (!(e instanceof EngineError) || (e.codeName !== 'TABLE_ALREADY_EXISTS' && !(cluster !== undefined && e.codeName === 'REPLICA_ALREADY_EXISTS'))) throw e;
      elsewhere = e.codeName === 'REPLICA_ALREADY_EXISTS';
    }
    const locks = await currentLocks(driver, p);
    // Cluster mode: a lock retired on this host by a takeover that died before dropping it still holds the replica
    // at the lock's Keeper path (REPLICA_ALREADY_EXISTS): retired locks are stale by definition, so free it.
    const retired = cluster !== undefined && elsewhere ? locks.filter((l) => l.name !== LOCK_TABLE) : [];
    let freed = 0;
    for (const l of retired) {
      try {
        await driver.exec(dropLockTableSync(p, l.name));
        freed++;
      } catch (e) {
        // The takeover that retired it is dropping it at this moment: wait below, then try again.
        if (!(e instanceof EngineError)) throw e;
      }
    }
    if (freed) continue;
    const lock = elsewhere ? undefined : locks.find((l) => l.name === LOCK_TABLE);
    if (!lock && !elsewhere) continue;
    const current = lock ? parseHolder(lock.comment) : undefined;
    // A cluster's lock is taken over only from a holder that ran on this host and whose process is gone (one held
    // through another host shows no holder here; its heartbeat is not read across hosts).
    const stale = current !== undefined && (cluster === undefined ? isStaleHolder(current, options.ttlMs, Date.now()) : current.pid !== process.pid && !holderAlive(current));
    if (stale) {
      try {
        // Of two processes taking over, only one renames it.
        await driver.exec(retireLockTable(p, current.id));
        // A retired cluster lock still holds the replica at the lock's Keeper path: free it for the next CREATE.
        if (cluster !== undefined) await driver.exec(dropLockTableSync(p, retiredLockName(current.id)));
      } catch (e) {
        // Another process retired it first, or it was released: try again.
        if (!(e instanceof EngineError)) throw e;
      }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new TargetError(
        cluster !== undefined && !current
          ? `the target's database ${p.database} is locked by a chpipe connected to another host of cluster ${cluster} (the Replicated table ${LOCK_TABLE} at Keeper path ${clusterLockPath(p)}); waited ${Math.round(options.waitMs / 1000)} s (--lock-timeout). Run again when it has finished; if no chpipe runs, drop that table with SYNC on the host that has it`
          : current
          ? `the target's database ${p.database} is locked by ${describe(current)}; waited ${Math.round(options.waitMs / 1000)} s (--lock-timeout). Run again when it has finished; a lock whose holder is gone is taken over once its process has exited (same host) or after ${Math.round(options.ttlMs / 1000)} s without a heartbeat`
          : `the target's database ${p.database} is locked (table ${LOCK_TABLE}, holder unreadable); if no chpipe runs against it, drop that table`,
      );
    }
    if (!waited) {
      waited = true;
      options.onWait?.(current);
    }
    await new Promise((r) => setTimeout(r, Math.min(options.pollMs ?? 250, Math.max(1, deadline - Date.now()))));
  }
  // Retired locks of earlier takeovers: their names have served their purpose.
  for (const l of await currentLocks(driver, p)) if (l.name !== LOCK_TABLE) await driver.exec(dropOwnTable(p, l.name));

  let lost = false;
  let stopped = false;
  const beat = async () => {
    const mine = (await currentLocks(driver, p)).find((l) => l.name === LOCK_TABLE);
    if (parseHolder(mine?.comment ?? '')?.id !== holder.id) {
      lost = true;
      return;
    }
    holder = { ...holder, heartbeat: new Date().toISOString() };
    await driver.exec(updateLockHolder(p, JSON.stringify(holder)));
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      void beat()
        .catch(() => {})
        .finally(() => {
          if (!stopped) schedule();
        });
    }, Math.max(1000, Math.floor(options.ttlMs / 4)));
    timer.unref();
  };
  schedule();
  return {
    get holder() {
      return holder;
    },
    lost: () => lost,
    async release() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      const mine = (await currentLocks(driver, p)).find((l) => l.name === LOCK_TABLE);
      if (parseHolder(mine?.comment ?? '')?.id === holder.id) await driver.exec(cluster !== undefined ? dropLockTableSync(p) : dropOwnTable(p, LOCK_TABLE));
    },
  };
}

export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

