import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { renderDiagnostics } from '../../report/diagnostics.js';
import { resolveBrokers } from '../../spec/brokers.js';
import { parseProject, type InputFile } from '../../spec/parse.js';
import { displayPath, makeIo, projectMemo, UserError, type GlobalOptions, type Io } from '../context.js';

export interface InferOptions {
  readonly format?: string;
  readonly name?: string;
  readonly output?: string;
  readonly force?: boolean;
  readonly sample?: string;
  readonly timeout?: string;
  readonly brokers?: string;
  readonly schemaRegistry?: string;
  readonly skipInvalid?: boolean;
}

/** `10s`, `500ms`, `1m`, `2h`, `1d` or a number of seconds, in ms. */
export function parseDuration(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new UserError(`${flag} ${JSON.stringify(text)} is not a duration; write e.g. ${flag} 10s (or 500ms, 1m, 2h, 1d)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's'] ?? 1000;
  const ms = n * unit;
  if (ms <= 0) throw new UserError(`${flag} must be more than 0`);
  return ms;
}

export function parseCount(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} ${JSON.stringify(text)} is not a positive whole number; write e.g. ${flag} 500`);
  return n;
}

/** Where the project says things are, when there is a project: its chpipe.yaml text, brokers and schemas folder. */
function projectContext(config: string): { file: InputFile; brokers?: string; schemaRegistry?: string; schemas: string } | undefined {
  const path = resolve(config);
  if (!existsSync(path)) return undefined;
  const file = { path: displayPath(path), text: readFileSync(path, 'utf8') };
  const parsed = parseProject(file, [], process.env);
  if (!parsed.project) {
    const first = parsed.diagnostics[0];
    throw new UserError(`${first ? `${first.file}:${first.line}:${first.col}: ${first.message}` : `${file.path} is not a valid project file`}; fix it, or pass --brokers and -o outside the project`);
  }
  const { kafka } = parsed.project;
  return { file, ...(kafka.brokers ? { brokers: kafka.brokers } : {}), ...(kafka.schemaRegistry !== undefined ? { schemaRegistry: kafka.schemaRegistry } : {}), schemas: resolve(dirname(path), parsed.project.schemasDir) };
}

export interface InferRun {
  readonly topic: string;
  readonly options: InferOptions;
  /** The project's chpipe.yaml (may not exist yet: `init --from-topic`). */
  readonly config: string;
  /** Brokers when neither --brokers nor the project names any. */
  readonly defaultBrokers?: string;
}

/** Sample, infer, write, validate; the exit code. Shared by `infer` and `init --from-topic`. */
export async function runInfer(g: GlobalOptions, io: Io, run: InferRun): Promise<number> {
  const { inferFormat, INFER_FORMATS, InferProblem } = await import('../../infer/infer.js');
  const { inferPipeline, pipelineNameFor } = await import('../../infer/write.js');
  const { DEFAULT_SAMPLE } = await import('../../kafka/sample.js');
  const o = run.options;
  const format = o.format === undefined ? undefined : inferFormat(o.format);
  if (o.format !== undefined && !format) throw new UserError(`--format ${JSON.stringify(o.format)} is not one infer reads; expected one of ${INFER_FORMATS.join(', ')}`);
  if (o.schemaRegistry !== undefined && !/^https?:\/\/[^\s/]+/i.test(o.schemaRegistry)) throw new UserError(`--schema-registry ${JSON.stringify(o.schemaRegistry)} is not an http(s) URL; write e.g. --schema-registry http://localhost:8081`);
  if (o.schemaRegistry !== undefined && format !== undefined && format !== 'AvroConfluent') throw new UserError(`--schema-registry is for AvroConfluent messages, not ${format}; drop it, or pass --format AvroConfluent`);
  if (!run.topic.trim()) throw new UserError('the topic name is empty; write e.g. `chpipe infer orders`');
  const project = projectContext(run.config);
  const written = o.brokers ?? project?.brokers ?? run.defaultBrokers;
  if (!written) throw new UserError('no Kafka brokers: pass --brokers HOST:PORT, or set kafka.brokers in chpipe.yaml');
  // `${KAFKA_BROKERS:-localhost:9092}` (what init writes) is filled in from the environment, as apply fills it.
  const resolved = resolveBrokers(written, process.env);
  if (!resolved.ok) throw new UserError(`${o.brokers !== undefined ? '--brokers: ' : project?.brokers !== undefined ? `${project.file.path} kafka.brokers: ` : ''}${resolved.problem}`);
  const brokers = resolved.brokers.join(',');
  const name = o.name ?? pipelineNameFor(run.topic);
  const output = resolve(o.output ?? join(project?.schemas ?? resolve(dirname(resolve(run.config)), 'schemas'), `${name}.yaml`));
  const sample = {
    maxMessages: o.sample === undefined ? DEFAULT_SAMPLE.maxMessages : parseCount(o.sample, '--sample'),
    timeoutMs: o.timeout === undefined ? DEFAULT_SAMPLE.timeoutMs : parseDuration(o.timeout, '--timeout'),
  };
  const { Scratch } = await import('../../check/scratch.js');
  const scratch = await Scratch.open(await projectMemo(g, dirname(resolve(run.config))));
  try {
    const outcome = await inferPipeline({
      topic: run.topic,
      brokers,
      ...(format ? { format } : {}),
      ...(o.schemaRegistry !== undefined ? { schemaRegistry: o.schemaRegistry, writeSchemaRegistry: o.schemaRegistry !== project?.schemaRegistry } : project?.schemaRegistry !== undefined ? { schemaRegistry: project.schemaRegistry, writeSchemaRegistry: false } : {}),
      name,
      output,
      outputDisplay: displayPath(output),
      force: o.force === true,
      skipInvalid: o.skipInvalid === true,
      sample,
      ...(project ? { projectFile: project.file } : {}),
      env: process.env,
      scratch,
    }).catch((e: unknown) => {
      throw e instanceof InferProblem ? new UserError(e.message) : e;
    });
    const file = displayPath(outcome.file);
    if (io.json) {
      io.out(
        JSON.stringify(
          {
            schemaVersion: 1,
            file,
            pipeline: name,
            topic: run.topic,
            format: outcome.inference.format,
            formatDetected: outcome.inference.detected,
            sampled: outcome.sampled,
            partitions: outcome.partitions,
            timedOut: outcome.timedOut,
            columns: outcome.inference.columns,
            notes: outcome.inference.notes,
            // --skip-invalid: the messages left out, and the first of them (where, what it reads, why).
            skipped: outcome.inference.skipped ?? null,
            valid: outcome.diagnostics.length === 0,
            diagnostics: outcome.diagnostics.map((d) => ({ file: d.file, line: d.line, col: d.col, code: d.code, message: d.message })),
          },
          null,
          2,
        ),
      );
    } else if (outcome.diagnostics.length) {
      io.err(renderDiagnostics(outcome.diagnostics, io.errPaint));
      io.err(`error: wrote ${file}, but it does not validate: fix the lines above, then run \`chpipe validate\``);
    } else {
      const n = outcome.inference.columns.length;
      const noted = outcome.inference.columns.filter((c) => c.notes.length).length;
      io.out(
        [
          `${io.paint.green('✓')} wrote ${file}: pipeline ${name}, ${n} column${n === 1 ? '' : 's'} from ${outcome.sampled} sampled message${outcome.sampled === 1 ? '' : 's'} (${outcome.inference.format}${outcome.inference.detected ? ', detected' : ''}); valid, ${outcome.statements} statements checked on the embedded ClickHouse`,
          ...(noted ? [`  ${noted} column${noted === 1 ? ' has' : 's have'} a comment where the sample was ambiguous: read them before you plan`] : []),
          ...(outcome.timedOut ? [`  note: the --timeout came before the sample was complete; ${outcome.sampled} messages were read`] : []),
          ...(outcome.inference.skipped
            ? [
                `  skipped ${outcome.inference.skipped.count} message${outcome.inference.skipped.count === 1 ? '' : 's'} the format cannot parse; the first, at ${outcome.inference.skipped.first.at} (${outcome.inference.skipped.first.why}), reads ${JSON.stringify(outcome.inference.skipped.first.text)}`,
                `  the pipeline has on_error: stream: such messages go to ${name}_errors instead of stalling a partition`,
              ]
            : []),
          `Next: review ${file}, then \`chpipe plan --save add_${name}\``,
        ].join('\n'),
      );
    }
    return outcome.diagnostics.length ? 1 : 0;
  } finally {
    await scratch.close();
  }
}

/** `chpipe infer TOPIC`: a pipeline YAML from a sample of the topic's recent messages. */
export default async function infer(g: GlobalOptions, topic: string, options: InferOptions): Promise<number> {
  const io = await makeIo(g);
  return runInfer(g, io, { topic, options, config: g.config });
}
