/**
 * actionlint (the GitHub Actions workflow linter), built from source with the
 * Go toolchain at a pinned version and cached outside the tracked tree:
 *
 *   node test/tools/actionlint.mjs     build it unless the pinned version is there; print its path
 *
 * Everything Go writes (GOPATH, GOCACHE, GOMODCACHE, its telemetry counters)
 * stays under node_modules/.cache/chpipe-tools/ (or `$CHPIPE_TOOLS_CACHE`);
 * the binary is node_modules/.cache/chpipe-tools/bin/actionlint. Only the Go
 * module proxy is needed. The Go toolchain is `$GO`, else `go` on PATH, else
 * /usr/local/go/bin/go. Progress goes to stderr; stdout is the path alone.
 *
 * actionlint runs shellcheck on `run:` scripts only when shellcheck is on PATH;
 * it lints everything else without it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(import.meta.dirname, '../..');

/** The pinned release (served by the Go module proxy). */
const VERSION = 'v1.7.12';
const MODULE = 'github.com/rhysd/actionlint/cmd/actionlint';
const BUILD_TIMEOUT_MS = 20 * 60_000;

const cache = process.env.CHPIPE_TOOLS_CACHE ? resolve(process.env.CHPIPE_TOOLS_CACHE) : join(ROOT, 'node_modules/.cache/chpipe-tools');
const binDir = join(cache, 'bin');
const exe = join(binDir, process.platform === 'win32' ? 'actionlint.exe' : 'actionlint');

/** The first line of `actionlint -version` (the module version it was built at), or undefined when it does not run. */
function installedVersion() {
  if (!existsSync(exe)) return undefined;
  const r = spawnSync(exe, ['-version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.split('\n')[0]?.trim() : undefined;
}

/** The Go toolchain's command: `$GO`, `go` on PATH, or the default install folder. */
function goCommand() {
  const candidates = [process.env.GO, 'go', '/usr/local/go/bin/go'].filter((c) => c !== undefined && c !== '');
  for (const c of candidates) {
    const r = spawnSync(c, ['version'], { encoding: 'utf8', timeout: 60_000, env: goEnv(binDir) });
    if (r.status === 0) return { go: c, version: r.stdout.trim() };
  }
  throw new Error(`building actionlint needs the Go toolchain: none of ${candidates.join(', ')} runs (set GO to its path)`);
}

/** The user's Go settings file (`go env -w`), where Go looks for it by default; kept although the config folder moves. */
function userGoEnv() {
  if (process.env.GOENV) return process.env.GOENV;
  if (process.platform === 'win32') return join(process.env.APPDATA ?? homedir(), 'go', 'env');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'go', 'env');
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'go', 'env');
}

/** @param {string} gobin */
function goEnv(gobin) {
  return {
    ...process.env,
    GOPATH: join(cache, 'gopath'),
    GOCACHE: join(cache, 'gocache'),
    GOMODCACHE: join(cache, 'gomodcache'),
    GOBIN: gobin,
    GOENV: userGoEnv(),
    // Go writes its telemetry counters under the user's config folder: keep them here too.
    XDG_CONFIG_HOME: join(cache, 'config'),
    // Module files writable, so that removing node_modules works without chmod; a pure-Go build.
    GOFLAGS: [process.env.GOFLAGS, '-modcacherw'].filter(Boolean).join(' '),
    CGO_ENABLED: '0',
  };
}

/**
 * Run a command to its end (killed by PID after `timeoutMs`); an error with its last lines when it fails.
 * @param {string} cmd @param {string[]} args @param {NodeJS.ProcessEnv} env @param {number} timeoutMs @returns {Promise<void>}
 */
function run(cmd, args, env, timeoutMs) {
  const what = `${cmd} ${args.join(' ')}`;
  return new Promise((done, failed) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd: cache });
    let output = '';
    const keep = (/** @type {string} */ s) => {
      output = (output + s).slice(-16_384);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      failed(new Error(`${what} failed: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return done();
      const tail = output.trim().split('\n').slice(-25).join('\n');
      failed(new Error(`${what} failed (${signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` after ${timeoutMs / 1000} s` : ''}` : `exit ${code}`}):\n${tail}`));
    });
  });
}

/** Build the pinned actionlint unless it is already there; its path. */
async function ensureActionlint() {
  if (installedVersion() === VERSION) {
    console.error(`actionlint ${VERSION}: cached`);
    return exe;
  }
  mkdirSync(binDir, { recursive: true });
  const { go, version } = goCommand();
  const t0 = Date.now();
  // Built into a folder of its own, then renamed into place: a concurrent or interrupted build never leaves half a binary.
  const staging = mkdtempSync(join(cache, 'build-'));
  try {
    console.error(`actionlint ${VERSION}: building ${MODULE}@${VERSION} with ${version}`);
    await run(go, ['install', `${MODULE}@${VERSION}`], goEnv(staging), BUILD_TIMEOUT_MS);
    renameSync(join(staging, process.platform === 'win32' ? 'actionlint.exe' : 'actionlint'), exe);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const built = installedVersion();
  if (built !== VERSION) throw new Error(`the actionlint built at ${exe} reports version ${built ?? '(none: it does not run)'}, expected ${VERSION}`);
  console.error(`actionlint ${VERSION}: built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return exe;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureActionlint().then(
    (path) => console.log(path),
    (e) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
