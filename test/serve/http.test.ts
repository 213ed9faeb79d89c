/**
 * `chpipe serve` on the wire: raw HTTP (node's fetch and http) against a real
 * serve process, checking what clients of ClickHouse's HTTP interface rely
 * on: where the query comes from, database, formats, settings as parameters,
 * one statement per request, exceptions (status, header, body), the summary
 * and other headers, credentials, GET being read-only, compression, loopback.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { networkInterfaces } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { startServe, type Served } from './serving.js';

let served: Served;
beforeAll(async () => {
  served = await startServe(['--data-dir', tempDir('chpipe-serve-http-')]);
  await post('CREATE DATABASE shop');
  await post('CREATE TABLE shop.orders (id UInt64, item String, price Float64) ENGINE = MergeTree ORDER BY id');
  await post("INSERT INTO shop.orders VALUES (1, 'tea', 2.5), (2, 'cake', 4), (3, 'tea', 2.5)");
});
afterAll(async () => {
  await served?.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function send(path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${served.url}${path}`, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function q(params: Record<string, string>): string {
  return `/?${new URLSearchParams(params).toString()}`;
}

async function post(sql: string, params: Record<string, string> = {}): Promise<Answer> {
  const answer = await send(q(params), { method: 'POST', body: sql });
  if (answer.status !== 200) throw new Error(`${sql}: ${answer.status} ${answer.text}`);
  return answer;
}

const VERSION_TAIL = /\(version 26\.7\.\d+\.\d+\)\n$/;

describe('health checks', () => {
  it('GET /ping and GET / say Ok.', async () => {
    for (const path of ['/ping', '/']) {
      const answer = await send(path);
      expect([answer.status, answer.text]).toEqual([200, 'Ok.\n']);
      expect(answer.headers.get('x-clickhouse-server-display-name')).toBeTruthy();
    }
    expect((await send('/ping', { method: 'HEAD' })).status).toBe(200);
    const other = await send('/nothing-here');
    expect(other.status).toBe(404);
    expect(other.text).toMatch(/^There is no handle \/nothing-here/);
  });
});

describe('queries', () => {
  it('in the URL (GET), with the headers a server sends', async () => {
    const answer = await send(q({ query: 'SELECT count() FROM shop.orders', query_id: 'my-query-1' }));
    expect([answer.status, answer.text]).toEqual([200, '3\n']);
    expect(answer.headers.get('x-clickhouse-query-id')).toBe('my-query-1');
    expect(answer.headers.get('x-clickhouse-format')).toBe('TabSeparated');
    expect(answer.headers.get('content-type')).toBe('text/tab-separated-values; charset=UTF-8');
    expect(answer.headers.get('x-clickhouse-timezone')).toMatch(/\w/);
    expect(answer.headers.get('x-clickhouse-server-display-name')).toMatch(/\w/);
    const summary = JSON.parse(answer.headers.get('x-clickhouse-summary') as string) as Record<string, unknown>;
    expect(Object.keys(summary).sort()).toEqual(['elapsed_ns', 'read_bytes', 'read_rows', 'result_bytes', 'result_rows', 'total_rows_to_read', 'written_bytes', 'written_rows']);
    for (const value of Object.values(summary)) expect(value).toMatch(/^\d+$/);
    expect(summary.result_rows).toBe('1');
    expect(Number(summary.elapsed_ns)).toBeGreaterThan(0);
    // Without query_id, one is made up and sent back.
    expect((await send(q({ query: 'SELECT 1' }))).headers.get('x-clickhouse-query-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('in the POST body, and in both: the URL part, a line break, then the body', async () => {
    expect((await post('SELECT item FROM shop.orders WHERE id = 2')).text).toBe('cake\n');
    expect((await send(q({ query: 'SELECT 40 +' }), { method: 'POST', body: '2' })).text).toBe('42\n');
    // An INSERT with its data in the body, as @clickhouse/client sends it.
    const insert = await send(q({ query: 'INSERT INTO shop.orders FORMAT JSONEachRow' }), { method: 'POST', body: '{"id":4,"item":"jam","price":3}\n{"id":5,"item":"tea","price":2.5}\n' });
    expect([insert.status, insert.text]).toEqual([200, '']);
    expect((await post("SELECT count() FROM shop.orders WHERE item = 'tea'")).text).toBe('3\n');
    // An INSERT with an empty body inserts nothing, as on a server.
    expect((await send(q({ query: 'INSERT INTO shop.orders FORMAT JSONEachRow' }), { method: 'POST', body: '' })).status).toBe(200);
    expect((await post('SELECT count() FROM shop.orders')).text).toBe('5\n');
  });

  it('database, default_format and a FORMAT clause (which wins, and is the one announced)', async () => {
    expect((await post('SELECT count() FROM orders', { database: 'shop' })).text).toBe('5\n');
    expect((await send('/?query=SELECT%20currentDatabase()', { headers: { 'X-ClickHouse-Database': 'shop' } })).text).toBe('shop\n');
    const compact = await post('SELECT id, item FROM orders WHERE id < 3 ORDER BY id', { database: 'shop', default_format: 'JSONCompactEachRow' });
    expect(compact.text).toBe('[1, "tea"]\n[2, "cake"]\n');
    expect(compact.headers.get('x-clickhouse-format')).toBe('JSONCompactEachRow');
    expect(compact.headers.get('content-type')).toBe('application/x-ndjson; charset=UTF-8');
    const csv = await post('SELECT id, item FROM shop.orders WHERE id = 1 FORMAT CSVWithNames', { default_format: 'JSON' });
    expect(csv.text).toBe('"id","item"\n1,"tea"\n');
    expect(csv.headers.get('x-clickhouse-format')).toBe('CSVWithNames');
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=UTF-8; header=present');
    const json = JSON.parse((await post('SELECT id FROM shop.orders WHERE id = 1', { default_format: 'JSON' })).text) as { data: unknown[] };
    expect(json.data).toEqual([{ id: 1 }]);
  });

  it('binary formats come whole', async () => {
    const response = await fetch(`${served.url}${q({ query: 'SELECT toUInt16(number) FROM numbers(3) FORMAT RowBinary' })}`);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([0, 0, 1, 0, 2, 0]);
  });

  it('query parameters ({name:Type} and param_name)', async () => {
    const answer = await send(q({ query: 'SELECT count() FROM shop.orders WHERE item = {item:String} AND price < {max:Float64}', param_item: 'tea', param_max: '3' }));
    expect(answer.text).toBe('3\n');
    expect((await send(q({ query: 'SELECT {s:String}', param_s: 'a\\tb' }))).text).toBe('a\\tb\n');
  });
});

describe('settings as URL parameters', () => {
  it('change the answer, for that request only', async () => {
    const sql = 'SELECT toUInt64(id) AS id FROM shop.orders WHERE id = 1 FORMAT JSONEachRow';
    expect((await post(sql, { output_format_json_quote_64bit_integers: '1' })).text).toBe('{"id":"1"}\n');
    expect((await post(sql)).text).toBe('{"id":1}\n');
    const broken = await post('SELECT number FROM numbers(10)', { max_result_rows: '2', result_overflow_mode: 'break', max_block_size: '1' });
    expect(broken.text.split('\n').filter(Boolean).length).toBeLessThan(10);
    const limited = await send(q({ query: 'SELECT number FROM numbers(10)', max_result_rows: '2' }));
    expect([limited.status, limited.headers.get('x-clickhouse-exception-code')]).toEqual([500, '396']);
  });

  it('a SET or USE sent as a query does not reach the next request', async () => {
    await post('SET output_format_json_quote_64bit_integers = 1');
    await post('USE shop');
    expect((await post("SELECT currentDatabase(), toUInt64(1) AS n FORMAT JSONEachRow")).text).toBe('{"currentDatabase()":"default","n":1}\n');
  });

  it('an unknown one is refused as a server refuses it', async () => {
    const answer = await send(q({ query: 'SELECT 1', no_such_setting: '1' }));
    expect(answer.status).toBe(404);
    expect(answer.headers.get('x-clickhouse-exception-code')).toBe('115');
    expect(answer.text).toMatch(/^Code: 115\. DB::Exception: .*no_such_setting.*\(UNKNOWN_SETTING\) /);
  });
});

describe('one statement per request', () => {
  it('refuses several, before running any', async () => {
    const answer = await send('/', { method: 'POST', body: 'SELECT 1; DROP TABLE shop.orders' });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('x-clickhouse-exception-code')).toBe('62');
    expect(answer.text).toMatch(/^Code: 62\. DB::Exception: Syntax error \(Multi-statements are not allowed\): failed at position 9 .*\(SYNTAX_ERROR\) \(version 26\.7\.\d+\.\d+\)\n$/);
    expect((await post('EXISTS TABLE shop.orders')).text).toBe('1\n');
    expect((await post('SELECT 1;')).text).toBe('1\n');
  });

  it('an empty query is a syntax error; INTO OUTFILE is not allowed', async () => {
    const empty = await send('/', { method: 'POST', body: '  -- nothing\n' });
    expect([empty.status, empty.headers.get('x-clickhouse-exception-code')]).toEqual([400, '62']);
    expect(empty.text).toMatch(/^Code: 62\. DB::Exception: Empty query\. \(SYNTAX_ERROR\)/);
    const outfile = await send('/', { method: 'POST', body: "SELECT 1 INTO OUTFILE '/tmp/chpipe-serve-outfile'" });
    expect(outfile.headers.get('x-clickhouse-exception-code')).toBe('358');
    expect(existsSync('/tmp/chpipe-serve-outfile')).toBe(false);
  });
});

describe('exceptions', () => {
  it('status mapped from the code, X-ClickHouse-Exception-Code, and the server\'s body', async () => {
    const cases: [string, number, number, string][] = [
      ['SELECT * FROM shop.nothing', 404, 60, 'UNKNOWN_TABLE'],
      ['SELECT * FROM nowhere.nothing', 404, 81, 'UNKNOWN_DATABASE'],
      ['SELEC 1', 400, 62, 'SYNTAX_ERROR'],
      ['SELECT throwIf(1)', 500, 395, 'FUNCTION_THROW_IF_VALUE_IS_NON_ZERO'],
    ];
    for (const [sql, status, code, name] of cases) {
      const answer = await send('/', { method: 'POST', body: sql });
      expect([answer.status, answer.headers.get('x-clickhouse-exception-code')], sql).toEqual([status, String(code)]);
      expect(answer.text, sql).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: .*\\(${name}\\) ${VERSION_TAIL.source}`));
    }
  });
});

describe('credentials', () => {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('user default with an empty password, however it is given', async () => {
    expect((await send(q({ query: 'SELECT 1' }), { headers: { Authorization: basic('default', '') } })).text).toBe('1\n');
    expect((await send(q({ query: 'SELECT 1' }), { headers: { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': '' } })).text).toBe('1\n');
    expect((await send(q({ query: 'SELECT 1', user: 'default', password: '' }))).text).toBe('1\n');
  });

  it('anything else is AUTHENTICATION_FAILED (401), and the password is never repeated', async () => {
    const attempts: RequestInit[] = [
      { headers: { Authorization: basic('default', 'hunter2') } },
      { headers: { Authorization: basic('alice', '') } },
      { headers: { 'X-ClickHouse-User': 'alice', 'X-ClickHouse-Key': 'hunter2' } },
      { headers: { Authorization: 'Bearer hunter2' } },
    ];
    for (const init of attempts) {
      const answer = await send(q({ query: 'SELECT 1' }), init);
      expect([answer.status, answer.headers.get('x-clickhouse-exception-code')]).toEqual([401, '516']);
      expect(answer.text).toMatch(/^Code: 516\. DB::Exception: .*\(AUTHENTICATION_FAILED\) /);
      expect(answer.text).not.toContain('hunter2');
    }
    const params = await send(q({ query: 'SELECT 1', user: 'default', password: 'hunter2' }));
    expect(params.status).toBe(401);
    const mixed = await send(q({ query: 'SELECT 1', user: 'default' }), { headers: { Authorization: basic('default', '') } });
    expect(mixed.text).toMatch(/not allowed to use Authorization HTTP header and authentication via parameters simultaneously/);
  });
});

describe('GET is read-only', () => {
  it('a write by GET is refused with READONLY; the same by POST works', async () => {
    for (const query of ['CREATE TABLE shop.by_get (x UInt8) ENGINE = Memory', "INSERT INTO shop.orders VALUES (9, 'x', 1)", 'DROP TABLE shop.orders']) {
      const answer = await send(q({ query }));
      expect(answer.headers.get('x-clickhouse-exception-code'), query).toBe('164');
      expect(answer.text).toMatch(/\(READONLY\)/);
    }
    expect((await post('SELECT count() FROM shop.orders')).text).toBe('5\n');
    expect((await post("SELECT count() FROM system.tables WHERE database = 'shop' AND name = 'by_get'")).text).toBe('0\n');
    await post('CREATE TABLE shop.by_post (x UInt8) ENGINE = Memory');
    // Settings still change by GET (readonly = 2), except readonly itself.
    expect((await send(q({ query: 'SELECT toUInt64(1) AS n FORMAT JSONEachRow', output_format_json_quote_64bit_integers: '1' }))).text).toBe('{"n":"1"}\n');
    expect((await send(q({ query: 'SELECT 1', readonly: '0' }))).headers.get('x-clickhouse-exception-code')).toBe('164');
  });
});

describe('compression', () => {
  it('gzip answers with enable_http_compression=1 and Accept-Encoding: gzip, as @clickhouse/client asks', async () => {
    const body = await new Promise<{ encoding: string | undefined; data: Buffer }>((resolve, reject) => {
      const url = new URL(`${served.url}${q({ query: 'SELECT number FROM numbers(1000)', enable_http_compression: '1' })}`);
      httpRequest(url, { headers: { 'Accept-Encoding': 'gzip' } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => resolve({ encoding: response.headers['content-encoding'], data: Buffer.concat(chunks) }));
      })
        .on('error', reject)
        .end();
    });
    expect(body.encoding).toBe('gzip');
    const text = gunzipSync(body.data).toString('utf8');
    expect(text.split('\n').length).toBe(1001);
    expect(body.data.length).toBeLessThan(text.length);
    // Without enable_http_compression, a server does not compress.
    const plain = await new Promise<string | undefined>((resolve, reject) => {
      httpRequest(new URL(`${served.url}${q({ query: 'SELECT 1' })}`), { headers: { 'Accept-Encoding': 'gzip' } }, (response) => {
        response.resume();
        resolve(response.headers['content-encoding']);
      })
        .on('error', reject)
        .end();
    });
    expect(plain).toBeUndefined();
  });

  it('gzip request bodies (Content-Encoding: gzip)', async () => {
    const answer = await send(q({ query: 'INSERT INTO shop.orders FORMAT CSV' }), { method: 'POST', body: gzipSync('6,"honey",5\n7,"tea",2.5\n'), headers: { 'Content-Encoding': 'gzip' } });
    expect(answer.status).toBe(200);
    expect((await post('SELECT item FROM shop.orders WHERE id = 6')).text).toBe('honey\n');
    const wrong = await send('/', { method: 'POST', body: 'SELECT 1', headers: { 'Content-Encoding': 'gzip' } });
    expect(wrong.headers.get('x-clickhouse-exception-code')).toBe('271');
  });
});

describe('loopback only', () => {
  it('listens on 127.0.0.1 only', () => {
    expect(served.url).toBe(`http://127.0.0.1:${served.port}`);
    const table = readFileSync('/proc/net/tcp', 'utf8');
    const hexPort = served.port.toString(16).toUpperCase().padStart(4, '0');
    // State 0A is LISTEN; the local address 0100007F is 127.0.0.1.
    const listening = table.split('\n').filter((line) => / 0A /.test(line) && line.includes(`:${hexPort} `));
    expect(listening.map((line) => line.trim().split(/\s+/)[1])).toEqual([`0100007F:${hexPort}`]);
  });

  it('other interfaces of this machine are refused', async () => {
    const addresses = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal)
      .map((a) => a?.address as string);
    for (const address of addresses) {
      const error = await fetch(`http://${address}:${served.port}/ping`).catch((e: { cause?: { code?: string } }) => e.cause?.code);
      expect(error).toBe('ECONNREFUSED');
    }
  });

  it('a Host header that is not a loopback name is refused (no DNS rebinding from a browser)', async () => {
    const status = await new Promise<[number | undefined, string | undefined]>((resolve, reject) => {
      httpRequest(new URL(`${served.url}${q({ query: 'SELECT 1' })}`), { headers: { Host: 'evil.example:8123' } }, (response) => {
        response.resume();
        resolve([response.statusCode, response.headers['x-clickhouse-exception-code'] as string | undefined]);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toEqual([403, '497']);
    expect((await send(q({ query: 'SELECT 1' }), { headers: { Host: `localhost:${served.port}` } })).text).toBe('1\n');
  });
});
