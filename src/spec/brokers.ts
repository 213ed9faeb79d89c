/**
 * Kafka broker lists: one reading for every command. A list as chpipe.yaml or
 * a Kafka table names it (`kafka_broker_list`: `host:port,host:port`, with
 * `${VAR}` / `${VAR:-default}` references) is resolved here, from the
 * environment, into addresses that are each `HOST:PORT`; anything else is a
 * problem in one sentence with the address to write instead. Pure: the
 * environment is passed in, no Kafka client is loaded.
 */
import { expandEnv } from './env.js';

/** Broker addresses from a kafka_broker_list value (as written; see `resolveBrokers` to fill in and check it). */
export function brokerList(brokers: string): string[] {
  return brokers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

export type ResolvedBrokers =
  | { readonly ok: true; readonly brokers: readonly string[] }
  | { readonly ok: false; readonly problem: string; /** Variables the list needs that are not set (no default). */ readonly missing: readonly string[] };

/** A broker list with its `${VAR}` references filled in from `env`, each address checked (see `brokerAddressProblem`). */
export function resolveBrokers(text: string, env: Readonly<Record<string, string | undefined>>): ResolvedBrokers {
  const expanded = expandEnv(text, env);
  if (expanded.missing.length) {
    const names = expanded.missing.map((v) => `\${${v}}`).join(', ');
    return { ok: false, problem: `the Kafka brokers ${text} need ${names}, which ${expanded.missing.length > 1 ? 'are' : 'is'} not set; set ${expanded.missing.length > 1 ? 'them' : 'it'} (e.g. export ${expanded.missing[0]}=localhost:9092)`, missing: expanded.missing };
  }
  const brokers = brokerList(expanded.value);
  if (!brokers.length) return { ok: false, problem: `no Kafka brokers are named${text.trim() ? ` (${text} is empty once filled in)` : ''}`, missing: [] };
  for (const address of brokers) {
    const problem = brokerAddressProblem(address);
    if (problem) return { ok: false, problem: text === expanded.value ? problem : `${problem} (from ${text})`, missing: [] };
  }
  return { ok: true, brokers };
}

/**
 * The problems of a list as written in a file, checked without the environment: each address, with the
 * defaults of its references filled in; a list that names a variable without a default is checked where
 * it is used (the environment decides it), not here.
 */
export function writtenBrokersProblem(text: string): string | undefined {
  const expanded = expandEnv(text, {});
  if (expanded.missing.length) return undefined;
  const resolved = resolveBrokers(text, {});
  return resolved.ok ? undefined : resolved.problem;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/;
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?):(\d+)$/;

/** Why an address is not `HOST:PORT` (a host name or IP address, `[v6]` in brackets, and a port 1–65535), with what to write; undefined when it is. */
export function brokerAddressProblem(address: string): string | undefined {
  const scheme = SCHEME.exec(address);
  if (scheme) {
    const rest = (scheme[2] ?? '').replace(/\/.*$/, '');
    return `the Kafka broker address ${address} has a scheme (${scheme[1]}://); a broker is HOST:PORT, so write ${rest || 'localhost:9092'}`;
  }
  const m = HOST_PORT.exec(address);
  if (m) {
    const port = Number(m[2]);
    return port >= 1 && port <= 65535 ? undefined : `the Kafka broker address ${address} has port ${m[2]}, which is not a port (1 to 65535)`;
  }
  if (/^([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])$/.test(address)) return `the Kafka broker address ${address} has no port; write HOST:PORT, e.g. ${address}:9092`;
  return `the Kafka broker address ${address} is not HOST:PORT (a host name or IP address, a colon and a port, e.g. localhost:9092); separate several brokers with commas`;
}
