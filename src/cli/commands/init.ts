import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeIo, UserError, type GlobalOptions } from '../context.js';

const PROJECT = `# yaml-language-server: $schema=node_modules/chpipe/schema/chpipe.schema.json
version: 1
database: analytics
kafka:
  brokers: \${KAFKA_BROKERS:-localhost:9092}
schemas: schemas/
migrations: migrations/
# environments:
#   prod:
#     url: \${CLICKHOUSE_URL}
`;

const PIPELINE = `# yaml-language-server: $schema=../node_modules/chpipe/schema/pipeline.schema.json
name: api_latency
description: API response times
source:
  topic: api_latency
  format: JSONEachRow
columns:
  api_id: Int32
  time_taken: Int32
  received_at: { type: DateTime, from: _timestamp }
table:
  order_by: [api_id, received_at]
`;

/** A word for a POSIX shell: as is when it is plain, else single-quoted. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * What to run next, exactly as it works when typed (or pasted) in a shell:
 * `npx chpipe` finds chpipe installed in the project (or globally).
 */
export function nextCommand(dir?: string): string {
  const steps = 'npx chpipe validate && npx chpipe plan';
  return dir === undefined || resolve(dir) === resolve('.') ? steps : `cd ${shellWord(dir)} && ${steps}`;
}

export interface InitOptions {
  /** Write the pipeline `chpipe infer TOPIC` writes instead of the example. */
  readonly fromTopic?: string;
  readonly format?: string;
  readonly name?: string;
  readonly sample?: string;
  readonly timeout?: string;
  readonly brokers?: string;
  /** AvroConfluent: the schema registry, written into chpipe.yaml's `kafka.schema_registry`. */
  readonly schemaRegistry?: string;
  readonly skipInvalid?: boolean;
}

/** What a project keeps out of git: the embedded target's data, and the installed packages (chpipe itself, from npm). */
const GITIGNORE = '.chpipe/\nnode_modules/\n';

export default async function init(g: GlobalOptions, dir?: string, options: InitOptions = {}): Promise<number> {
  const io = await makeIo(g);
  const root = resolve(dir ?? '.');
  const projectFile = join(root, 'chpipe.yaml');
  if (existsSync(projectFile)) throw new UserError(`${projectFile} already exists; chpipe init never overwrites a project`);
  // What this run makes, so that a failed --from-topic can take it back (the folders only if it made them).
  const made = [root, join(root, 'schemas'), join(root, 'migrations')].filter((path) => !existsSync(path));
  mkdirSync(join(root, 'schemas'), { recursive: true });
  mkdirSync(join(root, 'migrations'), { recursive: true });
  const gitignore = join(root, '.gitignore');
  if (!existsSync(gitignore)) made.push(gitignore);
  if (options.fromTopic !== undefined) {
    // The project file names the brokers the sample came from, so plan and apply read the same topic.
    const brokers = options.brokers ?? process.env.KAFKA_BROKERS ?? 'localhost:9092';
    let project = options.brokers ? PROJECT.replace('${KAFKA_BROKERS:-localhost:9092}', `\${KAFKA_BROKERS:-${options.brokers}}`) : PROJECT;
    // The registry goes to the project file (every AvroConfluent pipeline reads it there), not into the pipeline.
    if (options.schemaRegistry !== undefined) project = project.replace('\nschemas: ', `\n  schema_registry: ${JSON.stringify(options.schemaRegistry)}\nschemas: `);
    writeFileSync(projectFile, project);
    if (!existsSync(gitignore)) writeFileSync(gitignore, GITIGNORE);
    const { runInfer } = await import('./infer.js');
    try {
      return await runInfer(g, io, { topic: options.fromTopic, options: { ...options, brokers }, config: projectFile });
    } catch (e) {
      // Nothing was inferred: leave no project behind (nor the folders this run made), so the same command can run again.
      rmSync(projectFile, { force: true });
      for (const path of made.reverse()) rmSync(path, { recursive: true, force: true });
      throw e;
    }
  }
  writeFileSync(projectFile, PROJECT);
  const example = join(root, 'schemas', 'api_latency.yaml');
  if (!existsSync(example)) writeFileSync(example, PIPELINE);
  if (!existsSync(gitignore)) writeFileSync(gitignore, GITIGNORE);
  const written = { project: projectFile, pipeline: example };
  if (io.json) io.out(JSON.stringify({ schemaVersion: 1, created: written }, null, 2));
  else io.out(`Created ${projectFile}\n        ${example}\nNext: ${nextCommand(dir)}`);
  return 0;
}
