/**
 * Targets for the apply suite, through either driver: the embedded default
 * (the project's `.chpipe/`, opened by each chpipe command in an engine
 * process of its own) or a `chpipe serve` process reached over HTTP with
 * `--url`. The test side reads the target through the same drivers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Driver } from '../../src/engine/driver.js';
import { HttpDriver } from '../../src/engine/http.js';
import { openTarget } from '../../src/engine/target.js';
import { BIN, type CliResult } from '../helpers/cli.js';

export type Via = 'embedded' | 'http';

/** A running `chpipe serve` on a data folder. */
export interface Server {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Every chpipe process a test started and that still runs. A test that times
 * out never reaches its cleanup, so the worker kills them when it exits (a
 * killed serve's engine process sees its stdin close and exits too).
 */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function track<T extends ChildProcess>(child: T): T {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export async function startServe(dataDir: string): Promise<Server> {
  const child = track(spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => resolve(l));
    child.once('exit', (code) => reject(new Error(`chpipe serve exited with ${code}: ${stderr}`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A target of one test case: where its data lives, the CLI flags that name it, and a driver to look at it. */
export class TestTarget {
  private server: Server | undefined;
  private constructor(
    readonly via: Via,
    readonly projectDir: string,
    readonly dataDir: string,
  ) {}

  /** A target on `dataDir` (copied from `snapshot` when given), for the project in `projectDir`. */
  static async open(via: Via, projectDir: string, snapshot?: string): Promise<TestTarget> {
    const dataDir = via === 'embedded' ? join(projectDir, '.chpipe') : join(projectDir, 'served');
    rmSync(dataDir, { recursive: true, force: true });
    if (snapshot) cpSync(snapshot, dataDir, { recursive: true });
    else mkdirSync(dataDir, { recursive: true });
    const t = new TestTarget(via, projectDir, dataDir);
    if (via === 'http') t.server = await startServe(dataDir);
    return t;
  }

  /** The CLI flags that name this target. */
  get args(): string[] {
    return this.server ? ['--url', this.server.url] : [];
  }

  /** Run a chpipe command on this target (in the project folder). */
  cli(args: string[], env: Record<string, string> = {}): Promise<CliResult & { signal: NodeJS.Signals | null }> {
    return this.spawnCli(args, env);
  }

  /** Start a chpipe command without waiting for it. */
  spawnCli(args: string[], env: Record<string, string> = {}): Promise<CliResult & { signal: NodeJS.Signals | null }> {
    const child = track(spawn(process.execPath, [BIN, ...args, ...this.args], { cwd: this.projectDir, env: { ...process.env, NO_COLOR: '1', ...env } }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code: code ?? -1, stdout, stderr, signal })));
  }

  /** Look at the target: through the server, or in an engine process of the test's own while no command holds it. */
  async with<T>(body: (driver: Driver) => Promise<T>): Promise<T> {
    const driver: Driver = this.server ? await HttpDriver.connect(this.server.url) : await openTarget(this.dataDir);
    try {
      return await body(driver);
    } finally {
      await driver.close();
    }
  }

  /** Stop the server (the data stays). */
  async close(): Promise<void> {
    await this.server?.stop();
  }
}
