/**
 * Splitting the parts of a view query the engine printed (system.tables
 * normal form) at the top level: outside quotes, parentheses and brackets.
 * Used once, where a target's query text comes in; the result is only a
 * proposal that pull.ts proves by compiling it and comparing on the engine.
 */
import { scanTopLevel } from '../sql/parse.js';

/** `a, f(b, c)` by ',' → [a, f(b, c)]; `(x) AND (y OR z)` by 'AND' → [(x), (y OR z)]. */
export function splitTopLevel(text: string, separator: ',' | 'AND'): string[] {
  const parts: string[] = [];
  let start = 0;
  scanTopLevel(text, (i, depth) => {
    if (depth !== 0 || i < start) return;
    if (separator === ',' && text[i] === ',') {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    } else if (separator === 'AND' && /\s/.test(text[i - 1] ?? '') && text.slice(i, i + 3).toUpperCase() === 'AND' && /\s/.test(text[i + 3] ?? '')) {
      parts.push(text.slice(start, i).trim());
      start = i + 3;
    }
  });
  parts.push(text.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

/** `(a AND b)` → `a AND b`; `(a) AND (b)` stays as it is. */
export function stripOuterParens(text: string): string {
  let t = text.trim();
  for (;;) {
    if (!t.startsWith('(') || !t.endsWith(')')) return t;
    let closesAt = -1;
    scanTopLevel(t, (i, depth) => {
      if (closesAt < 0 && depth === 0 && t[i] === ')') closesAt = i;
    });
    if (closesAt !== t.length - 1) return t;
    t = t.slice(1, -1).trim();
  }
}
