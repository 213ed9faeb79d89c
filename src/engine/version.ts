/**
 * ClickHouse versions: which servers chpipe accepts, and which features a
 * given server has. Pure: versions come in as the text `SELECT version()`
 * returns (`26.7.2.1`, `24.8.4.1`, `18.16.1`).
 */

/** The oldest ClickHouse chpipe applies to (see docs/engine-versions.md). */
export const MINIMUM_VERSION = '24.8';

/** A version as numbers: `24.8.4.1` → `[24, 8, 4, 1]`, at least `[major, minor]`. */
export type Version = readonly number[];

/**
 * `24.8.4.1` → `[24, 8, 4, 1]`. Anything after the dotted numbers (`-testing`, ` (official build)`,
 * `-lts`) is ignored; text that does not start with at least `MAJOR.MINOR` gives `undefined`.
 */
export function parseVersion(text: string): Version | undefined {
  const m = /^\s*v?(\d+)\.(\d+)((?:\.\d+)*)/.exec(text);
  if (!m) return undefined;
  const rest = (m[3] as string).split('.').filter((s) => s !== '');
  return [Number(m[1]), Number(m[2]), ...rest.map(Number)];
}

function asVersion(v: string | Version): Version {
  if (typeof v !== 'string') return v;
  const parsed = parseVersion(v);
  if (!parsed) throw new Error(`not a ClickHouse version: ${JSON.stringify(v)}`);
  return parsed;
}

/**
 * Negative when `a` is older than `b`, 0 when equal, positive when newer. Missing trailing parts count
 * as 0, so `24.8` equals `24.8.0.0` and is older than `24.8.4.1`: a feature that needs `24.8` is on
 * every 24.8 release.
 */
export function compareVersions(a: string | Version, b: string | Version): number {
  const x = asVersion(a);
  const y = asVersion(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Why chpipe cannot use a server of this version, as one sentence, or `undefined` when it can.
 * `target` names the server in the sentence (a URL without credentials).
 */
export function versionProblem(version: string, target?: string): string | undefined {
  const where = target ? `the target at ${target}` : 'the target';
  const parsed = parseVersion(version);
  if (!parsed) return `${where} reports ClickHouse version ${JSON.stringify(version)}, which chpipe cannot read, and chpipe needs ${MINIMUM_VERSION} or later`;
  if (compareVersions(parsed, MINIMUM_VERSION) < 0) return `${where} runs ClickHouse ${version}, and chpipe needs ${MINIMUM_VERSION} or later`;
  return undefined;
}

/**
 * Features that only some supported servers have, with the first version that has each. Gate on these
 * (`supports(version, 'dead_letter_queue')`), never on a server's error text.
 */
export const FEATURES = {
  /** `kafka_handle_error_mode = 'dead_letter_queue'` and the `system.dead_letter_queue` table. */
  dead_letter_queue: '25.8',
  /** `system.kafka_consumers`: assignments, offsets, last poll and exceptions per Kafka consumer. */
  kafka_consumers: '23.8',
} as const satisfies Record<string, string>;

export type Feature = keyof typeof FEATURES;

/** Whether a server of this version has the feature. An unreadable version has none. */
export function supports(version: string | Version, feature: Feature): boolean {
  const v = typeof version === 'string' ? parseVersion(version) : version;
  return v !== undefined && compareVersions(v, FEATURES[feature]) >= 0;
}
