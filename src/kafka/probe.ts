/**
 * Do the project's brokers answer? Asked by `apply` and `dev` after they set
 * up Kafka tables, so that a wrong address or a broker that is down is said
 * within seconds instead of showing later as a pipeline that never fills: a
 * warning, never a refusal (a team may apply before its brokers exist). One
 * Metadata request per broker list, for the topics read and written through
 * it (src/kafka/partitions.ts: no group joined, topic creation off, 2 s).
 */
import { resolveBrokers } from '../spec/brokers.js';
import type { ProjectSpec } from '../spec/types.js';
import { readPartitionCounts, type PartitionOptions } from './partitions.js';

/** The pipelines and topics behind one broker list, as resolved. */
interface BrokerUse {
  readonly brokers: string;
  readonly pipelines: string[];
  readonly topics: string[];
}

/** The broker lists a project's pipelines use, resolved from the environment (a list that does not resolve is validate's to report). */
function brokerUses(spec: ProjectSpec, env: Readonly<Record<string, string | undefined>>): BrokerUse[] {
  const uses = new Map<string, BrokerUse>();
  for (const p of spec.pipelines) {
    if (p.kind === 'rollup') continue; // reads a table: no broker of its own
    const written = (p.kind === 'publish' ? p.brokers : p.source.brokers) ?? spec.kafka.brokers;
    if (written === undefined) continue;
    const resolved = resolveBrokers(written, env);
    if (!resolved.ok) continue;
    const key = resolved.brokers.join(',');
    const use = uses.get(key) ?? { brokers: key, pipelines: [], topics: [] };
    use.pipelines.push(p.name);
    use.topics.push(...(p.kind === 'publish' ? [p.topic] : p.source.topics));
    uses.set(key, use);
  }
  return [...uses.values()];
}

/** One warning per broker list that did not answer, and per topic the brokers do not have. */
export async function brokerWarnings(spec: ProjectSpec, env: Readonly<Record<string, string | undefined>>, options: PartitionOptions = {}): Promise<string[]> {
  const uses = brokerUses(spec, env);
  const answers = await Promise.all(uses.map((u) => readPartitionCounts(u.brokers, u.topics, options)));
  return uses.flatMap((u, i) => {
    const answer = answers[i];
    if (!answer) return [];
    const who = `pipeline${u.pipelines.length > 1 ? 's' : ''} ${u.pipelines.join(', ')}`;
    if (answer.counts === null) {
      return [`the Kafka brokers ${u.brokers} ${answer.why}: the Kafka tables of ${who} wait for them and ingest nothing until they answer; check kafka.brokers (and KAFKA_BROKERS) and that the brokers run`];
    }
    return [...answer.absent].map(([topic, why]) => `topic ${topic} is ${why === 'not on the brokers' ? `not on the Kafka brokers ${u.brokers}` : `refused by the Kafka brokers ${u.brokers} (${why})`} (${who}): create it, or check the topic's name`);
  });
}
