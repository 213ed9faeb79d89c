/**
 * `chpipe graph`: the lineage of the declared pipelines (default), of what is
 * on a target with its drift (`--target`), or of what a change touches
 * (`--changes`), as Mermaid, DOT, SVG or an HTML page.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Scratch } from '../../check/scratch.js';
import type { Model } from '../../model/model.js';
import type { MigrationFile } from '../../migrate/files.js';
import { lineage, type LineageGraph } from '../../graph/lineage.js';
import { compileProject } from '../../compile/compile.js';
import type { ProjectSpec } from '../../spec/types.js';
import { loadProject } from '../project.js';
import { renderMermaid } from '../../graph/mermaid.js';
import { renderDot } from '../../graph/dot.js';
import { changeMarks, targetMarks } from '../../graph/marks.js';
import { makeIo, projectMemo, UserError, type GlobalOptions, type Io } from '../context.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject, type TargetProject } from '../target.js';
import { namesTarget } from '../../engine/connect.js';
import { didYouMean } from '../../spec/diagnostic.js';

export interface GraphOptions {
  readonly format?: string;
  readonly output?: string;
  readonly target?: boolean;
  readonly changes?: boolean;
  readonly lockTimeout?: string;
}

const FORMATS = ['mermaid', 'dot', 'svg', 'html'] as const;
type Format = (typeof FORMATS)[number];

function formatOf(text: string | undefined): Format {
  const f = (text ?? 'mermaid').toLowerCase();
  if ((FORMATS as readonly string[]).includes(f)) return f as Format;
  const near = didYouMean(f, FORMATS);
  throw new UserError(`--format ${JSON.stringify(text)} is not a graph format; expected one of ${FORMATS.join(', ')}${near ? `; ${near}` : ''}`);
}

export default async function graph(g: GlobalOptions, options: GraphOptions): Promise<number> {
  const io = await makeIo(g);
  const format = formatOf(options.format);
  if (options.target && options.changes) throw new UserError('--target and --changes draw different things; give one (--changes compares with the target that --url, --env or CHPIPE_URL names)');
  // The declared graph needs the schemas only; the others read the migrations folder too.
  let p: TargetProject | undefined;
  let project: ProjectSpec;
  let root: string;
  if (options.target || options.changes) {
    const read = readTargetProject(g, io, 'read');
    if (Array.isArray(read)) return failWith(io, read);
    p = read;
    ({ project, root } = read);
  } else {
    const loaded = loadProject(g.config);
    if (!loaded.project || loaded.diagnostics.length) return failWith(io, loaded.diagnostics);
    ({ project, root } = { project: loaded.project, root: loaded.root });
  }
  const { Scratch } = await import('../../check/scratch.js');
  const scratch = await Scratch.open(await projectMemo(g, root));
  let drawn: { graph: LineageGraph; title: string } | undefined;
  try {
    if (p && options.target) drawn = await onTarget(g, io, p, scratch, options);
    else if (p) drawn = await changes(g, io, p, scratch, options);
    else drawn = declared(io, project, scratch);
  } finally {
    await scratch.close();
  }
  if (!drawn) return 1;
  if (options.changes && drawn.graph.nodes.length === 0) {
    io.err('No changes: nothing to draw.');
    return 0;
  }
  const { graph: shown, title } = drawn;
  let text: string;
  if (io.json) text = JSON.stringify({ schemaVersion: 1, title, ...shown }, null, 2) + '\n';
  else if (format === 'mermaid') text = renderMermaid(shown);
  else if (format === 'dot') text = renderDot(shown);
  else {
    const { renderHtml, renderSvg } = await import('../../graph/svg.js');
    text = format === 'svg' ? await renderSvg(shown) : await renderHtml(shown, title);
  }
  if (options.output !== undefined) {
    const file = resolve(options.output);
    // Written whole: a temporary file beside it, then renamed over it.
    const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
    writeFileSync(temp, text);
    renameSync(temp, file);
    io.err(`wrote ${options.output} (${shown.nodes.length} nodes, ${shown.edges.length} edges)`);
  } else {
    io.out(text);
  }
  if (options.target && !io.json) for (const n of shown.nodes) if (n.unmanaged && n.kind !== 'topic') io.err(`not managed by chpipe: ${shown.database}.${n.name}`);
  for (const n of shown.nodes) if (n.note && !io.json) io.err(`${n.status === 'missing' ? 'missing' : n.status === 'extra' ? 'extra' : 'drift'}: ${shown.database}.${n.name}: ${n.note}`);
  return 0;
}

/** The declared state: the pipelines compiled (types from the engine; nothing is run). */
function declared(io: Io, project: ProjectSpec, scratch: Scratch): { graph: LineageGraph; title: string } | undefined {
  const compiled = compileProject(project, scratch.oracle());
  if (!compiled.model) {
    failWith(io, compiled.diagnostics);
    return undefined;
  }
  return { graph: lineage(compiled.model), title: `chpipe: pipelines of ${project.database}` };
}

/** The state the applied migrations build, replayed on the scratch engine (environment references need no values there). */
async function appliedState(scratch: Scratch, p: TargetProject, applied: readonly MigrationFile[]): Promise<Model> {
  const { replayMigrations } = await import('../../migrate/replay.js');
  const failed = await replayMigrations(scratch, p.placement, applied, p.display, p.project.kafka.namedCollection);
  if (failed.length) throw new UserError(failed[0]?.message ?? 'replaying the migrations failed');
  return (await scratch.inspect(p.placement)).model;
}

/** What is on the target, its drift from its applied migrations marked. */
async function onTarget(g: GlobalOptions, io: Io, p: TargetProject, scratch: Scratch, options: GraphOptions): Promise<{ graph: LineageGraph; title: string }> {
  const connection = await openProjectTarget(g, io, p, 'graph', parseLockTimeout(options.lockTimeout));
  try {
    const { migrationStatuses, driftOf } = await import('../../migrate/status.js');
    const statuses = await migrationStatuses(connection.driver, p.placement, p.dir.files, p.display);
    if (statuses.problems.length) throw new UserError(statuses.problems[0] as string);
    const { drift, target } = await driftOf({
      driver: connection.driver,
      scratch,
      placement: p.placement,
      applied: statuses.applied,
      dirDisplay: p.display,
      env: process.env,
      ...(p.project.kafka.namedCollection ? { namedCollection: p.project.kafka.namedCollection } : {}),
    });
    const missing = drift.some((d) => !target.objects.some((o) => `${target.database}.${o.name}` === d.object));
    const migrated = missing ? await appliedState(scratch, p, statuses.applied) : target;
    const { model, marks } = targetMarks(target, migrated, drift);
    return { graph: lineage(model, marks), title: `chpipe: ${p.project.database} on ${connection.description}${drift.length ? ` (${drift.length} drifted)` : ''}` };
  } finally {
    await connection.release();
  }
}

/**
 * What changes: from the state the target's applied migrations build (with a
 * target named) or the migrated state (without one), to the declared state:
 * what `chpipe apply` of the pending migrations and the unsaved plan would do.
 */
async function changes(g: GlobalOptions, io: Io, p: TargetProject, scratch: Scratch, options: GraphOptions): Promise<{ graph: LineageGraph; title: string } | undefined> {
  const { computePlan, renameHints } = await import('../../migrate/planner.js');
  const { diffModels } = await import('../../diff/diff.js');
  const plan = await computePlan(p.project, p.dir.files, p.display, await projectMemo(g, p.root));
  if (plan.diagnostics.length || !plan.declared || !plan.migrated) {
    failWith(io, plan.diagnostics);
    return undefined;
  }
  let before = plan.migrated;
  let against = 'the migrations';
  if (namesTarget({ url: g.url, env: g.env, processEnv: process.env })) {
    const connection = await openProjectTarget(g, io, p, 'graph', parseLockTimeout(options.lockTimeout));
    try {
      const { migrationStatuses } = await import('../../migrate/status.js');
      const statuses = await migrationStatuses(connection.driver, p.placement, p.dir.files, p.display);
      if (statuses.problems.length) throw new UserError(statuses.problems[0] as string);
      before = await appliedState(scratch, p, statuses.applied);
      against = connection.description;
    } finally {
      await connection.release();
    }
  }
  const { model, marks } = changeMarks(before, plan.declared, diffModels(before, plan.declared, renameHints(p.project)));
  return { graph: lineage(model, marks), title: `chpipe: what changes in ${p.project.database} (against ${against})` };
}
