/**
 * The target a command acts on: a server over HTTP when one is named
 * (`--url`, `--env NAME`, `CHPIPE_URL`), else the embedded target in the
 * project's `.chpipe/`: through the `chpipe serve` / `chpipe dev` process that
 * holds it, if one runs, or in an engine process of this command's own, which
 * holds `.chpipe/` until it is released (nothing ever opens it twice).
 */
import type { KafkaConsumerFacts } from '../sql/dev.js';
import { toEngineError, type Driver } from './driver.js';
import { writeEngineConfig } from './engine-config.js';
import { HttpDriver, resolveTargetUrl } from './http.js';
import { ProcessDriver } from './process.js';
import { openEmbeddedTarget, servingTarget } from './target.js';

export interface TargetConnection {
  readonly driver: Driver;
  /** For messages: the URL without credentials, or the data folder (and who serves it). */
  readonly description: string;
  /** Close the connection; an embedded target's engine process stops and `.chpipe/` is free again. */
  release(): Promise<void>;
}

export interface ConnectArgs {
  readonly url?: string | undefined;
  readonly env?: string | undefined;
  readonly environments?: Readonly<Record<string, { readonly url?: string | undefined }>>;
  readonly processEnv: Readonly<Record<string, string | undefined>>;
  /** The embedded default's data folder, and how to name it in messages. */
  readonly dataDir: string;
  readonly dataDisplay: string;
  /** What this command is, recorded as the data folder's holder (e.g. `apply`). */
  readonly command: string;
  /** How long to wait for another command that holds the data folder, in milliseconds. */
  readonly waitMs: number;
  readonly onWait?: (holder: string) => void;
  /**
   * The project's declared Kafka tables (`declaredConsumers`): with those in the data folder, they decide
   * the static membership of the engine this command starts on it (the same config `chpipe serve` writes).
   */
  readonly declared?: readonly KafkaConsumerFacts[];
  /** The project is in cluster mode: its engine may run cluster() and clusterAllReplicas() (status, a rebuild's copy). */
  readonly cluster?: boolean;
}

/**
 * A statement's output in a ClickHouse output format (`PrettyCompact`, `CSVWithNames`, …; a FORMAT clause
 * in the statement wins), as the target answers it: what `chpipe query` prints. An engine error is an
 * `EngineError`, as for any statement.
 */
export async function statementOutput(driver: Driver, sql: string, format: string): Promise<string> {
  if (driver instanceof HttpDriver) return driver.output(sql, format);
  if (driver instanceof ProcessDriver) {
    const reply = await driver.request({ sql, format });
    if (!reply.ok) throw toEngineError(sql, reply.error);
    return reply.output.toString('utf8');
  }
  throw new Error(`internal error: chpipe query runs on a server or the embedded target, not a ${driver.kind} driver`);
}

/** Consumer threads for at least this many Kafka tables, as `chpipe serve` gives its engine. */
const ONE_SHOT_KAFKA_TABLES = 16;

/** Is a target named (anything but the embedded default)? */
export function namesTarget(args: Pick<ConnectArgs, 'url' | 'env' | 'processEnv'>): boolean {
  return args.url !== undefined || args.env !== undefined || Boolean(args.processEnv.CHPIPE_URL);
}

export async function connectTarget(args: ConnectArgs): Promise<TargetConnection> {
  const named = resolveTargetUrl({ url: args.url, env: args.env, environments: args.environments, processEnv: args.processEnv });
  if (named) {
    const driver = await HttpDriver.connect(named.url, {
      ...(named.user !== undefined ? { user: named.user } : {}),
      ...(named.password !== undefined ? { password: named.password } : {}),
      ...(named.caFile !== undefined ? { caFile: named.caFile } : {}),
    });
    return { driver, description: named.url, release: () => driver.close() };
  }
  const serving = servingTarget(args.dataDir);
  if (serving) {
    const driver = await HttpDriver.connect(serving.url, serving.password !== undefined ? { user: 'default', password: serving.password } : {});
    return { driver, description: `${args.dataDisplay} (served by \`chpipe ${serving.command}\` at ${serving.url})`, release: () => driver.close() };
  }
  const held = await openEmbeddedTarget(args.dataDir, {
    command: args.command,
    waitMs: args.waitMs,
    // The engine consumes while this command runs: the same config as serve's (session timeout, static membership, pool).
    configure: () => ({ configFile: writeEngineConfig(args.dataDir, { kafkaTables: ONE_SHOT_KAFKA_TABLES, consumers: args.declared ?? [], access: { clusterFunctions: args.cluster === true } }).file }),
    ...(args.onWait ? { onWait: (h: { command: string; pid: number } | undefined) => args.onWait?.(h ? `chpipe ${h.command} (pid ${h.pid})` : 'another chpipe') } : {}),
  });
  return { driver: held.driver, description: args.dataDisplay, release: () => held.release() };
}
