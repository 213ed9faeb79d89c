import { validateProject } from '../../check/validate.js';
import { renderDiagnostics, diagnosticsJson } from '../../report/diagnostics.js';
import { makeProgress, PROGRESS_MIN_PIPELINES } from '../../report/progress.js';
import { compareDiagnostics } from '../../spec/diagnostic.js';
import { makeIo, projectMemo, type GlobalOptions } from '../context.js';
import { loadProject } from '../project.js';

export default async function validate(g: GlobalOptions): Promise<number> {
  const io = await makeIo(g);
  const loaded = loadProject(g.config);
  let diagnostics = loaded.diagnostics;
  let checked = 0;
  let cached = false;
  // The pipelines that parsed are checked by the engine even when others did not: every problem in one run.
  if (loaded.project) {
    const n = loaded.project.pipelines.length;
    const progress = makeProgress(io.stderr, io.interactive && n >= PROGRESS_MIN_PIPELINES);
    progress.show(`compiling ${n} pipelines`);
    const result = await validateProject(loaded.project, undefined, await projectMemo(g, loaded.root), (done, total) => progress.update('validating', done, total, 'pipelines'));
    progress.clear();
    diagnostics = [...diagnostics, ...result.diagnostics].sort(compareDiagnostics);
    checked = result.statements.length;
    cached = result.cached === true;
  }
  if (io.json) {
    io.out(JSON.stringify({ ...diagnosticsJson(diagnostics), pipelines: loaded.project?.pipelines.length ?? 0, statements: checked, cached }, null, 2));
    return diagnostics.length ? 1 : 0;
  }
  if (diagnostics.length) {
    io.err(renderDiagnostics(diagnostics, io.errPaint));
    return 1;
  }
  const n = loaded.project?.pipelines.length ?? 0;
  io.out(`${io.paint.green('✓')} ${n} pipeline${n === 1 ? '' : 's'} valid; ${checked} statements checked on the embedded ClickHouse${cached ? ' (these exact statements passed before on this engine version: remembered in .chpipe/cache; --no-cache runs them again)' : ''}`);
  return 0;
}
