/**
 * Watch the project's files (the schemas folder, recursively, and chpipe.yaml)
 * and call back once a burst of saves has settled (editors write a file in
 * several steps: truncate, write, rename).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export const DEBOUNCE_MS = 200;

export interface Watching {
  close(): void;
}

/** Call `onChange` `debounceMs` after the last change to a YAML file under `schemasDir` or to `configFile`. */
export function watchProject(schemasDir: string, configFile: string, onChange: () => void, debounceMs = DEBOUNCE_MS): Watching {
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
  };
  const watchers: FSWatcher[] = [];
  const onError = () => {
    // A watched folder removed and made again: the next save of chpipe.yaml or a restart picks it up.
  };
  try {
    watchers.push(watch(schemasDir, { recursive: true }, (_event, file) => (file === null || /\.ya?ml$/i.test(String(file)) ? changed() : undefined)).on('error', onError));
  } catch {
    // No schemas folder yet: validation says so; chpipe.yaml is still watched.
  }
  // The folder, not the file: an editor that saves by rename replaces the file a watch would follow.
  const configName = basename(configFile);
  watchers.push(watch(dirname(configFile), (_event, file) => (file === null || String(file) === configName ? changed() : undefined)).on('error', onError));
  return {
    close: () => {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
