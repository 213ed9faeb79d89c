/**
 * Change[] → Step[], ordered by the Kafka rules (SPEC §4). Pure. Every
 * decision reads typed fields of the models and changes (which flow reads
 * which table is `MaterializedView.from`), never SQL or reason text.
 *
 * The order, across all pipelines:
 *   1. targets first: new tables, ADD/MODIFY COLUMN, TTL, settings, comments,
 *      and the new table of a rebuild — the running flows keep writing;
 *   2. stop flows: a queue read by several flows is dropped first (that stops
 *      all of its readers at once); then the flows that must be recreated are
 *      dropped, upstream first, together with every flow that feeds them;
 *      messages wait in Kafka under their consumer group;
 *   3. renames, queues (DROP + CREATE with the same group: Kafka tables cannot
 *      be altered), reset aggregate states;
 *   4. rebuilds: copy rows, EXCHANGE, tag, drop the old table;
 *   5. plain views;
 *   6. flows: MODIFY QUERY where the flow kept running, then CREATE the
 *      stopped and new flows, downstream first (the queue's reader last);
 *   7. cleanup: DROP COLUMN, removed objects.
 *
 * Every statement is safe to run again after an interruption at any point:
 * IF [NOT] EXISTS everywhere, and a rebuild that starts from CREATE OR REPLACE
 * of its new table, so a rerun from the top copies again from whatever holds
 * the rows and ends with each row exactly once.
 */
import { hasFieldChanges, type Change, type ColumnTable, type QueueChangeFlags, type RebuildReason, type TableAlter } from '../diff/change.js';
import { flowLevels, readersOf, writersOf } from '../model/flows.js';
import { isAggregateStateType, type Column, type DbObject, type DistributedTable, type KafkaTable, type MaterializedView, type Model, type Placement, type Table } from '../model/model.js';
import { parseOwnership } from '../model/ownership.js';
import { renderOperation } from '../sql/render.js';
import type { Operation, RowSpread } from './operation.js';
import { flowChangeRisk, isWidening, queueRisk, type Assessment } from './risk.js';

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
  /** What the step does, typed. */
  readonly op: Operation;
  /** The operation rendered for the plan's placement: what migration files hold. */
  readonly sql: string;
  /**
   * A step that is not safe to run again on its own (a rebuild's copy and
   * EXCHANGE): after an interruption, the executor reruns from this step
   * (1-based), which starts its group over.
   */
  readonly rerunFrom?: number;
}

interface Phased extends Omit<Step, 'sql'> {
  readonly phase: number;
  /** Within a phase: lower first (flow levels, cleanup ranks). */
  readonly rank: number;
  readonly order: number;
  /** Steps that rerun together from the first of them after an interruption (a rebuild). */
  readonly rerunGroup?: string;
}

export const REBUILD_SUFFIX = '__chpipe_rebuild';

const RISK_RANK: Record<Risk, number> = { safe: 0, caution: 1, destructive: 2 };

export function worstRisk(steps: readonly Pick<Step, 'risk'>[]): Risk {
  return steps.reduce<Risk>((w, s) => (RISK_RANK[s.risk] > RISK_RANK[w] ? s.risk : w), 'safe');
}

const REBUILD_WORDS: Record<RebuildReason, string> = {
  engine: 'engine',
  orderBy: 'ORDER BY',
  partitionBy: 'PARTITION BY',
  primaryKey: 'PRIMARY KEY',
  keyType: 'the type of a key column',
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

type Add = (phase: number, object: DbObject | string, s: { action: Action; op: Operation; rank?: number; rerunGroup?: string } & Assessment) => void;

export function planSteps(input: PlanInput): Step[] {
  const { changes, from, to } = input;
  const placement: Placement = { database: to.database, ...(to.cluster ? { cluster: to.cluster } : {}) };
  const steps: Phased[] = [];
  const add: Add = (phase, object, s) => {
    const name = typeof object === 'string' ? object : object.name;
    const pipeline = typeof object === 'string' ? undefined : object.owner?.pipeline;
    const id = name === '' ? placement.database : `${placement.database}.${name}`;
    steps.push({ phase, rank: s.rank ?? 0, order: steps.length, object: id, ...(pipeline ? { pipeline } : {}), action: s.action, risk: s.risk, reason: s.reason, op: s.op, ...(s.rerunGroup ? { rerunGroup: s.rerunGroup } : {}) });
  };
  /** The compiled form (for readable SQL), falling back to the normal form. */
  const compiledByName = new Map((input.compiled?.objects ?? []).map((o) => [o.name, o]));
  const pretty = <T extends DbObject>(o: T): T => {
    const c = compiledByName.get(o.name);
    return c?.kind === o.kind ? (c as T) : o;
  };

  const fromFlows = from.objects.filter((o): o is MaterializedView => o.kind === 'mv' && o.owner !== undefined);
  const fromState = lookup(from);
  const toState = lookup(to);
  const toFlows = toState.flows;
  const fromByName = fromState.byName;
  const toByName = toState.byName;
  const droppedPipelines = new Set(changes.flatMap((c) => (c.kind === 'dropObject' && c.object.owner ? [c.object.owner.pipeline] : [])));
  for (const p of [...droppedPipelines]) if (to.objects.some((o) => o.owner?.pipeline === p)) droppedPipelines.delete(p);

  // Which flows must stop, and why.
  const stop = new Map<string, string>();
  /** Flows that must stop for a reason other than their own queue being recreated (they cannot stay attached). */
  const mustRecreate = new Set<string>();
  const stopAll = (flows: readonly MaterializedView[], why: string, queueOnly = false) => {
    for (const f of flows) {
      if (!queueOnly) mustRecreate.add(f.name);
      if (!stop.has(f.name)) stop.set(f.name, why);
    }
  };
  const removedFlows = new Set<string>();
  for (const c of changes) {
    if (c.kind === 'replaceQueue') {
      stopAll(readersOf(fromFlows, c.from.name), `queue ${c.from.name} is recreated`, true);
      stopAll(writersOf(fromFlows, c.from.name), `queue ${c.from.name} is recreated`);
    }
    if (c.kind === 'rebuildTable') stopAll([...readersOf(fromFlows, c.from.name), ...writersOf(fromFlows, c.from.name)], `table ${c.from.name} is rebuilt`);
    if (c.kind === 'alterTable' && c.alters.some((a) => a.kind === 'renameColumn')) stopAll(writersOf(fromFlows, c.from.name), `columns of ${c.from.name} are renamed`);
    if (c.kind === 'alterTable' && c.alters.some(isStateRetype)) stopAll(writersOf(fromFlows, c.from.name), `aggregate states of ${c.from.name} are reset`);
    if (c.kind === 'modifyFlow' && (c.target || c.source)) {
      stop.set(c.from.name, c.target ? `its target changes to ${c.to.to}` : `it reads ${c.to.from.join(', ')} instead of ${c.from.from.join(', ')}`);
      mustRecreate.add(c.from.name);
    }
    if (c.kind === 'replaceObject') {
      if (c.from.kind === 'mv') removedFlows.add(c.from.name);
      else stopAll([...readersOf(fromFlows, c.from.name), ...writersOf(fromFlows, c.from.name)], `${c.from.name} is replaced`);
    }
    if (c.kind === 'dropObject' && c.object.kind === 'mv') removedFlows.add(c.object.name);
  }
  // A flow that restarts must not miss rows: whatever feeds its source stops with it.
  for (let grew = true; grew; ) {
    grew = false;
    for (const name of [...stop.keys()]) {
      const flow = fromFlows.find((f) => f.name === name) as MaterializedView;
      for (const source of flow.from) {
        for (const feeder of writersOf(fromFlows, source)) {
          if (stop.has(feeder.name) || removedFlows.has(feeder.name)) continue;
          stop.set(feeder.name, `it feeds ${source}, which ${name} reads, and ${name} stops`);
          mustRecreate.add(feeder.name);
          grew = true;
        }
      }
    }
  }
  // A queue with several readers cannot stop them one by one (the others would keep consuming and
  // committing): drop the queue first, which stops every reader at once; it is created again below.
  // Its readers stay attached when none of them must be recreated (the direct shape of on_error:
  // stream, `objects: { hub: null, hub_mv: null }`): the engine keeps a view's source by name, so
  // they all resume at once when the queue is created again, and their new queries are swapped in
  // by MODIFY QUERY. Otherwise every reader is dropped and created again, one after the other.
  const paused = new Map<string, KafkaTable>();
  /** Paused queue → its readers that stay attached across the pause. */
  const attached = new Map<string, readonly MaterializedView[]>();
  /** Paused queue → its readers that are created again, one after the other. */
  const restarted = new Map<string, readonly MaterializedView[]>();
  for (const name of [...stop.keys(), ...removedFlows]) {
    const flow = fromFlows.find((f) => f.name === name);
    for (const source of flow?.from ?? []) {
      const queue = fromByName.get(source);
      if (queue?.kind !== 'kafka' || readersOf(fromFlows, source).length < 2 || paused.has(source)) continue;
      paused.set(source, queue);
      const readers = readersOf(fromFlows, source).filter((r) => !removedFlows.has(r.name));
      const staying = readers.every((r) => {
        const next = toByName.get(r.name);
        return !mustRecreate.has(r.name) && next?.kind === 'mv' && next.to === r.to && next.from.join('\n') === r.from.join('\n');
      });
      if (staying) {
        for (const r of readers) stop.delete(r.name);
        attached.set(source, readers);
      } else {
        for (const r of readers) stopAll([r], `queue ${source} is paused`);
        restarted.set(source, readers);
      }
    }
  }

  const hasOwned = from.objects.some((o) => o.owner);
  if (!hasOwned && changes.some((c) => c.kind === 'createObject')) {
    add(0, '', { action: 'create', risk: 'safe', reason: `create database ${to.database} if it does not exist`, op: { kind: 'createDatabase' } });
  }
  const replacedQueues = new Set(changes.flatMap((c) => (c.kind === 'replaceQueue' ? [c.from.name] : [])));
  for (const [name, queue] of paused) {
    const readers = readersOf(fromFlows, name).map((r) => r.name);
    // Not proven loss-free on a real broker (ClickHouse #11034: a Kafka table dropped under load was seen to commit
    // messages polled but not yet written), so not `safe`; chpipe's own layouts never need it (one reader per queue).
    const staying = attached.get(name);
    const how = staying ? `; its views stay attached and resume together when ${name} is created again` : '';
    add(2, queue, { action: 'stop', risk: 'caution', rank: -1, reason: `drop queue ${name} first: it has ${readers.length} readers (${readers.join(', ')}), and dropping it stops consumption for all of them at once${how}; group ${queue.group} keeps its offsets in Kafka, but a Kafka table dropped under load has been reported to commit messages it had polled and not yet written (ClickHouse #11034; not seen on 26.7 with the views attached), so messages in flight may be lost`, op: { kind: 'drop', object: queue } });
    const declared = toByName.get(name);
    if (declared?.kind === 'kafka' && !replacedQueues.has(name)) {
      add(3, pretty(declared), { action: 'create', risk: 'safe', reason: `create queue ${name} again, unchanged, with the same consumer group ${declared.group}: committed offsets carry over${staying ? `; its views ${staying.map((r) => r.name).join(', ')}, still attached, resume reading it at once` : ''}`, op: { kind: 'create', object: pretty(declared) } });
    }
  }

  const fromLevels = flowLevels(fromFlows);
  const toLevels = flowLevels(toFlows);
  const startRank = (name: string) => toLevels.get(name) ?? 0;
  const stopRank = (name: string) => -(fromLevels.get(name) ?? 0);

  for (const c of changes) {
    switch (c.kind) {
      case 'createObject': {
        const o = pretty(c.object);
        if (o.kind === 'mv') add(6, o, { action: 'start', rank: startRank(o.name), ...startNew(o, toState), op: { kind: 'create', object: o } });
        else add(o.kind === 'kafka' ? 3 : o.kind === 'view' ? 5 : 1, o, { action: 'create', risk: 'safe', reason: createReason(o), op: { kind: 'create', object: o } });
        break;
      }
      case 'dropObject': {
        const o = c.object;
        const pipeline = o.owner?.pipeline ?? '';
        const removed = droppedPipelines.has(pipeline);
        const why = removed ? `pipeline ${pipeline} is removed` : `no longer declared`;
        const op: Operation = { kind: 'drop', object: o };
        if (o.kind === 'mv') add(2, o, { action: 'stop', rank: stopRank(o.name), risk: removed ? 'destructive' : 'caution', reason: `stop the flow ${o.name} for good: ${why}; rows it would have written are no longer written`, op });
        else if (o.kind === 'table') add(7, o, { action: 'drop', rank: 3, risk: 'destructive', reason: `drop table ${o.name} and its data: ${why}`, op });
        else if (o.kind === 'null') add(7, o, { action: 'drop', rank: 2, risk: 'safe', reason: `drop the hub ${o.name} (it stores nothing): ${why}`, op });
        else if (o.kind === 'kafka') {
          if (!paused.has(o.name)) add(7, o, { action: 'drop', rank: 2, risk: removed ? 'destructive' : 'caution', reason: `drop queue ${o.name} (group ${o.group} keeps its offsets in Kafka): ${why}; topic ${o.topics.join(', ')} is no longer read by it`, op });
        } else add(7, o, { action: 'drop', rank: 1, risk: removed ? 'destructive' : 'caution', reason: `drop view ${o.name}: ${why}`, op });
        break;
      }
      case 'alterTable':
        planAlters(c.to, c.alters, add);
        break;
      case 'rebuildTable':
        planRebuild(c.from, pretty(c.to), c.reasons, c.alters, add, spreadOf(to, c.to.name));
        break;
      case 'replaceQueue': {
        const next = pretty(c.to);
        const producer = toFlows.some((f) => f.to === c.to.name);
        if (!paused.has(c.from.name)) add(3, c.from, { action: 'drop', risk: 'safe', reason: `drop queue ${c.from.name} to recreate it (Kafka tables cannot be altered): ${queueWhat(c.flags)}`, op: { kind: 'drop', object: c.from } });
        const assessed = queueRisk(c.from, c.to, c.flags, producer);
        const staying = attached.get(c.from.name);
        const resume = staying ? `; its views ${staying.map((r) => r.name).join(', ')}, still attached, resume reading it at once with their current queries (a changed query is swapped in next, by MODIFY QUERY)` : '';
        add(3, next, { action: 'create', risk: assessed.risk, reason: `${assessed.reason}${resume}`, op: { kind: 'create', object: next } });
        break;
      }
      case 'commentQueue':
        add(3, c.to, { action: 'alter', risk: 'safe', reason: 'description changes', op: { kind: 'comment', name: c.to.name, comment: c.to.comment } });
        break;
      case 'modifyFlow': {
        if (stop.has(c.from.name)) break; // recreated below
        const next = pretty(c.to);
        if (c.query) add(6, next, { action: 'modify_query', rank: -1, ...flowChangeRisk(c.to.name, c.from.query, c.to.query, 'swap'), op: { kind: 'modifyQuery', view: c.to.name, select: next.select } });
        if (c.comment) add(6, next, { action: 'alter', rank: -1, risk: 'safe', reason: 'description changes', op: { kind: 'comment', name: c.to.name, comment: c.to.comment } });
        break;
      }
      case 'replaceView': {
        const next = pretty(c.to);
        add(5, next, { action: 'replace', risk: 'safe', reason: c.from.select !== c.to.select ? `new query for view ${c.to.name} (a view stores nothing: it reads the stored rows)` : 'description changes', op: { kind: 'replaceView', view: next } });
        break;
      }
      case 'replaceObject': {
        const next = pretty(c.to);
        if (c.from.kind === 'mv') add(2, c.from, { action: 'stop', rank: stopRank(c.from.name), risk: 'destructive', reason: `${c.from.name} changes kind (${c.from.kind} → ${c.to.kind}): the flow is dropped`, op: { kind: 'drop', object: c.from } });
        else add(4, c.from, { action: 'drop', risk: c.from.kind === 'table' ? 'destructive' : 'caution', reason: `${c.from.name} changes kind (${c.from.kind} → ${c.to.kind}): dropped${c.from.kind === 'table' ? ' with its data' : ''} and created anew`, op: { kind: 'drop', object: c.from } });
        if (next.kind === 'mv') add(6, next, { action: 'start', rank: startRank(next.name), ...startNew(next, toState), op: { kind: 'create', object: next } });
        else add(next.kind === 'view' ? 5 : 4, next, { action: 'create', risk: 'safe', reason: createReason(next), op: { kind: 'create', object: next } });
        break;
      }
    }
  }

  // Stop, then restart, every flow that must be recreated.
  for (const [name, why] of stop) {
    const current = fromFlows.find((m) => m.name === name) as MaterializedView;
    const declared = toByName.get(name);
    if (declared?.kind !== 'mv' || removedFlows.has(name)) continue; // a removed flow was stopped above
    const group = queueOf(current, fromState)?.group;
    add(2, current, { action: 'stop', rank: stopRank(name), risk: 'safe', reason: `stop the flow ${name} while ${why}${group ? `; messages wait in Kafka under group ${group}` : ''}`, op: { kind: 'drop', object: current } });
    const next = pretty(declared);
    const nextGroup = queueOf(declared, toState)?.group;
    const resumes = !nextGroup ? '' : nextGroup === group ? `; it resumes from group ${nextGroup}'s committed offsets` : `; it reads as group ${nextGroup}, from that group's committed offsets or the earliest retained offset`;
    const assessed = flowChangeRisk(name, current.query, declared.query, 'restart');
    // Readers of one paused queue that read it again, created one after the other: the first starts consumption.
    const queueName = declared.from.find((f) => restarted.has(f));
    const siblings = queueName === undefined ? [] : (restarted.get(queueName) ?? []).filter((r) => (toByName.get(r.name) as MaterializedView | undefined)?.from.includes(queueName));
    const late = siblings.length > 1;
    const window = late ? `; queue ${queueName} is read again by ${siblings.map((r) => r.name).join(', ')}, created one after the other: the first one created starts consumption, and messages consumed before the others exist are not seen by them (to avoid that window, move the pipeline to the hub shape first — remove hub: null and hub_mv: null from objects:, plan and apply — then make this change)` : '';
    add(6, next, { action: 'start', rank: startRank(name), risk: late && assessed.risk === 'safe' ? 'caution' : assessed.risk, reason: `${assessed.reason}${resumes}${window}`, op: { kind: 'create', object: next } });
  }

  const ordered = steps.sort((a, b) => a.phase - b.phase || a.rank - b.rank || a.order - b.order);
  const groupStart = new Map<string, number>();
  ordered.forEach((s, i) => {
    if (s.rerunGroup && !groupStart.has(s.rerunGroup)) groupStart.set(s.rerunGroup, i + 1);
  });
  return ordered.map(({ phase: _phase, rank: _rank, order: _order, rerunGroup, ...step }, i) => {
    const from = rerunGroup ? groupStart.get(rerunGroup) : undefined;
    return { ...step, sql: renderOperation(step.op, placement), ...(from !== undefined && from < i + 1 ? { rerunFrom: from } : {}) };
  });
}

function isStateRetype(a: TableAlter): a is Extract<TableAlter, { kind: 'modifyColumn' }> {
  return a.kind === 'modifyColumn' && a.flags.type && (isAggregateStateType(a.from.type) || isAggregateStateType(a.to.type));
}

/** A model's objects by name, and its flows: built once per plan, for the lookups below. */
interface Lookup {
  readonly byName: ReadonlyMap<string, DbObject>;
  readonly flows: readonly MaterializedView[];
}

function lookup(model: Model): Lookup {
  return { byName: new Map(model.objects.map((o) => [o.name, o])), flows: model.objects.filter((o): o is MaterializedView => o.kind === 'mv') };
}

/** The queue a flow consumes, directly or through a hub. */
function queueOf(flow: MaterializedView, state: Lookup): KafkaTable | undefined {
  for (const source of flow.from) {
    const o = state.byName.get(source);
    if (o?.kind === 'kafka') return o;
    if (o?.kind === 'null') {
      const feeder = writersOf(state.flows, o.name)[0];
      const queue = feeder ? queueOf(feeder, state) : undefined;
      if (queue) return queue;
    }
  }
  return undefined;
}

/** A new flow starts: safe, unless it shares its queue with other readers (they consume while it is created). */
function startNew(flow: MaterializedView, to: Lookup): Assessment {
  const source = flow.from.map((n) => to.byName.get(n)).find((o) => o?.kind === 'kafka');
  const others = source ? readersOf(to.flows, source.name).filter((r) => r.name !== flow.name) : [];
  if (others.length) {
    return { risk: 'caution', reason: `start the flow ${flow.name} into ${flow.to}: queue ${source?.name} also feeds ${others.map((o) => o.name).join(', ')}, which consume while this flow is created, so it does not see those messages` };
  }
  const queue = queueOf(flow, to);
  const hub = flow.from.map((n) => to.byName.get(n)).find((o) => o?.kind === 'null');
  if (queue && !source && hub) {
    // A flow reading the hub consumes nothing itself: the queue's one reader, the flow into the hub, does.
    return { risk: 'safe', reason: `start the flow ${flow.name} into ${flow.to}: it reads hub ${hub.name}, so it sees every message group ${queue.group} reads once the flow into ${hub.name} runs` };
  }
  return { risk: 'safe', reason: `start the flow ${flow.name} into ${flow.to}${queue ? ` (group ${queue.group} reads from its committed offsets, or from the earliest retained offset when it has none)` : ''}` };
}

function createReason(o: DbObject): string {
  const of = o.owner ? ` for pipeline ${o.owner.pipeline}` : '';
  switch (o.kind) {
    case 'table':
      return `new table ${o.name}${of}`;
    case 'distributed':
      return `new Distributed table ${o.name}${of} over every node's ${o.local} (cluster ${o.cluster})`;
    case 'null':
      return `new hub ${o.name}${of}: the queue's only reader writes into it, and every flow of the pipeline reads it (it stores nothing)`;
    case 'kafka':
      return `new queue ${o.name}${of} (consumer group ${o.group})`;
    case 'view':
      return `new view ${o.name}${of}`;
    case 'mv':
      return `start the flow ${o.name} into ${o.to}`;
  }
}

function planAlters(to: ColumnTable, alters: readonly TableAlter[], add: Add): void {
  for (const a of alters) {
    if (isStateRetype(a)) {
      // An aggregate state cannot be converted: drop and re-add it while its flow is stopped.
      const reason = `measure ${a.to.name} changes from ${a.from.type} to ${a.to.type}: its aggregated values cannot be converted and are reset`;
      add(3, to, { action: 'alter', risk: 'destructive', reason, op: { kind: 'alter', table: to.name, alter: { kind: 'dropColumn', column: a.from } } });
      const i = to.columns.findIndex((col) => col.name === a.to.name);
      const after = to.columns[i - 1]?.name;
      add(3, to, { action: 'alter', risk: 'destructive', reason: `add measure ${a.to.name} back as ${a.to.type}: groups already stored show it over rows from now on only`, op: { kind: 'alter', table: to.name, alter: { kind: 'addColumn', column: a.to, ...(after !== undefined ? { after } : {}) } } });
      continue;
    }
    const phase = a.kind === 'dropColumn' ? 7 : a.kind === 'renameColumn' ? 3 : 1;
    const assessed = alterRisk(a, to);
    const hint = a.kind === 'dropColumn' && assessed.risk === 'destructive' ? renameHint(a.column, alters) : undefined;
    add(phase, to, { action: 'alter', ...assessed, ...(hint !== undefined ? { reason: `${assessed.reason}; ${hint}` } : {}), op: { kind: 'alter', table: to.name, alter: a } });
  }
}

/**
 * A dropped column and the one column added beside it of the same type look like a rename the YAML did not
 * declare: say how to declare it, so the plan renames and keeps the values instead of dropping them.
 */
function renameHint(dropped: Column, alters: readonly TableAlter[]): string | undefined {
  const sameType = (c: Column) => c.type === dropped.type;
  const added = alters.flatMap((x) => (x.kind === 'addColumn' && sameType(x.column) ? [x.column] : []));
  const droppedAlike = alters.filter((x) => x.kind === 'dropColumn' && sameType(x.column));
  const renamed = added[0];
  if (added.length !== 1 || droppedAlike.length !== 1 || renamed === undefined) return undefined;
  return `if ${dropped.name} was renamed to ${renamed.name}, declare it as \`${renamed.name}: { type: ${renamed.type}, renamed_from: ${dropped.name} }\` and the plan renames it, keeping its values`;
}

function alterRisk(a: TableAlter, table: ColumnTable): Assessment {
  if (table.kind === 'null') {
    // A hub stores nothing: its columns follow the queue's; what that means for messages is said at the queue.
    return { risk: 'safe', reason: `hub ${table.name}: ${a.kind === 'addColumn' ? `add column ${a.column.name}` : a.kind === 'dropColumn' ? `drop column ${a.column.name}` : 'columns change'} (it stores nothing)` };
  }
  if (table.kind === 'distributed') {
    // Cluster mode: it stores nothing; its local table's alter says what happens to the rows.
    return { risk: 'safe', reason: `Distributed table ${table.name} over ${table.local}: ${a.kind === 'addColumn' ? `add column ${a.column.name}` : a.kind === 'dropColumn' ? `drop column ${a.column.name}` : a.kind === 'modifyComment' ? 'description changes' : 'columns change'} (it stores nothing; metadata only)` };
  }
  switch (a.kind) {
    case 'addColumn':
      // A column added to a state table is a measure (a key changes the sorting key: a rebuild), -State or, in a SummingMergeTree, a plain sum.
      if ((table.owner?.role === 'state' || table.owner?.role === 'state_local') && (isAggregateStateType(a.column.type) || table.engine === 'SummingMergeTree')) {
        return { risk: 'caution', reason: `add measure ${a.column.name}: groups already stored show it over rows from now on only (their earlier rows have no state for it)` };
      }
      return { risk: 'safe', reason: `add column ${a.column.name} (existing rows take its default; metadata only)` };
    case 'dropColumn':
      return { risk: 'destructive', reason: `drop column ${a.column.name} and its data` };
    case 'renameColumn':
      return { risk: 'safe', reason: `rename column ${a.from} to ${a.to} (metadata only; values are kept)` };
    case 'moveColumn':
      return { risk: 'safe', reason: `move column ${a.column.name} ${a.after !== undefined ? `after ${a.after}` : 'first'} (metadata only)` };
    case 'modifyColumn': {
      if (a.flags.type) {
        return isWidening(a.from.type, a.to.type)
          ? { risk: 'caution', reason: `change type of column ${a.to.name} from ${a.from.type} to ${a.to.type}: a mutation rewrites the stored values; every value fits the new type` }
          : { risk: 'destructive', reason: `change type of column ${a.to.name} from ${a.from.type} to ${a.to.type}: a mutation rewrites the stored values, and values that do not fit ${a.to.type} are wrapped, truncated or rounded (ClickHouse converts them without failing)` };
      }
      if (a.flags.default) return { risk: 'caution', reason: `default of column ${a.to.name} changes: rows inserted without it from now on take the new default` };
      const what = [...(a.flags.comment ? ['comment'] : []), ...(a.flags.codec ? ['codec'] : [])].join(' and ');
      return { risk: 'safe', reason: `change ${what} of column ${a.to.name} (stored values are unchanged)` };
    }
    case 'modifyTtl':
      return a.to !== undefined
        ? { risk: 'caution', reason: `TTL of ${table.name} becomes ${a.to}: rows past it are deleted, existing parts are rewritten` }
        : { risk: 'safe', reason: `remove the TTL of ${table.name}: rows are no longer deleted by age` };
    case 'modifySettings':
      return { risk: 'caution', reason: `MergeTree settings of ${table.name} change (${[...Object.keys(a.set), ...a.reset].join(', ')}): how parts are stored, merged and expired follows them from now on` };
    case 'modifyComment':
      return { risk: 'safe', reason: 'description changes' };
  }
}

function queueWhat(f: QueueChangeFlags): string {
  const parts = [
    ...(hasFieldChanges(f.fields) ? ['columns'] : []),
    ...(f.format ? ['format'] : []),
    ...(f.group ? ['consumer group'] : []),
    ...(f.topics ? ['topics'] : []),
    ...(f.brokers ? ['brokers'] : []),
    ...(f.settings.length ? [`settings (${f.settings.join(', ')})`] : []),
  ];
  return `${parts.join(', ')} change${parts.length === 1 && !parts[0]?.endsWith('s') ? 's' : ''}`;
}

/**
 * A rebuild, every statement safe to rerun from the top at any point:
 *   CREATE OR REPLACE the new table (untagged) → copy the rows → EXCHANGE →
 *   tag the table → drop the old one.
 * After the EXCHANGE a rerun replaces the old table by an empty new one and
 * copies from the rebuilt table: the same rows, once.
 */
/** Cluster mode: how the Distributed table over per-node table `local` spreads rows (none on one server). */
function spreadOf(model: Model, local: string): RowSpread | undefined {
  const d = model.objects.find((o): o is DistributedTable => o.kind === 'distributed' && o.local === local);
  return d ? { cluster: d.cluster, shardingKey: d.shardingKey } : undefined;
}

function planRebuild(from: Table, to: Table, reasons: readonly RebuildReason[], alters: readonly TableAlter[], add: Add, spread?: RowSpread): void {
  const temp = `${to.name}${REBUILD_SUFFIX}`;
  const what = reasons.map((r) => REBUILD_WORDS[r]).join(', ');
  const { description } = parseOwnership(to.comment);
  const { owner: _owner, ...declared } = to;
  const untagged: Table = { ...declared, name: temp, comment: description };
  // Steps on the temporary table are listed under it, and under the pipeline.
  const tempRef: Table = { ...untagged, ...(to.owner ? { owner: to.owner } : {}) };
  add(1, tempRef, { rerunGroup: temp, action: 'create', risk: 'destructive', reason: `${what} of ${to.name} cannot be altered: rebuild it — new empty table ${temp} with the declared definition`, op: { kind: 'createOrReplaceTable', table: untagged } });
  // Renamed columns are renamed in place first, so the copy reads every column by its new name.
  const renamed = new Map<string, string>();
  for (const a of alters) {
    if (a.kind !== 'renameColumn') continue;
    renamed.set(a.from, a.to);
    add(3, from, { action: 'alter', risk: 'destructive', reason: `rename column ${a.from} to ${a.to} in ${from.name} before its rows are copied`, op: { kind: 'alter', table: from.name, alter: a } });
  }
  const oldTypes = new Map(from.columns.map((c) => [renamed.get(c.name) ?? c.name, c.type]));
  // An aggregate state converts to nothing else (a SummingMergeTree's number to an AggregatingMergeTree's state, …): such a column starts empty.
  const reset = to.columns.filter((c) => {
    const was = oldTypes.get(c.name);
    return was !== undefined && was !== c.type && (was.startsWith('AggregateFunction(') || c.type.startsWith('AggregateFunction('));
  });
  const columns = to.columns.map((c) => c.name).filter((n) => oldTypes.has(n) && !reset.some((c) => c.name === n));
  const where = spread ? ` on every shard of cluster ${spread.cluster} (read once per shard, written back spread by the sharding key ${spread.shardingKey})` : '';
  const resetWords = reset.length ? `; ${reset.map((c) => `${c.name} (${oldTypes.get(c.name) as string} → ${c.type})`).join(', ')} cannot be converted and ${reset.length > 1 ? 'start' : 'starts'} empty: stored groups show ${reset.length > 1 ? 'them' : 'it'} over rows from now on only` : '';
  add(4, tempRef, { rerunGroup: temp, action: 'copy', risk: 'destructive', reason: `copy the rows of ${from.name}${where} into ${temp} while its flows are stopped (messages wait in Kafka); columns not in the old table take their defaults${resetWords}`, op: { kind: 'copyRows', into: temp, from: from.name, columns, ...(spread ? { spread } : {}) } });
  add(4, to, { rerunGroup: temp, action: 'swap', risk: 'destructive', reason: `swap ${temp} and ${to.name} atomically (EXCHANGE TABLES)`, op: { kind: 'exchange', a: to.name, b: temp } });
  add(4, to, { rerunGroup: temp, action: 'alter', risk: 'destructive', reason: `mark the rebuilt ${to.name} as chpipe's (its ownership comment)`, op: { kind: 'comment', name: to.name, comment: to.comment } });
  add(4, tempRef, { rerunGroup: temp, action: 'drop', risk: 'destructive', reason: `drop the old ${to.name}, now named ${temp}, and its data (the rows were copied)`, op: { kind: 'drop', object: { kind: 'table', name: temp } } });
}

