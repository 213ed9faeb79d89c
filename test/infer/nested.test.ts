/**
 * What `chpipe infer` writes for nested JSON and money, on the scratch engine
 * (no broker: the sample is given): a nested type on one line, as a YAML value
 * must be (it was `Array(Tuple(\n    qty Int64, …))`), and a comment on a
 * Float64 whose values all have at most two decimals.
 */
import { describe, expect, it } from 'vitest';
import { Scratch } from '../../src/check/scratch.js';
import { inferColumns } from '../../src/infer/infer.js';
import { pipelineYaml } from '../../src/infer/yaml.js';
import type { SampledMessage } from '../../src/kafka/sample.js';

const message = (offset: number, value: object): SampledMessage => ({ topic: 'orders', partition: 0, offset: BigInt(offset), timestamp: 0, value: JSON.stringify(value), binary: false, bytes: null });

describe('infer: nested JSON and money', () => {
  it('writes nested types on one line, and a comment on amounts Float64 cannot hold exactly', async () => {
    const scratch = await Scratch.open();
    try {
      const messages = Array.from({ length: 10 }, (_, i) => message(i, { id: i, total: i + 0.99, items: [{ sku: `s${i}`, qty: i }], customer: { name: `c${i}`, vip: i % 2 === 0 } }));
      const inference = await inferColumns(scratch, messages);
      const types = Object.fromEntries(inference.columns.map((c) => [c.name, c.type]));
      for (const type of Object.values(types)) expect(type).not.toContain('\n');
      expect(types.items).toMatch(/^Array\(Tuple\(/);
      expect(inference.columns.find((c) => c.name === 'total')?.notes).toContain('every value has at most 2 decimals: if these are amounts of money, Decimal(18, 2) keeps them exact (Float64 rounds)');
      const yaml = pipelineYaml({ name: 'orders', topic: 'orders', inference, sampled: 10, partitions: 1 });
      expect(yaml).toMatch(/\n {2}items: Array\(Tuple\([^\n]*\)\)\n/);
    } finally {
      await scratch.close();
    }
  });
});
