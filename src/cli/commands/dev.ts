/**
 * `chpipe dev`: the local loop. Holds the project's `.chpipe/` and serves it
 * as `chpipe serve` does (with an engine configured for a local loop: a
 * consumer thread per Kafka table, 250 ms flushes, a fast consumer handover), applies the pending
 * migrations, brings the target to the declared state, then applies each
 * saved change to `schemas/` or chpipe.yaml live, without writing migration
 * files, and shows a live view per pipeline until Ctrl-C or SIGTERM.
 */
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { ChangeSummary } from '../../dev/dev.js';
import type { PipelineLive } from '../../dev/live.js';
import type { SyncOutcome } from '../../dev/sync.js';
import type { Step } from '../../plan/plan.js';
import { renderDiagnostics } from '../../report/diagnostics.js';
import { makeIo, projectMemo, UserError, type GlobalOptions, type Io } from '../context.js';
import { loadProject } from '../project.js';
import { failWith, parseLockTimeout, readTargetProject } from '../target.js';
import { diagnostic, type Diagnostic } from '../../spec/diagnostic.js';
import { locate } from '../../spec/source.js';
import { consumesKafka, type ProjectSpec } from '../../spec/types.js';
import { staticMembershipConflicts } from '../../sql/dev.js';
import { declaredConsumers, writeEngineConfig, type EngineConfig } from '../../engine/engine-config.js';
import { connectionLine, holdAndServe, readPort, serveAccess, stopSignal, type Serving } from './serve.js';

const require = createRequire(import.meta.url);
const { version: chpipeVersion } = require('../../../package.json') as { version: string };

export interface DevOptions {
  readonly port?: string;
  readonly interval?: string;
  readonly allowDestructive?: boolean;
  readonly lockTimeout?: string;
  readonly password?: string;
  readonly allowRemoteSources?: boolean;
}

export default async function dev(g: GlobalOptions, options: DevOptions): Promise<number> {
  const io = await makeIo(g);
  if (g.url !== undefined || g.env !== undefined) throw new UserError('`chpipe dev` runs on the embedded target in .chpipe/ only; drop --url/--env (apply migrations to a server with `chpipe apply`)');
  const port = readPort(options.port);
  const access = serveAccess(options, process.env);
  const intervalMs = readInterval(options.interval);
  const waitMs = parseLockTimeout(options.lockTimeout);
  const p = readTargetProject(g, io, 'read');
  if (Array.isArray(p)) return failWith(io, p);
  const dataDir = join(p.root, '.chpipe');
  // The declared pipelines decide which topics get static membership (a ≤ 2 s handover) and the pool size;
  // the engine flushes Kafka blocks every 250 ms (a local loop's freshness).
  const engineConfig = writeEngineConfig(dataDir, {
    kafkaTables: p.project.pipelines.length,
    consumers: declaredConsumers(p.project),
    dev: true,
    access: { remoteSources: access.remoteSources, clusterFunctions: p.project.cluster !== undefined },
  });
  const configFile = engineConfig.file;

  const stop = stopSignal();
  let serving: Serving | undefined;
  try {
    serving = await holdAndServe(io, { dataDir, port, waitMs, command: 'dev', stop, engine: { configFile }, staticTopics: engineConfig.staticTopics, access });
    if (!serving) return 0;
    const { server, info, shown, target } = serving;
    io.err(`dev: serving ${shown} at ${server.url} (ClickHouse ${info.version}); watching ${p.project.schemasDir} and chpipe.yaml; Ctrl-C stops`);
    io.err(`dev: ${connectionLine(server.url, access)}`);

    const { applyMigrations } = await import('../../migrate/apply.js');
    const { DEFAULT_LOCK_TTL_MS } = await import('../../migrate/target-lock.js');
    const result = await applyMigrations({
      driver: target.driver,
      placement: p.placement,
      files: p.dir.files,
      dirDisplay: p.display,
      env: process.env,
      chpipeVersion,
      lock: { waitMs, ttlMs: DEFAULT_LOCK_TTL_MS, command: 'dev' },
      onEvent: (e) => (e.kind === 'migration-done' ? io.err(`applied ${e.file}`) : undefined),
    });
    io.err(`migrations: ${result.applied.length} applied now, ${result.alreadyApplied} before`);

    const { runDevLoop } = await import('../../dev/dev.js');
    const view = makeView(io, server.url);
    // Brokers that do not answer are said within seconds, while dev goes on (a warning: they may come up later).
    const probe = await import('../../kafka/probe.js');
    void probe.brokerWarnings(p.project, process.env).then((warnings) => warnings.forEach((w) => view.message(`warning[brokers]: ${w}`)));
    await runDevLoop({
      driver: target.driver,
      placement: p.placement,
      load: () => {
        const loaded = loadProject(g.config);
        const restart = loaded.project && !loaded.diagnostics.length ? needsRestart(loaded.project, engineConfig) : [];
        return { ...(loaded.project ? { spec: loaded.project } : {}), diagnostics: [...loaded.diagnostics, ...restart] };
      },
      memo: await projectMemo(g, p.root),
      env: process.env,
      allowDestructive: options.allowDestructive === true,
      intervalMs,
      watch: { schemasDir: resolve(p.root, p.project.schemasDir), configFile: resolve(g.config) },
      stopped: stop.signalled,
      report: {
        synced: (outcome, summary) => view.message(describeOutcome(outcome, summary, io)),
        step: (step, i, total) => view.message(`  ${i + 1}/${total} ${step.action} ${step.object} (${step.risk})`),
        refreshed: (pipelines, last) => view.frame(pipelines, last),
      },
    });
    view.done();
    await serving.close();
    io.err(`stopped; the data stays in ${shown}`);
    return 0;
  } finally {
    await serving?.close(0);
    stop.restore();
  }
}

/**
 * A change this engine cannot run correctly: it started with static membership for some topics (the
 * engine reads its Kafka configuration once), and the change makes a pipeline reading one of them have
 * several consumers, or share its group. Its consumers would fence each other, so the change waits for
 * a restart of dev, which starts the engine without static membership for those topics.
 */
function needsRestart(spec: ProjectSpec, engine: EngineConfig): Diagnostic[] {
  const conflicts = new Set(staticMembershipConflicts(engine.staticTopics, declaredConsumers(spec)));
  if (!conflicts.size) return [];
  return spec.pipelines.flatMap((p) => {
    if (!consumesKafka(p) || !p.source.topics.some((t) => conflicts.has(t))) return [];
    const topics = p.source.topics.filter((t) => conflicts.has(t));
    return [
      diagnostic(
        locate(p.file, ['source', 'consumers'], 'key'),
        'dev-restart-needed',
        `pipeline ${p.name} now reads ${topics.join(', ')} with several consumers or a shared consumer group, and this dev engine started with static membership for ${topics.length > 1 ? 'those topics' : 'that topic'}: its consumers would fence each other`,
        { hint: 'stop chpipe dev and start it again to apply this change (the engine then starts without static membership for it)' },
      ),
    ];
  });
}

function readInterval(text: string | undefined): number {
  if (text === undefined) return 1000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600) throw new UserError(`--interval takes seconds between refreshes, from 0.1 to 3600, not ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

const NOT_SAVED = 'not saved: run `chpipe plan --save NAME` to keep it';

/** What a change did, in a few lines for stderr. Step reasons only: the SQL may hold filled-in secrets. */
function describeOutcome(outcome: SyncOutcome, summary: ChangeSummary, io: Io): string {
  const when = summary.cause === 'start' ? 'declared state' : 'change';
  const list = (steps: readonly Step[]) => steps.map((s, i) => `  ${i + 1}. ${s.risk} · ${s.action} ${s.object}: ${s.reason}`).join('\n');
  switch (outcome.kind) {
    case 'invalid':
      return `${when}: invalid, nothing applied\n${renderDiagnostics(outcome.diagnostics, io.errPaint).trimEnd()}`;
    case 'missing-env':
      return `${when}: the environment variable${outcome.names.length > 1 ? 's' : ''} ${outcome.names.join(', ')} ${outcome.names.length > 1 ? 'are' : 'is'} not set (no default in chpipe.yaml); nothing applied`;
    case 'unchanged':
      return `${when}: the target matches the declared state`;
    case 'refused':
      return `${when}: refused, nothing applied: ${outcome.steps.filter((s) => s.risk === 'destructive').length} destructive step(s); restart with --allow-destructive to let dev run them\n${list(outcome.steps)}`;
    case 'applied':
      return `${when}: applied ${outcome.steps.length} step${outcome.steps.length === 1 ? '' : 's'} in ${outcome.ms} ms (${NOT_SAVED})\n${list(outcome.steps)}`;
    case 'failed':
      return `${when}: step ${outcome.done + 1} of ${outcome.steps.length} failed on the target, ${outcome.done} ran before it: ${outcome.message}`;
  }
}

/** The live view: JSON lines, a table redrawn in place on a terminal, or a table when it changes elsewhere. */
function makeView(io: Io, url: string): { frame(p: readonly PipelineLive[], last: ChangeSummary | undefined): void; message(text: string): void; done(): void } {
  const stdout = process.stdout;
  const redraw = !io.json && stdout.isTTY === true;
  let drawn = 0;
  let previous = '';
  return {
    frame: (pipelines, last) => {
      if (io.json) {
        io.out(JSON.stringify({ url, pipelines: pipelines.map((x) => ({ name: x.name, rows: x.rows, errors: x.errors, lag: x.lag, rowsPerSecond: x.rowsPerSecond === null ? null : Math.round(x.rowsPerSecond * 10) / 10, lastError: x.lastError })), lastChange: last ?? null }));
        return;
      }
      const text = renderTable(pipelines, last);
      if (redraw) {
        io.out(`${drawn ? `\x1b[${drawn}A\x1b[J` : ''}${text}`);
        drawn = text.split('\n').length;
      } else if (text !== previous) io.out(text);
      previous = text;
    },
    message: (text) => {
      io.err(text);
      drawn = 0;
    },
    done: () => undefined,
  };
}

function renderTable(pipelines: readonly PipelineLive[], last: ChangeSummary | undefined): string {
  const rows = pipelines.map((x) => [x.name, x.rows === null ? '-' : String(x.rows), x.rowsPerSecond === null ? '-' : x.rowsPerSecond.toFixed(1), String(x.errors), x.lag === null ? '-' : String(x.lag), x.lastError ? x.lastError.replace(/\s+/g, ' ').slice(0, 60) : '']);
  const head = ['pipeline', 'rows', 'rows/s', 'errors', 'lag', 'last error'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ').trimEnd();
  const lastLine = last ? `last change: ${last.outcome}${last.steps ? ` (${last.steps} steps)` : ''} at ${last.at.slice(11, 19)}` : 'last change: none yet';
  return [line(head), ...rows.map(line), lastLine].join('\n');
}
