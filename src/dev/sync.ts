/**
 * `chpipe dev`'s live change: bring a target to the declared state through the
 * same planner `plan` uses, from what the target actually holds (not from the
 * migration files), and run the steps on it. Nothing is written to
 * `migrations/`: dev is a local loop; `chpipe plan --save NAME` keeps a change.
 *
 * The declared state is compiled and checked on the scratch engine (as
 * `validate` does); its `${VAR}` references (a queue's brokers and settings)
 * are filled in from the environment before the diff, as `apply` fills a
 * migration's, so the target's filled values compare equal.
 */
import type { Memo } from '../check/memo.js';
import { Scratch } from '../check/scratch.js';
import { validateProject } from '../check/validate.js';
import { diffModels } from '../diff/diff.js';
import { EngineError, type Driver } from '../engine/driver.js';
import { renameHints } from '../migrate/planner.js';
import { readTarget } from '../migrate/status.js';
import { makeModel, type DbObject, type Model, type Placement } from '../model/model.js';
import { planSteps, worstRisk, type Step } from '../plan/plan.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import { expandEnv } from '../spec/env.js';
import type { ProjectSpec } from '../spec/types.js';

export type SyncOutcome =
  /** The declared state does not validate: nothing was applied. */
  | { readonly kind: 'invalid'; readonly diagnostics: readonly Diagnostic[] }
  /** Environment variables the declared state needs (no default) are not set: nothing was applied. */
  | { readonly kind: 'missing-env'; readonly names: readonly string[] }
  | { readonly kind: 'unchanged'; readonly model: Model }
  /** A destructive step, without `allowDestructive`: nothing was applied. */
  | { readonly kind: 'refused'; readonly steps: readonly Step[] }
  | { readonly kind: 'applied'; readonly steps: readonly Step[]; readonly ms: number; readonly model: Model }
  /** Step `done` (0-based) was refused by the engine; the steps before it ran. */
  | { readonly kind: 'failed'; readonly steps: readonly Step[]; readonly done: number; readonly message: string };

export interface SyncInput {
  readonly driver: Driver;
  readonly spec: ProjectSpec;
  readonly memo?: Memo;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly allowDestructive: boolean;
  /** Called before each step runs. */
  readonly onStep?: (step: Step, index: number, total: number) => void;
}

/** The target's objects chpipe manages, without its own history and lock tables. */
export async function readTargetModel(driver: Driver, placement: Placement): Promise<Model> {
  return (await readTarget(driver, placement)).model;
}

/** A model with each queue's `${VAR}` references filled in from `env`, and the variables that had no value. */
export function fillModel(model: Model, env: Readonly<Record<string, string | undefined>>): { model: Model; missing: string[] } {
  const missing = new Set<string>();
  const fill = (text: string): string => {
    const r = expandEnv(text, env);
    r.missing.forEach((m) => missing.add(m));
    return r.value;
  };
  const objects = model.objects.map((o): DbObject => {
    if (o.kind !== 'kafka') return o;
    const settings = Object.fromEntries(Object.entries(o.settings).map(([k, v]) => [k, typeof v === 'string' ? fill(v) : v]));
    return { ...o, ...(o.brokers !== undefined ? { brokers: fill(o.brokers) } : {}), settings };
  });
  return { model: makeModel(model, objects), missing: [...missing] };
}

/** Validate the declared state, plan from the target's actual state, and run the steps (unless refused). */
export async function syncToDeclared(input: SyncInput): Promise<SyncOutcome> {
  const { driver, spec } = input;
  const scratch = await Scratch.open(input.memo);
  let compiled: Model;
  let declared: Model;
  try {
    const validation = await validateProject(spec, scratch, input.memo);
    if (!validation.model || !validation.declared || validation.diagnostics.length) return { kind: 'invalid', diagnostics: validation.diagnostics };
    compiled = validation.model;
    declared = validation.declared;
  } finally {
    await scratch.close();
  }
  const to = fillModel(declared, input.env);
  const pretty = fillModel(compiled, input.env);
  const missing = [...new Set([...to.missing, ...pretty.missing])];
  if (missing.length) return { kind: 'missing-env', names: missing };

  const placement: Placement = { database: spec.database, ...(spec.cluster ? { cluster: spec.cluster } : {}) };
  const from = await readTargetModel(driver, placement);
  const changes = diffModels(from, to.model, renameHints(spec));
  const steps = planSteps({ changes, from, to: to.model, compiled: pretty.model });
  if (!steps.length) return { kind: 'unchanged', model: from };
  if (worstRisk(steps) === 'destructive' && !input.allowDestructive) return { kind: 'refused', steps };
  const t0 = Date.now();
  for (const [i, step] of steps.entries()) {
    input.onStep?.(step, i, steps.length);
    try {
      await driver.exec(step.sql);
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      return { kind: 'failed', steps, done: i, message: e.engineMessage };
    }
  }
  const ms = Date.now() - t0;
  return { kind: 'applied', steps, ms, model: await readTargetModel(driver, placement) };
}
