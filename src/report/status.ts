/** A target's status for people and for machines (SPEC's `status --json`). */
import type { Drift } from '../diff/drift.js';
import type { MigrationStatus, TargetStatus } from '../migrate/status.js';
import type { Paint } from './paint.js';

function migrationLine(m: MigrationStatus, paint: Paint): string {
  const name = `${m.version}_${m.name}`;
  switch (m.state) {
    case 'applied':
      return `  ${paint.green('applied')}  ${name}${m.finishedAt ? paint.dim(`  ${m.finishedAt}`) : ''}`;
    case 'pending':
      return `  ${paint.yellow('pending')}  ${name}`;
    case 'failed':
      return m.interrupted
        ? `  ${paint.red('stopped')}  ${name}: interrupted after ${m.statementsDone} of ${m.statements} statements; \`chpipe apply\` continues it`
        : `  ${paint.red('failed')}   ${name}: statement ${m.failedStatement} of ${m.statements}: ${m.error}`;
  }
}

export function renderDrift(drift: readonly Drift[], paint: Paint): string {
  if (!drift.length) return `drift: ${paint.green('none')} (the target matches its applied migrations)`;
  return [paint.bold(`drift: ${drift.length} object${drift.length === 1 ? '' : 's'} differ from the applied migrations`), ...drift.map((d) => `  ${paint.yellow('~')} ${d.object}: ${d.detail}`)].join('\n');
}

export function renderStatus(s: TargetStatus, paint: Paint): string {
  const lines = [paint.bold(`target: ${s.target} (ClickHouse ${s.serverVersion})`)];
  if (!s.migrations.length) lines.push('migrations: none in the migrations folder');
  else {
    const count = (state: MigrationStatus['state']) => s.migrations.filter((m) => m.state === state).length;
    lines.push(`migrations: ${count('applied')} applied, ${count('pending')} pending, ${count('failed')} failed`);
    lines.push(...s.migrations.map((m) => migrationLine(m, paint)));
  }
  for (const p of s.problems) lines.push(paint.red(`problem: ${p}`));
  lines.push(renderDrift(s.drift, paint));
  return lines.join('\n');
}

export function statusJson(s: TargetStatus): object {
  return {
    schemaVersion: 1,
    target: s.target,
    serverVersion: s.serverVersion,
    migrations: s.migrations.map((m) => ({
      version: m.version,
      name: m.name,
      state: m.state,
      statementsDone: m.statementsDone,
      ...(m.statements !== undefined ? { statements: m.statements } : {}),
      ...(m.failedStatement ? { failedStatement: m.failedStatement } : {}),
      ...(m.error ? { error: m.error } : {}),
      ...(m.interrupted ? { interrupted: true } : {}),
      ...(m.finishedAt ? { finishedAt: m.finishedAt } : {}),
    })),
    drift: s.drift,
    problems: s.problems,
    consumers: [],
    stats: { stateReadQueries: s.stateQueries },
  };
}
