/**
 * A real schema registry for the tests: Apicurio Registry 3.0.9 from Maven
 * Central (`io.apicurio:apicurio-registry-app:3.0.9`, its `all` tarball: the
 * Quarkus runner jar and its lib/), storage in memory (H2), serving the
 * Confluent-compatible API that ClickHouse's AvroConfluent format and
 * Confluent serializers speak at `/apis/ccompat/v7`.
 *
 * - `registryJar()` fetches the tarball once with Maven and unpacks it into
 *   `node_modules/.cache/chpipe-registry/3.0.9/` (renamed into place whole, so a
 *   killed fetch leaves nothing half there); later runs reuse it.
 * - `startRegistry()` launches it on a free loopback port, waits until the API
 *   answers, and returns a handle whose `stop()` ends the JVM by its PID.
 *
 * 3.0.9 is the newest release that runs on Java 17 (3.3.x needs 21). Missing
 * Java or Maven, or a failed download, throws with the reason: the tests that
 * need the registry fail, they never skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, isAlive, reapLeftovers } from '../helpers/processes.js';

export const APICURIO_VERSION = '3.0.9';
const ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
const RUNNER = `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`;

const ROOT = resolve(import.meta.dirname, '../..');
const BASE = join(ROOT, 'node_modules/.cache/chpipe-registry');
const CACHE = join(BASE, APICURIO_VERSION);
/** Registries started by this harness, one file per JVM: `<pid> <owner pid> <dir>` (see test/helpers/processes.ts). */
const PIDS = join(BASE, 'running');

/** The Confluent-compatible API below the registry's root URL. */
export const CCOMPAT = '/apis/ccompat/v7';

function fail(what: string, r: ReturnType<typeof spawnSync>): never {
  const out = `${String(r.stdout ?? '')}${String(r.stderr ?? '')}`.trim().split('\n').slice(-25).join('\n');
  throw new Error(`${what} failed (${r.error ? r.error.message : `exit ${r.status}`}):\n${out}`);
}

/** The registry's runner jar, fetched and unpacked on first use. */
export function registryJar(log: (line: string) => void = () => {}): string {
  const app = join(CACHE, 'app');
  if (existsSync(join(app, RUNNER))) return join(app, RUNNER);
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error) throw new Error(`java was not found (${java.error.message}): Apicurio Registry ${APICURIO_VERSION}, the schema registry of the tests, needs Java 17 or later`);
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (mvn.error) throw new Error(`mvn was not found (${mvn.error.message}): Maven fetches Apicurio Registry ${APICURIO_VERSION} for the tests from Maven Central`);
  mkdirSync(CACHE, { recursive: true });
  const work = mkdtempSync(join(CACHE, 'fetch-'));
  try {
    const started = Date.now();
    log(`fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central into ${CACHE} (once; ~110 MB)`);
    const got = spawnSync('mvn', ['-B', '-q', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${work}`], { encoding: 'utf8', timeout: 600_000, cwd: work });
    if (got.error || got.status !== 0) fail(`fetching ${ARTIFACT} with Maven`, got);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tar.gz'));
    if (!tarball) throw new Error(`Maven finished but no tarball of ${ARTIFACT} is in ${work}`);
    mkdirSync(join(work, 'app'));
    const untar = spawnSync('tar', ['xzf', join(work, tarball), '-C', join(work, 'app')], { encoding: 'utf8', timeout: 300_000 });
    if (untar.error || untar.status !== 0) fail(`unpacking ${tarball}`, untar);
    if (!existsSync(join(work, 'app', RUNNER))) throw new Error(`${tarball} holds no ${RUNNER}`);
    try {
      renameSync(join(work, 'app'), app);
    } catch (e) {
      if (!existsSync(join(app, RUNNER))) throw e; // another run won the race: use its copy
    }
    log(`fetched and unpacked Apicurio Registry in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return join(app, RUNNER);
}

export interface Registry {
  /** `http://127.0.0.1:PORT`: the registry's root. */
  readonly root: string;
  /** The URL a Confluent client (and `format_avro_schema_registry_url`) is given: `root` + `/apis/ccompat/v7`. */
  readonly url: string;
  readonly pid: number;
  /** Seconds from launch until the API answered. */
  readonly readySeconds: number;
  /** Register an Avro schema under `subject`; its id. */
  register(subject: string, schema: unknown): Promise<number>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-30).join('\n');
  } catch {
    return '(no output)';
  }
}

/** Start a registry on a free loopback port; resolves once its API answers. */
export async function startRegistry(log: (line: string) => void = () => {}, readyTimeoutMs = 180_000): Promise<Registry> {
  reapLeftovers(PIDS);
  const jar = registryJar(log);
  const dir = mkdtempSync(join(tmpdir(), 'chpipe-registry-'));
  const port = await freePort();
  const outFile = join(dir, 'registry.out');
  const out = openSync(outFile, 'a');
  const started = Date.now();
  const child = spawn(
    'java',
    [
      '-Xmx384m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      // Vert.x's file cache in the registry's own folder, which stop() removes (by default: /tmp/vertx-cache, left behind).
      `-Dvertx.cacheDirBase=${join(dir, 'vertx-cache')}`,
      `-Dchpipe.registry.dir=${dir}`,
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.http.host=127.0.0.1',
      // No telemetry, no UI, nothing reaching past loopback.
      '-Dquarkus.otel.sdk.disabled=true',
      '-Dapicurio.ui.enabled=false',
      '-jar',
      jar,
    ],
    { cwd: dir, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error('java did not start (no PID) for the schema registry');
  let exited: number | null = null;
  child.once('exit', (code, signal) => (exited = code ?? (signal ? 128 : 1)));
  mkdirSync(PIDS, { recursive: true });
  const pidFile = join(PIDS, String(pid));
  writeFileSync(pidFile, `${pid} ${process.pid} ${dir}\n`);
  const root = `http://127.0.0.1:${port}`;
  const url = `${root}${CCOMPAT}`;

  const stop = async () => {
    if (exited === null && isAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      const end = Date.now() + 15_000;
      while (exited === null && Date.now() < end) await sleep(100);
      if (exited === null && isAlive(pid)) process.kill(pid, 'SIGKILL');
      while (exited === null && isAlive(pid)) await sleep(50);
    }
    rmSync(pidFile, { force: true });
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== null) {
      const why = tail(outFile);
      await stop();
      throw new Error(`the schema registry (Apicurio ${APICURIO_VERSION}) exited with ${exited} before it answered:\n${why}`);
    }
    try {
      const r = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const why = tail(outFile);
      await stop();
      throw new Error(`the schema registry (Apicurio ${APICURIO_VERSION}) did not answer at ${url} within ${readyTimeoutMs / 1000} s:\n${why}`);
    }
    await sleep(250);
  }
  const readySeconds = (Date.now() - started) / 1000;
  log(`schema registry (Apicurio ${APICURIO_VERSION}) ready at ${url} in ${readySeconds.toFixed(1)} s`);

  const register = async (subject: string, schema: unknown): Promise<number> => {
    const r = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(schema) }),
    });
    const body = (await r.json()) as { id?: number; message?: string };
    if (!r.ok || typeof body.id !== 'number') throw new Error(`registering a schema under ${subject} failed (HTTP ${r.status}): ${JSON.stringify(body)}`);
    return body.id;
  };
  return { root, url, pid, readySeconds, register, stop };
}
