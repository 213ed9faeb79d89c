/**
 * What the commands that act on a target share: the project, its migrations
 * (chpipe.sum checked first), and the connection to the target.
 */
import { join, relative, resolve } from 'node:path';
import type { TargetConnection } from '../engine/connect.js';
import { readMigrationDir, type MigrationDir } from '../migrate/dir.js';
import { reviewHistory, type HistoryUse } from '../migrate/history.js';
import type { Placement } from '../model/model.js';
import { diagnosticsJson, renderDiagnostics } from '../report/diagnostics.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { ProjectSpec } from '../spec/types.js';
import { displayPath, UserError, type GlobalOptions, type Io } from './context.js';
import { loadProject } from './project.js';

/** Seconds a command waits for another that holds the target (its lock, or the embedded data folder). */
export const DEFAULT_LOCK_TIMEOUT_S = 60;

export interface TargetProject {
  readonly project: ProjectSpec;
  readonly root: string;
  readonly placement: Placement;
  readonly dir: MigrationDir;
  /** How the migrations folder is named in messages. */
  readonly display: string;
}

/** Diagnostics to stderr (or the JSON object to stdout); exit code 1. */
export function failWith(io: Io, diagnostics: readonly Diagnostic[]): number {
  if (io.json) io.out(JSON.stringify(diagnosticsJson(diagnostics), null, 2));
  else io.err(renderDiagnostics(diagnostics, io.errPaint));
  return 1;
}

/** The project and its migrations, or the diagnostics that stop the command. */
export function readTargetProject(g: GlobalOptions, io: Io, use: HistoryUse): TargetProject | Diagnostic[] {
  const loaded = loadProject(g.config);
  const project = loaded.project;
  if (!project || loaded.diagnostics.length) return [...loaded.diagnostics];
  const migrationsPath = resolve(loaded.root, project.migrationsDir);
  const display = relative(process.cwd(), migrationsPath) || '.';
  const dir = readMigrationDir(migrationsPath);
  for (const stray of dir.strays) io.err(`warning: ${display}/${stray} is not named NNNN_name.sql and is ignored`);
  const review = reviewHistory(dir, display, use);
  if (review.errors.length) return [...review.errors, ...review.warnings];
  const placement: Placement = { database: project.database, ...(project.cluster ? { cluster: project.cluster } : {}) };
  return { project, root: loaded.root, placement, dir, display };
}

export function parseLockTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LOCK_TIMEOUT_S * 1000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) throw new UserError(`--lock-timeout ${JSON.stringify(text)} is not a number of seconds; write e.g. --lock-timeout 120 (0: do not wait)`);
  return seconds * 1000;
}

/** Connect to the target the flags name, or the embedded default in the project's .chpipe/. */
export async function openProjectTarget(g: GlobalOptions, io: Io, p: TargetProject, command: string, waitMs: number): Promise<TargetConnection> {
  const { connectTarget } = await import('../engine/connect.js');
  const { declaredConsumers } = await import('../engine/engine-config.js');
  const dataDir = join(p.root, '.chpipe');
  return connectTarget({
    url: g.url,
    env: g.env,
    environments: p.project.environments,
    processEnv: process.env,
    dataDir,
    dataDisplay: `${displayPath(dataDir)}/`,
    command,
    waitMs,
    onWait: (holder) => io.err(`waiting for ${displayPath(dataDir)}/, held by ${holder} (up to ${Math.round(waitMs / 1000)} s)…`),
    declared: declaredConsumers(p.project),
    cluster: p.project.cluster !== undefined,
  });
}
