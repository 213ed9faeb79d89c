/**
 * commander wiring only: flags → one use-case call → one report. Every
 * command's code is imported when it runs, so `chpipe --help` loads neither
 * the embedded engine nor the YAML and schema machinery.
 *
 * `main(argv, streams)` is the whole CLI as a function (tests run it in
 * process with captured output); `runProcess()` is the executable: it adds
 * the handling of Ctrl-C and SIGTERM and sets the exit code.
 */
import { Command, CommanderError } from 'commander';
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { currentStreams, findProjectFile, reportError, runCommand, withStreams, type GlobalOptions, type Streams } from './context.js';
import { clearAllProgress } from '../report/progress.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

const EXAMPLES = `
Examples:
  $ chpipe init my-analytics          scaffold a project with one example pipeline
  $ chpipe infer orders               write schemas/orders.yaml from a sample of the topic's messages
  $ chpipe validate                   check every file, and every statement on the embedded ClickHouse
  $ chpipe compile api_latency        print the DDL of one pipeline
  $ chpipe plan                       show what a change to the YAML will do, step by step
  $ chpipe plan --save add_country    write it as the next migration
  $ chpipe plan --json | jq .steps    machine-readable plan
  $ chpipe apply                      apply the migrations to the embedded ClickHouse in .chpipe/
  $ chpipe apply --url https://user:pass@host:8443   ...or to a server (CHPIPE_URL, --env NAME)
  $ chpipe status                     applied, pending and failed migrations, and drift
  $ chpipe status --producers         ...and message fields the pipelines drop, columns the messages lack
  $ chpipe pull --env prod            adopt the Kafka pipelines a database already runs (YAML + baseline)
  $ chpipe query "SELECT count() FROM analytics.api_latency"   look at the rows on the target
  $ chpipe check                      the CI gate: chpipe.sum, schemas vs migrations (and a target's history)
  $ chpipe serve                      the embedded ClickHouse on http://127.0.0.1:8123
  $ chpipe dev                        serve, consume, and apply each saved schema change live
  $ chpipe graph > lineage.mmd        the pipelines' lineage as Mermaid (--format dot|svg|html, -o FILE)
  $ chpipe graph --target             what is on the target, drifted objects highlighted

Exit codes: 0 ok, 1 error, 2 changes (with --detailed-exitcode), 3 destructive step refused.
Docs: README.md (YAML reference), schema/*.schema.json (editor validation).`;

/** Kept here, not imported from commands/serve.ts, so that --help loads no command module. */
const PASSWORD_ENV_NAME = 'CHPIPE_SERVE_PASSWORD';

const SERVE_SAFETY = `
What is refused, and why: the endpoint answers on 127.0.0.1 only, and any web page you visit could
send it a form POST. So a request from a web page (an Origin or Sec-Fetch-Site header from another
origin, or a CORS preflight) gets 403 and runs nothing; ClickHouse clients send no Origin and are
served. file() reaches only the data folder's user_files/ (.chpipe/user_files/; a relative path is
relative to it), as a server's user_files_path; other ways to read or write local files (FROM INFILE,
fileCluster(), File engines, a Filesystem database, …) are refused. Sources on other hosts (url(),
s3(), remote(), mysql(), postgresql(), dictionaries) are refused unless --allow-remote-sources is
given. With --password (or ${PASSWORD_ENV_NAME}), user default must send that password (401 otherwise).`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes positional arguments untyped
type Action = (globals: GlobalOptions, ...args: any[]) => Promise<number>;

/** The outcome of one run: set by the command that ran. */
interface RunState {
  code: number;
}

function buildProgram(state: RunState): Command {
  /** A command's action: its module is loaded when it runs; the project file is found upward unless -c was given. */
  function run(load: () => Promise<{ default: Action }>) {
    return async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const given = command.optsWithGlobals() as GlobalOptions;
      const globals: GlobalOptions = command.getOptionValueSourceWithGlobals('config') === 'default' ? { ...given, config: findProjectFile() } : given;
      state.code = await runCommand(globals, async (g) => {
        const { default: action } = await load();
        return action(g, ...args.slice(0, -1));
      });
    };
  }

  const program = new Command('chpipe')
    .description('Schema-as-code for streaming analytics on ClickHouse + Kafka: declare pipelines in YAML, plan and apply safe migrations.')
    .version(version, '-V, --version')
    .option('-c, --config <file>', 'project file; by default the nearest chpipe.yaml in this folder or one above it', 'chpipe.yaml')
    .option('--url <url>', 'target ClickHouse (http(s)://user:password@host:8123); CHPIPE_URL also works')
    .option('--env <name>', 'target from chpipe.yaml environments')
    .option('--json', 'machine output on stdout, nothing else on stdout')
    .option('--no-color', 'no colours (NO_COLOR also works)')
    .option('--no-cache', 'ignore the memo of engine answers in .chpipe/cache (CHPIPE_NO_CACHE=1 also works)')
    .option('--debug', 'show the stack trace of an unexpected error')
    .showHelpAfterError('(run chpipe --help for usage)')
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void currentStreams().stdout.write(text),
      writeErr: (text) => void currentStreams().stderr.write(text),
    });

  program
    .command('init [dir]')
    .description('scaffold a project with one example pipeline (or, with --from-topic, a pipeline inferred from a topic)')
    .option('--from-topic <topic>', 'instead of the example, write the pipeline `chpipe infer TOPIC` writes (other infer options: --format, --name, --sample, --timeout, --brokers, --schema-registry)')
    .option('--format <format>', 'with --from-topic: the messages\' format (default: detected)')
    .option('--name <name>', 'with --from-topic: the pipeline\'s name (default: the topic\'s)')
    .option('--sample <n>', 'with --from-topic: read at most this many messages (default 500)')
    .option('--timeout <duration>', 'with --from-topic: stop reading after this long (default 10s)')
    .option('--brokers <list>', 'with --from-topic: Kafka brokers (default: KAFKA_BROKERS, else localhost:9092)')
    .option('--schema-registry <url>', 'with --from-topic: the schema registry of AvroConfluent messages (written to chpipe.yaml as kafka.schema_registry)')
    .option('--skip-invalid', 'with --from-topic: leave out the messages the format cannot parse (counted; the pipeline gets on_error: stream)')
    .action(run(() => import('./commands/init.js')));

  program
    .command('infer <topic>')
    .description('write a pipeline YAML for a topic from a sample of its recent messages (read by offset: no consumer group, nothing committed), typed by the engine\'s schema inference, then validate it')
    .option('--format <format>', 'JSONEachRow, CSV, CSVWithNames, TSV, TSVWithNames or AvroConfluent (default: detected from the messages)')
    .option('--schema-registry <url>', 'AvroConfluent: the schema registry the messages\' schema ids are read from (default: kafka.schema_registry in chpipe.yaml)')
    .option('--name <name>', 'the pipeline\'s name (default: the topic\'s)')
    .option('-o, --output <file>', 'write here (default: schemas/NAME.yaml)')
    .option('--force', 'overwrite the file if it exists')
    .option('--sample <n>', 'read at most this many messages, the most recent of each partition (default 500)')
    .option('--timeout <duration>', 'stop reading after this long, e.g. 10s (default 10s)')
    .option('--brokers <list>', 'Kafka brokers, host:port[,host:port] (default: kafka.brokers in chpipe.yaml)')
    .option('--skip-invalid', 'leave out (and count) the messages the format cannot parse, instead of stopping at the first; the pipeline then gets on_error: stream')
    .action(run(() => import('./commands/infer.js')));

  program
    .command('validate')
    .description('check YAML, JSON Schema, semantics, and run every generated statement on a scratch embedded engine (no broker is contacted)')
    .action(run(() => import('./commands/validate.js')));

  program
    .command('compile [names...]')
    .description('print the DDL that creates the declared pipelines from nothing (types and state types from the engine; `validate` also runs it)')
    .action(run(() => import('./commands/compile.js')));

  program
    .command('plan')
    .description('the ordered, risk-annotated steps from the migrated state (migrations/) to the declared state (schemas/)')
    .option('--save <name>', 'write the steps as the next migration file and update chpipe.sum')
    .option('--allow-destructive', 'let --save write destructive steps (exit 3 otherwise)')
    .option('--detailed-exitcode', 'exit 2 when there are changes')
    .option('--sql', 'show each step\'s SQL')
    .action(run(() => import('./commands/plan.js')));

  program
    .command('migrate')
    .description('work on the migrations folder')
    .command('hash')
    .description('rewrite migrations/chpipe.sum from the files on disk, after resolving a conflicting history by hand')
    .action(run(() => import('./commands/migrate.js')));

  program
    .command('apply')
    .description('apply the pending migration files to the target in order, under its lock, recorded in its history table; resumes an interrupted migration; on a cluster, first checks every host\'s macros')
    .option('-y, --yes', 'run destructive steps without asking (on a terminal apply lists them and asks; piped or in CI it never asks)')
    .option('--dry-run', 'print the SQL that would run (environment values filled in, secrets masked); change nothing')
    .option('--detailed-exitcode', 'exit 2 when there were migrations to apply')
    .option('--lock-timeout <seconds>', 'wait this long for another apply on the same target (default 60)')
    .action(run(() => import('./commands/apply.js')));

  program
    .command('status')
    .description('per migration: applied, pending or failed on the target; and drift between the target and its applied migrations (on a cluster: per host)')
    .option('--detailed-exitcode', 'exit 2 when migrations are pending or failed, the target drifted, or a Kafka table\'s lag cannot be read (its brokers are down or unreachable)')
    .option('--lock-timeout <seconds>', 'wait this long for the embedded target held by another command (default 60)')
    .option('--producers', 'also sample each ingest topic (by offset: no group, nothing committed) and name message fields no column reads and columns no message carries')
    .action(run(() => import('./commands/status.js')));

  program
    .command('query')
    .argument('[sql]', 'the statement (or -f FILE)')
    .description('run one statement on the target status reads (.chpipe/, --url, --env) and print the result: PrettyCompact on a terminal, TSVWithNames when piped, --format NAME for any ClickHouse format; --json: {schemaVersion, rows}')
    .option('-f, --file <file>', 'read the statement from this file (-: standard input)')
    .option('--format <format>', 'a ClickHouse output format, e.g. CSVWithNames, JSONEachRow, Vertical (a FORMAT clause in the statement wins)')
    .option('--lock-timeout <seconds>', 'wait this long for the embedded target held by another command (default 60)')
    .action(run(() => import('./commands/query.js')));

  program
    .command('errors')
    .argument('[pipeline]', 'one pipeline (default: every pipeline with an errors table); or `replay`')
    .argument('[replayed]', 'with replay: the pipeline whose kept messages to replay')
    .description('the latest messages the pipelines could not parse (on_error: stream keeps them in NAME_errors): when, topic/partition/offset, the error and the raw message; `errors replay PIPELINE` parses them again with today\'s declaration and inserts those that parse, each once')
    .option('--since <duration>', 'only those received in the last DURATION, e.g. 1h, 30m, 90s')
    .option('--limit <n>', 'at most this many per pipeline (default 20)')
    .option('--lock-timeout <seconds>', 'wait this long for the embedded target held by another command (default 60)')
    .action(run(() => import('./commands/errors.js')));

  program
    .command('check')
    .description('CI gate: chpipe.sum matches the files and the migrations build the declared pipelines; with a target, also no edited applied file, no drift, and the pending list')
    .option('--detailed-exitcode', 'exit 2 when migrations are pending on the target')
    .option('--lock-timeout <seconds>', 'wait this long for the embedded target held by another command (default 60)')
    .action(run(() => import('./commands/check.js')));

  program
    .command('pull')
    .description('adopt the Kafka pipelines a target already runs: one YAML file per pipeline, a baseline migration recorded as applied there, objects kept as they are')
    .option('--force', 'overwrite pipeline files that already exist')
    .option('--dry-run', 'show what would be written and adopted; change nothing')
    .option('--lock-timeout <seconds>', 'wait this long for another chpipe that holds the target (default 60)')
    .action(run(() => import('./commands/pull.js')));

  program
    .command('serve')
    .description('the embedded target (.chpipe/, or --data-dir) behind ClickHouse\'s HTTP interface on 127.0.0.1, consuming Kafka while it runs')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', '8123')
    .option('--data-dir <dir>', 'serve this data folder instead of the project\'s .chpipe/ (no project needed)')
    .option('--lock-timeout <seconds>', 'wait this long for another chpipe that holds the data folder (default 60)')
    .option('--password <password>', `require this password for user default, as a server does (better: set ${PASSWORD_ENV_NAME}, which no other user sees)`)
    .option('--allow-remote-sources', 'let statements reach other hosts: url(), s3(), remote(), mysql(), postgresql(), their table engines, dictionaries (refused otherwise)')
    .addHelpText('after', SERVE_SAFETY)
    .action(run(() => import('./commands/serve.js')));

  program
    .command('dev')
    .description('the local loop: apply migrations and the declared state to .chpipe/, serve it, consume, and apply each saved change to schemas/ live (not saved as migrations)')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', '8123')
    .option('--interval <seconds>', 'seconds between refreshes of the live view (default 1)')
    .option('--allow-destructive', 'let a live change run destructive steps (refused otherwise)')
    .option('--lock-timeout <seconds>', 'wait this long for another chpipe that holds .chpipe/ (default 60)')
    .option('--password <password>', `require this password for user default on the served endpoint (better: set ${PASSWORD_ENV_NAME})`)
    .option('--allow-remote-sources', 'let statements reach other hosts: url(), s3(), remote(), mysql(), postgresql(), their table engines, dictionaries (refused otherwise)')
    .addHelpText('after', SERVE_SAFETY)
    .action(run(() => import('./commands/dev.js')));

  program
    .command('graph')
    .description('the lineage: topics → Kafka tables → views → tables → publish topics, errors streams, aggregates; as Mermaid (default), DOT, SVG or HTML')
    .option('--format <format>', 'mermaid (paste into a GitHub README or pull request), dot, svg or html', 'mermaid')
    .option('-o, --output <file>', 'write it to FILE instead of stdout')
    .option('--target', 'draw what is on the target (--url, --env, CHPIPE_URL; default the embedded .chpipe/), drift highlighted')
    .option('--changes', 'draw only what the pending migrations and the unsaved plan change (against the target when one is named)')
    .option('--lock-timeout <seconds>', 'wait this long for the embedded target held by another command (default 60)')
    .action(run(() => import('./commands/graph.js')));

  return program;
}

/** Run the CLI on `argv` (as process.argv: node, script, args…), writing to `streams`; the exit code. */
export async function main(argv: readonly string[], streams: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  return withStreams(streams, async () => {
    const state: RunState = { code: 0 };
    try {
      await buildProgram(state).parseAsync([...argv]);
      return state.code;
    } catch (e) {
      // commander has already printed its own errors (unknown option…) and help.
      if (e instanceof CommanderError) return e.exitCode;
      return reportError(e, argv.includes('--debug'));
    } finally {
      clearAllProgress();
    }
  });
}

/** Exit codes of a run ended by a signal, as shells report them (128 + the signal's number). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * The executable. Ctrl-C and SIGTERM print "interrupted" and exit 130 / 143:
 * the statements the embedded engine is running finish (closing it mid-way
 * crashes the process), none starts after them, and exiting closes the scratch
 * engine and removes its temporary data folder. Files are written whole
 * (write, then rename) in one synchronous step, which a signal cannot split.
 * A second signal exits at once.
 */
export async function runProcess(argv: readonly string[] = process.argv): Promise<void> {
  let stopping = false;
  for (const signal of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
    process.on(signal, () => {
      const code = SIGNAL_EXIT[signal];
      if (stopping) process.exit(code);
      stopping = true;
      clearAllProgress();
      process.stderr.write('interrupted\n');
      void import('../engine/embedded.js')
        .then(({ quiesceEmbedded }) => quiesceEmbedded())
        .finally(() => process.exit(code));
    });
  }
  process.exitCode = await main(argv);
}

/** Run directly (`node dist/cli/main.js`, as the build does for the help text) rather than imported by bin/chpipe.js. */
function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntry()) await runProcess();
