/**
 * HttpDriver against a real, old ClickHouse: Debian's clickhouse-server
 * 18.16.1 (test/server/clickhouse-18.ts). Every way a target can be unusable
 * is one sentence (a TargetError) without the password in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetError } from '../../src/engine/driver.js';
import { HttpDriver, serverAnswerProblem } from '../../src/engine/http.js';
import { freePort } from '../helpers/processes.js';
import { EXPECTED_VERSION, USERS } from './clickhouse-18.js';
import { clickhouse18 } from './server.js';
import { startTlsProxy, type TlsProxy } from './tls-proxy.js';

const server = clickhouse18();
const PORT = server.httpPort;
const TARGET = `http://127.0.0.1:${PORT}`;
const GATE = (target: string) => `the target at ${target} runs ClickHouse ${EXPECTED_VERSION}, and chpipe needs 24.8 or later`;

/** The TargetError `connect` rejects with (fails the test if it resolves or throws anything else). */
async function refusal(url: string, options: Parameters<typeof HttpDriver.connect>[1] = {}): Promise<TargetError> {
  let driver: HttpDriver | undefined;
  try {
    driver = await HttpDriver.connect(url, options);
  } catch (e) {
    expect(e).toBeInstanceOf(TargetError);
    const err = e as TargetError;
    // One sentence: one line, no trailing period, no stack frames in the message.
    expect(err.message).not.toMatch(/\n/);
    expect(err.message).not.toMatch(/\bat .*\.(?:js|ts):\d+/);
    return err;
  }
  await driver.close();
  throw new Error(`HttpDriver.connect(${url}) succeeded against ClickHouse ${EXPECTED_VERSION}`);
}

describe('the version gate', () => {
  it('refuses 18.16.1 with one sentence naming both versions', async () => {
    expect((await refusal(TARGET)).message).toBe(GATE(TARGET));
  });

  it('with credentials in the URL: the target is named without them', async () => {
    const err = await refusal(`http://tester:${USERS.tester}@127.0.0.1:${PORT}`);
    expect(err.message).toBe(GATE(TARGET));
    expect(err.message).not.toContain(USERS.tester);
    expect(err.stack ?? '').not.toContain(USERS.tester);
  });

  it('with credentials as options (CLICKHOUSE_USER / CLICKHOUSE_PASSWORD)', async () => {
    expect((await refusal(TARGET, { user: 'tester', password: USERS.tester })).message).toBe(GATE(TARGET));
  });

  it('a user without grants on `secret` still reaches the gate', async () => {
    expect((await refusal(TARGET, { user: 'nogrants', password: USERS.nogrants })).message).toBe(GATE(TARGET));
  });
});

describe('credentials', () => {
  it('a wrong password: one sentence about credentials, without the password', async () => {
    const err = await refusal(`http://tester:not-the-pass-42@127.0.0.1:${PORT}`);
    expect(err.message).toBe(
      `the target at ${TARGET} refused the credentials of user "tester" (wrong user name or password); give them in the URL (http(s)://[user:password@]host[:port]) or in CLICKHOUSE_USER and CLICKHOUSE_PASSWORD`,
    );
    expect(err.message).not.toContain('not-the-pass-42');
    expect(err.stack ?? '').not.toContain('not-the-pass-42');
  });

  it('a missing password and an unknown user say the same', async () => {
    expect((await refusal(TARGET, { user: 'tester' })).message).toMatch(/refused the credentials of user "tester"/);
    expect((await refusal(TARGET, { user: 'nobody', password: 'pw-of-nobody' })).message).toMatch(/refused the credentials of user "nobody"/);
  });
});

describe('missing grants', () => {
  it("18.16's real answer to a query on `secret` by `nogrants` maps to one sentence", async () => {
    // The gate stops HttpDriver before any statement on 18.16, so ask the server directly and map its answer.
    const r = await fetch(`${server.url}/?query=${encodeURIComponent('SELECT * FROM secret.t')}`, {
      headers: { Authorization: `Basic ${Buffer.from(`nogrants:${USERS.nogrants}`).toString('base64')}` },
    });
    const body = await r.text();
    expect(r.ok).toBe(false);
    expect(body).toMatch(/^Code: 291, /); // DATABASE_ACCESS_DENIED, in 18.16's form
    const err = serverAnswerProblem(body, r.status, { target: TARGET, user: 'nogrants' });
    expect(err).toBeInstanceOf(TargetError);
    expect(err?.message).toBe(
      `the target at ${TARGET} denied user "nogrants" a privilege chpipe needs (Access denied to database secret for user nogrants); grant it or use another user`,
    );
  });

  it('a statement the server refused is not a target problem (it becomes an EngineError)', async () => {
    const r = await fetch(`${server.url}/?query=${encodeURIComponent('SELECT nosuch_function()')}`);
    const body = await r.text();
    expect(r.ok).toBe(false);
    expect(serverAnswerProblem(body, r.status, { target: TARGET, user: 'default' })).toBeUndefined();
  });
});

describe('unreachable targets', () => {
  it('connection refused (a closed port): one sentence', async () => {
    const closed = await freePort();
    const err = await refusal(`http://tester:${USERS.tester}@127.0.0.1:${closed}`);
    expect(err.message).toBe(`cannot connect to the target at http://127.0.0.1:${closed}: the connection was refused (is ClickHouse running and listening on that port?)`);
  });

  it('an unknown host: one sentence', async () => {
    const err = await refusal('http://no-such-host.invalid:8123');
    expect(err.message).toMatch(/^cannot connect to the target at http:\/\/no-such-host\.invalid:8123: the host name no-such-host\.invalid does not resolve \(DNS /);
  });

  it("the server's native TCP port is not its HTTP interface: one sentence", async () => {
    const tcp = server.tcpPort;
    const err = await refusal(`http://127.0.0.1:${tcp}`, { requestTimeoutMs: 5_000 });
    expect(err.message).toBe(
      `the target at http://127.0.0.1:${tcp} answered HTTP 400, not as a ClickHouse HTTP interface does ("Port ${tcp} is for clickhouse-client program."); check the host and port`,
    );
  });

  it('https to the plain http port: the TLS handshake fails, one sentence', async () => {
    const err = await refusal(`https://127.0.0.1:${PORT}`);
    expect(err.message).toMatch(new RegExp(`^the TLS handshake with the target at https://127\\.0\\.0\\.1:${PORT} failed`));
  });
});

describe('TLS with a self-signed certificate', () => {
  let proxy: TlsProxy;
  beforeAll(async () => {
    proxy = await startTlsProxy(PORT);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('without CHPIPE_CA_FILE: "not trusted", one sentence, naming the variable', async () => {
    const err = await refusal(`https://tester:${USERS.tester}@127.0.0.1:${proxy.port}`);
    expect(err.message).toBe(
      `the TLS certificate of the target at ${proxy.url} is not trusted (self-signed or signed by an unknown CA); set CHPIPE_CA_FILE to the PEM file of the CA that signed it`,
    );
    expect(err.message).not.toContain(USERS.tester);
  });

  it('with the CA file: past TLS, then the version gate', async () => {
    const err = await refusal(`https://tester:${USERS.tester}@127.0.0.1:${proxy.port}`, { caFile: proxy.cert.certFile });
    expect(err.message).toBe(GATE(proxy.url));
  });

  it('with the CA file, by host name (the certificate lists localhost)', async () => {
    const url = `https://localhost:${proxy.port}`;
    const err = await refusal(url, { caFile: proxy.cert.certFile, user: 'tester', password: USERS.tester });
    expect(err.message).toBe(GATE(url));
  });

  it('wrong credentials through TLS: the credentials sentence', async () => {
    const err = await refusal(`https://tester:wrong-one-77@127.0.0.1:${proxy.port}`, { caFile: proxy.cert.certFile });
    expect(err.message).toMatch(new RegExp(`^the target at ${proxy.url.replace(/[.]/g, '\\.')} refused the credentials of user "tester"`));
    expect(err.message).not.toContain('wrong-one-77');
  });

  it('a CA file that is missing or not a certificate: one sentence', async () => {
    expect((await refusal(proxy.url, { caFile: '/nonexistent/ca.pem' })).message).toBe('cannot read the CA certificate file /nonexistent/ca.pem (CHPIPE_CA_FILE): it does not exist');
    expect((await refusal(proxy.url, { caFile: proxy.cert.keyFile })).message).toBe(`the CA certificate file ${proxy.cert.keyFile} (CHPIPE_CA_FILE) holds no PEM certificate`);
  });
});
