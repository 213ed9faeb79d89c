/**
 * commander wiring only: flags → one use-case call → one report. Every
 * command's code is imported when it runs, so `chpipe --help` loads neither
 * the embedded engine nor the YAML and schema machinery.
 */
import { Command } from 'commander';
import { createRequire } from 'node:module';
import type { GlobalOptions } from './context.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

const EXAMPLES = `
Examples:
  $ chpipe init my-analytics          scaffold a project with one example pipeline
  $ chpipe validate                   check every file, and every statement on the embedded ClickHouse
  $ chpipe compile api_latency        print the DDL of one pipeline
  $ chpipe plan                       show what a change to the YAML will do, step by step
  $ chpipe plan --save add_country    write it as the next migration
  $ chpipe plan --json | jq .steps    machine-readable plan

Exit codes: 0 ok, 1 error, 2 changes (with --detailed-exitcode), 3 destructive step refused.
Docs: README.md (YAML reference), schema/*.schema.json (editor validation).`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes positional arguments untyped
type Action = (globals: GlobalOptions, ...args: any[]) => Promise<number>;

function run(load: () => Promise<{ default: Action }>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const globals = command.optsWithGlobals() as GlobalOptions;
    const { default: action } = await load();
    const { runCommand } = await import('./context.js');
    process.exitCode = await runCommand(globals, (g) => action(g, ...args.slice(0, -1)));
  };
}

const program = new Command('chpipe')
  .description('Schema-as-code for streaming analytics on ClickHouse + Kafka: declare pipelines in YAML, plan and apply safe migrations.')
  .version(version, '-V, --version')
  .option('-c, --config <file>', 'project file', 'chpipe.yaml')
  .option('--url <url>', 'target ClickHouse (http(s)://user:password@host:8123); CHPIPE_URL also works')
  .option('--env <name>', 'target from chpipe.yaml environments')
  .option('--json', 'machine output on stdout, nothing else on stdout')
  .option('--no-color', 'no colours (NO_COLOR also works)')
  .option('--no-cache', 'ignore the memo of engine answers in .chpipe/cache (CHPIPE_NO_CACHE=1 also works)')
  .showHelpAfterError('(run chpipe --help for usage)')
  .addHelpText('after', EXAMPLES);

program
  .command('init [dir]')
  .description('scaffold a project with one example pipeline')
  .action(run(() => import('./commands/init.js')));

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

await program.parseAsync(process.argv);
