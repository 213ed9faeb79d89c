/**
 * What `chpipe infer` writes for nested JSON and money, on the scratch engine
 * (no broker: the sample is given): a nested type on one line, as a YAML value
 * must be (it was `Array(Tuple(\n    qty Int64, …))`), nested keys in the
 * messages' order (the engine sorts them), a nested object stored as its members
 * read by path (the object itself a source field), and a comment on a Float64
 * whose values all have at most two decimals.
 */
import { describe, expect, it } from 'vitest';
import { Scratch } from '../../src/check/scratch.js';
import { inferColumns } from '../../src/infer/infer.js';
import { pipelineYaml } from '../../src/infer/yaml.js';
import type { SampledMessage } from '../../src/kafka/sample.js';
import { chpipe, tempProject } from '../helpers/cli.js';

const message = (offset: number, value: object): SampledMessage => ({ topic: 'orders', partition: 0, offset: BigInt(offset), timestamp: 0, value: JSON.stringify(value), binary: false, bytes: null });

describe('infer: nested JSON and money', () => {
  it('writes nested types on one line, and a comment on amounts Float64 cannot hold exactly', async () => {
    const scratch = await Scratch.open();
    try {
      const messages = Array.from({ length: 10 }, (_, i) => message(i, { id: i, total: i + 0.99, items: [{ sku: `s${i}`, qty: i }], customer: { name: `c${i}`, vip: i % 2 === 0 } }));
      const inference = await inferColumns(scratch, messages);
      const types = Object.fromEntries(inference.columns.map((c) => [c.name, c.type]));
      for (const type of Object.values(types)) expect(type).not.toContain('\n');
      // The messages' own key order (sku, qty; customer: name, vip), not the engine's alphabetical one.
      expect(types.items).toBe('Array(Tuple(sku String, qty Int64))');
      expect(types.customer).toBe('Tuple(name String, vip Bool)');
      expect(inference.columns.find((c) => c.name === 'total')?.notes).toContain('every value has at most 2 decimals: if these are amounts of money, Decimal(18, 2) keeps them exact (Float64 rounds)');
      const yaml = pipelineYaml({ name: 'orders', topic: 'orders', inference, sampled: 10, partitions: 1 });
      expect(yaml).toMatch(/\n {2}items: Array\(Tuple\([^\n]*\)\)\n/);
      // The nested object is parsed as a field and stored as its members, each read by a path.
      expect(yaml).toContain('\n  fields:');
      expect(yaml).toContain('\n    customer: Tuple(name String, vip Bool)\n');
      expect(yaml).toContain('\n  customer_name: { type: String, path: customer.name }\n  customer_vip: { type: Bool, path: customer.vip }\n');
      expect(yaml).toContain('  # explode: items');
      // And it is a valid pipeline: every statement it compiles to runs on the engine.
      const dir = tempProject({ 'schemas/orders.yaml': yaml });
      const validated = chpipe(['validate'], dir);
      expect(validated.stderr).toBe('');
      expect(validated.code).toBe(0);
    } finally {
      await scratch.close();
    }
  });
});

describe('types in message order', () => {
  it('reads and writes the engine\'s type names, reordering only named Tuples', async () => {
    const { parseType, renderType, typeInMessageOrder, emptyOrder, learnOrder } = await import('../../src/infer/types.js');
    for (const t of ["DateTime64(3, 'UTC')", 'Decimal(18, 2)', "Enum8('a' = 1, 'b' = 2)", 'Map(String, Array(Nullable(Int64)))', 'Tuple(`a b` String, c Tuple(d Int8, e UInt8))']) {
      expect(renderType(parseType(t)!)).toBe(t);
    }
    const order = emptyOrder();
    learnOrder(order, { z: 1, a: { y: 1, b: 2 } });
    expect(typeInMessageOrder('Tuple(a Tuple(b Int8, y Int8), z Int8)', order)).toBe('Tuple(z Int8, a Tuple(y Int8, b Int8))');
    expect(typeInMessageOrder('String', order)).toBe('String');
  });
});

describe('infer: the sorting key', () => {
  it('puts a text column with few distinct values before the time column, with a comment saying why', async () => {
    const scratch = await Scratch.open();
    try {
      const statuses = ['paid', 'shipped', 'cancelled'];
      const messages = Array.from({ length: 40 }, (_, i) => message(i, { id: i, status: statuses[i % 3], note: `n${i}`, at: `2024-05-01 10:00:${String(i).padStart(2, '0')}` }));
      const inference = await inferColumns(scratch, messages);
      const yaml = pipelineYaml({ name: 'orders', topic: 'orders', inference, sampled: 40, partitions: 1 });
      expect(yaml).toContain('  # status first: 3 distinct values in 40 messages, so rows of one status sit together and queries that filter on it read less\n  order_by: [status, at]\n');
      // Without such a column, the time alone.
      const few = await inferColumns(scratch, messages.slice(0, 5));
      expect(pipelineYaml({ name: 'orders', topic: 'orders', inference: few, sampled: 5, partitions: 1 })).toContain('  order_by: [at]\n');
    } finally {
      await scratch.close();
    }
  });
});
