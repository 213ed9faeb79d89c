/**
 * Replay every migration folder a test file saved (test/helpers/plan.ts
 * records them) on each engine of the version matrix. Called at the end of a
 * test file: tests of a file run in order, so its describe block runs after
 * every save. 26.7 replays first, in this process, and is the reference: each
 * older version must accept every statement and end with the same objects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../src/model/model.js';
import type { SavedHistory } from '../helpers/plan.js';
import { describeDiagnostics, MATRIX_SETUP_TIMEOUT_MS, replayOn, startMatrix, stopMatrix, type MatrixEngine } from './engines.js';

const REFERENCE = '26.7';

function objects(model: Model | undefined): string[] {
  return (model?.objects ?? []).map((o) => `${o.kind} ${o.name}`).sort();
}

export function describeSavedMigrationsOnMatrix(what: string, histories: ReadonlyMap<string, SavedHistory>): void {
  describe(`version matrix: every migration ${what} saved, replayed on ClickHouse 24.8, 25.8 and 26.7`, () => {
    let engines: MatrixEngine[] = [];
    const reference = new Map<string, { problems: string[]; objects: string[] }>();

    beforeAll(async () => {
      engines = await startMatrix();
      const newest = engines.find((e) => e.label === REFERENCE);
      if (!newest) throw new Error(`no ClickHouse ${REFERENCE} in the matrix`);
      for (const h of histories.values()) {
        const r = await replayOn(newest, h.placement, h.files, `${h.dir}/migrations`, h.namedCollection);
        reference.set(h.dir, { problems: describeDiagnostics(newest, r.diagnostics), objects: objects(r.model) });
      }
    }, MATRIX_SETUP_TIMEOUT_MS);

    afterAll(async () => {
      await stopMatrix(engines);
    }, 60_000);

    it(`replays on ${REFERENCE} (the reference)`, () => {
      expect(histories.size, 'no migration was saved before this block ran').toBeGreaterThan(0);
      expect([...reference.values()].flatMap((r) => r.problems)).toEqual([]);
      expect(engines.map((e) => e.label)).toEqual(['24.8', '25.8', REFERENCE]);
    });

    // The older engines run in processes of their own: replay on both at once.
    for (const label of ['24.8', '25.8']) {
      it.concurrent(`replays on ${label}, statement by statement, to the objects of ${REFERENCE}`, async () => {
        const engine = engines.find((e) => e.label === label);
        if (!engine) throw new Error(`no ClickHouse ${label} in the matrix`);
        const problems: string[] = [];
        const differences: string[] = [];
        for (const h of histories.values()) {
          const r = await replayOn(engine, h.placement, h.files, `${h.dir}/migrations`, h.namedCollection);
          problems.push(...describeDiagnostics(engine, r.diagnostics));
          const want = reference.get(h.dir)?.objects ?? [];
          const got = objects(r.model);
          if (!r.diagnostics.length && got.join() !== want.join()) differences.push(`${h.dir}: ${engine.version} has [${got.join(', ')}], ${REFERENCE} has [${want.join(', ')}]`);
        }
        expect(problems).toEqual([]);
        expect(differences).toEqual([]);
      }, Number(process.env.CHPIPE_MATRIX_TEST_TIMEOUT_MS ?? 300_000));
    }
  });
}
