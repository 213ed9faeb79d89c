/**
 * When no broker answers: `apply` says so within seconds (a warning; it still
 * applies and exits 0), and `status` cannot read the Kafka table's lag, which
 * with --detailed-exitcode needs attention (exit 2, the JSON naming the table
 * and why); without the flag, exit 0 as before. Both were silent: apply
 * exited 0 without a word, status said "1/1 brokers are down" and exited 0
 * even with --detailed-exitcode.
 */
import { expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

const PROJECT = 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n';
const CLICKS = 'name: clicks\nsource:\n  topic: clicks\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n';

it('apply warns; status --detailed-exitcode exits 2 when a Kafka table\'s brokers cannot be asked, and --json says why', () => {
  const dir = tempProject({ 'schemas/clicks.yaml': CLICKS }, PROJECT);
  expect(chpipe(['plan', '--save', 'init'], dir).code).toBe(0);
  const applied = chpipe(['apply'], dir);
  expect(applied.code, applied.stderr).toBe(0);
  expect(applied.stderr).toMatch(/^warning\[brokers\]: the Kafka brokers 127\.0\.0\.1:9 could not be asked \(.*\): the Kafka tables of pipeline clicks wait for them and ingest nothing until they answer/m);
  const plain = chpipe(['status', '--json'], dir);
  expect(plain.code, plain.stderr).toBe(0);
  const detailed = chpipe(['status', '--json', '--detailed-exitcode'], dir);
  expect(detailed.code, detailed.stderr).toBe(2);
  const out = JSON.parse(detailed.stdout) as { migrations: { state: string }[]; drift: unknown[]; unhealthyConsumers: { table: string; reasons: string[] }[] };
  // Nothing else is open: the exit code is the consumers'.
  expect(out.migrations.map((m) => m.state)).toEqual(['applied']);
  expect(out.drift).toEqual([]);
  expect(out.unhealthyConsumers).toEqual([{ table: 'clicks_queue', reasons: [expect.stringContaining('lag unknown: the brokers 127.0.0.1:9')] }]);
}, 60_000);
