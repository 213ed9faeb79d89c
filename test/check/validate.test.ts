import { describe, expect, it } from 'vitest';
import { chpipe, tempProject } from '../helpers/cli.js';

describe('validate', () => {
  it('accepts an aggregate with on_error: stream and a partition_by over its keys', () => {
    const dir = tempProject({
      'schemas/rollup.yaml': [
        'name: rollup',
        'source: { topic: events, format: JSONEachRow, on_error: stream }',
        'columns:',
        '  ts: DateTime',
        '  key: String',
        '  value: Float64',
        'aggregate:',
        '  by: { key: key, minute: toStartOfMinute(ts) }',
        '  measures: { n: count(), p95: quantile(0.95)(value) }',
        'table:',
        '  partition_by: toYYYYMM(minute)',
        '',
      ].join('\n'),
    });
    const r = chpipe(['validate'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
