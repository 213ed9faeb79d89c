/** `${VAR}` and `${VAR:-default}` expansion. Pure: the environment is passed in. */
export interface Expanded {
  readonly value: string;
  /** Variables referenced without a default and not set. */
  readonly missing: readonly string[];
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function expandEnv(text: string, env: Readonly<Record<string, string | undefined>>): Expanded {
  const missing: string[] = [];
  const value = text.replace(REFERENCE, (_all, name: string, fallback: string | undefined) => {
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
