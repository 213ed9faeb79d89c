/**
 * What the compiler must ask a real ClickHouse: which types and functions
 * exist, what type an expression has. The compiler stays pure: it is handed an
 * Oracle (the embedded engine in `check/`) and never does I/O itself.
 */
export interface EngineProblem {
  readonly message: string;
  /** The engine's own "Maybe you meant" suggestion, if any. */
  readonly hint?: string;
}

export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: EngineProblem };

export interface DescribedColumn {
  readonly name: string;
  readonly type: string;
}

export interface Oracle {
  /** The type as the engine normalizes it, or why it is not a type. */
  normalizeType(type: string): Answer<string>;
  /** Output columns of a SELECT (`DESCRIBE (select)`), or the engine's error. */
  describe(select: string): Answer<readonly DescribedColumn[]>;
  /** Format names usable for reading (input) and writing (output). */
  formats(): { readonly input: ReadonlySet<string>; readonly output: ReadonlySet<string> };
  /** Names of aggregate functions and their aliases. */
  aggregateFunctions(): ReadonlySet<string>;
  /** Names of the settings a MergeTree-family table accepts (system.merge_tree_settings). */
  tableSettings(): ReadonlySet<string>;
}
