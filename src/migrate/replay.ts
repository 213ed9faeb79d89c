/** The migrated state: every migration file replayed, in order, on a scratch engine. */
import type { Scratch } from '../check/scratch.js';
import { EngineError } from '../engine/driver.js';
import type { Placement } from '../model/model.js';
import { diagnostic, type Diagnostic } from '../spec/diagnostic.js';
import { splitStatements } from '../sql/parse.js';
import type { MigrationFile } from './files.js';

/** Run the files; the first statement the engine refuses becomes a diagnostic at its line. */
export async function replayMigrations(scratch: Scratch, placement: Placement, files: readonly MigrationFile[], dirDisplay: string, namedCollection?: string): Promise<Diagnostic[]> {
  await scratch.reset(placement, namedCollection);
  await scratch.prepare(files.flatMap((f) => splitStatements(f.text).map((s) => s.sql)));
  for (const f of files) {
    for (const statement of splitStatements(f.text)) {
      try {
        await scratch.run(statement.sql);
      } catch (e) {
        if (!(e instanceof EngineError)) throw e;
        const line = f.text.slice(0, statement.offset).split('\n').length;
        return [diagnostic({ file: `${dirDisplay}/${f.file}`, line, col: 1 }, 'migration-failed', `replaying ${f.file} failed: ${e.engineMessage}`, { hint: 'migrations replay on a scratch engine; fix or regenerate the file (and chpipe.sum)' })];
      }
    }
  }
  return [];
}
