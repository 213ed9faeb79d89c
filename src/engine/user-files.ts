/**
 * The one folder `file()` reaches on an embedded target (a server's
 * `user_files_path`): `user_files/` inside its data folder. Its own module, so
 * the engine process (which makes the folder and runs in it) loads nothing else.
 */
import { join, resolve } from 'node:path';

export const USER_FILES_DIR = 'user_files';

/** A data folder's user files folder; the engine process runs in it, so relative `file()` paths land there. */
export function userFilesDir(dataDir: string): string {
  return join(resolve(dataDir), USER_FILES_DIR);
}
