/**
 * The `chpipe dev` loop, once the target is held, served and migrated: bring
 * it to the declared state, then watch the project's files and apply each
 * saved change live (`sync.ts`), and refresh the live view (`live.ts`) every
 * interval, until stopped. Changes run one at a time; a save during a change
 * is planned after it. Nothing here writes a migration file.
 */
import type { Memo } from '../check/memo.js';
import type { Driver } from '../engine/driver.js';
import { makeModel, type Placement } from '../model/model.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { ProjectSpec } from '../spec/types.js';
import type { Step } from '../plan/plan.js';
import { LiveView, type PipelineLive } from './live.js';
import { readTargetModel, syncToDeclared, type SyncOutcome } from './sync.js';
import { watchProject } from './watch.js';

/** What the last change did, for the live view. */
export interface ChangeSummary {
  /** 1 for the start, then one more per change handled. */
  readonly seq: number;
  readonly cause: 'start' | 'change';
  readonly outcome: SyncOutcome['kind'];
  /** ISO time the change was handled. */
  readonly at: string;
  /** Steps planned (run, when `outcome` is `applied`). */
  readonly steps: number;
}

export interface DevReport {
  /** A change was handled (at the start, then per save). */
  synced(outcome: SyncOutcome, summary: ChangeSummary): void;
  /** Before a step of a change runs. */
  step?(step: Step, index: number, total: number): void;
  /** The live view, every interval. */
  refreshed(pipelines: readonly PipelineLive[], last: ChangeSummary | undefined): void;
}

export interface DevLoopInput {
  readonly driver: Driver;
  readonly placement: Placement;
  /** Read the project from disk (again at every change). */
  readonly load: () => { readonly spec?: ProjectSpec; readonly diagnostics: readonly Diagnostic[] };
  readonly memo?: Memo;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly allowDestructive: boolean;
  readonly intervalMs: number;
  readonly watch: { readonly schemasDir: string; readonly configFile: string };
  /** Resolves when the loop must stop. */
  readonly stopped: Promise<void>;
  readonly report: DevReport;
}

export async function runDevLoop(input: DevLoopInput): Promise<void> {
  const { driver, report } = input;
  let stopping = false;
  void input.stopped.then(() => (stopping = true));
  let last: ChangeSummary | undefined;
  let seq = 0;
  const live = new LiveView(driver, makeModel(input.placement, []));

  const sync = async (cause: ChangeSummary['cause']): Promise<void> => {
    const loaded = input.load();
    let outcome: SyncOutcome;
    if (!loaded.spec || loaded.diagnostics.length) outcome = { kind: 'invalid', diagnostics: loaded.diagnostics };
    else {
      outcome = await syncToDeclared({
        driver,
        spec: loaded.spec,
        env: input.env,
        allowDestructive: input.allowDestructive,
        ...(input.memo ? { memo: input.memo } : {}),
        onStep: (step, i, total) => {
          if (stopping) throw new StoppedError();
          report.step?.(step, i, total);
        },
      }).catch((e: unknown) => {
        if (e instanceof StoppedError) return undefined;
        throw e;
      }) as SyncOutcome;
      if (outcome === undefined) return;
    }
    if (outcome.kind === 'applied' || outcome.kind === 'unchanged') live.track(outcome.model);
    // Nothing (or part) applied: the view follows what the target holds.
    else live.track(await readTargetModel(driver, input.placement));
    const steps = 'steps' in outcome ? outcome.steps.length : 0;
    last = { seq: ++seq, cause, outcome: outcome.kind, at: new Date().toISOString(), steps };
    report.synced(outcome, last);
  };

  // Changes one at a time: a save while one runs is handled once it ends.
  let running: Promise<void> | undefined;
  let again = false;
  let failure: unknown;
  const schedule = (cause: ChangeSummary['cause']): void => {
    if (stopping) return;
    if (running) {
      again = true;
      return;
    }
    running = sync(cause)
      .catch((e: unknown) => {
        failure ??= e;
      })
      .finally(() => {
        running = undefined;
        if (again && !stopping && failure === undefined) {
          again = false;
          schedule('change');
        }
      });
  };

  const watcher = watchProject(input.watch.schemasDir, input.watch.configFile, () => schedule('change'));
  let refreshing: Promise<void> | undefined;
  const refresh = (): void => {
    if (refreshing || stopping) return;
    refreshing = live
      .refresh()
      .then((pipelines) => {
        if (!stopping) report.refreshed(pipelines, last);
      })
      .catch((e: unknown) => {
        failure ??= e;
      })
      .finally(() => (refreshing = undefined));
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    // Saves from here on are seen: the start reads the files after this.
    await watcher.ready;
    schedule('start');
    await Promise.race([running, input.stopped]);
    if (failure !== undefined) throw failure;
    let stopNow!: () => void;
    const failed = new Promise<void>((done) => (stopNow = done));
    refresh();
    timer = setInterval(() => {
      if (failure !== undefined) stopNow();
      else refresh();
    }, input.intervalMs);
    await Promise.race([input.stopped, failed]);
    stopping = true;
  } finally {
    stopping = true;
    if (timer) clearInterval(timer);
    await Promise.all([watcher.close(), running, refreshing, live.stop()]);
  }
  if (failure !== undefined) throw failure;
}

/** Thrown between steps of a change when dev is stopping: the rest of the change is not run. */
class StoppedError extends Error {}
