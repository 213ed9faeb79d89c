/**
 * What a web page, or a statement sent to the endpoint, must not do through
 * `chpipe serve` and `chpipe dev` (real processes of the built CLI): a
 * cross-origin POST (a form, or text/plain) gets 403 and runs nothing, while
 * clients that send no Origin, and the endpoint's own origin, are served;
 * file() reaches only the data folder's user_files/; url() and the other
 * sources on other hosts are refused unless --allow-remote-sources (a local
 * listener counts the requests that reach it); --password makes user default
 * need it (401 without), and chpipe's own commands still reach the data.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chpipeAsync, tempDir, tempProject } from '../helpers/cli.js';
import { startDev } from '../helpers/dev.js';
import { runServe, startServe, type Served } from './serving.js';

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One request with exactly these headers (fetch would add its own Origin/Sec-Fetch-* rules). */
function send(url: string, sql: string, headers: Record<string, string> = {}, method = 'POST'): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = httpRequest(url, { method, headers: { 'Content-Length': String(Buffer.byteLength(sql)), ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end(sql);
  });
}

/** A local HTTP listener that counts the requests reaching it (the target of url()). */
let listener: Server;
let listenerUrl: string;
let listenerHits = 0;
beforeAll(async () => {
  listener = createServer((_req, res) => {
    listenerHits++;
    res.end('reached\n');
  });
  await new Promise<void>((done) => listener.listen(0, '127.0.0.1', done));
  listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/data.tsv`;
});
afterAll(() => new Promise<void>((done) => listener.close(() => done())));

/**
 * The checks every served endpoint must pass; `dataDir` is the data folder it serves,
 * `outside` a folder outside it the user can write; `auth` the headers a client must send.
 */
async function checkEndpoint(url: string, dataDir: string, outside: string, auth: Record<string, string> = {}): Promise<void> {
  const port = new URL(url).port;
  const pwned = join(outside, 'pwned.txt');
  const write = `INSERT INTO FUNCTION file('${pwned}', 'LineAsString') SELECT 'written by a web page'`;

  // A cross-origin form POST, and a text/plain one: 403, nothing written.
  const form = await send(url, write, { ...auth, Origin: 'http://evil.example', 'Content-Type': 'application/x-www-form-urlencoded' });
  expect(form.status).toBe(403);
  expect(form.body).toContain('refuses requests from web pages (Origin: http://evil.example)');
  const plain = await send(url, write, { ...auth, Origin: 'https://evil.example', 'Content-Type': 'text/plain' });
  expect(plain.status).toBe(403);
  // Another port on this machine is another origin; so is a sandboxed page (Origin: null).
  expect((await send(url, 'SELECT 1', { ...auth, Origin: 'http://127.0.0.1:1' })).status).toBe(403);
  expect((await send(url, 'SELECT 1', { ...auth, Origin: 'null' })).status).toBe(403);
  // A browser that sends no Origin still says where the request comes from.
  expect((await send(url, write, { ...auth, 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
  // A CORS preflight is refused.
  const preflight = await send(url, '', { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-clickhouse-user' }, 'OPTIONS');
  expect(preflight.status).toBe(403);
  expect(existsSync(pwned)).toBe(false);

  // No Origin (every ClickHouse client), and the endpoint's own origin: served.
  expect(await send(url, 'SELECT 1', auth)).toEqual({ status: 200, body: '1\n' });
  expect(await send(url, 'SELECT 2', { ...auth, Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin' })).toEqual({ status: 200, body: '2\n' });
  expect(await send(url, 'SELECT 3', { ...auth, Origin: `http://localhost:${port}` })).toEqual({ status: 200, body: '3\n' });

  // file() outside the user files folder: refused with one sentence, nothing read or written.
  const passwd = await send(url, "SELECT * FROM file('/etc/passwd', 'LineAsString')", auth);
  expect(passwd.status).not.toBe(200);
  expect(passwd.body).toMatch(/^Code: 481\. DB::Exception: File path \/etc\/passwd is not inside .*user_files\/: chpipe (serve|dev) lets file\(\) reach only that folder/);
  expect(passwd.body).not.toContain('root:');
  expect((await send(url, "SELECT file('/etc/hostname')", auth)).body).toContain('is not inside');
  const outsideWrite = await send(url, write, auth);
  expect(outsideWrite.body).toContain(`File path ${pwned} is not inside`);
  expect((await send(url, "INSERT INTO FUNCTION file('../escape.txt', 'LineAsString') SELECT 'x'", auth)).body).toContain('is not inside');
  expect((await send(url, "SELECT * FROM file(concat('/etc/', 'passwd'), 'LineAsString')", auth)).body).toContain('takes its path as a string literal');
  expect((await send(url, "SELECT * FROM file('\\x2fetc\\x2fpasswd', 'LineAsString')", auth)).body).toContain('is not inside');
  expect((await send(url, "INSERT INTO TABLE FUNCTION null('a String') FROM INFILE '/etc/passwd' FORMAT LineAsString", auth)).body).toContain('refuses FROM INFILE');
  expect((await send(url, "SELECT * FROM fileCluster('default', '/etc/passwd', 'LineAsString')", auth)).body).toContain('refuses fileCluster()');
  expect((await send(url, "CREATE DATABASE fs ENGINE = Filesystem('/etc')", auth)).body).toContain('refuses a database with ENGINE = Filesystem');
  const fileEngine = await send(url, `CREATE TABLE default.f (line String) ENGINE = File(LineAsString, '${pwned}')`, auth);
  expect(fileEngine.status).not.toBe(200);
  // Table engines that reach outside the data folder are the engine's to refuse (its grants).
  expect((await send(url, "CREATE TABLE default.s (line String) ENGINE = S3('http://127.0.0.1:1/bucket/k.tsv', 'LineAsString')", auth)).body).toContain('TABLE ENGINE ON S3');
  expect(existsSync(pwned)).toBe(false);

  // file() inside the user files folder works, relative or absolute.
  const userFiles = join(dataDir, 'user_files');
  expect((await send(url, "INSERT INTO FUNCTION file('kept.csv', 'CSV', 'n UInt8, s String') VALUES (1, 'a'), (2, 'b')", auth)).status).toBe(200);
  expect(readFileSync(join(userFiles, 'kept.csv'), 'utf8')).toBe('1,"a"\n2,"b"\n');
  expect(await send(url, `SELECT sum(n) FROM file('${join(userFiles, 'kept.csv')}', 'CSV', 'n UInt8, s String')`, auth)).toEqual({ status: 200, body: '3\n' });
  expect(await send(url, "SELECT count() FROM file('*.csv', 'CSV', 'n UInt8, s String')", auth)).toEqual({ status: 200, body: '2\n' });

  // url() and the other ways to reach a host: refused, and the listener sees no request.
  const before = listenerHits;
  const viaUrl = await send(url, `SELECT * FROM url('${listenerUrl}', 'LineAsString')`, auth);
  expect(viaUrl.status).toBe(403);
  expect(viaUrl.body).toContain('READ ON URL');
  expect((await send(url, `CREATE TABLE default.u (line String) ENGINE = URL('${listenerUrl}', LineAsString)`, auth)).body).toContain('TABLE ENGINE ON URL');
  expect((await send(url, `CREATE DICTIONARY default.d (line String) PRIMARY KEY line SOURCE(HTTP(url '${listenerUrl}' format 'LineAsString')) LAYOUT(HASHED()) LIFETIME(0)`, auth)).body).toContain('CREATE DICTIONARY');
  expect((await send(url, "SELECT * FROM remote('127.0.0.1:1', system.one)", auth)).body).toContain('READ ON REMOTE');
  expect((await send(url, "CREATE DATABASE m ENGINE = MySQL('127.0.0.1:1', 'db', 'u', 'p')", auth)).body).toContain('--allow-remote-sources');
  expect(listenerHits).toBe(before);
}

describe('chpipe serve and web pages', () => {
  let served: Served;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = join(tempDir('chpipe-serve-web-'), 'data');
    served = await startServe(['--data-dir', dataDir]);
  });
  afterAll(async () => {
    await served?.stop();
  });

  it('refuses cross-origin requests, confines file() to user_files/, refuses url() and other hosts', async () => {
    await checkEndpoint(served.url, dataDir, tempDir('chpipe-serve-outside-'));
    // The same grants hold for a one-shot command's engine: its config is the one serve wrote.
    expect(readFileSync(join(dataDir, 'engine-users.xml'), 'utf8')).toContain('REVOKE READ, WRITE ON *');
    expect(served.stderr()).toContain(`connect to ${served.url} as user default, no password`);
  }, 60_000);
});

describe('chpipe serve --allow-remote-sources', () => {
  it('lets url() reach a host', async () => {
    const served = await startServe(['--data-dir', join(tempDir('chpipe-serve-remote-'), 'data'), '--allow-remote-sources']);
    try {
      const before = listenerHits;
      expect(await send(served.url, `SELECT * FROM url('${listenerUrl}', 'LineAsString')`)).toEqual({ status: 200, body: 'reached\n' });
      // The engine asks for the size first (HEAD), then reads (GET).
      expect(listenerHits).toBeGreaterThan(before);
      // Files stay confined.
      expect((await send(served.url, "SELECT * FROM file('/etc/passwd', 'LineAsString')")).body).toContain('is not inside');
    } finally {
      await served.stop();
    }
  }, 60_000);
});

describe('chpipe serve --password', () => {
  it('needs the password (401 without it), says how to connect, and chpipe status still reaches the data through it', async () => {
    const project = tempProject({});
    const served = await startServe([], project, { CHPIPE_SERVE_PASSWORD: 'open sesame' });
    try {
      const without = await send(served.url, 'SELECT 1');
      expect(without.status).toBe(401);
      expect(without.body).toContain('AUTHENTICATION_FAILED');
      expect((await send(served.url, 'SELECT 1', { Authorization: `Basic ${Buffer.from('default:wrong').toString('base64')}` })).status).toBe(401);
      const basic = { Authorization: `Basic ${Buffer.from('default:open sesame').toString('base64')}` };
      expect(await send(served.url, 'SELECT 1', basic)).toEqual({ status: 200, body: '1\n' });
      expect(await send(`${served.url}/?user=default&password=open%20sesame`, 'SELECT 2')).toEqual({ status: 200, body: '2\n' });
      expect(served.stderr()).toContain('as user default with the password you gave (CHPIPE_SERVE_PASSWORD or --password)');
      expect(served.stderr()).not.toContain('open sesame');
      // The target lock carries it for chpipe's own commands, readable by this user only.
      const status = await chpipeAsync(['status', '--json'], project);
      expect(status.stderr).not.toContain('Authentication failed');
      expect(status.code).toBe(0);
    } finally {
      await served.stop();
    }
  }, 90_000);

  it('--password on the command line works too, and an empty one is refused', async () => {
    const served = await startServe(['--data-dir', join(tempDir('chpipe-serve-pw-'), 'data'), '--password', 'pw1']);
    try {
      expect((await send(served.url, 'SELECT 1')).status).toBe(401);
      expect((await send(served.url, 'SELECT 1', { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': 'pw1' })).status).toBe(200);
    } finally {
      await served.stop();
    }
    const empty = await runServe(['--data-dir', join(tempDir('chpipe-serve-pw-'), 'data'), '--password', '']);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('error: --password takes a non-empty password (or set CHPIPE_SERVE_PASSWORD)\n');
  }, 60_000);
});

describe("chpipe dev's endpoint", () => {
  it('passes the same checks as serve', async () => {
    const dir = tempProject({}, 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n');
    const dev = startDev(dir);
    try {
      const { url } = await dev.next(() => true, 'the first line');
      await checkEndpoint(url, join(dir, '.chpipe'), tempDir('chpipe-dev-outside-'));
    } finally {
      await dev.end();
    }
  }, 120_000);

  it('--password makes the endpoint need it', async () => {
    const dir = tempProject({}, 'version: 1\ndatabase: analytics\nkafka:\n  brokers: 127.0.0.1:9\n');
    const dev = startDev(dir, ['--password', 'devpw']);
    try {
      const { url } = await dev.next(() => true, 'the first line');
      expect((await send(url, 'SELECT 1')).status).toBe(401);
      expect(await send(url, 'SELECT 1', { Authorization: `Basic ${Buffer.from('default:devpw').toString('base64')}` })).toEqual({ status: 200, body: '1\n' });
      expect(dev.stderr()).toContain('dev: connect to');
    } finally {
      await dev.end();
    }
  }, 120_000);
});
