/** `${VAR}` and `${VAR:-default}` expansion. Pure: the environment is passed in. */
export interface Expanded {
  readonly value: string;
  /** Variables referenced without a default and not set. */
  readonly missing: readonly string[];
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
/** A reference as written, or in the scratch engine's inert form (see `inertReferences`). */
const ANY_REFERENCE = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\(([A-Za-z_][A-Za-z0-9_]*)(?::-([^)]*))?\))/g;

/**
 * `${VAR}` and `${VAR:-default}` filled in from `env` (an empty value counts as unset), and so is the inert
 * form `$(VAR:-default)` the scratch engine keeps them in (`inertReferences`): a declared Kafka table read
 * back from the scratch engine resolves to the same values as one a target runs.
 */
export function expandEnv(text: string, env: Readonly<Record<string, string | undefined>>): Expanded {
  const missing: string[] = [];
  const value = text.replace(ANY_REFERENCE, (_all, braced: string | undefined, bracedFallback: string | undefined, inert: string | undefined, inertFallback: string | undefined) => {
    const name = (braced ?? inert) as string;
    const fallback = braced !== undefined ? bracedFallback : inertFallback;
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return '';
  });
  return { value, missing };
}

/** The variables a text references, in order of first use. */
export function envReferences(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(REFERENCE)) if (!names.includes(m[1] as string)) names.push(m[1] as string);
  return names;
}

/**
 * Fill in the references to these variables only (migration files name the
 * variables they use), leaving any other `${...}` text as it is.
 */
export function fillReferences(text: string, names: readonly string[], env: Readonly<Record<string, string | undefined>>): Expanded {
  const missing: string[] = [];
  const value = text.replace(REFERENCE, (all: string, name: string, fallback: string | undefined) => {
    if (!names.includes(name)) return all;
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (fallback !== undefined) return fallback;
    if (!missing.includes(name)) missing.push(name);
    return '';
  });
  return { value, missing };
}

/**
 * The references with their braces turned into parentheses: `${A:-x}` → `$(A:-x)`. ClickHouse reads
 * `{name}` in Kafka settings as a server macro, so an engine that only checks statements (the scratch
 * engine, which never connects to a broker) runs them in this inert form; equal references stay equal.
 */
export function inertReferences(text: string): string {
  return text.replace(REFERENCE, (_all, name: string, fallback: string | undefined) => `$(${name}${fallback !== undefined ? `:-${fallback}` : ''})`);
}
