/**
 * `chpipe validate` in cluster mode. The scratch engine has no cluster, no
 * Keeper and no DDL worker (ON CLUSTER is refused there), so it checks what it
 * can run: the single-server rendering of the same pipelines (every type,
 * expression, key and Kafka setting, by the engine), and every statement of
 * the cluster rendering parsed and normalized by `formatQuery`. Layout
 * mistakes are diagnosed from chpipe.yaml by compile/cluster.ts, and against
 * the servers' topology by cluster/layout.ts.
 */
import { compileProject } from '../compile/compile.js';
import { EngineError } from '../engine/driver.js';
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import { locate } from '../spec/source.js';
import type { ProjectSpec } from '../spec/types.js';
import { createStatements, type Statement } from '../sql/ddl.js';
import { stringLiteral } from '../sql/quote.js';
import type { Scratch } from '../check/scratch.js';

/** The project without its cluster: what the scratch engine can run. */
export function singleServer(spec: ProjectSpec): ProjectSpec {
  const { cluster: _cluster, clusterLayout: _layout, ...rest } = spec;
  return rest;
}

/** The cluster statements of a project, each parsed by the engine (`formatQuery`); diagnostics for those it cannot parse. */
export async function parseClusterStatements(spec: ProjectSpec, engine: Scratch): Promise<{ statements: readonly Statement[]; diagnostics: readonly Diagnostic[] }> {
  const compiled = compileProject(spec, engine.oracle());
  if (compiled.diagnostics.length || !compiled.model) return { statements: [], diagnostics: compiled.diagnostics };
  const statements = createStatements(compiled.model);
  const diagnostics: Diagnostic[] = [];
  for (const s of statements) {
    try {
      await engine.query(`SELECT formatQuery(${stringLiteral(s.sql)}) AS q`);
    } catch (e) {
      if (!(e instanceof EngineError)) throw e;
      diagnostics.push(diagnostic(locate(spec.source, ['cluster']), 'engine-rejected', `ClickHouse cannot parse the cluster statement for ${s.object?.name ?? spec.database}: ${e.engineMessage}`));
    }
  }
  return { statements, diagnostics };
}
