/**
 * An engine process: the embedded ClickHouse (chdb) as a target on one data
 * directory, answering requests from the process that started it
 * (`ProcessDriver` in `process.ts`). This process holds the target role only;
 * it never runs a scratch engine.
 *
 *   node dist/engine/engine-process.js --data-dir DIR [--config-file FILE] --requests-fd 3
 *
 * The protocol is newline-delimited JSON (described in `process.ts`):
 * requests on the descriptor `--requests-fd` names (a pipe the parent opens
 * as fd 3), answers on stdout. Nothing else is written
 * to stdout: console output goes to stderr. Stdin is /dev/null and never
 * carries requests: the embedded engine reads it as more data for any INSERT
 * with inline data, and would swallow (or fail on) a request waiting there.
 * End of the request pipe means "close": the requests already received are
 * answered, the session is closed and the process exits 0; the same happens
 * when the parent dies, since its end of the pipe closes. SIGTERM closes the
 * session and exits at once (after the statement running, if any). SIGINT is
 * ignored: a terminal's Ctrl-C reaches the whole process group, and the parent
 * decides when its engine stops.
 *
 * Isolated requests (`chpipe serve`'s) each run on a chdb connection of their
 * own to the same engine, opened for the request and closed after it, as a
 * ClickHouse server gives each HTTP request a context of its own: the
 * request's settings, database and readonly, and any SET or USE it runs, never
 * reach the shared session or the next request.
 */
import { fstatSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedDriver } from './embedded.js';
import { userFilesDir } from './user-files.js';
import type { EngineOutputFormat } from './driver.js';
import { ABOUT_SERVER, setReadonly, setSettings, useDatabase } from '../sql/session.js';

type Message = Record<string, unknown>;

// stdout carries the protocol only.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

function send(message: Message): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// A parent that went away: nobody reads the answers.
process.stdout.on('error', () => process.exit(0));

let driver: EmbeddedDriver | undefined;
let dataDir: string | undefined;
let stopping = false;
/** The request being run, if any: a stop waits for it (closing the engine under a running statement crashes it). */
let running: Promise<unknown> | undefined;

async function stop(code: number): Promise<never> {
  stopping = true;
  try {
    if (running) await running.catch(() => undefined);
    await driver?.close();
  } catch {
    // exiting anyway
  }
  process.exit(code);
}

process.on('SIGINT', () => {});
process.on('SIGTERM', () => void stop(0));

/** Format, setting and parameter names: plain identifiers (the engine says whether they exist). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Request {
  readonly id: number;
  readonly sql: string;
  readonly format: string;
  /** Run on a connection of its own, with these (see process.ts). */
  readonly isolated?: {
    readonly database?: string;
    readonly settings: readonly (readonly [string, string])[];
    readonly readonly?: 1 | 2;
    readonly params?: Readonly<Record<string, string>>;
  };
}

/** `{"name":"value",...}` with identifier names and string values, as entries; or the problem. */
function readNamedStrings(value: unknown, field: string): [string, string][] | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `"${field}" must be an object of strings`;
  const entries = Object.entries(value as Message);
  for (const [name, v] of entries) {
    if (!NAME.test(name)) return `"${field}" has a name that is not an identifier: ${JSON.stringify(name)}`;
    if (typeof v !== 'string') return `"${field}.${name}" must be a string`;
  }
  return entries as [string, string][];
}

/** A request line, or the error to answer it with (and its id when one could be read). */
function readRequest(line: string): Request | { id: number | null; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { id: null, error: 'invalid request: not a JSON object on one line' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { id: null, error: 'invalid request: not a JSON object' };
  const { id, sql, format, isolated, database, settings, readonly, params } = value as Message;
  if (typeof id !== 'number' || !Number.isInteger(id)) return { id: null, error: 'invalid request: "id" must be an integer' };
  if (typeof sql !== 'string') return { id, error: 'invalid request: "sql" must be a string' };
  if (typeof format !== 'string' || !NAME.test(format)) return { id, error: 'invalid request: "format" must be a format name (an identifier)' };
  if (isolated === undefined) {
    if (database !== undefined || settings !== undefined || readonly !== undefined || params !== undefined) {
      return { id, error: 'invalid request: "database", "settings", "readonly" and "params" need "isolated": true' };
    }
    return { id, sql, format };
  }
  if (isolated !== true) return { id, error: 'invalid request: "isolated" must be true when given' };
  if (database !== undefined && (typeof database !== 'string' || database === '')) return { id, error: 'invalid request: "database" must be a non-empty string' };
  if (readonly !== undefined && readonly !== 1 && readonly !== 2) return { id, error: 'invalid request: "readonly" must be 1 or 2' };
  const settingList = settings === undefined ? [] : readNamedStrings(settings, 'settings');
  if (typeof settingList === 'string') return { id, error: `invalid request: ${settingList}` };
  const paramList = params === undefined ? undefined : readNamedStrings(params, 'params');
  if (typeof paramList === 'string') return { id, error: `invalid request: ${paramList}` };
  return {
    id,
    sql,
    format,
    isolated: {
      settings: settingList,
      ...(database !== undefined ? { database: database as string } : {}),
      ...(readonly !== undefined ? { readonly: readonly as 1 | 2 } : {}),
      ...(paramList !== undefined ? { params: Object.fromEntries(paramList) } : {}),
    },
  };
}

interface ChdbResult {
  readonly elapsed: number;
  readonly rowsRead: number;
  readonly bytesRead: number;
  bytes(): Uint8Array;
}

interface ChdbConnection {
  queryAsync(sql: string, options: { format: string }): Promise<ChdbResult>;
  queryBindAsync(sql: string, params: Record<string, string>, options: { format: string }): Promise<ChdbResult>;
  close(): void;
}

const require = createRequire(import.meta.url);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * An isolated request: a chdb connection of its own to this process's engine
 * (the shared session is open, so this one joins the running engine), the
 * request's readonly, settings and database set on it, the statement run, the
 * connection closed. The answer carries the engine's counts, and the output as
 * text, or as base64 when it is not UTF-8 (binary formats).
 */
async function runIsolated(request: Request & { isolated: NonNullable<Request['isolated']> }): Promise<Message> {
  const { id, sql, format, isolated } = request;
  const { Session } = require('chdb') as { Session: new (path: string) => ChdbConnection };
  let connection: ChdbConnection;
  try {
    connection = new Session(dataDir as string);
  } catch (e) {
    return { id, ok: false, error: `cannot open a connection to the engine: ${errorText(e)}` };
  }
  try {
    // The statements that set the request's context: readonly first (as a server does for GET), then the settings in order.
    if (isolated.readonly !== undefined) await connection.queryAsync(setReadonly(isolated.readonly), { format: 'TSV' });
    if (isolated.settings.length) await connection.queryAsync(setSettings(isolated.settings), { format: 'TSV' });
    if (isolated.database !== undefined) await connection.queryAsync(useDatabase(isolated.database), { format: 'TSV' });
    const result = isolated.params ? await connection.queryBindAsync(sql, { ...isolated.params }, { format }) : await connection.queryAsync(sql, { format });
    const bytes = result.bytes();
    const stats = { elapsedNs: Math.max(0, Math.round(result.elapsed * 1e9)), rows: result.rowsRead, bytes: result.bytesRead };
    let text: string | undefined;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = undefined;
    }
    return text !== undefined ? { id, ok: true, text, stats } : { id, ok: true, base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), stats };
  } catch (e) {
    const code = (e as { clickhouseCode?: unknown }).clickhouseCode;
    return { id, ok: false, error: errorText(e).replace(/^Query failed: /, ''), ...(typeof code === 'number' ? { code } : {}) };
  } finally {
    connection.close();
  }
}

/** A request on the shared session, answered as before isolated requests existed. */
async function runShared(active: EmbeddedDriver, request: Request): Promise<Message> {
  // Any format name reaches the engine as it is: EngineOutputFormat only lists the two chpipe itself asks for.
  const answer = await active.answer(request.sql, request.format as EngineOutputFormat);
  return answer.ok ? { id: request.id, ok: true, text: answer.text } : { id: request.id, ok: false, error: answer.error };
}

const queue: string[] = [];
let busy = false;
let inputEnded = false;

/** Requests run one after another, in the order received; answers carry their ids. */
async function pump(): Promise<void> {
  if (busy || !driver) return;
  busy = true;
  while (queue.length && !stopping) {
    const request = readRequest(queue.shift() as string);
    if (!('sql' in request)) {
      send({ id: request.id, ok: false, error: request.error });
      continue;
    }
    const work = request.isolated ? runIsolated({ ...request, isolated: request.isolated }) : runShared(driver, request);
    running = work;
    const answer = await work;
    running = undefined;
    send(answer);
  }
  busy = false;
  if (inputEnded && !stopping) await stop(0);
}

let pending = '';

/**
 * Take requests from the request channel (`--requests-fd N`, a pipe the parent
 * opened; see process.ts), never from stdin. Its end is the parent's "close".
 */
function listen(fd: number): void {
  let stat;
  try {
    stat = fstatSync(fd);
  } catch {
    throw new Error(`--requests-fd ${fd} is not open; the parent opens the request pipe there`);
  }
  if (!stat.isFIFO() && !stat.isSocket()) throw new Error(`--requests-fd ${fd} is not a pipe`);
  const requests = new Socket({ fd, readable: true, writable: false });
  requests.setEncoding('utf8');
  requests.on('error', () => undefined);
  requests.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) queue.push(line);
    }
    void pump();
  });
  requests.on('end', () => {
    if (pending.trim()) queue.push(pending.trim());
    pending = '';
    inputEnded = true;
    void pump();
  });
}

async function start(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, 'config-file': { type: 'string' }, 'requests-fd': { type: 'string' } }, strict: true });
  const requestsFd = Number(values['requests-fd']);
  if (!Number.isInteger(requestsFd) || requestsFd < 3) throw new Error('--requests-fd N is required: the descriptor (3 or above) the parent writes requests to; stdin never carries them');
  listen(requestsFd);
  const given = values['data-dir'];
  if (!given) throw new Error('--data-dir is required');
  const dir = resolve(given);
  mkdirSync(dir, { recursive: true });
  // The engine resolves a relative file() path against its working folder: make that the user files
  // folder, as a server resolves it against user_files_path (chpipe serve lets file() reach only there).
  const userFiles = userFilesDir(dir);
  mkdirSync(userFiles, { recursive: true });
  process.chdir(userFiles);
  const configFile = values['config-file'];
  driver = await EmbeddedDriver.open(dir, configFile !== undefined ? { configFile } : {});
  dataDir = driver.target;
  const about = await driver.answer(ABOUT_SERVER, 'TSV');
  if (!about.ok) throw new Error(about.error);
  const [version = '', timezone = '', displayName = ''] = about.text.replace(/\n$/, '').split('\t');
  send({ ready: true, version, timezone, displayName });
}

start().then(
  () => void pump(),
  (e: unknown) => {
    send({ ready: false, error: errorText(e) });
    void stop(1);
  },
);
