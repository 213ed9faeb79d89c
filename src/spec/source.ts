import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { Location } from './diagnostic.js';

/** A YAML file kept with its parse tree so any value can be traced back to line and column. */
export interface SourceFile {
  /** Path as shown to the user (relative to the working directory when possible). */
  readonly path: string;
  readonly text: string;
  readonly doc: Document;
  readonly lines: LineCounter;
}

export type PathKey = string | number;

export function parseSource(path: string, text: string): SourceFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  return { path, text, doc, lines };
}

export function locationAt(src: SourceFile, offset: number): Location {
  const { line, col } = src.lines.linePos(offset);
  return { file: src.path, line, col };
}

/**
 * Where the value at `path` (or its key, with part = 'key') stands. Falls back
 * to the nearest existing ancestor, so a missing key points at its parent map.
 */
export function locate(src: SourceFile, path: readonly PathKey[], part: 'key' | 'value' = 'value'): Location {
  let node: unknown = src.doc.contents;
  let best: number | undefined = rangeStart(node);
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    let next: unknown;
    let keyNode: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
      if (pair) {
        keyNode = pair.key;
        next = pair.value;
      }
    } else if (isSeq(node) && typeof key === 'number') {
      next = node.items[key];
      keyNode = next;
    }
    if (keyNode === undefined && next === undefined) break;
    const last = i === path.length - 1;
    if (last && part === 'key') {
      best = rangeStart(keyNode) ?? best;
      break;
    }
    best = rangeStart(next) ?? rangeStart(keyNode) ?? best;
    node = next;
  }
  return locationAt(src, best ?? 0);
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | undefined)?.range;
  return range ? range[0] : undefined;
}

/**
 * Where `word` stands as a whole identifier inside the value at `path` (an
 * expression such as `toYYYYMM(tss)`), so an engine error about `tss` points
 * at `tss`; the value's own start when it is not found there.
 */
export function locateWord(src: SourceFile, path: readonly PathKey[], word: string): Location {
  return findWord(src, path, word) ?? locate(src, path);
}

/**
 * The first key or value under `path` in which `word` stands as a whole
 * identifier (or, with whole = false, anywhere): where the setting, column or
 * token an engine error quotes was written. Undefined when it is not there.
 */
export function findWord(src: SourceFile, path: readonly PathKey[], word: string, whole = true): Location | undefined {
  const root = path.length ? src.doc.getIn(path, true) : src.doc.contents;
  if (!root || word === '') return undefined;
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(whole ? `(?<![\\p{L}\\p{N}_])${escaped}(?![\\p{L}\\p{N}_])` : escaped, 'u');
  let found: Location | undefined;
  visit(root as Node, {
    Scalar(_, node) {
      const match = node.range ? pattern.exec(src.text.slice(node.range[0], node.range[1])) : null;
      if (match && node.range) {
        found = locationAt(src, node.range[0] + match.index);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}
