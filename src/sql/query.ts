/**
 * A view's SELECT, as the engine normalized it (system.tables.as_select, one
 * line), split into its parts: the output columns with their expressions, FROM,
 * ARRAY JOIN, WHERE and GROUP BY. Read once, at the edge where the text comes in (inspect),
 * so the planner compares typed parts, never text. A query of another shape
 * (JOIN, UNION, HAVING, ...) is not split: the planner then treats any change
 * of it as a change of meaning.
 */
import type { SelectParts } from '../model/model.js';
import { readIdentifier, scanTopLevel } from './parse.js';

const CLAUSES = ['FROM', 'ARRAY JOIN', 'WHERE', 'GROUP BY'] as const;
const UNSUPPORTED = ['JOIN', 'UNION', 'HAVING', 'ORDER BY', 'LIMIT', 'SETTINGS', 'WITH', 'LEFT ARRAY JOIN', 'QUALIFY', 'WINDOW', 'INTERSECT', 'EXCEPT', 'PREWHERE', 'SAMPLE', 'FINAL'];

/** `JOIN` as the second word of `ARRAY JOIN` (a clause of its own), not a join of tables. */
function joinOfArrayJoin(text: string, i: number): boolean {
  return text.slice(Math.max(0, i - 6), i).toUpperCase() === 'ARRAY ' && text.slice(Math.max(0, i - 11), i).toUpperCase() !== 'LEFT ARRAY ';
}

function keywordAt(text: string, i: number, keyword: string): boolean {
  if (!/\s/.test(text[i - 1] ?? ' ')) return false;
  if (text.slice(i, i + keyword.length).toUpperCase() !== keyword) return false;
  return /\s|$/.test(text[i + keyword.length] ?? '');
}

function splitItems(list: string): string[] {
  const items: string[] = [];
  let start = 0;
  scanTopLevel(list, (i, depth) => {
    if (depth === 0 && list[i] === ',') {
      items.push(list.slice(start, i).trim());
      start = i + 1;
    }
  });
  items.push(list.slice(start).trim());
  return items.filter((s) => s.length > 0);
}

/** `expr AS name` → name and expr; a bare column → its name. */
function item(text: string): SelectParts['items'][number] {
  let as = -1;
  scanTopLevel(text, (i, depth) => {
    if (depth === 0 && keywordAt(text, i, 'AS')) as = i;
  });
  const alias = as > 0 ? readIdentifier(text, as + 3) : undefined;
  const named = alias && alias.end === text.length ? { name: alias.name, expr: text.slice(0, as).trim() } : undefined;
  const bare = readIdentifier(text, 0);
  const parts = named ?? { name: bare && bare.end === text.length ? bare.name : text, expr: text };
  const canonical = canonicalItem(parts.expr);
  return canonical === parts.expr ? parts : { ...parts, canonical };
}

export function parseSelect(sql: string): SelectParts | undefined {
  const text = sql.trim().replace(/\s+/g, ' ');
  if (!/^SELECT /i.test(text) || /^SELECT DISTINCT /i.test(text)) return undefined;
  const marks: { at: number; keyword: (typeof CLAUSES)[number] }[] = [];
  let unsupported = false;
  scanTopLevel(text, (i, depth) => {
    if (depth !== 0) return;
    for (const k of UNSUPPORTED) if (keywordAt(text, i, k) && !(k === 'JOIN' && joinOfArrayJoin(text, i))) unsupported = true;
    for (const k of CLAUSES) if (keywordAt(text, i, k)) marks.push({ at: i, keyword: k });
  });
  if (unsupported) return undefined;
  const keywords = marks.map((m) => m.keyword);
  // Each clause at most once, in order: FROM [ARRAY JOIN] [WHERE] [GROUP BY].
  if (keywords[0] !== 'FROM' || new Set(keywords).size !== keywords.length || keywords.some((k, i) => i > 0 && CLAUSES.indexOf(k) < CLAUSES.indexOf(keywords[i - 1] as (typeof CLAUSES)[number]))) return undefined;
  const part = (k: string) => {
    const j = marks.findIndex((m) => m.keyword === k);
    if (j < 0) return undefined;
    const m = marks[j] as (typeof marks)[number];
    return text.slice(m.at + k.length, marks[j + 1]?.at ?? text.length).trim();
  };
  const items = splitItems(text.slice('SELECT '.length, marks[0]?.at)).map(item);
  const from = part('FROM') as string;
  const fromQuery = from.startsWith('(') && from.endsWith(')') ? parseSelect(from.slice(1, -1)) : undefined;
  const arrayJoin = part('ARRAY JOIN');
  const where = part('WHERE');
  const groupBy = part('GROUP BY');
  return { items, from, ...(fromQuery ? { fromQuery } : {}), ...(arrayJoin !== undefined ? { arrayJoin } : {}), ...(where !== undefined ? { where } : {}), ...(groupBy !== undefined ? { groupBy } : {}) };
}

/** Aggregate functions whose -SimpleState is the plain value: `sumSimpleState(x)` and `sum(x)` write the same into a SimpleAggregateFunction(sum, T) column. */
export const SIMPLE_STATE_FUNCTIONS: ReadonlySet<string> = new Set(['sum', 'min', 'max', 'any', 'anyLast']);

/** `fn(args)` as its name and argument text, when the whole expression is one call with one argument list. */
function callOf(expr: string): { fn: string; args: string } | undefined {
  const name = readIdentifier(expr, 0);
  if (!name || expr[name.end] !== '(') return undefined;
  const close = scanTopLevel(expr, (i, depth) => depth === 0 && expr[i] === ')', name.end);
  return close === expr.length - 1 ? { fn: name.name, args: expr.slice(name.end + 1, close) } : undefined;
}

/**
 * A view item's expression in the form two spellings of one computation share: `sumSimpleState(x)` (what
 * chpipe writes) and `sum(x)` (what the docs write into a SimpleAggregateFunction column) are one.
 */
function canonicalItem(expr: string): string {
  const call = callOf(expr);
  if (!call?.fn.endsWith('SimpleState')) return expr;
  const fn = call.fn.slice(0, -'SimpleState'.length);
  return SIMPLE_STATE_FUNCTIONS.has(fn) ? `${fn}(${call.args})` : expr;
}

/**
 * The engine's syntax tree of a statement, parsed and never run: two queries that differ only in redundant
 * parentheses give the same tree; a migration's preflight has the target parse its CREATE statements with it.
 */
export function explainAst(statement: string): string {
  return `EXPLAIN AST ${statement}`;
}
