/**
 * Cluster mode's consumer budget: every node runs each pipeline's Kafka table
 * with `kafka_num_consumers` consumers in the pipeline's one group, so the
 * group has nodes × consumers members over the topics' partitions. Kafka
 * gives each partition to one member: members beyond the partition count sit
 * idle (each still holds a thread of the server's
 * background_message_broker_schedule_pool_size), and a count that does not
 * divide evenly leaves some members with more partitions than others.
 * `consumerBudget` is pure (the partition counts come from the caller);
 * `targetBudgetWarnings`, for `status` and `plan` with a target, reads the
 * node count from the target and the partition counts from the brokers
 * (src/kafka/partitions.ts, loaded only then), falling back to the declared
 * `source.partitions`.
 */
import { compileProject } from '../compile/compile.js';
import type { Oracle } from '../compile/oracle.js';
import type { Driver } from '../engine/driver.js';
import type { KafkaTable, Model } from '../model/model.js';
import { brokerList } from '../spec/brokers.js';
import type { PartitionCounts, PartitionOptions } from '../kafka/partitions.js';
import { expandEnv } from '../spec/env.js';
import { locate } from '../spec/source.js';
import { consumesKafka, type ProjectSpec } from '../spec/types.js';
import { stringLiteral } from '../sql/quote.js';

export interface ConsumerBudget {
  readonly queue: string;
  readonly group: string;
  readonly topics: readonly string[];
  /** Members of the group: nodes × kafka_num_consumers. */
  readonly consumers: number;
  /** The topics' partitions, when known. */
  readonly partitions?: number;
  readonly verdict: 'balanced' | 'uneven' | 'idle' | 'unknown';
  /** One sentence, for a warning. */
  readonly message: string;
}

/** The Kafka tables a view reads (publish queues are producers: not in the budget). */
function budgetQueues(model: Model): KafkaTable[] {
  const read = new Set(model.objects.flatMap((o) => (o.kind === 'mv' ? o.from : [])));
  return model.objects.filter((o): o is KafkaTable => o.kind === 'kafka' && read.has(o.name));
}

export function consumerBudget(model: Model, nodes: number, partitions: ReadonlyMap<string, number>): ConsumerBudget[] {
  return budgetQueues(model).map((q) => {
    const perNode = Number(q.settings.kafka_num_consumers ?? 1);
    const consumers = nodes * perNode;
    const counts = q.topics.map((t) => partitions.get(t));
    const base = { queue: q.name, group: q.group, topics: q.topics, consumers };
    const who = `${nodes} node${nodes === 1 ? '' : 's'} × ${perNode} consumer${perNode === 1 ? '' : 's'} = ${consumers} in group ${q.group}`;
    if (counts.some((c) => c === undefined)) return { ...base, verdict: 'unknown', message: `${q.name}: ${who}; partitions of ${q.topics.filter((_, i) => counts[i] === undefined).join(', ')} unknown` };
    const total = (counts as number[]).reduce((a, b) => a + b, 0);
    if (consumers > total) {
      return { ...base, partitions: total, verdict: 'idle', message: `${q.name}: ${who} over ${total} partition${total === 1 ? '' : 's'}: ${consumers - total} consumer${consumers - total === 1 ? ' sits' : 's sit'} idle, each holding a thread of background_message_broker_schedule_pool_size; lower source.consumers or add partitions` };
    }
    if (total % consumers !== 0) {
      const low = Math.floor(total / consumers);
      return { ...base, partitions: total, verdict: 'uneven', message: `${q.name}: ${who} over ${total} partitions: ${total % consumers} consumer${total % consumers === 1 ? ' reads' : 's read'} ${low + 1} partitions, the others ${low}: the busiest set the pace; a multiple of ${consumers} partitions spreads evenly` };
    }
    return { ...base, partitions: total, verdict: 'balanced', message: `${q.name}: ${who}, ${total / consumers} of ${total} partitions each` };
  });
}

/** The partitions each source topic declares (`source.partitions` in a pipeline's YAML). */
export function declaredPartitions(spec: ProjectSpec): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of spec.pipelines) {
    if (!consumesKafka(p) || p.source.partitions === undefined) continue;
    for (const t of p.source.topics) out.set(t, p.source.partitions);
  }
  return out;
}

/** The hosts of `cluster` in the server's `<remote_servers>` (system.clusters), or undefined when it has none. */
export async function clusterNodeCount(driver: Driver, cluster: string): Promise<number | undefined> {
  const [row] = await driver.query<{ n: number | string }>(`SELECT count() AS n FROM system.clusters WHERE cluster = ${stringLiteral(cluster)}`);
  const n = Number(row?.n ?? 0);
  return n > 0 ? n : undefined;
}

/** The budget's warnings: one sentence per queue whose consumers would sit idle or read unevenly (by default against the declared partitions). */
export function budgetWarnings(model: Model, spec: ProjectSpec, nodes: number, partitions: ReadonlyMap<string, number> = declaredPartitions(spec)): string[] {
  return consumerBudget(model, nodes, partitions)
    .filter((b) => b.verdict === 'idle' || b.verdict === 'uneven')
    .map((b) => b.message);
}

/** Where the budget's topics' partitions can be read: per broker list (environment filled in), its topics; the rest with why not. */
export interface BrokerTopics {
  /** `host:port,...`, as the Kafka tables name them with `${VAR}`s filled in; empty when they cannot be asked. */
  readonly brokers: string;
  readonly topics: readonly string[];
  /** Set when these brokers cannot be asked at all: one clause, e.g. `are in the named collection kafka_main`. */
  readonly unaskable?: string;
}

/** The budget's topics grouped by the brokers their Kafka tables name. Pure: the environment is passed in. */
export function budgetBrokers(model: Model, env: Readonly<Record<string, string | undefined>>): BrokerTopics[] {
  const groups = new Map<string, { brokers: string; topics: Set<string>; unaskable?: string }>();
  for (const q of budgetQueues(model)) {
    let key: string;
    let entry: { brokers: string; unaskable?: string };
    if (q.brokers === undefined) {
      const why = q.namedCollection ? `are in the named collection ${q.namedCollection}` : 'are not named';
      key = `\u0000${why}`;
      entry = { brokers: '', unaskable: why };
    } else {
      const expanded = expandEnv(q.brokers, env);
      const brokers = brokerList(expanded.value).join(',');
      const unaskable = expanded.missing.length ? `need ${expanded.missing.map((v) => `\${${v}}`).join(', ')}, which ${expanded.missing.length === 1 ? 'is' : 'are'} not set` : brokers ? undefined : 'are not named';
      key = unaskable ? `\u0000${unaskable}` : brokers;
      entry = unaskable ? { brokers: '', unaskable } : { brokers };
    }
    const g = groups.get(key) ?? { ...entry, topics: new Set<string>() };
    for (const t of q.topics) g.topics.add(t);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({ brokers: g.brokers, topics: [...g.topics].sort(), ...(g.unaskable ? { unaskable: g.unaskable } : {}) }));
}

/** One broker list's answer: `readPartitionCounts` (src/kafka/partitions.ts), or why it was not asked. */
export interface BrokerAnswer {
  readonly source: BrokerTopics;
  readonly answer: PartitionCounts;
}

export interface MergedPartitions {
  /** Per topic: the brokers' count, or else the declared one. */
  readonly partitions: ReadonlyMap<string, number>;
  /** A declared `source.partitions` the brokers contradict: one sentence each, naming the file and both numbers. */
  readonly mismatches: readonly string[];
  /** Counts that fell back to the declared ones (or stayed unknown), and why: one sentence each. */
  readonly notes: readonly string[];
}

const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many);

/**
 * The partitions the budget uses: the brokers' counts win over the declared ones; a topic the brokers do
 * not have, or brokers that cannot be asked, fall back to the declared count with a note. Pure.
 */
export function mergePartitions(spec: ProjectSpec, answers: readonly BrokerAnswer[]): MergedPartitions {
  const declared = declaredPartitions(spec);
  const partitions = new Map(declared);
  const read = new Map<string, { count: number; brokers: string }>();
  const notes: string[] = [];
  const fallback = (topics: readonly string[]): string => {
    const known = topics.filter((t) => declared.has(t));
    const unknown = topics.filter((t) => !declared.has(t));
    const parts = [
      ...(known.length ? [`the budget uses the declared source.partitions of ${known.join(', ')}`] : []),
      ...(unknown.length ? [`no pipeline declares source.partitions for ${unknown.join(', ')}, so ${plural(unknown.length, 'its', 'their')} budget is unknown`] : []),
    ];
    return parts.join('; ');
  };
  for (const { source, answer } of answers) {
    if (source.unaskable !== undefined || answer.counts === null) {
      const who = source.brokers ? `the Kafka brokers ${source.brokers}` : 'the Kafka brokers';
      const why = source.unaskable ?? (answer.counts === null ? answer.why : '');
      notes.push(`partitions not read: ${who} ${why}; ${fallback(source.topics)}`);
      continue;
    }
    for (const [topic, count] of answer.counts) {
      if (read.has(topic)) continue;
      read.set(topic, { count, brokers: source.brokers });
      partitions.set(topic, count);
    }
    for (const [topic, why] of answer.absent) {
      if (read.has(topic)) continue;
      notes.push(`partitions not read: topic ${topic} is ${why === 'not on the brokers' ? `not on the Kafka brokers ${source.brokers}` : `refused by the Kafka brokers ${source.brokers} (${why})`}; ${fallback([topic])}`);
    }
  }
  const mismatches: string[] = [];
  for (const p of spec.pipelines) {
    if (!consumesKafka(p) || p.source.partitions === undefined) continue;
    for (const topic of p.source.topics) {
      const r = read.get(topic);
      if (!r || r.count === p.source.partitions) continue;
      const at = locate(p.file, ['source', 'partitions']);
      mismatches.push(
        `${at.file}:${at.line}: source.partitions declares ${p.source.partitions} for topic ${topic}, but the Kafka brokers ${r.brokers} have ${r.count}: the budget uses ${r.count}; set source.partitions to ${r.count} (or remove it)`,
      );
    }
  }
  return { partitions, mismatches, notes };
}

export interface TargetBudgetOptions extends PartitionOptions {
  /** Fills the `${VAR}`s of the Kafka tables' brokers; default process.env (what `apply` fills them with). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The warnings `plan` (with a target) and `status` print for a cluster project: the target's hosts in the
 * cluster × each queue's consumers, against the topics' partitions as the brokers give them (one Metadata
 * request per broker list, bounded; src/kafka/partitions.ts), or as declared where the brokers cannot say.
 * First the declared counts the brokers contradict, then the idle or uneven queues, then the fallbacks'
 * notes. None when the server has no such cluster.
 */
export async function targetBudgetWarnings(driver: Driver, spec: ProjectSpec, cluster: string, oracle: Oracle, options: TargetBudgetOptions = {}): Promise<string[]> {
  const nodes = await clusterNodeCount(driver, cluster);
  const model = compileProject(spec, oracle).model;
  if (nodes === undefined || !model) return [];
  const sources = budgetBrokers(model, options.env ?? process.env);
  const askable = sources.filter((s) => s.unaskable === undefined);
  const read = askable.length ? (await import('../kafka/partitions.js')).readPartitionCounts : undefined;
  const answers = await Promise.all(
    sources.map(async (source): Promise<BrokerAnswer> => ({ source, answer: source.unaskable === undefined && read ? await read(source.brokers, source.topics, options) : { counts: null, why: source.unaskable ?? '' } })),
  );
  const merged = mergePartitions(spec, answers);
  return [...merged.mismatches, ...budgetWarnings(model, spec, nodes, merged.partitions), ...merged.notes];
}
