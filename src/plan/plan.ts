/**
 * Change[] → Step[], ordered by the Kafka rules (SPEC §4). Pure.
 *
 * The order, across all pipelines:
 *   1. targets first: new tables, ADD/MODIFY COLUMN, TTL, settings, comments,
 *      and the new table of a rebuild — the running flow keeps writing;
 *   2. stop the flows that must be rebuilt: DROP the materialized views that
 *      read a queue being recreated, write a table being rebuilt or renamed,
 *      or change target; messages wait in Kafka under their consumer group;
 *   3. renames, then queues: DROP + CREATE with the same group (Kafka tables
 *      cannot be altered), new queues;
 *   4. rebuilds: copy rows (INSERT SELECT), EXCHANGE, drop the old table;
 *   5. plain views;
 *   6. flows: MODIFY QUERY where the flow kept running, CREATE the stopped and
 *      new materialized views — publishing ones first;
 *   7. cleanup: DROP COLUMN (no flow writes it any more), removed objects.
 */
import type { Change, QueueChangeFlags, RebuildReason, TableAlter } from '../diff/change.js';
import { consumerGroup, type DbObject, type KafkaTable, type MaterializedView, type Model, type Placement, type Table } from '../model/model.js';
import { alterStatement, commentStatement, copyRowsStatement, createOrReplaceView, exchangeStatement, modifyQueryStatement } from '../sql/alter.js';
import { createDatabase, createObject, dropObject } from '../sql/ddl.js';
import { qualified } from '../sql/quote.js';

export type Risk = 'safe' | 'caution' | 'destructive';
export type Action = 'create' | 'alter' | 'drop' | 'stop' | 'start' | 'modify_query' | 'replace' | 'copy' | 'swap';

export interface Step {
  /** `db.name` */
  readonly object: string;
  readonly pipeline?: string;
  readonly action: Action;
  readonly risk: Risk;
  /** One line, in words: why this step, and what it does to data and offsets. */
  readonly reason: string;
  readonly sql: string;
}

interface Phased extends Step {
  readonly phase: number;
  readonly order: number;
  /** The object the step acts on, for ordering within a phase (absent for the database). */
  readonly subject?: DbObject;
}

export const REBUILD_SUFFIX = '__chpipe_rebuild';

const RISK_RANK: Record<Risk, number> = { safe: 0, caution: 1, destructive: 2 };

export function worstRisk(steps: readonly Step[]): Risk {
  return steps.reduce<Risk>((w, s) => (RISK_RANK[s.risk] > RISK_RANK[w] ? s.risk : w), 'safe');
}

/** Does this view's SELECT read `name` (qualified in `database`)? */
function reads(view: MaterializedView, placement: Placement, name: string): boolean {
  const q = qualified(placement.database, name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\\b(FROM|JOIN)\\s+${q}(?![\\w\`])`).test(view.select);
}

const REBUILD_WORDS: Record<RebuildReason, string> = {
  engine: 'engine',
  orderBy: 'ORDER BY',
  partitionBy: 'PARTITION BY',
  primaryKey: 'PRIMARY KEY',
};

export interface PlanInput {
  readonly changes: readonly Change[];
  /** The state the plan starts from (migrated or a target's actual state). */
  readonly from: Model;
  /** The declared state as the engine reads it back (normal forms). */
  readonly to: Model;
  /** The declared state as compiled: its SQL is what migrations show. */
  readonly compiled?: Model;
}

export function planSteps(input: PlanInput): Step[] {
  const { changes, from, to } = input;
  const placement: Placement = { database: to.database, ...(to.cluster ? { cluster: to.cluster } : {}) };
  const steps: Phased[] = [];
  const add = (phase: number, object: DbObject | string, s: Omit<Step, 'object' | 'pipeline'>) => {
    const name = typeof object === 'string' ? object : object.name;
    const pipeline = typeof object === 'string' ? undefined : object.owner?.pipeline;
    const id = name === '' ? placement.database : `${placement.database}.${name}`;
    const subject = typeof object === 'string' ? undefined : object;
    steps.push({ phase, order: steps.length, object: id, ...(pipeline ? { pipeline } : {}), ...s, ...(subject ? { subject } : {}) });
  };
  /** The compiled form (for readable SQL), falling back to the normal form. */
  const compiledByName = new Map((input.compiled?.objects ?? []).map((o) => [o.name, o]));
  const pretty = <T extends DbObject>(o: T): T => {
    const c = compiledByName.get(o.name);
    return c?.kind === o.kind ? (c as T) : o;
  };

  const fromMvs = from.objects.filter((o): o is MaterializedView => o.kind === 'mv' && o.owner !== undefined);
  const toByName = new Map(to.objects.map((o) => [o.name, o]));
  const droppedPipelines = new Set(changes.filter((c) => c.kind === 'dropObject' && c.object.owner).map((c) => (c as { object: DbObject }).object.owner?.pipeline as string));
  for (const p of [...droppedPipelines]) if (to.objects.some((o) => o.owner?.pipeline === p)) droppedPipelines.delete(p);

  // Which flows must stop, and why.
  const stop = new Map<string, string>();
  const stopFlowsTouching = (name: string, why: string, direction: 'reads' | 'writes' | 'both') => {
    for (const mv of fromMvs) {
      const hit = (direction !== 'writes' && reads(mv, placement, name)) || (direction !== 'reads' && mv.to === name);
      if (hit && !stop.has(mv.name)) stop.set(mv.name, why);
    }
  };
  for (const c of changes) {
    if (c.kind === 'replaceQueue') stopFlowsTouching(c.from.name, `queue ${c.from.name} is recreated`, 'both');
    if (c.kind === 'rebuildTable') stopFlowsTouching(c.from.name, `table ${c.from.name} is rebuilt`, 'both');
    if (c.kind === 'alterTable' && c.alters.some((a) => a.kind === 'renameColumn')) stopFlowsTouching(c.from.name, `columns of ${c.from.name} are renamed`, 'writes');
    if (c.kind === 'alterTable' && c.alters.some(isStateRetype)) stopFlowsTouching(c.from.name, `aggregate states of ${c.from.name} are reset`, 'writes');
    if (c.kind === 'modifyFlow' && c.target) stop.set(c.from.name, `its target changes to ${c.to.to}`);
    if (c.kind === 'replaceObject') stopFlowsTouching(c.from.name, `${c.from.name} is replaced`, 'both');
    if (c.kind === 'dropObject' && c.object.kind === 'mv') stop.set(c.object.name, 'its pipeline is removed');
  }

  const pipelineOf = (o: DbObject) => o.owner?.pipeline ?? '';
  const hasOwned = from.objects.some((o) => o.owner);
  if (!hasOwned && changes.some((c) => c.kind === 'createObject')) {
    add(0, '', { action: 'create', risk: 'safe', reason: `create database ${to.database} if it does not exist`, sql: createDatabase(placement) });
  }

  for (const c of changes) {
    switch (c.kind) {
      case 'createObject': {
        const o = pretty(c.object);
        const phase = o.kind === 'table' ? 1 : o.kind === 'kafka' ? 3 : o.kind === 'view' ? 5 : 6;
        add(phase, o, { action: o.kind === 'mv' ? 'start' : 'create', risk: 'safe', reason: createReason(o), sql: createObject(placement, o) });
        break;
      }
      case 'dropObject': {
        const o = c.object;
        const removed = droppedPipelines.has(pipelineOf(o));
        const why = removed ? `pipeline ${pipelineOf(o)} is removed` : `no longer declared`;
        if (o.kind === 'mv') add(2, o, { action: 'stop', risk: removed ? 'destructive' : 'caution', reason: `stop the flow ${o.name}: ${why}`, sql: dropObject(placement, o) });
        else if (o.kind === 'table') add(7, o, { action: 'drop', risk: 'destructive', reason: `drop table ${o.name} and its data: ${why}`, sql: dropObject(placement, o) });
        else if (o.kind === 'kafka') add(7, o, { action: 'drop', risk: removed ? 'destructive' : 'caution', reason: `drop queue ${o.name} (group ${consumerGroup(o)} keeps its offsets in Kafka): ${why}`, sql: dropObject(placement, o) });
        else add(7, o, { action: 'drop', risk: removed ? 'destructive' : 'caution', reason: `drop view ${o.name}: ${why}`, sql: dropObject(placement, o) });
        break;
      }
      case 'alterTable':
        for (const a of c.alters) {
          if (isStateRetype(a)) {
            // An aggregate state cannot be converted: drop and re-add it while its flow is stopped.
            const reason = `measure ${a.to.name} changes from ${a.from.type} to ${a.to.type}: its aggregated values cannot be converted and are reset`;
            add(3, c.to, { action: 'alter', risk: 'destructive', reason, sql: alterStatement(placement, c.to.name, { kind: 'dropColumn', column: a.from }) });
            const i = c.to.columns.findIndex((col) => col.name === a.to.name);
            const after = c.to.columns[i - 1]?.name;
            add(3, c.to, { action: 'alter', risk: 'safe', reason: `add measure ${a.to.name} back as ${a.to.type}`, sql: alterStatement(placement, c.to.name, { kind: 'addColumn', column: a.to, ...(after !== undefined ? { after } : {}) }) });
            continue;
          }
          const phase = a.kind === 'dropColumn' ? 7 : a.kind === 'renameColumn' ? 3 : 1;
          add(phase, c.to, { action: 'alter', ...alterRisk(a, c.to), sql: alterStatement(placement, c.to.name, a) });
        }
        break;
      case 'rebuildTable':
        planRebuild(c.from, pretty(c.to), c.reasons, c.alters, placement, add);
        break;
      case 'replaceQueue': {
        const to = pretty(c.to);
        add(3, c.from, { action: 'drop', risk: 'safe', reason: `drop queue ${c.from.name} to recreate it (Kafka tables cannot be altered): ${queueWhat(c.flags)}`, sql: dropObject(placement, c.from) });
        const producer = input.to.objects.some((o) => o.kind === 'mv' && o.to === c.to.name);
        add(3, to, { action: 'create', ...queueRisk(c.from, c.to, c.flags, producer), sql: createObject(placement, to) });
        break;
      }
      case 'commentQueue':
        add(3, c.to, { action: 'alter', risk: 'safe', reason: 'description changes', sql: commentStatement(placement, c.to.name, c.to.comment) });
        break;
      case 'modifyFlow': {
        if (stop.has(c.from.name)) break; // recreated below
        const to = pretty(c.to);
        if (c.query) add(6, to, { action: 'modify_query', risk: 'safe', reason: `new query for flow ${c.to.name} (MODIFY QUERY swaps it atomically; the flow keeps running)`, sql: modifyQueryStatement(placement, c.to.name, to.select) });
        if (c.comment) add(6, to, { action: 'alter', risk: 'safe', reason: 'description changes', sql: commentStatement(placement, c.to.name, c.to.comment) });
        break;
      }
      case 'replaceView': {
        const to = pretty(c.to);
        add(5, to, { action: 'replace', risk: 'safe', reason: c.from.select !== c.to.select ? `new query for view ${c.to.name}` : 'description changes', sql: createOrReplaceView(placement, to.name, to.select, to.comment) });
        break;
      }
      case 'replaceObject': {
        const to = pretty(c.to);
        add(c.from.kind === 'mv' ? 2 : 4, c.from, { action: 'drop', risk: 'destructive', reason: `${c.from.name} changes kind (${c.from.kind} → ${c.to.kind}): dropped${c.from.kind === 'table' ? ' with its data' : ''} and created anew`, sql: dropObject(placement, c.from) });
        add(to.kind === 'mv' ? 6 : to.kind === 'view' ? 5 : 4, to, { action: to.kind === 'mv' ? 'start' : 'create', risk: 'safe', reason: createReason(to), sql: createObject(placement, to) });
        break;
      }
    }
  }

  // Stop, then restart, every flow that must be rebuilt.
  for (const [name, why] of stop) {
    const current = fromMvs.find((m) => m.name === name) as MaterializedView;
    const stillDeclared = toByName.get(name);
    if (stillDeclared?.kind !== 'mv') continue; // a removed flow was stopped above
    const group = groupFeeding(current, from, placement);
    add(2, current, { action: 'stop', risk: 'safe', reason: `stop the flow ${name} while ${why}${group ? `; messages wait in Kafka under group ${group}` : ''}`, sql: dropObject(placement, current) });
    const next = pretty(stillDeclared);
    const nextGroup = groupFeeding(stillDeclared, to, placement);
    const resumes = !nextGroup ? '' : nextGroup === group ? `; it resumes from group ${nextGroup}'s committed offsets` : `; it reads as group ${nextGroup}, from that group's committed offsets or the earliest retained offset`;
    add(6, next, { action: 'start', risk: 'safe', reason: `restart the flow ${name}${resumes}`, sql: createObject(placement, next) });
  }
  // Changed flows that were not stopped are altered in place above; new ones are created; publishing flows first within the phase.
  const kafkaNames = new Set(to.objects.filter((o) => o.kind === 'kafka').map((o) => o.name));
  const publishesFirst = (s: Phased) => (s.phase === 6 && s.action === 'start' && s.subject?.kind === 'mv' && kafkaNames.has(s.subject.to) ? 0 : 1);
  // Cleanup: column drops, then views, then queues, then tables.
  const cleanupRank: Record<DbObject['kind'], number> = { mv: 1, view: 1, kafka: 2, table: 3 };
  const dropRank = (s: Phased) => (s.phase !== 7 || s.action === 'alter' || !s.subject ? 0 : cleanupRank[s.subject.kind]);
  return steps
    .sort((a, b) => a.phase - b.phase || publishesFirst(a) - publishesFirst(b) || dropRank(a) - dropRank(b) || a.order - b.order)
    .map(({ phase: _phase, order: _order, subject: _subject, ...step }) => step);
}

const AGGREGATE_STATE = /^(Simple)?AggregateFunction\(/;

function isStateRetype(a: TableAlter): a is Extract<TableAlter, { kind: 'modifyColumn' }> {
  return a.kind === 'modifyColumn' && a.flags.type && (AGGREGATE_STATE.test(a.from.type) || AGGREGATE_STATE.test(a.to.type));
}

function groupFeeding(mv: MaterializedView, model: Model, placement: Placement): string | undefined {
  const queue = model.objects.find((o): o is KafkaTable => o.kind === 'kafka' && reads(mv, placement, o.name));
  return queue ? consumerGroup(queue) : undefined;
}

function createReason(o: DbObject): string {
  const of = o.owner ? ` for pipeline ${o.owner.pipeline}` : '';
  switch (o.kind) {
    case 'table':
      return `new table ${o.name}${of}`;
    case 'kafka':
      return `new queue ${o.name}${of} (consumer group ${consumerGroup(o)})`;
    case 'view':
      return `new view ${o.name}${of}`;
    case 'mv':
      return `start the flow ${o.name} into ${o.to}`;
  }
}

function alterRisk(a: TableAlter, table: Table): { risk: Risk; reason: string } {
  switch (a.kind) {
    case 'addColumn':
      return { risk: 'safe', reason: `add column ${a.column.name} (existing rows take its default; metadata only)` };
    case 'dropColumn':
      return { risk: 'destructive', reason: `drop column ${a.column.name} and its data` };
    case 'renameColumn':
      return { risk: 'safe', reason: `rename column ${a.from} to ${a.to} (metadata only)` };
    case 'modifyColumn': {
      const what = Object.entries(a.flags)
        .filter(([, v]) => v)
        .map(([k]) => k)
        .join(', ');
      return a.flags.type
        ? { risk: 'caution', reason: `change type of column ${a.to.name} from ${a.from.type} to ${a.to.type}: a mutation rewrites the column; values that do not convert fail it` }
        : { risk: 'safe', reason: `change ${what} of column ${a.to.name} (metadata only)` };
    }
    case 'modifyTtl':
      return a.to !== undefined
        ? { risk: 'caution', reason: `TTL of ${table.name} becomes ${a.to}: rows past it are deleted, existing parts are rewritten` }
        : { risk: 'safe', reason: `remove the TTL of ${table.name}` };
    case 'modifySettings':
      return { risk: 'safe', reason: `table settings change: ${[...Object.keys(a.set), ...a.reset].join(', ')}` };
    case 'modifyComment':
      return { risk: 'safe', reason: 'description changes' };
  }
}

function queueWhat(f: QueueChangeFlags): string {
  const parts = [
    ...(f.columns ? ['columns'] : []),
    ...(f.format ? ['format'] : []),
    ...(f.group ? ['consumer group'] : []),
    ...(f.topics ? ['topics'] : []),
    ...(f.brokers ? ['brokers'] : []),
    ...(f.settings.length ? [`settings (${f.settings.join(', ')})`] : []),
  ];
  return `${parts.join(', ')} change${parts.length === 1 && !parts[0]?.endsWith('s') ? 's' : ''}`;
}

/** `producer`: a view writes into the queue (publish pipelines); its consumer group is irrelevant. */
function queueRisk(from: KafkaTable, to: KafkaTable, f: QueueChangeFlags, producer: boolean): { risk: Risk; reason: string } {
  const consumer = !producer;
  if (consumer && f.group) {
    return { risk: 'caution', reason: `consumer group changes from ${consumerGroup(from)} to ${consumerGroup(to)}: the new group starts at the earliest retained offset; messages will be re-read` };
  }
  if (consumer && f.topics) {
    return { risk: 'caution', reason: `topics change (${String(from.settings.kafka_topic_list)} → ${String(to.settings.kafka_topic_list)}): group ${consumerGroup(to)} has no offsets for a new topic and reads it from the earliest retained offset; a removed topic is no longer read` };
  }
  return { risk: 'safe', reason: `recreate queue ${to.name} (${queueWhat(f)})${consumer ? ` with the same consumer group ${consumerGroup(to)}: committed offsets carry over, nothing is skipped` : ''}` };
}

function planRebuild(from: Table, to: Table, reasons: readonly RebuildReason[], alters: readonly TableAlter[], placement: Placement, add: (phase: number, o: DbObject | string, s: Omit<Step, 'object' | 'pipeline'>) => void): void {
  const temp = `${to.name}${REBUILD_SUFFIX}`;
  const what = reasons.map((r) => REBUILD_WORDS[r]).join(', ');
  const renames = new Map(alters.filter((a): a is Extract<TableAlter, { kind: 'renameColumn' }> => a.kind === 'renameColumn').map((a) => [a.to, a.from]));
  const tempTable: Table = { ...to, name: temp };
  add(1, tempTable, { action: 'create', risk: 'destructive', reason: `${what} of ${to.name} cannot be altered: rebuild it — new table ${temp} with the declared definition`, sql: createObject(placement, tempTable) });
  add(4, tempTable, { action: 'copy', risk: 'destructive', reason: `copy the rows of ${from.name} into ${temp} while its flows are stopped (writes during the copy would be lost, so the flow is paused and messages wait in Kafka)`, sql: copyRowsStatement(placement, temp, from, to, renames) });
  add(4, to, { action: 'swap', risk: 'destructive', reason: `swap ${temp} and ${to.name} atomically (EXCHANGE TABLES)`, sql: exchangeStatement(placement, to.name, temp) });
  add(4, temp, { action: 'drop', risk: 'destructive', reason: `drop the old ${to.name}, now named ${temp}`, sql: dropObject(placement, { kind: 'table', name: temp }) });
}
