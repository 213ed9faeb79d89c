/** The migrations folder on disk. */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFileName, renderSum, type MigrationFile } from './files.js';

export const SUM_FILE = 'chpipe.sum';

export interface MigrationDir {
  readonly path: string;
  readonly files: readonly MigrationFile[];
  readonly sum?: string;
  /** .sql files whose names do not follow NNNN_name.sql. */
  readonly strays: readonly string[];
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
    files.push({ ...parsed, file, text: readFileSync(join(path, file), 'utf8') });
  }
  const sumPath = join(path, SUM_FILE);
  const sum = existsSync(sumPath) ? readFileSync(sumPath, 'utf8') : undefined;
  return { path, files, strays, ...(sum !== undefined ? { sum } : {}) };
}

/** Write a new migration and the updated chpipe.sum; each lands whole (write, then rename). */
export function writeMigration(dir: MigrationDir, file: MigrationFile): void {
  mkdirSync(dir.path, { recursive: true });
  atomicWrite(join(dir.path, file.file), file.text);
  atomicWrite(join(dir.path, SUM_FILE), renderSum([...dir.files, file]));
}

function atomicWrite(path: string, text: string): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}
