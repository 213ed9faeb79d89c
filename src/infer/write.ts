/**
 * The `infer` use case: sample the topic (src/kafka/sample.ts: no group, no
 * commit), infer its columns on the scratch engine, write the pipeline file
 * (never over an existing one unless asked), and validate it the way
 * `chpipe validate` does, with the project's chpipe.yaml when there is one.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { validateProject } from '../check/validate.js';
import type { Scratch } from '../check/scratch.js';
import type { SampleOptions } from '../kafka/sample.js';
import { compareDiagnostics, type Diagnostic } from '../spec/diagnostic.js';
import { parseProject, type InputFile } from '../spec/parse.js';
import { inferColumns, InferProblem, type Inference, type InferFormat } from './infer.js';
import { pipelineYaml } from './yaml.js';

export interface InferRequest {
  readonly topic: string;
  readonly brokers: string;
  readonly format?: InferFormat;
  /** The schema registry AvroConfluent messages are read through. */
  readonly schemaRegistry?: string;
  /** Write it as the pipeline's `source.schema_registry` (false: chpipe.yaml's kafka.schema_registry is the same). */
  readonly writeSchemaRegistry?: boolean;
  /** The pipeline's name. */
  readonly name: string;
  /** Where the file goes (absolute) and how messages name it. */
  readonly output: string;
  readonly outputDisplay: string;
  readonly force: boolean;
  readonly sample: SampleOptions;
  /** Leave out the messages the format cannot parse (see `inferColumns`). */
  readonly skipInvalid?: boolean;
  /** The project's chpipe.yaml (validation uses its database and brokers); a minimal one when there is no project. */
  readonly projectFile?: InputFile;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly scratch: Scratch;
}

export interface InferOutcome {
  readonly file: string;
  readonly yaml: string;
  readonly inference: Inference;
  readonly sampled: number;
  readonly partitions: number;
  readonly timedOut: boolean;
  /** From validating the written file; empty when it is valid. */
  readonly diagnostics: readonly Diagnostic[];
  readonly statements: number;
}

/** A pipeline name from a topic name: what the spec allows for names (letters, digits, `_`, `-`). */
export function pipelineNameFor(topic: string): string {
  const name = topic.replace(/[^\p{L}\p{N}_-]+/gu, '_').replace(/^_+|_+$/g, '');
  return /^\p{N}/u.test(name) ? `t_${name}` : name || 'pipeline';
}

export async function inferPipeline(req: InferRequest): Promise<InferOutcome> {
  if (existsSync(req.output) && !req.force) throw new InferProblem(`${req.outputDisplay} already exists; pass --force to overwrite it, or -o FILE / --name NAME to write another`);
  const { sampleTopic } = await import('../kafka/sample.js');
  const sampled = await sampleTopic(req.brokers, req.topic, req.sample);
  if (!sampled.ok) throw new InferProblem(sampled.problem.message);
  const { messages, partitions, retained, timedOut } = sampled.sample;
  if (!messages.length) {
    throw new InferProblem(
      timedOut
        ? `no message of topic ${req.topic} could be read within ${req.sample.timeoutMs / 1000} s; try a longer --timeout`
        : `topic ${req.topic} is empty (${retained} messages retained on ${partitions} partition${partitions === 1 ? '' : 's'}): produce some messages first, or write the pipeline by hand`,
    );
  }
  const inference = await inferColumns(req.scratch, messages, req.format, { ...(req.schemaRegistry !== undefined ? { schemaRegistry: req.schemaRegistry } : {}), skipInvalid: req.skipInvalid === true });
  const registry = inference.format === 'AvroConfluent' && req.writeSchemaRegistry !== false ? req.schemaRegistry : undefined;
  const yaml = pipelineYaml({ name: req.name, topic: req.topic, inference, sampled: messages.length, partitions, ...(registry !== undefined ? { schemaRegistry: registry } : {}) });
  mkdirSync(dirname(req.output), { recursive: true });
  // Written whole (write, then rename): an interrupted run leaves no half file.
  const temporary = `${req.output}.${process.pid}.tmp`;
  writeFileSync(temporary, yaml);
  renameSync(temporary, req.output);
  const projectFile = req.projectFile ?? { path: 'chpipe.yaml', text: `version: 1\ndatabase: default\nkafka:\n  brokers: ${JSON.stringify(req.brokers)}\n` };
  const parsed = parseProject(projectFile, [{ path: req.outputDisplay, text: yaml }], req.env);
  let diagnostics: Diagnostic[] = [...parsed.diagnostics];
  let statements = 0;
  if (parsed.project && !diagnostics.length) {
    const checked = await validateProject(parsed.project, req.scratch, req.scratch.cache);
    diagnostics = [...checked.diagnostics];
    statements = checked.statements.length;
  }
  return { file: req.output, yaml, inference, sampled: messages.length, partitions, timedOut, diagnostics: diagnostics.sort(compareDiagnostics), statements };
}
