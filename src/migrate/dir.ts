/** The migrations folder on disk. */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inVersionOrder, parseFileName, renderSum, type MigrationFile } from './files.js';

export const SUM_FILE = 'chpipe.sum';

export interface MigrationDir {
  readonly path: string;
  /** In replay order (see `inVersionOrder`). */
  readonly files: readonly MigrationFile[];
  readonly sum?: string;
  /** .sql files whose names do not follow NNNN_name.sql. */
  readonly strays: readonly string[];
}

/** Largest migration file read: far beyond any real one (1,000 pipelines make a few MiB). */
export const MAX_MIGRATION_BYTES = 64 * 1024 * 1024;

/**
 * A file of the folder, its size checked before it is read; any error names
 * the path (Node's EISDIR from a read does not), for the CLI's one-sentence message.
 */
function readText(path: string): string {
  try {
    const { size } = statSync(path);
    if (size > MAX_MIGRATION_BYTES) throw Object.assign(new Error(`${path} is too large`), { code: 'EFBIG', path, syscall: 'read', size, limit: MAX_MIGRATION_BYTES });
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof Error && !('path' in e)) Object.assign(e, { path, syscall: 'read' });
    throw e;
  }
}

export function readMigrationDir(path: string): MigrationDir {
  if (!existsSync(path)) return { path, files: [], strays: [] };
  const files: MigrationFile[] = [];
  const strays: string[] = [];
  for (const file of readdirSync(path).sort()) {
    if (!file.endsWith('.sql')) continue;
    const parsed = parseFileName(file);
    if (!parsed) {
      strays.push(file);
      continue;
    }
    files.push({ ...parsed, file, text: readText(join(path, file)) });
  }
  const sumPath = join(path, SUM_FILE);
  const sum = existsSync(sumPath) ? readText(sumPath) : undefined;
  return { path, files: inVersionOrder(files), strays, ...(sum !== undefined ? { sum } : {}) };
}

/** The same files with the same text, and the same chpipe.sum: nobody wrote the folder in between. */
export function sameHistory(a: MigrationDir, b: MigrationDir): boolean {
  return a.sum === b.sum && a.files.length === b.files.length && a.files.every((f, i) => f.file === b.files[i]?.file && f.text === b.files[i]?.text);
}

/**
 * Write a new migration and the updated chpipe.sum; each lands whole (write,
 * then link or rename). The migration never replaces a file of the same name.
 * Callers hold the folder's lock (`lock.ts`) and read `dir` under it.
 */
export function writeMigration(dir: MigrationDir, file: MigrationFile): void {
  mkdirSync(dir.path, { recursive: true });
  const path = join(dir.path, file.file);
  const temp = tempPath(path);
  writeFileSync(temp, file.text);
  try {
    linkSync(temp, path);
  } finally {
    unlinkSync(temp);
  }
  writeSum(dir.path, [...dir.files, file]);
}

/** Rewrite chpipe.sum for these files. */
export function writeSum(path: string, files: readonly MigrationFile[]): void {
  mkdirSync(path, { recursive: true });
  atomicWrite(join(path, SUM_FILE), renderSum(files));
}

function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

function atomicWrite(path: string, text: string): void {
  const temp = tempPath(path);
  writeFileSync(temp, text);
  renameSync(temp, path);
}
