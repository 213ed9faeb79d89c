/** A target's status for people and for machines (SPEC's `status --json`). */
import type { Drift } from '../diff/drift.js';
import { unhealthyQueues, type MigrationStatus, type QueueHealth, type TargetStatus } from '../migrate/status.js';
import type { ProducerDrift } from '../infer/producers.js';
import type { HostStatus } from '../cluster/state.js';
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
  return [paint.bold(`drift: ${differing(drift)}`), ...driftLines(drift, '  ', paint)].join('\n');
}

const differing = (drift: readonly Drift[]) => `${drift.length === 1 ? '1 object differs' : `${drift.length} objects differ`} from the applied migrations`;

const driftLines = (drift: readonly Drift[], indent: string, paint: Paint) => drift.map((d) => `${indent}${paint.yellow('~')} ${d.object}: ${d.detail}`);

/** Cluster mode: one line per host (its shard, then "no drift" or how many objects differ), each drifted object under it. */
export function renderHosts(hosts: readonly HostStatus[], paint: Paint): string[] {
  const drifted = hosts.filter((h) => h.drift.length).length;
  if (!hosts.length) return [`hosts: ${paint.dim('not read')} (see the problem above)`];
  const lines = [paint.bold(`hosts: ${plural(hosts.length, 'host')}, ${drifted ? `${drifted} with drift` : 'none with drift'}`)];
  for (const h of hosts) {
    lines.push(`  ${h.host} (shard ${h.shard}): ${h.drift.length ? paint.yellow(differing(h.drift)) : paint.green('no drift')}`);
    lines.push(...driftLines(h.drift, '    ', paint));
  }
  return lines;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A queue's health in a few lines: lag, consumers, last poll, the last exception, notes. */
function queueLines(q: QueueHealth, paint: Paint): string[] {
  const head = `  ${q.table}${q.pipeline && q.pipeline !== q.table ? ` (pipeline ${q.pipeline})` : ''}, group ${q.group}, ${q.topics.length === 1 ? 'topic' : 'topics'} ${q.topics.join(', ')}`;
  const parts: string[] = [];
  if (q.lag) {
    const total = q.lag.reduce((a, p) => a + p.lag, 0);
    parts.push(`lag ${total === 0 ? paint.green('0') : paint.yellow(String(total))} on ${plural(q.lag.length, 'partition')}`);
  } else parts.push(`lag ${paint.dim('unknown')}`);
  if (q.consumers) {
    const assigned = q.consumers.reduce((a, c) => a + c.assignments.length, 0);
    const read = q.consumers.reduce((a, c) => a + c.messagesRead, 0);
    const polls = q.consumers.map((c) => c.lastPoll).filter((t): t is string => t !== null);
    parts.push(`${plural(q.consumers.length, 'consumer')}, ${plural(assigned, 'partition')} assigned, ${read} read`);
    parts.push(`last poll ${polls.length ? polls.sort().at(-1) : 'never'}`);
  }
  const lines = [head, `    ${parts.join('; ')}`];
  const last = q.consumers?.flatMap((c) => c.exceptions).sort((a, b) => a.time.localeCompare(b.time)).at(-1);
  if (last) lines.push(`    ${paint.red('last exception')} ${last.time}: ${last.text}`);
  for (const n of q.notes) lines.push(`    ${paint.dim(`note: ${n}`)}`);
  return lines;
}

export function renderConsumers(queues: readonly QueueHealth[], paint: Paint): string[] {
  if (!queues.length) return [];
  return [paint.bold(`consumers: ${plural(queues.length, 'Kafka table')}`), ...queues.flatMap((q) => queueLines(q, paint))];
}

/** Producer drift per ingest queue: fields no column reads, columns no message carries. */
export function renderProducers(producers: readonly ProducerDrift[], paint: Paint): string[] {
  if (!producers.length) return [];
  const drifted = producers.filter((p) => p.unread?.length || p.missing?.length).length;
  const lines = [paint.bold(`producers: ${drifted ? `${plural(drifted, 'Kafka table')} out of step with ${drifted === 1 ? 'its' : 'their'} messages` : plural(producers.length, 'Kafka table')}`)];
  for (const p of producers) {
    lines.push(`  ${p.table}${p.pipeline && p.pipeline !== p.table ? ` (pipeline ${p.pipeline})` : ''}, ${p.topics.length === 1 ? 'topic' : 'topics'} ${p.topics.join(', ')}, ${plural(p.sampled, 'message')} sampled`);
    if (p.unread?.length) lines.push(`    ${paint.yellow('+')} fields no column reads (dropped): ${p.unread.join(', ')}`);
    if (p.missing?.length) lines.push(`    ${paint.yellow('-')} columns no sampled message carries (defaults stored): ${p.missing.join(', ')}`);
    if (p.unread && p.missing && !p.unread.length && !p.missing.length) lines.push(`    ${paint.green('in step')}: every field is read and every column is carried`);
    for (const n of p.notes) lines.push(`    ${paint.dim(`note: ${n}`)}`);
  }
  return lines;
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
  if (s.hosts) lines.push(...renderHosts(s.hosts, paint));
  lines.push(...renderConsumers(s.consumers, paint));
  if (s.producers) lines.push(...renderProducers(s.producers, paint));
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
    consumers: s.consumers.map(queueJson),
    // The Kafka tables whose lag could not be read (brokers down or unreachable), with why: `status --detailed-exitcode` exits 2 for them.
    unhealthyConsumers: unhealthyQueues(s.consumers),
    // With --producers: per ingest queue, `unread` message fields and `missing` columns (`null` when the sample could not be read; `notes` says why).
    ...(s.producers ? { producers: s.producers.map((p) => ({ pipeline: p.pipeline, table: p.table, topics: p.topics, format: p.format, sampled: p.sampled, unread: p.unread, missing: p.missing, notes: p.notes })) } : {}),
    // Cluster mode: per host (`host:port`, its shard), its drift from the applied migrations; read in `stats.clusterReadQueries` queries whatever the number of hosts.
    ...(s.hosts ? { hosts: s.hosts.map((h) => ({ host: h.host, shard: h.shard, drift: h.drift })) } : {}),
    stats: { stateReadQueries: s.stateQueries, consumerReadQueries: s.consumerQueries, ...(s.clusterQueries !== undefined ? { clusterReadQueries: s.clusterQueries } : {}) },
  };
}

/**
 * One Kafka table in `status --json`: `consumers` is `null` when the server
 * cannot list them (no system.kafka_consumers), `lag` and `lagTotal` are
 * `null` when the brokers could not be asked; `notes` says why.
 */
function queueJson(q: QueueHealth): object {
  return {
    pipeline: q.pipeline,
    table: q.table,
    group: q.group,
    topics: q.topics,
    consumers:
      q.consumers?.map((c) => ({
        id: c.consumerId,
        assignments: c.assignments.map((a) => ({ topic: a.topic, partition: a.partition, offset: a.offset })),
        lastPoll: c.lastPoll,
        lastCommit: c.lastCommit,
        messagesRead: c.messagesRead,
        commits: c.commits,
        inUse: c.inUse,
        exceptions: c.exceptions.map((e) => ({ time: e.time, text: e.text })),
      })) ?? null,
    lag: q.lag?.map((p) => ({ topic: p.topic, partition: p.partition, committed: p.committed, end: p.end, lag: p.lag })) ?? null,
    lagTotal: q.lag ? q.lag.reduce((a, p) => a + p.lag, 0) : null,
    notes: q.notes,
  };
}
