import { computePlan } from '../../migrate/planner.js';
import { makeIo, projectMemo, type GlobalOptions } from '../context.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject } from '../target.js';
import { namesTarget } from '../../engine/connect.js';
import { renderDrift } from '../../report/status.js';
import type { Drift } from '../../diff/drift.js';

export interface CheckOptions {
  readonly detailedExitcode?: boolean;
  readonly lockTimeout?: string;
}

interface CheckLine {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * The CI gate: chpipe.sum matches the files, the declared and migrated states
 * agree; with a target, no applied file was edited and the target has not
 * drifted from its applied migrations (pending ones are listed). Exit 1 when a
 * check fails; 2 with --detailed-exitcode when migrations are pending.
 */
export default async function check(g: GlobalOptions, options: CheckOptions): Promise<number> {
  const io = await makeIo(g);
  const p = readTargetProject(g, io, 'write');
  if (Array.isArray(p)) return failWith(io, p);
  const lines: CheckLine[] = [];
  const n = p.dir.files.length;
  lines.push({ check: 'sum', ok: true, detail: `${p.display}/chpipe.sum matches the ${n} migration file${n === 1 ? '' : 's'}` });
  const memo = await projectMemo(g, p.root);
  const plan = await computePlan(p.project, p.dir.files, p.display, memo);
  if (plan.diagnostics.length) return failWith(io, plan.diagnostics);
  const steps = plan.steps.length;
  lines.push(
    steps
      ? { check: 'declared', ok: false, detail: `the schemas and the migrations disagree: ${steps} step${steps === 1 ? '' : 's'} would bring the migrated state to the declared one; run \`chpipe plan\` to see them and \`chpipe plan --save NAME\` to write them` }
      : { check: 'declared', ok: true, detail: 'the migrations build exactly the declared pipelines' },
  );
  let pending: string[] = [];
  let drift: Drift[] = [];
  if (namesTarget({ url: g.url, env: g.env, processEnv: process.env })) {
    const { migrationStatuses, driftOf } = await import('../../migrate/status.js');
    const { Scratch } = await import('../../check/scratch.js');
    const connection = await openProjectTarget(g, io, p, 'check', parseLockTimeout(options.lockTimeout));
    try {
      const statuses = await migrationStatuses(connection.driver, p.placement, p.dir.files, p.display);
      for (const problem of statuses.problems) lines.push({ check: 'history', ok: false, detail: problem });
      if (!statuses.problems.length) lines.push({ check: 'history', ok: true, detail: `no migration the target ran (${connection.description}) was edited` });
      pending = statuses.migrations.filter((m) => m.state !== 'applied').map((m) => m.file);
      drift = (
        await driftOf({
          driver: connection.driver,
          scratch: await Scratch.open(memo),
          placement: p.placement,
          applied: statuses.applied,
          dirDisplay: p.display,
          env: process.env,
          ...(p.project.kafka.namedCollection ? { namedCollection: p.project.kafka.namedCollection } : {}),
        })
      ).drift;
      lines.push(drift.length ? { check: 'drift', ok: false, detail: renderDrift(drift, io.paint) } : { check: 'drift', ok: true, detail: 'the target matches its applied migrations' });
    } finally {
      await connection.release();
    }
  }
  const ok = lines.every((l) => l.ok);
  if (io.json) {
    io.out(JSON.stringify({ schemaVersion: 1, ok, checks: lines, pending: pending.map((f) => ({ file: f })), drift }, null, 2));
  } else {
    for (const l of lines) (l.ok ? io.out : io.err)(`${l.ok ? io.paint.green('ok') : io.errPaint.red('failed')}: ${l.detail}`);
    if (pending.length) io.out(`pending on the target: ${pending.join(', ')} (\`chpipe apply\` runs them)`);
  }
  if (!ok) return 1;
  return options.detailedExitcode && pending.length ? 2 : 0;
}
