/**
 * Naming a target (`resolveTargetUrl`, pure) and the HTTP driver's sentences
 * for problems below HTTP that need no ClickHouse: timeouts and answers that
 * are not ClickHouse's. The driver against real servers: test/server/
 * (ClickHouse 18.16) and http-serve.test.ts (a modern engine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineError, TargetError } from '../../src/engine/driver.js';
import { HttpDriver, networkProblem, parseTargetUrl, resolveTargetUrl, serverAnswerProblem, statementError } from '../../src/engine/http.js';

const ENVIRONMENTS = { prod: { url: 'https://deployer:pr0d-secret@ch.example.com:8443' }, staging: { url: 'http://${STAGING_HOST:-localhost}:8123' } };

function targetError(f: () => unknown): TargetError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TargetError);
    expect((e as Error).message).not.toMatch(/\n/);
    return e as TargetError;
  }
  throw new Error('expected a TargetError');
}

describe('resolveTargetUrl', () => {
  it('no target named: undefined (the embedded default)', () => {
    expect(resolveTargetUrl({ processEnv: {} })).toBeUndefined();
    expect(resolveTargetUrl({ environments: ENVIRONMENTS, processEnv: { CHPIPE_URL: '' } })).toBeUndefined();
  });

  it('--url, with the credentials split off and decoded', () => {
    expect(resolveTargetUrl({ url: 'http://tester:s3cr3t-pass@127.0.0.1:8123', processEnv: {} })).toEqual({ url: 'http://127.0.0.1:8123', user: 'tester', password: 's3cr3t-pass', source: '--url' });
    expect(resolveTargetUrl({ url: 'https://u%40corp:p%40ss%2Fw@host:8443/', processEnv: {} })).toEqual({ url: 'https://host:8443', user: 'u@corp', password: 'p@ss/w', source: '--url' });
    expect(resolveTargetUrl({ url: 'http://[::1]:8123', processEnv: {} })).toEqual({ url: 'http://[::1]:8123', source: '--url' });
  });

  it('--env NAME from chpipe.yaml environments, with ${VAR} filled in', () => {
    expect(resolveTargetUrl({ env: 'prod', environments: ENVIRONMENTS, processEnv: {} })).toEqual({ url: 'https://ch.example.com:8443', user: 'deployer', password: 'pr0d-secret', source: '--env prod' });
    expect(resolveTargetUrl({ env: 'staging', environments: ENVIRONMENTS, processEnv: {} })?.url).toBe('http://localhost:8123');
    expect(resolveTargetUrl({ env: 'staging', environments: ENVIRONMENTS, processEnv: { STAGING_HOST: 'stage.internal' } })?.url).toBe('http://stage.internal:8123');
  });

  it('CHPIPE_URL when neither flag is given; the flags win over it', () => {
    const processEnv = { CHPIPE_URL: 'http://envhost:8123' };
    expect(resolveTargetUrl({ processEnv })).toEqual({ url: 'http://envhost:8123', source: 'CHPIPE_URL' });
    expect(resolveTargetUrl({ url: 'http://flaghost:8123', processEnv })?.source).toBe('--url');
    expect(resolveTargetUrl({ env: 'prod', environments: ENVIRONMENTS, processEnv })?.source).toBe('--env prod');
  });

  it('CLICKHOUSE_USER / CLICKHOUSE_PASSWORD when the URL has none; the URL wins field by field', () => {
    const processEnv = { CLICKHOUSE_USER: 'envuser', CLICKHOUSE_PASSWORD: 'envpass' };
    expect(resolveTargetUrl({ url: 'http://h:8123', processEnv })).toMatchObject({ user: 'envuser', password: 'envpass' });
    expect(resolveTargetUrl({ url: 'http://urluser@h:8123', processEnv })).toMatchObject({ user: 'urluser', password: 'envpass' });
    expect(resolveTargetUrl({ url: 'http://urluser:urlpass@h:8123', processEnv })).toMatchObject({ user: 'urluser', password: 'urlpass' });
  });

  it('CHPIPE_CA_FILE comes along', () => {
    expect(resolveTargetUrl({ url: 'https://h:8443', processEnv: { CHPIPE_CA_FILE: '/etc/ca.pem' } })?.caFile).toBe('/etc/ca.pem');
  });

  it('an unknown --env name: one sentence listing the known ones', () => {
    expect(targetError(() => resolveTargetUrl({ env: 'prdo', environments: ENVIRONMENTS, processEnv: {} })).message).toBe('unknown environment "prdo" for --env: chpipe.yaml defines "prod", "staging"');
    expect(targetError(() => resolveTargetUrl({ env: 'prod', processEnv: {} })).message).toBe('unknown environment "prod" for --env: chpipe.yaml defines no environments (add environments.prod.url)');
    expect(targetError(() => resolveTargetUrl({ env: 'toString', environments: ENVIRONMENTS, processEnv: {} })).message).toMatch(/^unknown environment "toString"/);
  });

  it("an environment's URL that uses an unset variable", () => {
    const environments = { prod: { url: 'https://${CH_HOST}:8443' } };
    expect(targetError(() => resolveTargetUrl({ env: 'prod', environments, processEnv: {} })).message).toBe('environments.prod.url in chpipe.yaml uses ${CH_HOST}, which is not set');
  });

  it('malformed URLs: one sentence saying where, never with the password', () => {
    const cases: [string, RegExp][] = [
      ['127.0.0.1:8123', /^--url "127\.0\.0\.1:8123" is not a URL; write http\(s\):\/\/\[user:password@\]host\[:port\]$/],
      ['localhost:8123', /^--url "localhost:8123" uses localhost, not http or https; write /],
      ['not a url', /^--url "not a url" is not a URL; write /],
      ['ftp://u:hunter22@h:21', /^--url "ftp:\/\/u:\*\*\*@h:21" uses ftp, not http or https; write /],
      ['http://u:hunter22@h:8123/analytics', /^--url "http:\/\/u:\*\*\*@h:8123\/analytics" has a path or parameters after the host; write /],
      ['http://h:8123?database=x', /has a path or parameters after the host/],
      ['http://u:%zz@h:8123', /has a user or password that is not valid percent-encoding/],
    ];
    for (const [url, expected] of cases) {
      const err = targetError(() => resolveTargetUrl({ url, processEnv: {} }));
      expect(err.message).toMatch(expected);
      expect(err.message).not.toContain('hunter22');
    }
    expect(targetError(() => resolveTargetUrl({ processEnv: { CHPIPE_URL: 'localhost' } })).message).toMatch(/^CHPIPE_URL "localhost" is not a URL/);
    const bad = { prod: { url: 'tcp://deployer:pr0d-secret@h:9000' } };
    const err = targetError(() => resolveTargetUrl({ env: 'prod', environments: bad, processEnv: {} }));
    expect(err.message).toBe('environments.prod.url in chpipe.yaml "tcp://deployer:***@h:9000" uses tcp, not http or https; write http(s)://[user:password@]host[:port]');
  });

  it('--url and --env together are refused', () => {
    expect(targetError(() => resolveTargetUrl({ url: 'http://h:8123', env: 'prod', environments: ENVIRONMENTS, processEnv: {} })).message).toBe('give either --url or --env, not both');
  });

  it('parseTargetUrl keeps the default port of the scheme when none is given', () => {
    expect(parseTargetUrl('https://ch.example.com')).toEqual({ url: 'https://ch.example.com' });
    expect(parseTargetUrl('http://ch.example.com:80')).toEqual({ url: 'http://ch.example.com' });
  });
});

describe('error mapping', () => {
  const ctx = { target: 'http://h:8123', user: 'app' };

  it("modern servers' answers: credentials, grants, busy", () => {
    expect(serverAnswerProblem('Code: 516. DB::Exception: app: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED) (version 25.8.2.29 (official build))', 401, ctx)?.message).toMatch(
      /^the target at http:\/\/h:8123 refused the credentials of user "app" \(wrong user name or password\)/,
    );
    expect(
      serverAnswerProblem("Code: 497. DB::Exception: app: Not enough privileges. To execute this query, it's necessary to have the grant CREATE TABLE ON analytics.t. (ACCESS_DENIED) (version 25.8.2.29 (official build))", 500, ctx)?.message,
    ).toBe("the target at http://h:8123 denied user \"app\" a privilege chpipe needs (app: Not enough privileges. To execute this query, it's necessary to have the grant CREATE TABLE ON analytics.t); grant it or use another user");
    expect(serverAnswerProblem('Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100. (TOO_MANY_SIMULTANEOUS_QUERIES)', 500, ctx)?.message).toBe(
      'the target at http://h:8123 is too busy to run the statement (Too many simultaneous queries. Maximum: 100); try again later',
    );
    expect(serverAnswerProblem('Code: 60. DB::Exception: Table analytics.x does not exist. (UNKNOWN_TABLE)', 404, ctx)).toBeUndefined();
  });

  it("a refused statement becomes the embedded engine's EngineError: the server's version suffix and old forms are read too", () => {
    const e = statementError('SELECT avgg(1)', "Code: 46. DB::Exception: Function with name `avgg` does not exist. In scope SELECT avgg(1). Maybe you meant: ['avg2','avg']. (UNKNOWN_FUNCTION) (version 25.8.2.29 (official build))\n");
    expect(e).toBeInstanceOf(EngineError);
    expect({ message: e.message, codeName: e.codeName, hint: e.hint, sql: e.sql }).toEqual({
      message: 'Function with name `avgg` does not exist',
      codeName: 'UNKNOWN_FUNCTION',
      hint: 'did you mean "avg2" or "avg"?',
      sql: 'SELECT avgg(1)',
    });
    expect(statementError('SELECT 1', 'Code: 60. DB::Exception: Table analytics.x does not exist. (UNKNOWN_TABLE) (version 24.8.4.13 (official build))').codeName).toBe('UNKNOWN_TABLE');
    const old = statementError('SELECT nosuch()', 'Code: 46, e.displayText() = DB::Exception: Unknown function nosuch, e.what() = DB::Exception\n');
    expect({ message: old.message, codeName: old.codeName }).toEqual({ message: 'Unknown function nosuch', codeName: undefined });
  });

  it('an answer that is not ClickHouse (a proxy page)', () => {
    expect(serverAnswerProblem('<html><body>502 Bad Gateway</body></html>', 502, ctx)?.message).toBe(
      'the target at http://h:8123 answered HTTP 502, not as a ClickHouse HTTP interface does ("<html><body>502 Bad Gateway</body></html>"); check the host and port',
    );
  });

  it('network errors by code', () => {
    const net = { target: 'https://h:8443', connectTimeoutMs: 10_000, requestTimeoutMs: 300_000 };
    const err = (code: string) => Object.assign(new Error(`x ${code}`), { code });
    expect(networkProblem(err('EHOSTUNREACH'), net).message).toBe('cannot connect to the target at https://h:8443: the host is unreachable from this machine (EHOSTUNREACH)');
    expect(networkProblem(err('ERR_TLS_CERT_ALTNAME_INVALID'), net).message).toBe('the TLS certificate of the target at https://h:8443 is not valid for the host name h; connect with a name the certificate lists');
    expect(networkProblem(err('CERT_HAS_EXPIRED'), net).message).toBe('the TLS certificate of the target at https://h:8443 has expired');
    expect(networkProblem(new AggregateError([err('ECONNREFUSED'), err('ECONNREFUSED')]), net).message).toMatch(/the connection was refused/);
  });
});

describe('timeouts (servers that never answer)', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A TCP server that takes every connection and never writes a byte; closed after the test. */
  async function silentServer(): Promise<{ port: number; sockets: Socket[] }> {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((ok) => server.close(() => ok()));
    });
    return { port: (server.address() as AddressInfo).port, sockets };
  }

  it('a server that accepts but never answers: the request timeout, one sentence', async () => {
    const { port } = await silentServer();
    const started = Date.now();
    const e = await HttpDriver.connect(`http://u:quiet-pass-1@127.0.0.1:${port}`, { requestTimeoutMs: 600 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(TargetError);
    expect((e as Error).message).toBe(`the target at http://127.0.0.1:${port} did not answer within 0.6 s (a statement may still be running there)`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('https to a port that takes the connection and never answers the TLS handshake: the connect timeout covers it', async () => {
    const { port, sockets } = await silentServer();
    const e = await HttpDriver.connect(`https://127.0.0.1:${port}`, { connectTimeoutMs: 700, requestTimeoutMs: 60_000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(TargetError);
    expect((e as Error).message).toBe(`the TLS handshake with the target at https://127.0.0.1:${port} failed: no answer within 0.7 s (does that port speak https, or plain http?)`);
    expect(sockets.length).toBeGreaterThan(0);
  });

  it('a port whose connections are never completed: the connect timeout, well before the request timeout', async () => {
    // A listener with a backlog of 0 that never accepts: once one connection waits in its queue, the kernel
    // drops further SYNs, so a connect hangs as it does to a firewalled host.
    const py = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => void (py.exitCode === null && py.kill('SIGKILL')));
    const port = await firstLineNumber(py);
    const fillers: Socket[] = [];
    cleanups.push(() => fillers.forEach((s) => s.destroy()));
    for (let i = 0; i < 2; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      fillers.push(s);
    }
    await new Promise((ok) => setTimeout(ok, 200));
    const started = Date.now();
    const e = await HttpDriver.connect(`http://127.0.0.1:${port}`, { connectTimeoutMs: 700, requestTimeoutMs: 60_000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const elapsed = Date.now() - started;
    expect(e).toBeInstanceOf(TargetError);
    expect((e as Error).message).toBe(`cannot connect to the target at http://127.0.0.1:${port}: no connection within 0.7 s`);
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('an HTTP server that answers 200 with something else than rows', async () => {
    const server: HttpServer = createHttpServer((_req, res) => res.end('hello, I am not ClickHouse\n'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise<void>((ok) => server.close(() => ok()));
    });
    const port = (server.address() as AddressInfo).port;
    const e = await HttpDriver.connect(`http://127.0.0.1:${port}`).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(TargetError);
    expect((e as Error).message).toBe(`the target at http://127.0.0.1:${port} answered a query with something other than JSONEachRow rows ("hello, I am not ClickHouse")`);
  });
});

function firstLineNumber(child: ChildProcess): Promise<number> {
  return new Promise((ok, fail) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) ok(Number(line));
    });
    child.once('exit', (code) => fail(new Error(`python3 exited (${code}) before printing its port`)));
    child.once('error', fail);
  });
}
