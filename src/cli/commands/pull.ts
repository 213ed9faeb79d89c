import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { EngineError } from '../../engine/driver.js';
import { readMigrationDir, sameHistory, writeMigration } from '../../migrate/dir.js';
import { acquireMigrationLock } from '../../migrate/lock.js';
import { makeIo, projectMemo, UserError, displayPath, type GlobalOptions } from '../context.js';
import { failWith, openProjectTarget, parseLockTimeout, readTargetProject } from '../target.js';

const require = createRequire(import.meta.url);
const { version: chpipeVersion } = require('../../../package.json') as { version: string };

export interface PullOptions {
  readonly force?: boolean;
  readonly dryRun?: boolean;
  readonly lockTimeout?: string;
}

/**
 * Adopt the Kafka pipelines a target already runs: one YAML file per pipeline
 * under schemas/, a baseline migration recorded as applied on the target, and
 * chpipe's ownership marker in each adopted object's COMMENT. Objects it
 * cannot express are listed and left alone.
 */
export default async function pull(g: GlobalOptions, options: PullOptions): Promise<number> {
  const io = await makeIo(g);
  const p = readTargetProject(g, io, 'write');
  if (Array.isArray(p)) return failWith(io, p);
  const { proposePull, adoptOnTarget, PullError } = await import('../../pull/pull.js');
  const waitMs = parseLockTimeout(options.lockTimeout);
  const connection = await openProjectTarget(g, io, p, 'pull', waitMs);
  try {
    const schemasPath = resolve(p.root, p.project.schemasDir);
    const schemaFile = join(p.root, 'schema', 'pipeline.schema.json');
    let proposal;
    try {
      proposal = await proposePull(
        {
          driver: connection.driver,
          spec: p.project,
          placement: p.placement,
          migrations: p.dir.files,
          migrationsDisplay: p.display,
          schemasDisplay: `${relative(process.cwd(), schemasPath) || '.'}/`,
          ...(existsSync(schemaFile) ? { schemaRef: relative(schemasPath, schemaFile) } : {}),
          env: process.env,
          memo: await projectMemo(g, p.root),
        },
        chpipeVersion,
      );
    } catch (e) {
      if (e instanceof PullError) throw new UserError(`cannot pull from ${connection.description}: ${e.message}`);
      throw e;
    }
    const shown = (file: string) => displayPath(join(schemasPath, file));
    const existing = proposal.files.filter((f) => existsSync(join(schemasPath, f.path)));
    if (existing.length && !options.force && !options.dryRun) {
      throw new UserError(`${existing.map((f) => shown(f.path)).join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing was written (run again with --force to overwrite, or move ${existing.length === 1 ? 'it' : 'them'} aside)`);
    }
    let baselineShown: string | undefined;
    const writeFiles = async (): Promise<void> => {
      const baseline = proposal.baseline;
      if (baseline) {
        const migrationsPath = resolve(p.root, p.project.migrationsDir);
        const lock = await acquireMigrationLock(migrationsPath, { waitMs: 30_000, command: 'pull', display: `${p.display}/chpipe.lock` });
        try {
          const current = readMigrationDir(migrationsPath);
          if (!sameHistory(current, p.dir)) throw new UserError(`${p.display}/ changed while pull ran (another save); run pull again`);
          writeMigration(current, baseline);
          baselineShown = `${p.display}/${baseline.file}`;
        } finally {
          lock.release();
        }
      }
      for (const f of proposal.files) {
        const path = join(schemasPath, f.path);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(`${path}.tmp-${process.pid}`, f.text);
        renameSync(`${path}.tmp-${process.pid}`, path);
      }
    };
    if (!options.dryRun && proposal.files.length) {
      // The files are written under the target's lock, once its history table is there (on a cluster: created
      // ON CLUSTER), and before the baseline is recorded: a target that cannot keep the history gets nothing written.
      let written = false;
      try {
        await adoptOnTarget(connection.driver, p.placement, proposal, {
          chpipeVersion,
          waitMs,
          onWait: () => io.err("waiting for the target's lock…"),
          writeFiles: async () => {
            await writeFiles();
            written = true;
          },
        });
      } catch (e) {
        if (!written && e instanceof EngineError) throw new UserError(`cannot pull from ${connection.description}: ${e.engineMessage.split('\n')[0] ?? ''}; nothing was written`);
        throw e;
      }
    }
    if (io.json) {
      io.out(
        JSON.stringify(
          {
            schemaVersion: 1,
            target: connection.description,
            dryRun: options.dryRun === true,
            pipelines: proposal.files.map((f) => ({ name: f.pipeline, kind: f.kind, file: shown(f.path), objects: f.objects, secrets: f.secrets })),
            baseline: proposal.baseline ? { file: baselineShown ?? `${p.display}/${proposal.baseline.file}`, version: proposal.baseline.version, recorded: !options.dryRun } : null,
            comments: proposal.comments.map((c) => c.object),
            unmanaged: proposal.unmanaged,
            stats: { stateReadQueries: proposal.stateQueries },
          },
          null,
          2,
        ),
      );
      return 0;
    }
    const verb = options.dryRun ? 'would write' : 'wrote';
    io.out(`target: ${connection.description}`);
    if (!proposal.files.length) io.out('No pipeline to adopt: every Kafka pipeline on the target is declared already, or cannot be expressed (below).');
    for (const f of proposal.files) io.out(`${verb} ${shown(f.path)}  (${f.kind}: ${f.objects.join(', ')})`);
    if (proposal.baseline) io.out(options.dryRun ? `would write the baseline ${p.display}/${proposal.baseline.file} and record it as applied on the target` : `wrote the baseline ${baselineShown} and recorded it as applied on the target (it never runs there); updated ${p.display}/chpipe.sum`);
    if (proposal.comments.length) io.out(`${options.dryRun ? 'would mark' : 'marked'} ${proposal.comments.length} object${proposal.comments.length === 1 ? '' : 's'} as chpipe's in their COMMENT (ALTER … MODIFY COMMENT: metadata only; no data, consumer or view is touched)`);
    for (const f of proposal.files) for (const s of f.secrets) io.out(`note: ${f.pipeline}: ${s.setting} read back as [HIDDEN]; ${shown(f.path)} references \${${s.variable}}: set ${s.variable} before \`chpipe apply\` or \`chpipe plan\` with a target`);
    if (proposal.unmanaged.length) {
      io.out(`\nLeft alone (unmanaged), ${proposal.unmanaged.length}:`);
      for (const u of proposal.unmanaged) io.out(`  ${p.placement.database}.${u.object}: ${u.reason}`);
    }
    if (proposal.files.length && !options.dryRun) io.out('\nNext: `chpipe plan` shows no changes; edit the YAML and plan as for any pipeline.');
    return 0;
  } finally {
    await connection.release();
  }
}
