/**
 * The HTTP driver: any ClickHouse server reached over its HTTP interface,
 * through `@clickhouse/client`.
 *
 * - The target comes from `--url`, `--env NAME` (chpipe.yaml
 *   `environments.NAME.url`) or `CHPIPE_URL` (`resolveTargetUrl`), as
 *   `http(s)://[user:password@]host[:port]`; user and password may instead
 *   come from `CLICKHOUSE_USER` / `CLICKHOUSE_PASSWORD`.
 * - TLS: `https://` URLs are checked against the system's CAs plus, when
 *   `CHPIPE_CA_FILE` names a PEM file, the CA in it (for self-signed servers).
 * - Timeouts: a short connect timeout (10 s) and a long request timeout
 *   (5 min), since dropping a Kafka table can take a while.
 * - `connect()` asks `version()` first and refuses servers older than
 *   `MINIMUM_VERSION` (version.ts).
 * - A target that cannot be used (refused connection, DNS, TLS, credentials,
 *   grants, busy, not ClickHouse) is a `TargetError` of one sentence; a
 *   statement the server refused is an `EngineError`, as from the embedded
 *   engine. Neither ever contains the password; `target` is the URL without
 *   credentials.
 *
 * `@clickhouse/client` is loaded on the first `connect()`, so commands that
 * never reach a server (and `--help`) do not pay for it.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, type AgentOptions as HttpAgentOptions, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, rootCertificates } from 'node:tls';
import type { ClickHouseClient } from '@clickhouse/client';
import { expandEnv } from '../spec/env.js';
import { parseEngineMessage, parseJsonEachRow, TargetError, toEngineError, type Driver, type EngineError } from './driver.js';
import { versionProblem } from './version.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Idle keep-alive sockets are closed after this long, below every server's keep-alive timeout (3 s on old servers). */
const IDLE_SOCKET_MS = 2_000;

export interface HttpConnectOptions {
  /** Overrides the user in the URL. */
  readonly user?: string;
  /** Overrides the password in the URL. */
  readonly password?: string;
  /** A PEM file with the CA certificate(s) to trust besides the system's (`CHPIPE_CA_FILE`). */
  readonly caFile?: string;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Target URLs

export interface TargetUrl {
  /** The URL without credentials, e.g. `https://ch.example.com:8443`: safe to print. */
  readonly url: string;
  readonly user?: string;
  readonly password?: string;
}

export type TargetSource = '--url' | `--env ${string}` | 'CHPIPE_URL';

export interface ResolvedTarget extends TargetUrl {
  /** Where the target was named: `--url`, `--env prod` or `CHPIPE_URL`. */
  readonly source: TargetSource;
  /** `CHPIPE_CA_FILE`, when set. */
  readonly caFile?: string;
}

export interface TargetInputs {
  readonly url?: string | undefined;
  readonly env?: string | undefined;
  /** chpipe.yaml's `environments` (`ProjectSpec.environments`). */
  readonly environments?: Readonly<Record<string, { readonly url?: string | undefined }>> | undefined;
  readonly processEnv: Readonly<Record<string, string | undefined>>;
}

const URL_FORM = 'http(s)://[user:password@]host[:port]';

/** The text with any `//user:password@` password replaced by `***`, for messages about text that is not a URL yet. */
function redactUrlText(text: string): string {
  return text.replace(/(\/\/[^/@\s[\]]*?:)[^/@\s]*@/g, '$1***@');
}

/**
 * Split a target URL into the printable URL and its credentials (decoded).
 * `what` names where it came from, for the one-sentence error.
 */
export function parseTargetUrl(text: string, what = 'the target URL'): TargetUrl {
  const bad = (why: string) => new TargetError(`${what} ${JSON.stringify(redactUrlText(text))} ${why}; write ${URL_FORM}`);
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    throw bad('is not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad(`uses ${u.protocol.replace(/:$/, '')}, not http or https`);
  if (!u.hostname) throw bad('names no host');
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') throw bad('has a path or parameters after the host');
  let user: string | undefined;
  let password: string | undefined;
  try {
    if (u.username !== '') user = decodeURIComponent(u.username);
    if (u.password !== '') password = decodeURIComponent(u.password);
  } catch {
    throw bad('has a user or password that is not valid percent-encoding');
  }
  const result: { url: string; user?: string; password?: string } = { url: `${u.protocol}//${u.host}` };
  if (user !== undefined) result.user = user;
  if (password !== undefined) result.password = password;
  return result;
}

/**
 * The target the CLI's inputs name, or `undefined` when none is named (the embedded default).
 * `--url` or `--env` (naming both is an error) wins over `CHPIPE_URL`. `${VAR}`
 * references in an environment's URL are filled in from `processEnv`. Credentials in the URL win over
 * `CLICKHOUSE_USER` / `CLICKHOUSE_PASSWORD`, field by field. Pure: the environment is passed in.
 */
export function resolveTargetUrl(inputs: TargetInputs): ResolvedTarget | undefined {
  const { processEnv } = inputs;
  let text: string;
  let source: TargetSource;
  let what: string;
  if (inputs.url !== undefined && inputs.env !== undefined) throw new TargetError('give either --url or --env, not both');
  if (inputs.url !== undefined) {
    [text, source, what] = [inputs.url, '--url', '--url'];
  } else if (inputs.env !== undefined) {
    const name = inputs.env;
    const environments = inputs.environments ?? {};
    const known = Object.keys(environments);
    const entry = Object.hasOwn(environments, name) ? environments[name] : undefined;
    if (!entry) {
      throw new TargetError(
        known.length === 0
          ? `unknown environment ${JSON.stringify(name)} for --env: chpipe.yaml defines no environments (add environments.${name}.url)`
          : `unknown environment ${JSON.stringify(name)} for --env: chpipe.yaml defines ${known.map((k) => JSON.stringify(k)).join(', ')}`,
      );
    }
    if (entry.url === undefined || entry.url === '') throw new TargetError(`environment ${JSON.stringify(name)} in chpipe.yaml has no url; write environments.${name}.url: ${URL_FORM}`);
    const expanded = expandEnv(entry.url, processEnv);
    if (expanded.missing.length > 0) {
      const vars = expanded.missing.map((v) => `\${${v}}`).join(', ');
      throw new TargetError(`environments.${name}.url in chpipe.yaml uses ${vars}, which ${expanded.missing.length === 1 ? 'is' : 'are'} not set`);
    }
    [text, source, what] = [expanded.value, `--env ${name}`, `environments.${name}.url in chpipe.yaml`];
  } else if (processEnv.CHPIPE_URL !== undefined && processEnv.CHPIPE_URL !== '') {
    [text, source, what] = [processEnv.CHPIPE_URL, 'CHPIPE_URL', 'CHPIPE_URL'];
  } else {
    return undefined;
  }
  const parsed = parseTargetUrl(text, what);
  const result: { -readonly [K in keyof ResolvedTarget]: ResolvedTarget[K] } = { url: parsed.url, source };
  const user = parsed.user ?? nonEmpty(processEnv.CLICKHOUSE_USER);
  const password = parsed.password ?? processEnv.CLICKHOUSE_PASSWORD;
  if (user !== undefined) result.user = user;
  if (password !== undefined && password !== '') result.password = password;
  const caFile = nonEmpty(processEnv.CHPIPE_CA_FILE);
  if (caFile !== undefined) result.caFile = caFile;
  return result;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

// ---------------------------------------------------------------------------------------------
// Error mapping (at the edge: the server's and the network's answers become typed problems once)

/** Server error codes (the number after `Code:`, the same on every version) that make a target unusable. */
const CREDENTIAL_CODES = new Set([192 /* UNKNOWN_USER */, 193 /* WRONG_PASSWORD */, 194 /* REQUIRED_PASSWORD */, 516 /* AUTHENTICATION_FAILED */]);
const ADDRESS_CODES = new Set([195 /* IP_ADDRESS_NOT_ALLOWED */]);
const GRANT_CODES = new Set([164 /* READONLY */, 291 /* DATABASE_ACCESS_DENIED */, 497 /* ACCESS_DENIED */]);
const BUSY_CODES = new Set([202 /* TOO_MANY_SIMULTANEOUS_QUERIES */]);

/** The `Code: N` of a server's error answer: `Code: 291, e.displayText() = …` (old) or `Code: 497. DB::Exception: …` (new). */
export function serverErrorCode(body: string): number | undefined {
  const m = /^\s*Code:\s*(\d+)[.,]/.exec(body);
  return m ? Number(m[1]) : undefined;
}

/**
 * A server's error answer as `parseEngineMessage` reads it (the embedded engine's form): without the
 * server's `(version 25.8.2.29 (official build))` suffix, and the pre-20 form
 * `Code: N, e.displayText() = DB::Exception: …, e.what() = DB::Exception` rewritten.
 */
function normalizeServerError(body: string): string {
  const text = body.trim().replace(/\s*\(version [^()]*(?:\([^()]*\)[^()]*)*\)$/, '');
  const old = /^Code:\s*(\d+),\s*e\.displayText\(\)\s*=\s*(?:DB::Exception:\s*)?([\s\S]*?)(?:,\s*e\.what\(\)\s*=\s*\S+)?$/.exec(text);
  return old ? `Code: ${old[1]}. DB::Exception: ${old[2]}` : text;
}

/** The server's message for people: no code, no version, no stack. */
function serverMessage(body: string): string {
  return parseEngineMessage(normalizeServerError(body)).message;
}

/** The `EngineError` for a statement the server refused, as the embedded engine reports it (code name, message, hint). */
export function statementError(sql: string, body: string): EngineError {
  return toEngineError(sql, normalizeServerError(body));
}

export interface TargetContext {
  /** The URL without credentials. */
  readonly target: string;
  /** The user the requests authenticate as. */
  readonly user: string;
}

/**
 * The `TargetError` for a server's error answer (the response body, with its HTTP status) that means the
 * target cannot be used as given — credentials, the client's address, grants, too busy, or not a
 * ClickHouse HTTP interface at all — or `undefined` when the server refused the statement itself (an
 * `EngineError`, see `toEngineError`).
 */
export function serverAnswerProblem(body: string, status: number | undefined, ctx: TargetContext): TargetError | undefined {
  const code = serverErrorCode(body);
  const at = `the target at ${ctx.target}`;
  const user = JSON.stringify(ctx.user);
  if ((code !== undefined && CREDENTIAL_CODES.has(code)) || (code === undefined && (status === 401 || status === 403))) {
    return new TargetError(`${at} refused the credentials of user ${user} (wrong user name or password); give them in the URL (${URL_FORM}) or in CLICKHOUSE_USER and CLICKHOUSE_PASSWORD`);
  }
  if (code !== undefined && ADDRESS_CODES.has(code)) return new TargetError(`${at} does not accept user ${user} from this machine's address (the user's allowed networks on the server)`);
  if (code !== undefined && GRANT_CODES.has(code)) return new TargetError(`${at} denied user ${user} a privilege chpipe needs (${serverMessage(body)}); grant it or use another user`);
  if (code !== undefined && BUSY_CODES.has(code)) return new TargetError(`${at} is too busy to run the statement (${serverMessage(body)}); try again later`);
  if (code === undefined) {
    const first = firstLine(body);
    return new TargetError(`${at} answered${status !== undefined ? ` HTTP ${status}` : ''}, not as a ClickHouse HTTP interface does${first ? ` (${JSON.stringify(first)})` : ''}; check the host and port`);
  }
  return undefined;
}

/** The first line of a text, at most 160 characters, for quoting in a sentence. */
function firstLine(text: string): string {
  return (text.trim().split(/\r?\n/)[0] ?? '').trim().slice(0, 160);
}

interface NetworkErrorLike {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly errors?: unknown;
}

function networkCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const err = e as NetworkErrorLike;
  if (typeof err.code === 'string') return err.code;
  // Happy eyeballs (several addresses for one name) rejects with an AggregateError of the attempts.
  if (Array.isArray(err.errors)) for (const inner of err.errors) if (typeof (inner as NetworkErrorLike).code === 'string') return (inner as NetworkErrorLike).code as string;
  return undefined;
}

const UNTRUSTED_CERT = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_NODATA', 'EAI_FAIL']);
const CONNECT_TIMEOUT = 'CHPIPE_CONNECT_TIMEOUT';
const TLS_TIMEOUT = 'CHPIPE_TLS_TIMEOUT';
/** The message `@clickhouse/client` rejects with when the request timeout passes. */
const CLIENT_TIMEOUT_MESSAGE = 'Timeout error.';

export interface NetworkContext {
  readonly target: string;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/** The one-sentence `TargetError` for a request that failed below HTTP: connection, DNS, TLS, timeouts. */
export function networkProblem(e: unknown, ctx: NetworkContext): TargetError {
  const code = networkCode(e);
  const message = e instanceof Error ? e.message : String(e);
  const at = `the target at ${ctx.target}`;
  const host = hostOf(ctx.target);
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  if (code === 'ECONNREFUSED') return new TargetError(`cannot connect to ${at}: the connection was refused (is ClickHouse running and listening on that port?)`);
  if (code !== undefined && DNS_CODES.has(code)) return new TargetError(`cannot connect to ${at}: the host name ${host} does not resolve (DNS ${code === 'EAI_AGAIN' ? 'lookup failed for now' : 'knows no such host'})`);
  if (code === CONNECT_TIMEOUT || code === 'ETIMEDOUT' || code === 'ECONNABORTED') return new TargetError(`cannot connect to ${at}: no connection within ${seconds(ctx.connectTimeoutMs)}`);
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') return new TargetError(`cannot connect to ${at}: the host is unreachable from this machine (${code})`);
  if (code !== undefined && UNTRUSTED_CERT.has(code)) {
    return new TargetError(`the TLS certificate of ${at} is not trusted (self-signed or signed by an unknown CA); set CHPIPE_CA_FILE to the PEM file of the CA that signed it`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new TargetError(`the TLS certificate of ${at} is not valid for the host name ${host}; connect with a name the certificate lists`);
  if (code === 'CERT_HAS_EXPIRED') return new TargetError(`the TLS certificate of ${at} has expired`);
  if (code === 'CERT_NOT_YET_VALID') return new TargetError(`the TLS certificate of ${at} is not valid yet (check the clocks)`);
  if (code === TLS_TIMEOUT) return new TargetError(`the TLS handshake with ${at} failed: no answer within ${seconds(ctx.connectTimeoutMs)} (does that port speak https, or plain http?)`);
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || (code !== undefined && code.startsWith('ERR_SSL_'))) {
    return new TargetError(`the TLS handshake with ${at} failed (does that port speak https, or plain http?)`);
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || message === 'socket hang up') return new TargetError(`${at} closed the connection before answering (is that port ClickHouse's HTTP interface, and does it speak ${ctx.target.startsWith('https:') ? 'https' : 'plain http'}?)`);
  if (message === CLIENT_TIMEOUT_MESSAGE) return new TargetError(`${at} did not answer within ${seconds(ctx.requestTimeoutMs)} (a statement may still be running there)`);
  return new TargetError(`cannot use ${at}: ${message.split('\n')[0]}`);
}

function hostOf(target: string): string {
  try {
    return new URL(target).hostname;
  } catch {
    return target;
  }
}

/**
 * Replace every occurrence of the secrets (and their URL-encoded forms) in a message by `***`, and any
 * `//user:password@`. The client never sees a URL with credentials (they go in the Authorization header),
 * so this is a safety net; passwords under 4 characters are left alone (replacing every `a` would garble
 * messages), the URL form is redacted still.
 */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 4) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  return redactUrlText(out);
}

function scrubError<E extends Error>(e: E, secrets: readonly string[]): E {
  const message = scrub(e.message, secrets);
  if (message !== e.message) {
    e.message = message;
    if (e.stack) e.stack = scrub(e.stack, secrets);
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// The agent: keep-alive sockets, the CA, and a connect timeout (the client has none of its own)

/**
 * Bound the connection by `ms`: the TCP connect, and for https the TLS handshake too (a server that reads a
 * ClientHello on a plain port and never answers would otherwise hold the request until the request timeout).
 */
function armConnectTimeout(socket: Duplex | null | undefined, ms: number, tls: boolean): void {
  if (!socket || !('connecting' in socket)) return;
  const s = socket as Socket;
  if (!s.connecting) return;
  const timer = setTimeout(() => {
    const connected = !s.connecting;
    s.destroy(Object.assign(new Error(connected ? `no TLS handshake within ${ms} ms` : `no connection within ${ms} ms`), { code: connected ? TLS_TIMEOUT : CONNECT_TIMEOUT }));
  }, ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  s.once(tls ? 'secureConnect' : 'connect', clear);
  s.once('close', clear);
}

class TimedHttpAgent extends HttpAgent {
  constructor(
    options: HttpAgentOptions,
    private readonly connectTimeoutMs: number,
  ) {
    super(options);
  }
  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    armConnectTimeout(socket, this.connectTimeoutMs, false);
    return socket;
  }
}

class TimedHttpsAgent extends HttpsAgent {
  constructor(
    options: HttpsAgentOptions,
    private readonly connectTimeoutMs: number,
  ) {
    super(options);
  }
  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    armConnectTimeout(socket, this.connectTimeoutMs, true);
    return socket;
  }
}

function readCa(caFile: string): string {
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (e) {
    const code = networkCode(e);
    throw new TargetError(`cannot read the CA certificate file ${caFile} (CHPIPE_CA_FILE)${code === 'ENOENT' ? ': it does not exist' : code ? `: ${code}` : ''}`);
  }
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificate');
    createSecureContext({ ca: pem });
  } catch {
    throw new TargetError(`the CA certificate file ${caFile} (CHPIPE_CA_FILE) holds no PEM certificate`);
  }
  return pem;
}

// ---------------------------------------------------------------------------------------------
// The driver

type ClientModule = typeof import('@clickhouse/client');
let clientModule: Promise<ClientModule> | undefined;

interface Answer {
  readonly status: number | undefined;
  readonly failed: boolean;
  readonly text: string;
}

export class HttpDriver implements Driver {
  readonly kind = 'http' as const;
  private closed = false;

  private constructor(
    readonly target: string,
    private readonly user: string,
    private readonly secrets: readonly string[],
    private readonly client: ClickHouseClient,
    private readonly agent: HttpAgent,
    private readonly timeouts: { readonly connectTimeoutMs: number; readonly requestTimeoutMs: number },
    private serverVersion = '',
  ) {}

  /**
   * Connect to the server at `url` (`http(s)://[user:password@]host[:port]`), read its version and refuse
   * it when it is older than `MINIMUM_VERSION`. Every problem is a one-sentence `TargetError`.
   */
  static async connect(url: string, options: HttpConnectOptions = {}): Promise<HttpDriver> {
    const parsed = parseTargetUrl(url);
    const user = options.user ?? parsed.user ?? 'default';
    const password = options.password ?? parsed.password ?? '';
    const secrets = password ? [password] : [];
    const timeouts = {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    };
    const secure = parsed.url.startsWith('https:');
    const ca = secure && options.caFile ? readCa(options.caFile) : undefined;
    const agentOptions = { keepAlive: true, maxSockets: 10, timeout: IDLE_SOCKET_MS };
    const agent = secure
      ? new TimedHttpsAgent({ ...agentOptions, ...(ca ? { ca: [...rootCertificates, ca] } : {}) }, timeouts.connectTimeoutMs)
      : new TimedHttpAgent(agentOptions, timeouts.connectTimeoutMs);
    clientModule ??= import('@clickhouse/client');
    const { createClient, ClickHouseLogLevel } = await clientModule;
    const client = createClient({
      url: parsed.url,
      username: user,
      password,
      application: 'chpipe',
      request_timeout: timeouts.requestTimeoutMs,
      http_agent: agent,
      // The client's own log lines (e.g. about long request timeouts) would land on the CLI's stderr.
      log: { level: ClickHouseLogLevel.OFF },
    });
    const driver = new HttpDriver(parsed.url, user, secrets, client, agent, timeouts);
    try {
      const rows = await driver.query<{ v: string }>('SELECT version() AS v');
      const version = rows[0]?.v;
      if (typeof version !== 'string') throw new TargetError(`the target at ${parsed.url} did not say which ClickHouse version it runs; check the host and port`);
      driver.serverVersion = version;
      const problem = versionProblem(version, parsed.url);
      if (problem) throw new TargetError(problem);
    } catch (e) {
      await driver.close();
      if (e instanceof TargetError) throw scrubError(e, secrets);
      // The version query is chpipe's own; a refusal of it means the target is unusable.
      throw new TargetError(scrub(`cannot use the target at ${parsed.url}: ${e instanceof Error ? e.message : String(e)}`, secrets));
    }
    return driver;
  }

  /** Send one statement; the raw answer, or a `TargetError` when the request failed below HTTP. */
  private async send(sql: string, settings: Record<string, string | number>): Promise<Answer> {
    if (this.closed) throw new TargetError(`the connection to the target at ${this.target} is closed`);
    try {
      const result = await this.client.exec({ query: sql, clickhouse_settings: settings, ignore_error_response: true });
      const chunks: Buffer[] = [];
      for await (const chunk of result.stream as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      const status = result.http_status_code;
      const text = Buffer.concat(chunks).toString('utf8');
      const failed = (status !== undefined && (status < 200 || status >= 300)) || result.response_headers['x-clickhouse-exception-code'] !== undefined;
      return { status, failed, text };
    } catch (e) {
      throw scrubError(networkProblem(e, { target: this.target, ...this.timeouts }), this.secrets);
    }
  }

  /** The answer's text, or the problem it reports: a `TargetError` for an unusable target, else an `EngineError`. */
  private check(sql: string, answer: Answer): string {
    if (!answer.failed) return answer.text;
    const problem = serverAnswerProblem(answer.text, answer.status, { target: this.target, user: this.user });
    if (problem) throw scrubError(problem, this.secrets);
    throw scrubError(statementError(sql, answer.text), this.secrets);
  }

  // wait_end_of_query: the server answers once the statement is done, so an exception part way (an INSERT
  // SELECT of a rebuild, a long read) is an HTTP error with its code, never a tail on a 200 answer.

  async exec(sql: string): Promise<void> {
    this.check(sql, await this.send(sql, { wait_end_of_query: 1, distributed_ddl_task_timeout: ddlTaskTimeout(this.timeouts.requestTimeoutMs) }));
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    const text = this.check(sql, await this.send(sql, { default_format: 'JSONEachRow', wait_end_of_query: 1 }));
    try {
      return parseJsonEachRow<T>(text);
    } catch {
      throw new TargetError(`the target at ${this.target} answered a query with something other than JSONEachRow rows (${JSON.stringify(scrub(firstLine(text), this.secrets))})`);
    }
  }

  /** A statement's output in `format` (its FORMAT clause wins), as the server sends it. */
  async output(sql: string, format: string): Promise<string> {
    return this.check(sql, await this.send(sql, { default_format: format, wait_end_of_query: 1 }));
  }

  version(): Promise<string> {
    return Promise.resolve(this.serverVersion);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.close();
    } finally {
      this.agent.destroy();
    }
  }
}

/**
 * `distributed_ddl_task_timeout` for every statement chpipe runs (only ON CLUSTER statements use it): how long
 * the initiator waits for every host. It stays below the HTTP request timeout, so a host that does not finish is
 * reported by the server (TIMEOUT_EXCEEDED, naming the unfinished hosts; the task stays queued and runs there
 * later) instead of chpipe giving up on the request first. At most the server's default, 180 s.
 */
export function ddlTaskTimeout(requestTimeoutMs: number): number {
  return Math.max(1, Math.min(180, Math.floor(requestTimeoutMs / 1000) - 5));
}
