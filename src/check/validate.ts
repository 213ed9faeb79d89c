/**
 * The validate use case: compile with the engine's answers, then run every
 * generated statement on a scratch engine. Engine errors come back as
 * diagnostics at the YAML key the failing object comes from.
 */
import { compileProject } from '../compile/compile.js';
import { EngineError } from '../engine/driver.js';
import type { Model, Role } from '../model/model.js';
import { compareDiagnostics, diagnostic, type Diagnostic, type Location } from '../spec/diagnostic.js';
import { findWord, locate, type PathKey } from '../spec/source.js';
import type { PipelineSpec, ProjectSpec } from '../spec/types.js';
import { createStatements, type Statement } from '../sql/ddl.js';
import { parseClusterStatements, singleServer } from '../cluster/validate.js';
import { Memo } from './memo.js';
import { Scratch } from './scratch.js';

export interface ValidationResult {
  /** The compiled model (its SQL is what users see). Present when there were no diagnostics. */
  readonly model?: Model;
  /** The same model as the engine reads it back after running it (normal forms), for diffs. */
  readonly declared?: Model;
  readonly statements: readonly Statement[];
  readonly diagnostics: readonly Diagnostic[];
  /** True when these exact statements already passed on this engine version (the memo said so). */
  readonly cached?: boolean;
}

/**
 * Where an error in one of a pipeline's objects comes from: what the engine
 * quotes ('kafka_foo', `foo`) where it was written, else the YAML value that
 * produced the object.
 */
function locationFor(spec: ProjectSpec, p: PipelineSpec, role: Role, message: string): Location {
  const section: PathKey[] | undefined = p.kind === 'publish' ? ['publish'] : role === 'queue' ? ['source'] : role === 'table' || role === 'state' ? ['table'] : undefined;
  for (const [, word] of section ? message.matchAll(/[`']([^`']+)[`']/g) : []) {
    const at = findWord(p.file, section as PathKey[], word as string) ?? (role === 'queue' ? findWord(spec.source, ['kafka'], word as string) : undefined);
    if (at) return at;
  }
  return locate(p.file, keyFor(p, role, message));
}

function keyFor(p: PipelineSpec, role: Role, message: string): PathKey[] {
  if (p.kind === 'publish') return role === 'queue' ? ['publish', 'topic'] : ['publish'];
  if (role === 'queue') return ['source'];
  if (role === 'table' || role === 'state') {
    for (const [word, key] of [['TTL', 'ttl'], ['partition', 'partition_by'], ['sorting key', 'order_by'], ['ORDER BY', 'order_by'], ['setting', 'settings'], ['engine', 'engine'], ['version column', 'engine'], ['sign column', 'engine']] as const) {
      if (message.toLowerCase().includes(word.toLowerCase()) && p.file.doc.hasIn(['table', key])) return ['table', key];
    }
    return p.kind === 'aggregate' ? ['aggregate'] : p.file.doc.hasIn(['table']) ? ['table'] : ['name'];
  }
  if (role === 'mv' || role === 'view') return p.kind === 'aggregate' ? ['aggregate'] : p.filter !== undefined ? ['filter'] : ['columns'];
  return ['source', 'on_error'];
}

/** Compile only: the engine answers the compiler's questions (through the memo); no statement is run. */
export async function compileStatements(spec: ProjectSpec, memo: Memo = Memo.none()): Promise<{ statements: readonly Statement[]; diagnostics: readonly Diagnostic[] }> {
  const engine = await Scratch.open(memo);
  try {
    const compiled = compileProject(spec, engine.oracle());
    return { statements: compiled.diagnostics.length ? [] : createStatements(compiled.compiled), diagnostics: compiled.diagnostics };
  } finally {
    await engine.close();
  }
}

/**
 * Compile the project and check every statement on a scratch engine.
 * `scratch` may be passed in to reuse an open engine.
 */
export async function validateProject(
  spec: ProjectSpec,
  scratch?: Scratch,
  memo: Memo = Memo.none(),
  /** Called as the statements of each pipeline have run: pipelines checked, of those with statements. */
  onProgress?: (pipelinesDone: number, pipelinesTotal: number) => void,
): Promise<ValidationResult> {
  const engine = scratch ?? (await Scratch.open(memo, spec.cluster !== undefined ? { cluster: spec.cluster } : {}));
  try {
    if (spec.cluster !== undefined) {
      // Cluster mode (cluster/validate.ts): the engine runs the single-server rendering and parses the cluster one.
      const single = await validateProject(singleServer(spec), engine, memo, onProgress);
      if (single.diagnostics.length) return single;
      const cluster = await parseClusterStatements(spec, engine);
      if (cluster.diagnostics.length) return { statements: cluster.statements, diagnostics: [...cluster.diagnostics].sort(compareDiagnostics) };
      const model = compileProject(spec, engine.oracle()).model;
      if (!model || engine.cluster !== spec.cluster) return { ...(model ? { model } : {}), statements: cluster.statements, diagnostics: [] };
      // A scratch in cluster mode runs the cluster statements as one node would: the declared state is what it reads back.
      await engine.reset(model, spec.kafka.namedCollection);
      await engine.prepare(cluster.statements.map((s) => s.sql));
      for (const s of cluster.statements) {
        try {
          await engine.run(s.sql);
        } catch (e) {
          if (!(e instanceof EngineError)) throw e;
          return { statements: cluster.statements, diagnostics: [diagnostic(locate(spec.source, ['cluster']), 'engine-rejected', `ClickHouse rejected the cluster statement for ${s.object?.name ?? spec.database}: ${e.engineMessage}`)] };
        }
      }
      const declared = (await engine.inspect(model)).model;
      return { model, declared, statements: cluster.statements, diagnostics: [] };
    }
    const compiled = compileProject(spec, engine.oracle());
    // The pipelines that compiled are checked even when others did not, so one run reports every problem.
    const model = compiled.compiled;
    const statements = createStatements(model);
    const key = engine.cache.stateKey('declared', spec.database, spec.kafka.namedCollection ?? '', statements.map((s) => s.sql).join(';\n'));
    if (compiled.diagnostics.length === 0) {
      const known = engine.cache.getState(key);
      if (known) return { model, declared: known, statements, diagnostics: [], cached: true };
    }
    await engine.reset(model, spec.kafka.namedCollection);
    await engine.prepare(statements.map((s) => s.sql));
    const diagnostics: Diagnostic[] = [...compiled.diagnostics];
    const failed = new Set<string>();
    // Progress: a pipeline counts as checked when its last statement is reached.
    const lastStatement = new Map<string, number>();
    statements.forEach((s, i) => s.object?.owner && lastStatement.set(s.object.owner.pipeline, i));
    let pipelinesDone = 0;
    for (const [i, s] of statements.entries()) {
      const owner = s.object?.owner;
      if (owner && lastStatement.get(owner.pipeline) === i) onProgress?.(++pipelinesDone, lastStatement.size);
      if (owner && failed.has(owner.pipeline)) continue;
      try {
        await engine.run(s.sql);
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        const p = owner ? spec.pipelines.find((x) => x.name === owner.pipeline) : undefined;
        const at = p ? locationFor(spec, p, owner?.role ?? 'table', e.engineMessage) : locate(spec.source, ['database']);
        diagnostics.push(diagnostic(at, 'engine-rejected', `ClickHouse rejected ${s.object ? `${s.object.name}` : 'the statement'}: ${e.engineMessage}`, e.hint ? { hint: e.hint } : {}));
        if (owner) failed.add(owner.pipeline);
        else break;
      }
    }
    if (diagnostics.length) return { statements, diagnostics: diagnostics.sort(compareDiagnostics) };
    const declared = (await engine.inspect(model)).model;
    engine.cache.putState(key, declared);
    return { model, declared, statements, diagnostics };
  } finally {
    if (!scratch) await engine.close();
  }
}
