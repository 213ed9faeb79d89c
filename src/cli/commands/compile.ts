import { compileStatements } from '../../check/validate.js';
import { compareDiagnostics, didYouMean } from '../../spec/diagnostic.js';
import { fillReferences } from '../../spec/env.js';
import { environmentProblems, environmentVariables } from '../../spec/parse.js';
import { renderDiagnostics, diagnosticsJson } from '../../report/diagnostics.js';
import { makeIo, projectMemo, UserError, type GlobalOptions } from '../context.js';
import { loadProject } from '../project.js';

export default async function compile(g: GlobalOptions, names: string[] = []): Promise<number> {
  const io = await makeIo(g);
  const loaded = loadProject(g.config);
  const project = loaded.project;
  let diagnostics = loaded.diagnostics;
  if (project && diagnostics.length === 0) {
    const known = project.pipelines.map((p) => p.name);
    for (const n of names) {
      if (!known.includes(n)) throw new UserError(`no pipeline named "${n}"${didYouMean(n, known) ? `; ${didYouMean(n, known)}` : ''}`);
    }
    const result = await compileStatements(project, await projectMemo(g, loaded.root));
    diagnostics = result.diagnostics;
    if (diagnostics.length === 0) {
      const wanted = (owner?: { pipeline: string }) => names.length === 0 || (owner !== undefined && names.includes(owner.pipeline));
      // compile prints the DDL as ClickHouse receives it: environment references are filled in from this environment.
      const missing = environmentProblems(project, process.env);
      if (missing.length) return fail(io, missing);
      const variables = environmentVariables(project);
      const statements = result.statements.filter((s) => (s.object ? wanted(s.object.owner) : true)).map((s) => ({ ...s, sql: fillReferences(s.sql, variables, process.env).value }));
      if (io.json) {
        io.out(JSON.stringify({ schemaVersion: 1, statements: statements.map((s) => ({ object: s.object ? `${project.database}.${s.object.name}` : project.database, pipeline: s.object?.owner?.pipeline ?? null, role: s.object?.owner?.role ?? 'database', sql: s.sql })) }, null, 2));
      } else {
        io.out(statements.map((s) => s.sql + ';').join('\n\n'));
      }
      return 0;
    }
  } else if (project) {
    // Some files failed to parse: the engine still checks the others, so every problem is reported at once.
    diagnostics = [...diagnostics, ...(await compileStatements(project, await projectMemo(g, loaded.root))).diagnostics].sort(compareDiagnostics);
  }
  return fail(io, diagnostics);
}

function fail(io: Awaited<ReturnType<typeof makeIo>>, diagnostics: Parameters<typeof renderDiagnostics>[0]): number {
  if (io.json) io.out(JSON.stringify(diagnosticsJson(diagnostics), null, 2));
  else io.err(renderDiagnostics(diagnostics, io.errPaint));
  return 1;
}
