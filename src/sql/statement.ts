/**
 * The shape of the one statement an HTTP request carries, read as a server's
 * HTTP interface needs it before running it: is there a statement at all, is
 * there a second one after a `;` (a server refuses multi-statements), the
 * FORMAT clause's format, whether it writes INTO OUTFILE, and where an
 * INSERT's inline data begins (everything after it is data, never SQL).
 *
 * A tokenizer of ClickHouse's lexical rules (strings, quoted names, heredocs,
 * nested comments, brackets), not a parser: the engine parses the statement.
 */

export interface StatementShape {
  /** Nothing but whitespace and comments. */
  readonly empty: boolean;
  /** The first keyword, upper-cased (`SELECT`, `INSERT`, …), if the statement starts with a word. */
  readonly keyword?: string;
  /** Offset of the `;` after which another statement follows. */
  readonly secondStatementAt?: number;
  /** The FORMAT clause's format name: the output format of a query, the input format of an INSERT. */
  readonly format?: string;
  /** A top-level INTO OUTFILE (servers refuse it over HTTP). */
  readonly intoOutfile: boolean;
  /** An INSERT's inline data: where it begins (after `FORMAT name` or at `VALUES`), and whether it is only whitespace. */
  readonly insertData?: { readonly at: number; readonly blank: boolean };
}

type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'open' | 'close' | 'semicolon' | 'other';

interface Token {
  readonly kind: TokenKind;
  readonly start: number;
  readonly end: number;
  /** Words: upper-cased. */
  readonly upper?: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const SPACE = /[ \t\n\r\f\v]/;

/** The next token at or after `pos` (whitespace and comments skipped), or undefined at the end. */
function nextToken(text: string, from: number): Token | undefined {
  let pos = skipBlank(text, from);
  if (pos >= text.length) return undefined;
  const start = pos;
  const ch = text[pos] as string;
  if (ch === "'") return { kind: 'string', start, end: skipQuotedText(text, pos) };
  if (ch === '"' || ch === '`') return { kind: 'quoted', start, end: skipQuotedText(text, pos) };
  if (ch === '$') {
    const heredoc = /^\$([A-Za-z0-9_]*)\$/.exec(text.slice(pos, pos + 256));
    if (heredoc) {
      const close = text.indexOf(heredoc[0], pos + heredoc[0].length);
      return { kind: 'string', start, end: close < 0 ? text.length : close + heredoc[0].length };
    }
  }
  if (/[0-9]/.test(ch)) {
    pos++;
    while (pos < text.length && /[0-9A-Za-z_.]/.test(text[pos] as string)) pos++;
    return { kind: 'number', start, end: pos };
  }
  if (WORD_START.test(ch)) {
    pos++;
    while (pos < text.length && WORD_PART.test(text[pos] as string)) pos++;
    return { kind: 'word', start, end: pos, upper: text.slice(start, pos).toUpperCase() };
  }
  if (ch === '(' || ch === '[' || ch === '{') return { kind: 'open', start, end: pos + 1 };
  if (ch === ')' || ch === ']' || ch === '}') return { kind: 'close', start, end: pos + 1 };
  if (ch === ';') return { kind: 'semicolon', start, end: pos + 1 };
  return { kind: 'other', start, end: pos + 1 };
}

/** Past whitespace and comments (`--`, `#` + space or `!`, nested block comments). */
function skipBlank(text: string, from: number): number {
  let pos = from;
  while (pos < text.length) {
    const ch = text[pos] as string;
    if (SPACE.test(ch)) {
      pos++;
    } else if ((ch === '-' && text[pos + 1] === '-') || (ch === '#' && (text[pos + 1] === ' ' || text[pos + 1] === '!'))) {
      const newline = text.indexOf('\n', pos);
      pos = newline < 0 ? text.length : newline + 1;
    } else if (ch === '/' && text[pos + 1] === '*') {
      let depth = 1;
      pos += 2;
      while (pos < text.length && depth > 0) {
        if (text[pos] === '/' && text[pos + 1] === '*') {
          depth++;
          pos += 2;
        } else if (text[pos] === '*' && text[pos + 1] === '/') {
          depth--;
          pos += 2;
        } else {
          pos++;
        }
      }
    } else {
      break;
    }
  }
  return pos;
}

/** Past a quoted string or name opened at `open`: backslash escapes and a doubled quote inside; an unclosed one runs to the end. */
function skipQuotedText(text: string, open: number): number {
  const quote = text[open];
  let pos = open + 1;
  while (pos < text.length) {
    const ch = text[pos];
    if (ch === '\\') {
      pos += 2;
    } else if (ch === quote) {
      if (text[pos + 1] === quote) pos += 2;
      else return pos + 1;
    } else {
      pos++;
    }
  }
  return text.length;
}

/** Read the shape of the statement in `sql` (see `StatementShape`). */
export function statementShape(sql: string): StatementShape {
  const first = nextToken(sql, 0);
  if (!first) return { empty: true, intoOutfile: false };
  const keyword = first.kind === 'word' ? first.upper : undefined;
  const insert = keyword === 'INSERT';
  const base = { empty: false, ...(keyword !== undefined ? { keyword } : {}) };
  let depth = 0;
  let format: string | undefined;
  let intoOutfile = false;
  let previous: Token | undefined;
  for (let token: Token | undefined = first; token; previous = token, token = nextToken(sql, token.end)) {
    if (token.kind === 'open') depth++;
    else if (token.kind === 'close') depth = Math.max(0, depth - 1);
    if (depth > 0) continue;
    if (token.kind === 'semicolon') {
      const second = statementAfter(sql, token.end) ? { secondStatementAt: token.start } : {};
      return { ...base, intoOutfile, ...(format !== undefined ? { format } : {}), ...second };
    }
    if (token.kind !== 'word') continue;
    const word = token.upper as string;
    const afterInto = previous?.kind === 'word' && previous.upper === 'INTO';
    if (insert && word === 'VALUES') {
      // VALUES data is made of SQL literals: a `;` followed by another statement in it is still a second statement.
      const second = secondStatement(sql, token.end);
      return { ...base, intoOutfile: false, insertData: { at: token.start, blank: false }, ...(second !== undefined ? { secondStatementAt: second } : {}) };
    }
    if (word === 'FORMAT' && !afterInto) {
      const name = nextToken(sql, token.end);
      if (name?.kind !== 'word') continue;
      if (insert) {
        // Everything after the format's name is data, whatever it looks like.
        return { ...base, intoOutfile: false, format: sql.slice(name.start, name.end), insertData: { at: name.end, blank: sql.slice(name.end).trim() === '' } };
      }
      // A FORMAT clause ends the query (but for SETTINGS); `SELECT format FROM t` names a column.
      const after = nextToken(sql, name.end);
      if (!after || after.kind === 'semicolon' || (after.kind === 'word' && after.upper === 'SETTINGS')) format = sql.slice(name.start, name.end);
      continue;
    }
    if (!insert && word === 'OUTFILE' && afterInto) intoOutfile = true;
  }
  return { ...base, intoOutfile, ...(format !== undefined ? { format } : {}) };
}

/** The offset of a top-level `;` at or after `from` that another statement follows, if any. */
function secondStatement(sql: string, from: number): number | undefined {
  let depth = 0;
  for (let token = nextToken(sql, from); token; token = nextToken(sql, token.end)) {
    if (token.kind === 'open') depth++;
    else if (token.kind === 'close') depth = Math.max(0, depth - 1);
    else if (token.kind === 'semicolon' && depth === 0) return statementAfter(sql, token.end) ? token.start : undefined;
  }
  return undefined;
}

/** Anything but more semicolons after `from` (the engine takes `SELECT 1;;` as one statement). */
function statementAfter(sql: string, from: number): boolean {
  let token = nextToken(sql, from);
  while (token?.kind === 'semicolon') token = nextToken(sql, token.end);
  return token !== undefined;
}

/** A call `name(…)` in a statement: the name as the engine reads it, and its first argument when that is one string literal. */
export interface StatementCall {
  readonly name: string;
  /** The first argument's value, when it is a single string literal (`'…'`, `$$…$$`) followed by `,` or `)`. */
  readonly firstString?: string;
}

/** What a statement may reach outside the engine's data, read token by token (the engine's grants check the rest). */
export interface StatementReach {
  /** Every `name(` in the SQL (not in an INSERT's data after FORMAT): functions, table functions, engines, dictionary sources. */
  readonly calls: readonly StatementCall[];
  /** `INSERT … FROM INFILE 'path'`: the engine reads a file of its own machine. */
  readonly fromInfile: boolean;
  /** `CREATE|ATTACH DATABASE … ENGINE = Name`: the engine's name. */
  readonly databaseEngine?: string;
}

/** Read what a statement may reach (see `StatementReach`). */
export function statementReach(sql: string): StatementReach {
  const shape = statementShape(sql);
  // After `FORMAT name` an INSERT's data is not SQL; VALUES are SQL literals and expressions, so they are read.
  const end = shape.insertData && shape.format !== undefined ? shape.insertData.at : sql.length;
  const tokens: Token[] = [];
  for (let token = nextToken(sql, 0); token && token.start < end; token = nextToken(sql, token.end)) tokens.push(token);
  const calls: StatementCall[] = [];
  let fromInfile = false;
  let databaseEngine: string | undefined;
  /** A name as the engine reads it: a word as written, a quoted name unquoted. */
  const nameOf = (t: Token): string => (t.kind === 'quoted' ? stringValue(sql.slice(t.start, t.end)) : sql.slice(t.start, t.end));
  const createsDatabase = ['CREATE', 'ATTACH'].includes(tokens[0]?.upper ?? '') && tokens.slice(1, 4).some((t) => t.upper === 'DATABASE');
  tokens.forEach((token, i) => {
    const next = tokens[i + 1];
    if ((token.kind === 'word' || token.kind === 'quoted') && next?.kind === 'open' && sql[next.start] === '(') {
      const first = tokens[i + 2];
      const after = tokens[i + 3];
      const literal = first?.kind === 'string' && after !== undefined && (sql[after.start] === ',' || sql[after.start] === ')') ? stringValue(sql.slice(first.start, first.end)) : undefined;
      calls.push({ name: nameOf(token), ...(literal !== undefined ? { firstString: literal } : {}) });
    }
    if (token.upper === 'INFILE' && tokens[i - 1]?.upper === 'FROM') fromInfile = true;
    if (createsDatabase && databaseEngine === undefined && token.upper === 'ENGINE' && next !== undefined && sql[next.start] === '=') {
      const name = tokens[i + 2];
      if (name?.kind === 'word' || name?.kind === 'quoted') databaseEngine = nameOf(name);
    }
  });
  return { calls, fromInfile, ...(databaseEngine !== undefined ? { databaseEngine } : {}) };
}

/** The characters a backslash escape stands for in ClickHouse's strings (and in TabSeparated, so in `param_*` values). */
export const STRING_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', '0': '\0', a: '\x07', v: '\v', e: '\x1b' };

/** The value of a quoted string or name as the engine reads it: escapes (`\n`, `\xHH`, `\\`, …) and doubled quotes undone; a heredoc as written. */
function stringValue(quoted: string): string {
  const heredoc = /^\$([A-Za-z0-9_]*)\$/.exec(quoted);
  if (heredoc) return quoted.slice(heredoc[0].length, quoted.length - heredoc[0].length);
  const quote = quoted[0] as string;
  const inner = quoted.slice(1, quoted.endsWith(quote) && quoted.length > 1 ? -1 : undefined);
  let value = '';
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i] as string;
    if (ch === '\\' && i + 1 < inner.length) {
      const escaped = inner[++i] as string;
      if (escaped === 'x' && /^[0-9A-Fa-f]{2}$/.test(inner.slice(i + 1, i + 3))) {
        value += String.fromCharCode(parseInt(inner.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        value += STRING_ESCAPES[escaped] ?? escaped;
      }
    } else if (ch === quote && inner[i + 1] === quote) {
      value += quote;
      i++;
    } else {
      value += ch;
    }
  }
  return value;
}
