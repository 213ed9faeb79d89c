/**
 * The version matrix over the repository's own project: every statement
 * `chpipe compile` prints for schemas/, and every file in migrations/, run
 * unmodified on ClickHouse 24.8, 25.8 and 26.7 (SPEC: the generated DDL runs
 * on 24.8 and later). Kafka tables are diverted as on the scratch engine, so
 * nothing consumes.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/cli/project.js';
import { readMigrationDir } from '../../src/migrate/dir.js';
import type { Model, Placement } from '../../src/model/model.js';
import { chpipe, ROOT } from '../helpers/cli.js';
import { describeDiagnostics, MATRIX_SETUP_TIMEOUT_MS, replayOn, runStatements, startMatrix, stopMatrix, type MatrixEngine } from './engines.js';

export const MATRIX = ['24.8', '25.8', '26.7'] as const;

interface Compiled {
  readonly object: string;
  readonly role: string;
  readonly sql: string;
}

/** What a model holds, by kind and name: the objects every version must end with. */
function objects(model: Model): string[] {
  return model.objects.map((o) => `${o.kind} ${o.name}`).sort();
}

/** The shapes the language gained (message fields, virtual columns by name): test/cli/fixtures/language. */
const LANGUAGE = join(ROOT, 'test/cli/fixtures/language');

describe('version matrix: the example project on ClickHouse 24.8, 25.8 and 26.7', () => {
  let engines: MatrixEngine[] = [];
  let compiled: Compiled[] = [];
  let language: Compiled[] = [];
  let placement: Placement;
  let namedCollection: string | undefined;
  const engine = (label: string): MatrixEngine => {
    const found = engines.find((e) => e.label === label);
    if (!found) throw new Error(`no ClickHouse ${label} in the matrix (have ${engines.map((e) => e.version).join(', ')})`);
    return found;
  };

  beforeAll(async () => {
    const r = chpipe(['compile', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    compiled = (JSON.parse(r.stdout) as { statements: Compiled[] }).statements;
    const l = chpipe(['compile', '--json'], LANGUAGE);
    expect(l.code, l.stderr).toBe(0);
    language = (JSON.parse(l.stdout) as { statements: Compiled[] }).statements;
    const loaded = loadProject(join(ROOT, 'chpipe.yaml'));
    if (!loaded.project) throw new Error('the example project does not load');
    placement = { database: loaded.project.database, ...(loaded.project.cluster ? { cluster: loaded.project.cluster } : {}) };
    namedCollection = loaded.project.kafka.namedCollection;
    engines = await startMatrix();
  }, MATRIX_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await stopMatrix(engines);
  }, 60_000);

  it('has the three versions', () => {
    expect(engines.map((e) => e.label)).toEqual([...MATRIX]);
    expect(compiled.length).toBeGreaterThan(20);
  });

  for (const label of MATRIX) {
    it(`every statement of \`chpipe compile\` runs unmodified on ClickHouse ${label}`, async () => {
      const e = engine(label);
      const { failures, model } = await runStatements(e, placement, compiled.map((s) => s.sql), namedCollection);
      expect(failures, `refused by ClickHouse ${e.version}`).toEqual([]);
      const expected = compiled.filter((s) => s.role !== 'database').map((s) => s.object.slice(placement.database.length + 1)).sort();
      expect(model.objects.map((o) => o.name).sort()).toEqual(expected);
    });

    it(`the language fixture's statements (message fields, virtual columns by name) run unmodified on ClickHouse ${label}`, async () => {
      const e = engine(label);
      const { failures, model } = await runStatements(e, { database: 'plant' }, language.map((s) => s.sql));
      expect(failures, `refused by ClickHouse ${e.version}`).toEqual([]);
      expect(model.objects.map((o) => o.name).sort()).toEqual(language.filter((s) => s.role !== 'database').map((s) => s.object.slice('plant.'.length)).sort());
    });

    it(`migrations/ replays on ClickHouse ${label} to the same objects as on 26.7`, async () => {
      const e = engine(label);
      const files = readMigrationDir(join(ROOT, 'migrations')).files;
      expect(files.length).toBeGreaterThan(0);
      const replayed = await replayOn(e, placement, files, 'migrations', namedCollection);
      expect(describeDiagnostics(e, replayed.diagnostics)).toEqual([]);
      const reference = await replayOn(engine('26.7'), placement, files, 'migrations', namedCollection);
      expect(objects(replayed.model as Model)).toEqual(objects(reference.model as Model));
    });
  }
});
