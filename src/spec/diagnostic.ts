/** A problem a user can cause: a value with a code, a location and a hint. Only bugs throw. */
export interface Location {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface Diagnostic extends Location {
  readonly code: string;
  readonly message: string;
  /** What was expected, in words. */
  readonly expected?: string;
  /** A suggestion: the nearest valid name, or what to do. */
  readonly hint?: string;
}

export function diagnostic(at: Location, code: string, message: string, extra: { expected?: string; hint?: string } = {}): Diagnostic {
  const d: Diagnostic = { file: at.file, line: at.line, col: at.col, code, message };
  return Object.freeze({ ...d, ...(extra.expected ? { expected: extra.expected } : {}), ...(extra.hint ? { hint: extra.hint } : {}) });
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
}

/**
 * Edit distance, case-insensitive, counting a swap of two adjacent letters as
 * one edit (optimal string alignment): `tpye` and `tabel` are one typo away
 * from `type` and `table`.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let before: number[] = [];
  let prev = Array.from({ length: t.length + 1 }, (_, i) => i);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      let d = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (s[i - 1] === t[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[t.length] as number;
}

/** The nearest candidate when it is close enough to be a typo, else undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance || (d === bestDistance && best !== undefined && c < best)) {
      best = c;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(word.length, best.length) / 3)));
  return bestDistance <= limit ? best : undefined;
}

export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const c = closest(word, candidates);
  return c !== undefined ? `did you mean "${c}"?` : undefined;
}
