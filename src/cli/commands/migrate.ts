/**
 * `chpipe migrate hash`: rewrite migrations/chpipe.sum from the files on disk,
 * after a person resolved a conflicting history (as Atlas's `migrate hash`).
 * It vouches for the files as they are, so it says what it recorded, dropped
 * and rehashed; it refuses while two files share a version.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { readMigrationDir, writeSum } from '../../migrate/dir.js';
import { fileHash, parseSum, renderSum } from '../../migrate/files.js';
import { checkHistory, historyDiagnostic } from '../../migrate/history.js';
import { acquireMigrationLock, LockBusyError } from '../../migrate/lock.js';
import { diagnosticsJson, renderDiagnostics } from '../../report/diagnostics.js';
import type { Diagnostic } from '../../spec/diagnostic.js';
import { makeIo, UserError, type GlobalOptions } from '../context.js';
import { loadProject } from '../project.js';

export default async function migrateHash(g: GlobalOptions): Promise<number> {
  const io = await makeIo(g);
  const migrationsPath = migrationsFolder(g.config);
  const display = relative(process.cwd(), migrationsPath) || '.';
  if (!existsSync(migrationsPath) || !statSync(migrationsPath).isDirectory()) {
    throw new UserError(`there is no migrations folder ${display}; nothing to hash (\`chpipe plan --save NAME\` writes the first migration)`);
  }

  let lock;
  try {
    lock = await acquireMigrationLock(migrationsPath, {
      waitMs: 30_000,
      command: 'migrate hash',
      display: `${display}/chpipe.lock`,
      onWait: (h) => io.err(`waiting for ${display}/chpipe.lock, held by ${h ? `\`chpipe ${h.command}\` (pid ${h.pid} on ${h.host})` : 'another chpipe'} (up to 30 s)…`),
    });
  } catch (e) {
    if (e instanceof LockBusyError) throw new UserError(`cannot hash: ${e.message}`);
    throw e;
  }
  try {
    const dir = readMigrationDir(migrationsPath);
    for (const stray of dir.strays) io.err(`warning: ${display}/${stray} is not named NNNN_name.sql and is ignored`);
    const duplicates = checkHistory(dir).filter((p) => p.kind === 'duplicate-version');
    if (duplicates.length) {
      const diagnostics: Diagnostic[] = duplicates.map((p) => historyDiagnostic(p, display));
      if (io.json) io.out(JSON.stringify(diagnosticsJson(diagnostics), null, 2));
      else io.err(renderDiagnostics(diagnostics, io.errPaint) + '\nchpipe.sum was not written: it would vouch for two files with one version.');
      return 1;
    }

    const before = new Map((dir.sum === undefined ? [] : parseSum(dir.sum).entries).map((e) => [e.file, e.hash]));
    const recorded = dir.files.filter((f) => !before.has(f.file)).map((f) => f.file);
    const rehashed = dir.files.filter((f) => before.has(f.file) && before.get(f.file) !== fileHash(f.text)).map((f) => f.file);
    const dropped = [...before.keys()].filter((file) => !dir.files.some((f) => f.file === file));
    const unchanged = dir.sum === renderSum(dir.files);
    if (!unchanged) writeSum(migrationsPath, dir.files);

    if (io.json) {
      io.out(JSON.stringify({ schemaVersion: 1, sum: `${display}/chpipe.sum`, written: !unchanged, files: dir.files.map((f) => f.file), recorded, rehashed, dropped }, null, 2));
    } else {
      const changes = [
        ...(recorded.length ? [`recorded ${recorded.join(', ')}`] : []),
        ...(rehashed.length ? [`rehashed ${rehashed.join(', ')} (edited)`] : []),
        ...(dropped.length ? [`dropped ${dropped.join(', ')} (no such file)`] : []),
      ];
      const n = `${dir.files.length} migration${dir.files.length === 1 ? '' : 's'}`;
      if (unchanged) io.out(`${display}/chpipe.sum already matches the ${n}; nothing written.`);
      else io.out(`Wrote ${display}/chpipe.sum for ${n}${changes.length ? `: ${changes.join('; ')}` : ' (only its own hash line was wrong)'}.`);
    }
    return 0;
  } finally {
    lock.release();
  }
}

/**
 * The migrations folder named by chpipe.yaml. Only its `migrations:` key is
 * needed, so a project whose schemas do not parse (a merge in progress) can
 * still be rehashed.
 */
function migrationsFolder(configPath: string): string {
  const loaded = loadProject(configPath);
  if (loaded.project) return resolve(loaded.root, loaded.project.migrationsDir);
  const config = resolve(configPath);
  if (!existsSync(config)) throw new UserError(`no project file ${configPath} (run \`chpipe init\` to create a project, or pass -c FILE)`);
  let dir = 'migrations/';
  try {
    const raw = parseDocument(readFileSync(config, 'utf8')).toJS() as { migrations?: unknown } | null;
    if (raw && typeof raw.migrations === 'string') dir = raw.migrations;
  } catch {
    // chpipe.yaml itself does not parse: the default folder
  }
  return resolve(loaded.root, dir);
}
