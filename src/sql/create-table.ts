/**
 * Reading a CREATE (or ATTACH) TABLE statement back: which table it makes and
 * its ENGINE clause in the shape `system.tables.engine_full` has, so the
 * table can be read into the model the way a live server's tables are
 * (`kafkaTableFromEngine` in inspect/). Works on statements the engine
 * normalized (`formatQuerySingleLine`) and on the `.sql` files an engine keeps
 * in its metadata folder (`ATTACH TABLE _ UUID '…' (…) ENGINE = … COMMENT '…'`). Pure.
 */
import { readIdentifier, scanTopLevel, skipQuoted, statementTarget, stripComments } from './parse.js';

export interface CreatedTable {
  /** Absent: the statement does not name one (the request's current database). */
  readonly database?: string;
  readonly name: string;
  /** `IF NOT EXISTS`: a table of that name already there is kept as it is. */
  readonly ifNotExists: boolean;
  /** Wrapped in EXPLAIN (AST, SYNTAX, …): read, never run. */
  readonly explained: boolean;
  /** The engine clause without `ENGINE =`, e.g. `Kafka SETTINGS kafka_topic_list = 't', …`; absent when the statement has none. */
  readonly engineFull?: string;
  /** The engine's name (`Kafka`, `MergeTree`, …), when there is an engine clause. */
  readonly engine?: string;
}

/** The table a CREATE / ATTACH TABLE statement makes (possibly under EXPLAIN), or undefined for any other statement. */
export function readCreateTable(sql: string): CreatedTable | undefined {
  let text = collapseSpace(stripComments(sql)).replace(/[\s;]+$/, '');
  let explained = false;
  const explain = readIdentifier(text, 0);
  if (explain?.name.toUpperCase() === 'EXPLAIN') {
    explained = true;
    text = text.slice(explain.end).trimStart();
    const kind = readIdentifier(text, 0);
    if (kind && ['AST', 'SYNTAX'].includes(kind.name.toUpperCase())) text = text.slice(kind.end).trimStart();
  }
  const target = statementTarget(text);
  if ((target.verb !== 'CREATE' && target.verb !== 'ATTACH') || target.objectKind !== 'TABLE' || target.name === undefined) return undefined;
  const head = text.slice(0, target.nameStart).toUpperCase();
  const engineAt = topLevelKeyword(text, target.nameEnd ?? 0, 'ENGINE');
  let engineFull: string | undefined;
  if (engineAt !== undefined) {
    let start = engineAt + 'ENGINE'.length;
    while (text[start] === ' ') start++;
    if (text[start] === '=') start++;
    const end = topLevelKeyword(text, start, 'COMMENT') ?? topLevelKeyword(text, start, 'AS') ?? text.length;
    engineFull = text.slice(start, end).trim();
  }
  return {
    ...(target.database !== undefined ? { database: target.database } : {}),
    name: target.name,
    ifNotExists: head.includes('IF NOT EXISTS'),
    explained,
    ...(engineFull !== undefined ? { engineFull } : {}),
    ...(engineFull !== undefined && readIdentifier(engineFull, 0) ? { engine: readIdentifier(engineFull, 0)?.name } : {}),
  };
}

/** Runs of whitespace outside quotes become one space. */
function collapseSpace(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] as string;
    if (ch === "'" || ch === '"' || ch === '`') {
      const end = skipQuoted(sql, i);
      out += sql.slice(i, end);
      i = end;
    } else if (/\s/.test(ch)) {
      while (i < sql.length && /\s/.test(sql[i] as string)) i++;
      out += ' ';
    } else {
      out += ch;
      i++;
    }
  }
  return out.trim();
}

/** Offset of the keyword as a whole word outside quotes and brackets, at or after `from`. */
function topLevelKeyword(text: string, from: number, keyword: string): number | undefined {
  return scanTopLevel(
    text,
    // A word is read at its first letter only.
    (i, depth) => depth === 0 && /[A-Za-z_]/.test(text[i] as string) && !/[A-Za-z0-9_]/.test(text[i - 1] ?? ' ') && readIdentifier(text, i)?.name.toUpperCase() === keyword,
    from,
  );
}
