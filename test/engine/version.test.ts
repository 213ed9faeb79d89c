import { describe, expect, it } from 'vitest';
import { compareVersions, FEATURES, MINIMUM_VERSION, parseVersion, supports, versionProblem } from '../../src/engine/version.js';

describe('parseVersion', () => {
  it('reads what version() returns on old and new servers', () => {
    expect(parseVersion('26.7.2.1')).toEqual([26, 7, 2, 1]);
    expect(parseVersion('24.8.4.1')).toEqual([24, 8, 4, 1]);
    expect(parseVersion('18.16.1')).toEqual([18, 16, 1]);
    expect(parseVersion('24.8')).toEqual([24, 8]);
  });

  it('ignores what follows the numbers', () => {
    expect(parseVersion('25.8.2.29-lts')).toEqual([25, 8, 2, 29]);
    expect(parseVersion('24.3.1.2672 (official build)')).toEqual([24, 3, 1, 2672]);
    expect(parseVersion('v23.8.16.16-stable')).toEqual([23, 8, 16, 16]);
  });

  it('refuses text without MAJOR.MINOR', () => {
    expect(parseVersion('')).toBeUndefined();
    expect(parseVersion('24')).toBeUndefined();
    expect(parseVersion('latest')).toBeUndefined();
  });
});

describe('compareVersions', () => {
  it('compares part by part, as numbers', () => {
    expect(compareVersions('24.10', '24.8')).toBe(1);
    expect(compareVersions('24.8', '24.10')).toBe(-1);
    expect(compareVersions('18.16.1', '24.8')).toBe(-1);
    expect(compareVersions('100.1', '99.12')).toBe(1);
  });

  it('missing trailing parts count as 0', () => {
    expect(compareVersions('24.8', '24.8.0.0')).toBe(0);
    expect(compareVersions('24.8.4.1', '24.8')).toBe(1);
    expect(compareVersions([24, 8], '24.8.0')).toBe(0);
  });

  it('throws on text that is no version', () => {
    expect(() => compareVersions('x', '24.8')).toThrow(/not a ClickHouse version/);
  });
});

describe('versionProblem (the version gate)', () => {
  it('refuses servers older than 24.8 with one sentence naming both versions', () => {
    expect(MINIMUM_VERSION).toBe('24.8');
    expect(versionProblem('18.16.1', 'http://host:8123')).toBe('the target at http://host:8123 runs ClickHouse 18.16.1, and chpipe needs 24.8 or later');
    expect(versionProblem('24.3.1.2672')).toBe('the target runs ClickHouse 24.3.1.2672, and chpipe needs 24.8 or later');
    expect(versionProblem('24.7.99.1', 'https://h')).toMatch(/runs ClickHouse 24\.7\.99\.1, and chpipe needs 24\.8 or later$/);
  });

  it('accepts 24.8 (any patch) and everything newer', () => {
    for (const v of ['24.8', '24.8.1.2684', '24.8.4.1', '24.10.1.1', '25.8.2.1', '26.7.2.1', '100.0']) expect(versionProblem(v, 'http://h')).toBeUndefined();
  });

  it('an unreadable version is a problem too', () => {
    expect(versionProblem('banana', 'http://h:8123')).toBe('the target at http://h:8123 reports ClickHouse version "banana", which chpipe cannot read, and chpipe needs 24.8 or later');
  });
});

describe('supports (the feature table)', () => {
  it('knows the first version of each feature', () => {
    expect(FEATURES.dead_letter_queue).toBe('25.8');
    expect(FEATURES.kafka_consumers).toBe('23.8');
  });

  it('dead_letter_queue needs 25.8', () => {
    expect(supports('24.8.4.1', 'dead_letter_queue')).toBe(false);
    expect(supports('25.7.9.9', 'dead_letter_queue')).toBe(false);
    expect(supports('25.8.2.1', 'dead_letter_queue')).toBe(true);
    expect(supports('26.7.2.1', 'dead_letter_queue')).toBe(true);
  });

  it('system.kafka_consumers needs 23.8: every supported server has it', () => {
    expect(supports('23.7.1.1', 'kafka_consumers')).toBe(false);
    expect(supports('23.8', 'kafka_consumers')).toBe(true);
    expect(supports(MINIMUM_VERSION, 'kafka_consumers')).toBe(true);
    expect(supports([24, 8, 4, 1], 'kafka_consumers')).toBe(true);
  });

  it('an unreadable version has no feature', () => {
    expect(supports('unknown', 'kafka_consumers')).toBe(false);
  });
});
