/**
 * An engine process: the embedded ClickHouse (chdb) as a target on one data
 * directory, answering requests from the process that started it
 * (`ProcessDriver` in `process.ts`). This process holds the target role only;
 * it never runs a scratch engine.
 *
 *   node dist/engine/engine-process.js --data-dir DIR [--config-file FILE]
 *
 * The protocol is newline-delimited JSON over stdin/stdout (described in
 * `process.ts`). Nothing else is written to stdout: console output goes to
 * stderr. End of stdin means "close": the requests already received are
 * answered, the session is closed and the process exits 0; the same happens
 * when the parent dies, since its end of the pipe closes. SIGTERM closes the
 * session and exits at once. SIGINT is ignored: a terminal's Ctrl-C reaches
 * the whole process group, and the parent decides when its engine stops.
 */
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EmbeddedDriver } from './embedded.js';
import type { EngineOutputFormat } from './driver.js';

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
let stopping = false;

async function stop(code: number): Promise<never> {
  stopping = true;
  try {
    await driver?.close();
  } catch {
    // exiting anyway
  }
  process.exit(code);
}

process.on('SIGINT', () => {});
process.on('SIGTERM', () => void stop(0));

const FORMATS: readonly EngineOutputFormat[] = ['JSONEachRow', 'TSV'];

interface Request {
  readonly id: number;
  readonly sql: string;
  readonly format: EngineOutputFormat;
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
  const { id, sql, format } = value as Message;
  if (typeof id !== 'number' || !Number.isInteger(id)) return { id: null, error: 'invalid request: "id" must be an integer' };
  if (typeof sql !== 'string') return { id, error: 'invalid request: "sql" must be a string' };
  if (typeof format !== 'string' || !(FORMATS as readonly string[]).includes(format)) return { id, error: `invalid request: "format" must be one of ${FORMATS.join(', ')}` };
  return { id, sql, format: format as EngineOutputFormat };
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
    const answer = await driver.answer(request.sql, request.format);
    send(answer.ok ? { id: request.id, ok: true, text: answer.text } : { id: request.id, ok: false, error: answer.error });
  }
  busy = false;
  if (inputEnded && !stopping) await stop(0);
}

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  let newline: number;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, newline).trim();
    pending = pending.slice(newline + 1);
    if (line) queue.push(line);
  }
  void pump();
});
process.stdin.on('end', () => {
  if (pending.trim()) queue.push(pending.trim());
  pending = '';
  inputEnded = true;
  void pump();
});

async function start(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, 'config-file': { type: 'string' } }, strict: true });
  const dataDir = values['data-dir'];
  if (!dataDir) throw new Error('--data-dir is required');
  mkdirSync(dataDir, { recursive: true });
  const configFile = values['config-file'];
  driver = await EmbeddedDriver.open(dataDir, configFile !== undefined ? { configFile } : {});
  const version = await driver.answer('SELECT version()', 'TSV');
  if (!version.ok) throw new Error(version.error);
  send({ ready: true, version: version.text.trim() });
}

start().then(
  () => void pump(),
  (e: unknown) => {
    send({ ready: false, error: errorText(e) });
    void stop(1);
  },
);
