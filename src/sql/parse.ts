/**
 * Reading SQL text back: splitting scripts into statements, reading the
 * qualified name a statement acts on, and the `k = v` lists of engine_full.
 * Works on text the engine normalized (formatQuery, system.tables).
 */
import type { SettingValue } from '../model/model.js';

/** Split a script on top-level `;`, ignoring those in strings, quoted names and comments. */
export function splitStatements(script: string): { sql: string; offset: number }[] {
  const out: { sql: string; offset: number }[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const raw = script.slice(start, end);
    const sql = stripComments(raw).trim();
    if (sql) out.push({ sql: raw.trim(), offset: start + (raw.length - raw.trimStart().length) });
  };
  while (i < script.length) {
    const ch = script[i];
    if (ch === "'" || ch === '"' || ch === '`') {
      i = skipQuoted(script, i);
      continue;
    }
    if (ch === '-' && script[i + 1] === '-') {
      const nl = script.indexOf('\n', i);
      i = nl < 0 ? script.length : nl + 1;
      continue;
    }
    if (ch === '/' && script[i + 1] === '*') {
      const end = script.indexOf('*/', i + 2);
      i = end < 0 ? script.length : end + 2;
      continue;
    }
    if (ch === ';') {
      push(i);
      start = i + 1;
    }
    i++;
  }
  push(script.length);
  return out;
}

/** Remove `--` line comments and block comments outside strings. */
export function stripComments(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === '`') {
      const end = skipQuoted(sql, i);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
    } else if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** The index just past the quoted string, name or identifier that opens at `open` (doubled quotes and backslash escapes inside). */
export function skipQuoted(text: string, open: number): number {
  const quote = text[open];
  let i = open + 1;
  while (i < text.length) {
    if (text[i] === '\\') i += 2;
    else if (text[i] === quote) {
      if (text[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return text.length;
}

/** A comma-separated list of literals (`'text'`, numbers), as an engine's positional arguments are printed; undefined for anything else. */
export function parseLiteralList(text: string): SettingValue[] | undefined {
  const out: SettingValue[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  for (skipSpace(); i < text.length; ) {
    if (text[i] === "'") {
      const end = skipQuoted(text, i);
      out.push(unescape(text.slice(i + 1, end - 1), "'"));
      i = end;
    } else {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i));
      if (!m) return undefined;
      out.push(Number(m[0]));
      i += m[0].length;
    }
    skipSpace();
    if (i < text.length && text[i] !== ',') return undefined;
    i++;
    skipSpace();
  }
  return out;
}

/**
 * Walks `text` from `from` on, outside quoted strings and names: calls `visit` for every other character with
 * the depth of parentheses and brackets after it (`(` and `[` open, `)` and `]` close), so depth 0 is the top
 * level. `visit` returns true to stop there: the result is that index (undefined when it never stopped).
 */
export function scanTopLevel(text: string, visit: (i: number, depth: number) => boolean | void, from = 0): number | undefined {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "'" || ch === '"' || ch === '`') {
      i = skipQuoted(text, i) - 1;
      continue;
    }
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    if (visit(i, depth) === true) return i;
  }
  return undefined;
}

/** The text between quotes: backslash escapes, and a doubled quote (`a``b`, 'it''s') stands for one. */
function unescape(body: string, quote: string): string {
  return body.replace(/\\(.)|(['"`])\2/gs, (m, c: string | undefined, doubled: string | undefined) => {
    if (c !== undefined) return ({ n: '\n', r: '\r', t: '\t', '0': '\0' })[c] ?? c;
    return doubled === quote ? doubled : m;
  });
}

/** Read one identifier (plain or backquoted) at `pos`. */
export function readIdentifier(text: string, pos: number): { name: string; end: number } | undefined {
  if (text[pos] === '`' || text[pos] === '"') {
    const end = skipQuoted(text, pos);
    return { name: unescape(text.slice(pos + 1, end - 1), text[pos] as string), end };
  }
  const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos));
  return m ? { name: m[0], end: pos + m[0].length } : undefined;
}

/** Read `db.name` or `name` at `pos`. */
export function readQualifiedName(text: string, pos: number): { database?: string; name: string; end: number } | undefined {
  const first = readIdentifier(text, pos);
  if (!first) return undefined;
  if (text[first.end] === '.') {
    const second = readIdentifier(text, first.end + 1);
    if (second) return { database: first.name, name: second.name, end: second.end };
  }
  return { name: first.name, end: first.end };
}

/** What a normalized statement acts on: `CREATE TABLE IF NOT EXISTS db.t ...` → CREATE TABLE, db.t. */
export interface StatementTarget {
  readonly verb: 'CREATE' | 'DROP' | 'DETACH' | 'ATTACH' | 'ALTER' | 'RENAME' | 'EXCHANGE' | 'INSERT' | 'OTHER';
  readonly objectKind?: 'TABLE' | 'VIEW' | 'MATERIALIZED VIEW' | 'DATABASE' | 'DICTIONARY';
  readonly database?: string;
  readonly name?: string;
  /** Offsets of the name in the text, to rewrite it. */
  readonly nameStart?: number;
  readonly nameEnd?: number;
}

// The object kind must end at a word boundary: `EXCHANGE TABLES a AND b` is not TABLE + a name `S`.
const HEAD = /^(CREATE(?: OR REPLACE)?|DROP|DETACH|ATTACH|ALTER|RENAME|EXCHANGE|INSERT INTO)\s+(TEMPORARY\s+)?(?:(TABLE|MATERIALIZED VIEW|VIEW|DATABASE|DICTIONARY|TABLES)(?![A-Za-z0-9_]))?\s*(IF NOT EXISTS\s+|IF EXISTS\s+)?/i;

export function statementTarget(sql: string): StatementTarget {
  const m = HEAD.exec(sql);
  if (!m) return { verb: 'OTHER' };
  const verbWord = (m[1] as string).toUpperCase();
  const verb = (verbWord.startsWith('CREATE') ? 'CREATE' : verbWord === 'INSERT INTO' ? 'INSERT' : verbWord) as StatementTarget['verb'];
  const kindWord = m[3]?.toUpperCase();
  const objectKind = kindWord === 'TABLES' ? 'TABLE' : (kindWord as StatementTarget['objectKind']);
  const nameStart = m[0].length;
  const q = readQualifiedName(sql, nameStart);
  if (!q) return { verb, ...(objectKind ? { objectKind } : {}) };
  return { verb, ...(objectKind ? { objectKind } : {}), ...(q.database !== undefined ? { database: q.database } : {}), name: q.name, nameStart, nameEnd: q.end };
}

/** Parse `k = 'v', n = 1` (as in engine_full) into an ordered map. */
export function parseSettingsList(text: string): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /[\s,]/.test(text[i] as string)) i++;
  };
  skipSpace();
  while (i < text.length) {
    const key = readIdentifier(text, i);
    if (!key) break;
    i = key.end;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') break;
    i++;
    while (text[i] === ' ') i++;
    if (text[i] === "'") {
      const end = skipQuoted(text, i);
      out[key.name] = unescape(text.slice(i + 1, end - 1), "'");
      i = end;
    } else {
      const m = /^[^,]+/.exec(text.slice(i));
      const raw = (m?.[0] ?? '').trim();
      out[key.name] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
      i += m?.[0].length ?? 0;
    }
    skipSpace();
  }
  return out;
}

/**
 * Split a MergeTree engine_full into its clauses:
 * `ReplacingMergeTree(v) PARTITION BY p ORDER BY k TTL t SETTINGS s` → { engine, PARTITION BY, ... }.
 */
export function splitEngineClauses(engineFull: string): Record<string, string> & { engine: string } {
  const keywords = ['PARTITION BY', 'ORDER BY', 'PRIMARY KEY', 'SAMPLE BY', 'TTL', 'SETTINGS', 'COMMENT'];
  const marks: { at: number; keyword: string }[] = [];
  let depth = 0;
  for (let i = 0; i < engineFull.length; i++) {
    const ch = engineFull[i];
    if (ch === "'" || ch === '`' || ch === '"') {
      i = skipQuoted(engineFull, i) - 1;
      continue;
    }
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (depth === 0 && ch === ' ') {
      for (const k of keywords) {
        if (engineFull.startsWith(k + ' ', i + 1)) marks.push({ at: i, keyword: k });
      }
    }
  }
  const out: Record<string, string> & { engine: string } = { engine: engineFull.slice(0, marks[0]?.at ?? engineFull.length).trim() };
  marks.forEach((m, j) => {
    const end = marks[j + 1]?.at ?? engineFull.length;
    out[m.keyword] = engineFull.slice(m.at + 1 + m.keyword.length, end).trim();
  });
  return out;
}
