/**
 * The embedded target behind ClickHouse's HTTP interface: a node HTTP server
 * on the loopback interface that reads each request as a server does
 * (`protocol.ts`), runs its statement as an isolated request in the target's
 * engine process (`ProcessDriver.request`), and answers with the headers,
 * statuses and exception bodies clients rely on.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { EngineReply, EngineRequest, EngineStats } from '../engine/process.js';
import { contentTypeFor, engineException, exception, httpStatusFor, readHttpCall, type QueryCall, type ServerException } from './protocol.js';
import { reachRefusal, type ReachPolicy } from './reach.js';

/** What answers the statements: the target's engine process. */
export interface StatementRunner {
  request(request: EngineRequest): Promise<EngineReply>;
}

/** What the server says about itself in every answer. */
export interface ServerIdentity {
  /** The engine's version, e.g. `26.7.2.1` (in exception texts). */
  readonly version: string;
  /** `X-ClickHouse-Timezone` when a request does not set `session_timezone`. */
  readonly timezone: string;
  /** `X-ClickHouse-Server-Display-Name`. */
  readonly displayName: string;
}

export interface ServeOptions {
  /** 0: any free port. */
  readonly port: number;
  /** Called when the engine process fails (it died): the server cannot answer any more. */
  readonly onEngineFailure?: (error: Error) => void;
  /** Asked before a statement runs: an exception refuses it (nothing runs), undefined lets it run. */
  readonly guard?: (call: QueryCall) => Promise<ServerException | undefined>;
  /** What a statement may reach outside the engine's data (`reachRefusal`); checked before the guard. */
  readonly reach: ReachPolicy;
  /** The password of user `default` (`serve --password`); empty or absent: none, as a fresh server. */
  readonly password?: string;
}

export interface RunningServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Stop taking connections, let the requests in flight finish (up to `graceMs`), then close every connection. */
  close(graceMs?: number): Promise<void>;
}

/** Only the loopback interface is bound, and only loopback host names are answered (no DNS rebinding from a browser). */
const HOST = '127.0.0.1';

/** Request bodies above this are refused (a string this long is about V8's limit). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

/** Start serving on 127.0.0.1:`port`; resolves once listening (a port in use rejects with a one-sentence error). */
export async function startServer(runner: StatementRunner, identity: ServerIdentity, options: ServeOptions): Promise<RunningServer> {
  let inFlight = 0;
  let drained: (() => void) | undefined;
  let port = options.port;
  const server: Server = createServer((request, response) => {
    inFlight++;
    handle(request, response, runner, identity, options, port)
      .catch((e: unknown) => {
        // A bug in chpipe (the engine's own exceptions are answers): say so as a server would, once.
        if (!response.headersSent) sendException(response, exception('UNKNOWN_EXCEPTION', `chpipe serve failed on this request: ${e instanceof Error ? e.message : String(e)}`, identity.version), identity, request.method === 'HEAD');
        else response.destroy();
      })
      .finally(() => {
        if (--inFlight === 0) drained?.();
      });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolveListening, rejectListening) => {
    const onError = (e: NodeJS.ErrnoException) => {
      rejectListening(e.code === 'EADDRINUSE' ? new Error(`port ${options.port} on ${HOST} is in use; pick another with --port N (--port 0: any free port)`) : e);
    };
    server.once('error', onError);
    server.listen(options.port, HOST, () => {
      server.removeListener('error', onError);
      resolveListening();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${HOST}:${port}`,
    close: async (graceMs = 10_000) => {
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((done) => (drained = done)),
          new Promise<void>((done) => (timer = setTimeout(done, graceMs))),
        ]);
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}

function isLoopbackAddress(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || /^(::ffff:)?127\./.test(address));
}

/** The Host header names this machine's loopback interface (or is absent, as in HTTP/1.0). */
function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined || host === '') return true;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name.toLowerCase() === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/**
 * A request a web page made: a browser sends `Origin` with every cross-origin POST (and `Sec-Fetch-Site`
 * with every request), and a form or `text/plain` POST needs no preflight, so a page on any site could
 * run statements here without reading the answer. What gives it away, or undefined for a request from
 * this endpoint's own origin or from a client that is not a browser (they send neither header).
 */
function crossOrigin(request: IncomingMessage, port: number): string | undefined {
  if (request.method === 'OPTIONS') return 'a CORS preflight (OPTIONS)';
  const site = firstHeader(request.headers['sec-fetch-site']);
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${site}`;
  const origin = firstHeader(request.headers.origin);
  if (origin === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `Origin: ${origin}`;
  }
  const samePort = (url.port || '80') === String(port);
  return url.protocol === 'http:' && samePort && isLoopbackHost(url.host) && url.pathname === '/' ? undefined : `Origin: ${origin}`;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function handle(request: IncomingMessage, response: ServerResponse, runner: StatementRunner, identity: ServerIdentity, options: ServeOptions, port: number): Promise<void> {
  const head = request.method === 'HEAD';
  const command = options.reach.command;
  response.setHeader('X-ClickHouse-Server-Display-Name', identity.displayName);
  if (!isLoopbackAddress(request.socket.remoteAddress) || !isLoopbackHost(request.headers.host)) {
    await discard(request);
    return sendException(response, exception('ACCESS_DENIED', `chpipe ${command} answers on the loopback interface only; the host ${JSON.stringify(request.headers.host ?? request.socket.remoteAddress ?? '')} is not loopback`, identity.version), identity, head);
  }
  const foreign = crossOrigin(request, port);
  if (foreign !== undefined) {
    // Refused before the body is read; the connection closes instead of draining what a page sent.
    response.setHeader('Connection', 'close');
    return sendException(
      response,
      exception('ACCESS_DENIED', `chpipe ${command} refuses requests from web pages (${foreign}): a page open in a browser must not run statements on this machine; ClickHouse clients send no Origin and are served`, identity.version),
      identity,
      head,
    );
  }
  const url = new URL(request.url ?? '/', `http://${HOST}`);
  const method = request.method ?? 'GET';
  if ((url.pathname === '/ping' || url.pathname === '/replicas_status') && (method === 'GET' || method === 'HEAD')) {
    await discard(request);
    return sendText(response, 200, 'Ok.\n', head);
  }
  if (url.pathname !== '/' || !['GET', 'HEAD', 'POST'].includes(method)) {
    await discard(request);
    return sendText(response, 404, `There is no handle ${url.pathname}${url.pathname === '/' ? ` for method ${method}` : ''}\n\nUse / or /ping for health checks.\nSend queries with POST or GET /?query=...\n`, head);
  }
  const body = await readBody(request, identity.version);
  if ('exception' in body) return sendException(response, body.exception, identity, head);
  const call = readHttpCall({ method, path: url.pathname, params: url.searchParams, headers: request.headers, body: body.text }, identity.version, options.password ?? '');
  if (call.kind === 'ok') return sendText(response, 200, 'Ok.\n', head);
  if (call.kind === 'refused') {
    response.setHeader('X-ClickHouse-Query-Id', call.queryId ?? randomUUID());
    return sendException(response, call.exception, identity, head);
  }
  const queryId = call.queryId ?? randomUUID();
  response.setHeader('X-ClickHouse-Query-Id', queryId);
  const started = process.hrtime.bigint();
  // What the statement may reach is checked even when nothing would run (an INSERT without data): the answer says so.
  const unreachable = reachRefusal(call.sql, options.reach, identity.version);
  if (unreachable) return sendException(response, unreachable, identity, head);
  let reply: EngineReply;
  if (call.emptyInsert) {
    reply = { ok: true, output: Buffer.alloc(0) };
  } else {
    try {
      const refusal = await options.guard?.(call);
      if (refusal) return sendException(response, refusal, identity, head);
      reply = await runner.request(engineRequest(call));
    } catch (e) {
      // The engine process failed (it died): this request and every later one cannot be answered.
      const error = e instanceof Error ? e : new Error(String(e));
      options.onEngineFailure?.(error);
      return sendException(response, exception('UNKNOWN_EXCEPTION', `the engine process of chpipe serve failed: ${error.message}`, identity.version), identity, head, 503);
    }
  }
  if (!reply.ok) return sendException(response, engineException(reply.code, reply.error, identity.version), identity, head);
  const stats: EngineStats = reply.stats ?? { elapsedNs: Number(process.hrtime.bigint() - started), rows: 0, bytes: 0 };
  response.setHeader('X-ClickHouse-Format', call.format);
  response.setHeader('X-ClickHouse-Timezone', call.settings.session_timezone || identity.timezone);
  response.setHeader('Content-Type', contentTypeFor(call.format));
  response.setHeader('X-ClickHouse-Summary', JSON.stringify(summary(stats)));
  const encoding = call.compressionEnabled ? acceptedEncoding(request.headers['accept-encoding']) : undefined;
  const output = encoding ? await compress(reply.output, encoding) : reply.output;
  if (encoding) response.setHeader('Content-Encoding', encoding);
  response.setHeader('Content-Length', output.length);
  response.statusCode = 200;
  response.end(head ? undefined : output);
}

function engineRequest(call: QueryCall): EngineRequest {
  return {
    sql: call.sql,
    format: call.defaultFormat,
    ...(call.database !== undefined ? { database: call.database } : {}),
    settings: call.settings,
    ...(call.readonly ? { readonly: 2 as const } : {}),
    params: call.params,
  };
}

/** `X-ClickHouse-Summary`, numbers as strings as a server sends them; rows and bytes are the result's, as the engine counts them. */
function summary(stats: EngineStats): Record<string, string> {
  return {
    read_rows: String(stats.rows),
    read_bytes: String(stats.bytes),
    written_rows: '0',
    written_bytes: '0',
    total_rows_to_read: '0',
    result_rows: String(stats.rows),
    result_bytes: String(stats.bytes),
    elapsed_ns: String(stats.elapsedNs),
  };
}

type Encoding = 'gzip' | 'deflate' | 'br';

/** The first of gzip, deflate, br the client accepts (q=0 excluded). */
function acceptedEncoding(header: string | undefined): Encoding | undefined {
  if (!header) return undefined;
  const accepted = header
    .split(',')
    .map((part) => part.trim().split(';'))
    .filter(([, q]) => !q || !/^\s*q=0(\.0*)?\s*$/.test(q))
    .map(([name]) => (name ?? '').trim().toLowerCase());
  return (['gzip', 'deflate', 'br'] as const).find((e) => accepted.includes(e) || (e === 'gzip' && accepted.includes('x-gzip')));
}

const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);
const brotli = promisify(zlib.brotliCompress);
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const unbrotli = promisify(zlib.brotliDecompress);

function compress(data: Buffer, encoding: Encoding): Promise<Buffer> {
  return encoding === 'gzip' ? gzip(data) : encoding === 'deflate' ? deflate(data) : brotli(data);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The request body, decompressed per Content-Encoding, as text; or the exception a server would answer. */
async function readBody(request: IncomingMessage, version: string): Promise<{ text: string } | { exception: ServerException }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    if (!tooLarge) chunks.push(chunk);
  }
  if (tooLarge) return { exception: exception('NOT_IMPLEMENTED', `the request body is larger than chpipe serve takes (${MAX_BODY_BYTES / 1048576} MiB); send the data in smaller inserts`, version) };
  let data = Buffer.concat(chunks);
  const encoding = (request.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity' && encoding !== 'none') {
    const decode = encoding === 'gzip' || encoding === 'x-gzip' ? gunzip : encoding === 'deflate' ? inflate : encoding === 'br' ? unbrotli : undefined;
    if (!decode) return { exception: exception('BAD_ARGUMENTS', `Unknown compression method '${encoding}'; chpipe serve takes gzip, deflate and br request bodies`, version) };
    try {
      data = await decode(data);
    } catch (e) {
      return { exception: exception('CANNOT_DECOMPRESS', `cannot decompress the request body as ${encoding}: ${e instanceof Error ? e.message : String(e)}`, version) };
    }
  }
  try {
    return { text: utf8.decode(data) };
  } catch {
    return { exception: exception('NOT_IMPLEMENTED', 'the request body is not UTF-8 text; chpipe serve takes text formats only (binary inserts such as RowBinary, Native or Parquet are not supported)', version) };
  }
}

async function discard(request: IncomingMessage): Promise<void> {
  for await (const _chunk of request as AsyncIterable<Buffer>) {
    // read and dropped, so the connection can serve the next request
  }
}

function sendText(response: ServerResponse, status: number, text: string, head: boolean): void {
  response.statusCode = status;
  response.setHeader('Content-Type', 'text/plain; charset=UTF-8');
  response.setHeader('Content-Length', Buffer.byteLength(text));
  response.end(head ? undefined : text);
}

function sendException(response: ServerResponse, e: ServerException, identity: ServerIdentity, head: boolean, status = httpStatusFor(e.code)): void {
  response.setHeader('X-ClickHouse-Server-Display-Name', identity.displayName);
  if (e.code !== undefined) response.setHeader('X-ClickHouse-Exception-Code', String(e.code));
  sendText(response, status, `${e.text}\n`, head);
}
