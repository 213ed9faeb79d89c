/**
 * `objects:` roles set to `null` (pure: parse and the JSON Schema): `view: null` for an aggregate,
 * `hub: null` + `hub_mv: null` for the direct shape of on_error: stream; anything else is an error
 * at its line and column, with what was expected.
 */
import { describe, expect, it } from 'vitest';
import { parseProject } from '../../src/spec/parse.js';

const PROJECT = { path: 'chpipe.yaml', text: 'version: 1\ndatabase: analytics\nkafka:\n  brokers: localhost:9092\n' };
const INGEST = 'name: clicks\nsource:\n  topic: clicks\n  on_error: stream\ncolumns:\n  url: String\ntable:\n  order_by: [url]\n';
const AGGREGATE = 'name: hits\nsource: { topic: hits }\ncolumns:\n  page: String\naggregate:\n  by: { page: page }\n  measures: { n: count() }\n';

function parse(text: string) {
  const r = parseProject(PROJECT, [{ path: 'schemas/p.yaml', text }], {});
  return { pipeline: r.project?.pipelines[0], diagnostics: r.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}${d.hint ? ` (${d.hint})` : ''}`) };
}

describe('objects: role: null', () => {
  it('hub: null and hub_mv: null: the direct shape, no hub roles', () => {
    const r = parse(`${INGEST}objects:\n  hub: null\n  hub_mv: null\n`);
    expect(r.diagnostics).toEqual([]);
    expect(r.pipeline?.without).toEqual(['hub', 'hub_mv']);
    expect(r.pipeline?.kind === 'ingest' && r.pipeline.source.fanOut).toBe('direct');
  });

  it('view: null on an aggregate', () => {
    const r = parse(`${AGGREGATE}objects:\n  state: hits_agg\n  view: ~\n`);
    expect(r.diagnostics).toEqual([]);
    expect(r.pipeline?.without).toEqual(['view']);
    expect(r.pipeline?.objects).toEqual({ state: 'hits_agg' });
  });

  it('one of hub / hub_mv alone, a required role, or the hub without on_error: stream: an error at the key', () => {
    expect(parse(`${INGEST}objects:\n  hub: null\n`).diagnostics).toEqual(['10:3 objects.hub: null needs objects.hub_mv: null too (the hub and its view exist together) (add `hub_mv: null` under objects: for the direct shape (both views read the Kafka table), or remove `hub: null`)']);
    expect(parse(`${INGEST}objects:\n  table: null\n`).diagnostics).toEqual([expect.stringMatching(/^10:10 objects\.table cannot be null: an ingest pipeline always has its table/)]);
    expect(parse(`${INGEST.replace('  on_error: stream\n', '')}objects:\n  hub: null\n  hub_mv: null\n`).diagnostics).toEqual([
      '9:3 objects.hub removes the hub table, which exists only with on_error: stream (remove objects.hub, or set source.on_error: stream)',
      '10:3 objects.hub_mv removes the hub view, which exists only with on_error: stream (remove objects.hub_mv, or set source.on_error: stream)',
    ]);
    expect(parse(`${INGEST}objects:\n  view: null\n`).diagnostics).toEqual([expect.stringMatching(/^10:3 an ingest pipeline has no view to name/)]);
  });
});
