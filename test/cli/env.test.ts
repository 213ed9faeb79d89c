/** `${VAR}` in chpipe.yaml: references in migrations, values in `compile` (the DDL as ClickHouse receives it). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

const PIPELINE = 'name: a\nsource: { topic: t }\ncolumns:\n  id: Int32\ntable:\n  order_by: [id]\n';

describe('environment references', () => {
  it('compile fills them in from the environment; plan --save keeps them as references', () => {
    const dir = tempProject({ 'schemas/a.yaml': PIPELINE }, 'version: 1\ndatabase: analytics\nkafka:\n  brokers: ${CHPIPE_T_BROKERS:-localhost:9092}\n');
    const compiled = chpipe(['compile'], dir, { CHPIPE_T_BROKERS: 'k1:9092,k2:9092' });
    expect(compiled.code).toBe(0);
    expect(compiled.stdout).toContain("kafka_broker_list = 'k1:9092,k2:9092'");
    expect(chpipe(['compile'], dir).stdout).toContain("kafka_broker_list = 'localhost:9092'");
    const saved = chpipe(['plan', '--save', 'initial'], dir, { CHPIPE_T_BROKERS: 'k1:9092' });
    expect(saved.code).toBe(0);
    const text = readFileSync(join(dir, 'migrations/0001_initial.sql'), 'utf8');
    expect(text).toContain("kafka_broker_list = '${CHPIPE_T_BROKERS:-localhost:9092}'");
    expect(text).not.toContain('k1:9092');
    // The same history in another environment: nothing to do.
    expect(chpipe(['plan', '--detailed-exitcode'], dir, { CHPIPE_T_BROKERS: 'prod-1:9092' }).code).toBe(0);
  });

  it('a variable without a default that is not set: plan works (no values needed), compile says which, where', () => {
    const dir = tempProject({ 'schemas/a.yaml': PIPELINE }, 'version: 1\ndatabase: analytics\nkafka:\n  brokers: ${CHPIPE_TEST_UNSET_BROKERS}\n');
    expect(chpipe(['plan'], dir).code).toBe(0);
    const r = chpipe(['compile'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/chpipe\.yaml:4:12/);
    expect(r.stderr).toContain('environment variable CHPIPE_TEST_UNSET_BROKERS is not set');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
