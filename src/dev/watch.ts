/**
 * Watch the project's files (the schemas folder, recursively, and chpipe.yaml)
 * and call back once a burst of saves has settled (editors write a file in
 * several steps: truncate, write, rename).
 *
 * Editors save in every way there is: in place, by writing a new file and
 * renaming it over the old one (vim, `sed -i`, many IDEs: "atomic saves"), by
 * deleting and creating. A watch on the file itself stops at the first
 * rename (node's recursive watch on Linux follows files, not names), so
 * chokidar watches the folders and the names in them: new files, files
 * deleted, folders created later (the schemas folder itself too), and
 * renames over a watched name are all seen.
 */
import { watch, type FSWatcher } from 'chokidar';
import { resolve, sep } from 'node:path';

export const DEBOUNCE_MS = 200;

export interface Watching {
  /** Resolves once the watch is set up: saves from then on are seen. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

const YAML = /\.ya?ml$/i;

/** Call `onChange` `debounceMs` after the last change to a YAML file under `schemasDir` or to `configFile`. */
export function watchProject(schemasDir: string, configFile: string, onChange: () => void, debounceMs = DEBOUNCE_MS): Watching {
  const schemas = resolve(schemasDir);
  const config = resolve(configFile);
  let timer: NodeJS.Timeout | undefined;
  const changed = (path: string) => {
    const full = resolve(path);
    const relevant = full === config || ((full === schemas || full.startsWith(schemas + sep)) && (YAML.test(full) || full === schemas));
    if (!relevant) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
  };
  const watcher: FSWatcher = watch([schemas, config], {
    ignoreInitial: true,
    // A file renamed over a watched name, or deleted and made again within 100 ms, is one change.
    atomic: true,
    // A folder that does not exist yet (no schemas/ so far) is watched for when it appears.
    ignorePermissionErrors: true,
  });
  watcher.on('all', (_event, path) => changed(path));
  // A watch that cannot be kept (a folder removed, the limit of watches reached) must not end dev: the next save elsewhere still counts.
  watcher.on('error', () => undefined);
  const ready = new Promise<void>((done) => watcher.once('ready', () => done()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
