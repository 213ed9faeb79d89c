/**
 * One Python virtualenv per older ClickHouse version, each holding the PyPI
 * `chdb` wheel that embeds it. Created on first use and cached outside the
 * tracked tree (`node_modules/.cache/chpipe-matrix/`, or `$CHPIPE_MATRIX_CACHE`);
 * a cached one is reused when its marker file is present. A creation that
 * fails throws with the reason: the matrix never skips a version.
 *
 * Plain JavaScript (types in venv.d.mts) so that `npm test` can start the
 * creation before it builds, typechecks and lints:
 *
 *   node test/matrix/venv.mjs               create what is missing now (exit 1 with the reason)
 *   node test/matrix/venv.mjs --background  the same in a detached process; return at once
 *
 * The tests wait for a creation in progress (a lock folder per version holding
 * the creator's PID) and create what is still missing themselves.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(import.meta.dirname, '../..');

/** The engines of the matrix other than the npm package's own (26.7, in process). */
export const PYTHON_ENGINES = Object.freeze([Object.freeze({ clickhouse: '24.8', chdb: '3.3.0' }), Object.freeze({ clickhouse: '25.8', chdb: '4.0.0' })]);

/** @returns {string} */
export function cacheDir() {
  return process.env.CHPIPE_MATRIX_CACHE ? resolve(process.env.CHPIPE_MATRIX_CACHE) : join(ROOT, 'node_modules/.cache/chpipe-matrix');
}

const READY = 'chpipe-matrix-ready.json';
const LOCK_WAIT_MS = 15 * 60_000;

/**
 * Run a command to its end (killed by PID after `timeoutMs`); its output, or an error with its last lines.
 * @param {string} cmd @param {string[]} args @param {string} what @param {number} timeoutMs @returns {Promise<string>}
 */
function run(cmd, args, what, timeoutMs) {
  return new Promise((done, failed) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s) => {
      stdout += s;
      output = (output + s).slice(-16_384);
    });
    child.stderr.setEncoding('utf8').on('data', (s) => {
      output = (output + s).slice(-16_384);
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      failed(new Error(`${what} failed: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return done(stdout);
      const tail = output.trim().split('\n').slice(-25).join('\n');
      failed(new Error(`${what} failed (${signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` after ${timeoutMs / 1000} s` : ''}` : `exit ${code}`}):\n${tail}`));
    });
  });
}

/** @param {number} pid */
function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
}

/**
 * Run `body` holding `lock` (a folder with the owner's PID in it), so that two
 * test processes never build the same virtualenv at once. A lock whose owner
 * is gone is broken.
 */
/** @template T @param {string} lock @param {() => Promise<T>} body @returns {Promise<T>} */
async function withLock(lock, body) {
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // The owner has not written its PID yet.
      }
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) throw new Error(`gave up waiting for ${lock} (held by PID ${owner}); remove it if that process is gone`, { cause: e });
      await sleep(500);
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Debian's python3 lacks `venv` until python3-venv is installed; as root (CI) install it, else say what to do. */
async function ensureVenvModule() {
  try {
    await run('python3', ['-c', 'import ensurepip, venv'], 'python3 -c "import ensurepip, venv"', 60_000);
    return;
  } catch (e) {
    if (process.getuid?.() !== 0) throw new Error(`python3 cannot create virtualenvs; install python3-venv (${/** @type {Error} */ (e).message})`, { cause: e });
  }
  await run('apt-get', ['update'], 'apt-get update (for python3-venv)', 5 * 60_000);
  await run('apt-get', ['install', '-y', 'python3-venv'], 'apt-get install python3-venv', 5 * 60_000);
}

/**
 * The virtualenv for one engine: reused when ready, else created (pip install chdb==X) under a lock.
 * @param {{ clickhouse: string, chdb: string }} engine
 */
export async function ensureVenv(engine) {
  const root = cacheDir();
  mkdirSync(root, { recursive: true });
  const dir = join(root, `chdb-${engine.chdb}`);
  const python = join(dir, 'bin', 'python');
  const ready = () => {
    if (!existsSync(join(dir, READY)) || !existsSync(python)) return undefined;
    const { version } = JSON.parse(readFileSync(join(dir, READY), 'utf8'));
    return { engine, dir, python, version, createdInSeconds: 0 };
  };
  const cached = ready();
  if (cached) return cached;
  return withLock(`${dir}.lock`, async () => {
    const other = ready();
    if (other) return other;
    const t0 = Date.now();
    rmSync(dir, { recursive: true, force: true });
    try {
      await ensureVenvModule();
      await run('python3', ['-m', 'venv', dir], `python3 -m venv ${dir}`, 5 * 60_000);
      await run(python, ['-m', 'pip', 'install', '--no-input', '--only-binary', ':all:', `chdb==${engine.chdb}`], `pip install chdb==${engine.chdb}`, 15 * 60_000);
      const version = (await run(python, ['-c', 'import chdb; print(str(chdb.query("SELECT version()", "TSV")).strip())'], `importing chdb ${engine.chdb}`, 120_000)).trim();
      if (!version.startsWith(`${engine.clickhouse}.`)) throw new Error(`chdb==${engine.chdb} embeds ClickHouse ${version}, expected ${engine.clickhouse}.x`);
      writeFileSync(join(dir, READY), JSON.stringify({ chdb: engine.chdb, version, createdAt: new Date().toISOString() }) + '\n');
      return { engine, dir, python, version, createdInSeconds: (Date.now() - t0) / 1000 };
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`the version matrix could not prepare ClickHouse ${engine.clickhouse} (chdb==${engine.chdb} in ${dir}): ${/** @type {Error} */ (e).message}`, { cause: e });
    }
  });
}

/** Whether every virtualenv of the matrix is ready (no creation needed). */
export function allReady() {
  return PYTHON_ENGINES.every((e) => existsSync(join(cacheDir(), `chdb-${e.chdb}`, READY)));
}

async function main() {
  if (process.argv.includes('--background')) {
    if (allReady()) return;
    mkdirSync(cacheDir(), { recursive: true });
    const log = join(cacheDir(), 'prepare.log');
    const out = openSync(log, 'w');
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    console.log(`version matrix: creating the Python virtualenvs for ClickHouse ${PYTHON_ENGINES.map((e) => e.clickhouse).join(' and ')} in the background (pid ${child.pid}, log ${log})`);
    return;
  }
  const t0 = Date.now();
  const venvs = await Promise.all(PYTHON_ENGINES.map(ensureVenv));
  for (const v of venvs) console.log(`ClickHouse ${v.version} (chdb==${v.engine.chdb}): ${v.createdInSeconds ? `created in ${v.createdInSeconds.toFixed(0)} s` : 'cached'} at ${v.dir}`);
  console.log(`version matrix ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
