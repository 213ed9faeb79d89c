/**
 * `chpipe serve`: the embedded target (the project's `.chpipe/`, or
 * `--data-dir`) behind ClickHouse's HTTP interface on 127.0.0.1, consuming
 * Kafka while it runs. It holds the data folder's `target.lock` for its
 * lifetime, with its URL recorded, so other commands reach the data through
 * it. Ctrl-C or SIGTERM stops it: the requests in flight finish, the engine
 * process closes its session (the data stays), the lock goes, exit 0.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { declaredConsumers, writeEngineConfig, type EngineConfig } from '../../engine/engine-config.js';
import { userFilesDir } from '../../engine/user-files.js';
import type { EngineInfo } from '../../engine/process.js';
import { openEmbeddedTarget, type EmbeddedTarget, type TargetOptions } from '../../engine/target.js';
import { startServer, type RunningServer } from '../../serve/server.js';
import { displayPath, makeIo, UserError, type GlobalOptions, type Io } from '../context.js';
import { parseLockTimeout } from '../target.js';
import { staticMembershipGuard } from '../../serve/guard.js';
import type { KafkaConsumerFacts } from '../../sql/dev.js';
import { loadProject } from '../project.js';

export interface ServeOptions {
  readonly port?: string;
  readonly dataDir?: string;
  readonly lockTimeout?: string;
  readonly password?: string;
  readonly allowRemoteSources?: boolean;
}

/** Where `serve --password` can come from instead (a command line is visible to every user of the machine). */
export const PASSWORD_ENV = 'CHPIPE_SERVE_PASSWORD';

/** What a server on the loopback interface lets its clients do: its password, and whether sources on other hosts are allowed. */
export interface ServeAccess {
  /** The password of user `default`; empty: none. */
  readonly password: string;
  readonly remoteSources: boolean;
}

/** `--password` / `CHPIPE_SERVE_PASSWORD` and `--allow-remote-sources`. */
export function serveAccess(options: { readonly password?: string; readonly allowRemoteSources?: boolean }, env: Readonly<Record<string, string | undefined>>): ServeAccess {
  const password = options.password ?? env[PASSWORD_ENV] ?? '';
  if (options.password === '') throw new UserError(`--password takes a non-empty password (or set ${PASSWORD_ENV})`);
  return { password, remoteSources: options.allowRemoteSources === true };
}

/** The line that says how to connect: the URL, and the user and password to send when one is required. */
export function connectionLine(url: string, access: ServeAccess): string {
  if (!access.password) return `connect to ${url} as user default, no password`;
  return `connect to ${url} as user default with the password you gave (${PASSWORD_ENV} or --password), e.g. curl -u "default:$${PASSWORD_ENV}" ${url}/ --data-binary 'SELECT 1'`;
}

const DEFAULT_PORT = 8123;
/** serve's engine gets consumer threads for at least this many Kafka tables (plus the margin). */
const SERVE_KAFKA_TABLES = 16;

/** The declared pipelines of the project whose `.chpipe/` serve runs, and whether it is in cluster mode, when it reads (an invalid project: none). */
function projectFacts(config: string): { consumers: KafkaConsumerFacts[]; cluster: boolean } {
  try {
    const { project } = loadProject(config);
    return project ? { consumers: declaredConsumers(project), cluster: project.cluster !== undefined } : { consumers: [], cluster: false };
  } catch {
    return { consumers: [], cluster: false };
  }
}
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export default async function serve(g: GlobalOptions, options: ServeOptions): Promise<number> {
  const io = await makeIo(g);
  const port = readPort(options.port);
  const access = serveAccess(options, process.env);
  const waitMs = parseLockTimeout(options.lockTimeout);
  const dataDir = resolve(options.dataDir ?? projectDataDir(g.config));

  // For its lifetime the server owns Ctrl-C and SIGTERM (the CLI's own handlers would exit at once):
  // the first stops it cleanly, a second exits at once.
  const stop = stopSignal();
  let serving: Serving | undefined;
  try {
    // The Kafka tables in the data folder and, in a project (its .chpipe/), the declared pipelines decide
    // which topics get static membership; written once the folder is held, read once by the engine.
    const { consumers, cluster } = options.dataDir === undefined ? projectFacts(g.config) : { consumers: [], cluster: false };
    const configure = () => writeEngineConfig(dataDir, { kafkaTables: Math.max(SERVE_KAFKA_TABLES, consumers.length), consumers, access: { remoteSources: access.remoteSources, clusterFunctions: cluster } });
    serving = await holdAndServe(io, { dataDir, port, waitMs, command: 'serve', stop, configure, access });
    if (!serving) return 0;
    const { info, server, shown } = serving;
    io.err(`serving ${shown} at ${server.url} (ClickHouse ${info.version}); Ctrl-C stops`);
    io.err(connectionLine(server.url, access));
    if (io.json) io.out(JSON.stringify({ url: server.url, port: server.port, dataDir, version: info.version }));
    await stop.signalled;
    await serving.close();
    io.err(`stopped; the data stays in ${shown}`);
    return 0;
  } finally {
    await serving?.close(0);
    stop.restore();
  }
}

/** A data folder held, its engine process running, and served over HTTP. */
export interface Serving {
  readonly target: EmbeddedTarget;
  readonly server: RunningServer;
  readonly info: EngineInfo;
  /** How the data folder is named in messages. */
  readonly shown: string;
  /**
   * Stop serving (requests in flight finish, up to `graceMs`), close the engine, free the folder; safe to call twice.
   * Throws a `UserError` when the engine process failed while serving.
   */
  close(graceMs?: number): Promise<void>;
}

export interface HoldOptions {
  readonly dataDir: string;
  readonly port: number;
  readonly waitMs: number;
  /** What this process runs, recorded in the folder's lock. */
  readonly command: string;
  readonly stop: StopSignal;
  /** How the engine process is started (a config file). */
  readonly engine?: TargetOptions;
  /** Write the engine's config once the folder is held (instead of `engine`); its static topics are guarded. */
  readonly configure?: () => EngineConfig;
  /** The topics the engine runs with static membership (when `engine` names a config written before). */
  readonly staticTopics?: readonly string[];
  /** The password clients must send, and whether sources on other hosts are allowed (the engine config says the same). */
  readonly access: ServeAccess;
}

/**
 * Hold the data folder (`target.lock`), start its engine process and serve it
 * on 127.0.0.1, announcing the URL in the lock; undefined when stopped while
 * starting. An engine process that dies triggers `stop`; `close()` then says so.
 */
export async function holdAndServe(io: Io, options: HoldOptions): Promise<Serving | undefined> {
  const { dataDir, port, waitMs, stop } = options;
  const shown = displayPath(dataDir);
  let staticTopics = options.staticTopics ?? [];
  const configure = options.configure;
  const opening = openEmbeddedTarget(dataDir, {
    command: options.command,
    waitMs,
    display: shown,
    onWait: (h) => io.err(`waiting for ${shown}, held by ${h ? `\`chpipe ${h.command}\` (pid ${h.pid})` : 'another chpipe'} (up to ${waitMs / 1000} s)…`),
    ...(options.engine ? { engine: options.engine } : {}),
    ...(configure
      ? {
          configure: () => {
            const config = configure();
            staticTopics = config.staticTopics;
            return { configFile: config.file };
          },
        }
      : {}),
  });
  const target = await Promise.race([opening, stop.signalled.then(() => undefined)]);
  if (!target) {
    // Stopped while starting: let the start finish, then stop what it started.
    await (await opening.catch(() => undefined))?.release();
    return undefined;
  }
  const info = target.driver.info;
  let engineFailure: Error | undefined;
  let server: RunningServer;
  try {
    server = await startServer(
      target.driver,
      { version: info.version, timezone: info.timezone ?? 'UTC', displayName: info.displayName ?? 'chpipe' },
      {
        port,
        password: options.access.password,
        reach: {
          userFiles: userFilesFolders(dataDir),
          shownUserFiles: `${displayPath(userFilesDir(dataDir))}/`,
          remoteSources: options.access.remoteSources,
          command: options.command,
        },
        // A statement that would give a topic running with static membership several consumers is refused before it runs.
        ...(staticTopics.length ? { guard: staticMembershipGuard(target.driver, staticTopics, info.version, options.command) } : {}),
        onEngineFailure: (e) => {
          engineFailure ??= e;
          stop.trigger();
        },
      },
    );
  } catch (e) {
    await target.release();
    throw new UserError(`cannot serve ${shown}: ${e instanceof Error ? e.message : String(e)}`);
  }
  target.announce(server.url, options.access.password || undefined);
  let closed: Promise<void> | undefined;
  return {
    target,
    server,
    info,
    shown,
    close: (graceMs) =>
      (closed ??= (async () => {
        try {
          await server.close(graceMs);
        } finally {
          await target.release();
        }
        if (engineFailure) throw new UserError(`stopped serving ${shown}: its engine process failed (${engineFailure.message})`);
      })()),
  };
}

/** The user files folder of a data folder (its engine process made it), and its real path when a link leads there. */
function userFilesFolders(dataDir: string): string[] {
  const folder = userFilesDir(dataDir);
  const real = realpathSync(folder);
  return real === folder ? [folder] : [folder, real];
}

/** The project's `.chpipe/` beside its chpipe.yaml. */
export function projectDataDir(config: string): string {
  if (!existsSync(config)) {
    throw new UserError(`no project file ${displayPath(config)} here or in a folder above; serve any data folder with \`chpipe serve --data-dir DIR\`, or create a project with \`chpipe init\``);
  }
  return join(dirname(resolve(config)), '.chpipe');
}

export function readPort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PORT;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UserError(`--port takes a port number from 0 to 65535 (0: any free port), not ${JSON.stringify(text)}`);
  return port;
}

export interface StopSignal {
  readonly signalled: Promise<void>;
  trigger(): void;
  restore(): void;
}

/** SIGINT/SIGTERM taken over until `restore()`: the first resolves `signalled`, a second exits at once (130/143). */
export function stopSignal(): StopSignal {
  const saved = SIGNALS.map((signal) => [signal, process.listeners(signal)] as const);
  for (const signal of SIGNALS) process.removeAllListeners(signal);
  let trigger!: () => void;
  const signalled = new Promise<void>((done) => (trigger = done));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    trigger();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return {
    signalled,
    trigger: () => {
      stopping = true;
      trigger();
    },
    restore: () => {
      for (const signal of SIGNALS) process.removeListener(signal, onSignal);
      for (const [signal, listeners] of saved) for (const listener of listeners) process.on(signal, listener as (s: NodeJS.Signals) => void);
    },
  };
}
