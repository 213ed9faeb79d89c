/**
 * Progress of a long run, drawn in place on stderr ("validating 312/1000
 * pipelines"), only when stderr is a terminal and --json is off. Elsewhere a
 * progress does nothing, so logs and pipes stay clean.
 */

/** Runs with fewer pipelines than this finish too fast for a progress line to help. */
export const PROGRESS_MIN_PIPELINES = 20;

export interface Progress {
  /** Show a line of text (a phase without counts). */
  show(text: string): void;
  /** Show `label done/total unit` (redrawn at most ten times a second, and always at the end). */
  update(label: string, done: number, total: number, unit: string): void;
  /** Remove the line, before results or errors are written. */
  clear(): void;
}

interface Terminal {
  write(text: string): unknown;
  readonly columns?: number;
}

const quiet: Progress = { show: () => undefined, update: () => undefined, clear: () => undefined };

/** Progress lines currently on screen, cleared by `clearAllProgress` (on an interrupt). */
const shown = new Set<Progress>();

export function clearAllProgress(): void {
  for (const p of [...shown]) p.clear();
}

/**
 * A progress line on `terminal` when `interactive`, else one that draws nothing.
 * `now` is injectable for tests.
 */
export function makeProgress(terminal: Terminal, interactive: boolean, now: () => number = Date.now): Progress {
  if (!interactive) return quiet;
  let drawn = false;
  let last = -Infinity;
  const draw = (text: string) => {
    const width = Math.max(20, (terminal.columns || 80) - 1);
    terminal.write(`\r\x1b[K${text.slice(0, width)}`);
    drawn = true;
    shown.add(progress);
  };
  const progress: Progress = {
    show(text) {
      draw(text);
    },
    update(label, done, total, unit) {
      const t = now();
      if (done < total && t - last < 100) return;
      last = t;
      draw(`${label} ${done}/${total} ${unit}`);
    },
    clear() {
      if (!drawn) return;
      terminal.write('\r\x1b[K');
      drawn = false;
      shown.delete(progress);
    },
  };
  return progress;
}
