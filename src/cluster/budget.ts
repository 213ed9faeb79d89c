/**
 * Cluster mode's consumer budget: every node runs each pipeline's Kafka table
 * with `kafka_num_consumers` consumers in the pipeline's one group, so the
 * group has nodes × consumers members over the topics' partitions. Kafka
 * gives each partition to one member: members beyond the partition count sit
 * idle (each still holds a thread of the server's
 * background_message_broker_schedule_pool_size), and a count that does not
 * divide evenly leaves some members with more partitions than others. Pure:
 * the partition counts come from the caller (declared, or read from a broker
 * by a command that may contact one; never by plan or validate).
 */
import { compileProject } from '../compile/compile.js';
import type { Oracle } from '../compile/oracle.js';
import type { Driver } from '../engine/driver.js';
import type { KafkaTable, Model } from '../model/model.js';
import type { ProjectSpec } from '../spec/types.js';
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

export function consumerBudget(model: Model, nodes: number, partitions: ReadonlyMap<string, number>): ConsumerBudget[] {
  const read = new Set(model.objects.flatMap((o) => (o.kind === 'mv' ? o.from : [])));
  const queues = model.objects.filter((o): o is KafkaTable => o.kind === 'kafka' && read.has(o.name));
  return queues.map((q) => {
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
    if (p.kind === 'publish' || p.source.partitions === undefined) continue;
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

/** The budget's warnings: one sentence per queue whose consumers would sit idle or read unevenly (declared partitions only). */
export function budgetWarnings(model: Model, spec: ProjectSpec, nodes: number): string[] {
  return consumerBudget(model, nodes, declaredPartitions(spec))
    .filter((b) => b.verdict === 'idle' || b.verdict === 'uneven')
    .map((b) => b.message);
}

/**
 * The warnings `plan` (with a target) and `status` print for a cluster project: the target's hosts in the
 * cluster × each declared queue's consumers, against the declared partitions (none when the server has no such cluster).
 */
export async function targetBudgetWarnings(driver: Driver, spec: ProjectSpec, cluster: string, oracle: Oracle): Promise<string[]> {
  const nodes = await clusterNodeCount(driver, cluster);
  const model = compileProject(spec, oracle).model;
  return nodes !== undefined && model ? budgetWarnings(model, spec, nodes) : [];
}
