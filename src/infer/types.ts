/**
 * ClickHouse type names as the engine writes them (`Array(Tuple(qty Int64,
 * sku String))`), read into a tree once, so a named Tuple's elements can be
 * put back in the order the messages give their keys: the engine's schema
 * inference lists an object's keys alphabetically, and a YAML a person reviews
 * reads best in the messages' own order. Pure.
 */

/** A type: its name, and its arguments (types, named elements of a Tuple, or literals such as a precision). */
export interface TypeNode {
  readonly name: string;
  readonly args?: readonly TypeArg[];
}

export type TypeArg = { readonly kind: 'type'; readonly element?: string; readonly type: TypeNode } | { readonly kind: 'literal'; readonly text: string };

/** The keys of JSON objects in the order first seen, per key their own nested order (arrays: their elements'). */
export interface KeyOrder {
  readonly keys: string[];
  readonly nested: Map<string, KeyOrder>;
}

export function emptyOrder(): KeyOrder {
  return { keys: [], nested: new Map() };
}

/** Merge a JSON value's object keys, in order, into `order`. */
export function learnOrder(order: KeyOrder, value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) learnOrder(order, item);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    if (!order.keys.includes(key)) order.keys.push(key);
    let child = order.nested.get(key);
    if (!child) order.nested.set(key, (child = emptyOrder()));
    learnOrder(child, inner);
  }
}

/** Split `text` at top-level commas (outside brackets, quotes and backquotes). */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '`' || ch === '"') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const ELEMENT = /^(`(?:[^`\\]|\\.)*`|[A-Za-z_][A-Za-z0-9_]*)\s+(?=[A-Za-z_])/;

/** A type name as the engine writes it; undefined for text that is not one. */
export function parseType(text: string): TypeNode | undefined {
  const trimmed = text.trim();
  const name = NAME.exec(trimmed)?.[0];
  if (!name) return undefined;
  const rest = trimmed.slice(name.length).trim();
  if (rest === '') return { name };
  if (!rest.startsWith('(') || !rest.endsWith(')')) return undefined;
  const args: TypeArg[] = [];
  for (const part of splitTopLevel(rest.slice(1, -1))) {
    if (!/^[A-Za-z_`]/.test(part)) {
      args.push({ kind: 'literal', text: part });
      continue;
    }
    const element = name === 'Tuple' ? ELEMENT.exec(part) : null;
    const type = parseType(element ? part.slice(element[0].length) : part);
    if (!type) return undefined;
    args.push({ kind: 'type', ...(element ? { element: element[1] as string } : {}), type });
  }
  return { name, args };
}

export function renderType(node: TypeNode): string {
  if (!node.args) return node.name;
  return `${node.name}(${node.args.map((a) => (a.kind === 'literal' ? a.text : `${a.element !== undefined ? `${a.element} ` : ''}${renderType(a.type)}`)).join(', ')})`;
}

/** An element's key: its name without backquotes. */
function keyOf(element: string): string {
  return element.startsWith('`') ? element.slice(1, -1).replace(/\\(.)/g, '$1') : element;
}

/** The named Tuples of `node` with their elements in the order of `order` (keys never seen keep their place after those seen). */
export function inMessageOrder(node: TypeNode, order: KeyOrder): TypeNode {
  if (!node.args) return node;
  const args = node.args.map((a): TypeArg => {
    if (a.kind !== 'type') return a;
    const inner = a.element !== undefined ? order.nested.get(keyOf(a.element)) : order;
    return { ...a, type: inner ? inMessageOrder(a.type, inner) : a.type };
  });
  if (node.name !== 'Tuple' || !args.every((a) => a.kind === 'type' && a.element !== undefined)) return { ...node, args };
  const rank = (a: TypeArg) => {
    const i = a.kind === 'type' && a.element !== undefined ? order.keys.indexOf(keyOf(a.element)) : -1;
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return { ...node, args: [...args].sort((x, y) => rank(x) - rank(y)) };
}

/** A column's type with its named Tuples in message order; the type as it was when it cannot be read. */
export function typeInMessageOrder(type: string, order: KeyOrder): string {
  if (!type.includes('Tuple(')) return type;
  const node = parseType(type);
  return node ? renderType(inMessageOrder(node, order)) : type;
}
