/** Types of venv.mjs (plain JavaScript so that `npm test` can run it before the build). */
export declare const ROOT: string;

export interface PythonEngine {
  /** The ClickHouse version the wheel embeds, e.g. `24.8`. */
  readonly clickhouse: string;
  /** The PyPI chdb version that embeds it, e.g. `3.3.0`. */
  readonly chdb: string;
}

/** The engines of the matrix other than the npm package's own (26.7, in process). */
export declare const PYTHON_ENGINES: readonly [PythonEngine, PythonEngine];

export interface Venv {
  readonly engine: PythonEngine;
  readonly dir: string;
  readonly python: string;
  /** The ClickHouse version the wheel embeds, read by the creation's own check. */
  readonly version: string;
  /** Seconds spent creating it in this call (0 when it was cached). */
  readonly createdInSeconds: number;
}

export declare function cacheDir(): string;
export declare function ensureVenv(engine: PythonEngine): Promise<Venv>;
export declare function allReady(): boolean;
