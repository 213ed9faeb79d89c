/**
 * A real ClickHouse server for the tests: Debian's `clickhouse-server`
 * package (18.16.1, far older than chpipe's minimum), run as a child process
 * of the test run on free loopback ports.
 *
 * - `ensureClickHouse18()` installs the package with apt-get when its binary
 *   is missing (root only; `apt-get update` once if the package is unknown),
 *   with a `policy-rc.d` that denies service starts in place for the install,
 *   so the package's own service never starts or holds ports 8123/9000. When
 *   the binary is there already it returns at once.
 * - `startClickHouse18()` writes a config into a temp dir (loopback only, free
 *   HTTP and TCP ports, data/tmp/log paths in the temp dir; users `default`
 *   without a password, `tester` with `s3cr3t-pass`, `nogrants` with a
 *   password and no access to the database `secret`), starts
 *   `/usr/sbin/clickhouse-server` on it, waits until `/ping` answers, creates
 *   `secret.t`, and returns a handle whose `stop()` ends the server by its PID
 *   (SIGTERM, then SIGKILL) and removes the temp dir. A server left by a run
 *   killed with SIGKILL is stopped by the next run.
 *
 * Anything missing (not root, apt-get failing) throws with the reason: the
 * tests fail, they never skip.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { aptInstall, lastLines } from '../helpers/apt.js';
import { freePort, isAlive, reapLeftovers as reapRecorded } from '../helpers/processes.js';

export const PACKAGE = 'clickhouse-server';
export const SERVER_BIN = '/usr/sbin/clickhouse-server';
/** The version Debian bookworm's package runs (`SELECT version()`). */
export const EXPECTED_VERSION = '18.16.1';

/** The server's users and their passwords. `nogrants` may use `default` only, not `secret`. */
export const USERS = { default: '', tester: 's3cr3t-pass', nogrants: 'n0-grants-pass' } as const;

const ROOT = resolve(import.meta.dirname, '../..');
/** Servers started by this harness, one file per server: `<pid> <owner pid> <dir>`; a later run reaps leftovers of a killed run. */
const PIDS = join(ROOT, 'node_modules/.cache/chpipe-ch18/running');

/** Install Debian's clickhouse-server when its binary is missing; fast when it is there. */
export function ensureClickHouse18(log: (line: string) => void = () => {}): void {
  aptInstall({ name: PACKAGE, binary: SERVER_BIN, denyServiceStart: true }, log);
}


/** Servers left by a killed earlier run (see test/helpers/processes.ts). */
export function reapLeftovers(): void {
  reapRecorded(PIDS);
}

function configXml(dir: string, httpPort: number, tcpPort: number): string {
  return `<?xml version="1.0"?>
<!-- Written by chpipe's test harness (test/server/clickhouse-18.ts). -->
<yandex>
  <logger>
    <level>warning</level>
    <log>${dir}/log/server.log</log>
    <errorlog>${dir}/log/server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <keep_alive_timeout>3</keep_alive_timeout>
</yandex>
`;
}

function userXml(name: string, password: string, extra = ''): string {
  return `    <${name}>
      <password>${password}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>${extra}
    </${name}>`;
}

function usersXml(): string {
  return `<?xml version="1.0"?>
<!-- Written by chpipe's test harness (test/server/clickhouse-18.ts). -->
<yandex>
  <profiles><default/></profiles>
  <users>
${userXml('default', USERS.default)}
${userXml('tester', USERS.tester)}
${userXml('nogrants', USERS.nogrants, '\n      <allow_databases><database>default</database></allow_databases>')}
  </users>
  <quotas><default/></quotas>
</yandex>
`;
}

export interface ClickHouse18 {
  /** `http://127.0.0.1:PORT`, no credentials. */
  readonly url: string;
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly pid: number;
  readonly dir: string;
  /** Seconds from launch until `/ping` answered. */
  readonly readySeconds: number;
  stop(): Promise<void>;
}

function tail(file: string, lines = 30): string {
  try {
    return lastLines(readFileSync(file, 'utf8'), lines);
  } catch {
    return '(no output)';
  }
}

/** Run one statement as `default` over HTTP (POST, so DDL is allowed); throws with the server's answer. */
export async function adminQuery(url: string, sql: string): Promise<string> {
  const r = await fetch(`${url}/`, { method: 'POST', body: sql });
  const text = await r.text();
  if (!r.ok) throw new Error(`${sql}: HTTP ${r.status}: ${text.trim()}`);
  return text;
}

/** Start a server on free loopback ports in a fresh temp dir; resolves once `/ping` answers and `secret.t` exists. */
export async function startClickHouse18(opts: { log?: (line: string) => void; readyTimeoutMs?: number } = {}): Promise<ClickHouse18> {
  const log = opts.log ?? (() => {});
  ensureClickHouse18(log);
  reapLeftovers();
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-ch18-'));
  for (const sub of ['data', 'tmp', 'log', 'user_files', 'format_schemas']) mkdirSync(join(dir, sub));
  const config = join(dir, 'config.xml');
  writeFileSync(config, configXml(dir, httpPort, tcpPort));
  writeFileSync(join(dir, 'users.xml'), usersXml());
  const outFile = join(dir, 'log', 'stdout.txt');
  const out = openSync(outFile, 'a');
  const started = Date.now();
  const child = spawn(SERVER_BIN, [`--config-file=${config}`], { cwd: dir, stdio: ['ignore', out, out] });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not launch ${SERVER_BIN}`);
  }
  mkdirSync(PIDS, { recursive: true });
  const pidFile = join(PIDS, String(pid));
  writeFileSync(pidFile, `${pid} ${process.pid} ${dir}\n`);
  let exited: number | string | null = null;
  const exitedP = new Promise<void>((ok) =>
    child.once('exit', (code, signal) => {
      exited = code ?? signal;
      ok();
    }),
  );

  let stopped = false;
  const cleanup = () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pidFile, { force: true });
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exited === null) {
      process.kill(pid, 'SIGTERM');
      const done = await Promise.race([exitedP.then(() => true), new Promise<boolean>((ok) => setTimeout(() => ok(false), 10_000))]);
      if (!done && exited === null) {
        process.kill(pid, 'SIGKILL');
        await exitedP;
      }
    }
    cleanup();
  };
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    if (exited === null && isAlive(pid)) process.kill(pid, 'SIGKILL');
    cleanup();
  };
  process.once('exit', stopSync);

  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = started + (opts.readyTimeoutMs ?? 60_000);
  let last: string;
  for (;;) {
    if (exited !== null) {
      const text = `${tail(outFile)}\n${tail(join(dir, 'log', 'server.err.log'))}`;
      process.removeListener('exit', stopSync);
      stopSync();
      throw new Error(`clickhouse-server exited (${exited}) before it answered /ping:\n${text}`);
    }
    try {
      const r = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2_000) });
      if (r.ok && (await r.text()).trim() === 'Ok.') break;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    if (Date.now() > deadline) {
      const text = tail(join(dir, 'log', 'server.err.log'));
      process.removeListener('exit', stopSync);
      await stop();
      throw new Error(`clickhouse-server did not answer /ping within ${((Date.now() - started) / 1000).toFixed(0)} s (last: ${last}):\n${text}`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  const readySeconds = (Date.now() - started) / 1000;
  try {
    await adminQuery(url, 'CREATE DATABASE IF NOT EXISTS secret');
    await adminQuery(url, 'CREATE TABLE IF NOT EXISTS secret.t (x UInt8) ENGINE = Memory');
  } catch (e) {
    process.removeListener('exit', stopSync);
    await stop();
    throw e;
  }
  log(`ClickHouse ${EXPECTED_VERSION} (Debian ${PACKAGE}) ready at ${url} (pid ${pid}) in ${readySeconds.toFixed(1)} s`);
  return {
    url,
    httpPort,
    tcpPort,
    pid,
    dir,
    readySeconds,
    stop: async () => {
      process.removeListener('exit', stopSync);
      await stop();
    },
  };
}
