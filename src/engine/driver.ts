/** One interface over every ClickHouse chpipe talks to: the embedded engine now, HTTP servers later. */
export interface Driver {
  readonly kind: 'embedded' | 'http';
  /** A description for messages: the data path or the URL without credentials. */
  readonly target: string;
  /** Run a statement that returns no rows. */
  exec(sql: string): Promise<void>;
  /** Run a query and return its rows (JSONEachRow). */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** The server version, e.g. `26.7.2.1`. */
  version(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The target cannot be used: unreachable, unsupported version, wrong
 * credentials, missing grants, or busy. `message` is one sentence for people,
 * never with a password in it; the CLI prints it and exits 1.
 */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

/** A statement the engine refused: the engine's code and its message, cleaned for people. */
export class EngineError extends Error {
  constructor(
    readonly sql: string,
    readonly engineMessage: string,
    readonly codeName?: string,
    readonly hint?: string,
  ) {
    super(engineMessage);
    this.name = 'EngineError';
  }
}

/**
 * Turn `Code: 46. DB::Exception: Function with name `avgg` does not exist. In scope SELECT ...
 * Maybe you meant: ['avg2','avg']. (UNKNOWN_FUNCTION)` into its parts.
 */
export function parseEngineMessage(raw: string): { message: string; codeName?: string; hint?: string } {
  let text = raw.replace(/^Query failed: /, '').replace(/^Code: \d+\.\s*/, '').replace(/^DB::Exception:\s*/, '');
  const codeMatch = /\s*\(([A-Z_]+)\)\s*(\(version [^)]*\))?\s*$/.exec(text);
  const codeName = codeMatch?.[1];
  if (codeMatch) text = text.slice(0, codeMatch.index);
  let hint: string | undefined;
  const maybe = /\.?\s*Maybe you meant:?\s*\[([^\]]*)\]\.?/.exec(text);
  if (maybe) {
    const names = (maybe[1] as string).split(',').map((s) => s.trim().replace(/^'|'$/g, ''));
    hint = `did you mean ${names.map((n) => `"${n}"`).join(' or ')}?`;
    text = text.slice(0, maybe.index) + text.slice(maybe.index + maybe[0].length);
  }
  // `Syntax error: failed at position 47 (ü) (line 7, col 25): ünï != '')`: the position, line and rest are
  // those of the query chpipe built around the user's expression; keep the token, which the user wrote.
  text = text.replace(
    /^(?:([^:]*[^:\s]):\s*)?Syntax error: failed at position \d+ \((.*?)\)(?: \(line \d+, col \d+\))?: [\s\S]*?(\.\s*(?:Expected|Unmatched)[\s\S]*|\.?\s*)$/,
    (_all, what: string | undefined, token: string, tail: string) => `Syntax error at ${token === 'end of query' ? 'the end' : JSON.stringify(token)}${what ? `: ${what}` : ''}${tail.trim() ? tail : ''}`,
  );
  text = text.replace(/(Expected one of: )((?:[^,]+, ){4}[^,]+),[\s\S]*$/, '$1$2, ...');
  // The query the engine was given (`in scope SELECT ...`) is chpipe's probe, not what the user wrote.
  text = text.replace(/[.:]?\s*in scope [\s\S]*$/i, '').replace(/\s*:\s*While processing[\s\S]*$/, '').replace(/:\s*(for storage \w+)/, ' $1').replace(/\s+/g, ' ').trim();
  const result: { message: string; codeName?: string; hint?: string } = { message: text.replace(/([^.])\.$/, '$1') };
  if (codeName) result.codeName = codeName;
  if (hint) result.hint = hint;
  return result;
}

export function toEngineError(sql: string, e: unknown): EngineError {
  const parsed = parseEngineMessage(e instanceof Error ? e.message : String(e));
  return new EngineError(sql, parsed.message, parsed.codeName, parsed.hint);
}

/** The output formats chpipe asks engines for: rows as JSON lines, or plain text for statements. */
export type EngineOutputFormat = 'JSONEachRow' | 'TSV';

/** Rows of a JSONEachRow answer. */
export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.trim()) rows.push(JSON.parse(line) as T);
  return rows;
}
