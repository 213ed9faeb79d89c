import { describe, expect, it } from 'vitest';
import { expandEnv } from '../../src/spec/env.js';

describe('expandEnv', () => {
  const env = { KAFKA_BROKERS: 'k1:9092,k2:9092', USER: 'ana', EMPTY: '' };

  it('expands ${VAR} from the environment passed in', () => {
    expect(expandEnv('${KAFKA_BROKERS}', env)).toEqual({ value: 'k1:9092,k2:9092', missing: [] });
    expect(expandEnv('http://${USER}@host:8123/${USER}', env)).toEqual({ value: 'http://ana@host:8123/ana', missing: [] });
  });

  it('${VAR:-default} takes the default when the variable is unset or empty, and the value when set', () => {
    expect(expandEnv('${NOPE:-localhost:9092}', env)).toEqual({ value: 'localhost:9092', missing: [] });
    expect(expandEnv('${EMPTY:-fallback}', env)).toEqual({ value: 'fallback', missing: [] });
    expect(expandEnv('${KAFKA_BROKERS:-localhost:9092}', env)).toEqual({ value: 'k1:9092,k2:9092', missing: [] });
    expect(expandEnv('${NOPE:-}', env)).toEqual({ value: '', missing: [] });
  });

  it('lists variables that are unset with no default, and leaves their place empty', () => {
    expect(expandEnv('${CLICKHOUSE_URL}', env)).toEqual({ value: '', missing: ['CLICKHOUSE_URL'] });
    const r = expandEnv('${A}/${USER}/${B}', env);
    expect(r.value).toBe('/ana/');
    expect(r.missing).toEqual(['A', 'B']);
    expect(expandEnv('${EMPTY}', env).missing).toEqual(['EMPTY']);
  });

  it('leaves text that is not a reference alone', () => {
    for (const text of ['plain', '$USER', '${1X}', '${USER', 'cost: $5', '']) expect(expandEnv(text, env)).toEqual({ value: text, missing: [] });
  });

  it('does not read process.env', () => {
    process.env.CHPIPE_ENV_TEST_ONLY = 'from-process';
    try {
      expect(expandEnv('${CHPIPE_ENV_TEST_ONLY}', {})).toEqual({ value: '', missing: ['CHPIPE_ENV_TEST_ONLY'] });
    } finally {
      delete process.env.CHPIPE_ENV_TEST_ONLY;
    }
  });
});
