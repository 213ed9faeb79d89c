/**
 * `chpipe serve` through @clickhouse/client, the official Node client: ping,
 * command, insert, query in JSON formats, query parameters, compression both
 * ways, and an engine error surfacing with its code.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { startServe, type Served } from './serving.js';

// The client logs the errors these tests cause on purpose.
const QUIET = { level: ClickHouseLogLevel.OFF };

let served: Served;
let client: ClickHouseClient;
let compressed: ClickHouseClient;
beforeAll(async () => {
  served = await startServe(['--data-dir', tempDir('chpipe-serve-client-')]);
  client = createClient({ url: served.url, log: QUIET });
  compressed = createClient({ url: served.url, compression: { request: true, response: true }, log: QUIET });
});
afterAll(async () => {
  await client?.close();
  await compressed?.close();
  await served?.stop();
});

describe('@clickhouse/client', () => {
  it('pings', async () => {
    expect(await client.ping()).toEqual({ success: true });
  });

  it('creates a table, inserts rows and reads them back', async () => {
    await client.command({ query: 'CREATE TABLE default.events (id UInt64, kind String, at DateTime) ENGINE = MergeTree ORDER BY id' });
    const rows = Array.from({ length: 50 }, (_, i) => ({ id: i, kind: i % 2 ? 'click' : 'view', at: '2026-01-02 03:04:05' }));
    const inserted = await client.insert({ table: 'default.events', values: rows, format: 'JSONEachRow' });
    expect(inserted.executed).toBe(true);
    expect(inserted.query_id).toMatch(/\S/);

    const json = await (await client.query({ query: 'SELECT kind, count() AS n FROM default.events GROUP BY kind ORDER BY kind', format: 'JSON' })).json<{ kind: string; n: number }>();
    expect(json.data).toEqual([
      { kind: 'click', n: 25 },
      { kind: 'view', n: 25 },
    ]);
    expect(json.rows).toBe(2);
    const each = await (await client.query({ query: 'SELECT id, kind FROM default.events WHERE id < 2 ORDER BY id', format: 'JSONEachRow' })).json();
    expect(each).toEqual([
      { id: 0, kind: 'view' },
      { id: 1, kind: 'click' },
    ]);
    const result = await client.query({ query: 'SELECT 1', format: 'JSONEachRow' });
    expect(result.response_headers['x-clickhouse-format']).toBe('JSONEachRow');
    expect(JSON.parse(result.response_headers['x-clickhouse-summary'] as string)).toMatchObject({ result_rows: '1' });
    await result.close();
  });

  it('binds query parameters', async () => {
    const rows = await (await client.query({ query: 'SELECT count() AS n FROM default.events WHERE kind = {kind:String} AND id >= {from:UInt64}', query_params: { kind: 'click', from: 40 }, format: 'JSONEachRow' })).json();
    expect(rows).toEqual([{ n: 5 }]);
  });

  it('compresses requests and answers with gzip when asked', async () => {
    await compressed.insert({ table: 'default.events', values: [{ id: 100, kind: 'buy', at: '2026-01-02 03:04:05' }], format: 'JSONEachRow' });
    const rows = await (await compressed.query({ query: "SELECT id FROM default.events WHERE kind = 'buy'", format: 'JSONEachRow' })).json();
    expect(rows).toEqual([{ id: 100 }]);
  });

  it('surfaces an engine error with its code and name', async () => {
    const error = (await client.query({ query: 'SELECT * FROM default.nothing', format: 'JSON' }).catch((e: unknown) => e)) as { code?: string; type?: string; message?: string };
    expect(error).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    expect(error.message).toMatch(/nothing/);
    const syntax = (await client.command({ query: 'CREATE TABL x' }).catch((e: unknown) => e)) as { code?: string; type?: string };
    expect(syntax).toMatchObject({ code: '62', type: 'SYNTAX_ERROR' });
  });

  it('is refused with a wrong password', async () => {
    const wrong = createClient({ url: served.url, username: 'default', password: 'not-the-password', log: QUIET });
    try {
      const error = (await wrong.query({ query: 'SELECT 1' }).catch((e: unknown) => e)) as { code?: string; type?: string };
      expect(error).toMatchObject({ code: '516', type: 'AUTHENTICATION_FAILED' });
    } finally {
      await wrong.close();
    }
  });
});
