import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadProject } from '../../src/cli/project.js';
import { readMigrationDir, writeMigration } from '../../src/migrate/dir.js';
import { modelHash, nextVersion, renderMigration, type MigrationFile } from '../../src/migrate/files.js';
import { computePlan, type PlanResult } from '../../src/migrate/planner.js';
import type { Placement } from '../../src/model/model.js';
import { tempProject } from './cli.js';

/** A project's migrations as a test saved them, with what replaying them needs. */
export interface SavedHistory {
  readonly dir: string;
  readonly placement: Placement;
  readonly namedCollection?: string;
  /** The whole folder after the last save, texts held in memory (the temp project may be gone by then). */
  readonly files: readonly MigrationFile[];
}

/** Every migration folder saved through `project().save` in this process, by project folder: the version matrix replays them (test/matrix). */
export const savedHistories = new Map<string, SavedHistory>();

export interface Project {
  readonly dir: string;
  plan(): Promise<PlanResult>;
  /** Plan and write the next migration; fails the test on diagnostics. */
  save(name: string): Promise<PlanResult>;
  write(path: string, text: string): void;
}

export function project(files: Record<string, string>, projectYaml?: string): Project {
  const dir = tempProject(files, projectYaml);
  const plan = async () => {
    const loaded = loadProject(join(dir, 'chpipe.yaml'), {});
    if (!loaded.project || loaded.diagnostics.length) throw new Error(loaded.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.message}`).join('\n'));
    return computePlan(loaded.project, readMigrationDir(join(dir, 'migrations')).files, 'migrations');
  };
  return {
    dir,
    plan,
    async save(name) {
      const result = await plan();
      if (result.diagnostics.length) throw new Error(result.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.message}`).join('\n'));
      const migrations = readMigrationDir(join(dir, 'migrations'));
      const version = nextVersion(migrations.files);
      const text = renderMigration({ version, name, chpipeVersion: 'test', before: modelHash(result.migrated!), after: modelHash(result.declared!), steps: result.steps });
      writeMigration(migrations, { version, name, file: `${version}_${name}.sql`, text });
      const spec = loadProject(join(dir, 'chpipe.yaml'), {}).project;
      if (spec) {
        const placement = { database: spec.database, ...(spec.cluster !== undefined ? { cluster: spec.cluster } : {}) };
        const namedCollection = spec.kafka.namedCollection;
        savedHistories.set(dir, { dir, placement, ...(namedCollection !== undefined ? { namedCollection } : {}), files: readMigrationDir(join(dir, 'migrations')).files });
      }
      return result;
    },
    write(path, text) {
      writeFileSync(join(dir, path), text);
    },
  };
}

/** `action risk object` per step, the compact form the scenario tests compare. */
export function outline(result: PlanResult): string[] {
  if (result.diagnostics.length) throw new Error(result.diagnostics.map((d) => `${d.file}:${d.line}:${d.col} ${d.message}`).join('\n'));
  return result.steps.map((s) => `${s.action} ${s.risk} ${s.object.replace(/^analytics\./, '')}`);
}
