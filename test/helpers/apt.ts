/**
 * Debian packages the test harnesses need (headless Chromium, an old
 * clickhouse-server), installed with apt-get when their binary is missing:
 * root only, `apt-get update` once if the package is unknown, waiting for
 * another apt/dpkg's lock instead of failing on it. Anything missing throws
 * with the reason: the tests fail, they never skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';

/** Run a command to its end: whether it exited 0, and its stdout and stderr (or why it could not run). */
export function run(cmd: string, args: string[], env: Record<string, string> = {}, timeout = 900_000): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error) return { ok: false, out: `${r.error.message}\n${out}` };
  return { ok: r.status === 0, out };
}

export function lastLines(text: string, n = 25): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

const POLICY_RC = '/usr/sbin/policy-rc.d';

export interface AptPackage {
  /** The Debian package, e.g. `chromium`. */
  readonly name: string;
  /** The file it installs that tells it is there, e.g. `/usr/bin/chromium`. */
  readonly binary: string;
  /** A package with a service (a server): a policy-rc.d that exits 101 is in place for the install, so the service never starts. */
  readonly denyServiceStart?: boolean;
}

/** Install the package with apt-get when its binary is missing; returns at once when it is there. */
export function aptInstall(pkg: AptPackage, log: (line: string) => void = () => {}): void {
  if (existsSync(pkg.binary)) return;
  if (process.getuid?.() !== 0) throw new Error(`${pkg.binary} is missing and installing ${pkg.name} with apt-get needs root; run as root or install it first (apt-get install --no-install-recommends ${pkg.name})`);
  const started = Date.now();
  log(`installing ${pkg.name} with apt-get (once)`);
  // A policy-rc.d that exits 101 tells invoke-rc.d and deb-systemd-invoke not to start the package's service.
  const ownPolicy = pkg.denyServiceStart === true && !existsSync(POLICY_RC);
  if (ownPolicy) writeFileSync(POLICY_RC, '#!/bin/sh\n# written by chpipe test/helpers/apt.ts for the duration of an install\nexit 101\n', { mode: 0o755 });
  try {
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    // Wait for another apt/dpkg (another test run, another engineer) instead of failing on its lock.
    const install = () => run('apt-get', ['install', '-y', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=600', pkg.name], env);
    let r = install();
    if (!r.ok) {
      // A fresh machine may have no package lists yet.
      const update = run('apt-get', ['update', '-o', 'DPkg::Lock::Timeout=600'], env);
      if (!update.ok) throw new Error(`apt-get update failed:\n${lastLines(update.out)}`);
      r = install();
    }
    if (!r.ok) throw new Error(`apt-get install ${pkg.name} failed:\n${lastLines(r.out)}`);
    if (!existsSync(pkg.binary)) throw new Error(`apt-get installed ${pkg.name} but ${pkg.binary} is not there`);
  } finally {
    if (ownPolicy) rmSync(POLICY_RC, { force: true });
  }
  log(`installed ${pkg.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
