/** Broker lists as Kafka tables name them. Pure (no Kafka client): budget.ts reads it without loading one. */

/** Broker addresses from a kafka_broker_list value. */
export function brokerList(brokers: string): string[] {
  return brokers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}
