/**
 * One reading of Kafka broker lists for every command (src/spec/brokers.ts),
 * `validate` rejecting malformed addresses at their key, and `infer --brokers`
 * refusing a URL in one sentence before it contacts anything.
 */
import { describe, expect, it } from 'vitest';
import { brokerAddressProblem, resolveBrokers, writtenBrokersProblem } from '../../src/spec/brokers.js';
import { expandEnv } from '../../src/spec/env.js';
import { chpipe, tempProject } from '../helpers/cli.js';

describe('resolveBrokers', () => {
  it('fills in ${VAR} and ${VAR:-default} from the environment, and checks each address', () => {
    expect(resolveBrokers('${KAFKA_BROKERS:-localhost:9092}', {})).toEqual({ ok: true, brokers: ['localhost:9092'] });
    expect(resolveBrokers('${KAFKA_BROKERS:-localhost:9092}', { KAFKA_BROKERS: 'a:1, b:2' })).toEqual({ ok: true, brokers: ['a:1', 'b:2'] });
    expect(resolveBrokers('${KAFKA_BROKERS}', {})).toMatchObject({ ok: false, missing: ['KAFKA_BROKERS'] });
    expect(resolveBrokers('[::1]:9092,kafka-1.internal:19092', {})).toEqual({ ok: true, brokers: ['[::1]:9092', 'kafka-1.internal:19092'] });
    const url = resolveBrokers('${KAFKA_BROKERS:-localhost:9092}', { KAFKA_BROKERS: 'http://127.0.0.1:39292' });
    expect(url).toMatchObject({ ok: false });
    expect(!url.ok && url.problem).toBe('the Kafka broker address http://127.0.0.1:39292 has a scheme (http://); a broker is HOST:PORT, so write 127.0.0.1:39292 (from ${KAFKA_BROKERS:-localhost:9092})');
  });

  it('says what is wrong with an address and what to write', () => {
    expect(brokerAddressProblem('localhost:9092')).toBeUndefined();
    expect(brokerAddressProblem('127.0.0.1')).toBe('the Kafka broker address 127.0.0.1 has no port; write HOST:PORT, e.g. 127.0.0.1:9092');
    expect(brokerAddressProblem('a;b')).toContain('is not HOST:PORT');
    expect(brokerAddressProblem('host:70000')).toContain('not a port');
    expect(brokerAddressProblem('PLAINTEXT://k:9092')).toContain('write k:9092');
  });

  it('checks a list as written with only the defaults of its references (the environment decides the rest)', () => {
    expect(writtenBrokersProblem('${KAFKA_BROKERS}')).toBeUndefined();
    expect(writtenBrokersProblem('${KAFKA_BROKERS:-127.0.0.1}')).toContain('has no port');
  });

  it('fills the scratch engine inert form $(VAR:-default) the same way (dev compares a declared queue with a live one)', () => {
    expect(expandEnv('$(KAFKA_BROKERS:-localhost:9092)', {}).value).toBe('localhost:9092');
    expect(expandEnv('$(KAFKA_BROKERS:-localhost:9092)', { KAFKA_BROKERS: 'k:1' }).value).toBe('k:1');
  });
});

describe('validate and infer on broker addresses', () => {
  it('validate rejects a malformed address at file:line:column, with what to write', () => {
    for (const [brokers, says] of [
      ['http://127.0.0.1:39292', 'has a scheme (http://)'],
      ['127.0.0.1', 'has no port'],
      ['"a;b"', 'is not HOST:PORT'],
    ] as const) {
      const dir = tempProject({}, `version: 1\ndatabase: analytics\nkafka:\n  brokers: ${brokers}\n`);
      const r = chpipe(['validate'], dir);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('chpipe.yaml:4:12');
      expect(r.stderr).toContain(says);
    }
    const pipeline = 'name: clicks\nsource:\n  topic: clicks\n  brokers: kafka:abc\ncolumns:\n  id: Int64\ntable:\n  order_by: [id]\n';
    const r = chpipe(['validate'], tempProject({ 'schemas/clicks.yaml': pipeline }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('schemas/clicks.yaml:4:12');
  });

  it('infer --brokers with a URL: one sentence with the address to write, exit 1', () => {
    const dir = tempProject({});
    const r = chpipe(['infer', 'orders', '--brokers', 'http://127.0.0.1:39292'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('error: --brokers: the Kafka broker address http://127.0.0.1:39292 has a scheme (http://); a broker is HOST:PORT, so write 127.0.0.1:39292');
  });
});
